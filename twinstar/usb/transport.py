"""pyusb transport: find Astribanks, claim the management interface, move bytes.

Which USB the process talks to (real libusb or the simulator) is decided once
by :func:`choose_bus` and :func:`open_backend`; everything else here is the
same for both. Access to one unit is serialised across processes by an
flock(2) per bus/device in a lock directory, so two commands never claim the
same unit at once (usbfs claims are exclusive; a second claimer gets EBUSY).
Every pyusb error becomes a :class:`~twinstar.errors.UsbError` naming the
unit and what to do.
"""

from __future__ import annotations

import errno
import os
import time

import usb.core  # type: ignore[import-untyped]  # pyusb ships no type information
import usb.util  # type: ignore[import-untyped]  # pyusb ships no type information

from twinstar.errors import TwinstarError, UsageError, UsbError
from twinstar.fastpath.lockprobe import wait_flock
from twinstar.usb import mpp
from twinstar.usb.errors import (
    NoUnitError,
    UsbBusyError,
    UsbDisconnectedError,
    UsbPermissionError,
    UsbTimeoutError,
)
from twinstar.usb.values import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from twinstar.config import UsbConfig

SIMULATOR_ENV = "TWINSTAR_USB_SIMULATOR"
SIM_PORT_ENV = "TWINSTAR_USB_SIM_PORT"
LOCK_DIR = "/run/lock/twinstar-usb"
USB_DEVFS = "/dev/bus/usb"
MGMT_INTERFACE = 1
DRAIN_TIMEOUT_MS = 1
LOCK_WAIT = 10.0
#: The simulator's port a host sees when nothing names one.
DEFAULT_SIM_PORT = 0
NO_UNIT = "no TwinStar-capable Astribank is connected to this host"


class BusChoice(Value):
    """Real USB (``simulator`` None) or a simulator state file seen from ``port``."""

    __slots__ = ("simulator", "port", "lock_dir")

    def __init__(self, *, simulator: str | None = None, port: int = DEFAULT_SIM_PORT, lock_dir: str = LOCK_DIR) -> None:
        self.simulator = simulator
        self.port = port
        self.lock_dir = lock_dir


def choose_bus(usb_config: UsbConfig | None, environ: Mapping[str, str] | None = None) -> BusChoice:
    """The configuration's ``usb:`` section, overridden by $TWINSTAR_USB_SIMULATOR / $TWINSTAR_USB_SIM_PORT.

    None: no configuration (real USB, unless the environment names a simulator);
    the configuration's model is then not even imported (``twinstar status`` without one).
    """
    env = os.environ if environ is None else environ
    simulator = env.get(SIMULATOR_ENV) or (usb_config.simulator if usb_config is not None else None)
    port = usb_config.simulator_port if usb_config is not None else DEFAULT_SIM_PORT
    raw_port = env.get(SIM_PORT_ENV)
    if raw_port is not None and raw_port != "":
        if raw_port not in ("0", "1"):
            raise UsageError(f"${SIM_PORT_ENV}={raw_port!r}: expected 0 or 1")
        port = int(raw_port)
    if simulator is None:
        return BusChoice()
    simulator = os.path.abspath(simulator)
    # Simulated hosts share a machine: keep their locks beside the state file, per port.
    return BusChoice(simulator=simulator, port=port, lock_dir=f"{simulator}.locks/port{port}")


#: The libraries pyusb looks for, by the sonames Linux distributions install them under.
LIBUSB_SONAMES = {"usb-1.0": "libusb-1.0.so.0", "usb-0.1": "libusb-0.1.so.4"}


def find_libusb(candidate: str) -> str | None:
    """pyusb's library lookup, by soname first: :func:`ctypes.util.find_library` starts ``ldconfig -p`` for every look.

    The dynamic loader finds a soname through its own cache; only a library it
    cannot load that way is looked up as pyusb would (so a missing libusb
    is reported as before).
    """
    import ctypes
    import ctypes.util

    soname = LIBUSB_SONAMES.get(candidate)
    if soname is not None:
        try:
            ctypes.CDLL(soname)
        except OSError:
            pass
        else:
            return soname
    return ctypes.util.find_library(candidate)


def open_backend(choice: BusChoice) -> Any:
    """The pyusb backend for ``choice``; for real USB, libusb or a clear error."""
    if choice.simulator is not None:
        from twinstar.usb.simbackend import SimBackend

        return SimBackend(choice.simulator, port=choice.port)
    import usb.backend.libusb1  # type: ignore[import-untyped]  # pyusb ships no type information

    backend = usb.backend.libusb1.get_backend(find_library=find_libusb)
    if backend is None:  # libusb 0.1 only where 1.0 is missing: its module is not even imported otherwise
        import usb.backend.libusb0  # type: ignore[import-untyped]  # pyusb ships no type information

        backend = usb.backend.libusb0.get_backend(find_library=find_libusb)
    if backend is not None:
        return backend
    if not os.path.isdir(USB_DEVFS):
        raise NoUnitError(NO_UNIT, hint=f"there is no USB bus: {USB_DEVFS} does not exist")
    raise UsbError(
        "cannot use USB: libusb-1.0 is not installed or cannot start",
        hint="install the libusb-1.0-0 package",
    )


class UsbUnit(Value):
    """One Astribank as enumerated on this host (``device``, pyusb's, is not compared)."""

    __slots__ = ("bus", "address", "product_id", "serial", "device")
    _uncompared = ("device",)

    def __init__(self, bus: int, address: int, product_id: int, serial: str | None, device: Any) -> None:
        self.bus = bus
        self.address = address
        self.product_id = product_id
        self.serial = serial
        self.device = device

    @property
    def name(self) -> str:
        return f"usb:{self.bus:03d}/{self.address:03d}"

    @property
    def node(self) -> str:
        return f"{USB_DEVFS}/{self.bus:03d}/{self.address:03d}"

    @property
    def label(self) -> str:
        """The xbus label the driver gives it: ``usb:`` + serial, at most 19 characters."""
        return ("usb:" + self.serial)[:19] if self.serial else ""

    @property
    def title(self) -> str:
        """How messages name the unit."""
        return f"{self.name} ({self.label})" if self.label else self.name


def scan(backend: Any) -> list[UsbUnit]:
    """Every Astribank (vendor 0xE4E4) on this host, ordered by bus and device number."""
    units = []
    try:
        found = list(usb.core.find(find_all=True, backend=backend, idVendor=mpp.VENDOR_ID))
    except usb.core.USBError as exc:
        raise UsbError(f"cannot list USB devices: {exc.strerror or exc}") from None
    for dev in found:
        units.append(UsbUnit(int(dev.bus or 0), int(dev.address or 0), int(dev.idProduct), _serial(dev), dev))
    return sorted(units, key=lambda u: (u.bus, u.address))


def _serial(dev: Any) -> str | None:
    """The iSerialNumber string, or None when it cannot be read (no permission, gone)."""
    try:
        text = usb.util.get_string(dev, dev.iSerialNumber) if dev.iSerialNumber else None
    except (usb.core.USBError, ValueError):
        text = None
    finally:
        try:
            usb.util.dispose_resources(dev)
        except usb.core.USBError:
            pass
    if text is None:
        return None
    # Device text: keep it printable, never interpret it.
    return "".join(c if c.isprintable() and c != " " else "_" for c in text)


def usb_failure(unit: UsbUnit, exc: usb.core.USBError, doing: str, *, timeout_ms: int = 0) -> UsbError:
    """Map a pyusb error to an error that names the unit and what to do."""
    err = exc.errno
    if isinstance(exc, usb.core.USBTimeoutError) or err == errno.ETIMEDOUT:
        return UsbTimeoutError(
            f"{unit.title}: timed out after {timeout_ms / 1000:g} s {doing}",
            hint="the unit may be busy or hung; try again, or power-cycle it",
        )
    if err in (errno.EACCES, errno.EPERM):
        return UsbPermissionError(
            f"{unit.title}: permission denied on {unit.node}",
            hint="run twinstar as root, or grant access to e4e4:116x devices with a udev rule",
        )
    if err == errno.EBUSY:
        return UsbBusyError(
            f"{unit.title}: management interface {MGMT_INTERFACE} is busy: another program has claimed it",
            hint="wait for astribank_tool or astribank_hexload to finish, then try again",
        )
    if err in (errno.ENODEV, errno.ENOENT):
        return UsbDisconnectedError(
            f"{unit.title}: the unit disconnected {doing}",
            hint="check its cable and power; run twinstar status to see where it is now",
        )
    return UsbError(f"{unit.title}: USB error {doing}: {exc.strerror or exc}")


class Link:
    """The claimed management interface of one unit (a :class:`twinstar.usb.mpp.Pipe`).

    Use as a context manager: takes the per-unit lock, claims interface 1,
    drains stale input; on exit releases the interface, closes the device and
    drops the lock.
    """

    def __init__(self, unit: UsbUnit, *, lock_dir: str, lock_wait: float = LOCK_WAIT) -> None:
        self.unit = unit
        self.lock_dir = lock_dir
        self.lock_wait = lock_wait
        self._lock_fd: int | None = None
        self._ep_out = 0
        self._ep_in = 0
        self._in_size = 512

    # -- lock --

    def _lock(self) -> None:
        try:
            os.makedirs(self.lock_dir, mode=0o755, exist_ok=True)
            path = os.path.join(self.lock_dir, f"{self.unit.bus:03d}-{self.unit.address:03d}.lock")
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise UsbError(f"{self.unit.title}: cannot use the lock directory {self.lock_dir}: {exc.strerror}") from None
        if not wait_flock(fd, timeout=self.lock_wait, poll=0.005):
            os.close(fd)
            raise UsbBusyError(
                f"{self.unit.title}: another twinstar command has been using this unit "
                f"for more than {self.lock_wait:g} s",
                hint="wait for it to finish, then try again",
            )
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- open/close --

    def __enter__(self) -> Link:
        self._lock()
        try:
            self._claim()
        except BaseException:
            self._close_device()
            self._unlock()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._close_device()
        finally:
            self._unlock()

    def _claim(self) -> None:
        dev = self.unit.device
        try:
            cfg = dev[0]
            intf = usb.util.find_descriptor(cfg, bInterfaceNumber=MGMT_INTERFACE)
        except usb.core.USBError as exc:
            raise usb_failure(self.unit, exc, "while reading its descriptors") from None
        if intf is None or intf.bNumEndpoints != 2:
            raise UsbError(
                f"{self.unit.title}: no management interface {MGMT_INTERFACE} with two endpoints "
                "in its descriptors; is it an Astribank with USB firmware loaded?"
            )
        eps = list(intf)
        out = [e for e in eps if usb.util.endpoint_direction(e.bEndpointAddress) == usb.util.ENDPOINT_OUT]
        inp = [e for e in eps if usb.util.endpoint_direction(e.bEndpointAddress) == usb.util.ENDPOINT_IN]
        kinds = {usb.util.ENDPOINT_TYPE_BULK, usb.util.ENDPOINT_TYPE_INTR}
        if len(out) != 1 or len(inp) != 1 or any(usb.util.endpoint_type(e.bmAttributes) not in kinds for e in eps):
            raise UsbError(f"{self.unit.title}: interface {MGMT_INTERFACE} needs one bulk OUT and one bulk IN endpoint")
        self._ep_out = out[0].bEndpointAddress
        self._ep_in = inp[0].bEndpointAddress
        self._in_size = min(int(out[0].wMaxPacketSize), int(inp[0].wMaxPacketSize), 512) or 64
        try:
            usb.util.claim_interface(dev, MGMT_INTERFACE)
        except usb.core.USBError as exc:
            raise usb_failure(self.unit, exc, "while claiming its management interface") from None
        self._drain()

    def _drain(self) -> None:
        """Discard whatever a previous, interrupted exchange left in the IN endpoint."""
        for _ in range(8):
            try:
                self.unit.device.read(self._ep_in, self._in_size, timeout=DRAIN_TIMEOUT_MS)
            except usb.core.USBTimeoutError:
                return
            except usb.core.USBError as exc:
                if exc.errno == errno.ETIMEDOUT:
                    return
                raise usb_failure(self.unit, exc, "while draining stale input") from None

    def _close_device(self) -> None:
        dev = self.unit.device
        try:
            usb.util.release_interface(dev, MGMT_INTERFACE)
        except usb.core.USBError:
            pass  # gone already: nothing to release
        try:
            usb.util.dispose_resources(dev)
        except usb.core.USBError:
            pass

    # -- the Pipe --

    def write(self, data: bytes, *, timeout_ms: int, op_name: str) -> None:
        try:
            n = self.unit.device.write(self._ep_out, data, timeout=timeout_ms)
        except usb.core.USBError as exc:
            raise usb_failure(self.unit, exc, f"while sending {op_name}", timeout_ms=timeout_ms) from None
        if n != len(data):
            raise UsbError(f"{self.unit.title}: sent {n} of {len(data)} bytes of {op_name}")

    def read(self, *, timeout_ms: int, op_name: str, silence_ok: bool = False) -> bytes:
        """One bulk read. With ``silence_ok`` a timeout or a vanished unit reads as b''."""
        try:
            return bytes(self.unit.device.read(self._ep_in, self._in_size, timeout=timeout_ms))
        except usb.core.USBError as exc:
            failure = usb_failure(self.unit, exc, f"while waiting for the reply to {op_name}", timeout_ms=timeout_ms)
            if silence_ok and isinstance(failure, UsbTimeoutError | UsbDisconnectedError):
                return b""
            raise failure from None


def wait_gone(unit: UsbUnit, backend: Any, *, timeout: float, poll: float = 0.1) -> bool:
    """Re-scan until ``unit`` is no longer enumerated on this host; False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            present = scan(backend)
        except TwinstarError:
            present = []
        if not any(_same(unit, other) for other in present):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def _same(a: UsbUnit, b: UsbUnit) -> bool:
    if (a.bus, a.address) == (b.bus, b.address):
        return True
    return a.serial is not None and a.serial == b.serial


def select(units: Sequence[UsbUnit], devices: Sequence[str]) -> list[UsbUnit]:
    """The units named by ``--device`` values (``usb:BBB/DDD`` or a label), in the order given.

    An unknown name is bad input (exit 2) and the message lists the units that exist.
    """
    chosen: list[UsbUnit] = []
    for name in devices:
        match = _parse_address(name)
        if match is not None:
            hits = [u for u in units if (u.bus, u.address) == match]
        else:
            hits = [u for u in units if u.label and u.label == name]
        if not hits:
            existing = ", ".join(u.title for u in units) or "none"
            raise UsageError(
                f"--device {name!r}: no such unit on this host",
                hint=f"units on this host: {existing}",
            )
        for u in hits:
            if u not in chosen:
                chosen.append(u)
    return chosen


def _parse_address(name: str) -> tuple[int, int] | None:
    """``usb:BBB/DDD`` (also without ``usb:``) as (bus, device), else None."""
    text = name[4:] if name.startswith("usb:") else name
    bus, sep, dev = text.partition("/")
    if not sep or not (bus + dev).isascii() or not bus.isdigit() or not dev.isdigit():
        return None
    if len(bus) > 3 or len(dev) > 3:
        return None
    return int(bus), int(dev)
