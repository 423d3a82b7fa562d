"""What the asterisk step reads from ``asterisk -rx``: pure parsers of the CLI's output.

The formats are Asterisk's own: ``dahdi show status`` and ``dahdi show
channels`` are chan_dahdi's fixed-width tables (``FORMAT2``/``FORMAT`` in
``channels/chan_dahdi.c``), with a leading ``Span`` column since Asterisk 13
and without it before (both are read; tests/steps/ holds recorded samples of
each); ``module show like`` is the module table ending in ``N modules loaded``.
A table that is not there (``No such command ...``, ``No DAHDI found``) or a
row that does not fit is a :class:`CliOutputError` saying what was found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
#: A parser of one command's output.
Parser = Callable[[str], T]

#: The words chan_dahdi's ``build_alarm_info`` joins with ``/`` (any older word accepted as such);
#: ``UNCONFI`` is ``UNCONFIGURED`` as the 7-column ``%-7.7s`` prints it since Asterisk 1.8.
ALARM_WORDS = frozenset(("OK", "UNCONFIGURED", "UNCONFI", "BLU", "YEL", "RED", "LB", "REC", "NOP", "UUU", "BLUE", "YELLOW", "RECOVER", "NOTOPEN", "LOOP"))


class CliOutputError(ValueError):
    """Output of ``asterisk -rx`` that is not the table expected."""


@dataclass(frozen=True)
class StatusSpan:
    """One row of ``dahdi show status``: the span number (None before Asterisk 13 printed it), description, alarms."""

    number: int | None
    description: str
    alarms: str

    def __str__(self) -> str:
        return f"span {self.number} ({self.description})" if self.number is not None else f"span {self.description!r}"


@dataclass(frozen=True)
class Channel:
    """One DAHDI channel of ``dahdi show channels`` (never the pseudo channel); its span where the table shows it."""

    number: int
    span: int | None


def _first_line(text: str) -> str:
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    return line.strip()[:120]


def _table(text: str, first_words: tuple[str, ...], what: str) -> tuple[list[str], list[str]]:
    """The header's words and the rows after it; CliOutputError without the header."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        words = line.split()
        if tuple(words[: len(first_words)]) == first_words or (words[:1] == ["Span"] and tuple(words[1:1 + len(first_words)]) == first_words):
            return words, [ln for ln in lines[i + 1 :] if ln.strip()]
    raise CliOutputError(f"{what}: expected its table, found {_first_line(text)!r}")


def parse_status(text: str) -> list[StatusSpan]:
    """The spans of ``dahdi show status``."""
    header, rows = _table(text, ("Description", "Alarms"), "dahdi show status")
    spanned = header[0] == "Span"
    spans = []
    for row in rows:
        if spanned:
            number_text, description, rest = row[:4].strip(), row[5:45].rstrip(), row[45:].split()
            if not (number_text.isascii() and number_text.isdigit()):
                raise CliOutputError(f"dahdi show status: expected a span number, found {row[:60]!r}")
            number: int | None = int(number_text)
        else:
            number, description, rest = None, row[:40].rstrip(), row[40:].split()
        if not rest or not set(rest[0].split("/")) <= ALARM_WORDS:
            raise CliOutputError(f"dahdi show status: expected the alarms after the description, found {row[:90]!r}")
        spans.append(StatusSpan(number, description, rest[0]))
    return spans


def parse_channels(text: str) -> list[Channel]:
    """The DAHDI channels of ``dahdi show channels`` (the pseudo channel left out)."""
    header, rows = _table(text, ("Chan",), "dahdi show channels")
    spanned = header[1:2] == ["Span"]
    channels = []
    for row in rows:
        words = row.split()
        if words[0] == "pseudo":
            continue
        if not (words[0].isascii() and words[0].isdigit()) or (spanned and not (len(words) > 1 and words[1].isascii() and words[1].isdigit())):
            raise CliOutputError(f"dahdi show channels: expected a channel number{' and its span' if spanned else ''}, found {row[:60]!r}")
        channels.append(Channel(int(words[0]), int(words[1]) if spanned else None))
    return channels


def module_loaded(text: str, module: str) -> bool:
    """Whether ``module show like MODULE`` lists ``module``."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or not lines[-1].split()[1:] == ["modules", "loaded"] or not lines[-1].split()[0].isdigit():
        raise CliOutputError(f"module show like {module}: expected 'N modules loaded' last, found {_first_line(text)!r}")
    return any(ln.split()[0] == module for ln in lines[:-1])


def answers(text: str) -> bool:
    """Whether ``core show version`` is Asterisk's answer (``Asterisk 18.10.0 built by ...``)."""
    return text.lstrip().startswith("Asterisk ")


def missing_channels(spans: list[StatusSpan], channels: list[Channel]) -> list[str]:
    """What of DAHDI chan_dahdi does not show: no span, no channel, or a span without any channel."""
    if not spans:
        return ["DAHDI shows no span"]
    if not channels:
        return ["chan_dahdi shows no DAHDI channel"]
    if any(c.span is None for c in channels) or any(s.number is None for s in spans):
        return []  # a table without span numbers: channels are there, which span they are on is not shown
    have = {c.span for c in channels}
    return [f"{s} has no channel in chan_dahdi" for s in spans if s.number not in have]
