"""One demo run: build the machines, bring A up, fail over to B, collect what happened.

Scenario ``power-loss``: A's power is cut (its heartbeat and every process on
it die, its interface goes away, its mount goes with its kernel, DRBD loses
its peer, USB-0 loses VBUS); the units' watchdog notices the silence and
switches them to B, whose own hook and engine take over.

Scenario ``switchover``: ``twinstar switchover`` runs on A (inside A's
namespace, with A's configuration): it releases A and jumps the units; B's
hook and engine take over.

Scenario ``split-units``: one unit alone switches to pbx-b (its cable to
pbx-a pulled); pbx-b, a standby holding some but not all units, waits the
split grace period and sends it back; pbx-a stays active, raises the alarm
naming the missing unit and clears it when the unit is back.

Scenario ``stale-primary``: both servers boot, the units on pbx-a's port;
pbx-a's DRBD disk is Outdated, pbx-b's UpToDate. pbx-a's promotion is
refused ("Need access to UpToDate data"), so pbx-a hands the units over
instead of failing, and pbx-b serves.

Scenario ``failed-takeover``: the PBX cannot start on pbx-b; pbx-a's power is
cut, the watchdog moves the units to pbx-b, whose takeover fails; pbx-a's
power comes back and it boots (its ``/run`` empty, nothing of the PBX
running); pbx-b retries with backoff, then hands the units back: pbx-a's hook
takes over and pbx-a serves again.

Scenario ``ping-pong``: the PBX can start on neither server. pbx-b retries,
hands the units back; pbx-a retries, hands them back once; pbx-b, which
handed them back within the window, keeps them and raises the alarm: no loop.
On the real stack the operator then recovers as docs/operations.md says (the
fault fixed on pbx-b, ``twinstar takeover`` there), so that the database's
rows and the phone's registration are read on a server that serves.

Scenario ``service-dies``: the PBX on the active pbx-a dies and cannot be
started there again; a monitor (as Monit would: one restart, then
``twinstar give-up --reason TEXT``) makes pbx-a release and hand the units
over; pbx-b serves.

Every resource is registered with the cleanup registry as it is created;
:func:`run` collects the records (event log, client log, both journals) before
the registry tears everything down.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from enum import StrEnum
from typing import Any

from twinstar import settings
from twinstar.demo import events, processes, servers, topology
from twinstar.demo.cleanup import CleanupRegistry
from twinstar.demo.containers import nodes_dir
from twinstar.demo.members import DemoProcesses, cgroup_taken
from twinstar.demo.servers import ServerFiles, Shared
from twinstar.demo.stack.results import Records
from twinstar.demo.stacks import LightStack, StackKind
from twinstar.demo.topology import Topology
from twinstar.demo.watch import AddressWatch, MountWatch
from twinstar.engine.proc import ProgramResult, ProgramRunner, signals_held
from twinstar.engine.state import Role, StateStore
from twinstar.errors import TwinstarError
from twinstar.standins import drbdadm
from twinstar.usb import sim

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOOK = os.path.join(REPO, "hooks", "atribank_hook")


def hook_argv() -> list[str]:
    """How udev runs the hook: with the interpreter options of its ``#!`` line (``-IS``), under this
    environment's interpreter, which has the dependencies the hook loads (with ``site``) when an event needs them."""
    with open(HOOK, "rb") as f:
        _, *options = f.readline().decode().removeprefix("#!").split()
    return [sys.executable, *options, HOOK]


def leftover(base_dir: str, prefix: str) -> bool:
    """Whether a demo named ``prefix`` left something here: a namespace, its work or container directory, its
    cgroup. Its process was killed before its cleanup, and this process has its process id."""
    names = topology.plan(prefix=prefix).namespaces
    paths = [os.path.join(topology.NETNS_DIR, n) for n in names]
    paths += [os.path.join(base_dir, prefix), nodes_dir(base_dir, prefix)]
    return any(os.path.lexists(p) for p in paths) or cgroup_taken(prefix)


class Scenario(StrEnum):
    POWER_LOSS = "power-loss"
    SWITCHOVER = "switchover"
    SPLIT_UNITS = "split-units"
    STALE_PRIMARY = "stale-primary"
    FAILED_TAKEOVER = "failed-takeover"
    PING_PONG = "ping-pong"
    SERVICE_DIES = "service-dies"


#: The scenarios in which the service moves from pbx-a to pbx-b (the failover's times are measured).
FAILOVERS = (Scenario.POWER_LOSS, Scenario.SWITCHOVER)


@dataclass(frozen=True)
class Options:
    _: KW_ONLY
    units: int = 2
    watchdog_timeout: float = 0.5
    dad_timeout: float = 0.03  # the servers' ip step's (the documented default is 0.2)
    unit_init: float = 0.1  # a unit's arrival -> READY: the simulated driver's initialisation (real units: seconds)
    keep: bool = False
    wait: float = 30.0  # the longest any stage may take before the run fails
    base_dir: str = "/tmp"
    stack: StackKind = StackKind.LIGHT


def make_stack(kind: StackKind) -> LightStack:
    """The stack a run serves: the light responder, or the real PBX stack under systemd."""
    if kind is StackKind.REAL:
        from twinstar.demo.stack.pbx import RealStack

        return RealStack()
    return LightStack()


class DemoFailed(TwinstarError):
    """A stage of the demo did not happen in time; the run is reported as failed."""


@dataclass
class Collected:
    """Everything the report needs, read before the work directory goes away."""

    scenario: Scenario
    options: Options
    topology: Topology
    started: float
    events: list[dict[str, Any]] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    journals: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    switchover: dict[str, Any] | None = None
    error: str | None = None
    cleanup_failures: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # --keep: the commands that remove what is left
    workdir: str = ""
    built: bool = False  # the machines and processes were all up (the story could start)
    stack: Records | None = None  # the real stack's client records
    #: After a scenario that ends with nobody serving, the operator's recovery (:meth:`Run.recover`).
    recovery: dict[str, Any] | None = None


Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


class Run:
    """One scenario on freshly built machines."""

    def __init__(self, scenario: Scenario, options: Options, cleanup: CleanupRegistry, progress: Progress) -> None:
        self.scenario = scenario
        self.options = options
        self.cleanup = cleanup
        self.progress = progress
        self.runner = ProgramRunner()
        self.topo = topology.plan(prefix=topology.free_prefix(os.getpid(), functools.partial(leftover, options.base_dir)))
        self.workdir = os.path.join(options.base_dir, self.topo.prefix)
        self.shared: Shared | None = None
        self.servers: dict[str, ServerFiles] = {}
        self.observers: set[int] = set()
        self.procs: dict[str, Any] = {}
        self.watches: list[AddressWatch | MountWatch] = []
        self.mount_watch: MountWatch | None = None
        self.loop: str | None = None
        self.members: DemoProcesses | None = None
        self.stack = make_stack(options.stack)

    # -- building ----------------------------------------------------------------------------

    def build(self) -> None:
        self.progress(f"building hosts pbx-a, pbx-b and client ({self.topo.prefix}-*), {self.options.units} units")
        with signals_held():  # a Ctrl-C here would leave the demo process in the cgroup
            self.members = DemoProcesses.enter(self.topo.prefix, self.topo.namespaces)
            self.cleanup.add(f"processes of the demo ({self.members.method})", self.members.remove)
        self.cleanup.add(f"work directory {self.workdir}", self.remove_workdir)
        os.makedirs(self.workdir, mode=0o700)
        topology.build(self.topo, self.runner, self.cleanup)
        loop = servers.make_replica(self.workdir, self.runner, self.cleanup, size_mb=self.stack.image_mb)
        self.loop = loop
        self.cleanup.add(f"mounts under {self.workdir}", lambda: servers.unmount_under(self.runner, self.workdir))
        # Undone first: the responder runs from the mount, so it must be gone before the unmount.
        self.cleanup.add(f"processes of the demo ({self.members.method})", self.members.kill_all)
        self.shared, self.servers = servers.prepare(
            self.topo,
            self.workdir,
            units=self.options.units,
            loop_device=loop,
            dad_timeout=self.options.dad_timeout,
            services=self.stack.services,
        )
        events.emit(self.shared.events, "demo start", "", scenario=self.scenario.value, stack=self.stack.kind.value)
        self.stack.build(self)

    def remove_workdir(self) -> None:
        if os.path.isdir(self.workdir):
            shutil.rmtree(self.workdir)

    def start_processes(self) -> None:
        assert self.shared is not None
        log = os.path.join(self.workdir, "processes.log")
        address = str(self.topo.shared.ip)
        for key in ("a", "b"):
            w = AddressWatch(self.topo.server(key).netns, self.topo.server(key).name, address, self.shared.events)
            self.observers.add(w.pid)
            self.watches.append(w)
            self.cleanup.add(f"address watch on {key}", w.stop)
        mounts = self.mount_watch = MountWatch(self.stack.mounts(self), self.shared.events)
        self.watches.append(mounts)
        self.cleanup.add("mount watch", mounts.stop)
        py = sys.executable
        self.stack.start_clients(self, log)
        for key in self.servers:
            self.start_heartbeat(key)
        if self.shared.drbdadm_server:
            server = processes.spawn(
                [py, "-m", "twinstar.standins.drbdadm", "--serve", self.shared.drbdadm_socket, "--state", self.shared.drbd_state],
                log_path=log,
            )
            self.procs["drbdadm"] = server
            self.cleanup.add("drbdadm stand-in", lambda: processes.stop(server))
        spec_path = self.write_hardware_spec()
        hardware = processes.spawn([py, "-m", "twinstar.demo.hardware", spec_path], log_path=log)
        self.procs["hardware"] = hardware
        self.cleanup.add("simulated hardware", lambda: processes.stop(hardware, grace=10))

    def write_hardware_spec(self) -> str:
        """What the simulated hardware plays (re-read by it when a server's power comes back: a server
        that booted again may be entered differently)."""
        assert self.shared is not None
        spec = {
            "sim": self.shared.sim,
            "events": self.shared.events,
            "power_file": self.shared.power,
            "watchdog_timeout": self.options.watchdog_timeout,
            "init_delay": self.options.unit_init,
            "hook_argv": hook_argv(),
            "servers": {
                key: {
                    "name": s.host.name, "port": s.port, "netns": s.host.netns, "sysfs": s.sysfs,
                    "heartbeat": s.heartbeat, "config": s.config, "cache_dir": s.cache_dir, "hook_log": s.hook_log,
                    "enter": self.stack.hook_prefix(self, key),
                }
                for key, s in self.servers.items()
            },
        }  # fmt: skip
        spec_path = os.path.join(self.workdir, "hardware.json")
        tmp = spec_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(spec, f, indent=2)
        os.replace(tmp, spec_path)
        return spec_path

    def start_heartbeat(self, key: str) -> None:
        s = self.servers[key]
        log = os.path.join(self.workdir, "processes.log")
        beat = processes.spawn(self.stack.on(self, key, [sys.executable, "-m", "twinstar.demo.heartbeat", s.heartbeat]), log_path=log)
        self.procs[f"heartbeat-{key}"] = beat
        self.cleanup.add(f"heartbeat of {s.host.name}", functools.partial(processes.stop, beat))

    def removal(self) -> list[list[str]]:
        """Commands that remove what is left now (``--keep``), safe to paste at once.

        The PBX runs from the mount and ends a moment after ``kill``: the
        unmount is lazy, and the loop device is freed when the mount is.
        """
        pids = [str(p) for ns in self.topo.namespaces for p in topology.netns_pids(self.runner, ns)]
        commands = self.stack.removal(self)
        commands += [["kill", *pids]] if pids else []
        commands += [["ip", "netns", "del", ns] for ns in self.topo.namespaces if topology.netns_exists(ns)]
        commands += [["umount", "--lazy", m] for m in servers.mounts_under(self.workdir)]
        if self.loop is not None:
            commands.append(["losetup", "-d", self.loop])
        if os.path.isdir(self.workdir):
            commands.append(["rm", "-r", self.workdir])
        if self.members is not None and self.members.kept:
            commands.append(["rmdir", *self.members.kept])
        return commands

    # -- waiting -----------------------------------------------------------------------------

    def wait_for(self, what: str, ready: Callable[[], bool], *, timeout: float | None = None) -> None:
        wait = self.options.wait if timeout is None else timeout
        deadline = time.monotonic() + wait
        while not ready():
            hw = self.procs.get("hardware")
            if hw is not None and hw.poll() is not None:
                raise DemoFailed(f"the simulated hardware exited with status {hw.returncode} while waiting for {what}")
            if time.monotonic() > deadline:
                raise DemoFailed(f"{what} did not happen within {wait:g} s")
            time.sleep(0.02)

    def role(self, key: str) -> Role:
        try:
            return StateStore(self.servers[key].state_dir).read().role
        except TwinstarError:
            return Role.STANDBY

    def served_by(self, name: str, since: float = 0.0) -> bool:
        return self.stack.served_by(self, name, since)

    def watchdogs_on(self) -> bool:
        assert self.shared is not None
        return all(u["watchdog"] for u in sim.load(self.shared.sim)["units"])

    # -- the story ---------------------------------------------------------------------------

    def bring_up_a(self) -> None:
        self.progress("units attach to pbx-a; its hook takes over")
        self.wait_for("pbx-a becoming active and answering", lambda: self.role("a") == Role.ACTIVE and self.served_by("pbx-a"))
        self.stack.after_up(self)
        self.arm_watchdogs()
        time.sleep(0.2)  # the client sees a steady service before the failure

    def arm_watchdogs(self) -> None:
        """The hook re-arms each unit's watchdog when it comes online; make sure it did.

        When it did not within a second, ``twinstar enable-wd`` runs on pbx-a
        (as an operator would) and the timeline says so.
        """
        assert self.shared is not None
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if self.watchdogs_on():
                return
            time.sleep(0.02)
        a = self.servers["a"]
        result = self.twinstar_on("a", "enable-wd")
        events.emit(self.shared.events, f"twinstar enable-wd exit {result.returncode} (the hook did not arm it)", a.host.name)
        self.wait_for("the units' watchdog being armed on pbx-a", self.watchdogs_on)

    def twinstar_on(self, key: str, command: str, *args: str) -> ProgramResult:
        """``twinstar <command> [ARGS]`` on server ``key``, with its configuration."""
        env = {"TWINSTAR_CONFIG": self.servers[key].config}
        return self.runner.run(
            self.stack.on(self, key, [sys.executable, "-m", "twinstar", command, *args], env),
            timeout=self.options.wait,
            ok_codes=None,
            env=env,
            quiet=True,
        )

    def cut_power_a(self) -> None:
        assert self.shared is not None
        a = self.servers["a"]
        self.progress(f"cutting pbx-a's power; watchdog timeout {self.options.watchdog_timeout * 1000:.0f} ms")
        events.emit(self.shared.events, "power cut", a.host.name)
        victims = [p for p in topology.netns_pids(self.runner, a.host.netns) if p not in self.observers]
        self.stack.power_off(self, "a", victims)
        topology.unplug(self.topo, a.host, self.runner)
        servers.unmount_under(self.runner, a.root)
        drbdadm.set_role(self.shared.drbd_state, servers.RESOURCE, a.host.name, "Secondary")
        drbdadm.set_connected(self.shared.drbd_state, servers.RESOURCE, False)
        self.set_power(a=False)
        events.emit(self.shared.events, "pbx-a is dark", a.host.name, killed=len(victims))

    def set_power(self, *, a: bool) -> None:
        """What ``power.json`` tells the simulated hardware: which servers have power (pbx-b always)."""
        assert self.shared is not None
        tmp = self.shared.power + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"a": a, "b": True}, f)
        os.replace(tmp, self.shared.power)

    def power_back_a(self) -> None:
        """pbx-a's power comes back and it boots: what was in its ``/run`` (twinstar's state, the
        policy's memory, the hook's cache) is gone, but for the journal (kept for the report, as the
        server's syslog keeps its lines); its interface and DRBD's link are back, its heartbeat
        starts; then its port is powered (the units arrive there only when someone jumps them)."""
        assert self.shared is not None
        a = self.servers["a"]
        self.progress("power comes back to pbx-a; it boots")
        events.emit(self.shared.events, "power back", a.host.name)
        for name in os.listdir(a.state_dir) if os.path.isdir(a.state_dir) else []:
            path = os.path.join(a.state_dir, name)
            if name.startswith(settings.JOURNAL_FILE):
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        shutil.rmtree(a.cache_dir, ignore_errors=True)
        os.makedirs(a.cache_dir, mode=0o700)
        os.chmod(a.cache_dir, 0o700)  # the hook uses its cache only in a directory closed to others
        topology.connect(self.topo, a.host, self.runner)
        self.stack.power_on(self, "a")
        if self.mount_watch is not None:
            self.mount_watch.follow(self.stack.mounts(self))
        drbdadm.set_connected(self.shared.drbd_state, servers.RESOURCE, True)
        self.start_heartbeat("a")
        self.write_hardware_spec()
        self.set_power(a=True)
        events.emit(self.shared.events, "pbx-a booted", a.host.name)

    def switch_over(self) -> dict[str, Any]:
        assert self.shared is not None
        a = self.servers["a"]
        self.progress("running twinstar switchover on pbx-a")
        events.emit(self.shared.events, "twinstar switchover", a.host.name)
        result = self.twinstar_on("a", "switchover")
        events.emit(self.shared.events, f"twinstar switchover exit {result.returncode}", a.host.name)
        return {"exit_status": result.returncode, "stdout": result.stdout, "stderr": result.stderr}

    def policy_journal(self, key: str) -> list[str]:
        """The pair policy's lines in a server's journal."""
        journal = StateStore(self.servers[key].state_dir).read_journal()
        return [str(r.get("detail")) for r in journal if r.get("event") == "policy"]

    def service_dies_on_a(self) -> None:
        """pbx-a's PBX dies and cannot start again; the monitor tries once, then gives up."""
        assert self.shared is not None
        a = self.servers["a"]
        self.break_pbx("a")
        self.stack.kill_pbx(self, "a")
        events.emit(self.shared.events, "the PBX died", a.host.name)
        restart = self.stack.restart_pbx(self, "a")
        events.emit(self.shared.events, f"monitor: restart exit {restart}", a.host.name)
        result = self.twinstar_on("a", "give-up", "--reason", "monitor: the PBX died and does not restart")
        events.emit(self.shared.events, f"monitor: twinstar give-up exit {result.returncode}", a.host.name)
        if result.returncode != 0:
            raise DemoFailed(f"twinstar give-up exited with status {result.returncode}: {result.stderr.strip()[-300:]}")

    def break_pbx(self, key: str) -> None:
        """From now on the PBX cannot start on server ``key`` (the stack's way)."""
        assert self.shared is not None
        self.stack.break_pbx(self, key)
        events.emit(self.shared.events, "the PBX cannot start here any more", self.servers[key].host.name)

    def recover(self, collected: Collected) -> None:
        """The operator's recovery after the ping-pong alarm (docs/operations.md: fix the cause on either
        node, then ``twinstar takeover`` there), on pbx-b, which kept the units; then pbx-b serves and the
        phone is looked up there."""
        assert self.shared is not None
        b = self.servers["b"]
        self.progress("the operator fixes the PBX on pbx-b and runs twinstar takeover there")
        at = time.time()
        events.emit(self.shared.events, "operator: recovery begins", b.host.name)
        fixed = self.stack.repair_pbx(self, "b")
        events.emit(self.shared.events, f"operator: {fixed}", b.host.name)
        result = self.twinstar_on("b", "takeover")
        events.emit(self.shared.events, f"operator: twinstar takeover exit {result.returncode}", b.host.name)
        collected.recovery = {"on": b.host.name, "t": at, "fixed": fixed, "takeover_exit": result.returncode}
        if result.returncode != 0:
            raise DemoFailed(f"the operator's twinstar takeover on {b.host.name} exited with status "
                             f"{result.returncode}: {result.stderr.strip()[-300:]}")  # fmt: skip
        self.wait_for(f"{b.host.name} answering after the operator's takeover",
                      lambda: self.role("b") == Role.ACTIVE and self.served_by(b.host.name, since=at))  # fmt: skip
        self.stack.after_failover(self)

    def alarm(self, key: str) -> str | None:
        from twinstar.fastpath.policyfile import read_policy

        return read_policy(self.servers[key].state_dir).alarm

    def split_units(self) -> None:
        """The last unit alone switches to pbx-b; wait until pbx-b sent it back and pbx-a's alarm came and went."""
        assert self.shared is not None
        self.progress("one unit switches to pbx-b alone (its cable to pbx-a pulled)")
        events.emit(self.shared.events, "unit cable pulled", self.servers["a"].host.name)
        with sim.update(self.shared.sim) as state:
            sim.set_port(state, state["units"][-1], self.servers["b"].port)

        shared = self.shared

        def settled() -> bool:
            a, b = self.policy_journal("a"), self.policy_journal("b")
            raised = any(line.startswith("alarm: units missing") for line in a)
            home = all(u["port"] == self.servers["a"].port for u in sim.load(shared.sim)["units"])
            return raised and a[-1:] == ["alarm cleared"] and home and any(line.startswith("hand-back (") for line in b)

        self.wait_for("pbx-b sending the unit back and pbx-a's alarm raised and cleared", settled)

    def play(self, collected: Collected) -> None:
        self.build()
        if self.scenario == Scenario.STALE_PRIMARY:
            assert self.shared is not None
            drbdadm.set_disk(self.shared.drbd_state, servers.RESOURCE, self.servers["a"].host.name, "Outdated")
            events.emit(self.shared.events, "DRBD disk Outdated", self.servers["a"].host.name)
        self.start_processes()
        collected.built = True
        if self.scenario == Scenario.STALE_PRIMARY:
            self.progress("units attach to pbx-a, whose DRBD disk is Outdated; it hands them to pbx-b")
            self.wait_for("pbx-b becoming active and answering", lambda: self.role("b") == Role.ACTIVE and self.served_by("pbx-b"))
            time.sleep(0.2)
            return
        self.bring_up_a()
        if self.scenario == Scenario.SERVICE_DIES:
            self.service_dies_on_a()
            self.progress("waiting for pbx-b to answer")
            self.wait_for("pbx-b becoming active and answering", lambda: self.role("b") == Role.ACTIVE and self.served_by("pbx-b"))
            self.stack.after_failover(self)
            time.sleep(0.2)
            return
        if self.scenario == Scenario.FAILED_TAKEOVER:
            self.break_pbx("b")
            self.cut_power_a()
            self.progress("pbx-b's takeover fails")
            self.wait_for("pbx-b's first takeover try failing", lambda: any(
                x.startswith("takeover try 1 failed") for x in self.policy_journal("b")))
            back = time.time()
            self.power_back_a()
            self.progress("waiting for pbx-b to hand the units back to pbx-a")
            self.wait_for(
                "pbx-b's hand-back and pbx-a answering again",
                lambda: any(x.startswith("hand-back (") for x in self.policy_journal("b"))
                and self.role("a") == Role.ACTIVE and self.served_by("pbx-a", since=back),
                timeout=2 * self.options.wait,  # pbx-b's tries with their backoff, then pbx-a's takeover
            )
            time.sleep(0.2)
            return
        if self.scenario == Scenario.PING_PONG:
            self.break_pbx("b")
            self.break_pbx("a")
            collected.switchover = self.switch_over()
            self.progress("neither can serve; waiting for the hand-backs to stop with an alarm")
            self.wait_for(
                "the hand-backs stopping with an alarm on both servers",
                lambda: "no ping-pong" in (self.alarm("b") or "") and self.alarm("a") is not None,
                timeout=3 * self.options.wait,  # three rounds of retries
            )
            time.sleep(0.2)
            if self.stack.recovers:
                self.recover(collected)
                time.sleep(0.2)
            return
        if self.scenario == Scenario.SPLIT_UNITS:
            self.split_units()
            time.sleep(0.2)  # the client sees the steady service afterwards
            return
        if self.scenario == Scenario.POWER_LOSS:
            self.cut_power_a()
        else:
            collected.switchover = self.switch_over()
            if collected.switchover["exit_status"] != 0:
                raise DemoFailed(f"twinstar switchover exited with status {collected.switchover['exit_status']}")
        self.progress("waiting for pbx-b to answer")
        self.wait_for("pbx-b becoming active and answering", lambda: self.role("b") == Role.ACTIVE and self.served_by("pbx-b"))
        self.stack.after_failover(self)
        time.sleep(0.2)

    def collect(self, collected: Collected) -> None:
        for name, proc in self.procs.items():
            processes.stop(proc, grace=10 if name == "hardware" else 2)
        for watch in self.watches:
            watch.stop()
        if self.shared is None:
            return
        self.stack.collect(self, collected)
        collected.events = events.read(self.shared.events)
        for s in self.servers.values():
            store = StateStore(s.state_dir)
            collected.journals[s.host.name] = store.read_journal()
            try:
                collected.states[s.host.name] = store.read().to_json()
            except TwinstarError:
                collected.states[s.host.name] = {}


def run(scenario: Scenario, options: Options, *, progress: Progress = _quiet) -> Collected:
    """Play ``scenario`` once; everything is torn down afterwards unless ``options.keep``."""
    cleanup = CleanupRegistry()
    demo = Run(scenario, options, cleanup, progress)
    collected = Collected(scenario, options, demo.topo, time.time(), workdir=demo.workdir)
    try:
        demo.play(collected)
    except TwinstarError as exc:
        collected.error = str(exc)
    finally:
        try:
            demo.collect(collected)
        finally:
            if options.keep:
                cleanup.forget()
                if demo.members is not None:
                    demo.members.release()
                collected.kept = [shlex.join(argv) for argv in demo.removal()]
            else:
                progress("cleaning up")
                collected.cleanup_failures = cleanup.run()
    return collected
