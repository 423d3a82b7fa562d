"""examples/twinstar.yaml loads, and shows every configuration key an operator can set."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from twinstar import config as config_mod

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "twinstar.yaml"

# Field name -> key name where they differ.
RENAMED = {"service": "name", "command": "name"}


def _keys(spec: type) -> set[str]:
    return {RENAMED.get(f.name, f.name) for f in dataclasses.fields(spec)}


def test_example_loads() -> None:
    config = config_mod.load(str(EXAMPLE), strict_modes=False)
    assert [spec.kind for spec in config.takeover] == ["dahdi", "drbd", "ip", "service", "service", "service", "asterisk", "command"]
    assert config.groups == (("service:mysql", "service:apache2"),)


def test_example_shows_every_key() -> None:
    raw = yaml.safe_load(EXAMPLE.read_text())
    assert set(raw) == _keys(config_mod.Config) - {"source", "groups"}
    for section, spec in (
        ("astribanks", config_mod.AstribanksConfig),
        ("usb", config_mod.UsbConfig),
        ("daemon", config_mod.DaemonConfig),
        ("switchover", config_mod.SwitchoverConfig),
        ("journal", config_mod.JournalConfig),
    ):
        assert set(raw[section]) == _keys(spec), section
    steps: dict[str, set[str]] = {}
    entries = [member for item in raw["takeover"] for member in item.get("parallel", [item])]
    assert len(entries) > len(raw["takeover"]), "the example shows a parallel group"
    for item in entries:
        ((kind, body),) = item.items()
        steps.setdefault(kind, set()).update(body if isinstance(body, dict) else {"name"})
    assert steps["drbd"] == _keys(config_mod.DrbdSpec)
    assert steps["ip"] == _keys(config_mod.IpSpec)
    assert steps["command"] == _keys(config_mod.CommandSpec)
    assert steps["service"] == _keys(config_mod.ServiceSpec)
    assert steps["dahdi"] == _keys(config_mod.DahdiSpec)
    assert steps["asterisk"] == _keys(config_mod.AsteriskSpec)
