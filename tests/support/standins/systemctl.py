"""A call-recording ``systemctl`` stand-in (systemd is not PID 1 on the test host).

Kept only for tests/steps/test_service.py, for what a real systemd cannot
show deterministically: the exact calls and the polling back-off, and the
paths after a successful ``systemctl start`` of a unit that is still
activating or has already failed (real start jobs wait for the unit, so
those paths are reached only by races). Everything else runs against a real
systemd in a container: tests/systemd/.

usage: systemctl.py STATEFILE VERB [--] UNIT

Arguments are read as systemctl's getopt_long reads them: ``--`` ends the
options, and before it an argument starting with ``-`` is an option, which
this stand-in knows none of (exit 1, as systemctl does for an unknown one).

STATEFILE (JSON) holds per unit: ``state`` (inactive/activating/active/
deactivating/failed), ``start_polls`` / ``stop_polls`` (how many
``is-active`` answers stay activating/deactivating), ``start_result``
(active or failed) and ``start_exit`` (exit status of ``start``), plus
``calls``: every argv received. Answers like systemctl: ``is-active``
prints the state and exits 0 only when active.
"""

import json
import sys

state_file, argv = sys.argv[1], sys.argv[2:]
with open(state_file) as f:
    state = json.load(f)
state["calls"].append(argv)
status, out = 0, ""
cut = argv.index("--") if "--" in argv else len(argv)
options = [a for a in argv[:cut] if a.startswith("-")]
positional = [a for a in argv[:cut] if not a.startswith("-")] + argv[cut + 1:]
if options:
    with open(state_file, "w") as f:
        json.dump(state, f)
    print(f"systemctl: unrecognized option '{options[0]}'", file=sys.stderr)
    sys.exit(1)
verb, unit_name = (positional + ["", ""])[:2]
unit = state["units"].setdefault(unit_name, {"state": "inactive"})
if verb == "start":
    status = unit.get("start_exit", 0)
    if status:
        out = f"Job for {unit_name}.service failed because the control process exited with error code."
    else:
        unit["state"], unit["pending"] = "activating", unit.get("start_polls", 0)
elif verb == "stop":
    unit["state"], unit["pending"] = "deactivating", unit.get("stop_polls", 0)
elif verb == "is-active":
    if unit["state"] in ("activating", "deactivating"):
        if unit["pending"] > 0:
            unit["pending"] -= 1
        else:
            unit["state"] = unit.get("start_result", "active") if unit["state"] == "activating" else "inactive"
    out = unit["state"]
    status = 0 if unit["state"] == "active" else 3
else:
    out, status = f"Unknown command verb {verb}.", 1
with open(state_file, "w") as f:
    json.dump(state, f)
if out:
    print(out, file=sys.stdout if verb == "is-active" else sys.stderr)
sys.exit(status)
