"""Property: any order of add/online/offline/remove over N units gives exactly one
takeover after the last listed unit becomes READY and exactly one release after
the last listed unit leaves; never a takeover while a listed unit is missing.

In-process through :func:`twinstar.hook.evaluate` (the hook's and the daemon's
code path) with the inline hand-off and a no-op command step, plus a few
whole-process runs of ``hooks/atribank_hook``. Stand-in: the fake sysfs tree.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hotplug.conftest import Node, connector, label
from twinstar import config, hook

# A unit's lifecycle; each step but "attach" is one uevent.
NEXT = {"absent": "added", "added": "attached", "attached": "ready", "ready": "leaving", "leaving": "absent"}


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


def _advance(node: Node, states: list[str], i: int) -> dict[str, str] | None:
    """Move unit ``i`` one step through its lifecycle; the uevent, if any."""
    fs, state = node.sysfs, states[i]
    states[i] = NEXT[state]
    if state == "absent":
        return fs.create_unit(i)
    if state == "added":
        fs.attach(i, label=label(i), connector=connector(i))
        return None
    if state == "attached":
        return fs.online(i)
    if state == "ready":
        return fs.offline(i)
    fs.set_state(i, "DEACTIVATED")
    return fs.remove_unit(i)


moves = st.lists(st.tuples(st.integers(0, 17), st.booleans()), max_size=150)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(n=st.integers(1, 16), unlisted=st.integers(0, 2), steps=moves)
def test_exactly_one_takeover_and_release_per_cycle(tmp_path_factory, n: int, unlisted: int, steps: list[tuple[int, bool]]) -> None:  # type: ignore[no-untyped-def]
    node = Node(Path(tmp_path_factory.mktemp("prop")))
    node.configure()
    node.listed(n)
    cfg = config.load(str(node.config_path))
    total = n + unlisted
    states = ["absent"] * total
    model = Model(n)
    for pick, spurious in steps:
        i = pick % total
        if spurious and states[i] != "absent":
            event = node.sysfs.event("online" if states[i] == "ready" else "add", i)  # a late, repeated event
        else:
            event = _advance(node, states, i)
            if event is None:
                continue
        outcome = hook.evaluate(cfg, hook.Event.from_environ(event), handoff_mode="inline", environ=node.environ())
        expected = model.expect(states)
        assert outcome.decision.action == expected, (outcome.line(), states)
        if expected == "takeover":
            assert outcome.readiness.all_ready and outcome.report is not None and outcome.report.ok
        assert (node.begins("takeover"), node.begins("release")) == (model.takeovers, model.releases)
        assert node.role() == model.role
    # Drive the rest: all listed units arrive, then all leave.
    for target in ("ready", "absent"):
        for i in range(n):
            while states[i] != target:
                event = _advance(node, states, i)
                if event is not None:
                    outcome = hook.evaluate(cfg, hook.Event.from_environ(event), handoff_mode="inline", environ=node.environ())
                    assert outcome.decision.action == model.expect(states), outcome.line()
    assert node.role() == "standby" and model.role == "standby"
    assert node.begins("takeover") == model.takeovers >= 1
    assert node.begins("release") == model.releases == model.takeovers


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(order=st.permutations(range(4)), leave=st.permutations(range(4)))
def test_whole_process_hooks_in_any_order(tmp_path_factory, order: list[int], leave: list[int]) -> None:  # type: ignore[no-untyped-def]
    node = Node(Path(tmp_path_factory.mktemp("proc")))
    node.configure()
    node.listed(3)  # unit 3 is not listed
    for k, i in enumerate(order):
        results = node.plug(i)
        assert all(r.returncode == 0 for r in results)
        all_listed_in = {0, 1, 2} <= set(order[: k + 1])
        assert node.begins("takeover") == (1 if all_listed_in else 0), [r.stderr for r in results]
    for k, i in enumerate(leave):
        node.unplug(i)
        all_listed_out = {0, 1, 2} <= set(leave[: k + 1])
        assert node.begins("release") == (1 if all_listed_out else 0)
    assert node.begins("takeover") == 1 and node.role() == "standby"
