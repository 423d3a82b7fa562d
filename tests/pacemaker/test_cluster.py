"""A real two-node Pacemaker cluster moves the Astribank units with the group (see cluster.py for the rig).

Power loss of the active node: the units' watchdog moves them to the other
node, Pacemaker starts the group there (the astribank agent finds the units
READY, arms the watchdog, registers them with DAHDI; then the address and the
service). ``crm_resource --move`` back: the agent's stop on that node jumps the
units to the returning node, whose start finds them there.
"""

from __future__ import annotations

import shutil

import pytest

from tests.pacemaker import cluster as rig

pytestmark = pytest.mark.privileged


def test_power_loss_moves_units_and_group_and_a_move_brings_them_back() -> None:
    for program in ("systemd-nspawn", "corosync", "pacemakerd", "crm_resource"):
        if shutil.which(program, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
            pytest.fail(f"{program} is missing: sh .ci/setup installs it")
    with rig.running_cluster() as cluster:
        a, b = cluster.a, cluster.b
        assert cluster.sim_ports() == [0] * rig.UNITS
        assert cluster.ready_registered(a) == (True, True)
        assert [u["watchdog"] for u in cluster.hardware_units()] == [True] * rig.UNITS

        times = rig.failover(cluster)
        assert cluster.sim_ports() == [1] * rig.UNITS
        assert cluster.ready_registered(b) == (True, True)
        assert times["units_switched_ms"] <= times["registered_ms"] <= times["service_ms"], times

        rig.move_back(cluster)
        assert cluster.sim_ports() == [0] * rig.UNITS
        assert cluster.ready_registered(a) == (True, True)
        assert cluster.ready_registered(b) == (False, False)
        assert not cluster.has_vip(b) and not cluster.service_active(b)
