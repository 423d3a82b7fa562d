"""The real stack's figures, from the clients' own records (pure).

* SIP: SIPp's answers by server and its failed-call counts (:mod:`.sipp`);
* registration: the phone's ``REGISTER`` on the first server and its lookup
  on the second (:mod:`.phone`);
* database: every id the writer saw acknowledged must be in the table read
  after the failover (:mod:`.writer`); the gap is the longest time between
  two acknowledged commits;
* web: the longest time between two successful fetches (:mod:`.web`);
* the start time of each ``service`` step of the new server's takeover.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from twinstar.demo.stack.sipp import SipOutage, SippRecord, outage

SERVICE_PREFIX = "service:"


@dataclass(frozen=True)
class DbResult:
    acknowledged: int
    present: int
    missing: list[int]  # acknowledged but not in the table: must stay empty
    unacknowledged_present: int  # committed while the answer was lost: allowed
    errors: int
    gap_ms: float | None  # the longest time between two acknowledged commits


@dataclass(frozen=True)
class Registration:
    registered_on: str | None  # the server that answered the lookup before the failover
    found_on: str | None  # the server that found it after the failover
    contact: str | None

    @property
    def kept(self) -> bool:
        return self.found_on is not None and self.found_on != self.registered_on and self.contact is not None


@dataclass
class StackResult:
    sip: SippRecord = field(default_factory=SippRecord)
    sip_outage: SipOutage | None = None
    registration: Registration | None = None
    db: DbResult | None = None
    http_outage_ms: float | None = None
    http_failed: int = 0
    service_start_ms: dict[str, float] = field(default_factory=dict)
    #: When each service step began, in ms after its takeover began (a concurrent group's together).
    service_started_at_ms: dict[str, float] = field(default_factory=dict)
    #: When each service step ended (its last phase line), in ms after its takeover began: the order of
    #: the services is judged on these and ``service_started_at_ms`` (a step's ``service_start_ms`` also
    #: counts the collection of its check, started with the takeover, before its turn).
    service_up_at_ms: dict[str, float] = field(default_factory=dict)

    def problems(self, old: str, new: str) -> list[str]:
        out = []
        if self.sip_outage is None:
            out.append(f"SIPp did not see {old} answer and then {new}")
        if self.registration is None or not self.registration.kept:
            out.append(f"the phone registered on {old} was not found on {new}")
        return out + self.data_problems()

    def data_problems(self) -> list[str]:
        """What the database and the web page must show whoever serves at the end."""
        out = []
        if self.db is None:
            out.append("the database writer left no record")
        elif self.db.missing:
            shown = ", ".join(map(str, self.db.missing[:10]))
            out.append(f"{len(self.db.missing)} acknowledged row(s) missing at the end: {shown}")
        elif self.db.acknowledged == 0:
            out.append("the database writer had no commit acknowledged")
        if self.http_outage_ms is None:
            out.append("the web fetcher saw no page")
        return out


def longest_gap(times: Iterable[float]) -> float | None:
    """The longest interval between two consecutive times, in ms (None for fewer than two)."""
    ts = sorted(times)
    if len(ts) < 2:
        return None
    return round(max(b - a for a, b in zip(ts, ts[1:], strict=False)) * 1000, 1)


def database(writer_log: Sequence[Mapping[str, Any]], present: Iterable[int]) -> DbResult:
    acked = [int(r["ack"]) for r in writer_log if "ack" in r]
    have = set(present)
    ack_set = set(acked)
    return DbResult(
        acknowledged=len(acked),
        present=len(have),
        missing=sorted(ack_set - have),
        unacknowledged_present=len(have - ack_set),
        errors=sum(1 for r in writer_log if "failed" in r),
        gap_ms=longest_gap(r["t"] for r in writer_log if "ack" in r),
    )


def registration(phone_log: Sequence[Mapping[str, Any]], failover_at: float | None) -> Registration:
    """The phone's lookups before and after ``failover_at`` (wall clock): who found it, with which contact."""
    registered = next((r for r in phone_log if r.get("action") == "register" and r.get("status") == 200), None)
    lookups = [r for r in phone_log if r.get("action") == "lookup" and r.get("status") == 200]
    before = [r for r in lookups if failover_at is None or r["t"] < failover_at]
    after = [r for r in lookups if failover_at is not None and r["t"] >= failover_at]
    on = before[-1].get("node") if registered is not None and before else None
    found = after[-1] if after else None
    return Registration(on, found.get("node") if found else None, found.get("contact") if found else None)


def web(fetches: Sequence[Mapping[str, Any]]) -> tuple[float | None, int]:
    """The web outage (longest time between two good fetches, ms) and the number of failed fetches."""
    return longest_gap(r["t"] for r in fetches if r.get("ok")), sum(1 for r in fetches if not r.get("ok"))


def service_starts(steps_ms: Mapping[str, float]) -> dict[str, float]:
    """The ``service`` steps of a takeover and how long each took to report active."""
    return {k[len(SERVICE_PREFIX) :]: v for k, v in steps_ms.items() if k.startswith(SERVICE_PREFIX)}


@dataclass
class Records:
    """What the real stack's clients recorded in one run (read before the work directory goes)."""

    sip: SippRecord
    phone: list[dict[str, Any]]
    failover_at: float | None  # when pbx-b was seen serving (the phone's lookups after it count)
    writer: list[dict[str, Any]]
    present: list[int] | None  # the writer's rows on the server that serves at the end
    fetches: list[dict[str, Any]]


def collect(r: Records, *, old: str, new: str, takeover_steps_ms: Mapping[str, float],
            started_at_ms: Mapping[str, float], up_at_ms: Mapping[str, float]) -> StackResult:  # fmt: skip
    http_outage, http_failed = web(r.fetches)
    return StackResult(
        sip=r.sip,
        sip_outage=outage(r.sip, old, new),
        registration=registration(r.phone, r.failover_at),
        db=database(r.writer, r.present) if r.present is not None else None,
        http_outage_ms=http_outage,
        http_failed=http_failed,
        service_start_ms=service_starts(takeover_steps_ms),
        service_started_at_ms=dict(started_at_ms),
        service_up_at_ms=dict(up_at_ms),
    )


def to_json(r: StackResult) -> dict[str, Any]:
    o = r.sip_outage
    reg = r.registration
    return {
        "sip_outage_ms": o.outage_ms if o else None,
        "sip_options_unanswered": o.unanswered if o else None,
        "sip_answered_by": r.sip.by_node(),
        "sip_successful_calls": r.sip.successful,
        "sip_failed_calls": r.sip.failed,
        "sip_timed_out_calls": r.sip.timed_out,
        "registration_found": bool(reg and reg.kept),
        "registration": None if reg is None else
        {"registered_on": reg.registered_on, "found_on": reg.found_on, "contact": reg.contact},
        "db_rows_acknowledged": r.db.acknowledged if r.db else None,
        "db_rows_present": r.db.present if r.db else None,
        "db_rows_missing": len(r.db.missing) if r.db else None,
        "db_gap_ms": r.db.gap_ms if r.db else None,
        "http_outage_ms": r.http_outage_ms,
        "http_failed_fetches": r.http_failed,
        "service_start_ms": r.service_start_ms,
        "service_started_at_ms": r.service_started_at_ms,
        "service_up_at_ms": r.service_up_at_ms,
    }  # fmt: skip


def render(r: StackResult, old: str, new: str) -> list[str]:
    """The stack's lines of the text report's summary."""
    o = r.sip_outage
    sip = (
        f"{o.outage_ms} ms (SIPp: last 200 from {old} -> first from {new}; {o.unanswered} OPTIONS of "
        f"{r.sip.successful + r.sip.failed} unanswered, {r.sip.timed_out} timed out in its statistics)"
        if o else "-"
    )  # fmt: skip
    reg = r.registration
    found = "-" if reg is None else (
        f"found on {reg.found_on} ({reg.contact}) without registering again" if reg.kept
        else f"NOT FOUND after the failover (registered on {reg.registered_on or '-'})"
    )  # fmt: skip
    db = "-" if r.db is None else (
        f"{r.db.acknowledged} acknowledged, {r.db.present} present, {len(r.db.missing)} missing; "
        f"longest gap between commits {_ms(r.db.gap_ms)}"
    )  # fmt: skip
    starts = ", ".join(f"{k} {v:.0f} ms{_at(r.service_started_at_ms.get(k))}" for k, v in r.service_start_ms.items()) or "-"
    return [
        f"  SIP outage (SIPp)   {sip}",
        f"  registration        {found}",
        f"  database rows       {db}",
        f"  HTTP outage         {_ms(r.http_outage_ms)} ({r.http_failed} fetches of 50 ms failed)",
        f"  services on {new}   {starts}" + (" (from: ms after its takeover began)" if r.service_started_at_ms else ""),
    ]


def _at(offset: float | None) -> str:
    return "" if offset is None else f" from +{offset:.0f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"
