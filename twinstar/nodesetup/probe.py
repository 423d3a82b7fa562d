"""Read what ``twinstar setup`` checks: sysfs xbus devices with their XPDs, and the units over USB."""

from __future__ import annotations

import os

from twinstar.astribank import sysfs
from twinstar.config import Config
from twinstar.errors import TwinstarError
from twinstar.nodesetup.assess import Assessment, UsbRow, assess
from twinstar.nodesetup.xpds import read_xpds


def usb_rows(config: Config) -> tuple[list[UsbRow], str | None]:
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
    rows = []
    for unit in found:
        st = query(hw, unit)
        rows.append(
            UsbRow(
                device=unit.name,
                bus=unit.bus,
                address=unit.address,
                label=unit.label,
                capable=st.capable,
                note=st.note,
                port=st.port,
                power0=st.power0,
                power1=st.power1,
                error=st.error,
            )
        )
    return rows, None


def probe(config: Config) -> Assessment:
    """Read sysfs and USB, then decide (see :mod:`twinstar.nodesetup.assess`)."""
    root = config.astribanks.sysfs
    driver_present = os.path.isdir(os.path.join(root, "bus", "astribanks"))
    units = sysfs.scan(root, transport=True) if driver_present else []
    xpds = {u.name: read_xpds(u.path) for u in units}
    rows, usb_error = usb_rows(config)
    return assess(driver_present=driver_present, units=units, xpds=xpds, usb_rows=rows, usb_error=usb_error)
