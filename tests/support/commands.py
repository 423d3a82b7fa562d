"""Build command-step configurations around the recorder program."""

from __future__ import annotations

import json
import sys
from collections.abc import Collection
from pathlib import Path

from tests.support.config import write_config

RECORDER = Path(__file__).with_name("recorder.py")


def recorder_wrapper(tmp: Path) -> Path:
    """An executable wrapper so command steps run the recorder by absolute path."""
    path = tmp / "recorder"
    if not path.exists():
        path.write_text(f"#!{sys.executable}\nimport runpy, sys\nsys.argv[0] = {str(RECORDER)!r}\nrunpy.run_path({str(RECORDER)!r}, run_name='__main__')\n")
        path.chmod(0o755)
    return path


def command_steps_config(
    tmp: Path,
    n: int,
    *,
    behaviour: dict[str, list[str]] | None = None,
    extra: str = "",
    check: bool = True,
    without_check: Collection[int] = (),
) -> Path:
    """A configuration of ``n`` command steps ``s1..sn`` that log to tmp/calls.

    ``behaviour`` maps 'start3' / 'stop2' to extra recorder arguments.
    Start creates tmp/up-<i>, stop removes it; each step's check is
    ``test -e tmp/up-<i>``, except with ``check=False`` (none) or for the steps
    numbered in ``without_check``: those keep twinstar's own record.
    """
    behaviour = behaviour or {}
    rec = recorder_wrapper(tmp)
    calls = tmp / "calls"
    steps = []
    for i in range(1, n + 1):
        up = tmp / f"up-{i}"
        start = [str(rec), str(calls), f"start{i}", "--create", str(up), *behaviour.get(f"start{i}", [])]
        stop = [str(rec), str(calls), f"stop{i}", "--remove", str(up), *behaviour.get(f"stop{i}", [])]
        has_check = check and i not in without_check
        check_line = f"      check: [/usr/bin/test, -e, {json.dumps(str(up))}]\n" if has_check else ""
        steps.append(
            f"  - command:\n      name: s{i}\n      start: {json.dumps(start)}\n"
            f"      stop: {json.dumps(stop)}\n{check_line}      timeout: 5\n"
        )
    return write_config(
        tmp / "twinstar.yaml", state_dir=tmp / "state", sysfs=tmp, xpp_order=tmp / "xpp_order", extra=extra, steps="".join(steps)
    )


def calls(tmp: Path) -> list[str]:
    try:
        return (tmp / "calls").read_text().split()
    except FileNotFoundError:
        return []

