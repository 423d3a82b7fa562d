"""The hand-off runner's command line: what fastpath/detach.runner_argv writes, parse_runner_args reads back."""

from __future__ import annotations

import pytest

from twinstar import settings
from twinstar.cli import handoff_runner
from twinstar.fastpath.detach import runner_argv
from twinstar.hotplug.handoff import RUNNER_USAGE, parse_runner_args


class _Source:
    """Only the attribute runner_argv reads."""

    source = "/etc/twinstar/twinstar.yaml"


@pytest.mark.parametrize(
    ("action", "extra", "address"),
    [("takeover", (), None), ("release", (), None), ("rearm", ("1", "12"), (1, 12))],
)
def test_what_runner_argv_writes_is_read_back(action: str, extra: tuple[str, ...], address: tuple[int, int] | None) -> None:
    argv = runner_argv(_Source(), action, *extra)  # type: ignore[arg-type]
    assert argv[1:3] == ["-m", "twinstar.cli.handoff_runner"]
    assert parse_runner_args(argv[3:]) == (action, _Source.source, address)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["takeover"],
        ["takeover", "--config"],
        ["switchover", "--config", "x.yaml"],
        ["takeover", "-c", "x.yaml"],
        ["takeover", "--config", "x.yaml", "1", "2"],
        ["rearm", "--config", "x.yaml"],
        ["rearm", "--config", "x.yaml", "1"],
        ["rearm", "--config", "x.yaml", "1", "-2"],
    ],
)
def test_a_malformed_command_line_is_usage_and_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_runner_args(args) is None
    assert handoff_runner.main(args) == 2
    assert capsys.readouterr().err.strip() == RUNNER_USAGE


def test_the_configuration_path_is_explicit_then_environment_then_default() -> None:
    """One rule for every entry point (twinstar, atribank_hook, twinstar_hook)."""
    env = {settings.CONFIG_ENV: "/srv/env.yaml"}
    assert settings.config_path("/srv/explicit.yaml", env) == "/srv/explicit.yaml"
    assert settings.config_path(None, env) == "/srv/env.yaml"
    assert settings.config_path(None, {}) == settings.CONFIG_PATH
    assert settings.config_path(None, {settings.CONFIG_ENV: ""}) == settings.CONFIG_PATH

