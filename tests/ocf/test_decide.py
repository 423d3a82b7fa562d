"""The agent's decisions, pure: units here or there, powered, READY, registered, watchdog."""

from __future__ import annotations

from twinstar import words
from twinstar.astribank import readiness
from twinstar.astribank.xpporder import Entry
from twinstar.ocf import decide
from twinstar.ocf.codes import OcfStatus
from twinstar.steps.base import Probe
from twinstar.usb.units import UnitStatusRow

A, B = "usb:SIM00001", "usb:SIM00002"


def listed(label: str, state: str = readiness.READY, detail: str = "") -> readiness.Listed:
    return readiness.Listed(Entry("label", label, 1), None, state, detail)


def row(label: str, *, port: int = 0, watchdog: bool = True, peer: bool = True, error: str | None = None) -> UnitStatusRow:
    power = (True, peer) if port == 0 else (peer, True)
    if error:
        return UnitStatusRow("usb:001/002", label, "1162", error=error)
    return UnitStatusRow(
        "usb:001/002", label, "1162", capable=True, port=port, watchdog=watchdog, power0=power[0], power1=power[1]
    )


def seen(*items: readiness.Listed, rows: tuple[UnitStatusRow, ...] | None = None) -> decide.Seen:
    return decide.Seen(items, rows if rows is not None else tuple(row(i.entry.value) for i in items))


DAHDI_UP = decide.StepProbe("dahdi", Probe(True, "2 unit(s) registered"))
DAHDI_DOWN = decide.StepProbe("dahdi", Probe(False, "not registered: unit usb:SIM00002"))


# --- start: waiting for the units ---------------------------------------------------------


def test_start_goes_on_when_every_unit_is_here_ready_and_seen_over_usb() -> None:
    assert decide.waiting_for(seen(listed(A), listed(B))) is None


def test_start_waits_for_a_missing_unit() -> None:
    why = decide.waiting_for(seen(listed(A), listed(B, readiness.MISSING), rows=(row(A),)))
    assert why is not None and f"{B} missing" in why


def test_start_waits_for_a_unit_not_yet_ready() -> None:
    why = decide.waiting_for(seen(listed(A, readiness.WAITING, "INIT, connected")))
    assert why is not None and "waiting (INIT, connected)" in why


def test_start_waits_while_usb_has_not_enumerated_a_ready_unit() -> None:
    why = decide.waiting_for(seen(listed(A), listed(B), rows=(row(A),)))
    assert why == f"{B} not seen over USB yet"


def test_start_waits_when_no_unit_is_on_this_port() -> None:
    why = decide.waiting_for(seen(listed(A, readiness.MISSING), rows=()))
    assert why is not None and "no TwinStar-capable unit seen over USB" in why


def test_nothing_listed_never_starts() -> None:
    why = decide.waiting_for(seen())
    assert why is not None and "no unit is listed" in why


# --- monitor ---------------------------------------------------------------------------------


def test_started_with_everything_here_is_running() -> None:
    v = decide.monitor(words.ACTIVE, seen(listed(A), listed(B)), [DAHDI_UP])
    assert v.status == OcfStatus.SUCCESS


def test_stopped_is_not_running_wherever_the_units_are() -> None:
    down = decide.StepProbe("dahdi", Probe(False, "no listed unit is registered"))
    assert decide.monitor(words.STANDBY, seen(listed(A, readiness.MISSING), rows=()), [down]).status == OcfStatus.NOT_RUNNING
    assert decide.monitor(words.STANDBY, seen(listed(A)), [down]).status == OcfStatus.NOT_RUNNING


def test_registered_while_not_started_is_a_failure() -> None:
    v = decide.monitor(words.STANDBY, seen(listed(A)), [DAHDI_UP])
    assert v.status == OcfStatus.ERR_GENERIC and "partly up" in v.reason


def test_started_but_a_unit_not_registered_is_a_failure() -> None:
    v = decide.monitor(words.ACTIVE, seen(listed(A), listed(B)), [DAHDI_DOWN])
    assert v.status == OcfStatus.ERR_GENERIC and "step dahdi down" in v.reason


def test_started_but_a_unit_gone_is_a_failure() -> None:
    v = decide.monitor(words.ACTIVE, seen(listed(A), listed(B, readiness.MISSING), rows=(row(A),)), [DAHDI_UP])
    assert v.status == OcfStatus.ERR_GENERIC and f"{B} missing" in v.reason


def test_started_but_the_watchdog_off_is_a_failure() -> None:
    v = decide.monitor(words.ACTIVE, seen(listed(A), rows=(row(A, watchdog=False),)), [DAHDI_UP])
    assert v.status == OcfStatus.ERR_GENERIC and "watchdog off" in v.reason


def test_an_unreadable_unit_while_started_is_a_failure() -> None:
    v = decide.monitor(words.ACTIVE, seen(listed(A), rows=(row(A, error="timed out"),)), [DAHDI_UP])
    assert v.status == OcfStatus.ERR_GENERIC and "timed out" in v.reason


# --- stop ------------------------------------------------------------------------------------


def test_stop_jumps_when_every_unit_is_here_and_the_peer_port_is_powered() -> None:
    assert decide.stop_plan([row(A), row(B, port=1)]).jump


def test_stop_stays_when_a_peer_port_has_no_power() -> None:
    plan = decide.stop_plan([row(A), row(B, peer=False)])
    assert not plan.jump and "no power" in plan.reason


def test_stop_stays_when_no_unit_is_here() -> None:
    plan = decide.stop_plan([])
    assert not plan.jump and "nothing to hand over" in plan.reason


def test_stop_stays_when_a_unit_cannot_be_read() -> None:
    plan = decide.stop_plan([row(A), row(B, error="busy")])
    assert not plan.jump and "busy" in plan.reason


# --- parameters ------------------------------------------------------------------------------


def test_units_select_entries_and_rows_by_label() -> None:
    entries = (Entry("label", A, 1), Entry("label", B, 2))
    assert decide.select_entries(entries, ()) == entries
    assert decide.select_entries(entries, (B,)) == (entries[1],)
    assert decide.select_rows([row(A), row(B)], (A,)) == (row(A),)
    assert decide.unknown_units(entries, decide.parse_units(f" {A}  usb:OTHER\n")) == ["usb:OTHER"]


def test_start_waits_for_its_timeout_less_a_reserve() -> None:
    assert decide.start_wait("60000") == 45.0
    assert decide.start_wait("240000") == 225.0
    assert decide.start_wait(None) == decide.start_wait("junk") == decide.start_wait("nan") == 45.0
