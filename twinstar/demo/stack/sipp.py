"""SIPp, the standard SIP test client, pinging the PBX with ``OPTIONS``; reading what it saw.

SIPp sends one ``OPTIONS`` per "call" at a fixed rate (every 10 ms); a call
succeeds when a ``200`` arrives within :data:`ANSWER_TIMEOUT_MS`, else it
fails with a receive timeout. Two of SIPp's own records are read:

* its statistics file (``-trace_stat``, ``-stf``): the cumulative counts of
  successful and failed calls, by cause, in the last line;
* its log (``-trace_logs``, ``-log_file``): one line per answered call, from
  the scenario's ``<log>`` action, with SIPp's clock (milliseconds since it
  started), the call number and the server named in the ``X-Node`` header.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twinstar.demo.stack.kamailio import NODE_HEADER, PING_USER, PORT

#: One OPTIONS every this many milliseconds.
INTERVAL_MS = 10
#: A call fails when its 200 has not come within this many milliseconds.
ANSWER_TIMEOUT_MS = 200
LOCAL_PORT = 5070
#: More calls than any run makes: SIPp is stopped by a signal, not by the count.
MAX_CALLS = 10_000_000
LOG_MARK = "answered"

SCENARIO = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- Written by twinstar demo: one OPTIONS per call; a call fails if no 200 comes within {ANSWER_TIMEOUT_MS} ms. -->
<scenario name="twinstar OPTIONS ping">
  <send>
    <![CDATA[
      OPTIONS sip:{PING_USER}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:{PING_USER}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" timeout="{ANSWER_TIMEOUT_MS}">
    <action>
      <ereg regexp="[^ ]+" search_in="hdr" header="{NODE_HEADER}:" check_it="true" assign_to="node"/>
      <log message="[clock_tick] {LOG_MARK} [call_number] [$node]"/>
    </action>
  </recv>
</scenario>
"""


def argv(server: str, local: str, *, scenario: str, stat_file: str, log_file: str) -> list[str]:
    """SIPp pinging ``server`` from ``local`` until it is stopped (SIGUSR1, then it finishes and exits)."""
    rate_per_s = 1000 // INTERVAL_MS
    return ["sipp", f"{server}:{PORT}", "-sf", scenario, "-i", local, "-p", str(LOCAL_PORT),
            "-r", str(rate_per_s), "-m", str(MAX_CALLS), "-nostdin",
            "-trace_stat", "-stf", stat_file, "-fd", "1", "-trace_logs", "-log_file", log_file]  # fmt: skip


@dataclass(frozen=True)
class Answer:
    tick_ms: int  # SIPp's clock: milliseconds since it started
    call: int
    node: str


@dataclass
class SippRecord:
    """What SIPp recorded: its statistics' last line and every answer of its log."""

    start: float | None = None  # wall-clock seconds when SIPp started
    counts: dict[str, int] = field(default_factory=dict)  # e.g. "SuccessfulCall", "FailedTimeoutOnRecv": cumulative
    answers: list[Answer] = field(default_factory=list)

    @property
    def successful(self) -> int:
        return self.counts.get("SuccessfulCall", 0)

    @property
    def failed(self) -> int:
        return self.counts.get("FailedCall", 0)

    @property
    def timed_out(self) -> int:
        return self.counts.get("FailedTimeoutOnRecv", 0)

    def by_node(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.answers:
            out[a.node] = out.get(a.node, 0) + 1
        return out

    def wall(self, tick_ms: int) -> float | None:
        """SIPp's clock as wall-clock seconds."""
        return None if self.start is None else self.start + tick_ms / 1000


def parse_stat(text: str) -> tuple[float | None, dict[str, int]]:
    """SIPp's start time and cumulative counts from its statistics file (``;``-separated, a header line).

    Only the last complete line counts: SIPp appends one every second and a
    last one when it ends. Time fields are ``date<TAB>time<TAB>epoch``.
    """
    lines = [line.rstrip(";") for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return None, {}
    header = lines[0].split(";")
    row = lines[-1].split(";")
    if len(row) != len(header):
        row = lines[-2].split(";") if len(lines) > 2 else []
    values = dict(zip(header, row, strict=False))
    start = None
    stamp = values.get("StartTime", "").split("\t")
    if len(stamp) == 3:
        try:
            start = float(stamp[2])
        except ValueError:
            start = None
    counts = {}
    for name, value in values.items():
        if name.endswith("(C)") and value.strip().isdigit():
            counts[name[: -len("(C)")]] = int(value)
    return start, counts


def parse_log(text: str) -> list[Answer]:
    """The answers logged by :data:`SCENARIO` (``TICK answered CALL NODE`` per line), in log order."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[1] == LOG_MARK and parts[0].isdigit() and parts[2].isdigit():
            out.append(Answer(int(parts[0]), int(parts[2]), parts[3]))
    return out


def read(stat_file: str, log_file: str) -> SippRecord:
    """Both of SIPp's files (missing ones read as empty)."""

    def text(path: str) -> str:
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    start, counts = parse_stat(text(stat_file))
    return SippRecord(start, counts, parse_log(text(log_file)))


@dataclass(frozen=True)
class SipOutage:
    """The failover as SIPp saw it: last answer from the old server, first from the new one."""

    old: str
    new: str
    last_old_ms: int
    first_new_ms: int
    unanswered: int  # calls sent between the two that got no answer

    @property
    def outage_ms(self) -> int:
        return self.first_new_ms - self.last_old_ms


def outage(record: SippRecord, old: str, new: str) -> SipOutage | None:
    """The gap between ``old``'s last answer and ``new``'s first answer after it (None when either is missing)."""
    olds = [a for a in record.answers if a.node == old]
    if not olds:
        return None
    last_old = max(olds, key=lambda a: a.tick_ms)
    news = [a for a in record.answers if a.node == new and a.tick_ms > last_old.tick_ms]
    if not news:
        return None
    first_new = min(news, key=lambda a: a.tick_ms)
    answered = {a.call for a in record.answers}
    lost = sum(1 for call in range(last_old.call + 1, first_new.call) if call not in answered)
    return SipOutage(old, new, last_old.tick_ms, first_new.tick_ms, lost)
