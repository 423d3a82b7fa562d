"""Duplicate-address detection started ahead of a takeover (``start_ahead``, the daemon's) and adopted by its ip step.

The pure part (:class:`AheadProbes`, an answer's age) runs plain functions
in threads, with a clock the test moves. The rest is real: two network
namespaces (``tswd-...``) joined by a veth pair, 10.213.71.0/24 inside them
only, the raw ARP probe; the steps run in namespace A through
tests/steps/ip_harness.py, unchanged: a second ip step of the same settings
stands for the daemon's. Nothing is a stand-in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.rigs import Pair, netns_pair, run
from twinstar.steps.early import AheadProbes, EarlyProbe

HERE = Path(__file__).resolve().parent
ADDRESS = "10.213.71.10/24"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ended(clock: Clock, answer: str, released: list[str]) -> EarlyProbe[str, str]:
    probe: EarlyProbe[str, str] = EarlyProbe("x", lambda: "link up", lambda inputs: answer, release=released.append, monotonic=clock)
    probe.wait()
    return probe


def test_an_answer_older_than_its_max_age_is_not_given_and_is_released() -> None:
    clock, released = Clock(), []
    fresh = ended(clock, "nobody", released)
    clock.now += 1.0
    assert fresh.collect("link up", max_age=1.0) == ("nobody",)
    old = ended(clock, "nobody", released)
    clock.now += 1.5
    assert old.collect("link up", max_age=1.0) is None
    assert released == ["nobody"]


def test_one_probe_offered_per_key_and_it_is_taken_once() -> None:
    clock, released = Clock(), []
    ahead = AheadProbes()
    first, second = ended(clock, "first", released), ended(clock, "second", released)
    ahead.offer("ip", first, max_age=1.0)
    ahead.offer("ip", second, max_age=1.0)
    assert released == ["first"]  # replaced: dropped, its answer released
    assert ahead.offered("ip") is second
    assert ahead.take("ip") is second and ahead.take("ip") is None
    assert ahead.take("other") is None


def test_stale_probes_are_dropped_and_all_are_dropped_at_the_end() -> None:
    clock, released = Clock(), []
    ahead = AheadProbes()
    ahead.offer("old", ended(clock, "old", released), max_age=1.0)
    clock.now += 2.0
    ahead.offer("new", ended(clock, "new", released), max_age=1.0)
    ahead.drop_stale()
    assert released == ["old"] and ahead.offered("old") is None and ahead.offered("new") is not None
    ahead.drop_all()
    assert released == ["old", "new"] and ahead.offered("new") is None


@pytest.fixture
def pair() -> Iterator[Pair]:
    with netns_pair("10.213.71.2/24", prefix="tswd") as p:
        yield p


def harness(
    pair: Pair, tmp_path: Path, actions: list[object], dad_fresh: float | None = None, watch_limit: float | None = None, **options: object
) -> list[dict[str, object]]:
    req: dict[str, object] = {"address": ADDRESS, "interface": pair.if_a, "state_dir": str(tmp_path), "options": options, "actions": actions}
    if dad_fresh is not None:
        req["dad_fresh"] = dad_fresh
    if watch_limit is not None:
        req["watch_limit"] = watch_limit
    proc = subprocess.run(
        ["ip", "netns", "exec", pair.a, sys.executable, str(HERE / "ip_harness.py"), json.dumps(req)],
        capture_output=True, text=True, timeout=60, cwd=HERE.parent.parent,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result: list[dict[str, object]] = json.loads(proc.stdout)
    return result


@pytest.mark.privileged
def test_the_takeovers_step_adopts_the_probe_started_ahead_and_probes_no_more(pair: Pair, tmp_path: Path) -> None:
    ahead, early, check, apply = harness(pair, tmp_path, ["start_ahead", "start_early", "check", "apply"], dad_timeout=0.3, arp_count=1)
    assert ahead["ok"] and ahead["probes"] == 1
    assert early["adopted"] is True and early["probes"] == 0
    assert apply["ok"] and apply["probes"] == 0, apply
    assert ADDRESS in pair.addresses(pair.a, pair.if_a)


@pytest.mark.privileged
def test_an_owner_found_ahead_is_asked_again_and_still_refuses(pair: Pair, tmp_path: Path) -> None:
    """The peer answered when the unit arrived and still holds the address at apply: probed again, refused."""
    run("ip", "-n", pair.b, "addr", "add", ADDRESS, "dev", pair.if_b)
    *_, apply = harness(pair, tmp_path, ["start_ahead", "wait_ahead", "start_early", "check", "apply"], dad_timeout=0.3, arp_count=1)
    assert apply["probes"] == 1, apply
    assert apply["ok"] is False and apply["type"] == "RefusedError" and apply["exit_status"] == 3, apply
    assert ADDRESS not in pair.addresses(pair.a, pair.if_a)


@pytest.mark.privileged
def test_an_owner_found_ahead_that_let_go_since_is_not_held_against_the_takeover(pair: Pair, tmp_path: Path) -> None:
    """The peer answered when the unit arrived and released the address before the takeover: asked again, taken."""
    run("ip", "-n", pair.b, "addr", "add", ADDRESS, "dev", pair.if_b)
    drop = ["ip", "-n", pair.b, "addr", "del", ADDRESS, "dev", pair.if_b]
    *_, apply = harness(pair, tmp_path, ["start_ahead", "wait_ahead", drop, "start_early", "check", "apply"], dad_timeout=0.3, arp_count=1)
    assert apply["ok"] and apply["probes"] == 1, apply
    assert ADDRESS in pair.addresses(pair.a, pair.if_a)


@pytest.mark.privileged
def test_an_answer_too_old_is_probed_again(pair: Pair, tmp_path: Path) -> None:
    """Nobody answered ahead, and the probe ended (its limit, here its first 0.3 s) too long ago (here: any age is too old);
    the peer holds the address now: apply probes again and refuses."""
    take = ["ip", "-n", pair.b, "addr", "add", ADDRESS, "dev", pair.if_b]
    actions = ["start_ahead", "wait_ahead", take, "start_early", "check", "apply"]
    *_, early, _, apply = harness(pair, tmp_path, actions, dad_fresh=0.0, watch_limit=0.0, dad_timeout=0.3, arp_count=1)
    assert early["adopted"] is True
    assert apply["probes"] == 1
    assert apply["ok"] is False and apply["type"] == "RefusedError", apply


@pytest.mark.privileged
def test_a_link_not_ready_ahead_is_probed_at_apply(pair: Pair, tmp_path: Path) -> None:
    """The link was down when the unit arrived (nothing probed); it is up at the takeover: apply probes then."""
    down = ["ip", "-n", pair.a, "link", "set", pair.if_a, "down"]
    up = ["ip", "-n", pair.a, "link", "set", pair.if_a, "up"]
    *_, apply = harness(pair, tmp_path, [down, "start_ahead", "wait_ahead", up, "start_early", "check", "apply"], dad_timeout=0.3, arp_count=1)
    assert apply["ok"] and apply["probes"] == 1, apply


@pytest.mark.privileged
def test_a_probe_started_ahead_goes_on_listening_and_sees_an_owner_come_after_its_first_timeout(pair: Pair, tmp_path: Path) -> None:
    """Nobody answered in the probe's first 0.1 s; the peer took the address 0.3 s later, before the takeover:
    the probe, still asking, found it, and apply (asking once more) refuses. A probe that ended after its first
    0.1 s would have let the takeover add the address beside the peer's."""
    take = ["ip", "-n", pair.b, "addr", "add", ADDRESS, "dev", pair.if_b]
    actions = ["start_ahead", ["sleep", "0.3"], take, "wait_ahead", "start_early", "check", "apply"]
    _, _, _, found, early, _, apply = harness(pair, tmp_path, actions, dad_timeout=0.1, arp_count=1)
    assert found["ahead_running"] is False  # ended by the owner's answer, not by its 30 s limit
    assert early["adopted"] is True
    assert apply["ok"] is False and apply["type"] == "RefusedError" and apply["exit_status"] == 3, apply
    assert ADDRESS not in pair.addresses(pair.a, pair.if_a)


@pytest.mark.privileged
def test_a_probe_started_ahead_stands_for_apply_however_long_the_wait(pair: Pair, tmp_path: Path) -> None:
    """Collected 1.5 s after it began (longer than an answer that ended stands, 1 s), the probe that listened all
    along is the answer: apply probes no more, adds the address; and the probe went on asking, within the rate."""
    actions = ["start_ahead", ["sleep", "1.5"], "start_early", "check", "apply"]
    _, waited, early, _, apply = harness(pair, tmp_path, actions, dad_timeout=0.1, arp_count=1)
    # After its first 0.1 s (3 frames), one frame every 0.2 s at most (dad.WATCH_INTERVAL); 4 during the wait show it went on.
    assert 4 <= waited["sends"] <= 3 + int(waited["seconds"] / 0.2) + 1, waited  # type: ignore[operator]
    assert early["adopted"] is True
    assert apply["ok"] and apply["probes"] == 0, apply
    assert apply["ahead_running"] is False
    assert ADDRESS in pair.addresses(pair.a, pair.if_a)


@pytest.mark.privileged
def test_the_prepared_runners_probe_from_the_settings_cache_is_the_one_its_step_adopts(pair: Pair, tmp_path: Path) -> None:
    """The prepared takeover runner starts the probe from the hook's settings cache (``ip_probes``), before the
    configuration and the engine load; the engine's ``start_ahead`` finds it running, the takeover's step
    adopts it, and apply probes no more."""
    actions = ["start_cached", "start_ahead", "start_early", "check", "apply"]
    cached, ahead, early, _, apply = harness(pair, tmp_path, actions, dad_timeout=0.2, arp_count=1)
    assert cached["ok"] and cached["failures"] == [] and cached["ahead_running"] is True, cached
    assert cached["sends"] >= 1  # its first frame is out when start_cached returns
    assert ahead["same"] is True, ahead  # no second probe: the engine's step kept the running one
    assert early["adopted"] is True
    assert apply["ok"] and apply["probes"] == 0, apply
    assert ADDRESS in pair.addresses(pair.a, pair.if_a)


def test_the_probe_started_from_the_settings_cache_loads_no_engine_and_no_configuration() -> None:
    """What the prepared runner imports to start it: the engine, the steps' base, the configuration (and PyYAML)
    and ``logging`` load while it listens, not before."""
    heavy = ("twinstar.config", "twinstar.engine.proc", "twinstar.engine.runner", "twinstar.steps.base", "twinstar.steps.ip", "yaml", "logging")
    code = f"import sys\nimport twinstar.steps.ip_dad\nprint([m for m in {heavy!r} if m in sys.modules])"
    assert run(sys.executable, "-c", code) == "[]\n"
