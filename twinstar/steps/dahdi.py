"""The ``dahdi`` step: register the listed Astribanks with DAHDI, then configure spans.

apply writes ``1`` to the ``dahdi_registration`` attribute of each unit
listed in ``xpp_order``, in the file's order (the order decides span
numbers), skipping units already registered, then runs ``dahdi_cfg``
(argv from the step's configuration, program name resolved through
``programs:``). check/verify: every listed unit is present and registered.
release_probe: any listed unit is still registered (so a release after one
unit has gone still unregisters the others). undo writes ``0`` for listed
units still present and registered. Errors
name the unit and the entry.
"""

from __future__ import annotations

import os

from twinstar.astribank import readiness, sysfs, xpporder
from twinstar.astribank.printable import shown
from twinstar.errors import ProgramError, StepError, TwinstarError
from twinstar.steps.base import Probe, Step, StepContext
from twinstar.steps.dahdi_spec import DahdiSpec

ATTR = "dahdi_registration"


class DahdiStep(Step):
    kind = "dahdi"

    def __init__(self, spec: DahdiSpec, ctx: StepContext) -> None:
        super().__init__(spec.name, spec.timeout, ctx)
        self.spec = spec

    def programs(self) -> tuple[str, ...]:
        return (self.spec.dahdi_cfg[0],)

    def check_inputs(self) -> None:
        """A malformed or missing ``xpp_order`` is bad input: exit 2 before any step runs."""
        xpporder.load(self.ctx.config.astribanks.xpp_order)

    # -- reading ---------------------------------------------------------------------------

    def _listed(self) -> list[readiness.Listed]:
        astribanks = self.ctx.config.astribanks
        try:
            order = xpporder.load(astribanks.xpp_order)
        except TwinstarError as exc:
            raise StepError(self.name, str(exc)) from None
        return list(readiness.compute(order.entries, sysfs.scan(astribanks.sysfs)).listed)

    @staticmethod
    def _who(item: readiness.Listed) -> str:
        where = f"{item.unit.name}, " if item.unit is not None else ""
        return f"unit {shown(item.entry.text)} ({where}xpp_order line {item.entry.line})"

    def _registered(self, item: readiness.Listed) -> bool:
        assert item.unit is not None
        path = os.path.join(item.unit.path, ATTR)
        try:
            with open(path, "rb") as f:
                value = f.read().strip()
        except OSError as exc:
            raise StepError(self.name, f"{self._who(item)}: cannot read {path}: {exc.strerror}") from None
        if value not in (b"0", b"1"):
            raise StepError(self.name, f"{self._who(item)}: {path} holds {value!r}, expected 0 or 1")
        return value == b"1"

    def _write(self, item: readiness.Listed, value: str) -> None:
        assert item.unit is not None
        path = os.path.join(item.unit.path, ATTR)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            verb = "register" if value == "1" else "unregister"
            raise StepError(self.name, f"{self._who(item)}: cannot {verb} ({path}): {exc.strerror}") from None
        self.ctx.log.info("%s: %s %s", self.name, "registered" if value == "1" else "unregistered", self._who(item))

    # -- the step --------------------------------------------------------------------------

    def check(self) -> Probe:
        listed = self._listed()
        missing = [self._who(i) for i in listed if i.unit is None]
        if missing:
            return Probe(False, "not present: " + ", ".join(missing))
        unregistered = [self._who(i) for i in listed if not self._registered(i)]
        if unregistered:
            return Probe(False, "not registered: " + ", ".join(unregistered))
        return Probe(True, f"{len(listed)} unit(s) registered")

    def release_probe(self) -> Probe:
        registered = [self._who(i) for i in self._listed() if i.unit is not None and self._registered(i)]
        if registered:
            return Probe(True, "registered: " + ", ".join(registered))
        return Probe(False, "no listed unit is registered")

    def apply(self) -> None:
        listed = self._listed()
        for item in listed:
            if item.unit is None or item.state == readiness.CONFLICT:
                raise StepError(self.name, f"{self._who(item)} is {item.state}{': ' + item.detail if item.detail else ''}")
        registered: list[readiness.Listed] = []
        try:
            for item in listed:
                if not self._registered(item):
                    self._write(item, "1")
                    registered.append(item)
            self.ctx.runner.run(self.spec.dahdi_cfg, timeout=self.timeout)
        except (ProgramError, StepError) as exc:
            # A failed apply cleans up after itself: the engine undoes only completed steps.
            for item in reversed(registered):
                try:
                    self._write(item, "0")
                except StepError as undo_exc:
                    self.ctx.log.error("%s", undo_exc)
            if isinstance(exc, StepError):
                raise
            raise StepError(self.name, f"dahdi_cfg failed: {exc}") from None

    def verify(self) -> None:
        listed = self._listed()
        for item in listed:
            if item.unit is None:
                raise StepError(self.name, f"{self._who(item)} disappeared")
            if not self._registered(item):
                raise StepError(self.name, f"{self._who(item)} is not registered after apply")

    def undo(self) -> None:
        failures = []
        for item in reversed(self._listed()):
            if item.unit is None:
                continue
            try:
                if self._registered(item):
                    self._write(item, "0")
            except StepError as exc:
                failures.append(str(exc))
        if failures:
            raise StepError(self.name, "; ".join(failures))

    def verify_undone(self) -> None:
        probe = self.release_probe()
        if probe.up:
            raise StepError(self.name, f"still {probe.detail} after undo")
