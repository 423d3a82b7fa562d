"""Every number of the configuration is finite and within its stated range (``config.NUMBERS``)."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from twinstar.config import MIN_INTERVAL, NUMBERS, parse
from twinstar.errors import ConfigError

CMD = "  - command: {name: c, start: [/bin/true], stop: [/bin/true]}\n"
STEP = {
    "dahdi": "dahdi: {{{key}: {value}}}",
    "drbd": "drbd: {{resource: r0, device: /dev/drbd0, mountpoint: /r, {key}: {value}}}",
    "ip": "ip: {{address: 10.213.80.10/24, interface: lo, {key}: {value}}}",
    "service": "service: {{name: x, {key}: {value}}}",
    "command": "command: {{name: d, start: [/bin/true], stop: [/bin/true], {key}: {value}}}",
    "asterisk": "asterisk: {{{key}: {value}}}",
}


def _text(name: str, value: str) -> str:
    section, _, key = name.rpartition(".")
    if section in STEP:
        return "takeover:\n  - " + STEP[section].format(key=key, value=value) + "\n"
    if section:
        return f"{section}: {{{key}: {value}}}\ntakeover:\n{CMD}"
    return f"{key}: {value}\ntakeover:\n{CMD}"


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1.0e+308", "123456789012345678901234567890", "abc", "true"])
@pytest.mark.parametrize("name", sorted(NUMBERS))
def test_every_number_refuses_what_is_not_finite_or_out_of_range(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(_text(name, value), "t.yaml")
    key = name.rpartition(".")[2]
    assert str(err.value).startswith("t.yaml:") and f".{key}:" in str(err.value) or f"{key}:" in str(err.value), err.value


@pytest.mark.parametrize("name", sorted(NUMBERS))
def test_the_ends_of_each_range_are_accepted(name: str) -> None:
    rng = NUMBERS[name]
    for value in (rng.minimum, rng.maximum, *([0.0] if rng.zero_is_off else [])):
        parse(_text(name, str(int(value)) if rng.integer else repr(float(value))), "t.yaml")


#: The keys that set how often a loop repeats (0 "off" where the key allows it).
INTERVALS = {
    "daemon.evaluate_interval": False,
    "daemon.check_interval": True,
    "daemon.arp_refresh_interval": True,
    "switchover.drain_poll": False,
    "ip.arp_interval": False,
}


@pytest.mark.parametrize("name", sorted(INTERVALS))
def test_no_interval_is_short_enough_for_a_busy_loop(name: str) -> None:
    """0 (where it does not mean off) and anything below the least interval are refused."""
    too_short = ["0.001", "0.01", "0.049"] + ([] if INTERVALS[name] else ["0", "0.0"])
    for value in too_short:
        with pytest.raises(ConfigError, match=f"{name.rpartition('.')[2]}: must be"):
            parse(_text(name, value), "t.yaml")
    assert NUMBERS[name].zero_is_off is INTERVALS[name]
    assert NUMBERS[name].minimum == MIN_INTERVAL
    if INTERVALS[name]:
        off = parse(_text(name, "0"), "t.yaml")
        assert getattr(off.daemon, name.rpartition(".")[2]) == 0


def test_the_manual_states_every_range() -> None:
    manual = (REPO / "docs" / "configuration.md").read_text()
    table = manual.split("| key | range |\n", 1)[1].split("\n\n", 1)[0]
    rows = table.splitlines()[1:]
    for name, rng in NUMBERS.items():
        section, _, key = name.rpartition(".")
        words = (f"`{key}`", f"`{section}`") if section in STEP else (f"`{name}`",)
        (row,) = [r for r in rows if all(w in r for w in words)] or [""]
        expected = "0 or 1" if (rng.integer and (rng.minimum, rng.maximum) == (0, 1)) else f"{rng.minimum:g} to {rng.maximum:g}"
        expected = ("0 (off) or " if rng.zero_is_off else "") + expected
        assert expected in row, (name, row)
