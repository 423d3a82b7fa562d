"""The demo's PBX: a UDP responder on the shared address that answers with its host name.

It stands for Asterisk: it is started and stopped by the takeover's
``command`` step, lives on the replicated partition (its working directory
and a start record are on the mount, so the partition cannot be unmounted
while it runs), and answers every datagram with ``<host> <payload>``.

    python -m twinstar.demo.responder start|stop|check|calls --address A --port P --name N --pidfile F --data DIR

``start`` returns once the detached server is bound and answering; ``check``
exits 0 only when it answers; ``calls`` prints the number of active calls
(the drain check of ``twinstar switchover``), read from ``calls`` beside the pidfile.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

PROBE = b"check"


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


def start(args: argparse.Namespace) -> int:
    if os.path.exists(broken_marker(args.pidfile)):
        print(f"the PBX cannot start on this server ({broken_marker(args.pidfile)} exists)", file=sys.stderr)
        return 1
    try:
        os.unlink(args.pidfile)
    except FileNotFoundError:
        pass
    argv = [sys.executable, "-m", "twinstar.demo.responder", "serve", *common(args)]
    child = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if read_pid(args.pidfile) == child.pid:
            return 0
        if child.poll() is not None:
            print(f"responder exited with status {child.returncode} before answering", file=sys.stderr)
            return 1
        time.sleep(0.002)
    child.kill()
    print(f"responder not ready within {args.timeout:g} s", file=sys.stderr)
    return 1


def stop(args: argparse.Namespace) -> int:
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


def check(args: argparse.Namespace) -> int:
    pid = read_pid(args.pidfile)
    if pid is None or not alive(pid):
        print("not running", file=sys.stderr)
        return 1
    answer = ask(args.address, args.port, timeout=0.5)
    if answer is None or not answer.startswith(f"{args.name} "):
        print(f"running as pid {pid} but not answering on {args.address}:{args.port}", file=sys.stderr)
        return 1
    return 0


def calls(args: argparse.Namespace) -> int:
    path = os.path.join(os.path.dirname(args.pidfile), "calls")
    try:
        with open(path) as f:
            print(int(f.read().strip() or 0))
    except FileNotFoundError:
        print(0)
    return 0


def common(args: argparse.Namespace) -> list[str]:
    return [
        "--address", args.address, "--port", str(args.port), "--name", args.name,
        "--pidfile", args.pidfile, "--data", args.data,
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twinstar.demo.responder")
    parser.add_argument("action", choices=("serve", "start", "stop", "check", "calls"))
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, default=5060)
    parser.add_argument("--name", required=True)
    parser.add_argument("--pidfile", required=True)
    parser.add_argument("--data", required=True, help="the directory on the replicated partition")
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.action == "serve":
        return serve(args.address, args.port, args.name, args.pidfile, args.data)
    return {"start": start, "stop": stop, "check": check, "calls": calls}[args.action](args)


if __name__ == "__main__":
    sys.exit(main())
