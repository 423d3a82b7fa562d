"""``twinstar setup``: check that a node is ready for TwinStar and generate ``xpp_order``.

:mod:`~twinstar.nodesetup.probe` reads sysfs and USB, :mod:`~twinstar.nodesetup.assess`
decides (pure), :mod:`~twinstar.nodesetup.xppgen` renders and writes ``xpp_order``.
"""
