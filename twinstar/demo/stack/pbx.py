"""The real stack: Kamailio, MariaDB and Apache under a real systemd on each server.

Each server is a container with systemd as PID 1 (:mod:`twinstar.demo.containers`)
in the server's namespace. The services are Debian's own units, disabled at
boot; the takeover list is ``drbd``, ``ip``, then ``dahdi`` and the three
services together, in the order their units give (:data:`SERVICES`). Set
up as the vendor document has an
operator do it: on pbx-a, with the replica mounted, ``twinstar replica add``
moves ``/etc/kamailio``, ``/var/lib/mysql`` and ``/var/www`` onto it (then
the data directory is made once with ``mariadb-install-db`` and the schema
loaded); pbx-b gets the same links with ``twinstar replica link``. Each
server's own files stay off the replica: the node name Kamailio answers with
(a drop-in of ``kamailio.service``) and MariaDB's durable-commit settings.

The clients run in the client namespace: SIPp pings with ``OPTIONS`` every
10 ms, the phone registers once on pbx-a and is looked up on pbx-b, the
writer commits a row every 10 ms, the web fetcher gets the page every 50 ms.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from twinstar.demo import events, processes
from twinstar.demo.containers import (
    Container,
    boot,
    entering,
    make_root,
    nodes_dir,
    program_binds,
    reboot,
)
from twinstar.demo.servers import ServerFiles, ServiceConfig
from twinstar.demo.stack import apache, kamailio, mariadb, sipp, writer
from twinstar.demo.stack.results import Records
from twinstar.demo.stacks import LightStack, StackKind
from twinstar.demo.topology import Topology, in_netns
from twinstar.engine.state import Role
from twinstar.errors import TwinstarError

if TYPE_CHECKING:
    from twinstar.demo.scenario import Collected, Run

REPLICA = "/replica"
#: The services, started together once the replica is mounted and the address is up, beside the units'
#: DAHDI registration (one ``parallel`` group after ``drbd`` and ``ip``); their order is systemd's, from
#: the units: Kamailio needs the database (usrloc connects to it and loads the registrations when
#: Kamailio starts: ``Requires=`` and ``After=mariadb.service``, :func:`~twinstar.demo.stack.kamailio.unit_dropin`);
#: Apache needs neither but comes after Kamailio, off their starts' CPU (:func:`~twinstar.demo.stack.apache.unit_dropin`).
#: systemd starts each the moment the one before it is up: no round trip through the takeover between them.
SERVICES = ("mariadb", "kamailio", "apache2")
#: What ``twinstar replica add`` moves onto the replica on pbx-a.
MANAGED = ("/etc/kamailio", "/var/lib/mysql", "/var/www")
WEB_ROOT = "/var/www/html"
SERVICE_TIMEOUT = 60
KAMAILIO_DROPIN = "/etc/systemd/system/kamailio.service.d/twinstar-demo.conf"
#: The drop-in that keeps Kamailio from starting on a server (the failure scenarios).
BROKEN_DROPIN = "/etc/systemd/system/kamailio.service.d/twinstar-demo-broken.conf"
MARIADB_CNF = "/etc/mysql/mariadb.conf.d/99-twinstar-demo.cnf"
SYSTEM_PYTHON = "/usr/bin/python3"
#: What the real stack needs from this machine: a program or file, and the Debian package that has it.
REQUIRED = {
    "systemd-nspawn": "systemd-container",
    "kamailio": "kamailio",
    f"{kamailio.MODULES_DIR}db_mysql.so": "kamailio-mysql-modules",
    "sipp": "sip-tester",
    "mariadbd": "mariadb-server",
    "mariadb-install-db": "mariadb-server",
    "mariadb": "mariadb-client",
    "apache2": "apache2",
    "/usr/lib/python3/dist-packages/pymysql/__init__.py": "python3-pymysql",
}
SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def missing_packages() -> dict[str, str]:
    """What :data:`REQUIRED` names that this machine lacks (program or file -> package)."""
    out = {}
    for need, package in REQUIRED.items():
        found = os.path.exists(need) if need.startswith("/") else shutil.which(need, path=SEARCH_PATH) is not None
        if not found:
            out[need] = package
    return out


class RealStack(LightStack):
    kind = StackKind.REAL
    recovers = True
    image_mb = 256  # InnoDB's system tablespace and redo log, the usrloc tables

    def __init__(self) -> None:
        self.containers: dict[str, Container] = {}
        self.clients: dict[str, subprocess.Popen[bytes]] = {}
        self.failover_at: float | None = None
        self.nodes: str | None = None  # the containers' directories (overlays, consoles)

    # -- the servers ---------------------------------------------------------------------------

    def services(self, server: ServerFiles, topo: Topology) -> ServiceConfig:
        def step(name: str) -> dict[str, Any]:
            return {"service": {"name": name, "manager": "systemd", "timeout": SERVICE_TIMEOUT}}

        # A failed takeover is retried for about 7 times the first delay: long enough for the other
        # server's reboot (a container's systemd) and a takeover's service starts.
        return ServiceConfig(REPLICA, [], None, retry_delay=4.0, with_dahdi=tuple(step(n) for n in SERVICES))

    def build(self, run: Run) -> None:
        assert run.loop is not None
        nodes = self.nodes = nodes_dir(run.options.base_dir, run.topo.prefix)
        run.cleanup.add(f"container directory {nodes}", lambda: shutil.rmtree(nodes, ignore_errors=True))
        os.makedirs(nodes, mode=0o700)
        for key in ("a", "b"):
            host = run.topo.server(key)
            c = Container(host.name, host.netns, os.path.join(nodes, key), binds=(run.workdir, run.loop, *program_binds()))
            self.containers[key] = c
            run.progress(f"booting {host.name}: systemd in a container on an overlay of /")
            make_root(c, run.runner, run.cleanup)
            self._own_files(c)
            boot(c, run.runner, run.cleanup)
        run.progress("pbx-a: replica add /etc/kamailio /var/lib/mysql /var/www; mariadb-install-db; the schema")
        self._set_up_a(run, self.containers["a"])
        run.progress("pbx-b: replica link")
        self._twinstar(run, "b", "replica", "link", *MANAGED)

    def _own_files(self, c: Container) -> None:
        """What stays on each server: the node name, MariaDB's settings and units, the mount point, an empty
        data directory."""
        c.write(KAMAILIO_DROPIN, kamailio.unit_dropin(c.name))
        c.write(apache.UNIT_DROPIN, apache.unit_dropin())
        c.write(MARIADB_CNF, mariadb.server_cnf())
        c.write(mariadb.UNIT_DROPIN, mariadb.unit_dropin())
        c.write(mariadb.CHECKS_UNIT, mariadb.checks_unit())
        os.makedirs(c.host_path(REPLICA), exist_ok=True)
        # An empty data directory: mariadb-install-db makes the demo's own, not a copy of this machine's.
        shutil.rmtree(c.host_path("/var/lib/mysql"), ignore_errors=True)
        os.makedirs(c.host_path("/var/lib/mysql"))
        user = pwd.getpwnam("mysql")
        os.chown(c.host_path("/var/lib/mysql"), user.pw_uid, user.pw_gid)

    def _set_up_a(self, run: Run, c: Container) -> None:
        assert run.loop is not None
        r = run.runner
        c.run(r, ["systemctl", "disable", "--quiet", *SERVICES])
        c.run(r, ["mount", run.loop, REPLICA])
        try:
            self._twinstar(run, "a", "replica", "add", *MANAGED)
            settings = kamailio.KamailioSettings(str(run.topo.shared.ip), mariadb.kamailio_db_url())
            _write(_on_replica(c, "/etc/kamailio", "kamailio.cfg"), kamailio.config(settings))
            page = _on_replica(c, "/var/www", os.path.relpath(WEB_ROOT, "/var/www"), apache.PAGE)
            os.makedirs(os.path.dirname(page), exist_ok=True)
            _write(page, apache.page("twinstar demo: the PBX's web page, on the replica"))
            c.run(r, kamailio.check_argv("/etc/kamailio/kamailio.cfg"))
            c.run(r, mariadb.install_argv("/var/lib/mysql"), timeout=120)
            c.run(r, ["systemctl", "start", "mariadb"], timeout=SERVICE_TIMEOUT)
            c.run(r, mariadb.client_argv(), input_text=mariadb.setup_sql(kamailio.schema()))
            c.run(r, ["systemctl", "stop", "mariadb"], timeout=SERVICE_TIMEOUT)
        finally:
            c.run(r, ["umount", REPLICA])
        self.containers["b"].run(r, ["systemctl", "disable", "--quiet", *SERVICES])

    def _twinstar(self, run: Run, key: str, *args: str) -> None:
        env = {"TWINSTAR_CONFIG": run.servers[key].config}
        result = run.runner.run(self.on(run, key, [sys.executable, "-m", "twinstar", *args], env),
                                timeout=120, ok_codes=None, quiet=True)  # fmt: skip
        if result.returncode != 0:
            raise TwinstarError(f"{run.topo.server(key).name}: twinstar {' '.join(args)} failed: {result.output}")

    def on(self, run: Run, key: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
        return self.containers[key].enter(argv, env)

    def hook_prefix(self, run: Run, key: str) -> list[str] | None:
        return entering(self.containers[key].leader)

    def mounts(self, run: Run) -> dict[str, tuple[str, str]]:
        return {c.name: (c.mountinfo, REPLICA) for c in self.containers.values()}

    def power_off(self, run: Run, key: str, victims: Sequence[int]) -> None:
        """SIGKILL to the container's PID 1 first: the kernel ends every process in it and its mounts go
        with its mount namespace; the rest of the namespace's processes (those entered from outside) are
        killed too. Nothing is waited for: the kernel's teardown of a container takes a while (more
        under load), and the rest of the power cut (the link, DRBD's view, the units' power) must follow
        at once, before the units' watchdog fires."""
        c = self.containers[key]
        processes.sigkill([c.leader])
        processes.sigkill(victims)

    def power_on(self, run: Run, key: str) -> None:
        """The server boots again: its systemd in the same overlay (the services stay disabled)."""
        run.progress(f"booting {run.topo.server(key).name} again")
        reboot(self.containers[key], run.runner, run.cleanup)

    def break_pbx(self, run: Run, key: str) -> None:
        """From now on ``kamailio.service`` cannot start on server ``key``: a drop-in whose
        ``ExecStartPre`` fails (``systemctl daemon-reload`` makes systemd read it)."""
        c = self.containers[key]
        c.write(BROKEN_DROPIN, "[Service]\nExecStartPre=/bin/false\n")
        c.run(run.runner, ["systemctl", "daemon-reload"], timeout=SERVICE_TIMEOUT)

    def repair_pbx(self, run: Run, key: str) -> str:
        """The operator's fix: the failing drop-in removed, systemd told (``daemon-reload``) and the unit's
        failed state and start counter cleared (``reset-failed``)."""
        c = self.containers[key]
        os.unlink(c.host_path(BROKEN_DROPIN))
        c.run(run.runner, ["systemctl", "daemon-reload"], timeout=SERVICE_TIMEOUT)
        c.run(run.runner, ["systemctl", "reset-failed", "kamailio"], timeout=SERVICE_TIMEOUT, ok_codes=None)
        return f"the failing drop-in {BROKEN_DROPIN} removed, systemctl daemon-reload, systemctl reset-failed kamailio"

    def kill_pbx(self, run: Run, key: str) -> None:
        """Kamailio dies on server ``key`` (SIGKILL to its processes; systemd's own restart fails too)."""
        self.containers[key].run(run.runner, ["systemctl", "kill", "--signal=SIGKILL", "kamailio"], ok_codes=None)

    def restart_pbx(self, run: Run, key: str) -> int:
        """A monitor's ``systemctl restart kamailio`` on server ``key``; its exit status."""
        result = self.containers[key].run(run.runner, ["systemctl", "restart", "kamailio"], timeout=SERVICE_TIMEOUT, ok_codes=None)
        return result.returncode

    # -- the clients -----------------------------------------------------------------------------

    def files(self, run: Run) -> dict[str, str]:
        return {name: os.path.join(run.workdir, name) for name in
                ("options.xml", "sipp.csv", "sipp.log", "phone.jsonl", "writer.jsonl", "web.jsonl")}  # fmt: skip

    def start_clients(self, run: Run, log: str) -> None:
        f = self.files(run)
        with open(f["options.xml"], "w") as out:
            out.write(sipp.SCENARIO)
        address, local = str(run.topo.shared.ip), str(run.topo.c.address.ip)
        argvs = {
            "sipp": sipp.argv(address, local, scenario=f["options.xml"], stat_file=f["sipp.csv"], log_file=f["sipp.log"]),
            "writer": [SYSTEM_PYTHON, writer.__file__, "--host", address, "--out", f["writer.jsonl"]],
            "web": [sys.executable, "-m", "twinstar.demo.stack.web", "--url", f"http://{address}/", "--out", f["web.jsonl"]],
        }
        for name, argv in argvs.items():
            proc = processes.spawn(in_netns(run.topo.c.netns, argv), log_path=log)
            self.clients[name] = proc
            run.cleanup.add(name, functools.partial(processes.stop, proc))

    def served_by(self, run: Run, name: str, since: float = 0.0) -> bool:
        sip = self.clients.get("sipp")
        if sip is not None and sip.poll() is not None:
            raise TwinstarError(f"SIPp exited with status {sip.returncode}; its output is in {run.workdir}/processes.log "
                                "(kept with --keep)")  # fmt: skip
        f = self.files(run)
        record = sipp.read(f["sipp.csv"], f["sipp.log"])
        if not record.answers or record.answers[-1].node != name:
            return False
        at = record.wall(record.answers[-1].tick_ms)
        return at is not None and at >= since

    def _phone(self, run: Run, action: str) -> None:
        argv = [sys.executable, "-m", "twinstar.demo.stack.phone", action, "--server", str(run.topo.shared.ip),
                "--local", str(run.topo.c.address.ip), "--out", self.files(run)["phone.jsonl"]]  # fmt: skip
        run.runner.run(in_netns(run.topo.c.netns, argv), timeout=30, ok_codes=None, quiet=True)

    def after_up(self, run: Run) -> None:
        run.progress("the phone registers with pbx-a")
        self._phone(run, "register")
        self._phone(run, "lookup")

    def after_failover(self, run: Run) -> None:
        self.failover_at = time.time()
        self._phone(run, "lookup")

    def collect(self, run: Run, collected: Collected) -> None:
        f = self.files(run)
        sip = self.clients.get("sipp")
        if sip is not None and sip.poll() is None:
            sip.send_signal(signal.SIGUSR1)  # SIPp: no new calls, finish, write its last statistics, exit
            try:
                sip.wait(timeout=10)
            except subprocess.TimeoutExpired:
                processes.stop(sip)
        for name in ("writer", "web"):
            if name in self.clients:
                processes.stop(self.clients[name])
        present = self._rows(run)
        record = sipp.read(f["sipp.csv"], f["sipp.log"])
        collected.probes = probes(record)
        collected.stack = Records(
            sip=record,
            phone=events.read(f["phone.jsonl"]),
            failover_at=self.failover_at,
            writer=events.read(f["writer.jsonl"]),
            present=present,
            fetches=events.read(f["web.jsonl"]),
        )

    def _rows(self, run: Run) -> list[int] | None:
        """The writer's rows on the server that serves at the end (pbx-b unless only pbx-a is active;
        None when its database does not answer)."""
        key = "a" if run.role("a") == Role.ACTIVE and run.role("b") != Role.ACTIVE else "b"
        c = self.containers.get(key)
        if c is None or not c.leader:
            return None
        argv = [*mariadb.client_argv(), "--execute", mariadb.rows_query()]
        result = run.runner.run(c.enter(argv), timeout=30, ok_codes=None, quiet=True)
        return mariadb.parse_ids(result.stdout) if result.returncode == 0 else None

    def removal(self, run: Run) -> list[list[str]]:
        """``--keep``: the containers go first (SIGKILL to PID 1 ends all of a container, and to its
        systemd-nspawn), then their overlays."""
        commands = [["kill", "-KILL", str(c.leader), str(c.process.pid)] for c in self.containers.values()
                    if c.process is not None and _alive(c)]  # fmt: skip
        for c in self.containers.values():
            commands += [["umount", "--lazy", c.root], ["umount", "--lazy", os.path.join(c.top, "ovl")]]
        if self.nodes is not None and os.path.isdir(self.nodes):
            commands.append(["rm", "-r", self.nodes])
        return commands


def probes(record: sipp.SippRecord) -> list[dict[str, Any]]:
    """SIPp's calls as the demo's probes (``{"t", "by"}``): answered ones at SIPp's clock, the others
    at the time they were due (one every :data:`sipp.INTERVAL_MS`)."""
    if record.start is None:
        return []
    by_call = {a.call: a for a in record.answers}
    last = max(by_call, default=0)
    out = []
    for call in range(1, last + 1):
        answer = by_call.get(call)
        if answer is not None:
            out.append({"t": record.wall(answer.tick_ms), "by": answer.node})
        else:
            out.append({"t": record.start + (call - 1) * sipp.INTERVAL_MS / 1000, "by": None})
    return out


def _alive(c: Container) -> bool:
    return c.process is not None and c.process.poll() is None and c.leader != 0


def _on_replica(c: Container, managed: str, *parts: str) -> str:
    """A file below the managed path ``managed``, seen from the machine in the container's mounted replica.

    The path's symlink is absolute (``/replica/...``): it is read and followed
    under ``/proc/PID1/root``, since the kernel would resolve it against the
    machine's own ``/``.
    """
    target = os.readlink(c.host_path(managed))
    return os.path.join(f"/proc/{c.leader}/root", target.lstrip("/"), *parts)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)


