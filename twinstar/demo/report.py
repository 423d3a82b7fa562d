"""What a demo run showed: the timeline, the summary, and whether it all held.

Pure functions of :class:`~twinstar.demo.scenario.Collected`: the event log
(hardware, watches, orchestrator), the client's probes and both engines'
journals, all stamped with the same wall clock.

* outage: the client's view, last answer from A to first answer from B;
* detection: the configured watchdog timeout, and the measured time from the
  failure to the units switching port;
* orchestration: last unit READY on B to B answering, minus the service's
  own start (from the takeover reaching the service step to the first
  answer): hook, engine, dahdi, drbd and ip;
* each takeover step's duration, from B's journal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twinstar.demo.scenario import FAILOVERS, Collected, Scenario
from twinstar.demo.stack import results
from twinstar.demo.stack.results import StackResult
from twinstar.demo.watch import overlaps

#: The takeover's steps that start the PBX's services (the light stack's responder, the real stack's units).
SERVICE_STEP_KINDS = ("command:", "service:")


@dataclass(frozen=True)
class Entry:
    t: float
    host: str
    text: str


@dataclass
class Summary:
    served: list[str] = field(default_factory=list)
    outage_ms: float | None = None
    unanswered: int = 0
    detection_configured_ms: float | None = None
    detection_ms: float | None = None
    ready_to_answer_ms: float | None = None
    service_ms: float | None = None
    orchestration_ms: float | None = None
    takeover_ms: float | None = None
    takeover_steps: dict[str, float] = field(default_factory=dict)
    release_ms: float | None = None
    release_steps: dict[str, float] = field(default_factory=dict)
    address_overlaps: list[tuple[float, float]] = field(default_factory=list)
    mount_overlaps: list[tuple[float, float]] = field(default_factory=list)
    hand_backs: dict[str, int] = field(default_factory=dict)  # per server
    transitions: dict[str, int] = field(default_factory=dict)  # takeovers and releases begun, per server
    problems: list[str] = field(default_factory=list)
    stack: StackResult | None = None  # the real stack's figures
    alarms: list[str] = field(default_factory=list)  # the servers whose policy raised an alarm
    served_before_recovery: str | None = None  # who answered SIPp's last call before the operator's recovery

    @property
    def ok(self) -> bool:
        return not self.problems


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def served_sequence(probes: list[dict[str, Any]]) -> list[str]:
    """Who answered, in order, without repeats: ["pbx-a", "pbx-b"] for a clean failover."""
    out: list[str] = []
    for p in probes:
        by = p.get("by")
        if by and (not out or out[-1] != by):
            out.append(by)
    return out


def _last_end(journal: list[dict[str, Any]], action: str) -> dict[str, Any] | None:
    ends = [r for r in journal if r.get("event") == "end" and r.get("action") == action]
    return ends[-1] if ends else None


def _last_takeover_lines(journal: list[dict[str, Any]], kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    """The phase lines of the steps named ``kinds...`` in the last takeover."""
    runs = [r["run"] for r in journal if r.get("event") == "begin" and r.get("action") == "takeover"]
    if not runs:
        return []
    return [r for r in journal if r.get("run") == runs[-1] and str(r.get("step", "")).startswith(kinds) and "start" in r]


def _turns(journal: list[dict[str, Any]], kinds: tuple[str, ...]) -> dict[str, float]:
    """When the last takeover came to each step named ``kinds...``: its first phase after the check
    (wall clock). A takeover runs every step's check when it begins, so the check's own line does not
    mark the step's turn; a step whose check is its only line (already up) has that."""
    checks: dict[str, float] = {}
    others: dict[str, float] = {}
    for r in _last_takeover_lines(journal, kinds):
        into = checks if r.get("phase") == "check" else others
        into[str(r["step"])] = min(into.get(str(r["step"]), float("inf")), float(r["start"]))
    return {step: others.get(step, at) for step, at in checks.items()} | others


def _ends(journal: list[dict[str, Any]], kinds: tuple[str, ...]) -> dict[str, float]:
    """When each step named ``kinds...`` ended in the last takeover: its last phase line's end (wall clock)."""
    ends: dict[str, float] = {}
    for r in _last_takeover_lines(journal, kinds):
        if "end" in r:
            ends[str(r["step"])] = max(ends.get(str(r["step"]), float("-inf")), float(r["end"]))
    return ends


def service_offsets(journal: list[dict[str, Any]], *, ends: bool = False) -> dict[str, float]:
    """When the last takeover came to each service step (:func:`_turns`), or with ``ends`` when each
    ended (:func:`_ends`), in ms after the takeover began: the services of a concurrent group begin together."""
    begins = [r for r in journal if r.get("event") == "begin" and r.get("action") == "takeover"]
    if not begins:
        return {}
    t0 = begins[-1]["ts"]
    times = (_ends if ends else _turns)(journal, (results.SERVICE_PREFIX,))
    return {step[len(results.SERVICE_PREFIX) :]: _ms(at - t0) for step, at in times.items()}


def _service_start(journal: list[dict[str, Any]]) -> float | None:
    """When the last takeover came to its first service step (:func:`_turns`)."""
    turns = _turns(journal, SERVICE_STEP_KINDS)
    return min(turns.values()) if turns else None


def _one_hand_back(s: Summary, *, by: str, not_by: str) -> list[str]:
    """A problem unless ``by`` handed the units back exactly once and ``not_by`` never did."""
    if s.hand_backs.get(by) != 1 or s.hand_backs.get(not_by):
        return [f"expected one hand-back, by {by}; found {s.hand_backs}"]
    return []


def summarize(c: Collected) -> Summary:
    s = Summary()
    a, b = c.topology.a.name, c.topology.b.name
    s.served = served_sequence(c.probes)
    if c.error:
        s.problems.append(c.error)
    expected = [a, b] if c.scenario in (*FAILOVERS, Scenario.SERVICE_DIES) else [b] if c.scenario == Scenario.STALE_PRIMARY else [a]
    if c.scenario == Scenario.PING_PONG:
        expected = s.served if s.served[:1] == [a] else [a]  # nobody serves at the end: the alarm says so
        if c.recovery is not None:
            expected = [a, b]  # the operator's recovery on pbx-b ends it
    if s.served != expected:
        s.problems.append(f"the client was served by {' then '.join(s.served) or 'nobody'}, expected {' then '.join(expected)}")
    s.hand_backs = {host: hand_backs(journal) for host, journal in c.journals.items()}
    s.transitions = {host: transitions(journal) for host, journal in c.journals.items()}
    if c.scenario not in FAILOVERS:
        _stack_end(s, c, full=c.scenario == Scenario.SERVICE_DIES or c.recovery is not None)
    if c.scenario == Scenario.FAILED_TAKEOVER:
        s.problems.extend(_one_hand_back(s, by=b, not_by=a))
        s.problems.extend(_overlap_problems(s, c))
        s.problems.extend(c.cleanup_failures)
        return s
    if c.scenario == Scenario.PING_PONG:
        if any(n > 1 for n in s.hand_backs.values()):
            s.problems.append(f"a server handed the units back more than once: {s.hand_backs}")
        s.alarms = [h for h, j in c.journals.items() if any(line.startswith("alarm: ") for line in policy_lines(j))]
        for host in (a, b):
            if host not in s.alarms:
                s.problems.append(f"{host} raised no alarm")
        if c.recovery is not None:
            s.problems.extend(_recovery_problems(s, c))
        s.problems.extend(_overlap_problems(s, c))
        s.problems.extend(c.cleanup_failures)
        return s
    if c.scenario in (Scenario.STALE_PRIMARY, Scenario.SERVICE_DIES):
        s.problems.extend(_one_hand_back(s, by=a, not_by=b))
        s.problems.extend(_overlap_problems(s, c))
        s.problems.extend(c.cleanup_failures)
        return s
    if c.scenario == Scenario.SPLIT_UNITS:
        s.problems.extend(_one_hand_back(s, by=b, not_by=a))
        took = sum(1 for r in c.journals.get(b, []) if r.get("event") == "begin" and r.get("action") == "takeover")
        if took:
            s.problems.append(f"{b} began {took} takeover(s); it should only have sent the unit back")
        alarms = policy_lines(c.journals.get(a, []))
        if not any(x.startswith("alarm: units missing") for x in alarms) or "alarm cleared" not in alarms:
            s.problems.append(f"{a}'s alarm for the missing unit was not raised and cleared")
        s.problems.extend(_overlap_problems(s, c))
        s.problems.extend(c.cleanup_failures)
        return s
    last_a = max((p["t"] for p in c.probes if p.get("by") == a), default=None)
    first_b = min((p["t"] for p in c.probes if p.get("by") == b and (last_a is None or p["t"] > last_a)), default=None)
    if last_a is not None and first_b is not None:
        s.outage_ms = _ms(first_b - last_a)
        s.unanswered = sum(1 for p in c.probes if last_a < p["t"] < first_b)
    failure = "power cut" if c.scenario == Scenario.POWER_LOSS else "twinstar switchover"
    t_fail = next((e["t"] for e in c.events if e["event"] == failure), None)
    if c.scenario == Scenario.POWER_LOSS:
        s.detection_configured_ms = _ms(c.options.watchdog_timeout)
        t_switch = next((e["t"] for e in c.events if e["event"].startswith("watchdog: switch")), None)
        if t_fail is not None and t_switch is not None:
            s.detection_ms = _ms(t_switch - t_fail)
    onlines = [e["t"] for e in c.events if e["host"] == b and e["event"].startswith("online ")]
    end_b = _last_end(c.journals.get(b, []), "takeover")
    if end_b is not None:
        s.takeover_ms = end_b.get("duration_ms")
        s.takeover_steps = {o["step"]: o["duration_ms"] for o in end_b.get("steps", [])}
    service_start = _service_start(c.journals.get(b, []))
    if onlines and first_b is not None:
        s.ready_to_answer_ms = _ms(first_b - max(onlines))
        if service_start is not None:
            # What the service itself takes (its step start -> first answer) is not ours.
            s.service_ms = _ms(first_b - service_start)
            s.orchestration_ms = _ms(service_start - max(onlines))
    end_a = _last_end(c.journals.get(a, []), "release")
    if end_a is not None:
        s.release_ms = end_a.get("duration_ms")
        s.release_steps = {o["step"]: o["duration_ms"] for o in end_a.get("steps", [])}
    s.problems.extend(_overlap_problems(s, c))
    for name, value in (
        ("outage", s.outage_ms),
        ("orchestration time", s.orchestration_ms),
        ("takeover time", s.takeover_ms),
    ):
        if not c.error and (value is None or value <= 0):
            s.problems.append(f"no positive {name} was measured")
    if c.scenario == Scenario.POWER_LOSS and not c.error and not s.detection_ms:
        s.problems.append("the units' switch after the power cut was not seen")
    if c.stack is not None:
        journal = c.journals.get(b, [])
        s.stack = results.collect(c.stack, old=a, new=b, takeover_steps_ms=s.takeover_steps,
                                  started_at_ms=service_offsets(journal), up_at_ms=service_offsets(journal, ends=True))  # fmt: skip
        if s.stack.sip_outage is not None:  # SIPp's own count: its calls are numbered
            s.unanswered = s.stack.sip_outage.unanswered
        if not c.error:
            s.problems += s.stack.problems(a, b)
    for failure_text in c.cleanup_failures:
        s.problems.append(failure_text)
    return s


def _recovery_problems(s: Summary, c: Collected) -> list[str]:
    """Ping-pong's end is judged before the operator's recovery: served by pbx-a only, then nobody;
    after it, by the server the operator took over."""
    assert c.recovery is not None
    a, on, at = c.topology.a.name, c.recovery["on"], c.recovery["t"]
    before = [p for p in c.probes if p["t"] < at]
    after = served_sequence([p for p in c.probes if p["t"] >= at])
    s.served_before_recovery = before[-1].get("by") if before else None
    problems = []
    if served_sequence(before) != [a]:
        problems.append(f"before the recovery the client was served by {' then '.join(served_sequence(before)) or 'nobody'}, "
                        f"expected {a} only")  # fmt: skip
    if s.served_before_recovery is not None:
        problems.append(f"{s.served_before_recovery} was serving when the scenario ended; nobody can")
    if c.recovery["takeover_exit"] != 0:
        problems.append(f"the operator's twinstar takeover on {on} exited with status {c.recovery['takeover_exit']}")
    elif after != [on]:
        problems.append(f"after the recovery the client was served by {' then '.join(after) or 'nobody'}, expected {on}")
    return problems


def _stack_end(s: Summary, c: Collected, *, full: bool) -> None:
    """The real stack's figures for a failure scenario: no acknowledged row may be missing on the server
    that serves at the end; ``full``: the service moved from pbx-a to pbx-b, judged as a failover is."""
    if c.stack is None:
        return
    a, b = c.topology.a.name, c.topology.b.name
    journal = c.journals.get(b, [])
    end_b = _last_end(journal, "takeover") if full else None
    steps = {o["step"]: o["duration_ms"] for o in end_b.get("steps", [])} if end_b is not None else {}
    if end_b is not None:
        s.takeover_ms, s.takeover_steps = end_b.get("duration_ms"), steps
    s.stack = results.collect(c.stack, old=a, new=b, takeover_steps_ms=steps, started_at_ms=service_offsets(journal) if full else {},
                              up_at_ms=service_offsets(journal, ends=True) if full else {})  # fmt: skip
    if s.stack.sip_outage is not None:
        s.unanswered = s.stack.sip_outage.unanswered
    if not c.error:
        s.problems += s.stack.problems(a, b) if full else s.stack.data_problems()


def _overlap_problems(s: Summary, c: Collected) -> list[str]:
    """The shared address or the partition on both servers at once (never allowed)."""
    s.address_overlaps = overlaps(c.events, "address added", "address removed")
    s.mount_overlaps = overlaps(c.events, "partition mounted", "partition unmounted")
    problems = []
    if s.address_overlaps:
        problems.append(f"both servers held the shared address {len(s.address_overlaps)} time(s)")
    if s.mount_overlaps:
        problems.append(f"both servers had the partition mounted {len(s.mount_overlaps)} time(s)")
    return problems


def policy_lines(journal: list[dict[str, Any]]) -> list[str]:
    """What the pair policy journaled on a server."""
    return [str(r.get("detail")) for r in journal if r.get("event") == "policy"]


def hand_backs(journal: list[dict[str, Any]]) -> int:
    """The hand-backs a server's journal records (the units jumped to the peer)."""
    return sum(1 for r in journal if r.get("event") == "policy" and "units jumped to the peer" in str(r.get("detail")))


def transitions(journal: list[dict[str, Any]]) -> int:
    """The takeovers and releases a server began."""
    return sum(1 for r in journal if r.get("event") == "begin")


# --- the timeline --------------------------------------------------------------------------


def _journal_entries(host: str, journal: list[dict[str, Any]]) -> list[Entry]:
    out = []
    for r in journal:
        if r.get("event") == "begin":
            out.append(Entry(r["ts"], host, f"{r['action']} begins"))
        elif r.get("event") == "end":
            out.append(Entry(r["ts"], host, f"{r['action']} {r['result']} ({r['duration_ms']:.0f} ms)"))
        elif r.get("event") == "policy":
            out.append(Entry(r["ts"], host, f"policy: {r['detail']}"))
        elif r.get("phase") in ("apply", "undo") and r.get("result") != "started" and "end" in r:
            word = {"apply": "up", "undo": "down"}[r["phase"]]
            if r["result"] != "ok":
                word = f"{r['phase']} {r['result']}: {r.get('error', '')}"
            out.append(Entry(r["end"], host, f"  {r['step']} {word} ({(r['end'] - r['start']) * 1000:.0f} ms)"))
    return out


def _client_entries(probes: list[dict[str, Any]]) -> list[Entry]:
    out = []
    current: str | None = "start"
    for p in probes:
        by = p.get("by")
        if by != current:
            if by is not None:
                out.append(Entry(p["t"], "client", f"answered by {by}"))
            elif current != "start":
                out.append(Entry(p["t"], "client", "no answer"))
            current = by
    return out


def _event_entries(records: list[dict[str, Any]]) -> list[Entry]:
    out = []
    for e in records:
        text = e["event"]
        if text.startswith("hook ") and e.get("rc") == 0 and not text.startswith("hook online"):
            continue  # add/offline/remove hooks that had nothing to do
        extra = []
        if "unit" in e:
            extra.append(e["unit"])
        if "ms" in e:
            extra.append(f"{e['ms']:.0f} ms")
        if "lapse_ms" in e:
            extra.append(f"heartbeat silent {e['lapse_ms']} ms")
        out.append(Entry(e["t"], e["host"] or "-", text + (f" ({', '.join(extra)})" if extra else "")))
    return out


def timeline(c: Collected) -> list[Entry]:
    entries = _event_entries(c.events) + _client_entries(c.probes)
    for host, journal in c.journals.items():
        entries += _journal_entries(host, journal)
    return sorted(entries, key=lambda e: e.t)


# --- output ----------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str = "ms") -> str:
    return "-" if value is None else f"{value:.0f} {unit}"


#: Printed once after the text report: the words of the timeline and summary, for someone new to them.
LEGEND = """\
How to read this:
  pbx-a, pbx-b   the two PBX servers; each Astribank unit's port 0 (USB-0) is cabled to pbx-a, port 1 (USB-1) to pbx-b
  client         the users: light stack, a probe to the shared address 10.213.0.100 every 10 ms; real stack,
                 SIPp sending SIP OPTIONS every 10 ms (answered with the server's name), a phone registered once
                 on pbx-a and looked up on pbx-b, a database writer committing a row every 10 ms, and a web
                 fetch every 50 ms
  add, online, offline, remove XBUS-NN
                 the kernel driver's events for a unit on that server (online: the unit is READY);
                 each one runs that server's atribank_hook, which starts the takeover once every unit is READY
                 in a detached process (handoff: spawn) and returns at once
  takeover       twinstar's steps: light stack, dahdi (register the units with DAHDI) and drbd:r0 (become
                 DRBD Primary and mount the replicated partition) together, then ip:... (add the shared
                 address and announce it with gratuitous ARP), then the PBX: command:pbx (a responder
                 standing for Asterisk); real stack (Debian's units under each server's own systemd):
                 drbd:r0, ip:..., then dahdi, service:mariadb, service:kamailio and service:apache2
                 together, systemd starting Kamailio once MariaDB is up and Apache after it; a release
                 undoes them in reverse order
  watchdog       the units' TwinStar watchdog: when the active server's heartbeat stops for longer than the
                 timeout, the units switch to the other port
  outage         what the client saw: last answer from pbx-a to first answer from pbx-b (real stack: SIPp's)
  orchestration  last unit READY on pbx-b until its takeover starts the PBX (hook, engine, the steps before it)"""


def render(c: Collected) -> str:
    s = summarize(c)
    t0 = c.started
    title = (
        f"twinstar demo: {c.scenario.value}, {c.options.stack.value} stack, {c.options.units} unit(s), "
        f"watchdog timeout {c.options.watchdog_timeout * 1000:.0f} ms"
    )
    if not c.built:
        # Nothing ran: a timeline and measurements would be empty, and "never on both" meaningless.
        cleaned = "everything it created was removed" if not c.cleanup_failures else "cleanup INCOMPLETE"
        lines = [title, f"  could not build the demo machines: {c.error or 'unknown error'}", f"  {cleaned}"]
        lines += [f"  problem: {p}" for p in c.cleanup_failures]
        return "\n".join([*lines, "result: FAILED"])
    lines = [title, "", f"{'ms':>7}  {'host':<7} event"]
    for e in timeline(c):
        lines.append(f"{(e.t - t0) * 1000:7.0f}  {e.host:<7} {e.text}")
    lines += ["", "summary:"]
    lines.append(f"  client served by    {' -> '.join(s.served) or 'nobody'}")
    if c.recovery is not None:
        lines += _recovery_lines(s, c)
    if s.stack is None:  # the real stack's SIP line below says it with SIPp's words
        lines.append(f"  outage (client)     {_fmt(s.outage_ms)} ({s.unanswered} probes of 10 ms unanswered)")
    if c.scenario == Scenario.POWER_LOSS:
        lines.append(
            f"  detection           {_fmt(s.detection_configured_ms)} watchdog timeout "
            f"(measured power cut -> units switch: {_fmt(s.detection_ms)})"
        )
    else:
        lines.append(f"  release on {c.topology.a.name}    {_fmt(s.release_ms)}: " + _steps(s.release_steps))
    lines.append(
        f"  orchestration       {_fmt(s.orchestration_ms)} (last unit READY on {c.topology.b.name} -> answering "
        f"{_fmt(s.ready_to_answer_ms)}, minus the service's own start {_fmt(s.service_ms)})"
    )
    lines.append(f"  takeover on {c.topology.b.name}   {_fmt(s.takeover_ms)}: " + _steps(s.takeover_steps))
    if s.stack is not None:
        lines += results.render(s.stack, c.topology.a.name, c.topology.b.name)
    lines.append(f"  shared address      {'never on both servers' if not s.address_overlaps else 'ON BOTH SERVERS'}")
    lines.append(f"  replica mount       {'never on both servers' if not s.mount_overlaps else 'ON BOTH SERVERS'}")
    if c.kept:
        b = c.topology.b.netns
        lines += [
            f"  kept (--keep)       {c.workdir}: the event log (events.jsonl), the client's probes (client.jsonl),",
            "                      each server's configuration, state and journal (a/, b/);",
            f"                      the namespaces {c.topology.prefix}-* (look inside: ip -n {b} addr);",
            "                      remove it all, as root, with:",
            *(f"                        {command}" for command in c.kept),
        ]
    else:
        lines.append(f"  cleanup             {'everything removed' if not c.cleanup_failures else 'INCOMPLETE'}")
    for p in s.problems:
        lines.append(f"  problem: {p}")
    lines.append(f"result: {'ok' if s.ok else 'FAILED'}")
    return "\n".join(lines)


def _recovery_lines(s: Summary, c: Collected) -> list[str]:
    """What ended the scenario, what the operator did, and where the figures below were read."""
    assert c.recovery is not None
    r, a, b = c.recovery, c.topology.a.name, c.topology.b.name
    judged = "nobody serving" if s.served_before_recovery is None else f"SERVED BY {s.served_before_recovery}"
    backs = ", ".join(f"{h} {n}" for h, n in s.hand_backs.items())
    return [
        f"  scenario's end      {judged} (SIPp's last OPTIONS before the recovery), alarm on "
        f"{', '.join(s.alarms) or 'NO SERVER'}, hand-backs: {backs}",
        f"  recovery            from {(r['t'] - c.started) * 1000:.0f} ms, the operator on {r['on']} (docs/operations.md): "
        f"{r['fixed']}; twinstar takeover exit {r['takeover_exit']}",
        f"  checked after it    on {r['on']}: the writer's acknowledged rows counted in its database, the phone "
        f"registered on {a} looked up; the SIP outage below is {a}'s last answer to {b}'s first, the recovery included",
    ]


def _steps(steps: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f} ms" for k, v in steps.items()) or "-"


def to_json(c: Collected) -> dict[str, Any]:
    s = summarize(c)
    t0 = c.started
    return {
        "scenario": c.scenario.value,
        "ok": s.ok,
        "units": c.options.units,
        "watchdog_timeout_ms": _ms(c.options.watchdog_timeout),
        "served": s.served,
        "served_by": c.probes[-1].get("by") if c.probes else None,  # the final server; None: nobody answered last
        "hand_backs": sum(s.hand_backs.values()),
        "transitions": s.transitions,
        "outage_ms": s.outage_ms,
        "unanswered_probes": s.unanswered,
        "detection_ms": s.detection_configured_ms,
        "detection_measured_ms": s.detection_ms,
        "orchestration_ms": s.orchestration_ms,
        "ready_to_answer_ms": s.ready_to_answer_ms,
        "service_start_ms": s.service_ms,
        "takeover_ms": s.takeover_ms,
        "takeover_steps_ms": s.takeover_steps,
        "release_ms": s.release_ms,
        "release_steps_ms": s.release_steps,
        "address_on_both": [_interval(x, y, t0) for x, y in s.address_overlaps],
        "mount_on_both": [_interval(x, y, t0) for x, y in s.mount_overlaps],
        "switchover": c.switchover,
        "stack": c.options.stack.value,
        "recovery": None if c.recovery is None else {
            "on": c.recovery["on"], "ms": _ms(c.recovery["t"] - t0), "fixed": c.recovery["fixed"],
            "takeover_exit": c.recovery["takeover_exit"], "served_before": s.served_before_recovery,
            "alarms": s.alarms,
            "checked": f"after the recovery, on {c.recovery['on']}: database rows acknowledged vs present, "
                       "the phone's registration looked up",
        },
        **(results.to_json(s.stack) if s.stack is not None else {}),
        "problems": s.problems,
        "cleanup_failures": c.cleanup_failures,
        "kept": c.kept,
        "timeline": [{"ms": _ms(e.t - t0), "host": e.host, "event": e.text.strip()} for e in timeline(c)],
    }


def _interval(start: float, end: float, t0: float) -> list[float | None]:
    """An overlap as [start, end] ms since the run began; end None when it never ended."""
    return [_ms(start - t0), None if end == float("inf") else _ms(end - t0)]
