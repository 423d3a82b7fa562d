"""Re-arm one unit's TwinStar watchdog when it comes online (the hook's hand-off path).

Importing this module costs nothing: pyusb and the transport are imported
only when :func:`rearm_watchdog` runs, so the hook's decision path stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twinstar.config import Config


def rearm_watchdog(
    config: Config | None, busnum: int, devnum: int, *, environ: Mapping[str, str] | None = None
) -> str:
    """Enable the watchdog of the unit at USB ``busnum``/``devnum``; returns what was done.

    The numbers come from the xbus's ``transport`` link (``busnum``, ``devnum``).
    Raises a :class:`~twinstar.errors.TwinstarError` when the unit is not on
    this host, not TwinStar-capable, or does not answer.
    """
    from twinstar.usb.errors import NoUnitError
    from twinstar.usb.units import Astribanks, on_capable, set_watchdog

    hw = Astribanks.from_config(config, environ)
    found = [u for u in hw.scan() if (u.bus, u.address) == (busnum, devnum)]
    if not found:
        raise NoUnitError(f"usb:{busnum:03d}/{devnum:03d}: no Astribank at this USB address on this host")
    unit = found[0]
    return f"{unit.title}: {on_capable(hw, unit, set_watchdog(True))}"
