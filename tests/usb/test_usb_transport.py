"""The pyusb transport: endpoints from the descriptors, 2 s timeouts, draining, release on close.

Stand-in: the simulated Astribank (a pyusb backend), varied here by small
subclasses (other endpoint addresses, stale input left in the IN endpoint,
a management interface with one endpoint). pyusb, the transport and the MPP
session are the production code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from twinstar.errors import UsbError
from twinstar.usb import mpp, sim, simbackend, xtalk
from twinstar.usb.errors import UsbBusyError
from twinstar.usb.transport import BusChoice, Link
from twinstar.usb.units import Astribanks


class RecordingBackend(simbackend.SimBackend):
    """The simulator with its management endpoints at 0x01/0x82, recording every bulk transfer."""

    endpoints = {0: (0x02, 0x86), 1: (0x01, 0x82)}

    def __init__(self, path: str, *, port: int) -> None:
        super().__init__(path, port=port)
        self.transfers: list[tuple[str, int, int]] = []

    def bulk_write(self, dev_handle: Any, ep: int, intf: int, data: Any, timeout: int) -> int:
        self.transfers.append(("write", ep, timeout))
        return super().bulk_write(dev_handle, ep, intf, data, timeout)

    def bulk_read(self, dev_handle: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        self.transfers.append(("read", ep, timeout))
        return super().bulk_read(dev_handle, ep, intf, buff, timeout)


class StaleInputBackend(simbackend.SimBackend):
    """A unit whose IN endpoint still holds the reply of an interrupted exchange when it is claimed."""

    STALE = xtalk.Frame(1, mpp.Op.PORT_GET | xtalk.REPLY_BIT, b"\x01").encode()

    def __init__(self, path: str, *, port: int) -> None:
        super().__init__(path, port=port)
        self.stale: dict[int, bytes] = {}

    def claim_interface(self, dev_handle: Any, intf: int) -> None:
        super().claim_interface(dev_handle, intf)
        self.stale[id(dev_handle)] = self.STALE

    def bulk_read(self, dev_handle: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        data = self.stale.pop(id(dev_handle), None)
        if data is None:
            return super().bulk_read(dev_handle, ep, intf, buff, timeout)
        buff[: len(data)] = type(buff)(buff.typecode, data)
        return len(data)


class OneEndpointBackend(simbackend.SimBackend):
    """A device whose interface 1 has a single endpoint: not a usable management interface."""

    def get_interface_descriptor(self, dev: Any, intf: int, alt: int, config: int) -> Any:
        desc = super().get_interface_descriptor(dev, intf, alt, config)
        if intf == 1:
            desc.bNumEndpoints = 1
        return desc


def hardware(sim_file: Path, backend: simbackend.SimBackend) -> Astribanks:
    return Astribanks(BusChoice(simulator=str(sim_file), port=0, lock_dir=f"{sim_file}.locks"), backend=backend)


def test_endpoints_and_timeouts_come_from_the_descriptors(sim_file: Path, read_state) -> None:
    backend = RecordingBackend(str(sim_file), port=0)
    hw = hardware(sim_file, backend)
    unit = hw.units()[0]
    with hw.session(unit) as session:
        assert read_state(sim_file)["units"][0]["claim"] is not None
        assert session.port() == 0
        session.set_watchdog(True)
    assert read_state(sim_file)["units"][0]["watchdog"] is True
    # Released on close.
    assert read_state(sim_file)["units"][0]["claim"] is None
    drain, exchange = backend.transfers[0], backend.transfers[1:]
    assert drain == ("read", 0x82, 1)  # the stale-input drain: one 1 ms read
    assert exchange == [("write", 0x01, 2000), ("read", 0x82, 2000)] * 2


def test_stale_input_is_drained_before_the_first_request(sim_file: Path, read_state) -> None:
    """Without the drain, PORT_GET would read the stale reply (sequence 1, port 1) as its answer."""
    hw = hardware(sim_file, StaleInputBackend(str(sim_file), port=0))
    unit = hw.units()[0]
    with hw.session(unit) as session:
        assert session.port() == 0
    assert read_state(sim_file)["units"][0]["port"] == 0


def test_a_management_interface_without_two_endpoints_is_a_clear_error(sim_file: Path, read_state) -> None:
    hw = hardware(sim_file, OneEndpointBackend(str(sim_file), port=0))
    unit = hw.units()[0]
    with pytest.raises(UsbError, match=r"^usb:001/002 \(usb:SIM00001\): no management interface 1 with two endpoints"):
        with hw.session(unit):
            pass
    assert read_state(sim_file)["units"][0]["claim"] is None
    # The per-unit lock was released too: the unit can be used again at once.
    fresh = hardware(sim_file, simbackend.SimBackend(str(sim_file), port=0))
    with fresh.session(fresh.units()[0]) as session:
        assert session.port() == 0


def test_the_interface_is_released_after_a_protocol_error(sim_file: Path, read_state) -> None:
    with sim.update(str(sim_file)) as state:
        sim.apply_setting(state, state["units"][0], "wrong_seq", "on")
    hw = hardware(sim_file, simbackend.SimBackend(str(sim_file), port=0))
    unit = hw.units()[0]
    with pytest.raises(UsbError, match="protocol error: reply to PORT_GET has sequence 2, expected 1"):
        with hw.session(unit) as session:
            session.port()
    assert read_state(sim_file)["units"][0]["claim"] is None


def test_a_unit_held_too_long_by_another_command_is_reported_busy(sim_file: Path, read_state) -> None:
    """The per-unit lock is held (here by this process's own session); a second user gives up clearly."""
    hw = hardware(sim_file, simbackend.SimBackend(str(sim_file), port=0))
    unit = hw.units()[0]
    with hw.session(unit) as session:
        assert session.port() == 0
        with pytest.raises(UsbBusyError) as info:
            with Link(unit, lock_dir=hw.choice.lock_dir, lock_wait=0.2):
                pass
        assert str(info.value) == (
            "usb:001/002 (usb:SIM00001): another twinstar command has been using this unit for more than 0.2 s "
            "(wait for it to finish, then try again)"
        )
        assert read_state(sim_file)["units"][0]["claim"]["pid"] == os.getpid()  # the holder's claim stands
    assert read_state(sim_file)["units"][0]["claim"] is None
