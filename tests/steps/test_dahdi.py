"""The ``dahdi`` step through the real engine, against the fake sysfs tree.

Stand-ins (tests/support/telephony.py): the xpp and dahdi kernel drivers are
the fake sysfs tree, whose ``drive`` acts on the step's writes as the drivers
would (run by the steps' sleep, on a clock that moves only when they sleep),
and ``dahdi_cfg`` is a call-recording script that also records the
registration of every unit at the moment it runs and then configures the
fake's spans as dahdi_cfg would.
"""

from __future__ import annotations

import logging
import os

import pytest

from tests.support.node import Node
from tests.support.telephony import DriverClock, dahdi_cfg, driven_engine
from tests.support.units import connector, label
from twinstar.astribank import spans
from twinstar.engine.report import StepResult

# The programs twinstar runs in this process (tests/conftest.py fails any other).
pytestmark = pytest.mark.programs("dahdi_cfg", "assign")

RED, LOS = spans.ALARMS["RED"], spans.ALARMS["LOS"]


def _setup(
    node: Node, *, cfg_exit: int = 0, order: list[int] | None = None, keys: str = "", xpds: dict[int, tuple[str, ...]] | None = None,
    auto_assign: bool = True,
) -> None:
    stub = dahdi_cfg(node, exit_status=cfg_exit)
    node.configure(steps=f"  - dahdi: {{dahdi_cfg: [dahdi_cfg, -vv]{keys}}}\n", extra=f"programs: {{dahdi_cfg: {stub}}}\n")
    node.order([label(i) for i in (order if order is not None else [2, 0, 1])])
    node.sysfs.set_auto_assign(auto_assign)
    for i in range(3):
        node.sysfs.create_unit(i)
        node.sysfs.attach(i, label=label(i), connector=connector(i), xpds=(xpds or {}).get(i, ("FXS",)))
        node.sysfs.online(i)


def _by_unit(node: Node) -> dict[int, list[int]]:
    return {i: node.sysfs.span_numbers(i) for i in range(3)}


def test_registers_in_xpp_order_then_configures_and_numbers_spans_in_that_order(node: Node, caplog: pytest.LogCaptureFixture) -> None:
    _setup(node, xpds={2: ("E1", "FXS"), 0: ("FXS",), 1: ("T1", "BRI")})
    caplog.set_level(logging.INFO, logger="twinstar")
    report = driven_engine(node).takeover()
    assert report.ok, report.error
    registered = [r.getMessage() for r in caplog.records if ": registered unit" in r.getMessage()]
    assert [m.split("unit ")[1].split(" ")[0] for m in registered] == [label(2), label(0), label(1)]
    assert node.recorded() == ["dahdi_cfg -vv", "111"]  # every unit registered before dahdi_cfg ran
    assert _by_unit(node) == {2: [1, 2], 0: [3], 1: [4, 5]}
    lines = {n: open(os.path.join(node.sysfs.span_dir(n), "lineconfig")).read() for n in (1, 4, 5)}
    assert lines == {1: "HDB3/CCS/CRC4\n", 4: "B8ZS/ESF\n", 5: "AMI/CCS\n"}
    again = driven_engine(node).takeover()
    assert again.ok and again.steps[0].result == StepResult.ALREADY, again.steps[0]
    assert node.recorded() == ["dahdi_cfg -vv", "111"]  # an active node is left alone


def test_spans_are_assigned_in_xpp_order_when_dahdi_does_not_assign_them(node: Node) -> None:
    _setup(node, auto_assign=False, xpds={2: ("FXS", "FXO"), 0: ("E1",), 1: ("FXS",)})
    report = driven_engine(node).takeover()
    assert report.ok, report.error
    assert _by_unit(node) == {2: [1, 2], 0: [3], 1: [4]}
    assert [open(os.path.join(node.sysfs.span_dir(n), "basechan")).read() for n in (1, 2, 3, 4)] == ["1\n", "9\n", "17\n", "48\n"]
    # Nothing assigns them but the step: without it, a registered unit shows no span at all.
    assert driven_engine(node).release().ok
    assert not os.listdir(node.sysfs.spans_dir)


def test_span_assignments_program_is_run_with_the_device_path(node: Node) -> None:
    """``span_assignments: [assign, add]``: a stand-in that records its argv and writes ``auto_assign`` as the real one would."""
    assign = node.write_stub("assign", 'echo 1 > "$2/auto_assign"')
    _setup(node, auto_assign=False, keys=f", span_assignments: [{assign}, add]")
    report = driven_engine(node).takeover()
    assert report.ok, report.error
    devices = [spans.device_path(str(node.sysfs.root), f"xbus-0{i}") for i in (2, 0, 1)]
    assert node.recorded()[:3] == [f"assign add {d}" for d in devices]
    assert _by_unit(node) == {2: [1], 0: [2], 1: [3]}


def test_dahdi_cfg_runs_even_when_every_unit_is_registered_already(node: Node) -> None:
    """xpp's dahdi_autoreg (or DAHDI's init script at boot) registered the units: they still need dahdi_cfg."""
    _setup(node)
    for i in (2, 0, 1):
        node.sysfs.write_attr(i, "dahdi_registration", "1")
        node.sysfs.drive()
    report = driven_engine(node).takeover()
    assert report.ok, report.error
    assert report.steps[0].result == StepResult.DONE
    assert node.recorded() == ["dahdi_cfg -vv", "111"]
    assert _by_unit(node) == {2: [1], 0: [2], 1: [3]}


def test_units_registered_out_of_order_are_registered_again_in_order(node: Node, caplog: pytest.LogCaptureFixture) -> None:
    _setup(node)
    node.sysfs.write_attr(0, "dahdi_registration", "1")  # registered first: span 1, but listed second
    node.sysfs.drive()
    caplog.set_level(logging.INFO, logger="twinstar")
    report = driven_engine(node).takeover()
    assert report.ok, report.error
    assert any("holds spans while unit usb:00000002" in r.getMessage() for r in caplog.records)
    assert _by_unit(node) == {2: [1], 0: [2], 1: [3]}


def test_a_unit_registered_again_since_dahdi_cfg_ran_is_configured_again(node: Node) -> None:
    _setup(node)
    assert driven_engine(node).takeover().ok
    node.sysfs.write_attr(1, "dahdi_registration", "0")
    node.sysfs.drive()
    node.sysfs.write_attr(1, "dahdi_registration", "1")  # a new registration: its spans are unconfigured
    node.sysfs.drive()
    probe = driven_engine(node).steps[0].check()
    assert not probe.up and probe.detail == "dahdi_cfg has not run since the units were registered", probe.detail
    report = driven_engine(node).takeover()
    assert report.ok and report.steps[0].result == StepResult.DONE
    assert node.recorded().count("dahdi_cfg -vv") == 2


def test_alarm_gate_refuses_a_span_in_red_alarm_and_rolls_back(node: Node) -> None:
    _setup(node, keys=", alarm_gate: true, alarm_timeout: 2", xpds={2: ("E1",)})
    clock = DriverClock(node, then=lambda: [node.sysfs.set_alarms(1, RED | LOS)] if os.path.exists(node.sysfs.span_dir(1)) else None)
    report = driven_engine(node, clock=clock).takeover()
    assert not report.ok and report.exit_status == 1
    assert "alarm gate: still in alarm after 2 s: span 1 (XBUS-02/XPD-00) RED LOS" in (report.error or "")
    assert [o.result for o in report.rollback] == [StepResult.UNDONE]
    node.sysfs.drive()
    assert not any(node.sysfs.registered(i) for i in range(3)) and not os.listdir(node.sysfs.spans_dir)
    assert node.role() == "failed"
    assert clock.now >= 2  # it waited the whole timeout, on the steps' clock


def test_alarm_gate_passes_once_the_alarm_clears_within_the_timeout(node: Node) -> None:
    _setup(node, keys=", alarm_gate: true, alarm_timeout: 5", xpds={2: ("E1",)})
    node.sysfs.write_attr(2, "dahdi_registration", "1")
    node.sysfs.drive()
    node.sysfs.set_alarms(1, RED)
    cleared: list[int] = []

    def line_comes_up() -> None:
        if clock.now >= 1 and not cleared:
            node.sysfs.set_alarms(1, 0)
            cleared.append(1)

    clock = DriverClock(node, then=line_comes_up)
    report = driven_engine(node, clock=clock).takeover()
    assert report.ok, report.error
    assert cleared and 1 <= clock.now < 5


def test_without_the_gate_a_span_in_alarm_does_not_stop_the_takeover(node: Node) -> None:
    _setup(node, xpds={2: ("E1",)})
    node.sysfs.write_attr(2, "dahdi_registration", "1")
    node.sysfs.drive()
    node.sysfs.set_alarms(1, RED)
    assert driven_engine(node).takeover().ok


def test_release_unregisters_the_listed_units(node: Node) -> None:
    _setup(node)
    node.sysfs.arrive(9, label="usb:other", connector="usb-9")
    node.sysfs.write_attr(9, "dahdi_registration", "1")  # not listed: not ours to touch
    assert driven_engine(node).takeover().ok
    report = driven_engine(node).release()
    assert report.ok, report.error
    assert not any(node.sysfs.registered(i) for i in range(3)) and node.sysfs.registered(9)
    assert driven_engine(node).release().steps[0].result.value == "already"
    assert not (node.state_dir / "dahdi.configured").exists()


def test_release_after_one_unit_left_unregisters_the_others(node: Node) -> None:
    _setup(node)
    assert driven_engine(node).takeover().ok
    node.sysfs.depart(1)
    report = driven_engine(node).release()
    assert report.ok, report.error
    assert report.steps[0].result.value == "undone"
    assert not node.sysfs.registered(0) and not node.sysfs.registered(2)


def test_missing_unit_is_named_and_nothing_is_registered(node: Node) -> None:
    _setup(node)
    node.sysfs.depart(0)
    report = driven_engine(node).takeover()
    assert not report.ok and "unit usb:00000000 (xpp_order line 2) is missing" in (report.error or "")
    assert not node.sysfs.registered(1) and not node.sysfs.registered(2)


def test_failed_dahdi_cfg_unregisters_what_apply_registered(node: Node) -> None:
    _setup(node, cfg_exit=3)
    report = driven_engine(node).takeover()
    assert not report.ok and "dahdi_cfg failed" in (report.error or "") and "exited with status 3" in (report.error or "")
    assert not any(node.sysfs.registered(i) for i in range(3))
    assert node.role() == "failed"


def test_garbage_registration_value_names_the_unit(node: Node) -> None:
    _setup(node)
    node.sysfs.write_attr(2, "dahdi_registration", "yes")
    report = driven_engine(node).takeover()
    assert not report.ok and "usb:00000002 (xbus-02, xpp_order line 1)" in (report.error or "") and "expected 0 or 1" in (report.error or "")


@pytest.mark.parametrize(
    ("attr", "value", "says"),
    [
        ("alarms", "red", "expected a hexadecimal alarm mask such as 0x0, found red"),
        ("alarms", "0X8", "found 0X8"),
        ("channels", "-1", "expected a number, found -1"),
        ("is_digital", "2", "expected 0 or 1, found 2"),
    ],
)
def test_span_attributes_not_in_the_drivers_format_are_bad_input_before_anything_runs(node: Node, attr: str, value: str, says: str) -> None:
    _setup(node)
    node.sysfs.write_attr(2, "dahdi_registration", "1")
    node.sysfs.drive()
    with open(os.path.join(node.sysfs.span_dir(1), attr), "w") as f:
        f.write(value + "\n")
    from twinstar.errors import SysfsError

    with pytest.raises(SysfsError) as err:
        driven_engine(node).takeover()
    assert err.value.exit_status == 2 and says in str(err.value) and f"span-1/{attr}" in str(err.value)
    assert node.recorded() == [] and not node.sysfs.registered(0) and not node.state_dir.exists()


def test_a_device_left_unreadable_after_its_unregistration_is_an_error_not_gone(node: Node) -> None:
    """A device the wait reads when it vanishes is gone (the driver removes it then); one that stays,
    unreadable (here: back without its ``registration_time``), is the error it was, not a timeout."""
    _setup(node)
    assert driven_engine(node).takeover().ok

    def half_back() -> None:  # after the stand-in removed unit 0's device: it stays, half there
        device = node.sysfs.device_dir(0)
        if not node.sysfs.registered(0) and not os.path.isdir(device):
            os.makedirs(device)
            with open(os.path.join(device, "span_count"), "w") as f:
                f.write("1\n")
            os.symlink(os.path.relpath(device, node.sysfs.dahdi_devices_dir), os.path.join(node.sysfs.dahdi_devices_dir, os.path.basename(device)))

    report = driven_engine(node, clock=DriverClock(node, then=half_back)).release()
    assert not report.ok
    assert "registration_time" in (report.error or "") and "within" not in (report.error or ""), report.error
