"""Hotplug: a uevent is evaluated, decided and handed off (see docs/architecture.md)."""
