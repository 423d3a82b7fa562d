"""DAHDI's side of the Astribanks in sysfs: the DAHDI devices and their spans.

Paths and formats are dahdi-linux's ``dahdi-sysfs.c`` (platform fact sheet,
section 10):

* ``<sysfs>/bus/dahdi_devices/devices/astribanks:xbus-NN/``: the DAHDI device of
  a registered xbus (``span_count``, ``registration_time`` ``%010lld.%09ld``, and
  the write-only ``assign_span``, ``local_span:spanno:basechan``);
* ``<sysfs>/bus/dahdi_spans/devices/span-N/``: an assigned span (``local_spanno``,
  ``alarms`` ``0x%x``, ``is_digital``, ``channels``, ``lineconfig``...) with the
  link ``ddev`` to its device.

Every attribute is read through the bounded reader
(:func:`twinstar.fastpath.safefile.read_regular`); an attribute that is
unreadable or not in the driver's format is a :class:`~twinstar.errors.SysfsError`
(bad input, exit 2) naming the path and what was found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from twinstar.errors import SysfsError
from twinstar.fastpath import safefile

DEVICES = "bus/dahdi_devices/devices"
SPANS = "bus/dahdi_spans/devices"
#: The dahdi module's parameter: 1 (its default) assigns spans at registration, 0 leaves that to user space.
AUTO_ASSIGN = "module/dahdi/parameters/auto_assign_spans"

#: ``include/dahdi/kernel.h``: the alarm bits of a span, by name.
ALARMS = {
    "RECOVER": 1 << 0,
    "LOOPBACK": 1 << 1,
    "YELLOW": 1 << 2,
    "RED": 1 << 3,
    "BLUE": 1 << 4,
    "NOTOPEN": 1 << 5,
    "LOS": 1 << 8,
    "LFA": 1 << 9,
    "LMFA": 1 << 10,
}
#: The alarms the takeover's gate waits out: the line is down (red, blue) or has no signal.
GATE_ALARMS = ALARMS["RED"] | ALARMS["BLUE"] | ALARMS["LOS"]


def alarm_names(mask: int) -> str:
    """``RED LOS`` for ``0x108``; bits without a name are shown in hex."""
    names = [name for name, bit in ALARMS.items() if mask & bit]
    rest = mask & ~sum(ALARMS.values())
    return " ".join(names + ([hex(rest)] if rest else [])) or "none"


@dataclass(frozen=True)
class Device:
    """A registered xbus as DAHDI shows it."""

    name: str  # astribanks:xbus-NN
    path: str
    span_count: int
    registration_time: str


@dataclass(frozen=True)
class Span:
    """One assigned span."""

    number: int
    path: str
    device: str  # the name of its DAHDI device (astribanks:xbus-NN)
    local: int
    name: str
    alarms: int
    digital: bool
    channels: int
    lineconfig: str

    @property
    def configured(self) -> bool:
        """dahdi_cfg has set a digital span's line (framing/coding); an analog span has no line settings to show."""
        return self.channels > 0 and (not self.digital or self.lineconfig != "")

    def __str__(self) -> str:
        return f"span {self.number} ({self.name})"


def device_name(unit_name: str) -> str:
    """The DAHDI device of xbus ``xbus-NN``: named after its parent's bus and name."""
    return f"astribanks:{unit_name}"


def device_path(sysfs_root: str, unit_name: str) -> str:
    return os.path.join(sysfs_root, DEVICES, device_name(unit_name))


def _attr(path: str) -> str:
    """An attribute without its trailing newline; SysfsError when it is missing or unreadable."""
    try:
        data = safefile.read_regular(path, safefile.ATTRIBUTE_LIMIT)
    except FileNotFoundError:
        raise SysfsError("missing", path=path) from None
    except safefile.FileRefused as exc:
        raise SysfsError(exc.reason, path=path) from None
    if data.endswith(b"\n"):
        data = data[:-1]
    return data.decode("utf-8", "surrogateescape")


def _shown(text: str) -> str:
    from twinstar.astribank.printable import shown

    return shown(text[:64])


def _decimal(path: str, *, flag: bool = False) -> int:
    text = _attr(path)
    if flag and text not in ("0", "1"):
        raise SysfsError(f"expected 0 or 1, found {_shown(text)}", path=path)
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise SysfsError(f"expected a number, found {_shown(text)}", path=path)
    return int(text)


def _alarms(path: str) -> int:
    """``alarms`` is ``0x%x``."""
    text = _attr(path)
    digits = text[2:]
    if not (text.startswith("0x") and digits and len(digits) <= 8 and all(c in "0123456789abcdef" for c in digits)):
        raise SysfsError(f"expected a hexadecimal alarm mask such as 0x0, found {_shown(text)}", path=path)
    return int(digits, 16)


def _registration_time(path: str) -> str:
    text = _attr(path)
    secs, dot, nanos = text.partition(".")
    if not (dot and secs.isascii() and secs.isdigit() and len(secs) >= 10 and nanos.isascii() and nanos.isdigit() and len(nanos) == 9):
        raise SysfsError(f"expected seconds.nanoseconds such as 0001733390000.000000000, found {_shown(text)}", path=path)
    return text


def read_device(sysfs_root: str, unit_name: str) -> Device | None:
    """The DAHDI device of xbus ``unit_name``; None while it is not registered."""
    path = device_path(sysfs_root, unit_name)
    if not os.path.isdir(path):
        return None
    return Device(
        device_name(unit_name),
        path,
        _decimal(os.path.join(path, "span_count")),
        _registration_time(os.path.join(path, "registration_time")),
    )


def read_span(path: str, number: int, device: str) -> Span:
    """Span ``number`` of DAHDI device ``device`` (its ``ddev``), read from its directory ``path``."""
    return Span(
        number=number,
        path=path,
        device=device,
        local=_decimal(os.path.join(path, "local_spanno")),
        name=_attr(os.path.join(path, "name")),
        alarms=_alarms(os.path.join(path, "alarms")),
        digital=_decimal(os.path.join(path, "is_digital"), flag=True) == 1,
        channels=_decimal(os.path.join(path, "channels")),
        lineconfig=_attr(os.path.join(path, "lineconfig")),
    )


def read_spans(sysfs_root: str, devices: set[str] | None = None) -> list[Span]:
    """Every assigned span (of ``devices`` only, when given), ordered by span number."""
    directory = os.path.join(sysfs_root, SPANS)
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise SysfsError(f"cannot list DAHDI spans: {exc.strerror}", path=directory) from None
    found: list[Span] = []
    for name in names:
        digits = name[5:]
        if not (name.startswith("span-") and digits.isascii() and digits.isdigit() and len(digits) <= 6):
            raise SysfsError(f"unexpected entry {_shown(name)}", path=directory)
        path = os.path.join(directory, name)
        link = os.path.join(path, "ddev")
        try:
            device = os.path.basename(os.readlink(link))
        except FileNotFoundError:
            continue  # unassigned since the directory was listed
        except OSError as exc:
            raise SysfsError(f"cannot read the link to its device: {exc.strerror}", path=link) from None
        if devices is None or device in devices:
            found.append(read_span(path, int(digits), device))
    return sorted(found, key=lambda s: s.number)


def auto_assign(sysfs_root: str) -> bool:
    """Whether DAHDI assigns spans at registration (``auto_assign_spans``; 1 when the parameter is not shown)."""
    path = os.path.join(sysfs_root, AUTO_ASSIGN)
    if not os.path.exists(path):
        return True
    return _decimal(path, flag=True) == 1


def write(path: str, value: str) -> None:
    """Write one attribute (``dahdi_registration``, ``assign_span``): one write, as echo does; OSError as raised."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)
