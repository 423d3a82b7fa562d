"""The takeover engine: runner, state store and lock, program runner, logging (see docs/architecture.md)."""
