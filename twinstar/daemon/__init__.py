"""The long-running daemon: event loop, uevent monitor, systemd notification, status (see docs/architecture.md)."""
