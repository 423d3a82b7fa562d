"""The agent's actions in this process, against the simulated units and a fake xpp sysfs.

Stand-ins: the Astribank units (the USB simulator), the xpp and dahdi drivers
(the fake sysfs, acted on by a thread as the kernel would) and ``dahdi_cfg``
(its fake's side); the engine, the ``dahdi`` step, the USB code and the
decisions are real.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ocfsite import Site, unit_label
from twinstar import config
from twinstar.errors import BadInputError
from twinstar.ocf.agent import Agent, agent_for
from twinstar.ocf.codes import OcfStatus
from twinstar.usb import sim

pytestmark = pytest.mark.programs("dahdi_cfg")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    sim_path = tmp_path / "astribanks.json"
    sim.init_state(str(sim_path), units=2, port=0)
    s = Site(tmp_path / "a", sim_path, port=0, units=2, node="pbx-a")
    s.configure(leave_timeout=2)
    with s.drivers:
        yield s


def agent(site: Site, names: tuple[str, ...] = ()) -> Agent:
    return agent_for(config.load(str(site.config_path)), names)


def set_all(site: Site, key: str, value: str) -> None:
    with sim.update(str(site.sim_path)) as state:
        for u in state["units"]:
            sim.apply_setting(state, u, key, value)


def test_start_arms_the_watchdog_and_registers_then_monitor_says_running(site: Site) -> None:
    site.arrive_all()
    a = agent(site)
    assert a.monitor().status == OcfStatus.NOT_RUNNING
    v = a.start()
    assert v.status == OcfStatus.SUCCESS, v.reason
    assert site.registered() == [True, True]
    assert site.spans() == [[1], [2]]  # numbered in xpp_order order
    assert [u["watchdog"] for u in site.units()] == [True, True]
    assert a.monitor().status == OcfStatus.SUCCESS
    assert a.start().status == OcfStatus.SUCCESS  # a started resource starts again


def test_stop_unregisters_disarms_and_jumps_to_the_powered_peer(site: Site) -> None:
    site.arrive_all()
    a = agent(site)
    assert a.start().status == OcfStatus.SUCCESS
    v = a.stop()
    assert v.status == OcfStatus.SUCCESS and "2 unit(s) moved to the peer" in v.reason, v.reason
    assert site.registered() == [False, False] and site.spans() == [[0], [0]]
    assert [(u["port"], u["watchdog"]) for u in site.units()] == [(1, False), (1, False)]
    assert a.monitor().status == OcfStatus.NOT_RUNNING
    assert a.stop().status == OcfStatus.SUCCESS  # a stopped resource stops again


def test_stop_keeps_the_units_when_the_peer_port_has_no_power(site: Site) -> None:
    site.arrive_all()
    a = agent(site)
    assert a.start().status == OcfStatus.SUCCESS
    set_all(site, "power1", "off")
    v = a.stop()
    assert v.status == OcfStatus.SUCCESS and "no power" in v.reason, v.reason
    assert [(u["port"], u["watchdog"]) for u in site.units()] == [(0, False), (0, False)]
    assert site.registered() == [False, False]


def test_stop_of_a_resource_never_started_here_leaves_the_units(site: Site) -> None:
    site.arrive_all()
    v = agent(site).stop()
    assert v.status == OcfStatus.SUCCESS and "never started here" in v.reason
    assert [u["port"] for u in site.units()] == [0, 0]


def test_start_waits_for_the_units_to_arrive(site: Site) -> None:
    set_all(site, "port", "1")  # on the peer: no USB command from here reaches them
    looks: list[int] = []

    def peer_sends_them(seconds: float) -> None:
        looks.append(1)
        if len(looks) == 3:
            set_all(site, "port", "0")
            site.arrive_all()

    a = agent(site)
    a.sleep = peer_sends_them
    v = a.start()
    assert v.status == OcfStatus.SUCCESS, v.reason
    assert len(looks) == 3 and site.registered() == [True, True]


def test_start_gives_up_after_its_timeout_when_the_units_stay_away(site: Site) -> None:
    set_all(site, "port", "1")
    clock = [0.0]

    def tick(seconds: float) -> None:
        clock[0] += seconds

    a = agent(site)
    a.sleep, a.monotonic = tick, lambda: clock[0]
    v = a.start("8000")
    assert v.status == OcfStatus.ERR_GENERIC and "did not arrive within 6 s" in v.reason, v.reason
    assert [u["watchdog"] for u in site.units()] == [False, False]
    assert a.monitor().status == OcfStatus.NOT_RUNNING


def test_monitor_fails_when_a_started_units_watchdog_is_turned_off(site: Site) -> None:
    site.arrive_all()
    a = agent(site)
    assert a.start().status == OcfStatus.SUCCESS
    set_all(site, "watchdog", "off")
    v = a.monitor()
    assert v.status == OcfStatus.ERR_GENERIC and "watchdog off" in v.reason


def test_units_names_one_unit_and_a_name_not_listed_is_not_configured(site: Site) -> None:
    site.arrive_all()
    a = agent(site, (unit_label(1),))
    assert a.start().status == OcfStatus.SUCCESS
    assert [u["watchdog"] for u in site.units()] == [False, True]
    bad = agent(site, ("usb:NOPE",))
    with pytest.raises(BadInputError, match="usb:NOPE not listed"):
        bad.monitor()


def test_validate_wants_the_maintenance_file(site: Site) -> None:
    site.arrive_all()
    assert agent(site).validate().status == OcfStatus.SUCCESS
    site.maintenance.unlink()
    v = agent(site).validate()
    assert v.status == OcfStatus.ERR_CONFIGURED and "maintenance" in v.reason
