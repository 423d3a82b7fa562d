"""The hand-off runner's command line: what fastpath/detach.runner_argv writes, parse_runner_args reads back."""

from __future__ import annotations

from pathlib import Path

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
    [("takeover", (), None), ("release", (), None), ("rearm", ("1", "12"), (1, 12)), ("prepare", (), None),
     ("prepare", ("5",), (5, 0))],
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
        ["prepare", "--config", "x.yaml", "1", "2"],
        ["prepare", "--config", "x.yaml", "-1"],
        ["prepare", "--config", "x.yaml", "--locked"],
        ["prepare", "--config", "x.yaml", "--locked", "5"],
        ["prepare", "--config", "x.yaml", "--locked", "--locked"],
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



def test_a_policy_runner_leaves_at_once_while_another_is_starting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst of events hands a runner off per event: only the first loads the configuration and looks.

    The configuration file is not valid YAML, so a runner that loads it ends
    with exit status 2; the hook's settings cache (valid for the file as it is)
    names the state directory, whose ``policy-start.lock`` another runner holds.
    """
    import fcntl
    import os
    import time

    from twinstar.fastpath.hooksettings import HookSettings, write_cache

    state, cache = tmp_path / "state", tmp_path / "cache"
    state.mkdir(mode=0o700)
    config = tmp_path / "twinstar.yaml"
    config.write_text("takeover: [unclosed\n")
    old = time.time() - 60
    os.utime(config, (old, old))
    values = {name: "" for name in ("node", "maintenance_file", "handoff", "sysfs", "xpp_order")}
    settings_ = HookSettings(source=str(config), state_dir=str(state), rearm_watchdog=False, programs=(), ip_probes=(), **values)
    assert write_cache(str(cache), str(config), os.stat(config), settings_)
    monkeypatch.setenv(settings.HOOK_CACHE_ENV, str(cache))
    args = ["policy", "--config", str(config)]
    niceness = os.getpriority(os.PRIO_PROCESS, 0)  # a runner that goes on lowers its (this test's) priority
    try:
        assert handoff_runner.main(args) == 2  # nobody else: it loads the configuration (and finds it broken)
        with open(state / handoff_runner.POLICY_START_LOCK, "w") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            assert handoff_runner.main(args) == 0  # another runner is starting: nothing loaded
        assert handoff_runner.main(args) == 2  # released again: the first call's claim did not outlive it
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)


def test_a_runner_lock_is_claimed_only_in_a_private_state_directory(tmp_path: Path) -> None:
    """The hook's claim for a prepared runner and a policy runner's first claim: a missing state directory is
    made (0700); a symlinked or group-writable one gets nothing written (-1: the runner's checks report it);
    a lock held elsewhere is None."""
    import fcntl
    import os
    import stat

    from twinstar.fastpath.detach import claim_runner_lock

    state = tmp_path / "state"
    fd = claim_runner_lock(str(state), "prepared.lock")
    assert fd is not None and fd >= 0
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    with open(state / "prepared.lock") as other:
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            raise AssertionError("the claim does not hold the lock")
        except BlockingIOError:
            pass
    assert claim_runner_lock(str(state), "prepared.lock") is None  # held (by fd): another claim gets None
    os.close(fd)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(elsewhere)
    assert claim_runner_lock(str(tmp_path / "link"), "prepared.lock") == -1
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    assert claim_runner_lock(str(open_dir), "policy-start.lock") == -1
    assert list(elsewhere.iterdir()) == [] and list(open_dir.iterdir()) == []


def test_two_first_events_racing_to_make_the_state_directory_both_claim_the_one_lock(tmp_path: Path) -> None:
    """The units of a first boot arrive together: both hooks find the state directory missing and one makes it
    first. The other's mkdir fails with EEXIST; it must still claim the same lock (None: held), not give up
    (-1), which made both hooks start a prepared runner and a policy runner. The interleaving is forced by
    answering the other hook's first lstat as it saw the directory then: missing (the only stand-in)."""
    import os
    import posix

    from twinstar.fastpath import detach

    state = tmp_path / "state"
    first = detach.claim_runner_lock(str(state), "prepared.lock")
    assert first is not None and first >= 0
    real_lstat = posix.lstat
    looked: list[str] = []

    def missing_at_first(path: str) -> os.stat_result:
        if path == str(state) and not looked:
            looked.append(path)
            raise FileNotFoundError(path)
        return real_lstat(path)

    posix.lstat = missing_at_first  # type: ignore[assignment]
    try:
        second = detach.claim_runner_lock(str(state), "prepared.lock")
    finally:
        posix.lstat = real_lstat
        os.close(first)
    assert looked == [str(state)]
    assert second is None
