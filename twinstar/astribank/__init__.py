"""Astribank units as the xpp driver shows them: sysfs, ``xpp_order``, readiness.

These modules sit on the udev hook's hot path: they import only built-in
modules (no ``typing``, ``dataclasses``, ``enum``, ``re``), and import
:mod:`twinstar.errors` only when they raise.
"""
