"""Errors of the USB layer, all under :class:`twinstar.errors.UsbError` (exit 1) or
:class:`twinstar.errors.RefusedError` (exit 3 for a power refusal).

Each message starts with the unit (``usb:BBB/DDD``) it is about.
"""

from __future__ import annotations

from twinstar.errors import RefusedError, UsbError


class UsbProtocolError(UsbError):
    """A reply whose length, op, sequence or content is not what was expected."""


class UsbTimeoutError(UsbError):
    """The unit did not answer within the timeout."""


class UsbBusyError(UsbError):
    """Another program holds the unit's management interface."""


class UsbPermissionError(UsbError):
    """The USB device node may not be opened by this user."""


class UsbDisconnectedError(UsbError):
    """The unit went away during the command."""


class NoUnitError(UsbError):
    """No usable Astribank is connected to this host."""


class NotCapableError(UsbError):
    """The unit is not TwinStar-capable, so TwinStar operations cannot run on it."""

    def __init__(self, unit: str, note: str) -> None:
        super().__init__(f"{unit}: not TwinStar-capable: {note}")
        self.note = note


class NoPowerError(RefusedError):
    """The other port has no power: switching to it would leave the unit with no host."""


class LeaveTimeoutError(UsbError):
    """After a port switch the unit was still enumerated on this host."""
