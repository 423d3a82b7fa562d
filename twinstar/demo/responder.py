"""The demo's PBX: a UDP responder on the shared address that answers with its host name.

It stands for Asterisk: it is started and stopped by the takeover's
``command`` step, lives on the replicated partition (its working directory
and a start record are on the mount, so the partition cannot be unmounted
while it runs), and answers every datagram with ``<host> <payload>``.

    python -IS .../twinstar/demo/responder.py start|stop|check|calls --address A --port P --name N --pidfile F --data DIR

``start`` returns once the detached server is bound and answering; ``check``
exits 0 only when it answers; ``calls`` prints the number of active calls
(the drain check of ``twinstar switchover``), read from ``calls`` beside the pidfile.

It runs as a script (:func:`command`), isolated and without ``site``, and
imports built-in modules only (no ``argparse``, ``subprocess`` or ``re``):
Asterisk's own tools (``asterisk -rx``, its init script) are C programs and
shell, and a takeover runs this check at its start beside the steps, so a
Python start of 35 ms CPU per call would take CPU from the takeover that the
real PBX's check does not.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

PROBE = b"check"
#: The options every action takes (``--timeout`` is optional), as ``--name VALUE`` pairs.
OPTIONS = ("address", "port", "name", "pidfile", "data", "timeout")
ACTIONS = ("serve", "start", "stop", "check", "calls")
USAGE = "usage: responder.py serve|start|stop|check|calls --address A --port P --name N --pidfile F --data DIR [--timeout S]"


def command() -> list[str]:
    """How the demo runs this program: this file as a script, isolated and without ``site``."""
    return [sys.executable, "-IS", os.path.abspath(__file__)]


class Args:
    """The parsed command line."""

    def __init__(self, action: str, address: str, port: int, name: str, pidfile: str, data: str, timeout: float) -> None:
        self.action, self.address, self.port, self.name = action, address, port, name
        self.pidfile, self.data, self.timeout = pidfile, data, timeout


def parse(argv: list[str]) -> Args | None:
    """The action and options of ``argv``; None when malformed."""
    if not argv or argv[0] not in ACTIONS or len(argv) % 2 == 0:
        return None
    values = {"port": "5060", "timeout": "5.0"}
    for key, value in zip(argv[1::2], argv[2::2], strict=True):
        if not key.startswith("--") or key[2:] not in OPTIONS:
            return None
        values[key[2:]] = value
    if any(k not in values for k in OPTIONS):
        return None
    try:
        return Args(argv[0], values["address"], int(values["port"]), values["name"], values["pidfile"], values["data"], float(values["timeout"]))
    except ValueError:
        return None


def serve(address: str, port: int, name: str, pidfile: str, data: str) -> int:
    """Bind, write the pidfile (= ready), then answer until SIGTERM."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    os.chdir(data)
    with open(os.path.join(data, f"{name}.started"), "a") as f:
        f.write(f"{time.time():.6f}\n")
    tmp = f"{pidfile}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(tmp, pidfile)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    reply_prefix = name.encode() + b" "
    while True:
        payload, peer = sock.recvfrom(512)
        sock.sendto(reply_prefix + payload, peer)


def read_pid(pidfile: str) -> int | None:
    try:
        with open(pidfile) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    """Running and not a zombie: :func:`twinstar.fastpath.procid.process_alive`, copied so that this
    program, run by every takeover's ``command`` step, imports no twinstar module."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rindex(b")") + 2 : data.rindex(b")") + 3] != b"Z"
    except (OSError, ValueError):
        return False


def ask(address: str, port: int, *, timeout: float) -> str | None:
    """The responder's answer to one probe, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(PROBE, (address, port))
            reply, _ = sock.recvfrom(512)
        except OSError:
            return None
    return reply.decode(errors="replace")


def broken_marker(pidfile: str) -> str:
    """While this file exists the PBX cannot start on this server (the demo's failed-takeover scenarios)."""
    return pidfile + ".broken"


def start(args: Args) -> int:
    if os.path.exists(broken_marker(args.pidfile)):
        print(f"the PBX cannot start on this server ({broken_marker(args.pidfile)} exists)", file=sys.stderr)
        return 1
    try:
        os.unlink(args.pidfile)
    except FileNotFoundError:
        pass
    argv = [*command(), "serve", *common(args)]
    child = os.fork()
    if child == 0:  # pragma: no cover - the server, detached
        try:
            os.setsid()
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if read_pid(args.pidfile) == child:
            return 0
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            print(f"responder exited with status {os.waitstatus_to_exitcode(status)} before answering", file=sys.stderr)
            return 1
        time.sleep(0.002)
    os.kill(child, signal.SIGKILL)
    print(f"responder not ready within {args.timeout:g} s", file=sys.stderr)
    return 1


def stop(args: Args) -> int:
    pid = read_pid(args.pidfile)
    if pid is not None and alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + args.timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.002)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
            while alive(pid):
                time.sleep(0.002)
    try:
        os.unlink(args.pidfile)
    except FileNotFoundError:
        pass
    return 0


def check(args: Args) -> int:
    pid = read_pid(args.pidfile)
    if pid is None or not alive(pid):
        print("not running", file=sys.stderr)
        return 1
    answer = ask(args.address, args.port, timeout=0.5)
    if answer is None or not answer.startswith(f"{args.name} "):
        print(f"running as pid {pid} but not answering on {args.address}:{args.port}", file=sys.stderr)
        return 1
    return 0


def calls(args: Args) -> int:
    path = os.path.join(os.path.dirname(args.pidfile), "calls")
    try:
        with open(path) as f:
            print(int(f.read().strip() or 0))
    except FileNotFoundError:
        print(0)
    return 0


def common(args: Args) -> list[str]:
    return [
        "--address", args.address, "--port", str(args.port), "--name", args.name,
        "--pidfile", args.pidfile, "--data", args.data,
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args is None:
        print(USAGE, file=sys.stderr)
        return 2
    if args.action == "serve":
        return serve(args.address, args.port, args.name, args.pidfile, args.data)
    return {"start": start, "stop": stop, "check": check, "calls": calls}[args.action](args)


if __name__ == "__main__":
    sys.exit(main())
