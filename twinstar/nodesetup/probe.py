"""Read what ``twinstar setup`` checks: sysfs xbus devices with their XPDs, and the units over USB."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from twinstar.astribank import sysfs
from twinstar.config import Config
from twinstar.errors import TwinstarError
from twinstar.nodesetup.assess import Assessment, assess
from twinstar.nodesetup.xpds import read_xpds

if TYPE_CHECKING:  # pyusb is imported only when USB is read
    from twinstar.usb.units import UnitStatusRow


def usb_rows(config: Config) -> tuple[list[UnitStatusRow], str | None]:
    """Each Astribank's TwinStar state over USB, or why none could be read."""
    from twinstar.usb.transport import NO_UNIT
    from twinstar.usb.units import Astribanks, query

    try:
        hw = Astribanks.from_config(config)
        found = hw.scan()
    except TwinstarError as exc:
        return [], str(exc)
    if not found:
        return [], NO_UNIT
    return [query(hw, unit) for unit in found], None


def probe(config: Config) -> Assessment:
    """Read sysfs and USB, then decide (see :mod:`twinstar.nodesetup.assess`)."""
    root = config.astribanks.sysfs
    driver_present = os.path.isdir(os.path.join(root, "bus", "astribanks"))
    units = sysfs.scan(root, transport=True) if driver_present else []
    xpds = {u.name: read_xpds(u.path) for u in units}
    rows, usb_error = usb_rows(config)
    return assess(driver_present=driver_present, units=units, xpds=xpds, usb_rows=rows, usb_error=usb_error)
