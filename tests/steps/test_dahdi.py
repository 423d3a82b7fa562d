"""The ``dahdi`` step through the real engine, against the fake sysfs tree.

Stand-ins: the fake sysfs tree (its ``dahdi_registration`` is a plain file)
and a call-recording ``dahdi_cfg`` that also records the registration of
every unit at the moment it runs.
"""

from __future__ import annotations

import logging

import pytest

from tests.support.node import Node
from tests.support.units import label
from twinstar import config
from twinstar.engine.runner import engine_for

# The programs twinstar runs in this process (tests/conftest.py fails any other).
pytestmark = pytest.mark.programs("dahdi_cfg")


def _setup(node: Node, *, cfg_exit: int = 0, order: list[int] | None = None) -> None:
    stub = node.write_stub("dahdi_cfg", f"cat {node.sysfs.bus_dir}/xbus-*/dahdi_registration | tr -d '\\n' >> '{node.calls}'; echo >> '{node.calls}'; exit {cfg_exit}")
    node.configure(steps="  - dahdi: {dahdi_cfg: [dahdi_cfg, -vv]}\n", extra=f"programs: {{dahdi_cfg: {stub}}}\n")
    node.order([label(i) for i in (order if order is not None else [2, 0, 1])])
    for i in range(3):
        node.arrive(i)


def _engine(node: Node):  # type: ignore[no-untyped-def]
    return engine_for(config.load(str(node.config_path)))


def test_registers_in_xpp_order_order_then_runs_dahdi_cfg(node: Node, caplog: pytest.LogCaptureFixture) -> None:
    _setup(node)
    node.sysfs.write_attr(0, "dahdi_registration", "1")  # already registered: left alone
    caplog.set_level(logging.INFO, logger="twinstar")
    report = _engine(node).takeover()
    assert report.ok, report.error
    registered = [r.getMessage() for r in caplog.records if ": registered unit" in r.getMessage()]
    assert [m.split("unit ")[1].split(" ")[0] for m in registered] == [label(2), label(1)]
    assert node.recorded() == ["dahdi_cfg -vv", "111"]  # every unit registered before dahdi_cfg ran
    assert all(node.sysfs.registered(i) for i in range(3))
    assert _engine(node).takeover().steps[0].result.value == "already"


def test_release_unregisters_the_listed_units(node: Node) -> None:
    _setup(node)
    node.sysfs.arrive(9, label="usb:other", connector="usb-9")
    node.sysfs.write_attr(9, "dahdi_registration", "1")  # not listed: not ours to touch
    assert _engine(node).takeover().ok
    report = _engine(node).release()
    assert report.ok, report.error
    assert not any(node.sysfs.registered(i) for i in range(3)) and node.sysfs.registered(9)
    assert _engine(node).release().steps[0].result.value == "already"


def test_release_after_one_unit_left_unregisters_the_others(node: Node) -> None:
    _setup(node)
    assert _engine(node).takeover().ok
    node.sysfs.depart(1)
    report = _engine(node).release()
    assert report.ok, report.error
    assert report.steps[0].result.value == "undone"
    assert not node.sysfs.registered(0) and not node.sysfs.registered(2)


def test_missing_unit_is_named_and_nothing_is_registered(node: Node) -> None:
    _setup(node)
    node.sysfs.depart(0)
    report = _engine(node).takeover()
    assert not report.ok and "unit usb:00000000 (xpp_order line 2) is missing" in (report.error or "")
    assert not node.sysfs.registered(1) and not node.sysfs.registered(2)


def test_failed_dahdi_cfg_unregisters_what_apply_registered(node: Node) -> None:
    _setup(node, cfg_exit=3)
    report = _engine(node).takeover()
    assert not report.ok and "dahdi_cfg failed" in (report.error or "") and "exited with status 3" in (report.error or "")
    assert not any(node.sysfs.registered(i) for i in range(3))
    assert node.role() == "failed"


def test_garbage_registration_value_names_the_unit(node: Node) -> None:
    _setup(node)
    node.sysfs.write_attr(2, "dahdi_registration", "yes")
    report = _engine(node).takeover()
    assert not report.ok and "usb:00000002 (xbus-02, xpp_order line 1)" in (report.error or "") and "expected 0 or 1" in (report.error or "")
