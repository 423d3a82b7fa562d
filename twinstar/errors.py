"""One error hierarchy for twinstar.

Every error carries the exit status the command line reports for it and a
message that says what happened, where, and what the operator can do next.
The command line prints ``str(error)`` as one line and exits with
``error.exit_status``; nothing else in twinstar decides exit statuses.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Exit statuses of every twinstar command (design.md, "Contract")."""

    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    REFUSED = 3


class TwinstarError(Exception):
    """Root of all twinstar errors: an operation that cannot go on."""

    exit_status: ExitStatus = ExitStatus.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


# --- bad input: exit 2, nothing was changed -------------------------------------------


class BadInputError(TwinstarError):
    """Invalid input of any kind; nothing was changed."""

    exit_status = ExitStatus.BAD_INPUT


class ConfigError(BadInputError):
    """The configuration file is missing, unreadable, insecure or invalid.

    A file with several problems is one error: the first problem, then each
    further one (``more``) on a line of its own.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if path is not None:
            where = path if line is None else f"{path}:{line}"
        if key:
            where = f"{where}: {key}" if where else key
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.path = path
        self.line = line
        self.key = key
        self.more: tuple[ConfigError, ...] = ()

    def __str__(self) -> str:
        return "\n".join([super().__str__(), *(str(problem) for problem in self.more)])


class UsageError(BadInputError):
    """A command-line argument or environment variable is invalid."""


class XppOrderError(BadInputError):
    """``xpp_order`` is missing, empty or malformed."""


class SysfsError(BadInputError):
    """An attribute under the Astribank sysfs tree is missing or malformed."""

    def __init__(self, message: str, *, path: str, hint: str | None = None) -> None:
        super().__init__(f"{path}: {message}", hint=hint)
        self.path = path


# --- refusals: exit 3, a safety guard said no ---------------------------------------


class RefusedError(TwinstarError):
    """A safety guard refused the operation (peer primary, address in use, no power)."""

    exit_status = ExitStatus.REFUSED


# --- failures: exit 1 --------------------------------------------------------------


class ProgramError(TwinstarError):
    """An external program could not be started or exited with an unexpected status."""

    def __init__(
        self,
        message: str,
        *,
        argv: tuple[str, ...] = (),
        returncode: int | None = None,
        stdout: str = "",
        stderr: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


class ProgramTimeout(ProgramError):
    """An external program ran past its timeout; its process group was killed."""


class StepError(TwinstarError):
    """A takeover or release step failed to apply, verify or undo."""

    def __init__(self, step: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"step {step}: {message}", hint=hint)
        self.step = step


class LockBusyError(TwinstarError):
    """Another twinstar process holds the node's lock."""


class StateError(TwinstarError):
    """The node's state directory or files cannot be used or written (full, read-only, planted)."""


class StateDirError(StateError, BadInputError):
    """The configured ``state_dir`` is not a private directory (a file, a symlink): exit 2, nothing changed."""


class StateFileError(StateError, BadInputError):
    """A state file (``state.json``) is malformed or not a regular file: exit 2, nothing changed."""


class UsbError(TwinstarError):
    """Talking to an Astribank over USB failed."""
