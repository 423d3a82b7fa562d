"""Everything on disk that makes the two demo servers: configuration, state, storage.

Each server gets a directory under the demo's work directory with its own
``twinstar.yaml`` (a real takeover list: dahdi beside drbd, then ip, then
the responder as a command step; or, for the real PBX's units, drbd, ip,
then dahdi beside the services), state directory, fake sysfs,
``xpp_order``, mountpoint and ``drbdadm`` wrapper. Shared between them, as
between two real servers: the USB simulator's state file (the units), the ``drbdadm`` stand-in's state
(DRBD's view of both nodes) and one ext4 image on one loop device (the
replicated partition).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from twinstar.demo.cleanup import CleanupRegistry
from twinstar.demo.responder import command as responder_command
from twinstar.demo.topology import INTERFACE, Host, Topology
from twinstar.engine.proc import ProgramRunner
from twinstar.errors import ProgramError, TwinstarError
from twinstar.mounts import mount_points
from twinstar.standins import drbdadm
from twinstar.usb import sim

RESOURCE = "r0"
SERVICE_PORT = 5060
IMAGE_MB = 32
#: How old the configuration files are made to look (seconds): older than the hook's cache guard.
CONFIG_AGE = 60.0


@dataclass(frozen=True)
class ServerFiles:
    """One server's paths."""

    host: Host
    port: int  # the Astribank port it is cabled to
    root: str

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    @property
    def config(self) -> str:
        return self.path("twinstar.yaml")

    @property
    def state_dir(self) -> str:
        return self.path("state")

    @property
    def sysfs(self) -> str:
        return self.path("sys")

    @property
    def mountpoint(self) -> str:
        return self.path("replica")

    @property
    def heartbeat(self) -> str:
        return self.path("heartbeat")

    @property
    def pidfile(self) -> str:
        return self.path("pbx", "pid")

    @property
    def cache_dir(self) -> str:
        return self.path("hook-cache")

    @property
    def hook_log(self) -> str:
        return self.path("hook.log")


@dataclass(frozen=True)
class Shared:
    workdir: str
    loop_device: str
    drbdadm_server: bool = False  # some server's drbdadm is the resident stand-in's client

    @property
    def sim(self) -> str:
        return os.path.join(self.workdir, "usb-sim.json")

    @property
    def drbd_state(self) -> str:
        return os.path.join(self.workdir, "drbd.json")

    @property
    def drbdadm_socket(self) -> str:
        """Where the resident ``drbdadm`` stand-in answers (:func:`twinstar.standins.drbdadm.serve`)."""
        return os.path.join(self.workdir, "drbdadm.sock")

    @property
    def events(self) -> str:
        return os.path.join(self.workdir, "events.jsonl")

    @property
    def power(self) -> str:
        return os.path.join(self.workdir, "power.json")

    @property
    def client_log(self) -> str:
        return os.path.join(self.workdir, "client.jsonl")


def make_replica(workdir: str, runner: ProgramRunner, cleanup: CleanupRegistry, *, size_mb: int = IMAGE_MB) -> str:
    """A real ext4 image on a loop device; returns the device. Registers its removal (before attaching it)."""
    image = os.path.join(workdir, "replica.img")
    with open(image, "wb") as f:
        f.truncate(size_mb * 1024 * 1024)
    runner.run(["mkfs.ext4", "-q", "-F", "-L", "replica", image], timeout=60, quiet=True)
    cleanup.add(f"loop device of {image}", lambda: detach_loops(runner, image))
    return runner.run(["losetup", "--find", "--show", image], timeout=30, quiet=True).stdout.strip()


def detach_loops(runner: ProgramRunner, image: str) -> None:
    """Detach every loop device backed by ``image`` (``losetup -j`` lists them as ``/dev/loopN: ...``)."""
    result = runner.run(["losetup", "-j", image], timeout=30, ok_codes=None, quiet=True)
    for line in result.stdout.splitlines():
        device = line.split(":", 1)[0]
        if device.startswith("/dev/loop"):
            runner.run(["losetup", "-d", device], timeout=30, quiet=True)


def mounts_under(directory: str) -> list[str]:
    """Mount points below ``directory``, deepest first."""
    prefix = os.path.realpath(directory) + "/"
    return sorted((t for t in mount_points() if t.startswith(prefix)), key=len, reverse=True)


def unmount_under(runner: ProgramRunner, directory: str) -> None:
    """Unmount everything mounted below ``directory`` (deepest first).

    A mount still in use is detached lazily, so nothing stays visible, and
    reported: the processes using it should have been stopped first.
    """
    busy = []
    for target in mounts_under(directory):
        try:
            runner.run(["umount", target], timeout=30, quiet=True)
        except ProgramError:
            runner.run(["umount", "-l", target], timeout=30, quiet=True)
            busy.append(target)
    if busy:
        raise TwinstarError(f"{', '.join(busy)} was still in use; detached lazily")


@dataclass(frozen=True)
class ServiceConfig:
    """What a stack puts into a server's configuration above the replica and the address."""

    mountpoint: str  # where the drbd step mounts the replica (as the takeover sees it)
    steps: list[dict[str, Any]]  # the takeover's last steps: after ip, or after the group with dahdi (:attr:`with_dahdi`)
    drain_check: list[str] | None  # switchover's "calls still up?" command
    #: Steps that need the replica and the address: with any, the takeover is drbd, ip, then these
    #: together with dahdi (one ``parallel`` group), then :attr:`steps`; without, dahdi and drbd together
    #: (neither needs the other), ip, then :attr:`steps` (the responder, standing for Asterisk, needs all three).
    with_dahdi: tuple[dict[str, Any], ...] = ()
    #: The pair policy's first retry delay (doubled for each further try): a failed takeover is retried
    #: for about 7 times this long, which must outlast a reboot of the other server.
    retry_delay: float = 1.0


def responder(server: ServerFiles, topo: Topology) -> ServiceConfig:
    """The light stack: a responder standing for Asterisk, as a ``command`` step, data on the replica."""
    responder = responder_command()
    common = [
        "--address", str(topo.shared.ip), "--port", str(SERVICE_PORT), "--name", server.host.name,
        "--pidfile", server.pidfile, "--data", server.mountpoint,
    ]  # fmt: skip
    step = {
        "command": {
            "name": "pbx",
            "start": [*responder, "start", *common],
            "stop": [*responder, "stop", *common],
            "check": [*responder, "check", *common],
            "timeout": 10,
        }
    }
    return ServiceConfig(server.mountpoint, [step], [*responder, "calls", *common])


def takeover_steps(dahdi: dict[str, Any], drbd: dict[str, Any], ip: dict[str, Any], services: ServiceConfig) -> list[dict[str, Any]]:
    """The takeover list (pure): see :attr:`ServiceConfig.with_dahdi`."""
    if services.with_dahdi:
        return [drbd, ip, {"parallel": [dahdi, *services.with_dahdi]}, *services.steps]
    return [{"parallel": [dahdi, drbd]}, ip, *services.steps]


def write_config(
    server: ServerFiles,
    shared: Shared,
    topo: Topology,
    *,
    arp_count: int,
    dad_timeout: float,
    services: ServiceConfig,
) -> None:
    """The server's ``twinstar.yaml``: root-owned, mode 0644 (twinstar refuses anything laxer)."""
    config = {
        "node": server.host.name,
        "state_dir": server.state_dir,
        "maintenance_file": server.path("maintenance"),
        "handoff": "spawn",  # what a server without systemd does: a detached takeover, the hook returns at once
        "lock_timeout": 30,
        "astribanks": {"sysfs": server.sysfs, "xpp_order": server.path("xpp_order"), "rearm_watchdog": True},
        "usb": {"simulator": shared.sim, "simulator_port": server.port},
        "policy": {"split_grace": 1, "retry_delay": services.retry_delay},
        "programs": {"drbdadm": server.path("bin", "drbdadm")},
        "takeover": takeover_steps(
            {"dahdi": {"dahdi_cfg": ["/bin/true"], "timeout": 10}},
            {
                "drbd": {
                    "resource": RESOURCE,
                    "device": shared.loop_device,
                    "mountpoint": services.mountpoint,
                    "fstype": "ext4",
                    "timeout": 10,
                    "kill_grace": 1,
                }
            },
            {
                "ip": {
                    "address": topo.shared.with_prefixlen,
                    "interface": INTERFACE,
                    "arp_count": arp_count,
                    "arp_interval": 0.2,
                    "dad_timeout": dad_timeout,
                }
            },
            services,
        ),
        "switchover": {
            **({"drain_check": services.drain_check} if services.drain_check else {}),
            "drain_timeout": 5,
            "drain_poll": 0.1,
            "leave_timeout": 5,
        },
    }
    # JSON is YAML: no YAML writer needed, and every string is quoted.
    with open(server.config, "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    os.chmod(server.config, 0o644)
    # On a real server the configuration was written long before any hotplug
    # event; the hook caches nothing younger than hooksettings.RACY_SECONDS,
    # so without this every event of the demo's first seconds would parse it.
    written = time.time() - CONFIG_AGE
    os.utime(server.config, (written, written))
    warm_caches(server)


def warm_caches(server: ServerFiles) -> None:
    """Load the server's configuration once as its hook's first event would, writing its caches.

    On a real server a unit's ``add`` event comes the units' initialisation
    (seconds) before its ``online``, so that first event's full parse (PyYAML,
    validation) is long over when the last unit is READY. The simulated
    driver's ``init_delay`` is 0.1 s: a first parse on the node taking over
    would overlap its takeover and take CPU from it, which no real server
    sees. Writing the caches here keeps the modelled delay and leaves that
    parse out, as a real server leaves it out of the failover.
    """
    from twinstar.config import compiled, parse
    from twinstar.fastpath.hooksettings import HookSettings, write_cache

    with open(server.config, "rb") as f:
        data = f.read()
    config = parse(data, server.config)
    compiled.write(server.cache_dir, server.config, data, config)
    write_cache(server.cache_dir, server.config, os.stat(server.config), HookSettings.from_config(config))


def write_drbdadm(server: ServerFiles, shared: Shared) -> bool:
    """The server's ``drbdadm``: the stand-in's C client (a compiler at hand: True), else its Python wrapper."""
    return drbdadm.install(server.path("bin", "drbdadm"), shared.drbd_state, shared.drbdadm_socket, server.host.name)


def prepare(
    topo: Topology,
    workdir: str,
    *,
    units: int,
    loop_device: str,
    arp_count: int = 3,
    dad_timeout: float,
    services: Callable[[ServerFiles, Topology], ServiceConfig] = responder,
) -> tuple[Shared, dict[str, ServerFiles]]:
    """Write both servers' files and the shared state (units on port 0, nobody Primary).

    Each server's ``drbdadm`` is the stand-in's C client
    (:func:`twinstar.standins.drbdadm.build_client`) when a C compiler is
    there: the caller then runs the stand-in's server on
    ``shared.drbdadm_socket`` (``shared.drbdadm_server`` says whether).
    """
    shared = Shared(workdir, loop_device)
    servers = {
        "a": ServerFiles(topo.a, 0, os.path.join(workdir, "a")),
        "b": ServerFiles(topo.b, 1, os.path.join(workdir, "b")),
    }
    state = sim.init_state(shared.sim, units=units, port=0)
    labels = [sim.label(u) for u in state["units"]]
    drbdadm.write_state(
        shared.drbd_state, drbdadm.new_state(RESOURCE, (topo.a.name, topo.b.name), device=loop_device)
    )
    served = False
    for server in servers.values():
        for d in ("bin", "pbx", "replica", "sys"):
            os.makedirs(server.path(d), exist_ok=True)
        # The hook uses its cache only in a directory closed to others.
        os.makedirs(server.cache_dir, mode=0o700, exist_ok=True)
        os.chmod(server.cache_dir, 0o700)
        served = write_drbdadm(server, shared) or served
        with open(server.path("xpp_order"), "w") as f:
            f.write("# the units, in DAHDI registration order\n")
            for label in labels:
                f.write(f"{label}\n")
        write_config(server, shared, topo, arp_count=arp_count, dad_timeout=dad_timeout, services=services(server, topo))
    with open(shared.power, "w") as f:
        json.dump({"a": True, "b": True}, f)
    return (replace(shared, drbdadm_server=True) if served else shared), servers
