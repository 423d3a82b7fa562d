"""The demo's servers as machines with a real systemd: nspawn containers on an overlay of ``/``.

Each server boots systemd as PID 1 in a ``systemd-nspawn`` container whose
root is an overlay of the machine's ``/`` (read-only lower, tmpfs upper:
nothing is downloaded or copied) inside the server's network namespace, with
CAP_NET_ADMIN (the ``ip`` step adds the shared address) and the replica's
loop device bound in. In the overlay, none of the machine's enabled services
is enabled (the takeover starts the PBX's services), and the machine gets
its own machine-id and hostname. systemd is never booted on the shared
``/``: its boot would empty ``/tmp`` and start every enabled service.

Programs run inside with ``nsenter -t PID1 -a -r -w`` (the root and working directory of PID 1 too: a caller in a chroot keeps its own root otherwise); the container's PID 1 is
killed for a power loss (the kernel then ends every process of the
container, and its mounts go with its mount namespace).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from twinstar.demo.cleanup import CleanupRegistry
from twinstar.demo.topology import NETNS_DIR
from twinstar.engine.proc import ProgramResult, ProgramRunner, clean_env
from twinstar.errors import TwinstarError

#: The environment of a program run inside (a fresh login's PATH; no pager or colours from systemctl).
INSIDE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "SYSTEMD_PAGER": "",
    "SYSTEMD_COLORS": "0",
}
BOOT_TIMEOUT = 60.0
OVERLAY_SIZE = "size=1g,mode=755"
#: Enabled units of the machine that must not start in a container.
WANTS_DIRS = ("multi-user.target.wants", "timers.target.wants", "getty.target.wants")


def nodes_dir(base_dir: str, prefix: str) -> str:
    """Where the containers of the demo run ``prefix`` keep their overlays and consoles."""
    return os.path.join(base_dir, f"{prefix}-nodes")


#: Directories a container has of its own (a tmpfs at boot): the machine's files there are not seen inside.
OWN_DIRS = ("/tmp", "/run", "/dev/shm")


def program_binds() -> tuple[str, ...]:
    """Where this twinstar and its Python live, when a container would not see them (a checkout under /tmp).

    Commands inside run this same program (``sys.executable -m twinstar``),
    so those directories are bound in at the same paths.
    """
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../twinstar
    wanted: list[str] = []
    for path in (os.path.dirname(package_dir), os.path.realpath(sys.prefix)):
        if any(path == d or path.startswith(d + "/") for d in OWN_DIRS) and path not in wanted:
            wanted.append(path)
    return tuple(wanted)


def entering(leader: int) -> list[str]:
    """The argv prefix that enters every namespace of the container whose PID 1 is ``leader``, its root included."""
    return ["nsenter", "-t", str(leader), "-a", "-r", "-w"]


def enter_argv(leader: int, argv: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
    """``argv`` run inside that container with a fresh login's environment (:data:`INSIDE_ENV`) and ``env``."""
    environ = [f"{k}={v}" for k, v in {**INSIDE_ENV, **(env or {})}.items()]
    return [*entering(leader), "env", "-i", *environ, *argv]


class ContainerError(TwinstarError):
    """A server container did not boot, or a command inside it failed."""


@dataclass
class Container:
    name: str  # the machine name and hostname: pbx-a
    netns: str
    top: str  # on the machine: the overlay's mounts and the console log
    binds: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    leader: int = 0  # systemd, PID 1 inside, as a PID of the machine
    mounts: list[str] = field(default_factory=list)

    @property
    def root(self) -> str:
        return os.path.join(self.top, "root")

    @property
    def console(self) -> str:
        return os.path.join(self.top, "console.log")

    @property
    def mountinfo(self) -> str:
        """The container's mount table, readable from the machine while it runs."""
        return f"/proc/{self.leader}/mountinfo"

    def host_path(self, inner: str) -> str:
        """The file ``inner`` (absolute, inside) in the overlay, as the machine sees it."""
        return os.path.join(self.root, inner.lstrip("/"))

    def enter(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
        """The machine's argv that runs ``argv`` inside, in all the container's namespaces."""
        return enter_argv(self.leader, argv, env)

    def run(
        self,
        runner: ProgramRunner,
        argv: Sequence[str],
        *,
        timeout: float = 60,
        env: Mapping[str, str] | None = None,
        ok_codes: tuple[int, ...] | None = (0,),
        input_text: str | None = None,
    ) -> ProgramResult:
        """Run ``argv`` inside and wait for it (``input_text`` on its stdin)."""
        return runner.run(self.enter(argv, env), timeout=timeout, ok_codes=ok_codes, input=input_text, quiet=True)

    def write(self, inner: str, text: str, *, mode: int = 0o644) -> None:
        """A file inside the container (in its overlay; parents made)."""
        path = self.host_path(inner)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)


def make_root(c: Container, runner: ProgramRunner, cleanup: CleanupRegistry) -> None:
    """The overlay of ``/`` at ``c.root``, made a machine of its own; its unmounts registered first."""
    ovl = os.path.join(c.top, "ovl")
    os.makedirs(ovl)
    os.makedirs(c.root)
    for target in (ovl, c.root):
        cleanup.add(f"mount {target}", functools.partial(_unmount, runner, target))
    runner.run(["mount", "-t", "tmpfs", "-o", OVERLAY_SIZE, f"{c.name}-ovl", ovl], timeout=30, quiet=True)
    os.makedirs(os.path.join(ovl, "upper"))
    os.makedirs(os.path.join(ovl, "work"))
    # What twinstar replica add needs of the file system it moves from: xino=on, every file reports the
    # overlay's device number (else a file reports its layer's, and a tree looks as if it had mount points
    # inside); redirect_dir=on, a directory of the lower layer can be renamed (else EXDEV).
    options = f"lowerdir=/,upperdir={ovl}/upper,workdir={ovl}/work,xino=on,redirect_dir=on"
    runner.run(["mount", "-t", "overlay", f"{c.name}-root", "-o", options, c.root], timeout=30, quiet=True)
    etc = c.host_path("/etc/systemd/system")
    for wants in WANTS_DIRS:
        directory = os.path.join(etc, wants)
        for entry in os.listdir(directory) if os.path.isdir(directory) else []:
            os.unlink(os.path.join(directory, entry))
    for path in (os.path.join(etc, "sysinit.target.wants", "systemd-timesyncd.service"),
                 c.host_path("/etc/machine-id"), c.host_path("/etc/hostname")):  # fmt: skip
        if os.path.lexists(path):
            os.unlink(path)
    machine_id = runner.run(["systemd-id128", "new"], timeout=30, quiet=True).stdout
    c.write("/etc/machine-id", machine_id, mode=0o444)
    c.write("/etc/hostname", c.name + "\n")


def _unmount(runner: ProgramRunner, target: str) -> None:
    if os.path.ismount(target):
        result = runner.run(["umount", target], timeout=30, ok_codes=None, quiet=True)
        if result.returncode != 0:
            runner.run(["umount", "-l", target], timeout=30, quiet=True)


def boot(c: Container, runner: ProgramRunner, cleanup: CleanupRegistry) -> None:
    """Start the container and wait until its systemd has finished booting."""
    argv = ["systemd-nspawn", "-D", c.root, "--register=no", "--keep-unit", f"--machine={c.name}",
            "--console=passive", f"--network-namespace-path={NETNS_DIR}/{c.netns}", "--capability=CAP_NET_ADMIN",
            *(f"--bind={b}" for b in c.binds), "-b"]  # fmt: skip
    cleanup.add(f"container {c.name}", lambda: stop(c))
    with open(c.console, "ab") as console:
        c.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                                     env=clean_env(), cwd="/", start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        if c.process.poll() is not None:
            raise ContainerError(f"{c.name}: systemd-nspawn exited with status {c.process.returncode}: {_tail(c.console)}")
        if not c.leader:
            c.leader = systemd_leader(c.process.pid)
        if c.leader:
            # systemctl cannot connect before systemd listens: only then is a failure retried.
            state = c.run(runner, ["systemctl", "is-system-running", "--wait"], timeout=BOOT_TIMEOUT, ok_codes=None)
            if state.stdout.strip() in ("running", "degraded"):
                return
        if time.monotonic() > deadline:
            raise ContainerError(f"{c.name}: not booted after {BOOT_TIMEOUT:.0f} s: {_tail(c.console)}")
        time.sleep(0.02)


def reboot(c: Container, runner: ProgramRunner, cleanup: CleanupRegistry) -> None:
    """Boot the container again after its power was cut (PID 1 killed): same overlay, a new systemd."""
    if c.process is not None:
        try:
            c.process.wait(timeout=BOOT_TIMEOUT)  # systemd-nspawn ends once the kernel has torn the container down
        except subprocess.TimeoutExpired:
            os.killpg(c.process.pid, signal.SIGKILL)
            c.process.wait(timeout=BOOT_TIMEOUT)
    shutil.rmtree(f"/run/systemd/nspawn/propagate/{c.name}", ignore_errors=True)
    c.process, c.leader = None, 0
    boot(c, runner, cleanup)


def stop(c: Container, *, grace: float = 20.0) -> None:
    """An orderly poweroff (nspawn turns SIGTERM into SIGRTMIN+3), SIGKILL after ``grace``."""
    proc = c.process
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)
    shutil.rmtree(f"/run/systemd/nspawn/propagate/{c.name}", ignore_errors=True)


def systemd_leader(nspawn_pid: int) -> int:
    """The systemd that the ``systemd-nspawn`` process ``nspawn_pid`` started as its container's PID 1
    (its PID on the host); 0 until it runs."""
    return next((k for k in _children(nspawn_pid) if _comm(k) == "systemd"), 0)


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    kids += [int(k) for k in f.read().split()]
            except FileNotFoundError:
                continue
    except FileNotFoundError:
        pass
    return kids


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def _tail(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-5:])
    except FileNotFoundError:
        return "no console output"
