"""Runs an ``ip`` step inside a network namespace for the tests.

Started as ``ip netns exec NS python ip_harness.py JSON``; JSON gives the
step's settings and the list of methods to call. Prints one JSON list with
what each call did. The step is the production code, unchanged.
"""

from __future__ import annotations

import ipaddress
import json
import sys

from twinstar.config import Config, IpSpec
from twinstar.errors import TwinstarError
from twinstar.proc import ProgramRunner
from twinstar.steps.base import StepContext
from twinstar.steps.ip import IpStep


def main() -> int:
    req = json.loads(sys.argv[1])
    spec = IpSpec(address=ipaddress.IPv4Interface(req["address"]), interface=req["interface"], **req.get("options", {}))
    ctx = StepContext(config=Config(source="test", node="test", state_dir=req["state_dir"]), runner=ProgramRunner())
    step = IpStep(spec, ctx)
    out = []
    for action in req["actions"]:
        entry: dict[str, object] = {"action": action}
        try:
            if action == "check":
                probe = step.check()
                entry.update(up=probe.up, detail=probe.detail)
            else:
                getattr(step, action)()
            entry["ok"] = True
        except TwinstarError as exc:
            entry.update(ok=False, error=str(exc), exit_status=int(exc.exit_status), type=type(exc).__name__)
        if step.announcer is not None:
            entry["announcer_pid"] = step.announcer.pid
            entry["announcer_running"] = step.announcer.poll() is None
        out.append(entry)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
