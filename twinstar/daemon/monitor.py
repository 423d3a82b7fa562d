"""Astribank uevents for the daemon, from a pyudev netlink monitor.

The daemon loop needs only :class:`EventSource`: a file descriptor to wait on
and ``poll(timeout)`` returning one :class:`Uevent` or None, in the style of
``pyudev.Monitor.poll``. :class:`UdevMonitor` is the real one; tests feed
events through any object with the same two methods on a real descriptor.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from twinstar.errors import TwinstarError

log = logging.getLogger("twinstar.monitor")

SUBSYSTEM = "astribanks"

#: Room for a burst of events (64 units x 4 actions, with their properties)
#: while a takeover keeps the loop busy. Needs CAP_NET_ADMIN beyond rmem_max.
RECEIVE_BUFFER = 4 * 1024 * 1024


class MonitorError(TwinstarError):
    """The event source failed: events may have been lost."""


class Source(StrEnum):
    """Which netlink group to listen to."""

    UDEV = "udev"  # after udevd has processed the event (the usual choice)
    KERNEL = "kernel"  # straight from the kernel; works without udevd


@dataclass(frozen=True)
class Uevent:
    """One device event: what the hook reads from udev's environment.

    ``arrived``: when it arrived, on the boot clock
    (:func:`twinstar.fastpath.procid.boottime`), as its reader knows it: the last moment
    the source was seen empty before the event was read. None: not known, the
    time it is decided stands in.
    """

    action: str
    devpath: str
    _: KW_ONLY
    properties: Mapping[str, str] = field(default_factory=dict)
    arrived: float | None = None

    @property
    def environ(self) -> dict[str, str]:
        """The event as the hook would see it in its environment."""
        env = dict(self.properties)
        env["ACTION"] = self.action
        env["DEVPATH"] = self.devpath
        return env

    def describe(self) -> str:
        name = self.properties.get("XBUS_NAME") or os.path.basename(self.devpath) or "?"
        return f"{self.action or '?'} {name}"


class EventSource(Protocol):
    """What the daemon loop waits on."""

    def fileno(self) -> int: ...

    def poll(self, timeout: float | None = None) -> Uevent | None:
        """The next event; None when none arrived within ``timeout`` seconds.

        Raises :class:`MonitorError` when the source failed.
        """
        ...

    def close(self) -> None: ...


def default_source(udev_control: str = "/run/udev/control") -> Source:
    """``udev`` when udevd runs (its control socket exists), else ``kernel``."""
    return Source.UDEV if os.path.exists(udev_control) else Source.KERNEL


class UdevMonitor:
    """A pyudev netlink monitor filtered on one subsystem."""

    def __init__(self, monitor: Any) -> None:
        self._monitor = monitor

    @classmethod
    def open(cls, *, subsystem: str = SUBSYSTEM, source: Source | None = None) -> UdevMonitor:
        # Only the daemon pays for importing it; pyudev ships no type information.
        import pyudev  # type: ignore[import-untyped]

        source = source or default_source()
        try:
            monitor = pyudev.Monitor.from_netlink(pyudev.Context(), source=source.value)
            monitor.filter_by(subsystem)
            try:
                monitor.set_receive_buffer_size(RECEIVE_BUFFER)
            except OSError as exc:
                log.debug("keeping the default netlink receive buffer: %s", exc)
            monitor.start()
        except (OSError, ValueError) as exc:
            raise MonitorError(f"cannot open the {source.value} netlink monitor for {subsystem}: {exc}") from None
        log.info("listening for %s uevents (%s netlink)", subsystem, source.value)
        return cls(monitor)

    def fileno(self) -> int:
        return int(self._monitor.fileno())

    def poll(self, timeout: float | None = None) -> Uevent | None:
        try:
            device = self._monitor.poll(timeout=timeout)
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                raise MonitorError("uevents were lost: the netlink receive buffer overflowed") from None
            raise MonitorError(f"receiving a uevent failed: {exc}") from None
        if device is None:
            return None
        properties = {str(k): str(v) for k, v in device.properties.items()}
        return Uevent(
            action=str(device.action or ""),
            devpath=str(device.device_path or ""),
            properties=properties,
        )

    def close(self) -> None:
        # pyudev frees the libudev monitor (and closes its socket) with the object.
        self._monitor = _Closed()


class _Closed:
    def fileno(self) -> int:
        raise MonitorError("monitor is closed")

    def poll(self, timeout: float | None = None) -> None:
        raise MonitorError("monitor is closed")

