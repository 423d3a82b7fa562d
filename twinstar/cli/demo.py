"""``twinstar demo``: two-server failover on this machine, with simulated hardware."""

from __future__ import annotations

import json
import os
import shutil
import sys

import click

from twinstar.cli.app import Number, main
from twinstar.demo import report
from twinstar.demo.cleanup import Interrupted, signals_interrupt
from twinstar.demo.scenario import Collected, Options, Scenario, run
from twinstar.demo.stacks import StackKind
from twinstar.engine.proc import ProgramRunner
from twinstar.errors import ExitStatus, UsageError

#: Programs the demo runs itself, with the Debian package that has each (the steps' programs are checked by the engine).
NEEDED = {
    "ip": "iproute2",
    "nsenter": "util-linux",
    "losetup": "mount",
    "mkfs.ext4": "e2fsprogs",
    "mount": "mount",
    "umount": "mount",
    "fsck.ext4": "e2fsprogs",
}
SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _preflight(stack: StackKind) -> None:
    """What the demo needs from this machine, checked before it creates anything."""
    if os.geteuid() != 0:
        raise UsageError(
            "twinstar demo needs root: it creates network namespaces, a bridge and veth pairs "
            "(10.213.0.0/24, inside the namespaces only), a loop device and mounts, all removed afterwards",
            hint="run it as root, e.g. sudo .venv/bin/twinstar demo",
        )
    missing = [p for p in NEEDED if shutil.which(p, path=SEARCH_PATH) is None]
    if not missing and stack is StackKind.REAL:
        from twinstar.demo.stack.pbx import missing_packages

        lacking = missing_packages()
        if lacking:
            packages = sorted(set(lacking.values()))
            raise UsageError(
                "twinstar demo's real stack needs these packages, which are not installed: "
                + ", ".join(f"{p} ({need})" for need, p in lacking.items()),
                hint=f"install them with apt-get install {' '.join(packages)}, or run sh .ci/setup; "
                "--stack light runs without them",
            )
    if missing:
        packages = sorted({NEEDED[p] for p in missing})
        raise UsageError(
            "twinstar demo needs these programs, which are not installed: "
            + ", ".join(f"{p} (Debian package {NEEDED[p]})" for p in missing),
            hint=f"install them with apt-get install {' '.join(packages)}, or run sh .ci/setup",
        )
    # losetup -f only names the first free loop device; nothing is attached.
    free = ProgramRunner().run(["losetup", "-f"], timeout=30, ok_codes=None, quiet=True)
    if free.returncode != 0:
        said = (free.stderr.strip().splitlines() or ["nothing"])[-1]
        raise UsageError(
            f"twinstar demo needs a free loop device for its replicated partition (an ext4 image), "
            f"and losetup -f found none: {said}",
            hint="load the loop module with modprobe loop; a container needs /dev/loop-control and the /dev/loop* devices",
        )


@main.command()
@click.option("--units", type=click.IntRange(1, 16), default=2, show_default=True, help="Simulated Astribank units.")
@click.option(
    "--scenario",
    type=click.Choice([*(s.value for s in Scenario), "both", "all"]),
    default="both",
    show_default=True,
    help="power-loss: pbx-a loses power, the watchdog moves the units; switchover: planned hand-over; "
    "split-units: one unit alone moves to pbx-b, which sends it back; the other failure scenarios are in docs/demo.md; "
    "both: the first two; all: every scenario.",
)
@click.option(
    "--watchdog-timeout",
    "watchdog_ms",
    type=click.IntRange(50, 60000),
    default=500,
    show_default=True,
    metavar="MS",
    help="Heartbeat silence after which the units switch port.",
)
@click.option(
    "--stack",
    type=click.Choice([k.value for k in StackKind]),
    default=StackKind.REAL.value,
    show_default=True,
    help="real: Kamailio, MariaDB and Apache under each server's own systemd, with SIPp, a phone, a database "
    "writer and a web fetcher; light: a small responder and probing client (fast, no extra packages).",
)
@click.option(
    "--unit-init",
    "unit_init_ms",
    type=click.IntRange(0, 10000),
    default=round(Options.unit_init * 1000),
    show_default=True,
    metavar="MS",
    help="A unit's arrival to its READY: the simulated driver's initialisation (real units take seconds: "
    "firmware and FPGA loading). Part of detection, not of twinstar's time.",
)
@click.option(
    "--dad-timeout",
    type=Number("ip.dad_timeout"),
    default=Options.dad_timeout,
    show_default=True,
    metavar="SECONDS",
    help="Each server's ip step's dad_timeout: duplicate-address detection, at least this long "
    "(the documented default is 0.2).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (with \"ok\": true|false).")
@click.option("--keep", is_flag=True, help="Leave the namespaces, mount and files for inspection.")
def demo(
    units: int, scenario: str, watchdog_ms: int, stack: str, unit_init_ms: int, dad_timeout: float, as_json: bool, keep: bool
) -> None:
    """Two-server failover on this machine; only the hardware is simulated.

    Builds pbx-a, pbx-b and a client as network namespaces on one bridge,
    simulated Astribank units cabled to both servers, and a real takeover
    list on each (dahdi, drbd on a loop-mounted ext4, the shared IP with
    gratuitous ARP, then the PBX). The real stack (default) runs each server
    as a container with its own systemd and starts MariaDB, Kamailio and
    Apache; SIPp pings with SIP OPTIONS every 10 ms, a phone registers once, a
    writer commits a row every 10 ms, a fetcher gets the web page. The light
    stack runs a responder standing for Asterisk and a probing client. pbx-a
    comes up as primary; then it fails over to pbx-b. Prints a timeline and
    the outage, detection and orchestration times (real stack: SIP outage as
    SIPp saw it, the registration, database rows acknowledged vs present, web
    outage, each service's start); removes everything afterwards unless --keep.
    Needs root. Exit 0 when every check held, 1 otherwise.
    """
    kind = StackKind(stack)
    named = {"both": [Scenario.POWER_LOSS, Scenario.SWITCHOVER], "all": list(Scenario)}
    scenarios = named.get(scenario) or [Scenario(scenario)]
    _preflight(kind)
    # The real stack's servers boot systemd, which empties /tmp at boot: their shared files live in /var/tmp.
    # They also start real services, and a busy machine makes a stage take longer.
    real = kind is StackKind.REAL
    options = Options(
        units=units,
        watchdog_timeout=watchdog_ms / 1000,
        unit_init=unit_init_ms / 1000,
        dad_timeout=dad_timeout,
        keep=keep,
        stack=kind,
        base_dir="/var/tmp" if real else Options.base_dir,
        wait=90.0 if real else Options.wait,
    )

    def progress(message: str) -> None:
        if not as_json:
            click.echo(f"... {message}", err=True)

    results: list[Collected] = []
    try:
        with signals_interrupt():
            for s in scenarios:
                results.append(run(s, options, progress=progress))
    except Interrupted as exc:
        kept = "was kept (--keep)" if keep else "was removed"
        click.echo(f"twinstar: demo interrupted by {exc}; everything it created {kept}", err=True)
        sys.exit(130)
    ok = all(report.summarize(c).ok for c in results)
    if as_json:
        click.echo(json.dumps({"ok": ok, "scenarios": [report.to_json(c) for c in results]}, sort_keys=True))
    else:
        click.echo("\n\n".join([*(report.render(c) for c in results), report.LEGEND]))
    sys.exit(int(ExitStatus.OK if ok else ExitStatus.FAILED))
