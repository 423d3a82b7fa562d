"""``twinstar check``: validate the configuration and the environment it needs.

Each check is a small function returning findings; nothing here changes the
system. A finding at level ``error`` makes ``twinstar check`` exit 2.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from twinstar.astribank import xpporder
from twinstar.config import Config, DrbdSpec, IpSpec
from twinstar.engine import statedir
from twinstar.engine.proc import ProgramRunner
from twinstar.errors import ProgramError, StateDirError, TwinstarError
from twinstar.fastpath import safefile

# Re-exported: the command line imports the findings type from here.
from twinstar.ops.findings import Finding as Finding
from twinstar.ops.findings import Level as Level
from twinstar.ops.systemdcheck import check_systemd
from twinstar.steps.base import StepContext
from twinstar.steps.registry import build_steps

Check = Callable[[Config], Iterable[Finding]]


def check_programs(config: Config) -> Iterable[Finding]:
    """Every program the steps, the drain check and ``on_ready`` need exists, and only root (or we) can replace it."""
    runner = ProgramRunner(programs=config.program_map)
    steps = build_steps(config, StepContext(config=config, runner=runner))
    needs: dict[str, str] = {}  # program -> the first thing that needs it
    for step in steps:
        for name in step.programs():
            needs.setdefault(name, f"step {step.name}")
    if config.switchover.drain_check:
        needs.setdefault(config.switchover.drain_check[0], "switchover.drain_check")
    for i, argv in enumerate(config.on_ready):
        needs.setdefault(argv[0], f"on_ready[{i}]")
    for name, needed_by in needs.items():
        try:
            path = runner.resolve(name)
        except ProgramError as exc:
            yield Finding(Level.ERROR, f"program {name}", f"{exc} (needed by {needed_by})")
            continue
        why = safefile.replaceable(path)
        if why is None:
            yield Finding(Level.OK, f"program {name}", path)
        else:
            yield Finding(Level.ERROR, f"program {name}", f"{path} is not safe to run as root: {why} (needed by {needed_by})")


def check_steps(config: Config) -> Iterable[Finding]:
    for spec in config.takeover:
        if isinstance(spec, IpSpec):
            if os.path.exists(f"/sys/class/net/{spec.interface}"):
                yield Finding(Level.OK, f"step {spec.name}", f"interface {spec.interface} exists")
            else:
                yield Finding(Level.ERROR, f"step {spec.name}", f"interface {spec.interface} does not exist on this host")
        elif isinstance(spec, DrbdSpec):
            if os.path.isdir(spec.mountpoint):
                yield Finding(Level.OK, f"step {spec.name}", f"mountpoint {spec.mountpoint} exists")
            else:
                yield Finding(
                    Level.ERROR, f"step {spec.name}", f"mountpoint {spec.mountpoint} is not a directory (mkdir -p {spec.mountpoint})"
                )
        else:
            yield Finding(Level.OK, f"step {spec.name}", "configured")
    for group in config.groups:
        yield Finding(Level.OK, f"parallel {'+'.join(group)}", "brought up concurrently; a release takes them down in reverse of their listing")


def check_state_dir(config: Config) -> Iterable[Finding]:
    path = config.state_dir
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        parent = os.path.dirname(path.rstrip("/")) or "/"
        while not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if os.access(parent, os.W_OK | os.X_OK):
            yield Finding(Level.OK, "state_dir", f"{path} will be created (mode 0700)")
        else:
            yield Finding(Level.ERROR, "state_dir", f"{path} does not exist and {parent} is not writable")
        return
    try:
        statedir.check_state_dir(path, st)
    except StateDirError as exc:
        yield Finding(Level.ERROR, "state_dir", str(exc))
        return
    if not os.access(path, os.W_OK | os.X_OK):
        yield Finding(Level.ERROR, "state_dir", f"{path} is not writable")
    else:
        yield Finding(Level.OK, "state_dir", f"{path} is usable")


def check_xpp_order(config: Config) -> Iterable[Finding]:
    path = config.astribanks.xpp_order
    try:
        order = xpporder.load(path)
    except TwinstarError as exc:
        yield Finding(Level.ERROR, "xpp_order", str(exc))
        return
    why = safefile.replaceable(path)
    if why is not None:
        yield Finding(Level.ERROR, "xpp_order", f"{path} is not safe: {why}")
        return
    yield Finding(Level.OK, "xpp_order", f"{path}: {len(order.entries)} unit(s) listed")


def check_installation(config: Config) -> Iterable[Finding]:
    """The udev rule, hooks, program link and systemd units that make install laid out; one hook acting."""
    from twinstar import __version__
    from twinstar.ops import installcheck

    version: str | None = __version__
    manifest = installcheck.find_manifest()
    yield from installcheck.check_installed(manifest, version=version)
    yield from installcheck.check_hooks(manifest)


def check_local_paths(config: Config) -> Iterable[Finding]:
    """xpp_order, /etc/dahdi and twinstar's configuration stay on this node, not behind a link into the replica."""
    from twinstar.config import DrbdSpec
    from twinstar.replica.local import keep_local, moved_away

    roots = [s.mountpoint for s in config.takeover if isinstance(s, DrbdSpec)]
    problems = moved_away(keep_local(config.astribanks.xpp_order, config.source), roots)
    for problem in problems:
        yield Finding(Level.ERROR, "replica", problem)
    if not problems:
        yield Finding(Level.OK, "replica", "xpp_order, DAHDI's and twinstar's configuration are on this node")


def check_node_state(config: Config) -> Iterable[Finding]:
    """The maintenance file, an operator hold, the alarm and the last hand-back (twinstar.policy.nodeinfo)."""
    from twinstar.policy.nodeinfo import node_state

    lines, _ = node_state(config)
    for line in lines:
        yield Finding(Level.WARNING, "node", line)


CHECKS: list[Check] = [
    check_programs, check_steps, check_state_dir, check_xpp_order, check_local_paths, check_node_state, check_installation,
    check_systemd,
]


def run_checks(config: Config, checks: Iterable[Check] = CHECKS) -> list[Finding]:
    findings: list[Finding] = []
    for check in checks:
        try:
            findings.extend(check(config))
        except TwinstarError as exc:
            findings.append(Finding(Level.ERROR, check.__name__.removeprefix("check_"), str(exc)))
    return findings
