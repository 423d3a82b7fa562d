"""``twinstar ocf ACTION``: the OCF resource agent ``ocf:twinstar:astribank`` (installed as a thin sh wrapper).

Parameters come from the environment Pacemaker sets (``OCF_RESKEY_config``,
else ``--config`` or its default; ``OCF_RESKEY_units``,
``OCF_RESKEY_CRM_meta_timeout``); the exit status is an OCF code
(:class:`twinstar.ocf.codes.OcfStatus`), never twinstar's own.
"""

from __future__ import annotations

import os

import click

from twinstar.cli.app import Obj, main

ACTIONS = ("start", "stop", "monitor", "status", "validate-all", "meta-data", "usage")


@main.command("ocf", context_settings={"ignore_unknown_options": True})
@click.argument("action", required=False, default="usage")
@click.pass_obj
def ocf_command(obj: Obj, action: str) -> None:
    """Run one OCF action (start, stop, monitor, validate-all, meta-data) of ocf:twinstar:astribank."""
    from twinstar import config as config_mod
    from twinstar.errors import TwinstarError
    from twinstar.ocf import agent, decide
    from twinstar.ocf.codes import OcfStatus, Verdict
    from twinstar.ocf.metadata import meta_data

    if action == "meta-data":
        from twinstar import __version__

        click.echo(meta_data(__version__), nl=False)
        raise SystemExit(int(OcfStatus.SUCCESS))
    if action == "usage":
        click.echo(f"usage: {{{'|'.join(a for a in ACTIONS if a != 'usage')}}}")
        raise SystemExit(int(OcfStatus.SUCCESS))
    if action not in ACTIONS:
        click.echo(f"twinstar ocf: {action!r} is not implemented", err=True)
        raise SystemExit(int(OcfStatus.ERR_UNIMPLEMENTED))
    env = os.environ
    path = os.path.abspath(env["OCF_RESKEY_config"]) if env.get("OCF_RESKEY_config") else obj.config_path
    try:
        the_agent = agent.agent_for(config_mod.load(path), decide.parse_units(env.get("OCF_RESKEY_units", "")))
        if action in ("monitor", "status"):
            verdict = the_agent.monitor()
        elif action == "start":
            verdict = the_agent.start(env.get("OCF_RESKEY_CRM_meta_timeout"))
        elif action == "stop":
            verdict = the_agent.stop()
        else:
            verdict = the_agent.validate()
    except TwinstarError as exc:
        verdict = agent.verdict_of(exc)
        if verdict.status == OcfStatus.ERR_CONFIGURED and not os.path.exists(path):
            # A node without the configuration never started anything: stopped; a probe there
            # must not keep the cluster from starting the resource elsewhere.
            if action == "stop":
                verdict = Verdict(OcfStatus.SUCCESS, f"stopped; {verdict.reason}")
            elif action in ("monitor", "status") and env.get("OCF_RESKEY_CRM_meta_interval", "0") == "0":
                verdict = Verdict(OcfStatus.NOT_RUNNING, f"not configured here: {verdict.reason}")
    ok = verdict.status in (OcfStatus.SUCCESS, OcfStatus.NOT_RUNNING)
    click.echo(f"twinstar ocf {action}: {verdict.reason}", err=not ok)
    raise SystemExit(int(verdict.status))
