"""``twinstar status``: the node at a glance.

Three sections, each built by the module that owns the data: the Astribanks
on this host's USB (device, label, port, watchdog, power of both ports),
readiness against ``xpp_order`` with the node's role and last transition, and
the daemon's state. Without a configuration file (only possible when
``$TWINSTAR_USB_SIMULATOR`` selects a simulator) only the USB section is shown.

Exit status: 0 when the report could be made (no unit connected is a normal
state on a standby node and is shown, not failed), 1 when a connected unit
could not be read, 2 for a bad configuration or simulator file.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from twinstar.cli.app import Obj, main
from twinstar.config import Config
from twinstar.errors import ExitStatus, TwinstarError, UsbError


def _usb_section(config: Config | None) -> dict[str, Any]:
    """The USB units; a USB failure (no unit, no libusb, no bus) is shown, not fatal.

    A bad simulator file stays bad input (exit 2): it is a configuration error.
    """
    from twinstar.usb.units import Astribanks, status_rows

    try:
        rows = status_rows(Astribanks.from_config(config))
    except UsbError as exc:
        return {"units": [], "error": str(exc)}
    return {"units": [r.to_json() for r in rows]}


def _node_section(config: Config) -> dict[str, Any]:
    from twinstar.engine.state import StateStore

    try:
        state = StateStore(config.state_dir).read()
    except TwinstarError as exc:
        return {"name": config.node, "role": None, "error": str(exc)}
    return {
        "name": config.node,
        "role": state.role.value,
        "interrupted": state.interrupted(),
        "since": state.since or None,
        "last_transition": state.last_transition,
    }


def _json_safe(value: Any) -> Any:
    """Device strings read as bytes carry lone surrogates; JSON gets them as ``\\xNN`` text."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {_json_safe(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "never"


def _render_node(node: dict[str, Any]) -> list[str]:
    if node.get("error"):
        return [f"node {node['name']}: role unknown ({node['error']})"]
    role = node["role"] + (" (interrupted: the next takeover or release recovers it)" if node["interrupted"] else "")
    lines = [f"node {node['name']}: {role} since {_when(node['since'])}"]
    t = node.get("last_transition")
    if t:
        line = f"last transition: {t.get('action')} {t.get('result')} in {t.get('duration_ms', 0):.0f} ms, ended {_when(t.get('ended'))}"
        if t.get("error"):
            line += f": {t['error']}"
        lines.append(line)
    return lines


@main.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the same as one JSON object.")
@click.pass_obj
def status_command(obj: Obj, as_json: bool) -> None:
    """Show the Astribanks on this host, readiness against xpp_order, the role, the daemon.

    USB columns: DEVICE (usb:BBB/DDD), LABEL, PORT (active port), WATCHDOG
    (on/off), POWER0 and POWER1 (yes when that port has power from a live host).
    """
    from twinstar.cli.usb import usb_config
    from twinstar.usb.units import render_status

    config = usb_config(obj)
    report: dict[str, Any] = _usb_section(config)
    if config is not None:
        from twinstar.astribank.report import readiness_report
        from twinstar.daemon.status import daemon_status
        from twinstar.policy.nodeinfo import node_state

        report["node"] = _node_section(config)
        node_lines, report["node"]["policy"] = node_state(config)
        report["readiness"] = readiness_report(config)
        report["daemon"] = daemon_status(config)
    unreadable = [u for u in report["units"] if u.get("error")]
    if as_json:
        click.echo(json.dumps(_json_safe(report), sort_keys=True, default=str))
    else:
        click.echo(render_status(report["units"]) if report["units"] else f"USB: {report['error']}")
        if config is not None and node_lines:
            click.echo("\n" + "\n".join(node_lines))
        for u in unreadable:
            click.echo(f"twinstar: error: {u['error']}", err=True)
        if config is not None:
            from twinstar.astribank.report import render_readiness
            from twinstar.daemon.status import render_daemon_status

            click.echo("")
            click.echo("\n".join(_render_node(report["node"])))
            readiness = render_readiness(report["readiness"]).splitlines()
            click.echo("\n".join(line for line in readiness if not line.startswith("role: ")))
            click.echo("\n".join(render_daemon_status(report["daemon"])))
    if unreadable:
        raise SystemExit(int(ExitStatus.FAILED))
