"""The pair's policy: what a node does when its takeover fails, units split, both servers boot, or an operator holds.

``table`` (the pure decision and its table), ``consult`` (look, decide, act),
``edges`` (USB power, DRBD disk states, the watchdog), ``store`` (``policy.json``),
``notify`` (syslog and the notify commands), ``nodeinfo`` (what ``status`` and
``check`` show), ``stepdown`` (a step found down on the active node: restart, then hand back).
docs/operations.md is the operator's side.
"""
