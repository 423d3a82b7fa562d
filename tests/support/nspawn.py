"""Nodes under a real systemd: ``systemd-nspawn`` containers on an overlay of ``/``.

Each node boots systemd as PID 1 in a container whose root is an overlay of
the host's ``/`` (read-only lower, tmpfs upper: nothing downloaded or
copied), inside a network namespace made here, and gets twinstar installed by
``make install`` run inside it (the real install path, writing into the
overlay only). systemd is never booted on the shared ``/``.

``make install`` runs offline inside: ``SYSTEM_SITE_PACKAGES=yes`` takes
pyudev, pyusb, click and PyYAML from Debian's packages, and ``PIP_OPTS=
--no-index --find-links WHEELS`` builds twinstar with a setuptools wheel that
:func:`wheelhouse` fetched once per test run on the host, the way
``.ci/setup`` fetched the development tools (Debian 12's setuptools is too old
for pyproject.toml).

Everything made here (containers, overlays, namespaces, loop devices) is
removed when the :func:`boot_nodes` block ends, also on failure, Ctrl-C and
SIGTERM; :func:`sweep` removes what a killed run left (its names carry the
PID of the process that made them).

API::

    with boot_nodes(2, loop=True) as (a, b):
        a.run(["twinstar", "status"])           # nsenter into the container
        a.systemctl("start", "apache2.service")  # CompletedProcess
        a.journal("-t", "twinstar")              # journal lines (-o cat)
        a.host_path("/etc/twinstar/twinstar.yaml")  # the file seen from the host
        a.netns, a.name, a.root, a.leader, a.loop_device
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import REPO
from tests.support.config import config_text
from tests.support.units import order_line
from twinstar.demo.containers import enter_argv, program_binds, systemd_leader
from twinstar.standins.fakesysfs import FakeSysfs

#: Names of containers, namespaces and mounts made here start with this (and the maker's PID).
PREFIX = "tss-"
#: The address range of the veth link between two nodes (node i has .(i+1)).
SUBNET = "10.213.14"
#: Where the scratch directories live (one per node).
SCRATCH = Path(tempfile.gettempdir())
#: Where files both the host and the nodes see live (a node's /tmp is its own).
SHARED = Path("/var/tmp")
#: The installation prefix used inside the nodes; the program is SBIN/twinstar.
PREFIX_DIR = "/usr/local"
TWINSTAR = f"{PREFIX_DIR}/sbin/twinstar"
HOOKDIR = f"{PREFIX_DIR}/lib/twinstar/hooks"
#: A scratch directory inside each node for a test's files (fake sysfs, simulator, state).
TESTDIR = "/srv/twinstar-test"
SYSFS = f"{TESTDIR}/sys"
XPP_ORDER = f"{TESTDIR}/xpp_order"
SIMULATOR = f"{TESTDIR}/astribanks.json"
CONFIG = "/etc/twinstar/twinstar.yaml"
STATE_DIR = "/run/twinstar"

BOOT_TIMEOUT = 60.0


class BootError(RuntimeError):
    """A node did not come up; the message has the container's console output."""


def sh(*argv: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A set-up command on the host (argv only)."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr.strip()}")
    return result


@dataclass
class Node:
    """One booted container: systemd is PID 1 there, ``leader`` is that PID on the host."""

    name: str
    top: Path
    netns: str
    address: str
    loop_device: str | None = None
    process: subprocess.Popen[bytes] | None = None
    leader: int = 0
    mounts: list[Path] = field(default_factory=list)
    #: What is bound into the container from the host (paths, nspawn ``--bind=`` syntax).
    binds: list[str] = field(default_factory=list)

    @property
    def root(self) -> Path:
        """The container's ``/`` seen from the host (the overlay)."""
        return self.top / "root"

    @property
    def console(self) -> Path:
        return self.top / "console.log"

    def host_path(self, inner: str) -> Path:
        """Where the file ``inner`` (an absolute path inside the node) is on the host.

        Only for the overlay: ``/run``, ``/tmp``, ``/dev``, ``/proc`` and ``/sys``
        are the container's own mounts, which the host does not see here.
        """
        return self.root / inner.lstrip("/")

    def read(self, inner: str) -> str | None:
        """The text of the file ``inner`` read inside the node (``/run`` and ``/tmp`` are the node's own), None if absent."""
        result = self.run(["cat", "--", inner])
        return result.stdout if result.returncode == 0 else None

    def write(self, inner: str, text: str, mode: int = 0o644) -> Path:
        """Write a file inside the node (parents created) through the overlay: not below ``/run`` or ``/tmp``."""
        path = self.host_path(inner)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
        return path

    # -- running inside ------------------------------------------------------------------

    def command(self, argv: Sequence[str], env: dict[str, str] | None = None) -> list[str]:
        """The host argv that runs ``argv`` inside the node, in all its namespaces, as a fresh login would."""
        return enter_argv(self.leader, argv, env)

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = False,
        timeout: float = 120,
        env: dict[str, str] | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the node and wait for it; ``check`` raises on a non-zero exit."""
        result = subprocess.run(
            self.command(argv, env), capture_output=True, text=True, errors="replace", timeout=timeout, input=input, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{self.name}: {' '.join(argv)}: exit {result.returncode}\n{result.stdout}{result.stderr}")
        return result

    def spawn(self, argv: Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``argv`` inside the node without waiting (stdout and stderr piped)."""
        return subprocess.Popen(self.command(argv, env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")

    def systemctl(self, *args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.run(["systemctl", *args], check=check, timeout=timeout)

    def show(self, unit: str, *props: str) -> dict[str, str]:
        """``systemctl show -p PROP...`` of ``unit`` as a mapping."""
        out = self.systemctl("show", *(f"--property={p}" for p in props), "--", unit, check=True).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def prop(self, unit: str, name: str) -> str:
        return self.show(unit, name).get(name, "")

    def journal(self, *args: str, output: str = "cat") -> list[str]:
        """Journal lines since :meth:`clear_journal` (``journalctl --no-pager -o OUTPUT ARGS``)."""
        self.run(["journalctl", "--sync"], check=True)
        return self.run(["journalctl", "--no-pager", "-q", "-o", output, *args], check=True).stdout.splitlines()

    def journal_entries(self, *args: str) -> list[dict[str, Any]]:
        """Journal entries (every field) since :meth:`clear_journal`, as JSON objects."""
        return [json.loads(line) for line in self.journal(*args, output="json")]

    def clear_journal(self) -> None:
        """Start the journal afresh (rotate, then delete the archived files).

        A cursor would do without deleting, but journalctl 252 skips entries
        when ``--after-cursor`` is combined with matches such as ``-t`` or ``-u``.
        """
        self.run(["journalctl", "--rotate", "--vacuum-files=1"], check=True)

    def wait_until(self, what: str, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
        """Poll ``predicate()`` (a state inside the container, which sends no event we can await) until true."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.05)

    def wait_job_done(self, timeout: float = 120) -> None:
        """Wait until systemd's job queue is empty (every started unit reached its state)."""
        self.wait_until("an empty job queue", lambda: self.systemctl("list-jobs", "--no-legend").stdout.strip() == "", timeout)

    # -- twinstar inside -----------------------------------------------------------------

    @property
    def sysfs(self) -> FakeSysfs:
        """The node's fake sysfs (the xpp driver cannot load here), at ``TESTDIR/sys`` inside."""
        return FakeSysfs(str(self.host_path(SYSFS)))

    def configure(self, steps: str, *, handoff: str = "auto", rearm: bool = False, extra: str = "", units: int = 1) -> None:
        """Write ``/etc/twinstar/twinstar.yaml`` (paths inside the node) and an ``xpp_order`` of ``units`` units.

        With ``rearm``, the USB simulator (the Astribanks' stand-in) holds the
        units at ``TESTDIR/astribanks.json``, made here with ``twinstar sim init``.
        """
        if rearm:
            self.run([TWINSTAR, "sim", "init", SIMULATOR, "--units", str(units)], check=True)
            extra = f"usb: {{simulator: {SIMULATOR}, simulator_port: 0}}\n" + extra
        self.write(XPP_ORDER, "".join(order_line(i) + "\n" for i in range(units)))
        text = config_text(
            node=self.name,
            state_dir=STATE_DIR,
            sysfs=SYSFS,
            xpp_order=XPP_ORDER,
            maintenance_file=f"{TESTDIR}/maintenance",
            handoff=handoff,
            rearm_watchdog=rearm,
            extra=extra,
            steps=steps,
        )
        path = self.write(CONFIG, text, mode=0o600)
        old = time.time() - 60  # older than the hook cache's racy window
        os.utime(path, (old, old))

    def reset(self) -> None:
        """Stop twinstar's units, forget their failures, and remove twinstar's state and the test's files."""
        units = [
            "twinstar.service", "twinstar-takeover.service", "twinstar-release.service", "twinstar-prepared.service",
            "twinstar-policy.service", "twinstar-rearm@*.service",
        ]  # fmt: skip
        # KillMode=process leaves what a unit started running: a test's leftovers go too.
        self.systemctl("kill", "--kill-who=all", "--signal=SIGKILL", *units)
        self.systemctl("stop", *units, check=True)
        self.systemctl("reset-failed", *units)
        self.run(["rm", "-rf", STATE_DIR, TESTDIR, CONFIG], check=True)
        self.run(["mkdir", "-p", TESTDIR], check=True)
        self.clear_journal()

    def hook(self, event: dict[str, str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """The installed ``atribank_hook`` inside the node with udev's event environment ``event``."""
        return self.run([f"{HOOKDIR}/atribank_hook"], env=event, timeout=timeout)

    def install(self) -> None:
        """``make install`` from this source tree, inside the node, then ``systemctl daemon-reload``."""
        self.run(
            [
                "make",
                "-C",
                str(REPO),
                "install",
                f"PREFIX={PREFIX_DIR}",
                "SYSTEM_SITE_PACKAGES=yes",
                f"PIP_OPTS=--no-index --find-links {wheelhouse()}",
            ],
            check=True,
            timeout=600,
        )
        self.systemctl("daemon-reload", check=True)


_wheelhouse: list[Path] = []


def wheelhouse() -> Path:
    """A directory with the build requirement of twinstar (setuptools) as a wheel, made once per process."""
    if not _wheelhouse:
        path = SHARED / f"{PREFIX}{os.getpid()}-wheels"
        path.mkdir(exist_ok=True)
        sh(sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(path), "setuptools>=64", timeout=300)
        atexit.register(shutil.rmtree, path, True)
        _wheelhouse.append(path)
    return _wheelhouse[0]


# --- boot and teardown ------------------------------------------------------------------


def _prepare_root(node: Node) -> None:
    """Mount the overlay and make it a machine of its own that starts none of the host's services."""
    ovl, root = node.top / "ovl", node.root
    ovl.mkdir(parents=True)
    root.mkdir()
    sh("mount", "-t", "tmpfs", "-o", "size=2g,mode=755", f"{node.name}-ovl", str(ovl))
    node.mounts.append(ovl)
    (ovl / "upper").mkdir()
    (ovl / "work").mkdir()
    sh("mount", "-t", "overlay", f"{node.name}-root", "-o", f"lowerdir=/,upperdir={ovl}/upper,workdir={ovl}/work", str(root))
    node.mounts.append(root)
    etc = root / "etc/systemd/system"
    for wants in ("multi-user.target.wants", "timers.target.wants", "getty.target.wants"):
        for link in (etc / wants).glob("*") if (etc / wants).is_dir() else []:
            link.unlink()
    (etc / "sysinit.target.wants/systemd-timesyncd.service").unlink(missing_ok=True)
    (root / "etc/machine-id").unlink(missing_ok=True)
    (root / "etc/machine-id").write_text(sh("systemd-id128", "new").stdout)
    (root / "etc/hostname").unlink(missing_ok=True)
    (root / "etc/hostname").write_text(node.name + "\n")
    # The overlay's own copy of this scratch directory must not show the host's.
    (root / TESTDIR.lstrip("/")).mkdir(parents=True, exist_ok=True)


def _start(node: Node) -> None:
    argv = [
        "systemd-nspawn",
        "-D",
        str(node.root),
        "--register=no",
        "--keep-unit",
        f"--machine={node.name}",
        "--console=passive",
        f"--network-namespace-path=/run/netns/{node.netns}",
        "--capability=CAP_NET_ADMIN",
        *(f"--bind={b}" for b in node.binds),
        "-b",
    ]
    with open(node.console, "wb") as console:
        node.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_booted(node: Node) -> None:
    """Find systemd (PID 1 inside), then let ``systemctl is-system-running --wait`` wait for the boot to end."""
    assert node.process is not None
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        if node.process.poll() is not None:
            raise BootError(f"{node.name}: systemd-nspawn exited {node.process.returncode}:\n{node.console.read_text(errors='replace')}")
        node.leader = systemd_leader(node.process.pid)
        if node.leader:
            # Before systemd listens on its socket, systemctl cannot connect: retry only then.
            state = node.run(["systemctl", "is-system-running", "--wait"], timeout=BOOT_TIMEOUT).stdout.strip()
            if state in ("running", "degraded"):
                return
        if time.monotonic() > deadline:
            raise BootError(f"{node.name}: not booted after {BOOT_TIMEOUT:.0f} s:\n{node.console.read_text(errors='replace')}")
        time.sleep(0.02)


def boot_again(node: Node) -> None:
    """Boot a node whose container has stopped again: the same overlay (its disk), the same binds."""
    _start(node)
    _wait_booted(node)


def _install_all(nodes: list[Node]) -> None:
    """``Node.install`` on every node: at once (each is several seconds of pip) when each sees its own copy of
    the tree (the overlay of ``/``), one after the other when the tree is bound into all of them: pip builds
    in the tree's ``build/`` directory, which two builds at once would share."""
    bound = {os.path.realpath(bind.partition(":")[0]) for node in nodes for bind in node.binds}
    shared = any(str(REPO) == b or str(REPO).startswith(b + "/") for b in bound)
    with concurrent.futures.ThreadPoolExecutor(1 if shared else len(nodes)) as pool:
        for future in [pool.submit(node.install) for node in nodes]:
            future.result()


def _stop(node: Node) -> None:
    """An orderly poweroff (nspawn turns SIGTERM into SIGRTMIN+3), SIGKILL to the container after 20 s."""
    proc = node.process
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)


def _remove(node: Node) -> None:
    """Stop the container and remove its mounts and scratch directory (namespaces and the loop device are the block's)."""
    _stop(node)
    for mount in reversed(node.mounts):
        if sh("umount", str(mount), check=False).returncode != 0:
            sh("umount", "-l", str(mount), check=False)
    node.mounts.clear()
    shutil.rmtree(f"/run/systemd/nspawn/propagate/{node.name}", ignore_errors=True)
    shutil.rmtree(node.top, ignore_errors=True)


def _remove_netns(name: str) -> None:
    sh("ip", "netns", "del", name, check=False)


def _remove_loop(device: str, image: Path) -> None:
    sh("losetup", "-d", device, check=False)
    image.unlink(missing_ok=True)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM and SIGHUP end the block like Ctrl-C does, so the clean-up below runs (main thread only)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


_serial = iter(range(1 << 30))


@contextlib.contextmanager
def boot_nodes(
    count: int = 1,
    *,
    install: bool = True,
    loop: bool = False,
    loop_size: str = "24M",
    prefix: str = PREFIX,
    subnet: str = SUBNET,
    binds: Sequence[str] = (),
) -> Iterator[list[Node]]:
    """Boot ``count`` nodes (1 or 2), twinstar installed in each; all removed again when the block ends.

    Names of the nodes, their namespaces, mounts and scratch files start with
    ``prefix`` and this process's PID (what :func:`sweep` of the same prefix
    removes once the process is gone). With two nodes, a veth link joins their
    namespaces (``subnet``.1 and .2, interface ``tss0``). With ``loop``, one
    loop device on a fresh ext4 image is bound into every node
    (``Node.loop_device``, the same path inside); ``binds`` are bound in too.
    """
    if count not in (1, 2):
        raise ValueError("one or two nodes")
    sweep(prefix)
    run_id = f"{os.getpid()}-{next(_serial)}"
    nodes: list[Node] = []
    namespaces: list[str] = []
    loop_device: str | None = None
    image = SCRATCH / f"{prefix}{run_id}.img"
    with _signals_raise():
        try:
            if install:
                wheelhouse()  # before the overlays: they see the host's / as it was
            if loop:
                sh("truncate", "-s", loop_size, str(image))
                loop_device = sh("losetup", "-f", "--show", str(image)).stdout.strip()
                sh("mkfs.ext4", "-q", loop_device)
            for i in range(count):
                name = f"{prefix}{run_id}{'ab'[i]}"
                sh("ip", "netns", "add", name)
                namespaces.append(name)
                sh("ip", "-n", name, "link", "set", "lo", "up")
                nodes.append(Node(name=name, top=SCRATCH / name, netns=name, address=f"{subnet}.{i + 1}", loop_device=loop_device,
                                  binds=[*([loop_device] if loop_device else []), *binds, *program_binds()]))
            if count == 2:
                sh("ip", "-n", nodes[0].netns, "link", "add", "tss0", "type", "veth", "peer", "name", "tss0", "netns", nodes[1].netns)
                for node in nodes:
                    sh("ip", "-n", node.netns, "addr", "add", f"{node.address}/24", "dev", "tss0")
                    sh("ip", "-n", node.netns, "link", "set", "tss0", "up")
            for node in nodes:
                _prepare_root(node)
                # The source tree is bound in when the node would not see it (a checkout under /tmp).
                _start(node)
            for node in nodes:
                _wait_booted(node)
            if install:
                _install_all(nodes)
            yield nodes
        finally:
            for node in nodes:
                _remove(node)
            for name in namespaces:
                _remove_netns(name)
            if loop_device:
                _remove_loop(loop_device, image)
            image.unlink(missing_ok=True)


# --- what a killed run left ---------------------------------------------------------------

def _dead(name: str, prefix: str) -> bool:
    """Whether ``name`` is ``prefix``, a PID and a dash, and that process is gone."""
    pid, dash, _ = name.removeprefix(prefix).partition("-")
    return name.startswith(prefix) and bool(dash) and pid.isdigit() and not os.path.exists(f"/proc/{pid}")


def sweep(prefix: str = PREFIX) -> list[str]:
    """Remove the containers, mounts, namespaces and loop devices named ``prefix`` of runs whose process is gone."""
    removed: list[str] = []
    for pid, name in _containers(prefix):
        if _dead(name, prefix):
            _terminate(pid)
            removed.append(f"{name} (pid {pid})")
    with open("/proc/mounts") as f:
        mounts = [line.split()[1] for line in f]
    for mount in sorted(mounts, key=len, reverse=True):
        base = Path(mount).parent.name if Path(mount).name in ("root", "ovl") else ""
        if Path(mount).parent.parent == SCRATCH and _dead(base, prefix):
            if sh("umount", mount, check=False).returncode != 0:
                sh("umount", "-l", mount, check=False)
            removed.append(mount)
    for top in [*SCRATCH.glob(prefix + "*"), *SHARED.glob(prefix + "*")]:
        if top.is_dir() and _dead(top.name, prefix) and not any(m.startswith(str(top) + "/") for m in mounts if m not in removed):
            shutil.rmtree(top, ignore_errors=True)
            removed.append(str(top))
    for line in sh("losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE", check=False).stdout.splitlines():
        device, _, backing = line.partition(" ")
        backing = backing.strip().removesuffix(" (deleted)")
        if Path(backing).parent == SCRATCH and _dead(Path(backing).name, prefix):
            sh("losetup", "-d", device, check=False)
            Path(backing).unlink(missing_ok=True)
            removed.append(device)
    for line in sh("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if _dead(name, prefix):
            _remove_netns(name)
            removed.append(name)
    for propagate in Path("/run/systemd/nspawn/propagate").glob(prefix + "*"):
        if _dead(propagate.name, prefix):
            shutil.rmtree(propagate, ignore_errors=True)
    return removed


def _containers(prefix: str) -> list[tuple[int, str]]:
    """(pid, machine name) of every ``systemd-nspawn`` whose machine name starts with ``prefix``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == "systemd-nspawn":
            names = [a.removeprefix("--machine=") for a in argv if a.startswith(f"--machine={prefix}")]
            if names:
                found.append((int(entry), names[0]))
    return found


def _terminate(pid: int) -> None:
    """An orderly poweroff of a container by its nspawn PID, SIGKILL after 20 s."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        if os.path.exists(f"/proc/{pid}"):
            os.kill(pid, signal.SIGKILL)
