"""``twinstar takeover --follow-up`` (what the systemd units run) looks at the units again.

Units that leave while a takeover runs find it in progress, so their events
hand nothing off; the follow-up must see that no listed unit is left and
release. Stand-in: the fake sysfs tree; the takeover's command step makes
the units leave while it runs. Engine, hook decision and steps are real.
"""

from __future__ import annotations

import sys

import pytest

from tests.support.cli import run_twinstar
from tests.support.node import Node


@pytest.mark.parametrize("follow_up", [True, False])
def test_units_leaving_during_takeover_are_released_by_the_follow_up(node: Node, follow_up: bool) -> None:
    leave = (
        "from twinstar.standins.fakesysfs import FakeSysfs; "
        f"s = FakeSysfs({str(node.sysfs.root)!r}); [s.depart(i) for i in range(2)]"
    )
    steps = f"  - command: {{name: leave, start: [{sys.executable}, -c, {leave!r}], stop: [/bin/true]}}\n"
    node.configure(steps=steps)
    node.listed(2)
    for i in range(2):
        node.arrive(i)
    args = ["takeover", "--follow-up"] if follow_up else ["takeover"]
    result = run_twinstar(node.config_path, *args, env=node.environ())
    assert result.returncode == 0, result.stderr
    assert node.begins("takeover") == 1
    if follow_up:
        assert node.begins("release") == 1
        assert node.role() == "standby"
    else:
        assert node.begins("release") == 0
        assert node.role() == "active"
