"""Event sequences for the property tests of the hook and of the daemon (one generator, one model).

A scenario is one or two rounds over ``n`` listed units (1..16) and up to two
unlisted ones. In each round every listed unit arrives (add, online), possibly
after a full bounce (add, online, offline, remove), and then leaves (offline,
remove), possibly coming back and leaving again; all of this in a random
interleaving of the units' events (a permutation), with unlisted units
cycling alongside and late repeats of a unit's last event sprinkled in. So
every round reaches "all listed units READY" in any order of arrival and
"no listed unit present" in any order of departure, whatever ``n`` is.

:class:`Model` is the specification, independent of the code: which action
each event must cause.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hypothesis import strategies as st

from tests.support.units import attach
from twinstar.standins.fakesysfs import FakeSysfs

# A unit's lifecycle; each step but "attach" (added -> attached) is one uevent.
NEXT = {"absent": "added", "added": "attached", "attached": "ready", "ready": "leaving", "leaving": "absent"}
#: Steps of a full cycle, from absent to ready, from ready to absent.
CYCLE, ARRIVE, LEAVE = 5, 3, 2
#: The uevent a late repeat of a unit's last event carries, by its state.
REPEAT = {"absent": "remove", "added": "add", "attached": "add", "ready": "online", "leaving": "offline"}

MAX_LISTED = 16
MAX_UNLISTED = 2


class Model:
    """What the specification says should happen, independently of the code."""

    def __init__(self, listed: int) -> None:
        self.listed = listed
        self.role = "standby"
        self.takeovers = 0
        self.releases = 0

    def expect(self, states: list[str]) -> str:
        mine = states[: self.listed]
        if self.role == "standby" and all(s == "ready" for s in mine):
            self.role, self.takeovers = "active", self.takeovers + 1
            return "takeover"
        # Present = identifiable (label attached) and not deactivating.
        if self.role == "active" and all(s in ("absent", "added", "leaving") for s in mine):
            self.role, self.releases = "standby", self.releases + 1
            return "release"
        return "nothing"


@dataclass(frozen=True)
class Move:
    """Advance ``unit`` one lifecycle step, or (``repeat``) resend its last event unchanged."""

    unit: int
    repeat: bool = False


@dataclass(frozen=True)
class Scenario:
    listed: int
    unlisted: int
    #: Per round: the arrival phase, then the departure phase.
    rounds: tuple[tuple[tuple[Move, ...], tuple[Move, ...]], ...]

    @property
    def total(self) -> int:
        return self.listed + self.unlisted


@st.composite
def _phase(draw: st.DrawFn, listed: int, unlisted: int, steps: int) -> tuple[Move, ...]:
    """Listed units each take ``steps`` (+ a full cycle when they bounce); all interleaved."""
    tokens: list[int] = []
    for i in range(listed):
        tokens += [i] * (steps + CYCLE * draw(st.integers(0, 1)))
    for i in range(listed, listed + unlisted):
        tokens += [i] * draw(st.integers(0, CYCLE + ARRIVE))
    order = draw(st.permutations(tokens))
    moves = [Move(i) for i in order]
    for position, unit in draw(st.lists(st.tuples(st.integers(0, len(moves)), st.integers(0, listed + unlisted - 1)), max_size=6)):
        moves.insert(min(position, len(moves)), Move(unit, repeat=True))
    return tuple(moves)


@st.composite
def scenarios(draw: st.DrawFn, *, max_listed: int = MAX_LISTED, max_rounds: int = 2) -> Scenario:
    listed = draw(st.one_of(st.integers(1, 4), st.integers(1, max_listed)))
    unlisted = draw(st.integers(0, MAX_UNLISTED))
    rounds = tuple(
        (draw(_phase(listed, unlisted, ARRIVE)), draw(_phase(listed, unlisted, LEAVE)))
        for _ in range(draw(st.integers(1, max_rounds)))
    )
    return Scenario(listed, unlisted, rounds)


class Driver:
    """Plays a scenario on a fake sysfs tree: the uevents to deliver, and the model's expectation."""

    def __init__(self, fs: FakeSysfs, scenario: Scenario) -> None:
        self.fs = fs
        self.scenario = scenario
        self.states = ["absent"] * scenario.total
        self.model = Model(scenario.listed)

    def _advance(self, i: int) -> dict[str, str] | None:
        fs, state = self.fs, self.states[i]
        self.states[i] = NEXT[state]
        if state == "absent":
            return fs.create_unit(i)
        if state == "added":
            attach(fs, i)
            return None
        if state == "attached":
            return fs.online(i)
        if state == "ready":
            return fs.offline(i)
        fs.set_state(i, "DEACTIVATED")
        return fs.remove_unit(i)

    def events(self, moves: tuple[Move, ...]) -> Iterator[tuple[dict[str, str], str]]:
        """Each uevent of ``moves`` in turn, with the action the model expects it to cause."""
        for move in moves:
            if move.repeat:
                event: dict[str, str] | None = self.fs.event(REPEAT[self.states[move.unit]], move.unit)
            else:
                event = self._advance(move.unit)
            if event is not None:
                yield event, self.model.expect(self.states)

    def listed_states(self) -> list[str]:
        return self.states[: self.scenario.listed]
