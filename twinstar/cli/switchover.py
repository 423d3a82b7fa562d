"""``twinstar switchover``: planned hand-over of the active node to its peer."""

from __future__ import annotations

import json

import click

from twinstar.cli.app import Number, Obj, main
from twinstar.cli.engine import render_report
from twinstar.ops.switchover import SwitchoverReport, switchover_for


def render(report: SwitchoverReport) -> str:
    lines = ["switchover:"]
    for p in report.power:
        lines.append(f"  power    {p.text}")
    if report.drain:
        lines.append(f"  drain    {report.drain}")
    if report.release is not None:
        lines += ["  " + line for line in render_report(report.release).splitlines()]
    for o in report.jump:
        lines.append(f"  jump     {o.unit}: {o.result.value}: {o.message}")
    verdict = "ok" if report.exit_status == 0 else ("refused" if report.exit_status == 3 else "FAILED")
    lines.append(f"result: {verdict}, {report.duration * 1000:.0f} ms" + (f": {report.error}" if report.error else ""))
    return "\n".join(lines)


@main.command()
@click.option(
    "--drain-timeout",
    type=Number("switchover.drain_timeout"),
    metavar="S",
    help="Wait at most S seconds for active calls to end (default: switchover.drain_timeout; 0 = do not wait).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with each part's result.")
@click.pass_obj
def switchover(obj: Obj, drain_timeout: float | None, as_json: bool) -> None:
    """Hand this active node over to its peer, cleanly.

    Refuses (exit 3) when the peer's USB port has no power, before releasing
    anything; waits for calls to drain (switchover.drain_check); releases the
    takeover steps in reverse order; jumps every unit to the peer and confirms
    each left. Exit 0 when all units moved, 1 when a part failed, 3 when refused.
    """
    report = switchover_for(obj.config).run(drain_timeout=drain_timeout)
    if as_json:
        click.echo(json.dumps(report.to_json(), sort_keys=True))
    else:
        click.echo(render(report))
    raise SystemExit(int(report.exit_status))
