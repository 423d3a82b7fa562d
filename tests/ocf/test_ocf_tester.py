"""resource-agents' ``ocf-tester`` passes on ``ocf:twinstar:astribank`` against the simulated units.

The agent is the installed wrapper (``ocf/astribank`` rendered as ``make
install`` renders it) calling this checkout's ``twinstar``. Stand-ins: the
Astribank units (the USB simulator), the xpp and dahdi drivers (the fake
sysfs, acted on by a thread of this process as the kernel would) and
``dahdi_cfg`` (its fake's side). The
peer's port has no power, so stop keeps the units here and ocf-tester's
stop-then-start sequence finds them again (the jump itself is tested in
test_agent.py and in the Pacemaker cluster test).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.demo.unprivileged import base_python, readable_install
from tests.support.cli import REPO, clean_environ
from tests.support.ocfsite import Site
from twinstar.ops.installation import substitute
from twinstar.usb import sim

OCF_TESTER = shutil.which("ocf-tester", path="/usr/sbin:/usr/bin:/sbin:/bin")
needs_tester = pytest.mark.skipif(
    OCF_TESTER is None or shutil.which("xmllint") is None, reason="ocf-tester (resource-agents) and xmllint (libxml2-utils) needed"
)


def render_agent(directory: Path, env: Mapping[str, str]) -> Path:
    """``ocf/astribank`` as installed, its ``twinstar`` a wrapper running the world-readable copy ``env`` names.

    ocf-tester runs the agent as nobody too, who may not reach the checkout
    or its virtual environment (root's home is mode 700).
    """
    sbindir = directory / "sbin"
    sbindir.mkdir()
    program = sbindir / "twinstar"
    program.write_text(f"#!/bin/sh\nPYTHONPATH='{env['PYTHONPATH']}' exec '{base_python()}' -m twinstar \"$@\"\n")
    program.chmod(0o755)
    agent = directory / "astribank"
    agent.write_text(substitute((REPO / "ocf" / "astribank").read_text(), {"@SBINDIR@": str(sbindir)}))
    agent.chmod(0o755)
    return agent


@pytest.fixture
def readable_copy() -> Iterator[dict[str, str]]:
    """twinstar and its dependencies copied where nobody can read them."""
    with readable_install() as env:
        yield env


@pytest.fixture
def world_readable() -> Iterator[Path]:
    """A directory user nobody can read (ocf-tester runs meta-data as nobody)."""
    path = Path(tempfile.mkdtemp(prefix="tspm-ocf-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@needs_tester
def test_ocf_tester_passes(world_readable: Path, readable_copy: dict[str, str]) -> None:
    sim_path = world_readable / "astribanks.json"
    sim.init_state(str(sim_path), units=2, port=0)
    with sim.update(str(sim_path)) as state:
        for u in state["units"]:
            u["power1"] = False
    site = Site(world_readable / "a", sim_path, port=0, units=2, node="pbx-a")
    config = site.configure()
    site.arrive_all()
    agent = render_agent(world_readable, readable_copy)
    with site.drivers:
        result = subprocess.run(
            [str(OCF_TESTER), "-n", "ts", "-o", f"config={config}", str(agent)],
            capture_output=True, text=True, timeout=300, env=clean_environ({"PYTHONPATH": str(REPO)}), cwd=REPO,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{agent} passed all tests" in result.stdout
    assert [u["port"] for u in site.units()] == [0, 0]
    assert site.registered() == [False, False] and site.spans() == [[0], [0]]
    assert "registered XBUS-00 with DAHDI" in site.drivers.done  # started at least once


@needs_tester
def test_meta_data_is_valid_against_the_ocf_dtd(world_readable: Path, readable_copy: dict[str, str]) -> None:
    agent = render_agent(world_readable, readable_copy)
    env = clean_environ({"PYTHONPATH": str(REPO)})
    meta = subprocess.run([str(agent), "meta-data"], capture_output=True, text=True, env=env, timeout=60)
    assert meta.returncode == 0, meta.stderr
    dtd = "/usr/share/resource-agents/ra-api-1.dtd"
    check = subprocess.run(["xmllint", "--noout", "--dtdvalid", dtd, "-"], input=meta.stdout, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    for name in ("config", "units"):
        assert f'<parameter name="{name}"' in meta.stdout
    for action in ("start", "stop", "monitor", "validate-all", "meta-data"):
        assert f'<action name="{action}"' in meta.stdout


def test_the_agent_reports_an_unknown_action_as_unimplemented(world_readable: Path, readable_copy: dict[str, str]) -> None:
    agent = render_agent(world_readable, readable_copy)
    env = clean_environ({"PYTHONPATH": str(REPO), "OCF_RESKEY_config": "/nonexistent/twinstar.yaml"})
    assert subprocess.run([str(agent), "migrate_to"], capture_output=True, env=env, timeout=60).returncode == 3
    probe = subprocess.run([str(agent), "monitor"], capture_output=True, text=True, env=env, timeout=60)
    assert probe.returncode == 7, probe.stderr  # a probe where twinstar is not configured: not running
    assert subprocess.run([str(agent), "start"], capture_output=True, env=env, timeout=60).returncode == 6
    assert os.access(agent, os.X_OK)


def test_the_agent_without_twinstar_installed_is_not_installed(world_readable: Path) -> None:
    agent = world_readable / "astribank"
    agent.write_text(substitute((REPO / "ocf" / "astribank").read_text(), {"@SBINDIR@": str(world_readable / "none")}))
    agent.chmod(0o755)
    result = subprocess.run([str(agent), "monitor"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 5 and "is not installed" in result.stderr
