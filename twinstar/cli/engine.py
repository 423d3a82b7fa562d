"""``twinstar takeover``, ``release`` and ``check``."""

from __future__ import annotations

import json
import os

import click

from twinstar.cli.app import Obj, main
from twinstar.engine.report import Report, StepOutcome, StepResult
from twinstar.engine.runner import engine_for
from twinstar.errors import ExitStatus
from twinstar.fastpath.syslogsend import journal_stream

_WORDS = {
    StepResult.DONE: "done",
    StepResult.ALREADY: "already",
    StepResult.UNDONE: "undone",
    StepResult.FAILED: "FAILED",
    StepResult.REFUSED: "REFUSED",
    StepResult.WOULD_APPLY: "would apply",
    StepResult.WOULD_UNDO: "would undo",
}


def _step_line(o: StepOutcome, *, with_detail: bool) -> str:
    name = f"| {o.step}" if o.group else o.step  # a member of a concurrent group
    line = f"  {name:<32} {_WORDS[o.result]:<12} {o.duration * 1000:8.1f} ms"
    if o.error:
        return f"{line}  {o.error}"
    if o.detail and with_detail:
        return f"{line}  ({o.detail})"
    return line


def render_report(report: Report) -> str:
    """The human-readable form of a takeover or release report."""
    title = f"{report.action.value}{' (dry run)' if report.dry_run else ''}"
    lines = [title + ":"]
    if report.recovered:
        lines.append(f"  note: {report.recovered}")
    lines += [_step_line(o, with_detail=report.dry_run) for o in report.steps]
    if report.rollback:
        lines.append("rollback:")
        lines += [_step_line(o, with_detail=False) for o in report.rollback]
    if not report.dry_run:
        verdict = "FAILED" if report.verdict == "failed" else report.verdict
        lines.append(f"result: {verdict}, role {report.role.value}, {report.duration * 1000:.0f} ms")
    return "\n".join(lines)


def _emit(report: Report, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_json(), sort_keys=True))
    elif not journal_stream(1):  # a service's journal has every step's line already
        click.echo(render_report(report))
    raise SystemExit(int(report.exit_status))


report_json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object with each step's result and duration."
)
follow_up_option = click.option(
    "--follow-up",
    is_flag=True,
    help="Afterwards, look at the units again like the hook and run what is due "
    "(units may have come or gone meanwhile); used by the systemd units.",
)


def _transition(obj: Obj, action: str, *, dry_run: bool, follow_up: bool) -> Report:
    config = obj.config
    if follow_up and not dry_run:
        from twinstar.fastpath.hooksettings import HookSettings
        from twinstar.hotplug.handoff import INLINE
        from twinstar.hotplug.hook import run_transition

        settings = HookSettings.from_config(config)
        report = run_transition(settings, action, mode=INLINE, environ=os.environ)
        if action == "takeover" and not report.ok:
            from twinstar.hotplug.handoff import retry_in_policy_unit

            retry_in_policy_unit(settings)
        return report
    engine = engine_for(config)
    if dry_run:
        return engine.takeover(dry_run=True) if action == "takeover" else engine.release(dry_run=True)
    from twinstar.policy.manual import by_hand

    return by_hand(config, action, engine)


@main.command()
@click.option("--dry-run", is_flag=True, help="Show the plan and each step's check result; change nothing.")
@report_json_option
@follow_up_option
@click.option(
    "--prepared",
    is_flag=True,
    help="Load everything ahead, then wait (30 s at most) until the udev hook's event that makes every unit "
    "READY wakes this process, and take over with --follow-up; exit 0 when not woken. Used by "
    "twinstar-prepared.service.",
)
@click.pass_obj
def takeover(obj: Obj, dry_run: bool, as_json: bool, follow_up: bool, prepared: bool) -> None:
    """Bring this node up: run the takeover steps in order (idempotent).

    A failed step undoes the steps before it in reverse order. Exit 0 when the
    node is active, 1 when a step failed, 3 when a safety guard refused.
    """
    if prepared:
        if dry_run or as_json:
            raise click.UsageError("--prepared runs the takeover the hook wakes: it takes neither --dry-run nor --json")
        from twinstar.hotplug import prepared as prepared_runner
        from twinstar.hotplug.handoff import INLINE

        raise SystemExit(prepared_runner.main(obj.config_path, follow_up_mode=INLINE))
    _emit(_transition(obj, "takeover", dry_run=dry_run, follow_up=follow_up), as_json)


@main.command()
@click.option("--dry-run", is_flag=True, help="Show what would be undone; change nothing.")
@report_json_option
@follow_up_option
@click.pass_obj
def release(obj: Obj, dry_run: bool, as_json: bool, follow_up: bool) -> None:
    """Take this node down: undo every takeover step in reverse order.

    Every undo runs even when one fails; exit 1 if any failed.
    """
    _emit(_transition(obj, "release", dry_run=dry_run, follow_up=follow_up), as_json)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the findings as one JSON object.")
@click.pass_obj
def check(obj: Obj, as_json: bool) -> None:
    """Validate the configuration and the environment it needs (like nginx -t).

    Exit 0 when everything is usable, 2 when anything is not.
    """
    from twinstar.ops.checks import run_checks  # here: takeover and release need none of it
    from twinstar.ops.findings import Level

    config = obj.config
    findings = run_checks(config)
    # check's contract is 0 or 2: a failed check of the host is bad input too.
    bad = any(f.level in (Level.ERROR, Level.FAIL) for f in findings)
    if as_json:
        click.echo(json.dumps({"config": config.source, "ok": not bad, "findings": [f.to_json() for f in findings]}))
    else:
        groups = f", {len(config.groups)} concurrent groups" if config.groups else ""
        click.echo(f"configuration {config.source}: valid ({len(config.takeover)} takeover steps{groups})")
        for f in findings:
            click.echo(f.line())
        click.echo("check: " + ("FAILED" if bad else "ok"))
    raise SystemExit(int(ExitStatus.BAD_INPUT if bad else ExitStatus.OK))
