"""Read the xbus devices of the xpp driver under ``<sysfs>/bus/astribanks/devices``.

One :class:`Unit` per ``xbus-NN`` entry, with the attributes in the exact
formats of the platform fact sheet (section 4). Readers are strict: an
attribute that is unreadable or holds something unexpected (``xbus_state``
that is not ``NAME (n)`` with the driver's numbering, an unknown ``status``,
a non-numeric ``busnum``) becomes a *problem* of that unit, never a crash,
and the other units are still read. A missing ``label``, ``connector`` or
``transport`` is normal: the ``add`` event comes before they exist.

Values are exact strings (one trailing newline removed, bytes decoded as
UTF-8 with ``surrogateescape``); nothing here interprets them.
"""

import _stat
import posix

from twinstar.fastpath import safefile

#: ``xbus_state`` names, indexed by the number the driver prints beside them.
STATES = ("START", "IDLE", "SENT_REQUEST", "RECVD_DESC", "READY", "DEACTIVATING", "DEACTIVATED", "FAIL")
READY = "READY"
#: States after ``offline``: the unit is going away and comes back only as a new ``add``.
LEAVING_STATES = frozenset(("DEACTIVATING", "DEACTIVATED", "FAIL"))
STATUSES = frozenset(("connected", "missing", "disconnected"))

DEVICES = "bus/astribanks/devices"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from twinstar.astribank.xpporder import Entry

#: The labels and the connectors a node's ``xpp_order`` lists (:func:`listed_in`).
Listed = tuple[frozenset[str], frozenset[str]]


class _Bad(Exception):
    """An attribute that cannot be used; becomes a problem of its unit."""


class Unit:
    """One xbus device as read from sysfs."""

    __slots__ = ("name", "num", "path", "label", "connector", "state", "status", "busnum", "devnum", "problems")

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = path
        self.num: int | None = None
        self.label: str | None = None
        self.connector: str | None = None
        self.state: str | None = None
        self.status: str | None = None
        self.busnum: int | None = None
        self.devnum: int | None = None
        self.problems: list[str] = []

    @property
    def xbus(self) -> str:
        """The driver's name for the bus, as in uevents (``XBUS-03``)."""
        return self.name.upper()

    @property
    def ready(self) -> bool:
        return self.state == READY and self.status == "connected" and not self.problems

    @property
    def leaving(self) -> bool:
        return self.state in LEAVING_STATES

    def error(self) -> Exception:
        """The unit's problems as one :class:`~twinstar.errors.SysfsError`."""
        from twinstar.errors import SysfsError

        return SysfsError("; ".join(self.problems) or "no problem", path=self.path)

    def __repr__(self) -> str:
        return f"<Unit {self.name} label={self.label!r} connector={self.connector!r} {self.state} {self.status}>"


def listed_in(entries: "Iterable[Entry]") -> Listed:
    """The labels and the connectors ``entries`` (of ``xpp_order``) list, for :func:`scan`."""
    labels: list[str] = []
    connectors: list[str] = []
    for entry in entries:
        (connectors if entry.kind == "connector" else labels).append(entry.value)
    return frozenset(labels), frozenset(connectors)


def devices_dir(sysfs_root: str) -> str:
    if sysfs_root and not sysfs_root.endswith("/"):
        return f"{sysfs_root}/{DEVICES}"
    return sysfs_root + DEVICES  # as os.path.join: no second slash, and "" stays relative


#: How an attribute is opened: never through a link, never blocking, never as a terminal.
_OPEN = posix.O_RDONLY | posix.O_CLOEXEC | posix.O_NONBLOCK | posix.O_NOCTTY | posix.O_NOFOLLOW
#: The first read of an attribute: the driver's values are a line of a few bytes.
_FIRST_READ = 128
_REGULAR = _stat.S_IFREG


def _read(path: str) -> str | None:
    """An attribute's value without its trailing newline; None when it does not exist.

    A sysfs attribute is a regular file of at most a page, in the real sysfs as in
    the fake one: anything else (a directory, a FIFO, a device, a link) is a problem
    of the unit, said by :func:`~twinstar.fastpath.safefile.read_regular`
    (:func:`_read_checked`), and never opened. Here, for the hook's cost per unit,
    the same outcome with less work: one look at the entry, then one read of
    :data:`_FIRST_READ` bytes (never through a link, never blocking, never as a
    terminal); a read that returns less than it asked for has reached the end of the
    file, and a longer value goes the checked way (which reads at most a page and a byte).
    """
    try:
        if posix.lstat(path).st_mode & 0o170000 != _REGULAR:
            return _read_checked(path)
        fd = posix.open(path, _OPEN)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return _read_checked(path)
    try:
        data = posix.read(fd, _FIRST_READ)
    except OSError:
        data = None
    finally:
        posix.close(fd)
    if data is None or len(data) == _FIRST_READ:
        return _read_checked(path)
    return data.removesuffix(b"\n").decode("utf-8", "surrogateescape")


def _read_checked(path: str) -> str | None:
    """:func:`_read` through ``read_regular``: the same value, or the reason it cannot be used."""
    try:
        data = safefile.read_regular(path, safefile.ATTRIBUTE_LIMIT)
    except FileNotFoundError:
        return None
    except safefile.FileRefused as exc:
        raise _Bad(exc.reason) from None
    return data.removesuffix(b"\n").decode("utf-8", "surrogateescape")


#: ``xbus_state`` as the driver writes each state (``READY (4)``), for a one-look :func:`parse_state`.
_STATE_TEXTS = {f"{name} ({number})": name for number, name in enumerate(STATES)}


def parse_state(text: str) -> str:
    """The state name from ``NAME (n)``, checked against the driver's numbering."""
    known = _STATE_TEXTS.get(text)
    if known is not None:
        return known
    name, sep, rest = text.rpartition(" (")
    if sep and rest.endswith(")") and rest[:-1].isdigit() and rest[:-1].isascii():
        number = int(rest[:-1])
        if number < len(STATES) and STATES[number] == name:
            return name
    raise _Bad(f"expected 'NAME (n)' such as 'READY (4)', found {_show(text)}")


def _show(text: str) -> str:
    from twinstar.astribank.printable import shown

    return shown(text[:64])


def _number(path: str) -> int | None:
    text = _read(path)
    if text is None:
        return None
    if not (text.isdigit() and text.isascii() and len(text) <= 4):
        raise _Bad(f"expected a number, found {_show(text)}")
    return int(text)


def read_unit(directory: str, name: str, *, transport: bool = True, listed: "Listed | None" = None) -> "Unit":
    """Read one ``xbus-NN`` entry of ``directory``; problems are collected, not raised.

    With ``listed`` (the labels and connectors that ``xpp_order`` lists), a
    unit that has an identity (a label or connector) matching none of them
    is read only that far: nothing needs its state. When ``xpp_order`` lists
    no connector, a unit's connector decides nothing and is not read either
    once its label is known (listed or not).
    """
    base = f"{directory}/{name}"
    unit = Unit(name, base)
    digits = name[5:]
    if digits.isdigit() and digits.isascii() and len(digits) <= 3 and name.startswith("xbus-"):
        unit.num = int(digits)
    else:
        unit.problems.append(f"unexpected device name {_show(name)}")
    try:
        label = unit.label = _read(base + "/label")
    except _Bad as exc:
        label = None
        unit.problems.append(f"label: {exc}")
    if listed is not None and label and not listed[1]:
        if label not in listed[0]:
            return unit  # unlisted, told apart by its label: the connector would not match anything either
    else:
        try:
            unit.connector = _read(base + "/connector")
        except _Bad as exc:
            unit.problems.append(f"connector: {exc}")
        if listed is not None and (label or unit.connector) and label not in listed[0] and unit.connector not in listed[1]:
            return unit
    try:
        value = _read(base + "/xbus_state")
        if value is None:
            unit.problems.append("xbus_state: missing")
        else:
            unit.state = parse_state(value)
    except _Bad as exc:
        unit.problems.append(f"xbus_state: {exc}")
    try:
        value = _read(base + "/status")
        if value is None:
            unit.problems.append("status: missing")
        elif value in STATUSES:
            unit.status = value
        else:
            raise _Bad(f"expected connected or missing, found {_show(value)}")
    except _Bad as exc:
        unit.problems.append(f"status: {exc}")
    if transport:
        for attr in ("busnum", "devnum"):
            try:
                setattr(unit, attr, _number(f"{base}/transport/{attr}"))
            except _Bad as exc:
                unit.problems.append(f"transport/{attr}: {exc}")
    return unit


def scan(sysfs_root: str, *, transport: bool = False, listed: "Listed | None" = None) -> "list[Unit]":
    """Every xbus device under ``sysfs_root``, ordered by bus number.

    No ``bus/astribanks`` directory means the xpp driver is not loaded: no units.
    ``transport`` also reads each unit's USB bus and device numbers. ``listed``
    (the labels and connectors of ``xpp_order``, :func:`listed_in`) leaves
    the state, status and transport of the units it does not list unread: the
    hook, among many unlisted units, reads only what decides (:func:`read_unit`).
    """
    directory = devices_dir(sysfs_root)
    try:
        names = posix.listdir(directory)
    except FileNotFoundError:
        return []
    except OSError as exc:
        from twinstar.errors import SysfsError

        raise SysfsError(f"cannot list Astribank devices: {exc.strerror}", path=directory) from None
    units = [read_unit(directory, n, transport=transport, listed=listed) for n in names if n.startswith("xbus")]
    units.sort(key=lambda u: (u.num is None, u.num or 0, u.name))
    return units


def find(sysfs_root: str, xbus_name: str, *, transport: bool = True) -> "Unit | None":
    """The unit named ``XBUS-NN`` (as in a uevent), or None when it is not there."""
    name = xbus_name.lower()
    if not name.startswith("xbus-") or "/" in name or name in ("xbus-.", "xbus-.."):
        return None
    directory = devices_dir(sysfs_root)
    try:
        if not _stat.S_ISDIR(posix.stat(f"{directory}/{name}").st_mode):
            return None
    except (OSError, ValueError):
        return None
    return read_unit(directory, name, transport=transport)
