"""A fake sysfs tree of Astribank xbus devices, with the driver's exact attribute formats.

The xpp kernel driver cannot load on a build machine or in the demo; this
builds what it would show under ``<root>/bus/astribanks/devices`` (platform
fact sheet, section 4), pointed at by ``astribanks.sysfs``:

* ``<root>/devices/astribank-fake/usb<B>-<D>/``: the USB device (``busnum``,
  ``devnum``, ``idVendor``, ``idProduct``, ``serial``),
* ``.../usb<B>-<D>/xbus-NN/``: the xbus node with ``label``, ``connector``,
  ``status``, ``xbus_state``, ``dahdi_registration`` and the ``transport`` link,
* ``<root>/bus/astribanks/devices/xbus-NN``: a relative link to the node,
* ``.../xbus-NN/NN:U:S/``: its XPDs (``type``, ``span``); each is one DAHDI span,
* once registered (``dahdi_registration`` 1): the DAHDI device
  ``.../xbus-NN/astribanks:xbus-NN/`` (``span_count``, ``registration_time``,
  ``spantype``, the write-only ``assign_span``, ``unassign_span``, ``auto_assign``)
  linked from ``<root>/bus/dahdi_devices/devices/``, and its assigned spans
  ``.../astribanks:xbus-NN/span-N/`` (``name``, ``alarms``, ``channels``,
  ``lineconfig``... and the ``ddev`` link) linked from ``<root>/bus/dahdi_spans/devices/``
  (platform fact sheet, section 10; dahdi-linux ``dahdi-sysfs.c``).

Each lifecycle method changes the tree the way the driver does at that point
and returns the uevent environment the kernel would send (``ACTION``,
``XBUS_NAME``, ``XBUS_NUM``, ``DEVPATH``...), so a caller can feed it to the
hook or the daemon: :meth:`create_unit` (``add``: no label, connector or
transport yet, status ``missing``), :meth:`attach`, :meth:`set_state`,
:meth:`online` (READY), :meth:`offline` (DEACTIVATING), :meth:`remove_unit`.
:meth:`arrive` and :meth:`depart` run the whole sequence.

The kernel acts on a write to ``dahdi_registration`` or ``assign_span`` before
the write returns; plain files cannot, so :meth:`drive` does what the xpp and
dahdi drivers would do for what was written since (register, unregister,
assign, unassign), and the simulator or a test calls it between the writes
and the reads (a step waiting for the driver sleeps through
``StepContext.sleep``, which a test points at :meth:`drive`).
:meth:`configure_spans` is what ``dahdi_cfg`` leaves in the tree
(``python -m twinstar.standins.fakesysfs dahdi-cfg ROOT`` runs it as a program).
"""

from __future__ import annotations

import os
import shutil
import sys
import time

from twinstar.astribank import spans as dahdi
from twinstar.astribank.sysfs import DEVICES, STATES

PRODUCT_TWINSTAR = "1162"
VENDOR = "e4e4"
INIT_DIR = "/usr/share/dahdi"

#: What the xpp driver shows for an XPD type: DAHDI's span type, whether it is digital, its channels,
#: the line settings it supports (``linecompat``) and the ones dahdi_cfg gives it (``lineconfig``).
XPD_TYPES = {
    "FXS": ("FXS", False, 8, "", ""),
    "FXO": ("FXO", False, 8, "", ""),
    "BRI": ("TE", True, 3, "AMI CCS", "AMI/CCS"),
    "E1": ("E1", True, 31, "AMI HDB3 CCS CRC4", "HDB3/CCS/CRC4"),
    "T1": ("T1", True, 24, "B8ZS AMI ESF D4", "B8ZS/ESF"),
}


def _text(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


class FakeSysfs:
    """A fake ``/sys`` rooted at ``root`` (created on demand)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        os.makedirs(self.bus_dir, exist_ok=True)
        os.makedirs(self.usb_root, exist_ok=True)
        os.makedirs(self.dahdi_devices_dir, exist_ok=True)
        os.makedirs(self.spans_dir, exist_ok=True)
        if not os.path.exists(self._auto_assign_path):
            self.set_auto_assign(True)

    @property
    def bus_dir(self) -> str:
        return os.path.join(self.root, DEVICES)

    @property
    def usb_root(self) -> str:
        return os.path.join(self.root, "devices", "astribank-fake")

    @property
    def dahdi_devices_dir(self) -> str:
        return os.path.join(self.root, dahdi.DEVICES)

    @property
    def spans_dir(self) -> str:
        return os.path.join(self.root, dahdi.SPANS)

    @property
    def _auto_assign_path(self) -> str:
        return os.path.join(self.root, dahdi.AUTO_ASSIGN)

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

    def write_attr(self, num: int, attr: str, value: str | bytes, *, newline: bool = True, mkdir: bool = False) -> None:
        """Write one attribute as the driver shows it (value plus a newline)."""
        data = _text(value) + (b"\n" if newline else b"")
        path = os.path.join(self.node(num), attr)
        if mkdir:
            os.makedirs(os.path.dirname(path), exist_ok=True)
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

    def attach(
        self, num: int, *, label: str | bytes, connector: str | bytes, serial: str | bytes | None = None,
        xpds: tuple[str, ...] = ("FXS",),
    ) -> None:
        """Probe finished: label, connector, transport link and the XPDs exist; status ``connected``.

        ``label`` is written exactly as given (the driver's is ``usb:`` + serial,
        at most 19 bytes, possibly empty; pass the exact bytes you want to test).
        ``xpds`` are the XPD types (:data:`XPD_TYPES`), one span each.
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
        for index, kind in enumerate(xpds):
            self.add_xpd(num, index, kind)
        self.write_attr(num, "status", "connected")

    def add_xpd(self, num: int, unit: int, kind: str) -> None:
        """XPD ``NN:unit:0`` of type ``kind``, not registered (``span`` 0)."""
        if kind not in XPD_TYPES:
            raise ValueError(f"unknown XPD type {kind!r}; known: {', '.join(XPD_TYPES)}")
        self.write_attr(num, f"{num:02d}:{unit}:0/type", kind, mkdir=True)
        self.write_attr(num, f"{num:02d}:{unit}:0/span", "0")

    def xpds(self, num: int) -> list[tuple[str, str]]:
        """The unit's XPDs (directory name, type), in local span order."""
        node = self.node(num)
        names = sorted(n for n in os.listdir(node) if n.count(":") == 2 and n.startswith(f"{num:02d}:"))
        return [(n, self.read_attr(num, f"{n}/type").decode().strip()) for n in names]

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
        self._unregister(num)
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

    # -- DAHDI: what the drivers do with what was written -----------------------------------

    def set_auto_assign(self, on: bool) -> None:
        """The dahdi module parameter ``auto_assign_spans`` (printed ``%d``)."""
        os.makedirs(os.path.dirname(self._auto_assign_path), exist_ok=True)
        _replace(self._auto_assign_path, b"1\n" if on else b"0\n")

    def device_dir(self, num: int) -> str:
        """The DAHDI device directory of unit ``num`` (present only while registered)."""
        return os.path.join(self.node(num), dahdi.device_name(self.name(num)))

    def span_dir(self, number: int) -> str:
        return os.path.realpath(os.path.join(self.spans_dir, f"span-{number}"))

    def span_numbers(self, num: int) -> list[int]:
        """The span numbers unit ``num``'s XPDs are assigned, in local span order (0: not assigned)."""
        return [int(self.read_attr(num, f"{name}/span")) for name, _ in self.xpds(num)]

    def set_alarms(self, number: int, mask: int) -> None:
        """What the driver shows as span ``number``'s alarms (``0x%x``)."""
        _replace(os.path.join(self.span_dir(number), "alarms"), f"0x{mask:x}\n".encode())

    def watch_writes(self, watch: WriteWatch) -> None:
        """Have ``watch`` wake on the writes :meth:`drive` acts on (each unit's node, each registered unit's DAHDI device)."""
        for num in self.units():
            node = self.node(num)
            if os.path.isdir(node):
                watch.watch(node)
                if os.path.isdir(self.device_dir(num)):
                    watch.watch(self.device_dir(num))

    def drive(self) -> list[str]:
        """Act, as the drivers would have on each write, on what was written since the last call.

        Returns what was done, one line each (the demo logs them).
        """
        done: list[str] = []
        for num in self.units():
            node = self.node(num)
            if not os.path.isdir(node):
                continue
            wanted = self.registered(num)
            present = os.path.isdir(self.device_dir(num))
            if wanted and not present:
                self._register(num)
                done.append(f"registered XBUS-{num:02d} with DAHDI")
            elif present and not wanted:
                self._unregister(num)
                done.append(f"unregistered XBUS-{num:02d}")
            if wanted:
                done += self._device_writes(num)
        return done

    def configure_spans(self) -> list[int]:
        """What ``dahdi_cfg`` leaves in the tree: each digital span's line settings; the spans configured."""
        configured = []
        for name in sorted(os.listdir(self.spans_dir)):
            span = os.path.realpath(os.path.join(self.spans_dir, name))
            with open(os.path.join(span, "spantype"), "rb") as f:
                spantype = f.read().decode().strip()
            kind = next(k for k, v in XPD_TYPES.items() if v[0] == spantype)
            _replace(os.path.join(span, "lineconfig"), XPD_TYPES[kind][4].encode() + b"\n")
            configured.append(int(name[5:]))
        return sorted(configured)

    def _register(self, num: int) -> None:
        device = self.device_dir(num)
        os.makedirs(device)
        xpds = self.xpds(num)
        now = time.time_ns()
        for attr, value in (
            ("manufacturer", "Xorcom Inc."),
            ("type", "Astribank2"),
            ("span_count", str(len(xpds))),
            ("hardware_id", ""),
            ("location", self.read_attr(num, "connector").decode("utf-8", "surrogateescape").strip()
             if os.path.exists(os.path.join(self.node(num), "connector")) else ""),
            ("registration_time", f"{now // 10**9:010d}.{now % 10**9:09d}"),
            ("spantype", "".join(f"{i}:{XPD_TYPES[t][0]}\n" for i, (_, t) in enumerate(xpds, 1)).rstrip("\n")),
            ("auto_assign", ""),
            ("assign_span", ""),
            ("unassign_span", ""),
        ):
            _replace(os.path.join(device, attr), value.encode("utf-8", "surrogateescape") + (b"\n" if value else b""))
        if self._auto_assign():
            for local in range(1, len(xpds) + 1):
                self._assign(num, local, 0, 0)
        # Shown last, as the kernel's registration is done when the write returns: a reader that
        # sees the device sees its spans too.
        os.symlink(os.path.relpath(device, self.dahdi_devices_dir), os.path.join(self.dahdi_devices_dir, os.path.basename(device)))

    def _auto_assign(self) -> bool:
        with open(self._auto_assign_path, "rb") as f:
            return f.read().strip() == b"1"

    def _unregister(self, num: int) -> None:
        device = self.device_dir(num)
        if not os.path.isdir(device):
            return
        for local in range(1, len(self.xpds(num)) + 1):
            self._unassign(num, local)
        os.unlink(os.path.join(self.dahdi_devices_dir, os.path.basename(device)))
        shutil.rmtree(device)

    def _device_writes(self, num: int) -> list[str]:
        """``assign_span`` (``%u:%u:%u``), ``unassign_span`` (``%u``), ``auto_assign``: consumed like a write."""
        device = self.device_dir(num)
        done = []
        for attr in ("unassign_span", "assign_span", "auto_assign"):
            path = os.path.join(device, attr)
            with open(path, "rb") as f:
                written = f.read().decode("ascii", "replace").strip()
            if not written:
                continue
            _replace(path, b"")
            fields = written.split(":")
            if attr == "auto_assign":
                for local in range(1, len(self.xpds(num)) + 1):
                    self._assign(num, local, 0, 0)
                done.append(f"XBUS-{num:02d}: auto_assign")
            elif attr == "assign_span" and len(fields) == 3 and all(f.isdigit() for f in fields):
                local, spanno, basechan = map(int, fields)
                if spanno and not basechan:
                    continue  # "Must set span number AND base chan number"
                number = self._assign(num, local, spanno, basechan)
                done.append(f"XBUS-{num:02d}: local span {local} " + (f"assigned span {number}" if number else f"not assigned ({written} refused)"))
            elif attr == "unassign_span" and written.isdigit():
                self._unassign(num, int(written))
                done.append(f"XBUS-{num:02d}: local span {written} unassigned")
        return done

    def _assigned(self) -> dict[int, tuple[int, int]]:
        """Assigned span number -> (basechan, channels)."""
        out = {}
        for name in os.listdir(self.spans_dir):
            span = os.path.join(self.spans_dir, name)
            with open(os.path.join(span, "basechan"), "rb") as f:
                base = int(f.read())
            with open(os.path.join(span, "channels"), "rb") as f:
                out[int(name[5:])] = (base, int(f.read()))
        return out

    def _assign(self, num: int, local: int, spanno: int, basechan: int) -> int:
        """dahdi_assign_span: the lowest free span number and the first free channels unless given; 0 when refused."""
        xpds = self.xpds(num)
        if not 1 <= local <= len(xpds):
            return 0
        xpd, kind = xpds[local - 1]
        if int(self.read_attr(num, f"{xpd}/span")):
            return 0  # already assigned
        spantype, digital, channels, linecompat, _ = XPD_TYPES[kind]
        taken = self._assigned()
        used = {c for base, count in taken.values() for c in range(base, base + count)}
        if spanno:
            if spanno in taken or any(c in used for c in range(basechan, basechan + channels)):
                return 0
        else:
            spanno = next(n for n in range(1, len(taken) + 2) if n not in taken)
            basechan = next(b for b in range(1, len(used) + 2) if not any(c in used for c in range(b, b + channels)))
        span = os.path.join(self.device_dir(num), f"span-{spanno}")
        os.makedirs(span)
        for attr, value in (
            ("name", f"XBUS-{num:02d}/XPD-{xpd.split(':')[1]}0"),
            ("desc", f"Astribank XPD {xpd}: {kind}"),
            ("spantype", spantype),
            ("local_spanno", str(local)),
            ("alarms", "0x0"),
            ("lbo", "0"),
            ("syncsrc", "0"),
            ("is_digital", "1" if digital else "0"),
            ("is_sync_master", "0"),
            ("basechan", str(basechan)),
            ("channels", str(channels)),
            ("lineconfig", ""),
            ("linecompat", linecompat),
        ):
            _replace(os.path.join(span, attr), value.encode() + b"\n")
        os.symlink(f"../../{os.path.basename(self.device_dir(num))}", os.path.join(span, "ddev"))  # as sysfs links it
        os.symlink(os.path.relpath(span, self.spans_dir), os.path.join(self.spans_dir, f"span-{spanno}"))
        self.write_attr(num, f"{xpd}/span", str(spanno))
        return spanno

    def _unassign(self, num: int, local: int) -> None:
        xpds = self.xpds(num)
        if not 1 <= local <= len(xpds):
            return
        xpd = xpds[local - 1][0]
        spanno = int(self.read_attr(num, f"{xpd}/span"))
        if not spanno:
            return
        os.unlink(os.path.join(self.spans_dir, f"span-{spanno}"))
        shutil.rmtree(os.path.join(self.device_dir(num), f"span-{spanno}"))
        self.write_attr(num, f"{xpd}/span", "0")


class WriteWatch:
    """Wakes a driver loop as soon as a program writes into a fake sysfs (inotify, ``IN_CLOSE_WRITE``).

    The kernel acts on a sysfs write within the write itself (a DAHDI
    registration, a span assignment); a loop that only looked every few
    milliseconds would add up to that much to every such write, a delay of the
    stand-in that the real driver does not have. :meth:`wait` returns when a
    watched directory saw a write, or after ``timeout``. Without inotify (or
    ctypes) it just sleeps.
    """

    _IN_CLOSE_WRITE = 0x8
    _IN_NONBLOCK = 0o4000
    _IN_CLOEXEC = 0o2000000

    def __init__(self) -> None:
        self.fd = -1
        try:
            import ctypes

            self._libc = ctypes.CDLL(None, use_errno=True)
            self.fd = self._libc.inotify_init1(self._IN_NONBLOCK | self._IN_CLOEXEC)
        except (OSError, AttributeError):
            self.fd = -1

    def watch(self, directory: str) -> None:
        """Watch ``directory`` (again: a watch ends with its directory; adding an existing one is a no-op)."""
        if self.fd >= 0:
            self._libc.inotify_add_watch(self.fd, os.fsencode(directory), self._IN_CLOSE_WRITE)

    def wait(self, timeout: float) -> bool:
        """Whether a watched directory saw a write (always True without inotify: then anything may have been)."""
        if self.fd < 0:
            time.sleep(timeout)
            return True
        import select

        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                while os.read(self.fd, 65536):
                    pass
            except BlockingIOError:
                pass
        return bool(ready)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _replace(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """``dahdi-cfg ROOT``: the fake tree's side of ``dahdi_cfg`` (for a stand-in ``dahdi_cfg`` program)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "dahdi-cfg":
        print("usage: python -m twinstar.standins.fakesysfs dahdi-cfg SYSFS_ROOT", file=sys.stderr)
        return 2
    FakeSysfs(args[1]).configure_spans()
    return 0


if __name__ == "__main__":
    sys.exit(main())
