"""The ``asterisk`` step: chan_dahdi in the running Asterisk, as the original ``twinstar_hook`` loaded it.

Everything goes through the remote console, ``asterisk -rx 'COMMAND'`` (the
configured argv, then ``-rx`` and one command twinstar writes; nothing from
the configuration becomes an option), and its output is read by
:mod:`twinstar.steps.asterisk_cli`.

apply waits until Asterisk answers ``core show version`` (it is started by a
``service`` step before this one and opens its control socket a moment
later), reading again every :data:`POLL` seconds up to the step's timeout;
then loads the module (``module load chan_dahdi.so``) when it is not loaded,
or reloads it when it is loaded but does not show every DAHDI span's
channels: DAHDI came up after Asterisk loaded it. check (and verify): Asterisk
answers, the module is loaded, ``dahdi show status`` shows spans and
``dahdi show channels`` channels on each of them. undo hangs up nothing
itself (``twinstar switchover`` drains calls first) and unloads the module,
so it runs before the dahdi step's undo takes the units away; release_probe:
Asterisk answers and the module is loaded (an Asterisk that does not answer
has nothing loaded).
"""

from __future__ import annotations

from twinstar.engine.proc import ProgramResult
from twinstar.errors import ProgramError, StepError
from twinstar.steps import asterisk_cli as cli
from twinstar.steps.asterisk_spec import AsteriskSpec
from twinstar.steps.base import Probe, Step, StepContext

#: How often apply asks again whether Asterisk answers (seconds).
POLL = 0.25
#: The longest one command may take.
COMMAND_TIMEOUT = 10.0


class AsteriskStep(Step):
    kind = "asterisk"
    #: Its check looks for the DAHDI channels, which the dahdi step brings up: it runs in its turn.
    check_at_start = False

    def __init__(self, spec: AsteriskSpec, ctx: StepContext) -> None:
        super().__init__(spec.name, spec.timeout, ctx)
        self.spec = spec

    def programs(self) -> tuple[str, ...]:
        return (self.spec.asterisk[0],)

    def _rx(self, command: str) -> ProgramResult:
        """``asterisk -rx COMMAND``, whatever its exit status (a ProgramError only when it cannot run or times out)."""
        try:
            return self.ctx.runner.run(
                [*self.spec.asterisk, "-rx", command], timeout=min(self.timeout, COMMAND_TIMEOUT), ok_codes=None, quiet=True
            )
        except ProgramError as exc:
            raise StepError(self.name, f"asterisk -rx '{command}': {exc}") from None

    def _answers(self) -> tuple[bool, str]:
        result = self._rx("core show version")
        if result.returncode == 0 and cli.answers(result.stdout):
            return True, result.stdout.strip().splitlines()[0]
        return False, result.output.splitlines()[0] if result.output else f"exit status {result.returncode}"

    def _read(self, command: str, parse: cli.Parser[cli.T]) -> cli.T:
        result = self._rx(command)
        try:
            return parse(result.stdout)
        except cli.CliOutputError as exc:
            raise StepError(self.name, str(exc)) from None

    def _loaded(self) -> bool:
        return self._read(f"module show like {self.spec.module}", lambda text: cli.module_loaded(text, self.spec.module))

    def _missing(self) -> list[str]:
        spans = self._read("dahdi show status", cli.parse_status)
        channels = self._read("dahdi show channels", cli.parse_channels)
        return cli.missing_channels(spans, channels)

    # -- the step --------------------------------------------------------------------------

    def check(self) -> Probe:
        up, said = self._answers()
        if not up:
            return Probe(False, f"Asterisk does not answer: {said}")
        if not self._loaded():
            return Probe(False, f"{self.spec.module} is not loaded")
        missing = self._missing()
        if missing:
            return Probe(False, "; ".join(missing))
        return Probe(True, f"{self.spec.module} loaded, DAHDI channels visible")

    def release_probe(self) -> Probe:
        up, said = self._answers()
        if not up:
            return Probe(False, f"Asterisk does not answer: {said}")
        if self._loaded():
            return Probe(True, f"{self.spec.module} is loaded")
        return Probe(False, f"{self.spec.module} is not loaded")

    def apply(self) -> None:
        deadline = self.ctx.monotonic() + self.timeout
        while True:
            up, said = self._answers()
            if up:
                break
            if self.ctx.monotonic() >= deadline:
                raise StepError(self.name, f"Asterisk did not answer within {self.timeout:g} s: {said}")
            self.ctx.sleep(POLL)
        if not self._loaded():
            self._module("load")
        elif self._missing():
            self._module("reload")  # DAHDI came up after chan_dahdi was loaded

    def _module(self, verb: str) -> None:
        result = self._rx(f"module {verb} {self.spec.module}")
        if result.returncode != 0:
            raise StepError(self.name, f"module {verb} {self.spec.module} failed: {result.output or result.returncode}")
        self.ctx.log.info("%s: module %s %s: %s", self.name, verb, self.spec.module, result.output or "(no output)")

    def undo(self) -> None:
        up, _ = self._answers()
        if up and self._loaded():
            self._module("unload")
