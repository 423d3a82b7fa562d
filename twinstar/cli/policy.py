"""``twinstar maintenance on|off``, ``twinstar give-up --reason TEXT`` and ``twinstar policy``: the operator's,
a monitor's and systemd's side of the policy."""

from __future__ import annotations

import json

import click

from twinstar.cli.app import Obj, main
from twinstar.errors import BadInputError, ExitStatus

#: The longest reason ``give-up`` takes (it is logged, journaled and sent to the notify commands).
MAX_REASON = 200


@main.command("maintenance")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with what was done.")
@click.pass_obj
def maintenance(obj: Obj, state: str, as_json: bool) -> None:
    """Maintenance ON: create the maintenance file, then disable every unit's watchdog here
    (do this before stopping DAHDI). OFF: remove the file, and enable the watchdog again when
    this node serves. Both idempotent. Exit 0 done, 1 a unit's watchdog could not be set.
    """
    from twinstar.policy.maintenance import set_maintenance

    config = obj.config
    report = set_maintenance(config, state == "on")
    if as_json:
        click.echo(json.dumps(report.to_json(config.maintenance_file), sort_keys=True))
    else:
        click.echo("\n".join(report.lines(config.maintenance_file)))
    raise SystemExit(int(report.exit_status))


def _reason(text: str) -> str:
    """The reason as one printable line, or bad input (exit 2)."""
    if not text.strip():
        raise BadInputError("--reason must not be empty")
    if len(text) > MAX_REASON:
        raise BadInputError(f"--reason is longer than {MAX_REASON} characters")
    if not text.isprintable():
        raise BadInputError("--reason must be one line of printable characters")
    return " ".join(text.split())


@main.command("give-up")
@click.option("--reason", required=True, metavar="TEXT", help="Why this node gives up (logged, journaled, notified).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with what was done.")
@click.pass_obj
def give_up(obj: Obj, reason: str, as_json: bool) -> None:
    """Stop serving here and hand the units to the peer: watchdog off, release, jump
    (for Monit and other monitors). Refused (exit 3) when the peer's port has no power,
    before anything is released; exit 1 when the release or a jump failed.
    """
    from twinstar.policy.consult import hand_back

    why = _reason(reason)
    config = obj.config
    moved, line, status = hand_back(config, f"given up: {why}")
    if as_json:
        click.echo(json.dumps({"ok": moved, "exit_status": int(status), "reason": why, "result": line}, sort_keys=True))
    else:
        click.echo(line)
    raise SystemExit(int(ExitStatus(status)))


@main.command("policy")
@click.pass_obj
def policy(obj: Obj) -> None:
    """Let the pair policy act until it has nothing to wait for: send units that arrived without
    the others back after split_grace, retry a failed takeover, hand the units back. One runner
    at a time: a second one ends at once. Run by twinstar-policy.service, which the hook starts
    under systemd; exit 0 (what it did is logged and journaled).
    """
    from twinstar.cli.handoff_runner import main as runner

    raise SystemExit(runner(["policy", "--config", obj.config_path]))
