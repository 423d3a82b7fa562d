"""What the demo's servers serve and who uses it: the stack a scenario runs on.

A scenario (:mod:`.scenario`) builds the machines, brings pbx-a up, makes it
fail and waits for pbx-b; the stack decides what runs on the servers above
the replica and the address, how a program is run on a server, and which
clients watch the service. The light stack (:class:`LightStack`, here) is a
small UDP responder standing for Asterisk, run by a ``command`` step, and a
client of ours probing it every 10 ms; the real stack
(:mod:`twinstar.demo.stack.pbx`) is Kamailio, MariaDB and Apache under a
real systemd, with SIPp, a phone, a database writer and a web fetcher.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

from twinstar.demo import events, processes, servers
from twinstar.demo.responder import broken_marker, read_pid
from twinstar.demo.servers import ServerFiles, ServiceConfig
from twinstar.demo.topology import Topology, in_netns
from twinstar.demo.watch import own_mounts

if TYPE_CHECKING:
    from twinstar.demo.scenario import Collected, Run


class StackKind(StrEnum):
    LIGHT = "light"
    REAL = "real"


class LightStack:
    """The responder and our probing client; every server program runs in the server's namespace."""

    kind = StackKind.LIGHT
    #: The replica's size (a sparse image).
    image_mb = servers.IMAGE_MB
    #: Whether the operator recovers on pbx-b after a scenario that ends with nobody serving (ping-pong):
    #: the real stack's records (rows, registration) are read on a server that serves; the light stack's need none.
    recovers = False

    def services(self, server: ServerFiles, topo: Topology) -> ServiceConfig:
        return servers.responder(server, topo)

    def build(self, run: Run) -> None:
        """Set the servers up after their files are written (nothing to do here)."""

    def on(self, run: Run, key: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
        """``argv`` run on server ``key`` (``env`` is given to the runner by the caller)."""
        return in_netns(run.topo.server(key).netns, argv)

    def hook_prefix(self, run: Run, key: str) -> list[str] | None:
        """The prefix that runs the hook on server ``key`` keeping its environment (None: in its namespace)."""
        return None

    def mounts(self, run: Run) -> dict[str, tuple[str, str]]:
        """For the mount watch: each server's mount table and the replica's mount point in it."""
        return own_mounts({s.host.name: s.mountpoint for s in run.servers.values()})

    def power_off(self, run: Run, key: str, victims: Sequence[int]) -> None:
        """Everything running on server ``key`` dies at once (``victims``: the processes in its namespace)."""
        processes.kill_pids(victims)

    def power_on(self, run: Run, key: str) -> None:
        """Server ``key`` boots again after a power cut (nothing of the light stack runs at boot)."""

    def break_pbx(self, run: Run, key: str) -> None:
        """From now on the PBX cannot start on server ``key``: its responder refuses (a marker file)."""
        open(broken_marker(run.servers[key].pidfile), "w").close()

    def repair_pbx(self, run: Run, key: str) -> str:
        """The PBX can start on server ``key`` again (the operator fixed it); what was done, for the timeline."""
        os.unlink(broken_marker(run.servers[key].pidfile))
        return "the responder's refusal marker removed"

    def kill_pbx(self, run: Run, key: str) -> None:
        """The PBX on server ``key`` dies."""
        pid = read_pid(run.servers[key].pidfile)
        if pid is not None:
            processes.kill_pids([pid])

    def restart_pbx(self, run: Run, key: str) -> int:
        """A monitor's restart of the PBX on server ``key`` (the command step's ``start``); its exit status."""
        step = servers.responder(run.servers[key], run.topo).steps[0]["command"]
        result = run.runner.run(self.on(run, key, step["start"]), timeout=run.options.wait, ok_codes=None, quiet=True)
        return result.returncode

    def start_clients(self, run: Run, log: str) -> None:
        assert run.shared is not None
        py = sys.executable
        argv = [py, "-m", "twinstar.demo.client", "--address", str(run.topo.shared.ip),
                "--port", str(servers.SERVICE_PORT), "--out", run.shared.client_log]  # fmt: skip
        client = processes.spawn(in_netns(run.topo.c.netns, argv), log_path=log)
        run.procs["client"] = client
        run.cleanup.add("client", lambda: processes.stop(client))

    def served_by(self, run: Run, name: str, since: float = 0.0) -> bool:
        """The client's last answer came from server ``name``, at ``since`` (wall clock) or later."""
        assert run.shared is not None
        probes = events.read(run.shared.client_log)
        return bool(probes) and probes[-1].get("by") == name and float(probes[-1]["t"]) >= since

    def after_up(self, run: Run) -> None:
        """pbx-a serves (the clients that act once do it now)."""

    def after_failover(self, run: Run) -> None:
        """pbx-b serves."""

    def collect(self, run: Run, collected: Collected) -> None:
        """Stop the stack's clients and read their records into ``collected`` (servers still up)."""
        if run.shared is not None:
            collected.probes = events.read(run.shared.client_log)

    def removal(self, run: Run) -> list[list[str]]:
        """``--keep``: commands that remove what the stack itself left (before the namespaces go)."""
        return []
