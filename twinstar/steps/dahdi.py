"""The ``dahdi`` step: what ``dahdi start`` does for the listed Astribanks, without its sleeps.

apply, unit by unit in ``xpp_order`` order (the order decides span numbers):

1. **register**: write ``1`` to the unit's ``dahdi_registration`` unless it is
   registered already (xpp ``dahdi_autoreg``, or DAHDI's init script at boot);
   the kernel creates the DAHDI device ``astribanks:xbus-NN`` before the write
   returns. Registered units whose spans do not follow ``xpp_order`` are
   unregistered first, so they are registered again in order.
2. **assign**: with ``auto_assign_spans=0`` the spans appear only when assigned:
   each unassigned local span is written to the device's ``assign_span``
   (``local:0:0``, the next free span and channel numbers), or the configured
   ``span_assignments`` program (``dahdi_span_assignments add``) is run with
   the device path. With ``auto_assign_spans=1`` they were assigned at registration.

then **dahdi_cfg** always runs (a registered unit is not a configured one), and
the registration time of each unit's DAHDI device is recorded in
``state_dir/dahdi.configured``. A waited-for change (a device, a span) is
read again every :data:`POLL` seconds until the step's ``timeout``; the
kernel makes it at once, so a real takeover reads it on the first look.

check (and verify, which reads it back): every listed unit present,
registered, all its spans (``span_count``) assigned and configured, span
numbers in ``xpp_order`` order, and the record naming the current
registration of each device (a unit registered again since, by the driver or
an operator, has not been configured by twinstar). verify then applies the
gate when ``alarm_gate`` is set: it waits up to ``alarm_timeout`` for every
span to be out of red, blue and LOS alarms, and fails the takeover otherwise.

release_probe: any listed unit still registered, or the record. undo forgets
the record and unregisters the listed units still present (the kernel removes
their spans), last first. Errors name the unit and the ``xpp_order`` entry;
sysfs contents not in the driver's format are bad input (exit 2 when found
before the takeover began, see :meth:`DahdiStep.check_inputs`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from itertools import pairwise

from twinstar.astribank import readiness, spans, sysfs, xpporder
from twinstar.astribank.printable import shown
from twinstar.engine.statedir import create_marker, marker_exists
from twinstar.errors import StateError, StepError, SysfsError, TwinstarError
from twinstar.fastpath import safefile
from twinstar.schema import MIN_INTERVAL
from twinstar.steps.base import Probe, Step, StepContext
from twinstar.steps.dahdi_spec import DahdiSpec

ATTR = "dahdi_registration"
#: How often a wait for the driver reads sysfs again (seconds): first after POLL_START, then
#: twice as long each time up to POLL (the driver mostly answers a write within milliseconds;
#: a sysfs read costs microseconds).
POLL_START = 0.005
POLL = MIN_INTERVAL
RECORD = "dahdi.configured"
#: The largest record read back (one line per unit).
RECORD_LIMIT = 64 * 1024


class DahdiStep(Step):
    kind = "dahdi"
    check_at_start = True

    def __init__(self, spec: DahdiSpec, ctx: StepContext) -> None:
        super().__init__(spec.name, spec.timeout, ctx)
        self.spec = spec

    @property
    def _root(self) -> str:
        return self.ctx.config.astribanks.sysfs

    @property
    def _record_path(self) -> str:
        return os.path.join(self.ctx.config.state_dir, RECORD)

    def programs(self) -> tuple[str, ...]:
        extra = (self.spec.span_assignments[0],) if self.spec.span_assignments else ()
        return (self.spec.dahdi_cfg[0], *extra)

    def check_inputs(self) -> None:
        """A malformed or missing ``xpp_order``, or DAHDI sysfs contents of a listed unit that are
        not in the driver's format, are bad input: exit 2 before any step runs."""
        order = xpporder.load(self.ctx.config.astribanks.xpp_order)
        units = [i.unit for i in readiness.compute(order.entries, sysfs.scan(self._root)).listed if i.unit is not None]
        for unit in units:
            spans.read_device(self._root, unit.name)
        spans.read_spans(self._root, {spans.device_name(u.name) for u in units})

    # -- reading ---------------------------------------------------------------------------

    def _listed(self) -> list[readiness.Listed]:
        astribanks = self.ctx.config.astribanks
        try:
            order = xpporder.load(astribanks.xpp_order)
        except TwinstarError as exc:
            raise StepError(self.name, str(exc)) from None
        return list(readiness.compute(order.entries, sysfs.scan(self._root)).listed)

    @staticmethod
    def _who(item: readiness.Listed) -> str:
        where = f"{item.unit.name}, " if item.unit is not None else ""
        return f"unit {shown(item.entry.text)} ({where}xpp_order line {item.entry.line})"

    def _registered(self, item: readiness.Listed) -> bool:
        assert item.unit is not None
        path = os.path.join(item.unit.path, ATTR)
        try:
            value = safefile.read_regular(path, safefile.ATTRIBUTE_LIMIT).strip()
        except FileNotFoundError:
            raise StepError(self.name, f"{self._who(item)}: {path} is missing") from None
        except safefile.FileRefused as exc:
            raise StepError(self.name, f"{self._who(item)}: {path} {exc.reason}") from None
        if value not in (b"0", b"1"):
            raise StepError(self.name, f"{self._who(item)}: {path} holds {value!r}, expected 0 or 1")
        return value == b"1"

    def _device(self, item: readiness.Listed) -> spans.Device | None:
        assert item.unit is not None
        return spans.read_device(self._root, item.unit.name)

    def _unregistered(self, item: readiness.Listed) -> bool:
        """Its DAHDI device is gone. One that vanishes while being read (the driver removes it then) is gone;
        one still there that cannot be read is an error."""
        assert item.unit is not None
        try:
            return self._device(item) is None
        except SysfsError:
            if os.path.isdir(spans.device_path(self._root, item.unit.name)):
                raise
            return True

    def _spans(self, listed: list[readiness.Listed]) -> list[spans.Span]:
        return spans.read_spans(self._root, {spans.device_name(i.unit.name) for i in listed if i.unit is not None})

    def _write(self, item: readiness.Listed, path: str, value: str, what: str) -> None:
        try:
            spans.write(path, value)
        except OSError as exc:
            raise StepError(self.name, f"{self._who(item)}: cannot {what} ({path}): {exc.strerror}") from None

    def _register(self, item: readiness.Listed, on: bool) -> None:
        assert item.unit is not None
        self._write(item, os.path.join(item.unit.path, ATTR), "1" if on else "0", "register" if on else "unregister")
        self.ctx.log.info("%s: %s %s", self.name, "registered" if on else "unregistered", self._who(item))

    def _await(self, what: str, done: Callable[[], bool]) -> None:
        """Read again every POLL seconds until ``done()``; StepError naming ``what`` after the step's timeout."""
        deadline = self.ctx.monotonic() + self.timeout
        delay = POLL_START
        while not done():
            if self.ctx.monotonic() >= deadline:
                raise StepError(self.name, f"{what} did not happen within {self.timeout:g} s")
            self.ctx.sleep(delay)
            delay = min(delay * 2, POLL)

    # -- the record of what dahdi_cfg configured --------------------------------------------

    @staticmethod
    def _registrations(devices: list[spans.Device]) -> bytes:
        return "".join(f"{d.name} {d.registration_time}\n" for d in devices).encode()

    def _recorded(self) -> bytes | None:
        try:
            if not marker_exists(self._record_path):
                return None
            return safefile.read_regular(self._record_path, RECORD_LIMIT)
        except FileNotFoundError:
            return None
        except (StateError, safefile.FileRefused) as exc:
            raise StepError(self.name, str(exc)) from None

    def _forget(self) -> None:
        try:
            os.unlink(self._record_path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StepError(self.name, f"cannot remove {self._record_path}: {exc.strerror}") from None

    def _record(self, devices: list[spans.Device]) -> None:
        self._forget()
        try:
            create_marker(self._record_path, self._registrations(devices))
        except StateError as exc:
            raise StepError(self.name, str(exc)) from None

    # -- what is up --------------------------------------------------------------------------

    def _order_problem(self, listed: list[readiness.Listed], found: list[spans.Span]) -> str | None:
        """Why the spans' numbers do not follow ``xpp_order`` (unit by unit, local spans in order); None when they do."""
        rank = {spans.device_name(i.unit.name): n for n, i in enumerate(listed) if i.unit is not None}
        for earlier, later in pairwise(found):
            if (rank[later.device], later.local) < (rank[earlier.device], earlier.local):
                return f"span numbers do not follow xpp_order: {earlier} of {earlier.device} comes before {later} of {later.device}"
        return None

    def _problems(self, listed: list[readiness.Listed]) -> tuple[list[str], list[spans.Device]]:
        """What keeps the step from being up (empty when it is), and the listed units' DAHDI devices."""
        missing = [self._who(i) for i in listed if i.unit is None]
        if missing:
            return ["not present: " + ", ".join(missing)], []
        unregistered = [self._who(i) for i in listed if not self._registered(i)]
        if unregistered:
            return ["not registered: " + ", ".join(unregistered)], []
        devices = []
        problems = []
        for item in listed:
            device = self._device(item)
            if device is None:
                problems.append(f"{self._who(item)}: registered, but DAHDI shows no device {spans.device_name(item.unit.name)}")  # type: ignore[union-attr]
                continue
            devices.append(device)
        found = self._spans(listed)
        for device in devices:
            have = [s for s in found if s.device == device.name]
            if len(have) < device.span_count:
                problems.append(f"{device.name}: {len(have)} of {device.span_count} span(s) assigned")
            unconfigured = [str(s) for s in have if not s.configured]
            if unconfigured:
                problems.append(f"{device.name}: not configured: {', '.join(unconfigured)}")
        order = self._order_problem(listed, found)
        if order:
            problems.append(order)
        if not problems and self._recorded() != self._registrations(devices):
            problems.append("dahdi_cfg has not run since the units were registered")
        return problems, devices

    def check(self) -> Probe:
        listed = self._listed()
        try:
            problems, devices = self._problems(listed)
        except SysfsError as exc:
            raise StepError(self.name, str(exc)) from None
        if problems:
            return Probe(False, "; ".join(problems))
        count = len(self._spans(listed))
        return Probe(True, f"{len(devices)} unit(s) registered, {count} span(s) configured")

    def release_probe(self) -> Probe:
        registered = [self._who(i) for i in self._listed() if i.unit is not None and self._registered(i)]
        if registered:
            return Probe(True, "registered: " + ", ".join(registered))
        if self._recorded() is not None:
            return Probe(True, f"{self._record_path} records a configuration")
        return Probe(False, "no listed unit is registered")

    # -- apply -------------------------------------------------------------------------------

    def apply(self) -> None:
        listed = self._listed()
        for item in listed:
            if item.unit is None or item.state == readiness.CONFLICT:
                raise StepError(self.name, f"{self._who(item)} is {item.state}{': ' + item.detail if item.detail else ''}")
        self._forget()
        registered: list[readiness.Listed] = []
        try:
            self._reorder(listed)
            for item in listed:
                if not self._registered(item):
                    self._register(item, True)
                    registered.append(item)
                self._await(f"{self._who(item)}: its DAHDI device", lambda item=item: self._device(item) is not None)  # type: ignore[misc]
                self._assign(item)
            self.run_program(self.spec.dahdi_cfg, failure="dahdi_cfg failed")
            self._record([d for d in (self._device(i) for i in listed) if d is not None])
        except (StepError, SysfsError) as exc:
            # A failed apply cleans up after itself: the engine undoes only completed steps.
            for item in reversed(registered):
                try:
                    self._register(item, False)
                except StepError as undo_exc:
                    self.ctx.log.error("%s", undo_exc)
            if isinstance(exc, SysfsError):
                raise StepError(self.name, str(exc)) from None
            raise

    def _out_of_order(self, listed: list[readiness.Listed]) -> str | None:
        """Why registering the rest in order would not number the spans in ``xpp_order`` order; None when it would.

        Unassigned spans get the lowest free numbers, so a unit holding spans
        while a unit before it in ``xpp_order`` lacks some breaks the order too.
        """
        found = self._spans(listed)
        problem = self._order_problem(listed, found)
        if problem is not None:
            return problem
        lacking: readiness.Listed | None = None
        for item in listed:
            device = self._device(item) if self._registered(item) else None
            have = sum(1 for s in found if device is not None and s.device == device.name)
            if have and lacking is not None:
                return f"{self._who(item)} holds spans while {self._who(lacking)}, listed before it, lacks some"
            if device is None or have < device.span_count:
                lacking = lacking or item
        return None

    def _reorder(self, listed: list[readiness.Listed]) -> None:
        """Registered units whose spans would break ``xpp_order`` are unregistered (last first), to be registered again in order."""
        problem = self._out_of_order(listed)
        if problem is None:
            return
        self.ctx.log.warning("%s: %s; registering the listed units again in order", self.name, problem)
        for item in reversed(listed):
            if self._registered(item):
                self._register(item, False)
                self._await(f"{self._who(item)}: its unregistration", lambda item=item: self._unregistered(item))  # type: ignore[misc]

    def _assign(self, item: readiness.Listed) -> None:
        """Assign the unit's unassigned spans, in local span order."""
        device = self._device(item)
        assert device is not None

        def assigned() -> set[int]:
            return {s.local for s in spans.read_spans(self._root, {device.name})}

        todo = [n for n in range(1, device.span_count + 1) if n not in assigned()]
        if not todo:
            return
        if self.spec.span_assignments is not None:
            self.run_program([*self.spec.span_assignments, device.path], failure=f"{self._who(item)}: span assignment failed")
            self._await(f"{self._who(item)}: assignment of its {device.span_count} span(s)", lambda: len(assigned()) >= device.span_count)
            return
        for local in todo:
            self._write(item, os.path.join(device.path, "assign_span"), f"{local}:0:0", f"assign local span {local}")
            self._await(f"{self._who(item)}: assignment of local span {local}", lambda local=local: local in assigned())  # type: ignore[misc]
        self.ctx.log.info("%s: assigned %d span(s) of %s", self.name, len(todo), self._who(item))

    # -- verify, undo ------------------------------------------------------------------------

    def verify(self) -> None:
        probe = self.check()
        if not probe.up:
            raise StepError(self.name, f"not up after apply: {probe.detail}")
        if self.spec.alarm_gate:
            self._gate()

    def _alarmed(self) -> list[spans.Span]:
        return [s for s in self._spans(self._listed()) if s.alarms & spans.GATE_ALARMS]

    def _gate(self) -> None:
        """Wait up to ``alarm_timeout`` for every span to be out of red, blue and LOS alarms."""
        deadline = self.ctx.monotonic() + self.spec.alarm_timeout
        while True:
            try:
                alarmed = self._alarmed()
            except SysfsError as exc:
                raise StepError(self.name, str(exc)) from None
            if not alarmed:
                return
            if self.ctx.monotonic() >= deadline:
                shown_ = ", ".join(f"{s} {spans.alarm_names(s.alarms)}" for s in alarmed)
                raise StepError(
                    self.name,
                    f"alarm gate: still in alarm after {self.spec.alarm_timeout:g} s: {shown_}",
                    hint="check the lines' cabling and the far end, or set alarm_gate: false",
                )
            self.ctx.sleep(POLL)

    def undo(self) -> None:
        failures = []
        try:
            self._forget()
        except StepError as exc:
            failures.append(str(exc))
        for item in reversed(self._listed()):
            if item.unit is None:
                continue
            try:
                if self._registered(item):
                    self._register(item, False)
                    self._await(f"{self._who(item)}: its unregistration", lambda item=item: self._unregistered(item))  # type: ignore[misc]
            except (StepError, SysfsError) as exc:
                failures.append(str(exc))
        if failures:
            raise StepError(self.name, "; ".join(failures))

    def verify_undone(self) -> None:
        probe = self.release_probe()
        if probe.up:
            raise StepError(self.name, f"still {probe.detail} after undo")
