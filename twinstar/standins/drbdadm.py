"""A ``drbdadm`` stand-in: DRBD's user-facing role changes, with the state in a JSON file.

The DRBD kernel module cannot load on a build machine; everything above
``drbdadm`` (the drbd step, the mount, fsck) stays real. Two simulated
servers share one state file, which holds both nodes' roles, so the
stand-in enforces what DRBD enforces: a single Primary. ``primary`` while
the peer is Primary exits 17 with DRBD's message.

Commands (output as drbd-utils prints it; ``format`` "8.4" or "9")::

    role RES        8.4: "Secondary/Primary" (local/peer, peer "Unknown" when disconnected)
                    9:   "Secondary"
    primary RES     [--force]
    secondary RES
    cstate RES      Connected | WFConnection (8.4) / Connecting (9)
    dstate RES      "UpToDate/UpToDate" (peer "DUnknown" when disconnected)
    status RES      the DRBD 9 ``drbdadm status`` layout

Which node it speaks for and the state file come from ``--node`` and
``--state`` (baked into a wrapper by :func:`write_wrapper`) or from
$TWINSTAR_DRBDADM_NODE and $TWINSTAR_DRBDADM_STATE.

The real drbdadm is a C program that answers in a millisecond or two; a
Python start per call costs 10 to 17 ms of CPU, and a takeover calls it on
its critical path (``primary``, then ``role`` to verify) and in its early
checks. So that this artefact of the stand-in does not count as twinstar's
time, the light demo runs the same commands in one resident process
(``--serve SOCKET``, :func:`serve`) and installs as ``drbdadm`` a small C
client (:func:`build_client`, compiled with ``cc`` when there is one) that
passes its node and arguments over a Unix socket and prints the answer: one
process start of a C program per call, like drbd-utils. Without a compiler,
or when the server does not answer, the client is the Python wrapper (the
client runs it itself). Same state file, same answers, every call recorded.
The server answers about mounts as its client sees them (``secondary``
refuses while the device is mounted): it reads the client's mount table and
device node through ``/proc/PID`` of the client's process (the peer of the
socket), so a client in a container of its own (the real stack's servers)
gets its container's answer.

State file::

    {"format": "8.4",
     "resources": {"r0": {"nodes": {"pbx-a": {"role": "Secondary", "disk": "UpToDate"},
                                    "pbx-b": {"role": "Primary", "disk": "UpToDate"}},
                          "connected": true,
                          "device": "/dev/loop3",      # optional: refuse secondary while mounted
                          "fail_primary": 0}},         # optional: fail the next N promotions (exit 11)
     "calls": [{"node": "pbx-a", "argv": ["role", "r0"]}, ...]}
"""

from __future__ import annotations

import fcntl
import os
import stat
import sys

from twinstar.fastpath.statefile import loads  # the one cheap JSON reader (stdlib only)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    State = dict[str, Any]

# Real drbdadm is a small C program that answers in a millisecond or two. This
# stand-in runs once per drbdadm call on the takeover's path, so it starts
# lean (the wrapper runs ``python -IS``) and imports only built-in modules and
# twinstar.fastpath: the state file is read with the fast path's JSON reader and
# written with the C half of ``json`` directly (``json`` itself would import
# ``re``, ``enum`` and more on every call: about 7 ms each time).

NODE_ENV = "TWINSTAR_DRBDADM_NODE"
STATE_ENV = "TWINSTAR_DRBDADM_STATE"

#: drbdadm's exit status when a state change is refused by the peer's role or fencing.
EXIT_REFUSED = 17
#: drbdadm's exit status for other failed state changes.
EXIT_STATE_CHANGE_FAILED = 11
EXIT_NO_RESOURCE = 10
EXIT_USAGE = 20


# --- the state file ------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    try:
        import _json
    except ImportError:  # another Python implementation
        import json

        return json.dumps(value)
    # (markers, default, encoder, indent, key_separator, item_separator, sort_keys, skipkeys, allow_nan)
    encode = _json.make_encoder(
        None, _unencodable, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    return "".join(encode(value, 0))


def _unencodable(value: object) -> object:
    raise TypeError(f"{type(value).__name__} cannot be written to the drbdadm stand-in's state file")


def new_state(
    resource: str,
    nodes: tuple[str, str],
    *,
    primary: str | None = None,
    connected: bool = True,
    device: str | None = None,
    format: str = "8.4",
) -> State:
    """A state with one resource shared by two nodes, ``primary`` (if any) Primary."""
    if format not in ("8.4", "9"):
        raise ValueError(f"format must be 8.4 or 9, not {format!r}")
    res: dict[str, Any] = {
        "nodes": {n: {"role": "Primary" if n == primary else "Secondary", "disk": "UpToDate"} for n in nodes},
        "connected": connected,
        "fail_primary": 0,
    }
    if device is not None:
        res["device"] = device
    return {"format": format, "resources": {resource: res}, "calls": []}


def write_state(path: str | os.PathLike[str], state: State) -> None:
    """Replace the state file atomically."""
    path = os.fspath(path)
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(_dumps(state) + "\n")
    os.replace(tmp, path)


def read_state(path: str | os.PathLike[str]) -> State:
    with open(path, encoding="utf-8") as f:
        return loads(f.read())  # type: ignore[return-value]  # the file this module writes


class locked:
    """``with locked(path) as state:`` the state, read and written back under an exclusive lock.

    Two servers share the file. The state is written back when the body
    finishes, not when it raises.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.fd = -1

    def __enter__(self) -> State:
        self.fd = os.open(f"{self.path}.lock", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            self.state = read_state(self.path)
        except BaseException:
            os.close(self.fd)  # a resident server must not keep the lock of a call that failed
            raise
        return self.state

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                write_state(self.path, self.state)
        finally:
            os.close(self.fd)


def set_role(path: str | os.PathLike[str], resource: str, node: str, role: str) -> None:
    """Change one node's role directly (as a crashed or remote peer would)."""
    with locked(path) as state:
        state["resources"][resource]["nodes"][node]["role"] = role


def set_disk(path: str | os.PathLike[str], resource: str, node: str, disk: str) -> None:
    """Change one node's disk state directly (``Outdated``: it missed writes while the peer was Primary)."""
    with locked(path) as state:
        state["resources"][resource]["nodes"][node]["disk"] = disk


def set_connected(path: str | os.PathLike[str], resource: str, connected: bool) -> None:
    with locked(path) as state:
        state["resources"][resource]["connected"] = connected


def write_wrapper(path: str | os.PathLike[str], state_file: str | os.PathLike[str], node: str) -> Path:
    """Write an executable ``drbdadm`` for ``programs: {drbdadm: PATH}`` speaking for ``node``.

    The wrapper runs the interpreter isolated and without ``site`` (``-IS``):
    it needs nothing but this package, whose directory it puts on the path itself.
    """
    from pathlib import Path

    path = Path(path)
    package_root = Path(__file__).resolve().parents[2]
    path.write_text(
        f"#!{sys.executable} -IS\n"
        '"""drbdadm stand-in (twinstar.standins.drbdadm)."""\n'
        "import sys\n"
        f"sys.path.insert(0, {str(package_root)!r})\n"
        "from twinstar.standins.drbdadm import main\n"
        f"sys.exit(main(['--state', {os.fspath(state_file)!r}, '--node', {node!r}, *sys.argv[1:]]))\n"
    )
    path.chmod(0o755)
    return path


# --- the commands --------------------------------------------------------------------------


class _Exit(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _peer(res: dict[str, Any], node: str) -> str:
    peers = [str(n) for n in res["nodes"] if n != node]
    if len(peers) != 1:
        raise _Exit(EXIT_USAGE, f"stand-in state must list exactly two nodes, found {sorted(res['nodes'])}")
    return peers[0]


#: Whose view of the mounts a command answers with: this process's, unless a server passes its client's.
OWN_VIEW = "/proc/self"


def _device_mounted(device: str, view: str) -> bool:
    """Whether ``device`` is mounted as the process at ``view`` (a ``/proc/PID``) sees its files and mounts."""
    try:
        st = os.stat(f"{view}/root/{device.lstrip('/')}")
    except OSError:
        return False
    if not stat.S_ISBLK(st.st_mode):
        return False
    want = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    with open(f"{view}/mountinfo") as f:
        return any(line.split()[2] == want for line in f)


def _cmd_role(fmt: str, res: dict[str, Any], node: str, resource: str) -> str:
    me, peer = res["nodes"][node], res["nodes"][_peer(res, node)]
    if fmt == "9":
        return str(me["role"])
    return f"{me['role']}/{peer['role'] if res['connected'] else 'Unknown'}"


def _cmd_cstate(fmt: str, res: dict[str, Any], node: str, resource: str) -> str:
    if res["connected"]:
        return "Connected"
    return "WFConnection" if fmt == "8.4" else "Connecting"


def _cmd_dstate(fmt: str, res: dict[str, Any], node: str, resource: str) -> str:
    me, peer = res["nodes"][node], res["nodes"][_peer(res, node)]
    return f"{me['disk']}/{peer['disk'] if res['connected'] else 'DUnknown'}"


def _cmd_status(fmt: str, res: dict[str, Any], node: str, resource: str) -> str:
    peer_name = _peer(res, node)
    me, peer = res["nodes"][node], res["nodes"][peer_name]
    lines = [f"{resource} role:{me['role']}", f"  disk:{me['disk']}"]
    if res["connected"]:
        lines += [f"  {peer_name} role:{peer['role']}", f"    peer-disk:{peer['disk']}"]
    else:
        lines += [f"  {peer_name} connection:Connecting"]
    return "\n".join(lines)


def _cmd_primary(res: dict[str, Any], node: str, resource: str, force: bool) -> None:
    me, peer = res["nodes"][node], res["nodes"][_peer(res, node)]
    if me["role"] == "Primary":
        return
    if res.get("fail_primary", 0) > 0:
        res["fail_primary"] -= 1
        raise _Exit(EXIT_STATE_CHANGE_FAILED, f"{resource}: State change failed: (-2) Need access to UpToDate data")
    if peer["role"] == "Primary":
        if res["connected"]:
            raise _Exit(EXIT_REFUSED, f"{resource}: State change failed: (-1) Multiple primaries not allowed by config")
        raise _Exit(EXIT_REFUSED, f"{resource}: State change failed: (-7) Refusing to be Primary while peer is not outdated")
    if me["disk"] != "UpToDate" and not force:
        raise _Exit(EXIT_STATE_CHANGE_FAILED, f"{resource}: State change failed: (-2) Need access to UpToDate data")
    me["role"] = "Primary"


def _cmd_secondary(res: dict[str, Any], node: str, resource: str, view: str) -> None:
    device = res.get("device")
    if res["nodes"][node]["role"] == "Primary" and device and _device_mounted(device, view):
        raise _Exit(EXIT_STATE_CHANGE_FAILED, f"{resource}: State change failed: (-12) Device is held open by someone")
    res["nodes"][node]["role"] = "Secondary"


_READERS: dict[str, Callable[[str, dict[str, Any], str, str], str]] = {
    "role": _cmd_role,
    "cstate": _cmd_cstate,
    "dstate": _cmd_dstate,
    "status": _cmd_status,
}


def run(argv: list[str], *, state_file: str, node: str, view: str = OWN_VIEW) -> tuple[int, str, str]:
    """Run one drbdadm command line; (exit status, stdout, stderr). Mounts are looked up as the
    process at ``view`` (a ``/proc/PID``) sees them."""
    options = [a for a in argv if a.startswith("-")]
    words = [a for a in argv if not a.startswith("-")]
    if len(words) != 2:
        return EXIT_USAGE, "", "USAGE: drbdadm COMMAND RESOURCE (stand-in: role primary secondary cstate dstate status)\n"
    command, resource = words
    with locked(state_file) as state:
        # Record and keep every change, also when the command fails.
        state.setdefault("calls", []).append({"node": node, "argv": argv})
        try:
            return _dispatch(state, command, resource, node, options, view)
        except _Exit as exc:
            return exc.status, "", exc.message + "\n"


def _dispatch(state: State, command: str, resource: str, node: str, options: list[str], view: str) -> tuple[int, str, str]:
    res = state["resources"].get(resource)
    if res is None or node not in res["nodes"]:
        raise _Exit(EXIT_NO_RESOURCE, f"'{resource}' not defined in your config (for this host).")
    if command in _READERS:
        return 0, _READERS[command](state.get("format", "8.4"), res, node, resource) + "\n", ""
    if command == "primary":
        _cmd_primary(res, node, resource, "--force" in options)
    elif command == "secondary":
        _cmd_secondary(res, node, resource, view)
    else:
        raise _Exit(EXIT_USAGE, f"Unknown command '{command}'")
    return 0, "", ""


# --- the resident form: a server and a C client ------------------------------------------------

#: The largest request or answer passed over the socket (arguments, output).
MESSAGE_LIMIT = 64 * 1024


def answer(request: bytes, state_file: str, view: str = OWN_VIEW) -> bytes:
    """The reply to one client request: ``NODE\\0ARG\\0...`` -> status byte, stdout length (4 bytes), stdout, stderr.
    ``view``: the client's ``/proc/PID`` (its mounts)."""
    node, *argv = request.decode("utf-8", "surrogateescape").split("\0")[:-1] or [""]
    if not node:
        status, out, err = EXIT_USAGE, "", "drbdadm stand-in: malformed request\n"
    else:
        status, out, err = run(argv, state_file=state_file, node=node, view=view)
    data = out.encode("utf-8", "surrogateescape")
    return bytes([status & 0xFF]) + len(data).to_bytes(4, "big") + data + err.encode("utf-8", "surrogateescape")


def serve(socket_path: str, state_file: str, *, ready: Callable[[], object] | None = None) -> None:
    """Answer drbdadm calls on the Unix socket ``socket_path`` (mode 0600), one at a time, until killed.

    The state file's lock still orders calls against the Python wrapper's.
    """
    import socket

    try:
        os.unlink(socket_path)
    except FileNotFoundError:
        pass
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        old = os.umask(0o177)
        try:
            server.bind(socket_path)
        finally:
            os.umask(old)
        server.listen(16)
        if ready is not None:
            ready()
        while True:
            conn, _ = server.accept()
            with conn:
                request = b""
                while len(request) <= MESSAGE_LIMIT and (chunk := conn.recv(4096)):
                    request += chunk
                try:
                    reply = answer(request[:MESSAGE_LIMIT], state_file, client_view(conn))
                except Exception as exc:  # noqa: BLE001 - one call failed (as the wrapper would, exit 1); the server goes on
                    reply = bytes([1]) + bytes(4) + f"drbdadm stand-in: {type(exc).__name__}: {exc}\n".encode()
                conn.sendall(reply)


def client_view(conn: socket.socket) -> str:
    """The ``/proc/PID`` of the process at the other end of ``conn`` (``SO_PEERCRED``: its PID as this
    process's PID namespace numbers it, also for a client in a container)."""
    import socket
    import struct

    pid, _uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return f"/proc/{pid}"


CLIENT_C = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        p += w; n -= (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv) {
    static char reply[LIMIT + 5];
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(SOCK) >= sizeof addr.sun_path) goto fallback;
    strcpy(addr.sun_path, SOCK);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) goto fallback;
    size_t total = strlen(NODE) + 1;
    for (int i = 1; i < argc; i++) total += strlen(argv[i]) + 1;
    if (total > LIMIT) { fputs("drbdadm stand-in: arguments too long\n", stderr); return 20; }
    if (send_all(fd, NODE, strlen(NODE) + 1) < 0) goto lost;
    for (int i = 1; i < argc; i++) if (send_all(fd, argv[i], strlen(argv[i]) + 1) < 0) goto lost;
    shutdown(fd, SHUT_WR);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, reply + got, sizeof reply - got);
        if (r < 0) { if (errno == EINTR) continue; goto lost; }
        if (r == 0 || (got += (size_t)r) == sizeof reply) break;
    }
    if (got < 5) goto lost;
    size_t out = ((size_t)(unsigned char)reply[1] << 24) | ((size_t)(unsigned char)reply[2] << 16)
               | ((size_t)(unsigned char)reply[3] << 8) | (size_t)(unsigned char)reply[4];
    if (out > got - 5) goto lost;
    if (send_all(1, reply + 5, out) < 0 || send_all(2, reply + 5 + out, got - 5 - out) < 0) return 20;
    return (unsigned char)reply[0];
lost:
    fputs("drbdadm stand-in: the server did not answer\n", stderr);
    return 20;
fallback:
    execv(FALLBACK, argv);
    perror("drbdadm stand-in: " FALLBACK);
    return 20;
}
"""


def _c_string(value: str) -> str:
    """``value`` as a C string literal, every byte escaped (octal: never merged with what follows)."""
    return '"' + "".join(f"\\{b:03o}" for b in os.fsencode(value)) + '"'


def build_client(path: str | os.PathLike[str], socket_path: str, node: str, fallback: str | os.PathLike[str]) -> bool:
    """Compile the C client as ``path`` for ``node`` (its server on ``socket_path``; ``fallback``, the Python
    wrapper, when that does not answer); False when there is no C compiler or it fails (nothing written)."""
    import shutil

    from twinstar.engine.proc import ProgramRunner
    from twinstar.errors import ProgramError

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return False
    defines = {"SOCK": _c_string(socket_path), "NODE": _c_string(node), "FALLBACK": _c_string(os.fspath(fallback))}
    source = "".join(f"#define {k} {v}\n" for k, v in defines.items()) + f"#define LIMIT {MESSAGE_LIMIT}\n" + CLIENT_C
    target = os.fspath(path)
    directory = os.path.dirname(target) or "."
    src, tmp = os.path.join(directory, ".drbdadm-client.c"), f"{target}.{os.getpid()}.tmp"
    with open(src, "w") as f:
        f.write(source)
    try:
        ProgramRunner(programs={"cc": compiler}).run(["cc", "-O2", "-o", tmp, src], timeout=60, quiet=True)
    except ProgramError:
        return False
    finally:
        os.unlink(src)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)
    return True


def install(program: str | os.PathLike[str], state_file: str | os.PathLike[str], socket_path: str, node: str) -> bool:
    """``program`` as ``node``'s ``drbdadm``: the C client of the server on ``socket_path``, with the Python
    wrapper beside it (``PROGRAM-py``) for when the server does not answer (a compiler at hand: True); else
    the Python wrapper itself (False)."""
    fallback = write_wrapper(f"{os.fspath(program)}-py", state_file, node)
    if build_client(program, socket_path, node, fallback):
        return True
    write_wrapper(program, state_file, node)
    return False


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--serve"] and len(args) == 4 and args[2] == "--state":
        serve(args[1], args[3])
        return 0
    state_file = os.environ.get(STATE_ENV)
    node = os.environ.get(NODE_ENV)
    while args[:1] and args[0] in ("--state", "--node") and len(args) >= 2:
        if args[0] == "--state":
            state_file = args[1]
        else:
            node = args[1]
        args = args[2:]
    if not state_file or not node:
        print(f"drbdadm stand-in: set --state and --node (or ${STATE_ENV} and ${NODE_ENV})", file=sys.stderr)
        return EXIT_USAGE
    status, out, err = run(args, state_file=state_file, node=node)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return status


if __name__ == "__main__":
    sys.exit(main())
