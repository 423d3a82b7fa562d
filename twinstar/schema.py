"""The rules of the configuration's values, written once on the dataclasses' fields.

A field of a section (``config/model.py``) or of a step spec (``steps/*spec.py``)
carries its rule in its metadata: a number's range, an absolute path, a choice, a
command... The YAML key is the field's name unless the rule names another, and it
is required when the field has no default (or the rule says so). ``config/``
reads YAML by these rules; the known and required keys and the table of ranges
(:func:`numbers`) derive from them, so a key is declared in exactly one place.

Built-in modules only: the step specs import this without the YAML reader.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, fields
from enum import StrEnum

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

DAY = 86400.0

#: The shortest interval of a loop that repeats until something changes (seconds):
#: anything shorter, 0 above all, would keep a CPU busy polling.
MIN_INTERVAL = 0.05

#: The metadata key under which a field keeps its :class:`Rule`.
RULE = "twinstar.rule"


@dataclass(frozen=True)
class Range:
    """The finite values a number of the configuration (or an option) may take."""

    minimum: float
    maximum: float
    integer: bool = False
    #: 0 is allowed too and means "off" (an interval of 0 is not "as often as possible").
    zero_is_off: bool = False

    def text(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        return f"{'0 (off) or ' if self.zero_is_off else ''}{kind} from {self.minimum:g} to {self.maximum:g}"

    def contains(self, value: float) -> bool:
        return self.minimum <= value <= self.maximum or (self.zero_is_off and value == 0)


def check_number(value: object, rng: Range) -> str | None:
    """Why ``value`` is not a number within ``rng``; None when it is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        shown = f" {value!r:.40}" if isinstance(value, str) else ""
        return f"expected {rng.text()}, found {typename(value)}{shown}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"expected {rng.text()}, found {value} (not a finite number)"
    if rng.integer and not isinstance(value, int):
        return f"expected a whole number, found {value}"
    if not rng.contains(value):
        off = "0 (off) or " if rng.zero_is_off else ""
        return f"must be {off}from {rng.minimum:g} to {rng.maximum:g}, found {value!r:.40}"
    return None


def typename(value: object) -> str:
    """How a message names the type of a YAML value."""
    if value is None:
        return "nothing (null)"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "a mapping"}
    return names.get(type(value), type(value).__name__)


class Kind(StrEnum):
    """How a value is read."""

    NUMBER = "number"
    TEXT = "text"
    PATH = "path"
    FLAG = "flag"
    CHOICE = "choice"
    ARGV = "argv"
    COMMANDS = "commands"
    SECTION = "section"
    PROGRAMS = "programs"
    STEPS = "steps"


class Rule:
    """What a field accepts; see the constructors below.

    A plain slotted class, not a dataclass: it is built at every start of
    twinstar, and a dataclass costs about half a millisecond to create.
    """

    __slots__ = ("kind", "key", "range", "seconds", "nullable", "convert", "choices", "section", "required", "missing")

    def __init__(
        self,
        kind: Kind,
        *,
        key: str | None = None,
        range: Range | None = None,
        seconds: bool = False,
        nullable: bool = False,
        convert: Callable[[Any], Any] | None = None,
        choices: type[StrEnum] | None = None,
        section: type | None = None,
        required: bool = False,
        missing: Callable[[], Any] | None = None,
    ) -> None:
        self.kind = kind
        #: The YAML key, when it is not the field's name.
        self.key = key
        self.range = range
        #: A number read as seconds is stored as a float.
        self.seconds = seconds
        #: ``null`` is allowed and means None.
        self.nullable = nullable
        #: Turns the read value into the stored one; raises ValueError with the message.
        self.convert = convert
        self.choices = choices
        self.section = section
        #: Required although the dataclass has a default.
        self.required = required
        #: The value when the key is absent, computed then (e.g. the host name).
        self.missing = missing


def number(rng: Range) -> dict[str, Rule]:
    return {RULE: Rule(Kind.NUMBER, range=rng)}


def seconds(rng: Range) -> dict[str, Rule]:
    return {RULE: Rule(Kind.NUMBER, range=rng, seconds=True)}


def text(
    *, key: str | None = None, convert: Callable[[str], Any] | None = None, nullable: bool = False,
    missing: Callable[[], Any] | None = None,
) -> dict[str, Rule]:
    return {RULE: Rule(Kind.TEXT, key=key, convert=convert, nullable=nullable, missing=missing)}


def path(*, nullable: bool = False, convert: Callable[[str], Any] | None = None) -> dict[str, Rule]:
    """An absolute path, normalised."""
    return {RULE: Rule(Kind.PATH, nullable=nullable, convert=convert)}


def flag() -> dict[str, Rule]:
    return {RULE: Rule(Kind.FLAG)}


def choice(choices: type[StrEnum]) -> dict[str, Rule]:
    return {RULE: Rule(Kind.CHOICE, choices=choices)}


def argv(*, nullable: bool = False) -> dict[str, Rule]:
    """A command as a non-empty list: an absolute path or a program name, then its arguments."""
    return {RULE: Rule(Kind.ARGV, nullable=nullable)}


def commands() -> dict[str, Rule]:
    """A list of commands (each as :func:`argv` reads it), possibly empty."""
    return {RULE: Rule(Kind.COMMANDS)}


def section(cls: type) -> dict[str, Rule]:
    return {RULE: Rule(Kind.SECTION, section=cls)}


def custom(kind: Kind, *, required: bool = False) -> dict[str, Rule]:
    """A value with a reader of its own in ``config/`` (programs, the takeover steps)."""
    return {RULE: Rule(kind, required=required)}


class Key:
    """One YAML key of a section or step, as its dataclass field declares it (slotted: see :class:`Rule`)."""

    __slots__ = ("name", "field", "rule", "required")

    def __init__(self, name: str, field: str, rule: Rule, required: bool) -> None:
        self.name = name
        self.field = field
        self.rule = rule
        self.required = required


def keys(cls: type) -> Iterator[Key]:
    """The YAML keys of dataclass ``cls``, in declaration order."""
    for f in fields(cls):
        rule = f.metadata.get(RULE)
        if rule is None:
            continue
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        required = rule.required or not (has_default or rule.missing is not None)
        yield Key(rule.key or f.name, f.name, rule, required)


def numbers(cls: type, prefix: str = "") -> dict[str, Range]:
    """Every number of ``cls`` and its sections as ``section.key``: ranges."""
    found: dict[str, Range] = {}
    for key in keys(cls):
        if key.rule.range is not None:
            found[prefix + key.name] = key.rule.range
        elif key.rule.section is not None:
            found.update(numbers(key.rule.section, f"{prefix}{key.name}."))
    return found
