"""Preparing a node: ``twinstar setup`` and ``twinstar replica add|list|check|link``."""

from __future__ import annotations

import json
import os
import socket
import time

import click

from twinstar.cli.app import Obj, SuggestingGroup, main
from twinstar.config import DrbdSpec
from twinstar.errors import BadInputError, ExitStatus
from twinstar.ops.findings import exit_status
from twinstar.replica import links, move
from twinstar.replica.manifest import LOCAL_MANIFEST_NAME
from twinstar.replica.paths import Replica, replica_root


class ReplicaObj:
    """What the ``replica`` commands share: the replica and the local copy of the managed list."""

    def __init__(self, obj: Obj, replica_opt: str | None, local_manifest: str | None) -> None:
        self.obj = obj
        self._replica_opt = replica_opt
        self.local_manifest = os.path.abspath(local_manifest or os.path.join(os.path.dirname(obj.config_path), LOCAL_MANIFEST_NAME))

    def keep_local(self) -> list[tuple[str, str]]:
        """What must stay on this node (:mod:`twinstar.replica.local`): xpp_order as configured when the file is there."""
        from twinstar.replica.local import keep_local

        xpp_order = self.obj.config.astribanks.xpp_order if os.path.exists(self.obj.config_path) else None
        return keep_local(xpp_order, self.obj.config_path)

    @property
    def replica(self) -> Replica:
        if self._replica_opt is not None:
            return replica_root(self._replica_opt)
        config = self.obj.config
        drbd = [s for s in config.takeover if isinstance(s, DrbdSpec)]
        if len(drbd) == 1:
            return replica_root(drbd[0].mountpoint)
        if not drbd:
            raise BadInputError(
                f"{config.source}: the takeover has no drbd step, so the replica's mount point is unknown",
                hint="pass --replica PATH",
            )
        points = ", ".join(s.mountpoint for s in drbd)
        raise BadInputError(
            f"{config.source}: the takeover mounts several replicas ({points})", hint="choose one with --replica PATH"
        )


@main.group(cls=SuggestingGroup)
@click.option(
    "--replica",
    "replica_opt",
    metavar="PATH",
    help="Mount point of the replicated partition (default: the mountpoint of the takeover's drbd step).",
)
@click.option(
    "--local-manifest",
    metavar="PATH",
    help="This node's copy of the managed list (default: replica-managed.json next to the configuration).",
)
@click.pass_context
def replica(ctx: click.Context, replica_opt: str | None, local_manifest: str | None) -> None:
    """Keep configuration and data on the replica, reached through symlinks.

    The managed list lives on the replica (.twinstar/managed.json) so both
    nodes agree; each node keeps a local copy for when the replica is mounted
    on the other node.
    """
    ctx.obj = ReplicaObj(ctx.obj, replica_opt, local_manifest)


@replica.command("add")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--force", is_flag=True, help="Move a path even when a running process uses it.")
@click.pass_obj
def replica_add(robj: ReplicaObj, paths: tuple[str, ...], force: bool) -> None:
    """Move each PATH into the mounted replica and leave a symlink in its place.

    Crash-safe: an interrupted move is completed by running the same command
    again. Exit 0 done, 1 the move failed (the original is untouched), 2 bad
    input (nothing changed), 3 a process uses the path (see --force).
    """
    crash_at = os.environ.get(move.CRASH_ENV)
    mover = move.Mover(
        replica=robj.replica,
        local_manifest=robj.local_manifest,
        force=force,
        checkpoint=move.kill_at(crash_at) if crash_at else move.no_checkpoint,
        keep_local=robj.keep_local(),
    )
    for report in mover.add(paths):
        what = "moved" if report.outcome == move.MoveOutcome.MOVED else "completed the interrupted move of"
        size = f" ({report.entries} entries, {report.bytes} bytes)" if report.entries else ""
        click.echo(f"{what} {report.path} -> {report.target}{size}")


@replica.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with each entry.")
@click.pass_obj
def replica_list(robj: ReplicaObj, as_json: bool) -> None:
    """Print the managed paths, one per line.

    Read from the replica when it is mounted here, else from the local copy.
    """
    listing = links.read_listing(robj.replica, robj.local_manifest)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "source": listing.source.value,
                    "location": listing.location,
                    "mounted": listing.mounted,
                    "paths": [e.to_json() for e in listing.manifest.entries],
                },
                sort_keys=True,
            )
        )
        return
    if listing.source == links.Source.NONE:
        raise BadInputError(
            f"no managed list: the replica {robj.replica.root} is not mounted here "
            f"and {robj.local_manifest} does not exist"
        )
    for path in listing.manifest.paths:
        click.echo(path)


@replica.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as one JSON object.")
@click.pass_obj
def replica_check(robj: ReplicaObj, as_json: bool) -> None:
    """Check that every managed path is a link into the replica.

    On the node without the replica mounted, the links dangle: that is
    correct and reported as such. Exit 0 when all is well, 1 otherwise.
    """
    listing, findings = links.check(robj.replica, robj.local_manifest)
    status = exit_status(findings)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": status == ExitStatus.OK,
                    "mounted": listing.mounted,
                    "source": listing.source.value,
                    "findings": [f.to_json() for f in findings],
                },
                sort_keys=True,
            )
        )
    else:
        state = "mounted" if listing.mounted else "not mounted on this node"
        click.echo(f"replica {robj.replica.root}: {state}; managed list from {listing.source.value} {listing.location}")
        for f in findings:
            click.echo(f.line())
        click.echo("replica check: " + ("ok" if status == ExitStatus.OK else "FAILED"))
    raise SystemExit(int(status))


@replica.command("link")
@click.argument("paths", nargs=-1, metavar="[PATH...]")
@click.option("--force", is_flag=True, help="Replace a local copy even when a running process uses it.")
@click.pass_obj
def replica_link(robj: ReplicaObj, paths: tuple[str, ...], force: bool) -> None:
    """Make each managed path a symlink into the replica (on the standby node).

    A local copy in the way is kept under PATH.twinstar-local-<time>. Without
    PATHs, the managed list is used (from the replica, or the local copy).
    """
    for report in links.link(robj.replica, robj.local_manifest, paths, force=force):
        line = f"{report.path} -> {report.target}: {report.outcome.value}"
        if report.aside:
            line += f" at {report.aside}"
        click.echo(line)


# --- setup ------------------------------------------------------------------------------


@main.command("setup")
@click.option("--write", is_flag=True, help="Generate xpp_order when the node is ready (the old file is kept as .bak).")
@click.option("--dry-run", is_flag=True, help="Show the xpp_order that --write would write; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings and the order as one JSON object.")
@click.pass_obj
def setup(obj: Obj, write: bool, dry_run: bool, as_json: bool) -> None:
    """Check that this node is ready for TwinStar, and generate xpp_order.

    Checks the xpp driver's sysfs, that every Astribank is TwinStar-capable,
    registered with DAHDI (every XPD span non-zero) and on the same active
    port, that both ports are powered (warning), and that labels are usable
    (warning: such a unit is listed by @connector). Exit 0 ready, 1 a check
    failed, 2 bad input (malformed sysfs contents, configuration).
    """
    from twinstar.nodesetup import xppgen
    from twinstar.nodesetup.probe import probe

    config = obj.config
    path = config.astribanks.xpp_order
    result = probe(config)
    text = None
    if result.ready:
        header = (
            f"xpp_order: generated by twinstar setup on {socket.gethostname()} at "
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
            "One unit per line in DAHDI registration order: its label, or @connector."
        )
        text = xppgen.render(result.order, header=header)
    written, backup = False, None
    if write and not dry_run and text is not None:
        backup = xppgen.write(path, text)
        written = True
    if as_json:
        out = result.to_json() | {"xpp_order": path, "text": text, "written": written, "backup": backup}
        click.echo(json.dumps(out, sort_keys=True))
        raise SystemExit(int(result.exit_status))
    click.echo("twinstar setup:")
    for f in result.findings:
        click.echo(f.line())
    if text is not None and (dry_run or write):
        click.echo(f"xpp_order for {path}:")
        for line in text.splitlines():
            click.echo(f"  | {line}")
    if written:
        kept = f" (the previous file is kept as {backup})" if backup else ""
        click.echo(f"wrote {path}{kept}")
    elif write and not dry_run:
        click.echo(f"{path} not written: the node is not ready")
    elif dry_run and write:
        click.echo(f"dry run: {path} not written")
    verdict = {ExitStatus.OK: "ready", ExitStatus.FAILED: "NOT ready", ExitStatus.BAD_INPUT: "NOT ready (bad input)"}
    click.echo(f"setup: {verdict[result.exit_status]}")
    raise SystemExit(int(result.exit_status))
