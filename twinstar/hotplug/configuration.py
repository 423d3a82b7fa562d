"""The hook's settings, from the cache or, when it is stale, from the full configuration.

:mod:`twinstar.fastpath.hooksettings` reads and writes the cache with
built-in modules only; this module adds the slow path that parses the YAML
(:func:`twinstar.config.load`, imported only then) and keeps the full
configuration on the settings for the work that needs it.

Everything beyond the hook's fast path comes through here (the parser, the
hand-off, a transition), so importing this module completes the start-up of
an interpreter that skipped ``site`` (:func:`complete_startup`).
"""

from __future__ import annotations

import gc
import os
import sys

from twinstar.fastpath.hooksettings import HookSettings, cached, write_cache

TYPE_CHECKING = False
if TYPE_CHECKING:
    from twinstar.config import Config


def complete_startup() -> None:
    """Run ``site`` when this interpreter started without it (``hooks/atribank_hook`` runs ``python3 -IS``),
    and turn the cyclic garbage collector on (the hook's fast path runs without it).

    The fast path needs the standard library only; the parser, a transition
    and what they run need the installed dependencies (PyYAML, pyusb...) on
    sys.path as a normal start puts them there, and may run for minutes. Once per process.
    """
    gc.enable()
    if sys.flags.no_site and "site" not in sys.modules:
        import site

        site.main()


complete_startup()


def full_config(settings: HookSettings) -> Config:
    """The complete configuration (loads and validates it when only the cache was read)."""
    if settings.config is None:
        from twinstar import config as config_mod

        settings.config = config_mod.load(settings.source)
    return settings.config


def load(path: str, *, cache: str | None) -> HookSettings:
    """The hook's settings for the configuration at ``path``: from the cache, else parsed.

    ``cache`` is the cache directory (None: do not cache). Configuration
    errors raise :class:`~twinstar.errors.ConfigError` exactly as ``twinstar check`` reports them.
    """
    settings = cached(path, cache)
    if settings is not None:
        return settings
    try:
        st = os.stat(path)
    except OSError:
        st = None
    from twinstar import config as config_mod

    settings = HookSettings.from_config(config_mod.load(path))
    if st is not None and cache:
        try:
            write_cache(cache, path, st, settings)
        except OSError:
            pass  # the cache is only an optimisation
    return settings
