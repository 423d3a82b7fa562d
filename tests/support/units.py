"""Fake Astribank units for tests: the label and connector of unit ``i``, its arrival in a fake sysfs tree.

The fake sysfs (:class:`twinstar.standins.fakesysfs.FakeSysfs`) stands in
for the xpp driver; these helpers only name its units the same way
everywhere, so ``xpp_order`` lines and sysfs entries match.
"""

from __future__ import annotations

from twinstar.standins.fakesysfs import FakeSysfs


def label(i: int) -> str:
    """Unit ``i``'s USB label, as the driver shows it."""
    return f"usb:{i:08d}"


def connector(i: int) -> str:
    """Unit ``i``'s USB connector path."""
    return f"usb-0000:00:1d.7-{i}"


def order_line(i: int) -> str:
    """The ``xpp_order`` line listing unit ``i`` by label, as dahdi_genconf writes it."""
    return f"{label(i)}\t# @{connector(i)} #(XBUS-{i:02d})"


def arrive(fake: FakeSysfs, i: int) -> list[dict[str, str]]:
    """Unit ``i`` arrives up to READY; its uevents (add, online) are returned, not delivered."""
    return fake.arrive(i, label=label(i), connector=connector(i))


def attach(fake: FakeSysfs, i: int) -> None:
    """Unit ``i``, already created, gets its label and connector (the driver's attach)."""
    fake.attach(i, label=label(i), connector=connector(i))
