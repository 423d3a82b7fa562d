"""The demo's failover times: outage, detection and orchestration, for 1 and 4 units.

Runs the whole ``twinstar demo --json --stack light`` process RUNS times per unit count and
scenario (power-loss: the watchdog moves the units; switchover: the planned
hand-over) and reports median, min and max of:

* outage: the client's view (probe every 10 ms), last answer from pbx-a to
  first answer from pbx-b;
* detection: power cut to the units switching port (configured watchdog
  timeout: 500 ms); switchover has none;
* orchestration: last unit READY on pbx-b to the service step's turn (the
  step before it up, from the timeline: :func:`service_turn_ms`). Target:
  median < 300 ms.

A second table splits the orchestration (medians over both scenarios): from
the last ``online`` event to "takeover begins" (the hook process starting,
deciding and loading the engine and configuration), each step before the
service (check, apply and verify, from pbx-b's journal), and what is left
(the engine's journal and state between the steps).

A third table is the real stack (``--stack real``: Kamailio, MariaDB and
Apache under each server's own systemd), RUNS runs per scenario with 2
units: the SIP outage as SIPp saw it, the database gap (longest time between
two acknowledged commits) and the rows missing after the failover (must be
0), the orchestration, and each service's start on pbx-b. Its goal rows:
the SIP outage against detection + 300 ms (detection: the failure to the
last unit READY on pbx-b, the watchdog and the simulated driver's
re-enumeration), with where the rest goes; and the services that do not
depend on each other starting together (the three services asked for
together beside dahdi once the replica is mounted and the address is up;
systemd starts Kamailio, which needs the database, once MariaDB is up, and
Apache after Kamailio, as their units order them).

Results go to bench/results-demo.md. Needs root.

With ``--before DIR`` (a checkout of an older commit with its own ``.venv``,
as ``sh .ci/setup`` makes it) it instead times the real stack's power loss
RUNS times in each tree, interleaved (the order alternating), and prints the
comparison table: SIP outage beyond detection and its split, MariaDB's and
Kamailio's starts.

usage: python bench/bench_demo.py [--runs N] [--units 1,4] [--stacks light,real] [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from timing import goal_table, load_span  # noqa: E402

TWINSTAR = os.path.join(os.path.dirname(sys.executable), "twinstar")
SCENARIOS = ("power-loss", "switchover")
MEASURES = (
    ("outage_ms", "outage"),
    ("detection_measured_ms", "detection"),
    ("orchestration_ms", "orchestration"),
    ("takeover_ms", "takeover on pbx-b"),
)


#: The real stack's table: (key in the demo's JSON, column name); service start times come from service_start_ms.
REAL_MEASURES = (
    ("sip_outage_ms", "SIP outage (SIPp)"),
    ("db_gap_ms", "database gap"),
    ("db_rows_missing", "rows missing"),
    ("orchestration_ms", "orchestration"),
)
REAL_SERVICES = ("mariadb", "kamailio", "apache2")
REAL_UNITS = 2
#: The goal: SIP outage at most detection plus this (ms).
SIP_GOAL_MS = 300
#: What starts each scenario's outage in the demo's timeline.
FAILURE_EVENT = {"power-loss": "power cut", "switchover": "twinstar switchover"}


def one_run(
    scenario: str, units: int, watchdog_ms: int, stack: str = "light", twinstar: str = TWINSTAR, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    proc = subprocess.run(
        [twinstar, "demo", "--json", "--stack", stack, "--scenario", scenario, "--units", str(units),
         "--watchdog-timeout", str(watchdog_ms), *extra],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    try:
        (result,) = json.loads(proc.stdout)["scenarios"]
    except (ValueError, KeyError):
        raise SystemExit(f"bench_demo: the demo printed no result (exit {proc.returncode}): {proc.stderr[-1000:]}") from None
    if not result["ok"]:
        kept = Path(tempfile.gettempdir()) / "bench_demo-failed.json"
        kept.write_text(json.dumps(result, indent=1))
        raise SystemExit(f"bench_demo: a {stack} {scenario} run with {units} unit(s) failed: {result['problems']} (the run: {kept})")
    return result


#: Steps before the service, as the demo configures them: the first two together (one ``parallel`` group), then ip.
GROUP = ("dahdi", "drbd:r0")
STEPS = (*GROUP, "ip:10.213.0.100/24")


def service_turn_ms(result: dict[str, Any]) -> float | None:
    """Last unit READY on pbx-b -> the service step's turn: the last step before it is up (ms, from the timeline).

    The demo's own ``orchestration_ms`` ends at the service step's first phase
    after its check (a takeover runs every step's check when it begins); this
    figure, from the timeline alone, ends when the step before it is up.
    """
    timeline = [e for e in result["timeline"] if e["host"] == "pbx-b"]
    onlines = [e["ms"] for e in timeline if e["event"].startswith("online ")]
    if not onlines:
        return None
    last = max(onlines)
    ups = [e["ms"] for e in timeline if e["ms"] >= last and e["event"].startswith(tuple(f"{step} up (" for step in STEPS))]
    return max(ups) - last if len(ups) >= len(STEPS) else None


def parts(result: dict[str, Any]) -> dict[str, float] | None:
    """One run's orchestration split: hook to takeover begins, each step, the rest (ms; of the group, the longer step)."""
    timeline = result["timeline"]
    onlines = [e["ms"] for e in timeline if e["host"] == "pbx-b" and e["event"].startswith("online ")]
    turn = service_turn_ms(result)
    if not onlines or turn is None:
        return None
    last = max(onlines)
    begins = [e["ms"] for e in timeline if e["host"] == "pbx-b" and e["event"] == "takeover begins" and e["ms"] >= last]
    steps = result["takeover_steps_ms"]
    if not begins or any(step not in steps for step in STEPS):
        return None
    out = {"hook": min(begins) - last, **{step: steps[step] for step in STEPS}}
    out["rest"] = turn - out["hook"] - max(out[step] for step in GROUP) - sum(out[step] for step in STEPS if step not in GROUP)
    return out


def sip_split(scenario: str, result: dict[str, Any]) -> dict[str, float] | None:
    """One real-stack run's SIP outage against its goal (ms): detection (the failure to the last unit READY on
    pbx-b), the outage beyond it, and that split: READY to the first service step (hook, engine, dahdi, drbd,
    ip), then to SIPp's first answer (the services, Kamailio after MariaDB)."""
    timeline = result["timeline"]
    failure = next((e["ms"] for e in timeline if e["event"] == FAILURE_EVENT[scenario]), None)
    onlines = [e["ms"] for e in timeline if e["host"] == "pbx-b" and e["event"].startswith("online ")]
    keys = ("sip_outage_ms", "ready_to_answer_ms", "orchestration_ms")
    if failure is None or not onlines or any(result.get(k) is None for k in keys):
        return None
    detection = max(onlines) - failure
    return {
        "detection": detection,
        "beyond": result["sip_outage_ms"] - detection,
        "to_services": result["orchestration_ms"],
        "services": result["ready_to_answer_ms"] - result["orchestration_ms"],
    }


def concurrent(result: dict[str, Any]) -> bool:
    """On pbx-b, the three services asked for together while MariaDB started, and up in their units' order."""
    at, up = result["service_started_at_ms"], result["service_up_at_ms"]
    if any(s not in at or s not in up for s in REAL_SERVICES):
        return False
    return max(at.values()) < up["mariadb"] < up["kamailio"] < up["apache2"]


def real_table(runs: int, watchdog_ms: int) -> list[str]:
    """The real stack's rows: one per scenario, ``runs`` whole demo runs each, and its goal rows."""
    columns = [name for _, name in REAL_MEASURES] + [f"{s} start" for s in REAL_SERVICES]
    rows, split_rows, goals = [], [], []
    together: list[bool] = []
    for scenario in SCENARIOS:
        results, loads = [], []
        for i in range(runs):
            print(f"bench_demo: real stack, {scenario}, run {i + 1}/{runs}", file=sys.stderr)
            results.append(one_run(scenario, REAL_UNITS, watchdog_ms, stack="real"))
            loads.append(os.getloadavg()[0])
        values = [[r[k] for r in results if r.get(k) is not None] for k, _ in REAL_MEASURES]
        values += [[r["service_start_ms"][s] for r in results if s in r["service_start_ms"]] for s in REAL_SERVICES]
        rows.append(f"| {scenario} | " + " | ".join(cell(v) for v in values) + " |")
        splits = [x for x in (sip_split(scenario, r) for r in results) if x is not None]
        keys = ("detection", "beyond", "to_services", "services")
        split_rows.append(f"| {scenario} | {len(splits)} | " + " | ".join(cell([x[k] for x in splits]) for k in keys)
                          + f" | {load_span(loads)} |")  # fmt: skip
        together += [concurrent(r) for r in results]
        if splits:
            beyond = statistics.median(x["beyond"] for x in splits)
            outage = statistics.median(r["sip_outage_ms"] for r in results if r.get("sip_outage_ms") is not None)
            detection = statistics.median(x["detection"] for x in splits)
            what = "power cut" if scenario == "power-loss" else "`twinstar switchover`"
            goals.append((
                f"real stack, {scenario}: SIP outage ≤ detection + {SIP_GOAL_MS} ms",
                f"detection ({what} → last unit READY on pbx-b): {detection:.0f} ms, so ≤ {detection + SIP_GOAL_MS:.0f} ms",
                f"{outage:.0f} ms, detection + {beyond:.0f} ms: **{'met' if beyond <= SIP_GOAL_MS else 'not met'}** "
                f"({len(splits)} runs)",
                f"beyond detection {min(x['beyond'] for x in splits):.0f}–{max(x['beyond'] for x in splits):.0f}",
                load_span(loads),
            ))  # fmt: skip
    goals.append((
        "real stack: services that do not depend on each other start concurrently",
        "`drbd`, `ip`, then `- parallel: [dahdi, service: mariadb, service: kamailio, service: apache2]`; the units order "
        "Kamailio after MariaDB (its usrloc needs the database), Apache after Kamailio (off their starts' CPU)",
        f"the three asked for together while MariaDB started, each up after the one before, in {sum(together)} of "
        f"{len(together)} takeovers: "
        f"**{'met' if together and all(together) else 'not met'}**",
        "-",
        "-",
    ))
    return [
        "",
        "## Failover with the real stack (`twinstar demo --stack real`)",
        "",
        f"Kamailio, MariaDB and Apache under each server's own systemd (nspawn containers), {REAL_UNITS} units, "
        f"{runs} runs per row; median (min–max) in ms; {os.cpu_count()} CPUs. "
        "Reproduce: `sudo .venv/bin/python bench/bench_demo.py --stacks real`.",
        "",
        "| scenario | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
        *rows,
        "",
        "SIP outage: SIPp's last 200 from pbx-a to its first from pbx-b (OPTIONS every 10 ms). database gap: the "
        "longest time between two commits the writer saw acknowledged (a row every 10 ms); rows missing: "
        "acknowledged but not in pbx-b's table after the failover. orchestration: last unit READY on pbx-b to "
        "its takeover reaching the first service step. start: each service step's duration on pbx-b (Debian's "
        "unit asked for until systemd reports it active): the three asked for together beside dahdi once the "
        "replica is mounted and the address is up, so Kamailio's includes MariaDB's start and Apache's Kamailio's.",
        "",
        f"Where the SIP outage goes (median (min–max) ms): detection is the failure to the last unit READY on "
        f"pbx-b (the watchdog's {watchdog_ms} ms and the simulated driver's re-enumeration for power-loss; the "
        "release on pbx-a, the jump and the re-enumeration for switchover); beyond it, last READY to the first "
        "service step (the hook, the engine, drbd, ip; dahdi runs beside the services' starts), then to SIPp's first "
        "answer (MariaDB, then Kamailio, which systemd starts once MariaDB is up: it loads its registrations from "
        "the database).",
        "",
        "| scenario | runs | detection | SIP outage − detection | READY → first service step | first service step → SIP answered | load (1 min) |",
        "|---|---:|---:|---:|---:|---:|---|",
        *split_rows,
        "",
        goal_table(goals).rstrip("\n"),
    ]


def versus(before: str, program: str, runs: int, watchdog_ms: int) -> list[str]:
    """The real stack's power loss, ``runs`` runs in this tree and with ``program`` (the checkout ``before``'s
    ``twinstar``), interleaved: a table."""
    trees = {"this tree": TWINSTAR, f"before ({before})": program}
    got: dict[str, list[tuple[dict[str, float], dict[str, float]]]] = {name: [] for name in trees}
    loads = []
    for i in range(runs):
        order = list(trees.items()) if i % 2 == 0 else list(trees.items())[::-1]
        for name, twinstar in order:
            print(f"bench_demo: real stack, power-loss, {name}, pair {i + 1}/{runs}", file=sys.stderr)
            result = one_run("power-loss", REAL_UNITS, watchdog_ms, stack="real", twinstar=twinstar)
            split = sip_split("power-loss", result)
            if split is not None:
                got[name].append((split, result["service_start_ms"]))
            loads.append(os.getloadavg()[0])
    lines = [
        f"Real stack, power-loss, {REAL_UNITS} units: {runs} interleaved pairs; median (min–max) ms; load (1 min) "
        f"{load_span(loads)}. Reproduce: `sudo .venv/bin/python bench/bench_demo.py --before DIR --runs {runs}`.",
        "",
        "| tree | SIP outage − detection | READY → first service step | first service step → SIP answered | mariadb start | kamailio start |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, runs_ in got.items():
        splits = [cell([s[k] for s, _ in runs_]) for k in ("beyond", "to_services", "services")]
        starts = [cell([st[service] for _, st in runs_ if service in st]) for service in ("mariadb", "kamailio")]
        lines.append(f"| {name} | " + " | ".join(splits + starts) + " |")
    return lines


def cell(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--units", default="1,4")
    parser.add_argument("--watchdog-timeout", type=int, default=500, metavar="MS")
    parser.add_argument("--stacks", default="light,real")
    parser.add_argument("--output", default=str(HERE / "results-demo.md"))
    parser.add_argument("--before", metavar="DIR", help="compare the real stack's power loss with this checkout's")
    args = parser.parse_args(argv)
    stacks = args.stacks.split(",")
    if os.geteuid() != 0:
        print("bench_demo: needs root (the demo builds namespaces and mounts)", file=sys.stderr)
        return 2
    if args.before is not None:
        program = os.path.join(args.before, ".venv", "bin", "twinstar")
        if not os.access(program, os.X_OK):
            print(f"bench_demo: {args.before} has no .venv/bin/twinstar (run sh .ci/setup there)", file=sys.stderr)
            return 2
        print("\n".join(versus(args.before, program, args.runs, args.watchdog_timeout)))
        return 0
    counts = [int(u) for u in args.units.split(",")] if "light" in stacks else []
    rows = []
    orchestration_all: dict[int, list[float]] = {}
    split: dict[int, list[dict[str, float]]] = {}
    for scenario in SCENARIOS:
        for units in counts:
            results = []
            for i in range(args.runs):
                print(f"bench_demo: {scenario}, {units} unit(s), run {i + 1}/{args.runs}", file=sys.stderr)
                results.append(one_run(scenario, units, args.watchdog_timeout))
            values = {key: [r[key] for r in results if r.get(key) is not None] for key, _ in MEASURES}
            values["orchestration_ms"] = [t for t in map(service_turn_ms, results) if t is not None]
            orchestration_all.setdefault(units, []).extend(values["orchestration_ms"])
            split.setdefault(units, []).extend(p for p in map(parts, results) if p is not None)
            rows.append(f"| {scenario} | {units} | " + " | ".join(cell(values[k]) for k, _ in MEASURES) + " |")
    lines: list[str] = []
    if "light" in stacks:
        lines += [
            "## Failover (`twinstar demo`)",
            "",
            f"Whole `twinstar demo --json --stack light` runs, {args.runs} per row; median (min–max) in ms; watchdog timeout "
            f"{args.watchdog_timeout} ms; {os.cpu_count()} CPUs, Python {platform.python_version()}. "
            "Reproduce: `sudo .venv/bin/python bench/bench_demo.py`.",
            "",
            "| scenario | units | " + " | ".join(name for _, name in MEASURES) + " |",
            "|---|---:|" + "---:|" * len(MEASURES),
            *rows,
            "",
            "outage: the client's view, last answer from pbx-a to first answer from pbx-b (probes every 10 ms). "
            "detection: power cut to the units switching port. orchestration: last unit READY on pbx-b to the "
            "service step's turn (the step before it up; the service's own start and the client's first answer "
            "follow). Target: orchestration median under 300 ms.",
            "",
            "| units | orchestration median, both scenarios | target |",
            "|---:|---:|---:|",
        ]
        for units, values in orchestration_all.items():
            median = statistics.median(values) if values else float("nan")
            lines.append(f"| {units} | {median:.0f} ms | < 300 ms {'(met)' if median < 300 else '(NOT met)'} |")
        keys = ("hook", *STEPS, "rest")
        lines += [
            "",
            "Where the orchestration goes (median ms, both scenarios): last `online` to \"takeover begins\" (hook "
            "process start, decision, engine and configuration loaded), each step before the service (its turn: "
            "apply and verify, and the wait for its check when that, started with the takeover, has not ended; "
            "dahdi and drbd run together, and only the longer of the two counts), the rest (journal and state "
            "writes between the steps).",
            "",
            "| units | online → takeover begins | " + " | ".join(STEPS) + " | rest |",
            "|---:|" + "---:|" * len(keys),
        ]
        for units, runs in split.items():
            cells = [f"{statistics.median(r[k] for r in runs):.0f}" if runs else "-" for k in keys]
            lines.append(f"| {units} | " + " | ".join(cells) + " |")
    if "real" in stacks:
        lines += real_table(args.runs, args.watchdog_timeout)
    text = "\n".join(lines) + "\n"
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
