"""Daemon test plumbing: a fake monitor on a real socketpair, configurations, counters.

The fake monitor stands in for the netlink socket only (no Astribank driver
here): the daemon waits on its real file descriptor with ``select`` and reads
one datagram per uevent, as it does with pyudev. Everything behind it (the
hook's decision code, hand-off, engine, command steps) is the real code.
"""

from __future__ import annotations

import json
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.conftest import REPO
from tests.support import config as yaml_config
from tests.support import units as units_mod
from tests.support.cli import clean_environ
from twinstar import config as config_mod
from twinstar.daemon.loop import Daemon
from twinstar.daemon.monitor import MonitorError, Uevent
from twinstar.daemon.notify import Notifier
from twinstar.engine.state import StateStore
from twinstar.standins.fakesysfs import FakeSysfs


class FakeMonitor:
    """Uevents as datagrams on a socketpair; the test holds the sending end.

    With ``address``, the receiving end is a datagram socket bound there
    instead, so that another process (a step program) can send events too.
    """

    def __init__(self, address: str | None = None) -> None:
        if address is None:
            self._recv, self._send = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        else:
            self._recv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._recv.bind(address)
            self._send = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._send.connect(address)
        self.closed = False

    def fileno(self) -> int:
        return self._recv.fileno()

    def poll(self, timeout: float | None = None) -> Uevent | None:
        readable, _, _ = select.select([self._recv], [], [], timeout)
        if not readable:
            return None
        data = self._recv.recv(65536)
        if not data:
            raise MonitorError("fake monitor: the sending end was closed")
        env = json.loads(data)
        action = env.pop("ACTION", "")
        devpath = env.pop("DEVPATH", "")
        return Uevent(action=action, devpath=devpath, properties=env)

    def send(self, environ: Mapping[str, str]) -> None:
        self._send.send(json.dumps(dict(environ)).encode())

    def hang_up(self) -> None:
        """Close the sending end: the receiving end becomes readable with EOF."""
        self._send.close()

    def close(self) -> None:
        self.closed = True
        self._recv.close()
        try:
            self._send.close()
        except OSError:
            pass


def arrive(fake: FakeSysfs, i: int, monitor: FakeMonitor | None = None) -> None:
    """Listed unit ``i`` comes up READY; its uevents go to ``monitor`` when one is given."""
    for env in units_mod.arrive(fake, i):
        if monitor is not None:
            monitor.send(env)


def write_config(tmp: Path, units: int, *, daemon: str = "", steps: str | None = None) -> Path:
    """A configuration over a fake sysfs in tmp/sys listing ``units`` units.

    The default takeover is two command steps whose state is a file each
    (touch / rm / test -e), so a check can be made to fail from outside.
    """
    (tmp / "sys").mkdir(exist_ok=True)
    (tmp / "xpp_order").write_text("".join(f"{units_mod.label(i)}\n" for i in range(units)))
    if steps is None:
        steps = "".join(
            f"  - command: {{name: c{i}, start: [/usr/bin/touch, {tmp}/up-{i}], stop: [/bin/rm, -f, {tmp}/up-{i}],"
            f" check: [/usr/bin/test, -e, {tmp}/up-{i}], timeout: 5}}\n"
            for i in (1, 2)
        )
    return yaml_config.write_config(
        tmp / "twinstar.yaml",
        state_dir=f"{tmp}/state",
        sysfs=f"{tmp}/sys",
        xpp_order=f"{tmp}/xpp_order",
        maintenance_file=f"{tmp}/maintenance",
        handoff="inline",
        rearm_watchdog=False,
        extra=daemon,
        steps=steps,
    )


def make_daemon(path: Path, monitor: FakeMonitor, notifier: Notifier | None = None) -> Daemon:
    config = config_mod.load(str(path), strict_modes=False)
    return Daemon(
        config,
        config_path=str(path),
        open_monitor=lambda: monitor,
        notifier=notifier,
        load_config=lambda p: config_mod.load(p, strict_modes=False),
    )


def transitions(state_dir: Path) -> list[str]:
    """The actions of every takeover/release begun, from the journal."""
    return [r["action"] for r in StateStore(str(state_dir)).read_journal() if r.get("event") == "begin"]


def role(state_dir: Path) -> str:
    return StateStore(str(state_dir)).read().role.value


def sysfs(tmp: Path) -> FakeSysfs:
    return FakeSysfs(str(tmp / "sys"))


def start_process(
    config: Path, *, env: Mapping[str, str] | None = None, prefix: Sequence[str] = ()
) -> subprocess.Popen[str]:
    """A real ``python -m twinstar daemon --source kernel``, run through ``prefix`` (``ip netns exec NS``)."""
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "twinstar", "--config", str(config), "daemon", "--source", "kernel"],
        env=clean_environ({"PYTHONPATH": str(REPO), **(env or {})}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_process(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM the daemon (killed after 60 s); its exit status and stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


def notify_fields(data: bytes) -> dict[str, str]:
    """One sd_notify datagram's ``KEY=value`` lines."""
    return dict(line.split("=", 1) for line in data.decode().splitlines())


def receive(sock: socket.socket) -> dict[str, str]:
    """The next notification (waits for it)."""
    return notify_fields(sock.recv(4096))


def pending(sock: socket.socket) -> list[dict[str, str]]:
    """Every notification already sent (does not wait)."""
    out = []
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        while True:
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                return out
            out.append(notify_fields(data))
    finally:
        sock.settimeout(timeout)
