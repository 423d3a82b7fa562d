"""The simulated Astribank's pyusb backend: it answers MPP at the byte level from the state file (:mod:`twinstar.usb.sim`).

Only the USB backend is replaced; pyusb, the transport, the MPP session and the
commands above it are the production code. Descriptors are plain namespaces
(pyusb reads their fields as attributes), and a request that changes nothing
(a GET without tracing or a fault that acts) is answered from a shared read of
the state file (:func:`~twinstar.usb.sim.snapshot`), the others under its
exclusive update. The ``timeout`` fault raises libusb's timeout at once
instead of waiting it out, so tests stay quick.
"""

from __future__ import annotations

import array
import errno
import os
from types import SimpleNamespace

import usb.backend  # type: ignore[import-untyped]  # pyusb ships no type information
import usb.core  # type: ignore[import-untyped]  # pyusb ships no type information

from twinstar.fastpath.procid import process_alive
from twinstar.usb import mpp, xtalk
from twinstar.usb.sim import EEPROM_TYPES, reenumerate, set_port, snapshot, update

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

MANUFACTURER = "Xorcom LTD"
PRODUCT = "Astribank2-FPGA"
LANGID = 0x0409
MGMT_INTERFACE = 1
EP_OUT = 0x04
EP_IN = 0x88

# libusb error codes, as pyusb's libusb1 backend reports them.
_LIBUSB = {
    errno.EIO: (-1, "Input/Output Error"),
    errno.EACCES: (-3, "Access denied (insufficient permissions)"),
    errno.ENODEV: (-4, "No such device (it may have been disconnected)"),
    errno.EBUSY: (-6, "Resource busy"),
    errno.EPIPE: (-9, "Pipe error"),
}


# pyusb is untyped: its errors are held as the Exceptions they are.
def _usb_error(err: int) -> Exception:
    """The ``usb.core.USBError`` libusb's backend raises for ``err``."""
    code, text = _LIBUSB[err]
    exc: Exception = usb.core.USBError(text, code, err)
    return exc


def _timeout() -> Exception:
    """The ``usb.core.USBTimeoutError`` of a transfer that waited out its timeout."""
    exc: Exception = usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
    return exc


# --- the pyusb backend ------------------------------------------------------------------


class SimDevice:
    """What enumeration yields: one unit as it was attached when the bus was scanned."""

    __slots__ = ("serial", "bus", "address", "product")

    def __init__(self, serial: str, bus: int, address: int, product: int) -> None:
        self.serial = serial
        self.bus = bus
        self.address = address
        self.product = product


class SimHandle:
    """An open device: the claim it holds, and the reply its next read gets."""

    __slots__ = ("device", "claim_id", "pending")

    def __init__(self, device: SimDevice) -> None:
        self.device = device
        self.claim_id: int | None = None
        self.pending: bytes | Exception | None = None


class SimBackend(usb.backend.IBackend):  # type: ignore[misc]
    """Presents the units of ``path`` whose active port is ``port`` to pyusb.

    ``endpoints`` is each interface's (OUT, IN) endpoint addresses as the
    descriptors show them; transfers are accepted on those addresses only.
    """

    endpoints: Mapping[int, tuple[int, int]] = {0: (0x02, 0x86), MGMT_INTERFACE: (EP_OUT, EP_IN)}

    def __init__(self, path: str, *, port: int) -> None:
        super().__init__()
        self.path = path
        self.port = port

    # -- enumeration and descriptors --

    def enumerate_devices(self) -> Iterator[SimDevice]:
        state = snapshot(self.path)
        for u in state["units"]:
            if u["port"] == self.port:
                yield SimDevice(u["serial"], u["bus"], u["address"], int(u["product"], 16))

    def get_parent(self, dev: SimDevice) -> None:
        return None

    def get_device_descriptor(self, dev: SimDevice) -> SimpleNamespace:
        return SimpleNamespace(**{
            "bLength": 18, "bDescriptorType": 1, "bcdUSB": 0x0200,
            "bDeviceClass": 0xFF, "bDeviceSubClass": 0, "bDeviceProtocol": 0, "bMaxPacketSize0": 64,
            "idVendor": mpp.VENDOR_ID, "idProduct": dev.product, "bcdDevice": 0x0110,
            "iManufacturer": 1, "iProduct": 2, "iSerialNumber": 3, "bNumConfigurations": 1,
            "address": dev.address, "bus": dev.bus, "port_number": 1 + self.port,
            "port_numbers": (1 + self.port,), "speed": 3,  # LIBUSB_SPEED_HIGH
        })

    def get_configuration_descriptor(self, dev: SimDevice, config: int) -> SimpleNamespace:
        if config != 0:
            raise IndexError("configuration index out of range")
        return SimpleNamespace(**{
            "bLength": 9, "bDescriptorType": 2, "wTotalLength": 9 + 2 * (9 + 2 * 7),
            "bNumInterfaces": 2, "bConfigurationValue": 1, "iConfiguration": 0,
            "bmAttributes": 0x80, "bMaxPower": 250, "extra_descriptors": [],
        })

    def get_interface_descriptor(self, dev: SimDevice, intf: int, alt: int, config: int) -> SimpleNamespace:
        if config != 0 or intf not in self.endpoints or alt != 0:
            raise IndexError("interface index out of range")
        return SimpleNamespace(**{
            "bLength": 9, "bDescriptorType": 4, "bInterfaceNumber": intf, "bAlternateSetting": 0,
            "bNumEndpoints": 2, "bInterfaceClass": 0xFF, "bInterfaceSubClass": 0,
            "bInterfaceProtocol": 0, "iInterface": 0, "extra_descriptors": [],
        })

    def get_endpoint_descriptor(self, dev: SimDevice, ep: int, intf: int, alt: int, config: int) -> SimpleNamespace:
        if config != 0 or intf not in self.endpoints or alt != 0 or ep not in (0, 1):
            raise IndexError("endpoint index out of range")
        return SimpleNamespace(**{
            "bLength": 7, "bDescriptorType": 5, "bEndpointAddress": self.endpoints[intf][ep],
            "bmAttributes": 0x02, "wMaxPacketSize": 512, "bInterval": 0, "bRefresh": 0,
            "bSynchAddress": 0, "extra_descriptors": [],
        })

    # -- handles --

    def _present(self, state: Mapping[str, Any], dev: SimDevice) -> dict[str, Any]:
        """The unit behind ``dev`` if it is still attached to this host at that address."""
        for u in state["units"]:
            if u["serial"] == dev.serial and u["port"] == self.port and u["address"] == dev.address:
                return u  # type: ignore[no-any-return]
        raise _usb_error(errno.ENODEV)

    def open_device(self, dev: SimDevice) -> SimHandle:
        unit = self._present(snapshot(self.path), dev)
        if "denied" in unit["faults"]:
            raise _usb_error(errno.EACCES)
        return SimHandle(dev)

    def close_device(self, dev_handle: SimHandle) -> None:
        dev_handle.pending = None

    def get_configuration(self, dev_handle: SimHandle) -> int:
        return 1

    def set_configuration(self, dev_handle: SimHandle, config_value: int) -> None:
        if config_value != 1:
            raise _usb_error(errno.EIO)

    def set_interface_altsetting(self, dev_handle: SimHandle, intf: int, altsetting: int) -> None:
        if altsetting != 0:
            raise _usb_error(errno.EIO)

    def is_kernel_driver_active(self, dev_handle: SimHandle, intf: int) -> bool:
        return intf == 0  # xpp_usb drives interface 0

    def claim_interface(self, dev_handle: SimHandle, intf: int) -> None:
        if intf != MGMT_INTERFACE:
            raise _usb_error(errno.EBUSY)  # the kernel driver holds the data interface
        with update(self.path) as state:
            unit = self._present(state, dev_handle.device)
            if "busy" in unit["faults"]:
                raise _usb_error(errno.EBUSY)
            claim = unit["claim"]
            if claim is not None and claim["id"] != dev_handle.claim_id and process_alive(claim["pid"]):
                raise _usb_error(errno.EBUSY)
            dev_handle.claim_id = state["next_claim"]
            state["next_claim"] += 1
            unit["claim"] = {"id": dev_handle.claim_id, "pid": os.getpid()}

    def release_interface(self, dev_handle: SimHandle, intf: int) -> None:
        if intf != MGMT_INTERFACE or dev_handle.claim_id is None:
            return
        with update(self.path) as state:
            for u in state["units"]:
                if u["claim"] is not None and u["claim"]["id"] == dev_handle.claim_id:
                    u["claim"] = None
        dev_handle.claim_id = None

    def clear_halt(self, dev_handle: SimHandle, ep: int) -> None:
        return None

    # -- transfers --

    def ctrl_transfer(
        self, dev_handle: SimHandle, bmRequestType: int, bRequest: int, wValue: int, wIndex: int,
        data: array.array[int], timeout: int,
    ) -> int:
        if bmRequestType != 0x80 or bRequest != 0x06 or wValue >> 8 != 3:
            raise _usb_error(errno.EPIPE)  # only GET_DESCRIPTOR(string) is supported: stall
        index = wValue & 0xFF
        if index == 0:
            body = LANGID.to_bytes(2, "little")
        else:
            text = {1: MANUFACTURER, 2: PRODUCT, 3: dev_handle.device.serial}.get(index)
            if text is None:
                raise _usb_error(errno.EPIPE)
            body = text.encode("utf-16-le")
        desc = bytes([2 + len(body), 3]) + body
        n = min(len(desc), len(data) * data.itemsize)
        for i in range(n):
            data[i] = desc[i]
        return n

    def bulk_write(self, dev_handle: SimHandle, ep: int, intf: int, data: array.array[int], timeout: int) -> int:
        if ep != self.endpoints[MGMT_INTERFACE][0]:
            raise _usb_error(errno.EIO)
        raw = bytes(data)
        state = snapshot(self.path)
        unit = self._holder(state, dev_handle)
        if not _changes_state(unit, raw):
            dev_handle.pending = _answer(state, unit, raw, claim_id=unit["claim"]["id"])
            return len(raw)
        with update(self.path) as state:
            unit = self._holder(state, dev_handle)
            dev_handle.pending = _answer(state, unit, raw, claim_id=unit["claim"]["id"])
        return len(raw)

    def _holder(self, state: Mapping[str, Any], dev_handle: SimHandle) -> dict[str, Any]:
        """The unit behind ``dev_handle``, which must hold its management interface."""
        unit = self._present(state, dev_handle.device)
        claim = unit["claim"]
        if claim is None or claim["id"] != dev_handle.claim_id:
            raise _usb_error(errno.EIO)  # writing without holding the interface
        return unit

    def bulk_read(self, dev_handle: SimHandle, ep: int, intf: int, buff: array.array[int], timeout: int) -> int:
        if ep != self.endpoints[MGMT_INTERFACE][1]:
            raise _usb_error(errno.EIO)
        pending, dev_handle.pending = dev_handle.pending, None
        if pending is None:
            raise _timeout()  # nothing queued: the read waits out its timeout
        if isinstance(pending, Exception):
            raise pending
        n = min(len(pending), len(buff) * buff.itemsize)
        for i in range(n):
            buff[i] = pending[i]
        return n


# --- the unit's firmware ----------------------------------------------------------------

#: Requests whose answer changes nothing in the state file.
_QUERIES = frozenset({mpp.Op.STATUS_GET, mpp.Op.CAPS_GET, mpp.Op.WD_MODE_GET, mpp.Op.PORT_GET, mpp.Op.PWR_GET})


def _changes_state(unit: Mapping[str, Any], raw: bytes) -> bool:
    """Whether answering ``raw`` may change the state: a SET, a traced frame, or the unplug fault."""
    return bool(unit["trace"]) or "unplug" in unit["faults"] or (
        len(raw) >= xtalk.HEADER_LEN and raw[xtalk.HEADER_LEN - 1] not in _QUERIES)



def _answer(state: dict[str, Any], unit: dict[str, Any], raw: bytes, *, claim_id: int) -> bytes | Exception | None:
    """Process one request frame; return the reply bytes, an error the read will raise, or None."""
    faults = unit["faults"]
    if len(raw) < xtalk.HEADER_LEN:
        return None  # firmware ignores runts
    length, seq, op = xtalk.HEADER.unpack_from(raw)
    if unit["trace"]:
        unit["frames"].append({"claim": claim_id, "pid": os.getpid(), "seq": seq, "op": op})
    pid = int(unit["product"], 16)
    if pid not in mpp.MPP_PRODUCTS:
        return _timeout()  # no MPP firmware: never answers
    if "unplug" in faults:
        reenumerate(state, unit)
        return _usb_error(errno.ENODEV)
    if "timeout" in faults:
        return _timeout()
    if "no_reply" in faults:
        return b""
    if length != len(raw):
        return _finish(unit, xtalk.ack(seq, xtalk.AckStatus.TOO_SHORT), min_payload=1)
    payload = raw[xtalk.HEADER_LEN:]
    reply: xtalk.Frame | None
    if op == mpp.Op.STATUS_GET:
        status = mpp.FirmwareStatus(
            eeprom_type=mpp.EepromType(EEPROM_TYPES[unit["eeprom"]]), fpga_loaded=True,
            usb_version="1.40", fpga_version="10723", eeprom_version="1.4",
        )
        reply = xtalk.Frame(seq, op | 0x80, mpp.encode_status(status))
        minimum = mpp.STATUS_LEN
    elif op == mpp.Op.CAPS_GET:
        caps = mpp.Capabilities(
            source=0xC2 if unit["eeprom"] == "large" else 0xC0, vendor=mpp.VENDOR_ID, product=pid,
            release=0x0104, label=unit["serial"][:8], fxs=8, fxo=0, bri=0, pri=0,
            twinstar=unit["twinstar"], echo=0,
        )
        reply = xtalk.Frame(seq, op | 0x80, mpp.encode_caps(caps))
        minimum = mpp.CAPS_LEN
    elif op == mpp.Op.WD_MODE_GET:
        reply, minimum = xtalk.Frame(seq, op | 0x80, bytes([1 if unit["watchdog"] else 0])), 1
    elif op == mpp.Op.WD_MODE_SET and payload:
        unit["watchdog"] = payload[0] == 1
        reply, minimum = xtalk.ack(seq, xtalk.AckStatus.OK), 1
    elif op == mpp.Op.PORT_GET:
        reply, minimum = xtalk.Frame(seq, op | 0x80, bytes([unit["port"]])), 1
    elif op == mpp.Op.PWR_GET:
        bits = (1 if unit["power0"] else 0) | (2 if unit["power1"] else 0)
        reply, minimum = xtalk.Frame(seq, op | 0x80, bytes([bits])), 1
    elif op == mpp.Op.PORT_SET and payload:
        target = payload[0]
        if target > 1:
            reply, minimum = xtalk.ack(seq, xtalk.AckStatus.BAD_COMMAND), 1
        elif "nopwr" in faults or not unit[f"power{target}"]:
            reply, minimum = xtalk.ack(seq, xtalk.AckStatus.NOPWR), 1
        elif target == unit["port"] or "stuck" in faults:
            return None
        else:
            set_port(state, unit, target)  # leaves this host; the open handle is now stale
            return _usb_error(errno.ENODEV)
    else:
        reply, minimum = xtalk.ack(seq, xtalk.AckStatus.BAD_COMMAND), 1
    return _finish(unit, reply, min_payload=minimum)


def _finish(unit: Mapping[str, Any], reply: xtalk.Frame, *, min_payload: int) -> bytes:
    """Apply the reply faults (wrong sequence, short reply) and encode."""
    if "wrong_seq" in unit["faults"]:
        reply = xtalk.Frame((reply.seq + 1) & 0xFFFF, reply.op, reply.payload)
    if "short_reply" in unit["faults"]:
        reply = xtalk.Frame(reply.seq, reply.op, reply.payload[: max(0, min_payload - 1)])
    return reply.encode()
