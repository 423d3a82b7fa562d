"""Every number of the configuration is finite and within its stated range (``config.NUMBERS``)."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from twinstar.config import NUMBERS, parse
from twinstar.errors import ConfigError

CMD = "  - command: {name: c, start: [/bin/true], stop: [/bin/true]}\n"
STEP = {
    "dahdi": "dahdi: {{{key}: {value}}}",
    "drbd": "drbd: {{resource: r0, device: /dev/drbd0, mountpoint: /r, {key}: {value}}}",
    "ip": "ip: {{address: 10.213.80.10/24, interface: lo, {key}: {value}}}",
    "service": "service: {{name: x, {key}: {value}}}",
    "command": "command: {{name: d, start: [/bin/true], stop: [/bin/true], {key}: {value}}}",
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
    for value in (rng.minimum, rng.maximum):
        parse(_text(name, str(int(value)) if rng.integer else repr(float(value))), "t.yaml")


def test_the_readme_states_every_range() -> None:
    readme = (REPO / "README.md").read_text()
    table = readme.split("| key | range |\n", 1)[1].split("\n\n", 1)[0]
    rows = table.splitlines()[1:]
    for name, rng in NUMBERS.items():
        section, _, key = name.rpartition(".")
        words = (f"`{key}`", f"`{section}`") if section in STEP else (f"`{name}`",)
        (row,) = [r for r in rows if all(w in r for w in words)] or [""]
        expected = "0 or 1" if (rng.integer and (rng.minimum, rng.maximum) == (0, 1)) else f"{rng.minimum:g} to {rng.maximum:g}"
        assert expected in row, (name, row)
