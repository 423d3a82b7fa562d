"""A simulated Astribank TwinStar: the units' state file, shared by every process that simulates.

Several processes (two simulated hosts, a simulated-hardware driver,
concurrent commands) share one state file; :mod:`twinstar.usb.simbackend` is
the pyusb backend that answers MPP from it.

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
every read a shared one, so readers never see a torn file; a change is
written over the file in place, in one write (:func:`_rewrite`). The file is
read on every simulated transfer, so what it costs is kept small: one unit a
line (json's C encoder, not its indenting one), and content this process has
already checked (or written) is not checked again.

A unit whose port changes (PORT_SET, or ``set_port``) re-enumerates: it gets a
new device number, and handles opened before that fail with ENODEV, as on real
hardware.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager

from twinstar.errors import BadInputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

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
    _check_state(state, path)
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
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SimStateError(
            f"{path}: simulator state file not found",
            hint=f"create it with: twinstar sim init {path} --units N",
        ) from None
    except OSError as exc:
        raise SimStateError(f"{path}: cannot read the simulator state: {exc.strerror}") from None
    try:  # os.read, not open(): a file object costs more than the read, at every simulated transfer
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise SimStateError(f"{path}: cannot read the simulator state: {exc.strerror}") from None
    finally:
        os.close(fd)


#: The last content this process checked or wrote, per file: read again, it needs no new check.
_checked: dict[str, bytes] = {}


def _parse(path: str, data: bytes) -> dict[str, Any]:
    try:
        raw = json.loads(data)
    except ValueError:
        raise SimStateError(f"{path}: the simulator state is not valid JSON") from None
    if _checked.get(path) == data:
        return raw  # type: ignore[no-any-return]
    state = _check_state(raw, path)
    _checked[path] = data
    return state


_ENCODER = json.JSONEncoder(sort_keys=True)


def _encode(state: Mapping[str, Any]) -> bytes:
    """The state file's text: the counters, then one unit a line."""
    head = _ENCODER.encode({k: v for k, v in state.items() if k != "units"})
    units = ",\n ".join(_ENCODER.encode(u) for u in state["units"])
    return f'{head[:-1]}, "units": [\n {units}\n]}}\n'.encode()


def _write(path: str, state: Mapping[str, Any]) -> None:
    """A new state file (``sim init``): written beside it and renamed into place."""
    # Not atomic.replace_file: no fsync; a simulator's state need not survive a crash.
    data = _encode(state)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    _checked[path] = data  # checked before it was written


def _rewrite(path: str, state: Mapping[str, Any], size: int) -> None:
    """Write ``state`` over the file of ``size`` bytes, in place, in one write.

    Under the exclusive lock (every reader takes the shared one), so no reader
    sees it half written. A shorter text is padded with blanks to the old
    size: the file is never truncated, and a process killed after its one
    write leaves whole JSON. In place, because a rename over the file costs
    ten times as much (ext4 writes the new file's data out at the rename),
    and this runs at each claim and release of a unit.
    """
    data = _encode(state)
    if len(data) < size:
        data = data[:-1].ljust(size - 1) + b"\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise SimStateError(f"{path}: cannot write the simulator state: {exc.strerror}") from None
    try:
        written = os.write(fd, data)
    except OSError as exc:
        raise SimStateError(f"{path}: cannot write the simulator state: {exc.strerror}") from None
    finally:
        os.close(fd)
    if written != len(data):  # a regular file takes all of it, unless it is full
        raise SimStateError(f"{path}: wrote {written} of {len(data)} bytes of the simulator state")
    _checked[path] = data  # checked before it was written


def load(path: str) -> dict[str, Any]:
    """The current state (a snapshot; use :func:`update` to change it)."""
    with _file_lock(path, exclusive=False):
        return _parse(path, _read_raw(path))


#: The state this process last parsed, per file, with its text (:func:`snapshot`).
_parsed: dict[str, tuple[bytes, dict[str, Any]]] = {}


def snapshot(path: str) -> dict[str, Any]:
    """The current state, shared and read-only: never change it (:func:`update` does that).

    The simulated transfers read the file many times a second; while its text
    is unchanged, the state parsed from it last time is handed out again.
    """
    with _file_lock(path, exclusive=False):
        data = _read_raw(path)
    cached = _parsed.get(path)
    if cached is not None and cached[0] == data:
        return cached[1]
    state = _parse(path, data)
    _parsed[path] = (data, state)
    return state


@contextmanager
def update(path: str) -> Iterator[dict[str, Any]]:
    """Read, let the caller change, and write back the state, all under the exclusive lock.

    Nothing is written when the caller raises or changes nothing.
    """
    with _file_lock(path, exclusive=True):
        data = _read_raw(path)
        state = _parse(path, data)
        yield state
        cached = _parsed.get(path)
        if state != (cached[1] if cached is not None and cached[0] == data else json.loads(data)):
            _check_state(state, path)
            _rewrite(path, state, len(data))


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
        from twinstar.suggest import hint

        raise BadInputError(f"unknown setting {key!r}", hint=hint(key, SETTINGS, "settings"))


SETTINGS = ("port", "watchdog", "power0", "power1", "twinstar", "eeprom", "product", "serial", "bus", "trace", *FAULTS)
