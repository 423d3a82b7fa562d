"""Property: any order of add/online/offline/remove over N units (N up to 16) gives
exactly one takeover after the last listed unit becomes READY and exactly one
release after the last listed unit leaves; never a takeover while a listed unit
is missing.

The scenarios (:mod:`tests.hotplug.sequences`) interleave every unit's
events in a random order, with bounces, unlisted units and late repeated
events, and every round reaches both "all listed READY" and "none present",
whatever N is. In-process through :func:`twinstar.hotplug.hook.evaluate` (the hook's
and the daemon's code path) with the inline hand-off and a no-op command
step, plus a few whole-process runs of ``hooks/atribank_hook``. Stand-in:
the fake sysfs tree.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hotplug.sequences import Driver, Scenario, scenarios
from tests.support.node import Node
from twinstar import config
from twinstar.hotplug import hook

# The programs twinstar runs in this process (tests/conftest.py fails any other).
pytestmark = pytest.mark.programs("true")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scenario=scenarios())
def test_exactly_one_takeover_and_release_per_cycle(tmp_path_factory, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    node = Node(Path(tmp_path_factory.mktemp("prop")))
    node.configure()
    node.listed(scenario.listed)
    cfg = config.load(str(node.config_path))
    driver = Driver(node.sysfs, scenario)
    model = driver.model
    for arrival, departure in scenario.rounds:
        for phase, role_after in ((arrival, "active"), (departure, "standby")):
            for event, expected in driver.events(phase):
                outcome = hook.evaluate(cfg, hook.Event.from_environ(event), handoff_mode="inline", environ=node.environ())
                assert outcome.decision.action == expected, (outcome.line(), driver.states)
                if expected == "takeover":
                    assert outcome.readiness.all_ready and outcome.report is not None and outcome.report.ok
                    assert all(s == "ready" for s in driver.listed_states())  # never with one missing
                assert (node.begins("takeover"), node.begins("release")) == (model.takeovers, model.releases)
                assert node.role() == model.role
            # The phase ended with every listed unit READY (or every one gone).
            assert node.role() == model.role == role_after, driver.states
    assert node.begins("takeover") == model.takeovers >= len(scenario.rounds)
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
