"""``twinstar status``: the node at a glance.

By default it prints exactly the original Perl ``twinstar status`` table
(``DEVICE PORT WATCHDOG POWER0 POWER1``), so scripts that read it keep working;
units left out of it get a note on stderr. ``-v``/``--long`` and ``--json``
show three sections, each built by the module that owns the data: the
Astribanks on this host's USB (device, label, port, watchdog, power of both
ports, and why a unit is not TwinStar-capable), readiness against
``xpp_order`` with the node's role and last transition, and the daemon's
state. Without a configuration file only the USB section is shown.

Exit status: 0 when the report could be made (no unit connected is a normal
state on a standby node and is shown, not failed), 1 when a connected unit
could not be read, 2 for a bad configuration or simulator file.

The command runs without click, whose import would add a fifth to its cost:
:func:`run` reads a plain status command line with the options of
:mod:`twinstar.cli.options` and ends as the click group would
(:class:`twinstar.cli.app.TwinstarGroup`); any other command line (help, a
mistake) goes to click, whose ``status`` command (:mod:`twinstar.cli.usb`)
calls :func:`show`. Status logs nothing (no twinstar logger exists in its
run: tests/cli/test_imports.py), so the group's logging set-up is not needed.
"""

from __future__ import annotations

import errno
import sys

from twinstar.cli.context import Obj, error_line, internal_error_line, usb_config
from twinstar.errors import ExitStatus, TwinstarError, UsbError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from twinstar.config import Config


def _usb_section(config: Config | None, devices: Sequence[str]) -> dict[str, Any]:
    """The USB units; a USB failure (no unit, no libusb, no bus) is shown, not fatal.

    A bad simulator file or an unknown ``--device`` stays bad input (exit 2).
    """
    from twinstar.usb.units import Astribanks, status_rows

    try:
        rows = status_rows(Astribanks.from_config(config), devices)
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
    import time

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


def _render_short(report: dict[str, Any]) -> list[str]:
    """The default output: the vendor's table, byte for byte.

    Lines about the node (say, in maintenance) belong right after the table,
    and only when there is something to say, so that a script reading the
    table sees exactly the original's output on a node in its normal state.
    """
    from twinstar.usb.units import render_status

    return [render_status(report["units"])]


def _render_long(report: dict[str, Any]) -> list[str]:
    """``-v``: the labelled table with notes, then the node, readiness and daemon sections."""
    from twinstar.usb.units import render_status_long

    lines = [render_status_long(report["units"]) if report["units"] else f"USB: {report['error']}"]
    if "node" in report:
        from twinstar.astribank.report import render_readiness
        from twinstar.daemon.status import render_daemon_status

        lines.append("")
        lines += _render_node(report["node"])
        lines += [line for line in render_readiness(report["readiness"]).splitlines() if not line.startswith("role: ")]
        lines += render_daemon_status(report["daemon"])
    return lines


def show(obj: Obj, devices: Sequence[str], long: bool, as_json: bool) -> None:
    """Print the status report (the command's body); raises SystemExit(1) when a connected unit could not be read."""
    from twinstar.usb.units import status_notes

    config = usb_config(obj)
    report: dict[str, Any] = _usb_section(config, devices)
    node_lines: list[str] = []
    if config is not None:  # maintenance, an operator hold, the alarm, the last hand-back: shown when present
        from twinstar.policy.nodeinfo import node_state

        node_lines, policy = node_state(config)
    if config is not None and (long or as_json):
        from twinstar.astribank.report import readiness_report
        from twinstar.daemon.status import daemon_status

        report["node"] = _node_section(config)
        report["node"]["policy"] = policy
        report["readiness"] = readiness_report(config)
        report["daemon"] = daemon_status(config)
    unreadable = [u for u in report["units"] if u.get("error")]
    if as_json:
        import json

        echo(json.dumps(_json_safe(report), sort_keys=True, default=str))
    else:
        echo("\n".join(_render_long(report) if long else _render_short(report)))
        if not long:  # what -v shows in the table: why a unit has no line, or why there is none
            notes = status_notes(report["units"]) + ([report["error"]] if "error" in report else [])
            for note in notes:
                echo(f"twinstar: {note}", err=True)
        if node_lines:
            echo("\n" + "\n".join(node_lines))
        for u in unreadable:
            echo(f"twinstar: error: {u['error']}", err=True)
    if unreadable:
        raise SystemExit(int(ExitStatus.FAILED))


def echo(text: str, *, err: bool = False) -> None:
    """``click.echo(text)``: the line, flushed; through click itself once it is loaded, or for an escape sequence.

    (click strips ANSI codes from output that is not a terminal.)
    """
    if "click" in sys.modules or "\x1b" in text:
        import click

        click.echo(text, err=err)
        return
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def _click_needed() -> bool:
    """What click does before it parses: shell completion (``_PROG_COMPLETE``), or re-encoding an ASCII stream."""
    import codecs
    import os

    if any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ):
        return True
    for stream in (sys.stdout, sys.stderr):
        if stream is None:
            return True
        try:
            if codecs.lookup(getattr(stream, "encoding", None) or "ascii").name == "ascii":
                return True
        except LookupError:
            pass
    return False


def run(args: Sequence[str]) -> None:
    """Run ``twinstar [GROUP OPTIONS] status [OPTIONS]`` without click, and exit; return for any other command line."""
    from twinstar.cli.options import GROUP, STATUS, parse

    group = parse(args, GROUP)
    if group is None or group[1][:1] != ["status"]:
        return
    command = parse(group[1][1:], STATUS)
    if command is None or command[1] or _click_needed():
        return
    top, opts = group[0], command[0]
    verbose = bool(top["verbose"])
    try:
        try:
            show(Obj(top["config_path"], verbose), opts["devices"], bool(opts["long"]), bool(opts["as_json"]))
        except TwinstarError as exc:
            echo(error_line(exc), err=True)
            raise SystemExit(int(exc.exit_status)) from None
        except (SystemExit, KeyboardInterrupt, EOFError):
            raise
        except Exception as exc:
            if not verbose:
                echo(internal_error_line(exc), err=True)
                raise SystemExit(int(ExitStatus.FAILED)) from None
            if not isinstance(exc, OSError) or exc.errno != errno.EPIPE:  # click ends quietly
                raise
            sys.stdout = sys.stderr = None  # nothing left to flush into the closed pipe
            raise SystemExit(int(ExitStatus.FAILED)) from None
    except (KeyboardInterrupt, EOFError):
        echo("", err=True)
        echo("Aborted!", err=True)
        raise SystemExit(int(ExitStatus.FAILED)) from None
    raise SystemExit(int(ExitStatus.OK))
