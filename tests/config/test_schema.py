"""Each key of the configuration is declared once, on its dataclass field.

The loader accepts and requires exactly the keys the spec dataclasses declare
(:mod:`twinstar.schema`), the steps registry covers every step spec, the manual's
configuration page lists every key, and the hook's cached settings are copied by one list.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from twinstar.config import (
    AstribanksConfig,
    Config,
    DaemonConfig,
    JournalConfig,
    PolicyConfig,
    StepSpec,
    SwitchoverConfig,
    UsbConfig,
    parse,
)
from twinstar.errors import ConfigError
from twinstar.fastpath.hooksettings import FIELDS, HookSettings
from twinstar.schema import keys
from twinstar.steps.registry import STEP_TYPES

MANUAL = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"

SECTIONS = {"astribanks": AstribanksConfig, "usb": UsbConfig, "daemon": DaemonConfig, "switchover": SwitchoverConfig,
            "journal": JournalConfig,
            "policy": PolicyConfig}


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text, "t.yaml")
    return str(caught.value).splitlines()


def _known_keys_hint(lines: list[str]) -> list[str]:
    (line,) = [line for line in lines if "unknown key" in line]
    found = re.search(r"known keys: ([^)]*)\)", line)
    assert found, line
    return found.group(1).split(", ")


@pytest.mark.parametrize("kind", sorted(STEP_TYPES))
def test_a_step_accepts_and_requires_the_keys_its_spec_declares(kind: str) -> None:
    spec = STEP_TYPES[kind].spec
    lines = _problems(f"takeover:\n  - {kind}: {{zzzzzzzz: 1}}\n")
    assert _known_keys_hint(lines) == [k.name for k in keys(spec)]
    missing = sorted(re.findall(rf"takeover\[0\]\.{kind}\.(\w+): required key is missing", "\n".join(lines)))
    assert missing == sorted(k.name for k in keys(spec) if k.required)


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_a_section_accepts_the_keys_its_dataclass_declares(name: str) -> None:
    lines = _problems(f"{name}: {{zzzzzzzz: 1}}\ntakeover: [service: asterisk]\n")
    assert _known_keys_hint(lines) == [k.name for k in keys(SECTIONS[name])]


def test_the_top_level_accepts_and_requires_the_keys_config_declares() -> None:
    lines = _problems("zzzzzzzz: 1\n")
    assert _known_keys_hint(lines) == [k.name for k in keys(Config)]
    assert [k.name for k in keys(Config) if k.required] == ["takeover"]
    assert "t.yaml:1: takeover: required key is missing" in lines


def test_the_registry_covers_every_step_spec() -> None:
    assert {t.spec for t in STEP_TYPES.values()} == set(typing.get_args(StepSpec))
    for key, step_type in STEP_TYPES.items():
        assert step_type.spec.kind == key
        assert step_type.step_class().kind == key


def test_the_manual_lists_every_step_key() -> None:
    manual = MANUAL.read_text()
    table = manual.split("## Steps\n", 1)[1].split("\n\n", 1)[0].strip()
    rows = {row.split("|")[1].strip(" `"): row.split("|")[2] for row in table.splitlines()[2:]}
    assert sorted(rows) == sorted(STEP_TYPES)
    for kind, step_type in STEP_TYPES.items():
        listed = re.findall(r"`(\w+)`", rows[kind])
        assert [k for k in listed if k not in ("auto", "systemd", "sysv")] == [k.name for k in keys(step_type.spec)]


def test_the_manual_lists_every_top_level_key() -> None:
    manual = MANUAL.read_text()
    table = manual.split("| key | default | meaning |\n", 1)[1].split("\n\n", 1)[0]
    listed = " ".join(row.split("|")[1] for row in table.splitlines()[1:])
    for key in keys(Config):
        if key.name in ("astribanks", "usb", "journal"):
            names = [f"{key.name}.{k.name}" for k in keys(SECTIONS[key.name])]
        else:
            names = [{"programs": "programs.NAME", "daemon": "daemon.*", "switchover": "switchover.*", "policy": "policy.*"}.get(key.name, key.name)]
        for name in names:
            assert f"`{name}`" in listed, name


def test_the_hook_settings_are_copied_by_their_one_list() -> None:
    top = {k.field for k in keys(Config)} | {"source", "ip_probes"}  # ip_probes: a property of the takeover's steps
    astribanks = {k.field for k in keys(AstribanksConfig)}
    for name in FIELDS:
        assert (name in top) != (name in astribanks), f"{name} must be one key of the configuration"
    config = parse("node: pbx-a\nhandoff: spawn\nastribanks: {sysfs: /x, rearm_watchdog: false}\n"
                   "programs: {ip: /sbin/ip}\ntakeover: [service: asterisk, {ip: {address: 10.213.9.1/24, interface: eth0}}]\n",
                   "/etc/t.yaml")
    assert HookSettings.from_config(config).record() == {
        "source": "/etc/t.yaml",
        "node": "pbx-a",
        "state_dir": "/run/twinstar",
        "maintenance_file": "/etc/twinstar/maintenance",
        "handoff": "spawn",
        "sysfs": "/x",
        "xpp_order": "/etc/dahdi/xpp_order",
        "rearm_watchdog": False,
        "programs": (("ip", "/sbin/ip"),),
        "ip_probes": (("ip:10.213.9.1/24", "eth0", "10.213.9.1/24", 0.2, 10.0),),
    }
    assert type(HookSettings.from_config(config).handoff) is str  # marshal stores built-in types only
