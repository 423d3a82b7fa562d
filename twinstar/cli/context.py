"""What one run of a ``twinstar`` command works with: where the configuration is, loaded on demand.

Without click, so that ``twinstar status`` can run without it
(:mod:`twinstar.cli.status`); the click group hands the same object to every command.
"""

from __future__ import annotations

import os

from twinstar import settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from twinstar.config import Config


class Obj:
    """Per-invocation context: where the configuration is, loaded on demand."""

    def __init__(self, config_path: str | None, verbose: bool) -> None:
        # Absolute once, here: files found next to it (replica-managed.json) and
        # children handed the path must not depend on the working directory.
        self.config_path = os.path.abspath(settings.config_path(config_path))
        self.verbose = verbose
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from twinstar import config as config_mod

            self._config = config_mod.load(self.config_path)
        return self._config


def usb_config(obj: Obj) -> Config | None:
    """The configuration, or None (defaults: real USB, or $TWINSTAR_USB_SIMULATOR) without one.

    The hardware commands need no configuration, as the original ``twinstar``
    needed none: a missing file at the default place means defaults. A file
    that exists must be valid, and one named by ``--config`` or
    ``$TWINSTAR_CONFIG`` must exist (a configuration error, exit 2).
    """
    from twinstar.usb.transport import SIMULATOR_ENV

    default = obj.config_path == os.path.abspath(settings.CONFIG_PATH)
    if (default or os.environ.get(SIMULATOR_ENV)) and not os.path.lexists(obj.config_path):
        return None
    return obj.config


def error_line(exc: BaseException) -> str:
    """How a command that failed with a twinstar error ends: one line on stderr (its exit status is the error's)."""
    return f"twinstar: error: {exc}"


def internal_error_line(exc: BaseException) -> str:
    """How a command ends on a bug, unless ``-v`` asked for the traceback (exit status 1)."""
    return f"twinstar: internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)"
