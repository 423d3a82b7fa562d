"""A real two-node Pacemaker cluster over the simulated Astribanks, for the test and the benchmark.

Two nodes from :mod:`tests.support.nspawn` (systemd as PID 1 on an overlay
of ``/``, each in a network namespace made here, twinstar installed by
``make install`` inside, so ``ocf:twinstar:astribank`` is where Pacemaker
looks for it), corosync (knet, ``two_node``, token 1000) and Pacemaker
started from a preset CIB (no fencing, no quorum needed, ``dc-deadtime``
2 s): a group of the astribank agent, ``IPaddr2`` and a systemd service.

Stand-ins only for what cannot run here: the Astribank units (the USB
simulator, one state file both nodes see), the xpp and dahdi drivers of each
node (fake sysfs), played by the demo's simulated hardware
(:class:`twinstar.demo.hardware.Hardware`, in a thread of this process), and
``dahdi_cfg`` (its fake's side, run by the node's installed Python): each
unit's TwinStar watchdog switches it to the other port when the node on its
port stops beating (a heartbeat process inside each node) and the other port
has power; each round, the drivers act on the registrations and span
assignments the ``dahdi`` step writes.

    python -m tests.pacemaker.cluster [--json]

runs the scenario once and prints what it measured (the benchmark runs that).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import nspawn
from tests.support.config import config_text
from tests.support.nspawn import Node
from tests.support.ocfsite import unit_label, write_dahdi_cfg

#: Our names and addresses (namespaces, containers, scratch directories; the link between the nodes).
PREFIX = "tspm-"
SUBNET = "10.213.17"
VIP = f"{SUBNET}.100"
NIC = "tss0"  # the link tests.support.nspawn makes between two nodes
SERVICE = "pbx-responder"
UNITS = 2
WATCHDOG_TIMEOUT = 0.5  # as the demo benchmark
INSTALLED_PYTHON = f"{nspawn.PREFIX_DIR}/lib/twinstar/bin/python3"
CONFIG = nspawn.CONFIG
#: Seconds the cluster may take for one move (the failover takes ~4).
MOVE_TIMEOUT = 60.0


# --- configuration, pure --------------------------------------------------------------------


def corosync_conf(nodes: Sequence[tuple[str, str]], *, cluster: str = "twinstar") -> str:
    """corosync.conf for ``nodes`` (name, address): knet without crypto, two_node, token 1000 ms."""
    members = "".join(
        f"    node {{\n        ring0_addr: {address}\n        name: {name}\n        nodeid: {i}\n    }}\n"
        for i, (name, address) in enumerate(nodes, 1)
    )
    return (
        "totem {\n    version: 2\n    cluster_name: " + cluster + "\n    transport: knet\n"
        "    crypto_cipher: none\n    crypto_hash: none\n    token: 1000\n}\n"
        f"nodelist {{\n{members}}}\n"
        "quorum {\n    provider: corosync_votequorum\n    two_node: 1\n}\n"
        "logging {\n    to_logfile: yes\n    logfile: /var/log/corosync/corosync.log\n"
        "    to_syslog: no\n    to_stderr: no\n    timestamp: hires\n}\n"
    )


def cib_xml(*, preferred: str, config: str, vip: str, nic: str, service: str) -> str:
    """The preset CIB: no fencing, quorum ignored, dc-deadtime 2 s; the group astribank + vip + service.

    The group prefers ``preferred`` (where the units are at first) and sticks
    where it runs (stickiness 100 > 50): after a failover it stays until moved.
    """
    def op(rid: str, name: str, interval: str, timeout: str) -> str:
        return f'<op id="{rid}-{name}-{interval}" name="{name}" interval="{interval}" timeout="{timeout}"/>'

    return f"""<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="5" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" value="false"/>
        <nvpair id="cib-bootstrap-options-no-quorum-policy" name="no-quorum-policy" value="ignore"/>
        <nvpair id="cib-bootstrap-options-dc-deadtime" name="dc-deadtime" value="2s"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources>
      <group id="pbx">
        <primitive id="astribank" class="ocf" provider="twinstar" type="astribank">
          <instance_attributes id="astribank-ia">
            <nvpair id="astribank-config" name="config" value="{config}"/>
          </instance_attributes>
          <operations>
            {op("astribank", "start", "0s", "60s")}
            {op("astribank", "stop", "0s", "60s")}
            {op("astribank", "monitor", "5s", "20s")}
          </operations>
        </primitive>
        <primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2">
          <instance_attributes id="vip-ia">
            <nvpair id="vip-ip" name="ip" value="{vip}"/>
            <nvpair id="vip-cidr" name="cidr_netmask" value="24"/>
            <nvpair id="vip-nic" name="nic" value="{nic}"/>
          </instance_attributes>
          <operations>
            {op("vip", "monitor", "2s", "20s")}
          </operations>
        </primitive>
        <primitive id="service" class="systemd" type="{service}">
          <operations>
            {op("service", "monitor", "2s", "20s")}
          </operations>
        </primitive>
      </group>
    </resources>
    <constraints>
      <rsc_location id="pbx-prefers-{preferred}" rsc="pbx" node="{preferred}" score="50"/>
    </constraints>
    <rsc_defaults>
      <meta_attributes id="rsc-options">
        <nvpair id="rsc-options-resource-stickiness" name="resource-stickiness" value="100"/>
      </meta_attributes>
    </rsc_defaults>
  </configuration>
  <status/>
</cib>
"""


# --- the cluster ------------------------------------------------------------------------------


def sh(*argv: str, timeout: float = 60) -> str:
    return nspawn.sh(*argv, timeout=timeout).stdout


@dataclass
class Cluster:
    """Two booted nodes, the shared directory both see, the simulated hardware."""

    nodes: list[Node]
    shared: Path
    power_file: Path
    hardware: Any = None
    thread: threading.Thread | None = None
    events: list[str] = field(default_factory=list)

    @property
    def a(self) -> Node:
        return self.nodes[0]

    @property
    def b(self) -> Node:
        return self.nodes[1]

    def node_dir(self, node: Node) -> Path:
        return self.shared / node.name

    def port(self, node: Node) -> int:
        return self.nodes.index(node)

    # -- set-up --------------------------------------------------------------------------------

    def configure(self, node: Node) -> None:
        """twinstar (only the dahdi step, with the ``dahdi_cfg`` stand-in), corosync, the preset CIB and the service on ``node``."""
        top = self.node_dir(node)
        (top / "sys").mkdir(parents=True, exist_ok=True)
        (top / "maintenance").touch()  # the udev hook and the daemon leave the units to Pacemaker
        (top / "xpp_order").write_text("".join(f"{unit_label(i)}\n" for i in range(UNITS)))
        dahdi_cfg = write_dahdi_cfg(top / "dahdi_cfg", top / "sys", python=INSTALLED_PYTHON, pythonpath=None)
        text = config_text(
            node=node.name,
            state_dir=nspawn.STATE_DIR,
            sysfs=top / "sys",
            xpp_order=top / "xpp_order",
            maintenance_file=top / "maintenance",
            steps=f"  - dahdi: {{timeout: 10, dahdi_cfg: [{dahdi_cfg}]}}\n",
            extra=(
                f"usb: {{simulator: {self.shared / 'astribanks.json'}, simulator_port: {self.port(node)}}}\n"
                "switchover: {leave_timeout: 10}\n"
            ),
        )
        node.write(CONFIG, text, mode=0o600)
        node.write("/etc/corosync/corosync.conf", corosync_conf([(n.name, n.address) for n in self.nodes]))
        for old in ("var/lib/pacemaker/cib", "var/log/pacemaker", "var/log/corosync"):
            for p in node.host_path("/" + old).glob("*"):
                if p.is_file():
                    p.unlink()
        node.write(
            "/var/lib/pacemaker/cib/cib.xml",
            cib_xml(preferred=self.a.name, config=CONFIG, vip=VIP, nic=NIC, service=SERVICE),
            mode=0o600,
        )
        node.run(["chown", "hacluster:haclient", "/var/lib/pacemaker/cib/cib.xml"], check=True)
        node.write(
            f"/etc/systemd/system/{SERVICE}.service",
            "[Unit]\nDescription=Stand-in for the PBX service (Asterisk cannot run here)\n"
            "[Service]\nExecStart=/bin/sleep infinity\n",
        )
        node.systemctl("daemon-reload", check=True)

    def beat(self, node: Node) -> None:
        """The node's sign of life to the units (dies with the node)."""
        node.run(
            ["systemd-run", "--unit=tspm-heartbeat", "--collect", INSTALLED_PYTHON, "-m", "twinstar.demo.heartbeat",
             str(self.node_dir(node) / "heartbeat"), "--interval", "0.05"],
            check=True,
        )

    def start_cluster(self, node: Node) -> None:
        node.systemctl("start", "--no-block", "corosync", "pacemaker", check=True)

    def start_hardware(self) -> None:
        from twinstar.demo.hardware import Hardware
        from twinstar.usb import sim

        sim.init_state(str(self.shared / "astribanks.json"), units=UNITS, port=0)
        self.power_file.write_text(json.dumps({"a": True, "b": True}))
        spec = {
            "sim": str(self.shared / "astribanks.json"),
            "events": str(self.shared / "events.jsonl"),
            "power_file": str(self.power_file),
            "watchdog_timeout": WATCHDOG_TIMEOUT,
            "poll": 0.02,
            "init_delay": 0.1,
            "hook_argv": ["/bin/true"],  # under Pacemaker, no hook acts on the units' events
            "servers": {
                key: {
                    "name": node.name, "port": self.port(node), "netns": node.netns,
                    "sysfs": str(self.node_dir(node) / "sys"), "heartbeat": str(self.node_dir(node) / "heartbeat"),
                    "config": CONFIG, "cache_dir": str(self.node_dir(node) / "cache"),
                    "hook_log": str(self.node_dir(node) / "hook.log"),
                }
                for key, node in zip("ab", self.nodes, strict=True)
            },
        }
        self.hardware = Hardware(spec)
        self.thread = threading.Thread(target=self.hardware.run, name="tspm-hardware", daemon=True)
        self.thread.start()

    def stop_hardware(self) -> None:
        if self.hardware is not None and self.thread is not None:
            self.hardware.running = False
            self.thread.join(timeout=30)

    def set_power(self, **on: bool) -> None:
        wanted = json.loads(self.power_file.read_text())
        wanted.update(on)
        tmp = self.power_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(wanted))
        os.replace(tmp, self.power_file)

    # -- reading ----------------------------------------------------------------------------------

    def sim_ports(self) -> list[int]:
        return [u["port"] for u in self.hardware_units()]

    def hardware_units(self) -> list[dict[str, Any]]:
        from twinstar.usb import sim

        units: list[dict[str, Any]] = sim.load(str(self.shared / "astribanks.json"))["units"]
        return units

    def ready_registered(self, node: Node) -> tuple[bool, bool]:
        """Every unit READY in ``node``'s sysfs; every unit registered with DAHDI there."""
        from twinstar.astribank import sysfs
        from twinstar.standins.fakesysfs import FakeSysfs

        units = sysfs.scan(str(self.node_dir(node) / "sys"))
        labels = {u.label for u in units if u.ready}
        ready = labels >= {unit_label(i) for i in range(UNITS)}
        fake = FakeSysfs(str(self.node_dir(node) / "sys"))
        registered = ready and all(fake.registered(n) for n in fake.units())
        return ready, registered

    def has_vip(self, node: Node) -> bool:
        return f"{VIP}/24" in sh("ip", "-n", node.netns, "-br", "addr", "show", "dev", NIC)

    def service_active(self, node: Node) -> bool:
        return node.systemctl("is-active", SERVICE).stdout.strip() == "active"

    def online(self) -> bool:
        out = self.a.run(["crm_mon", "-1"]).stdout
        return f"Online: [ {self.a.name} {self.b.name} ]" in out

    def located(self, node: Node) -> bool:
        """Every resource of the group started on ``node``, as Pacemaker on ``node`` sees it."""
        out = node.run(["crm_resource", "--locate", "--resource", "pbx"]).stdout
        return f"is running on: {node.name}" in out and self.service_active(node) and self.has_vip(node)

    def status(self) -> str:
        """What to show when a wait fails: Pacemaker's view from each live node, the hardware's events."""
        parts = []
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                parts.append(node.run(["crm_mon", "-1", "--include=all"]).stdout)
            log = node.host_path("/var/log/pacemaker/pacemaker.log")
            if log.exists():
                parts += [line for line in log.read_text(errors="replace").splitlines() if "twinstar ocf" in line][-10:]
        events = self.shared / "events.jsonl"
        if events.exists():
            parts.append("\n".join(events.read_text().splitlines()[-20:]))
        return "\n".join(parts)

    def wait(self, what: str, predicate: Callable[[], bool], timeout: float = MOVE_TIMEOUT) -> float:
        """Poll ``predicate`` (states in other processes that send no event) until true; seconds it took."""
        start = time.monotonic()
        while not predicate():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.status()}")
            time.sleep(0.02)
        return time.monotonic() - start

    # -- what happens ------------------------------------------------------------------------------

    def power_loss(self, node: Node) -> float:
        """Cut ``node``'s power: its link down, its whole container killed, its port unpowered; the time of the cut."""
        assert node.process is not None
        cut = time.monotonic()
        sh("ip", "-n", node.netns, "link", "set", NIC, "down")
        os.kill(node.leader, signal.SIGKILL)
        self.set_power(**{"ab"[self.port(node)]: False})
        node.process.wait(timeout=30)
        # What the node held in memory is gone with it (its namespace outlives it here).
        sh("ip", "-n", node.netns, "addr", "flush", "dev", NIC, "to", f"{VIP}/32")
        return cut

    def power_on(self, node: Node) -> None:
        """Boot ``node`` again (its disk, the overlay, kept), its link up, its port powered, the cluster started."""
        nspawn.boot_again(node)
        sh("ip", "-n", node.netns, "link", "set", NIC, "up")
        self.set_power(**{"ab"[self.port(node)]: True})
        self.beat(node)
        self.start_cluster(node)


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """Both nodes booted, configured, beating and in the cluster with the group on node a; all removed afterwards."""
    shared = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=nspawn.SHARED))
    shared.chmod(0o755)
    try:
        with nspawn.boot_nodes(2, prefix=PREFIX, subnet=SUBNET, binds=[str(shared)]) as nodes:
            cluster = Cluster(nodes, shared, shared / "power.json")
            try:
                cluster.start_hardware()
                for node in nodes:
                    cluster.configure(node)
                    cluster.beat(node)
                for node in nodes:
                    cluster.start_cluster(node)
                cluster.wait("both nodes online", cluster.online)
                cluster.wait(f"the group on {cluster.a.name}", lambda: cluster.located(cluster.a))
                yield cluster
            finally:
                cluster.stop_hardware()
                for node in nodes:
                    # Nothing on the nodes is worth an orderly shutdown: cut the power (boot_nodes removes the rest).
                    if node.process is not None and node.process.poll() is None:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(node.leader, signal.SIGKILL)
                        node.process.wait(timeout=30)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def failover(cluster: Cluster) -> dict[str, float]:
    """Power loss of node a: times (ms from the cut) until the units switch, arrive, register, and the group runs on b."""
    a, b = cluster.a, cluster.b
    cut = cluster.power_loss(a)
    marks: dict[str, float] = {}

    def mark(name: str, predicate: Callable[[], bool]) -> Callable[[], bool]:
        def check() -> bool:
            if name not in marks and predicate():
                marks[name] = (time.monotonic() - cut) * 1000
            return name in marks
        return check

    checks = [
        mark("units_switched_ms", lambda: cluster.sim_ports() == [1] * UNITS),
        mark("units_ready_ms", lambda: cluster.ready_registered(b)[0]),
        mark("registered_ms", lambda: cluster.ready_registered(b)[1]),
        mark("vip_ms", lambda: cluster.has_vip(b)),
        mark("service_ms", lambda: cluster.service_active(b)),
    ]
    cluster.wait(f"the group and the units on {b.name}", lambda: all([c() for c in checks]))
    cluster.wait(f"Pacemaker on {b.name} reports the group there", lambda: cluster.located(b))
    return {k: round(v, 1) for k, v in marks.items()}


def move_back(cluster: Cluster) -> float:
    """Node a back, then ``crm_resource --move`` to it: seconds until the group and the units are there."""
    a, b = cluster.a, cluster.b
    cluster.power_on(a)
    cluster.wait("both nodes online again", cluster.online)
    start = time.monotonic()
    b.run(["crm_resource", "--move", "--resource", "pbx", "--node", a.name], check=True)
    cluster.wait(f"the group on {a.name}", lambda: cluster.located(a) and cluster.ready_registered(a)[1])
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.pacemaker.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with running_cluster() as cluster:
        result: dict[str, Any] = failover(cluster)
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
