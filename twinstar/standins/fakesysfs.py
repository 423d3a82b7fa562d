"""A fake sysfs tree of Astribank xbus devices, with the driver's exact attribute formats.

The xpp kernel driver cannot load on a build machine or in the demo; this
builds what it would show under ``<root>/bus/astribanks/devices`` (platform
fact sheet, section 4), pointed at by ``astribanks.sysfs``:

* ``<root>/devices/astribank-fake/usb<B>-<D>/``: the USB device (``busnum``,
  ``devnum``, ``idVendor``, ``idProduct``, ``serial``),
* ``.../usb<B>-<D>/xbus-NN/``: the xbus node with ``label``, ``connector``,
  ``status``, ``xbus_state``, ``dahdi_registration`` and the ``transport`` link,
* ``<root>/bus/astribanks/devices/xbus-NN``: a relative link to the node.

Each lifecycle method changes the tree the way the driver does at that point
and returns the uevent environment the kernel would send (``ACTION``,
``XBUS_NAME``, ``XBUS_NUM``, ``DEVPATH``...), so a caller can feed it to the
hook or the daemon: :meth:`create_unit` (``add``: no label, connector or
transport yet, status ``missing``), :meth:`attach`, :meth:`set_state`,
:meth:`online` (READY), :meth:`offline` (DEACTIVATING), :meth:`remove_unit`.
:meth:`arrive` and :meth:`depart` run the whole sequence.
"""

from __future__ import annotations

import os
import shutil

from twinstar.astribank.sysfs import DEVICES, STATES

PRODUCT_TWINSTAR = "1162"
VENDOR = "e4e4"
INIT_DIR = "/usr/share/dahdi"


def _text(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


class FakeSysfs:
    """A fake ``/sys`` rooted at ``root`` (created on demand)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        os.makedirs(self.bus_dir, exist_ok=True)
        os.makedirs(self.usb_root, exist_ok=True)

    @property
    def bus_dir(self) -> str:
        return os.path.join(self.root, DEVICES)

    @property
    def usb_root(self) -> str:
        return os.path.join(self.root, "devices", "astribank-fake")

    # -- paths --------------------------------------------------------------------------

    @staticmethod
    def name(num: int) -> str:
        if not 0 <= num <= 127:
            raise ValueError(f"xbus number {num} out of range 0..127")
        return f"xbus-{num:02d}"

    def node(self, num: int) -> str:
        """The xbus node directory (the target of the bus link)."""
        link = os.path.join(self.bus_dir, self.name(num))
        return os.path.realpath(link)

    def exists(self, num: int) -> bool:
        return os.path.lexists(os.path.join(self.bus_dir, self.name(num)))

    def units(self) -> list[int]:
        return sorted(int(n[5:]) for n in os.listdir(self.bus_dir) if n.startswith("xbus-"))

    def event(self, action: str, num: int) -> dict[str, str]:
        """The uevent environment of ``action`` for unit ``num``."""
        node = self.node(num) if self.exists(num) else None
        devpath = "/" + os.path.relpath(node, self.root) if node else f"/devices/astribank-fake/{self.name(num)}"
        return {
            "ACTION": action,
            "SUBSYSTEM": "astribanks",
            "DEVPATH": devpath,
            "XBUS_NAME": f"XBUS-{num:02d}",
            "XBUS_NUM": f"{num:02d}",
            "XPP_INIT_DIR": INIT_DIR,
        }

    # -- writing attributes --------------------------------------------------------------

    def write_attr(self, num: int, attr: str, value: str | bytes, *, newline: bool = True) -> None:
        """Write one attribute as the driver shows it (value plus a newline)."""
        data = _text(value) + (b"\n" if newline else b"")
        path = os.path.join(self.node(num), attr)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def read_attr(self, num: int, attr: str) -> bytes:
        with open(os.path.join(self.node(num), attr), "rb") as f:
            return f.read()

    def remove_attr(self, num: int, attr: str) -> None:
        path = os.path.join(self.node(num), attr)
        if os.path.islink(path) or os.path.isfile(path):
            os.unlink(path)

    # -- the lifecycle --------------------------------------------------------------------

    def create_unit(self, num: int, *, busnum: int | None = None, devnum: int | None = None) -> dict[str, str]:
        """Probe: the xbus appears without label, connector or transport (``add``)."""
        if self.exists(num):
            raise FileExistsError(f"{self.name(num)} already exists in {self.root}")
        busnum = busnum if busnum is not None else 1 + num // 100
        devnum = devnum if devnum is not None else 2 + num % 100
        usb = os.path.join(self.usb_root, f"usb{busnum}-{devnum}")
        node = os.path.join(usb, self.name(num))
        os.makedirs(node)
        for attr, value in (("busnum", str(busnum)), ("devnum", str(devnum)), ("idVendor", VENDOR), ("idProduct", PRODUCT_TWINSTAR)):
            with open(os.path.join(usb, attr), "w") as f:
                f.write(value + "\n")
        os.symlink(os.path.relpath(node, self.bus_dir), os.path.join(self.bus_dir, self.name(num)))
        self.set_state(num, "START")
        self.write_attr(num, "status", "missing")
        self.write_attr(num, "dahdi_registration", "0")
        return self.event("add", num)

    def attach(self, num: int, *, label: str | bytes, connector: str | bytes, serial: str | bytes | None = None) -> None:
        """Probe finished: label, connector and transport link exist; status ``connected``.

        ``label`` is written exactly as given (the driver's is ``usb:`` + serial,
        at most 19 bytes, possibly empty; pass the exact bytes you want to test).
        """
        node = self.node(num)
        usb = os.path.dirname(node)
        with open(os.path.join(usb, "serial"), "wb") as f:
            f.write(_text(serial if serial is not None else _text(label)[4:]) + b"\n")
        self.write_attr(num, "label", label)
        self.write_attr(num, "connector", connector)
        link = os.path.join(node, "transport")
        if not os.path.lexists(link):
            os.symlink("..", link)
        self.write_attr(num, "status", "connected")

    def set_state(self, num: int, state: str) -> None:
        """``xbus_state`` as ``NAME (n)``."""
        self.write_attr(num, "xbus_state", f"{state} ({STATES.index(state)})")

    def online(self, num: int) -> dict[str, str]:
        """RECVD_DESC → READY, after the XPDs are initialised (``online``)."""
        self.set_state(num, "IDLE")
        self.set_state(num, "SENT_REQUEST")
        self.set_state(num, "RECVD_DESC")
        self.set_state(num, "READY")
        return self.event("online", num)

    def offline(self, num: int, *, state: str = "DEACTIVATING") -> dict[str, str]:
        """READY → DEACTIVATING or FAIL: unplug, driver unload or ``stop`` (``offline``)."""
        self.set_state(num, state)
        self.write_attr(num, "status", "missing")
        return self.event("offline", num)

    def remove_unit(self, num: int) -> dict[str, str]:
        """The last reference is dropped: the xbus and its USB device disappear (``remove``)."""
        env = self.event("remove", num)
        node = self.node(num)
        os.unlink(os.path.join(self.bus_dir, self.name(num)))
        shutil.rmtree(os.path.dirname(node))
        return env

    def arrive(
        self, num: int, *, label: str | bytes, connector: str | bytes, busnum: int | None = None, devnum: int | None = None
    ) -> list[dict[str, str]]:
        """A unit plugged into this host, up to READY: the ``add`` and ``online`` events."""
        add = self.create_unit(num, busnum=busnum, devnum=devnum)
        self.attach(num, label=label, connector=connector)
        return [add, self.online(num)]

    def depart(self, num: int) -> list[dict[str, str]]:
        """A unit leaving this host: ``offline`` (DEACTIVATING, then DEACTIVATED) and ``remove``."""
        off = self.offline(num)
        self.set_state(num, "DEACTIVATED")
        return [off, self.remove_unit(num)]

    def registered(self, num: int) -> bool:
        return self.read_attr(num, "dahdi_registration").strip() not in (b"", b"0")
