"""The demo's phone: registers once with the PBX, and asks the PBX whether it knows the phone.

    python -m twinstar.demo.stack.phone register --server ADDR --local ADDR --out FILE
    python -m twinstar.demo.stack.phone lookup --server ADDR --local ADDR --out FILE

``register`` sends a SIP ``REGISTER`` for ``sip:phone@SERVER`` (contact
``sip:phone@LOCAL:PORT``) until a final answer comes; ``lookup`` sends an
``OPTIONS`` to ``sip:phone@SERVER``, which the PBX answers from its location
table (:mod:`.kamailio`). Each appends one JSON line to FILE: ``{"t", "action",
"status", "node", "contact"}``; status is the SIP status code, or null when no
answer came within ``--wait`` seconds. Exit 0 on a 200, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
import uuid
from dataclasses import dataclass

from twinstar.demo.stack.kamailio import CONTACT_HEADER, NODE_HEADER, PORT

USER = "phone"
LOCAL_PORT = 5071
EXPIRES = 3600
#: How long one request waits for its answer before it is sent again (seconds).
RETRANSMIT = 0.2


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names, first value


def request(method: str, server: str, local: str, local_port: int, *, call_id: str, cseq: int) -> bytes:
    """A SIP request over UDP from ``local:local_port`` about ``sip:phone@server`` (pure)."""
    uri = f"sip:{USER}@{server}"
    lines = [
        f"{method} {uri if method != 'REGISTER' else f'sip:{server}'} SIP/2.0",
        f"Via: SIP/2.0/UDP {local}:{local_port};rport;branch=z9hG4bK{uuid.uuid4().hex}",
        "Max-Forwards: 70",
        f"From: <{uri}>;tag={uuid.uuid4().hex[:12]}",
        f"To: <{uri}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
    ]
    if method == "REGISTER":
        lines += [f"Contact: <sip:{USER}@{local}:{local_port}>", f"Expires: {EXPIRES}"]
    lines += ["User-Agent: twinstar-demo-phone", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def parse_answer(data: bytes) -> Answer | None:
    """A SIP response's status and headers; None for anything else (pure)."""
    head = data.decode(errors="replace").split("\r\n\r\n", 1)[0].split("\r\n")
    first = head[0].split(" ", 2)
    if len(first) < 2 or first[0] != "SIP/2.0" or not first[1].isdigit():
        return None
    headers: dict[str, str] = {}
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    return Answer(int(first[1]), headers)


def transact(sock: socket.socket, message: bytes, server: tuple[str, int], call_id: str, wait: float) -> Answer | None:
    """Send ``message`` (again every :data:`RETRANSMIT` s) until a final answer of its call arrives."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            sock.sendto(message, server)
        except OSError:
            time.sleep(RETRANSMIT)
            continue
        resend = time.monotonic() + RETRANSMIT
        while (left := min(resend, deadline) - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data = sock.recv(65535)
            except (TimeoutError, ConnectionRefusedError):
                break
            answer = parse_answer(data)
            if answer is not None and answer.status >= 200 and answer.headers.get("call-id") == call_id:
                return answer
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twinstar.demo.stack.phone")
    parser.add_argument("action", choices=["register", "lookup"])
    parser.add_argument("--server", required=True)
    parser.add_argument("--local", required=True)
    parser.add_argument("--port", type=int, default=LOCAL_PORT)
    parser.add_argument("--out", required=True)
    parser.add_argument("--wait", type=float, default=5.0)
    args = parser.parse_args(argv)
    method = "REGISTER" if args.action == "register" else "OPTIONS"
    call_id = f"{uuid.uuid4().hex}@{args.local}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((args.local, args.port))
        message = request(method, args.server, args.local, args.port, call_id=call_id, cseq=1)
        answer = transact(sock, message, (args.server, PORT), call_id, args.wait)
    record = {
        "t": round(time.time(), 6),
        "action": args.action,
        "status": answer.status if answer else None,
        "node": answer.headers.get(NODE_HEADER.lower()) if answer else None,
        "contact": answer.headers.get(CONTACT_HEADER.lower()) if answer else None,
    }
    with open(args.out, "a") as f:
        f.write(json.dumps(record) + "\n")
    return 0 if answer is not None and answer.status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
