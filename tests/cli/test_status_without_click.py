"""``twinstar status`` without click: the same command line read the same way, the same output, byte for byte.

The plain command lines are parsed by :func:`twinstar.cli.options.parse`; each
run here is compared with the click group's own run of the same command line
(exit status, stdout and stderr). Stand-ins: the USB simulator (a pyusb
backend) and the fake sysfs tree; no Astribank here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.cli.test_imports import CODE
from tests.support.cli import REPO, clean_environ, run_twinstar
from tests.support.node import simulated_node
from twinstar.cli.app import main
from twinstar.cli.options import GROUP, STATUS, Option, parse
from twinstar.cli.usb import status_command

#: The click group itself, without the entry's fast paths.
GROUP_RUN = "from twinstar.cli.app import main; main(prog_name='twinstar')"


# --- the parser --------------------------------------------------------------------------------


def test_plain_status_command_lines_are_read() -> None:
    top, rest = parse(["-c", "a.yaml", "-v", "-x", "status", "--json"], GROUP) or ({}, [])
    assert top == {"config_path": "a.yaml", "verbose": True, "_x": True} and rest == ["status", "--json"]
    assert parse(["--config=b", "--config", "c", "status"], GROUP) == (
        {"config_path": "c", "verbose": False, "_x": False}, ["status"])
    assert parse(["-Dusb:001/002", "--device", "x", "--device=", "-v", "--long", "--json"], STATUS) == (
        {"devices": ("usb:001/002", "x", ""), "long": True, "as_json": True}, [])
    assert parse(["-cstatus", "status"], GROUP) == ({"config_path": "status", "verbose": False, "_x": False}, ["status"])


@pytest.mark.parametrize("args", [
    ["--help"], ["-h"], ["--"], ["-vx"], ["--json=1"], ["--device"], ["-D"], ["--bogus"], ["--dev", "x"], ["-q"],
])
def test_anything_else_is_left_to_click(args: list[str]) -> None:
    assert parse(args, STATUS) is None


def _click_reads(command: click.Command, options: tuple[Option, ...], args: list[str]) -> tuple[dict[str, object], list[str]]:
    opts, rest, _order = command.make_parser(click.Context(command)).parse_args(list(args))
    values = {o.dest: (tuple(opts[o.dest]) if o.multiple else opts[o.dest]) if o.dest in opts else o.initial()
              for o in options}
    return values, rest


TOKENS = ["--config", "-c", "--config=a", "-cb", "-v", "--verbose", "-x", "-vx", "status", "--json", "--long",
          "-D", "--device", "--device=usb:001/002", "-Dd", "--", "-", "a", "", "--json=1", "-h", "--help",
          "--bogus", "-D=x", "--conf", "-"]


@given(st.lists(st.sampled_from(TOKENS), max_size=7))
def test_what_the_parser_accepts_click_reads_the_same(args: list[str]) -> None:
    group = parse(args, GROUP)
    if group is not None:
        assert _click_reads(main, GROUP, args) == group
    command = parse(args, STATUS)
    if command is not None and not command[1]:
        assert _click_reads(status_command, STATUS, args) == command


# --- whole runs, beside the click group's -----------------------------------------------------


def _both(args: list[str], env: dict[str, str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run ``twinstar ARGS`` (asserting it loaded no click) and the click group; both must end alike."""
    full = clean_environ(env)
    fast = subprocess.run([sys.executable, "-c", CODE, *args], capture_output=True, text=True, env=full, cwd=cwd,
                          timeout=60)
    out, _, listing = fast.stdout.rpartition("MODULES ")
    assert "click" not in listing.split(), f"{args}: click was loaded"
    slow = subprocess.run([sys.executable, "-c", GROUP_RUN, *args], capture_output=True, text=True, env=full,
                          cwd=cwd, timeout=60)
    assert (fast.returncode, out, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr), args
    return slow


@pytest.fixture
def units(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Four simulated units: 3 not TwinStar-capable, 4 timing out; no configuration file."""
    sim = tmp_path / "units.json"
    assert run_twinstar(None, "sim", "init", str(sim), "--units", "4").returncode == 0
    assert run_twinstar(None, "sim", "set", str(sim), "3", "twinstar=off").returncode == 0
    env = {"TWINSTAR_USB_SIMULATOR": str(sim), "TWINSTAR_USB_SIM_PORT": "0", "TWINSTAR_CONFIG": str(tmp_path / "none.yaml")}
    return sim, env


@pytest.mark.parametrize("args", [
    ["status"], ["status", "--json"], ["status", "-v"], ["status", "--long"], ["-x", "status"], ["-v", "status"],
    ["status", "-D", "usb:001/003"], ["status", "--device=usb:SIM00002", "-Dusb:001/002", "-v"],
    ["status", "-D", "usb:001/004", "--json"],
])
def test_status_reads_as_the_click_group_writes_it(units: tuple[Path, dict[str, str]], args: list[str]) -> None:
    assert _both(args, units[1]).returncode == 0


def test_an_unreadable_unit_and_bad_input_end_alike(units: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    sim, env = units
    assert run_twinstar(None, "sim", "set", str(sim), "4", "timeout=on").returncode == 0
    for args in (["status"], ["status", "-v"], ["status", "--json"]):
        assert _both(args, env).returncode == 1
    assert _both(["status", "-D", "nope"], env).returncode == 2
    assert _both(["status", "-D", "usb:SIM00004"], env).returncode == 1
    sim.write_text("{not json")
    assert _both(["status"], env).returncode == 2
    missing = str(tmp_path / "missing.yaml")
    assert _both(["--config", missing, "status"], {k: v for k, v in env.items() if k != "TWINSTAR_USB_SIMULATOR"}).returncode == 2


def test_a_configured_node_reads_alike(tmp_path: Path) -> None:
    node, env = simulated_node(tmp_path)
    node.arrive(0)
    for args in (["status"], ["status", "-v"], ["status", "--json"]):
        assert _both(["--config", str(node.config_path), *args], env).returncode == 0
    assert _both([f"--config={node.config_path}", "status", "--long"], env).returncode == 0
    assert _both(["-c", "twinstar.yaml", "status"], env, cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("args", [["status", "--help"], ["status", "--bogus"], ["status", "extra"], ["status", "--json=1"]])
def test_other_status_command_lines_go_to_click(units: tuple[Path, dict[str, str]], args: list[str]) -> None:
    r = run_twinstar(None, *args, env=units[1])
    slow = subprocess.run([sys.executable, "-c", GROUP_RUN, *args], capture_output=True, text=True,
                          env=clean_environ(units[1]), cwd=REPO, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    assert r.returncode == (0 if "--help" in args else 2)
