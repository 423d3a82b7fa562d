"""The real stack's parts run by hand in one network namespace of the tests' own (no systemd).

Everything listens on 127.0.0.1 inside the namespace ``tsr-stack-PID``; no
address is added anywhere. Each process runs in its own session and is
stopped by its process group; the namespace goes at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from twinstar.demo.stack import kamailio, mariadb

LOCAL = "127.0.0.1"


def wait_until(what: str, ready: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:g} s"
        time.sleep(0.01)


def json_lines(path: str) -> list[dict[str, Any]]:
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.endswith("\n")]
    except FileNotFoundError:
        return []


@dataclass
class Namespace:
    name: str
    root: str  # a scratch directory
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def argv(self, argv: list[str]) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.name}", "--", *argv]

    def run(self, argv: list[str], *, input: str | None = None, timeout: float = 60) -> str:
        proc = subprocess.run(self.argv(argv), input=input, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"{argv}: {proc.stderr[-2000:]}"
        return proc.stdout

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(os.path.join(self.root, f"{name}.log"), "ab")
        with log:
            proc = subprocess.Popen(
                self.argv(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **(env or {})},
            )  # fmt: skip
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def log(self, name: str) -> str:
        with open(os.path.join(self.root, f"{name}.log"), errors="replace") as f:
            return f.read()


@contextmanager
def namespace(root: str) -> Iterator[Namespace]:
    ns = Namespace(f"tsr-stack-{os.getpid()}", root)
    subprocess.run(["ip", "netns", "add", ns.name], check=True)
    try:
        subprocess.run(["ip", "-n", ns.name, "link", "set", "lo", "up"], check=True)
        yield ns
    finally:
        for proc in reversed(ns.procs):
            ns.stop(proc, signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", ns.name], check=True)


@dataclass
class Database:
    """A MariaDB data directory of the demo's schema, and the server when it runs."""

    ns: Namespace
    paths: mariadb.ServerPaths
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, ns: Namespace) -> Database:
        run = os.path.join(ns.root, "mysqld")
        datadir = os.path.join(ns.root, "mysql")
        for d in (run, datadir):
            os.makedirs(d)
            os.chown(d, *_ids("mysql"))
        db = cls(ns, mariadb.ServerPaths(datadir, f"{run}/mysqld.sock", f"{run}/mysqld.pid", f"{run}/mysqld.err"))
        ns.run(mariadb.install_argv(datadir))
        db.start()
        db.sql(mariadb.setup_sql(kamailio.schema()))
        return db

    def start(self) -> None:
        self.proc = self.ns.start("mariadbd", mariadb.server_argv(self.paths))
        wait_until("mariadbd accepting connections", self.ready)

    def ready(self) -> bool:
        assert self.proc is not None
        assert self.proc.poll() is None, self.ns.log("mariadbd")
        argv = self.ns.argv([*mariadb.client_argv(self.paths.socket), "-e", "SELECT 1"])
        return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0

    def sql(self, text: str) -> str:
        return self.ns.run(mariadb.client_argv(self.paths.socket), input=text)

    def crash(self) -> None:
        """SIGKILL: the server dies as in a power loss of its process (the page cache survives)."""
        assert self.proc is not None
        self.ns.stop(self.proc, signal.SIGKILL)
        self.ns.procs.remove(self.proc)
        self.proc = None


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid
