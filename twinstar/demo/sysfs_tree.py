"""Each demo server's fake ``/sys``: the xbus devices the xpp driver would show.

The layout and attribute formats are those of the platform fact sheet
(section 4): ``bus/astribanks/devices/xbus-NN`` is a link to the device node,
whose parent is the USB device (``busnum``, ``devnum``, ``serial``...) and
whose ``transport`` links back to it. Every attribute is replaced atomically,
so a hook reading concurrently sees the old or the new value, as with sysfs.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

STATES = ("START", "IDLE", "SENT_REQUEST", "RECVD_DESC", "READY", "DEACTIVATING", "DEACTIVATED", "FAIL")
USB_PARENT = "devices/pci0000:00/0000:00:1d.7/usb{bus}"


@dataclass(frozen=True)
class Plug:
    """Where a unit is plugged on one server: xbus number, USB address, hub port."""

    num: int
    bus: int
    devnum: int
    hub_port: int
    serial: str
    product: str


def state_text(name: str) -> str:
    return f"{name} ({STATES.index(name)})"


class FakeSysfs:
    """The xbus part of one server's sysfs under ``root``."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.devices = os.path.join(root, "bus", "astribanks", "devices")
        os.makedirs(self.devices, exist_ok=True)

    def _usb_dir(self, plug: Plug) -> str:
        return os.path.join(self.root, USB_PARENT.format(bus=plug.bus), f"{plug.bus}-{plug.hub_port}")

    def _node(self, plug: Plug) -> str:
        return os.path.join(self._usb_dir(plug), f"xbus-{plug.num:02d}")

    def devpath(self, plug: Plug) -> str:
        """DEVPATH as udev gives it (relative to the sysfs root, leading slash)."""
        return "/" + os.path.relpath(self._node(plug), self.root)

    def connector(self, plug: Plug) -> str:
        return f"usb-0000:00:1d.7-{plug.hub_port}"

    @staticmethod
    def _write(path: str, value: str) -> None:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            f.write(value + "\n")
        os.replace(tmp, path)

    def add(self, plug: Plug) -> None:
        """Device registered during probe: status missing, no label/connector/transport yet."""
        usb = self._usb_dir(plug)
        os.makedirs(usb, exist_ok=True)
        for attr, value in (
            ("busnum", str(plug.bus)),
            ("devnum", str(plug.devnum)),
            ("idVendor", "e4e4"),
            ("idProduct", plug.product),
            ("serial", plug.serial),
        ):
            self._write(os.path.join(usb, attr), value)
        node = self._node(plug)
        os.makedirs(node, exist_ok=True)
        self._write(os.path.join(node, "status"), "missing")
        self._write(os.path.join(node, "xbus_state"), state_text("START"))
        self._write(os.path.join(node, "dahdi_registration"), "0")
        link = os.path.join(self.devices, f"xbus-{plug.num:02d}")
        os.symlink(os.path.relpath(node, self.devices), link)

    def ready(self, plug: Plug, *, spans: int = 1) -> None:
        """Descriptors received, XPDs initialised: label, connector, transport, READY."""
        node = self._node(plug)
        self._write(os.path.join(node, "label"), f"usb:{plug.serial}"[:19])
        self._write(os.path.join(node, "connector"), self.connector(plug))
        os.symlink("..", os.path.join(node, "transport"))
        self._write(os.path.join(node, "timing"), "NONE")
        for unit in range(spans):
            xpd = os.path.join(node, f"{plug.num:02d}:{unit}:0")
            os.makedirs(xpd, exist_ok=True)
            self._write(os.path.join(xpd, "span"), "0")
            self._write(os.path.join(xpd, "type"), "FXS")
        self._write(os.path.join(node, "status"), "connected")
        for name in ("IDLE", "SENT_REQUEST", "RECVD_DESC", "READY"):
            self._write(os.path.join(node, "xbus_state"), state_text(name))

    def deactivate(self, plug: Plug) -> None:
        """Unplugged: READY -> DEACTIVATING (the offline event comes here)."""
        self._write(os.path.join(self._node(plug), "xbus_state"), state_text("DEACTIVATING"))

    def remove(self, plug: Plug) -> None:
        """Last reference dropped: the device is gone (the remove event comes here)."""
        node = self._node(plug)
        if os.path.isdir(node):
            self._write(os.path.join(node, "xbus_state"), state_text("DEACTIVATED"))
            self._write(os.path.join(node, "status"), "missing")
        try:
            os.unlink(os.path.join(self.devices, f"xbus-{plug.num:02d}"))
        except FileNotFoundError:
            pass
        shutil.rmtree(self._usb_dir(plug), ignore_errors=True)

    def registered(self, plug: Plug) -> bool:
        try:
            with open(os.path.join(self._node(plug), "dahdi_registration")) as f:
                return f.read().strip() not in ("", "0")
        except OSError:
            return False
