"""systemd's manager over the system bus: start or stop a unit and wait for its job; read its state.

What ``systemctl start``, ``stop`` and ``is-active`` do, over one D-Bus
connection (`jeepney`_, pure Python) instead of a process each: about 20 ms
less per service on a quiet machine, more within a failover
(docs/benchmarks.md).

A start or stop is ``StartUnit``/``StopUnit`` (mode ``replace``, as
systemctl's default), then the wait for the job's ``JobRemoved`` signal,
which carries its result (``done``, ``failed``, ``timeout``, ...). The
signal is subscribed to before the job is queued, so a job that ends at
once is not missed. A state is the unit's ``ActiveState``, read at the
unit's object path (the name escaped as sd-bus does), which systemd answers
for any name, loaded or not (``inactive`` for a unit that does not exist),
as ``systemctl is-active`` does.

Every send and receive has a deadline. :class:`BusUnavailable` means that
nothing was asked of systemd (no system bus, or no systemd on it): the
caller drives ``systemctl`` instead. :class:`JobLost` means that the job
was queued and the connection failed before its end (the D-Bus daemon
restarted, as during its package's upgrade): the job goes on in systemd,
and the caller reads the unit's state instead.

.. _jeepney: https://jeepney.readthedocs.io/
"""

from __future__ import annotations

import select
import socket
import time
from string import ascii_letters as ASCII_LETTERS
from string import digits as DIGITS
from typing import Any

# jeepney ships no type information.
from jeepney import DBusAddress, HeaderFields, MessageFlag, MessageType, Parser, new_method_call  # type: ignore[import-untyped]
from jeepney.bus import get_bus  # type: ignore[import-untyped]
from jeepney.bus_messages import MatchRule, message_bus  # type: ignore[import-untyped]
from jeepney.io.blocking import prep_socket  # type: ignore[import-untyped]
from jeepney.wrappers import Properties  # type: ignore[import-untyped]

SYSTEMD = "org.freedesktop.systemd1"
MANAGER = DBusAddress("/org/freedesktop/systemd1", bus_name=SYSTEMD, interface=f"{SYSTEMD}.Manager")
UNIT_PATH = "/org/freedesktop/systemd1/unit/"
#: D-Bus errors meaning that systemd is not on the bus (nothing was asked of it): a call to systemd answered
#: so raises BusUnavailable. Calls to systemd carry NO_AUTO_START: a bus without systemd answers
#: ServiceUnknown instead of starting its stand-in.
NOT_THERE = frozenset({"org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner"})


class BusError(Exception):
    """A D-Bus call failed: systemd's answer or the bus's."""

    def __init__(self, message: str, *, name: str = "") -> None:
        super().__init__(message)
        self.name = name


class BusUnavailable(BusError):
    """systemd cannot be reached on the system bus; nothing was asked of it."""


class JobLost(BusError):
    """The job was queued, then the connection failed before its end: the job goes on in systemd."""


def unit_path(unit: str) -> str:
    """The unit's object path (pure): sd-bus's label escape, ``_`` and two hex digits for all but ASCII letters
    and digits (and for a leading digit)."""
    escaped = []
    for i, byte in enumerate(unit.encode()):
        char = chr(byte)
        if char in ASCII_LETTERS or (char in DIGITS and i > 0):
            escaped.append(char)
        else:
            escaped.append(f"_{byte:02x}")
    return UNIT_PATH + "".join(escaped)


class SystemdBus:
    """One authenticated connection to the system bus, for calls to systemd's manager."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._parser = Parser()
        self._serial = 0
        self._signals: list[Any] = []  # jeepney Messages that came while a call waited for its reply

    @classmethod
    def connect(cls, timeout: float, *, address: str = "SYSTEM") -> SystemdBus:
        """Connect to the bus at ``address`` (a D-Bus address; the system bus by default), authenticate and say
        Hello within ``timeout`` seconds; BusUnavailable when that fails."""
        try:
            sock = prep_socket(get_bus(address), timeout=timeout)
        except (OSError, ValueError, RuntimeError) as exc:  # no socket, refused, timed out, authentication refused
            raise BusUnavailable(f"cannot connect to the system bus: {exc}") from None
        bus = cls(sock)
        try:
            bus.call(new_method_call(message_bus, "Hello"), timeout)
        except (BusError, TimeoutError) as exc:
            bus.close()
            said = str(exc) or f"no answer within {timeout:g} s"  # a TimeoutError says nothing itself
            raise BusUnavailable(f"the system bus did not greet: {said}") from None
        return bus

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> SystemdBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- systemd -------------------------------------------------------------------------

    def active_state(self, unit: str, timeout: float) -> str:
        """The unit's ActiveState (``inactive`` for a unit that does not exist)."""
        props = Properties(DBusAddress(unit_path(unit), bus_name=SYSTEMD, interface=f"{SYSTEMD}.Unit"))
        (variant,) = self.call(props.get("ActiveState"), timeout)
        signature, value = variant
        if signature != "s" or not isinstance(value, str):
            raise BusError(f"systemd answered ActiveState of {unit} with a {signature!r} value")
        return value

    def run_job(self, method: str, unit: str, timeout: float) -> str:
        """``StartUnit`` or ``StopUnit`` (mode ``replace``), then the job's result; TimeoutError when it has not
        ended within ``timeout`` seconds (the job goes on in systemd, as after systemctl's own timeout)."""
        deadline = time.monotonic() + timeout
        rule = MatchRule(type="signal", sender=SYSTEMD, interface=MANAGER.interface, member="JobRemoved", path=MANAGER.object_path)
        rule.add_arg_condition(2, unit)
        self.call(message_bus.AddMatch(rule), timeout)
        self.call(new_method_call(MANAGER, "Subscribe"), _left(deadline))  # systemd sends job signals only then
        (job,) = self.call(new_method_call(MANAGER, method, "ss", (unit, "replace")), _left(deadline))
        try:
            while True:
                while self._signals:  # the end may have come while a call waited for its reply
                    signal = self._signals.pop(0)
                    if signal.header.fields.get(HeaderFields.member) == "JobRemoved" and len(signal.body) == 4 and signal.body[1] == job:
                        return str(signal.body[3])
                self._signals.append(self._receive(deadline))
        except BusError as exc:
            raise JobLost(f"lost the system bus while waiting for the {method} job of {unit}: {exc}") from None

    # -- the wire ------------------------------------------------------------------------

    def call(self, message: Any, timeout: float) -> tuple[Any, ...]:
        """Send a method call and return its reply's body; BusError for an error reply (BusUnavailable when
        systemd is not on the bus), TimeoutError without one."""
        deadline = time.monotonic() + timeout
        self._serial += 1
        serial = self._serial
        if message.header.fields.get(HeaderFields.destination) == SYSTEMD:
            message.header.flags |= MessageFlag.no_auto_start
        try:
            self._sock.sendall(message.serialise(serial=serial))
        except OSError as exc:
            raise BusError(f"cannot send to the system bus: {exc}") from None
        while True:
            reply = self._receive(deadline)
            if reply.header.fields.get(HeaderFields.reply_serial) != serial:
                if reply.header.message_type is MessageType.signal:
                    self._signals.append(reply)
                continue
            if reply.header.message_type is MessageType.error:
                name = str(reply.header.fields.get(HeaderFields.error_name, ""))
                said = reply.body[0] if reply.body and isinstance(reply.body[0], str) else name
                if name in NOT_THERE:
                    raise BusUnavailable(f"systemd is not on the system bus: {said}", name=name)
                raise BusError(said, name=name)
            return tuple(reply.body)

    def _receive(self, deadline: float) -> Any:
        while True:
            message = self._parser.get_next_message()
            if message is not None:
                return message
            ready, _, _ = select.select([self._sock], [], [], _left(deadline))
            if not ready:
                raise TimeoutError
            try:
                data = self._sock.recv(65536)
            except OSError as exc:
                raise BusError(f"cannot read from the system bus: {exc}") from None
            if not data:
                raise BusError("the system bus closed the connection")
            self._parser.add_data(data)


def _left(deadline: float) -> float:
    """Seconds until ``deadline`` (monotonic); TimeoutError when none are left."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left
