"""The ``asterisk`` step through the real engine, after the ``dahdi`` step, against stand-ins.

Stand-ins: Asterisk is not packaged for the build machine, so ``asterisk`` is
:mod:`twinstar.standins.asterisk` (its ``-rx`` CLI with the real output
formats, its state in a JSON file, DAHDI's spans read from the fake sysfs);
the xpp and dahdi drivers are the fake sysfs driven by the steps' sleeps and
``dahdi_cfg`` is the recording script of tests/support/telephony.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.node import Node
from tests.support.telephony import DriverClock, dahdi_cfg, driven_engine
from tests.support.units import connector, label
from twinstar.engine.report import StepResult
from twinstar.standins import asterisk as standin

pytestmark = pytest.mark.programs("dahdi_cfg", "asterisk")

STEP = "asterisk:chan_dahdi.so"


def _setup(node: Node, *, running: bool = True, loaded: bool = False, conf_spans: list[int] | None = None, keys: str = "") -> Path:
    state = node.root / "asterisk.json"
    state.write_text(json.dumps(standin.new_state(running=running, loaded=loaded, conf_spans=conf_spans)))
    wrapper = standin.write_wrapper(node.root / "asterisk", state, node.sysfs.root)
    cfg = dahdi_cfg(node)
    node.configure(
        steps=f"  - dahdi: {{dahdi_cfg: [dahdi_cfg]}}\n  - asterisk: {{timeout: 2{keys}}}\n",
        extra=f"programs: {{dahdi_cfg: {cfg}, asterisk: {wrapper}}}\n",
    )
    node.order([label(0), label(1)])
    for i, xpds in ((0, ("FXS", "FXO")), (1, ("E1",))):
        node.sysfs.create_unit(i)
        node.sysfs.attach(i, label=label(i), connector=connector(i), xpds=xpds)
        node.sysfs.online(i)
    return state


def _state(path: Path) -> dict[str, object]:
    return standin.load(str(path))


def test_chan_dahdi_is_loaded_once_and_shows_every_span(node: Node) -> None:
    state = _setup(node)
    report = driven_engine(node).takeover()
    assert report.ok, report.error
    assert [(o.step, o.result) for o in report.steps] == [("dahdi", StepResult.DONE), (STEP, StepResult.DONE)]
    s = _state(state)
    assert s["counts"] == {"load": 1, "reload": 0, "unload": 0}
    assert sorted({span for _, span, _ in s["channels"]}) == [1, 2, 3]  # type: ignore[attr-defined]
    again = driven_engine(node).takeover()
    assert again.ok and [o.result for o in again.steps] == [StepResult.ALREADY, StepResult.ALREADY]
    assert _state(state)["counts"] == {"load": 1, "reload": 0, "unload": 0}


def test_chan_dahdi_loaded_before_dahdi_came_up_is_reloaded(node: Node) -> None:
    """Asterisk started (and loaded chan_dahdi) on the standby, before its units were registered: no channels."""
    state = _setup(node, loaded=True)
    report = driven_engine(node).takeover()
    assert report.ok, report.error
    assert _state(state)["counts"] == {"load": 0, "reload": 1, "unload": 0}


def test_verify_fails_when_a_span_has_no_channel_and_everything_is_rolled_back(node: Node) -> None:
    """chan_dahdi.conf configures span 1 only: spans 2 and 3 have no channel in Asterisk."""
    state = _setup(node, conf_spans=[1])
    report = driven_engine(node).takeover()
    assert not report.ok and report.exit_status == 1
    assert "span 2 (Astribank XPD 00:1:0: FXO) has no channel in chan_dahdi" in (report.error or "")
    assert "span 3 (Astribank XPD 01:0:0: E1) has no channel in chan_dahdi" in (report.error or "")
    assert [(o.step, o.result) for o in report.rollback] == [(STEP, StepResult.UNDONE), ("dahdi", StepResult.UNDONE)]
    assert _state(state)["counts"] == {"load": 1, "reload": 0, "unload": 1}
    assert not node.sysfs.registered(0) and not node.sysfs.registered(1)
    assert node.role() == "failed"


def test_an_asterisk_that_never_answers_fails_the_step_after_its_timeout(node: Node) -> None:
    state = _setup(node, running=False)
    clock = DriverClock(node)
    report = driven_engine(node, clock=clock).takeover()
    assert not report.ok
    assert f"Asterisk did not answer within 2 s: {standin.NOT_RUNNING}" in (report.error or "")
    assert clock.now >= 2 and _state(state)["counts"] == {"load": 0, "reload": 0, "unload": 0}


def test_the_step_waits_for_asterisk_to_answer(node: Node) -> None:
    state = _setup(node, running=False)

    def asterisk_starts() -> None:
        if clock.now >= 1:
            with standin.updated(str(state)) as s:
                s["running"] = True

    clock = DriverClock(node, then=asterisk_starts)
    report = driven_engine(node, clock=clock).takeover()
    assert report.ok, report.error
    assert _state(state)["counts"]["load"] == 1  # type: ignore[index]
    calls = _state(state)["calls"]
    assert calls.count("core show version") >= 5  # type: ignore[attr-defined]


def test_release_unloads_chan_dahdi_before_the_units_go(node: Node) -> None:
    state = _setup(node)
    assert driven_engine(node).takeover().ok
    report = driven_engine(node).release()
    assert report.ok, report.error
    assert [(o.step, o.result) for o in report.steps] == [(STEP, StepResult.UNDONE), ("dahdi", StepResult.UNDONE)]
    assert _state(state)["counts"] == {"load": 1, "reload": 0, "unload": 1}
    calls = _state(state)["calls"]
    assert "hangup" not in " ".join(calls)  # type: ignore[arg-type]
    assert driven_engine(node).release().steps[0].result == StepResult.ALREADY


def test_a_stopped_asterisk_has_nothing_to_unload(node: Node) -> None:
    state = _setup(node)
    assert driven_engine(node).takeover().ok
    with standin.updated(str(state)) as s:
        s["running"] = False
    report = driven_engine(node).release()
    assert report.ok, report.error
    assert report.steps[0].result == StepResult.ALREADY and "Asterisk does not answer" in report.steps[0].detail
