"""A configuration with several problems reports them all, each with file:line:key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_twinstar
from twinstar.config import parse
from twinstar.errors import ConfigError, ExitStatus

THREE_PROBLEMS = """\
node: pbx-a
handoff: later
lock_timeout: soon
takeover:
  - service: asterisk
  - drbd: {resource: r0, device: /dev/drbd0, mountpoint: srv}
"""

EXPECTED = [
    "t.yaml:2: handoff: must be one of auto, systemd, spawn, inline, found 'later'",
    "t.yaml:3: lock_timeout: expected a number from 0 to 86400, found a string 'soon'",
    "t.yaml:6: takeover[1].drbd.mountpoint: must be an absolute path, found 'srv'",
]


def test_every_problem_is_reported_with_its_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(THREE_PROBLEMS, "t.yaml")
    assert str(caught.value).splitlines() == EXPECTED
    assert [p.line for p in (caught.value, *caught.value.more)] == [2, 3, 6]
    assert caught.value.exit_status == ExitStatus.BAD_INPUT


def test_problems_in_keys_and_values_of_one_mapping_are_all_reported() -> None:
    text = "takeover:\n  - ip:\n      adress: 10.213.9.3/24\n      interface: -eth0\n      arp_count: 2.5\n"
    with pytest.raises(ConfigError) as caught:
        parse(text, "t.yaml")
    assert str(caught.value).splitlines() == [
        "t.yaml:3: takeover[0].ip.adress: unknown key (did you mean 'address'?)",
        "t.yaml:3: takeover[0].ip.address: required key is missing",
        "t.yaml:4: takeover[0].ip.interface: invalid interface name '-eth0'",
        "t.yaml:5: takeover[0].ip.arp_count: expected a whole number, found 2.5",
    ]


def test_one_problem_is_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse("nodee: a\ntakeover: [service: asterisk]\n", "t.yaml")
    assert str(caught.value) == "t.yaml:1: nodee: unknown key (did you mean 'node'?)"


def test_the_command_line_prints_all_problems_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "t.yaml"
    config.write_text(THREE_PROBLEMS)
    result = run_twinstar(config, "check")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"twinstar: error: {config.parent}/{EXPECTED[0]}", *(f"{config.parent}/{line}" for line in EXPECTED[1:])]
