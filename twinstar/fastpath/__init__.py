"""The udev hook's fast path: built-in modules only, cheap to import (see docs/architecture.md).

Each module costs the hook about 0.1 ms, so the modules of the hook's path
(here, :mod:`twinstar.astribank`, :mod:`twinstar.hotplug.hook`) do without
``from __future__ import annotations`` (it imports a module): an annotation
that names a type-checking-only or later class is quoted instead.
tests/hotplug/test_hook.py pins the set of modules an event imports.
"""
