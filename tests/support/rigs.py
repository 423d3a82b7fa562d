"""Real test rigs for the step tests: network namespaces joined by a veth pair, a loop-mounted ext4.

Everything is created by the test and removed again, also on failure
(the fixtures in conftest.py). Network tests use 10.213.1.0/24,
10.213.2.0/24 and (tests/steps/test_ip_early.py) 10.213.42.0/24 only, inside these namespaces.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.standins import write_python_wrapper

_counter = itertools.count()
STANDINS = Path(__file__).resolve().parent / "standins"


def run(*argv: str) -> str:
    """Run a set-up command; its stdout."""
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def kill_if_alive(pid: int) -> None:
    if alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class Pair:
    """Namespaces ``a`` and ``b``, veth ``tsv0`` in a joined to ``tsv1`` in b (b has PEER_ADDRESS)."""

    a: str
    b: str
    if_a: str = "tsv0"
    if_b: str = "tsv1"

    def mac(self, ns: str, iface: str) -> bytes:
        data = json.loads(run("ip", "-n", ns, "-j", "link", "show", "dev", iface))
        return bytes.fromhex(data[0]["address"].replace(":", ""))

    def addresses(self, ns: str, iface: str) -> list[str]:
        data = json.loads(run("ip", "-n", ns, "-j", "addr", "show", "dev", iface))
        return [f"{a['local']}/{a['prefixlen']}" for a in data[0]["addr_info"] if a["family"] == "inet"]


@contextmanager
def netns_pair(peer_address: str, *, prefix: str = "ts") -> Iterator[Pair]:
    """Two namespaces named ``PREFIX-PID-N[ab]`` joined by a veth pair, the peer's end holding ``peer_address``."""
    n = next(_counter)
    p = Pair(a=f"{prefix}-{os.getpid()}-{n}a", b=f"{prefix}-{os.getpid()}-{n}b")
    created: list[str] = []
    try:
        for ns in (p.a, p.b):
            run("ip", "netns", "add", ns)
            created.append(ns)
        run("ip", "-n", p.a, "link", "add", p.if_a, "type", "veth", "peer", "name", p.if_b, "netns", p.b)
        for ns, iface in ((p.a, p.if_a), (p.b, p.if_b)):
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "-n", ns, "link", "set", iface, "up")
        run("ip", "-n", p.b, "addr", "add", peer_address, "dev", p.if_b)
        yield p
    finally:
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def mounted_on(mountpoint: Path) -> bool:
    return subprocess.run(["findmnt", "--mountpoint", str(mountpoint)], capture_output=True).returncode == 0


@dataclass
class Volume:
    image: Path
    device: str
    mountpoint: Path


@contextmanager
def loop_volume(tmp_path: Path) -> Iterator[Volume]:
    """A 24 MB ext4 image on a loop device and an empty mountpoint."""
    image = tmp_path / "replica.img"
    mountpoint = tmp_path / "replica"
    mountpoint.mkdir()
    run("truncate", "-s", "24M", str(image))
    device = run("losetup", "-f", "--show", str(image)).strip()
    try:
        run("mkfs.ext4", "-q", device)
        yield Volume(image, device, mountpoint)
    finally:
        for _ in range(5):
            if not mounted_on(mountpoint):
                break
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)
        subprocess.run(["losetup", "-d", device], capture_output=True)


# --- a SysV service with a real daemon ---------------------------------------------------

DAEMON = """
import http.server, os, signal, sys, time
pidfile, portfile = sys.argv[1], sys.argv[2]
server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
def stop(signum, frame):
    time.sleep(0.3)  # a slow shutdown: stop returns before the daemon is gone
    os.unlink(pidfile)
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
with open(portfile, "w") as f:
    f.write(str(server.server_address[1]))
time.sleep(0.3)  # a slow start-up: start returns before the daemon is ready
with open(pidfile + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(pidfile + ".tmp", pidfile)
server.serve_forever()
"""

INIT_SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          pbxweb
# Required-Start:    $network
# Required-Stop:     $network
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: test daemon for twinstar
### END INIT INFO
PIDFILE={dir}/pbxweb.pid
case "$1" in
start)
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then exit 0; fi
    {start_cmd}
    exit 0 ;;
stop)
    [ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null
    exit 0 ;;
status)
    if [ -f "$PIDFILE" ]; then
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null && exit 0
        exit 1
    fi
    exit 3 ;;
*)
    echo "Usage: $0 {{start|stop|status}}" >&2
    exit 2 ;;
esac
"""


def sysv_service(tmp_path: Path, start_cmd: str | None = None) -> Path:
    """Init script ``pbxweb`` in tmp_path/init.d starting a real HTTP daemon (pidfile
    tmp_path/pbxweb.pid, port in tmp_path/port); returns the ``service`` stand-in using it."""
    if start_cmd is None:
        start_cmd = f'setsid {sys.executable} {tmp_path}/daemon.py "$PIDFILE" {tmp_path}/port </dev/null >/dev/null 2>&1 &'
    init_dir = tmp_path / "init.d"
    init_dir.mkdir()
    (tmp_path / "daemon.py").write_text(DAEMON)
    script = init_dir / "pbxweb"
    script.write_text(INIT_SCRIPT.format(dir=tmp_path, start_cmd=start_cmd))
    script.chmod(0o755)
    return write_python_wrapper(tmp_path / "service", STANDINS / "service.py", str(init_dir))
