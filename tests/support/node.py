"""A node for hotplug tests: a fake sysfs tree, ``xpp_order``, a configuration, a state dir.

The fake sysfs (:class:`twinstar.standins.fakesysfs.FakeSysfs`) is the one
stand-in here: the xpp kernel driver cannot load on a build machine. The
hook, the cache, the decision, the hand-off, the engine and its command
steps are the real ones; hooks run as whole processes where a test says so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.cli import clean_environ, run_twinstar
from tests.support.config import write_config
from tests.support.units import arrive, attach, order_line
from twinstar.standins.fakesysfs import FakeSysfs

HOOK = REPO / "hooks" / "atribank_hook"
PYTHON = sys.executable


class Node:
    """One simulated server: its sysfs, xpp_order, configuration and state."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sysfs = FakeSysfs(str(root / "sys"))
        self.xpp_order = root / "xpp_order"
        self.state_dir = root / "state"
        self.cache_dir = root / "cache"
        self.maintenance = root / "maintenance"
        self.config_path = root / "twinstar.yaml"
        self.calls = root / "calls.log"

    # -- configuration ------------------------------------------------------------------

    def configure(self, *, handoff: str = "inline", steps: str | None = None, rearm: bool = False, extra: str = "") -> None:
        if steps is None:
            steps = "  - command: {name: noop, start: [/bin/true], stop: [/bin/true]}\n"
        write_config(
            self.config_path,
            age=60,  # older than the cache's racy window
            state_dir=self.state_dir,
            sysfs=self.sysfs.root,
            xpp_order=self.xpp_order,
            maintenance_file=self.maintenance,
            handoff=handoff,
            rearm_watchdog=rearm,
            extra=extra,
            steps=steps,
        )

    def order(self, entries: list[str | bytes]) -> None:
        data = b"".join((e.encode("utf-8", "surrogateescape") if isinstance(e, str) else e) + b"\n" for e in entries)
        self.xpp_order.write_bytes(data)

    def listed(self, n: int) -> None:
        """xpp_order listing units 0..n-1 by label, as dahdi_genconf writes it."""
        self.order([order_line(i) for i in range(n)])

    def arrive(self, i: int) -> list[dict[str, str]]:
        """Unit ``i`` arrives up to READY; its events are returned, not delivered."""
        return arrive(self.sysfs, i)

    def plug(self, i: int) -> list[subprocess.CompletedProcess[str]]:
        """Unit ``i`` arrives and each event runs the hook as it happens."""
        add = self.run_hook(self.sysfs.create_unit(i))
        attach(self.sysfs, i)
        return [add, self.run_hook(self.sysfs.online(i))]

    def unplug(self, i: int) -> list[subprocess.CompletedProcess[str]]:
        """Unit ``i`` leaves and each event runs the hook as it happens."""
        off = self.run_hook(self.sysfs.offline(i))
        self.sysfs.set_state(i, "DEACTIVATED")
        return [off, self.run_hook(self.sysfs.remove_unit(i))]

    # -- running the hook ----------------------------------------------------------------

    def environ(self, event: dict[str, str] | None = None) -> dict[str, str]:
        env = clean_environ()
        env["TWINSTAR_CONFIG"] = str(self.config_path)
        env["TWINSTAR_CACHE_DIR"] = str(self.cache_dir)
        env.update(event or {})
        return env

    def run_hook(self, event: dict[str, str], *, cwd: Path | None = None, argv: list[str] | None = None) -> subprocess.CompletedProcess[str]:
        """The whole ``hooks/atribank_hook`` process, as udev would run it."""
        return subprocess.run(
            argv or [PYTHON, str(HOOK)],
            env=self.environ(event),
            cwd=cwd or self.root,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=120,
        )

    def evaluate(self, event: dict[str, str] | None, **kw: object):  # type: ignore[no-untyped-def]
        """:func:`twinstar.hotplug.hook.evaluate` in this process, inline hand-off."""
        from twinstar import config
        from twinstar.hotplug import hook

        cfg = config.load(str(self.config_path))
        ev = hook.Event.from_environ(event) if event is not None else None
        return hook.evaluate(cfg, ev, handoff_mode=kw.pop("handoff_mode", "inline"), environ=self.environ(), **kw)  # type: ignore[arg-type]

    # -- what happened -------------------------------------------------------------------

    def journal(self) -> list[dict[str, object]]:
        path = self.state_dir / "journal.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def begins(self, action: str) -> int:
        return sum(1 for r in self.journal() if r.get("event") == "begin" and r.get("action") == action)

    def role(self) -> str:
        path = self.state_dir / "state.json"
        return json.loads(path.read_text())["role"] if path.exists() else "standby"

    def write_stub(self, name: str, body: str) -> Path:
        """A call-recording stand-in program (appends its argv to calls.log)."""
        path = self.root / name
        path.write_text(f"#!/bin/sh\nprintf '%s\\n' \"{name} $*\" >> '{self.calls}'\n{body}\n")
        path.chmod(0o755)
        return path

    def recorded(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


def simulated_node(root: Path, units: int = 2) -> tuple[Node, dict[str, str]]:
    """A configured node whose ``units`` listed units are the USB simulator's (``usb.simulator``, port 0),
    none arrived yet; and its ``TWINSTAR_*`` environment."""
    node = Node(root)
    sim = root / "units.json"
    assert run_twinstar(None, "sim", "init", str(sim), "--units", str(units)).returncode == 0
    node.configure(extra=f"usb: {{simulator: {sim}, simulator_port: 0}}\n")
    node.listed(units)
    return node, {k: v for k, v in node.environ().items() if k.startswith("TWINSTAR_")}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    yield Node(tmp_path)
