"""A simulated Astribank TwinStar: a pyusb backend that answers MPP at the byte level.

Only the USB backend is replaced; pyusb, the transport, the MPP session and the
commands above it are the production code. Several processes (two simulated
hosts, a simulated-hardware driver, concurrent commands) share one state file.

State file (JSON, ``version`` 1)::

    {
      "version": 1,
      "next_address": 12,          # next USB device number handed out on re-enumeration
      "next_claim": 7,             # id of the next interface claim
      "units": [
        {
          "serial": "SIM00001",    # iSerialNumber; the xbus label is "usb:" + serial
          "product": "1162",       # idProduct, hex as lsusb prints it
          "bus": 1, "address": 2,  # bus and device number on the host it is attached to
          "port": 0,               # active port: the host with simulator_port == port sees it
          "watchdog": false,
          "power0": true, "power1": true,   # VBUS present on USB-0 / USB-1
          "twinstar": true,        # CAPS extra_features bit0
          "eeprom": "large",       # none | small | large (STATUS_GET i2cs)
          "faults": [],            # any of FAULTS
          "trace": false,          # record every frame in "frames"
          "frames": [],            # [{"claim": id, "pid": pid, "seq": s, "op": op}]
          "claim": null            # {"id": n, "pid": p} while a process holds interface 1
        }
      ]
    }

Every read-modify-write holds an exclusive flock(2) on ``FILE.lock`` and
replaces ``FILE`` atomically, so readers never see a torn file.

A unit whose port changes (PORT_SET, or ``set_port``) re-enumerates: it gets a
new device number, and handles opened before that fail with ENODEV, as on real
hardware. The ``timeout`` fault raises libusb's timeout at once instead of
waiting it out, so tests stay quick.
"""

from __future__ import annotations

import array
import errno
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import usb.backend  # type: ignore[import-untyped]  # pyusb ships no type information
import usb.core  # type: ignore[import-untyped]  # pyusb ships no type information

from twinstar.errors import BadInputError
from twinstar.fastpath.procid import process_alive
from twinstar.usb import mpp, xtalk

VERSION = 1
FAULTS = (
    "no_reply",  # the unit answers with an empty packet
    "short_reply",  # replies one byte short of their minimum length
    "wrong_seq",  # replies carry the wrong sequence number
    "nopwr",  # PORT_SET is refused with ACK NOPWR even when the other port is powered
    "busy",  # claiming interface 1 fails with EBUSY (another program holds it)
    "timeout",  # reads time out
    "denied",  # opening the device node fails with EACCES
    "unplug",  # the unit disconnects right after the next request
    "stuck",  # PORT_SET is silently ignored: the unit never leaves
)
EEPROM_TYPES = {"none": 0, "small": 1, "large": 2}
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


class SimStateError(BadInputError):
    """The simulator's state file is missing or malformed."""


# --- the state file ---------------------------------------------------------------------


def new_unit(index: int, *, port: int, address: int) -> dict[str, Any]:
    return {
        "serial": f"SIM{index:05d}",
        "product": "1162",
        "bus": 1,
        "address": address,
        "port": port,
        "watchdog": False,
        "power0": True,
        "power1": True,
        "twinstar": True,
        "eeprom": "large",
        "faults": [],
        "trace": False,
        "frames": [],
        "claim": None,
    }


def init_state(path: str, *, units: int, port: int) -> dict[str, Any]:
    """Create (or replace) a state file: ``units`` units, both ports powered, watchdog off."""
    if not 1 <= units <= 100:
        raise BadInputError(f"--units must be between 1 and 100, found {units}")
    if port not in (0, 1):
        raise BadInputError(f"--port must be 0 or 1, found {port}")
    state = {
        "version": VERSION,
        "next_address": units + 2,
        "next_claim": 1,
        "units": [new_unit(i + 1, port=port, address=i + 2) for i in range(units)],
    }
    with _file_lock(path, exclusive=True):
        _write(path, state)
    return state


def _check_state(raw: Any, path: str) -> dict[str, Any]:
    """Validate the whole file; errors name the file and the field."""

    def bad(where: str, what: str) -> SimStateError:
        return SimStateError(f"{path}: {where}: {what}", hint=f"recreate it with: twinstar sim init {path} --units N")

    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise bad("version", f"expected a version {VERSION} simulator state")
    for key in ("next_address", "next_claim"):
        if not isinstance(raw.get(key), int) or isinstance(raw.get(key), bool):
            raise bad(key, "expected a number")
    units = raw.get("units")
    if not isinstance(units, list) or not units:
        raise bad("units", "expected a non-empty list")
    for i, u in enumerate(units):
        w = f"units[{i}]"
        if not isinstance(u, dict):
            raise bad(w, "expected a mapping")
        if not isinstance(u.get("serial"), str) or not u["serial"].isprintable() or len(u["serial"]) > 32:
            raise bad(f"{w}.serial", "expected printable text of at most 32 characters")
        try:
            pid = int(str(u.get("product")), 16)
        except ValueError:
            raise bad(f"{w}.product", f"expected a hex product id like 1162, found {u.get('product')!r}") from None
        if not 0 <= pid <= 0xFFFF:
            raise bad(f"{w}.product", "expected a 16-bit product id")
        for key, lo, hi in (("bus", 1, 255), ("address", 1, 127), ("port", 0, 1)):
            v = u.get(key)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise bad(f"{w}.{key}", f"expected a number from {lo} to {hi}, found {v!r}")
        for key in ("watchdog", "power0", "power1", "twinstar", "trace"):
            if not isinstance(u.get(key), bool):
                raise bad(f"{w}.{key}", f"expected true or false, found {u.get(key)!r}")
        if u.get("eeprom") not in EEPROM_TYPES:
            raise bad(f"{w}.eeprom", f"expected one of {', '.join(EEPROM_TYPES)}")
        faults = u.get("faults")
        if not isinstance(faults, list) or any(f not in FAULTS for f in faults):
            raise bad(f"{w}.faults", f"expected a list of: {', '.join(FAULTS)}")
        if not isinstance(u.get("frames"), list):
            raise bad(f"{w}.frames", "expected a list")
        claim = u.get("claim")
        if claim is not None and not (isinstance(claim, dict) and isinstance(claim.get("id"), int)
                                      and isinstance(claim.get("pid"), int)):
            raise bad(f"{w}.claim", "expected null or {id, pid}")
    return raw


@contextmanager
def _file_lock(path: str, *, exclusive: bool) -> Iterator[None]:
    try:
        fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise SimStateError(f"{path}.lock: cannot open the simulator lock: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _read_raw(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise SimStateError(
            f"{path}: simulator state file not found",
            hint=f"create it with: twinstar sim init {path} --units N",
        ) from None
    except OSError as exc:
        raise SimStateError(f"{path}: cannot read the simulator state: {exc.strerror}") from None


def _parse(path: str, data: bytes) -> dict[str, Any]:
    try:
        raw = json.loads(data)
    except ValueError:
        raise SimStateError(f"{path}: the simulator state is not valid JSON") from None
    return _check_state(raw, path)


def _write(path: str, state: Mapping[str, Any]) -> None:
    # Not atomic.replace_file: no fsync, as this runs on every simulated transfer and need not survive a crash.
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(state, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def load(path: str) -> dict[str, Any]:
    """The current state (a snapshot; use :func:`update` to change it)."""
    with _file_lock(path, exclusive=False):
        return _parse(path, _read_raw(path))


@contextmanager
def update(path: str) -> Iterator[dict[str, Any]]:
    """Read, let the caller change, and write back the state, all under the exclusive lock.

    Nothing is written when the caller raises or changes nothing.
    """
    with _file_lock(path, exclusive=True):
        data = _read_raw(path)
        state = _parse(path, data)
        yield state
        if state != json.loads(data):
            _check_state(state, path)
            _write(path, state)


def label(unit: Mapping[str, Any]) -> str:
    return ("usb:" + unit["serial"])[:19] if unit["serial"] else ""


def find_units(state: Mapping[str, Any], ref: str) -> list[dict[str, Any]]:
    """Units named by ``ref``: ``all``, a 1-based index, a serial, or a label (``usb:SERIAL``)."""
    units: list[dict[str, Any]] = state["units"]
    if ref == "all":
        return list(units)
    for u in units:
        if ref in (u["serial"], label(u)):
            return [u]
    if ref.isdigit() and 1 <= int(ref) <= len(units):
        return [units[int(ref) - 1]]
    known = ", ".join(f"{i + 1}={u['serial']}" for i, u in enumerate(units))
    raise BadInputError(f"no simulated unit {ref!r}", hint=f"units: {known}, or all")


def reenumerate(state: dict[str, Any], unit: dict[str, Any]) -> None:
    """Give ``unit`` a fresh device number, as a real unit gets after it re-attaches."""
    used = {u["address"] for u in state["units"] if u["bus"] == unit["bus"]}
    address = state["next_address"]
    for _ in range(200):
        if not 2 <= address <= 127:
            address = 2
        if address not in used:
            break
        address += 1
    unit["address"] = address
    unit["claim"] = None
    state["next_address"] = address + 1 if address < 127 else 2


def set_port(state: dict[str, Any], unit: dict[str, Any], port: int) -> None:
    if port not in (0, 1):
        raise BadInputError(f"port must be 0 or 1, found {port}")
    if unit["port"] != port:
        unit["port"] = port
        reenumerate(state, unit)


_BOOL_WORDS = {"on": True, "yes": True, "true": True, "1": True, "off": False, "no": False, "false": False, "0": False}


def _bool(key: str, value: str) -> bool:
    try:
        return _BOOL_WORDS[value.lower()]
    except KeyError:
        raise BadInputError(f"{key}={value}: expected on or off") from None


def apply_setting(state: dict[str, Any], unit: dict[str, Any], key: str, value: str) -> None:
    """Apply one ``KEY=VALUE`` of ``twinstar sim set`` (the keys are listed in SETTINGS)."""
    if key == "port":
        if value not in ("0", "1"):
            raise BadInputError(f"port={value}: expected 0 or 1")
        set_port(state, unit, int(value))
    elif key in ("watchdog", "power0", "power1", "twinstar", "trace"):
        unit[key] = _bool(key, value)
        if key == "trace" and not unit[key]:
            unit["frames"] = []
    elif key == "eeprom":
        if value not in EEPROM_TYPES:
            raise BadInputError(f"eeprom={value}: expected one of {', '.join(EEPROM_TYPES)}")
        unit["eeprom"] = value
    elif key == "product":
        try:
            pid = int(value, 16)
        except ValueError:
            pid = -1
        if not 0 < pid <= 0xFFFF:
            raise BadInputError(f"product={value}: expected a hex product id like 1162")
        unit["product"] = f"{pid:04x}"
    elif key == "serial":
        if not value.isprintable() or not 0 < len(value) <= 32:
            raise BadInputError(f"serial={value!r}: expected 1 to 32 printable characters")
        unit["serial"] = value
    elif key == "bus":
        if not value.isdigit() or not 1 <= int(value) <= 255:
            raise BadInputError(f"bus={value}: expected a number from 1 to 255")
        unit["bus"] = int(value)
        reenumerate(state, unit)
    elif key in FAULTS:
        on = _bool(key, value)
        faults = [f for f in unit["faults"] if f != key]
        unit["faults"] = faults + [key] if on else faults
    else:
        raise BadInputError(f"unknown setting {key!r}", hint="settings: " + ", ".join(SETTINGS))


SETTINGS = ("port", "watchdog", "power0", "power1", "twinstar", "eeprom", "product", "serial", "bus", "trace", *FAULTS)


# --- the pyusb backend ------------------------------------------------------------------


@dataclass
class _Desc:
    """A descriptor: pyusb reads its fields as attributes."""

    fields: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["fields"][name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class SimDevice:
    """What enumeration yields: one unit as it was attached when the bus was scanned."""

    serial: str
    bus: int
    address: int
    product: int


@dataclass
class SimHandle:
    device: SimDevice
    claim_id: int | None = None
    pending: bytes | Exception | None = field(default=None)




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
        state = load(self.path)
        for u in state["units"]:
            if u["port"] == self.port:
                yield SimDevice(u["serial"], u["bus"], u["address"], int(u["product"], 16))

    def get_parent(self, dev: SimDevice) -> None:
        return None

    def get_device_descriptor(self, dev: SimDevice) -> _Desc:
        return _Desc({
            "bLength": 18, "bDescriptorType": 1, "bcdUSB": 0x0200,
            "bDeviceClass": 0xFF, "bDeviceSubClass": 0, "bDeviceProtocol": 0, "bMaxPacketSize0": 64,
            "idVendor": mpp.VENDOR_ID, "idProduct": dev.product, "bcdDevice": 0x0110,
            "iManufacturer": 1, "iProduct": 2, "iSerialNumber": 3, "bNumConfigurations": 1,
            "address": dev.address, "bus": dev.bus, "port_number": 1 + self.port,
            "port_numbers": (1 + self.port,), "speed": 3,  # LIBUSB_SPEED_HIGH
        })

    def get_configuration_descriptor(self, dev: SimDevice, config: int) -> _Desc:
        if config != 0:
            raise IndexError("configuration index out of range")
        return _Desc({
            "bLength": 9, "bDescriptorType": 2, "wTotalLength": 9 + 2 * (9 + 2 * 7),
            "bNumInterfaces": 2, "bConfigurationValue": 1, "iConfiguration": 0,
            "bmAttributes": 0x80, "bMaxPower": 250, "extra_descriptors": [],
        })

    def get_interface_descriptor(self, dev: SimDevice, intf: int, alt: int, config: int) -> _Desc:
        if config != 0 or intf not in self.endpoints or alt != 0:
            raise IndexError("interface index out of range")
        return _Desc({
            "bLength": 9, "bDescriptorType": 4, "bInterfaceNumber": intf, "bAlternateSetting": 0,
            "bNumEndpoints": 2, "bInterfaceClass": 0xFF, "bInterfaceSubClass": 0,
            "bInterfaceProtocol": 0, "iInterface": 0, "extra_descriptors": [],
        })

    def get_endpoint_descriptor(self, dev: SimDevice, ep: int, intf: int, alt: int, config: int) -> _Desc:
        if config != 0 or intf not in self.endpoints or alt != 0 or ep not in (0, 1):
            raise IndexError("endpoint index out of range")
        return _Desc({
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
        unit = self._present(load(self.path), dev)
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
        with update(self.path) as state:
            unit = self._present(state, dev_handle.device)
            claim = unit["claim"]
            if claim is None or claim["id"] != dev_handle.claim_id:
                raise _usb_error(errno.EIO)  # writing without holding the interface
            dev_handle.pending = _answer(state, unit, raw, claim_id=claim["id"])
        return len(raw)

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
