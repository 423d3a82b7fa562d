"""Operator tasks: switchover, checks and their findings, installation (see docs/architecture.md)."""
