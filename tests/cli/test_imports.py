"""What ``twinstar --version`` and ``twinstar status`` import: each only what it uses, and neither click.

Start-up is most of these commands' time, so the sets are pinned like the
hook's (tests/hotplug/test_hook.py). Stand-ins: the USB simulator (a pyusb
backend) and the fake sysfs tree; no Astribank here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import clean_environ, run_twinstar
from tests.support.node import simulated_node

#: Run twinstar's command line, then print the modules it loaded.
CODE = (
    "import sys, runpy\n"
    "sys.argv = ['twinstar', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('twinstar', run_name='__main__')\n"
    "except SystemExit as exc:\n    code = exc.code\n"
    "print('MODULES', ' '.join(sorted(sys.modules)))\n"
    "sys.exit(code)\n"
)
#: Never needed to show a version or a status.
HEAVY = {"yaml", "pyudev", "twinstar.config.yamlread", "twinstar.config.reader", "twinstar.engine.runner",
         "twinstar.steps.base", "twinstar.daemon.loop", "importlib.metadata"}


def _modules(*args: str, env: dict[str, str] | None = None) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", CODE, *args], capture_output=True, text=True,
                          env=clean_environ(env), timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("MODULES ")]
    return set(line.split()[1:])


def test_version_is_answered_before_the_command_line_library_loads() -> None:
    loaded = _modules("--version")
    assert {m for m in loaded if m.split(".")[0] == "twinstar"} == {"twinstar", "twinstar.cli", "twinstar.cli.entry"}
    assert not loaded & (HEAVY | {"click", "logging", "usb", "twinstar.config"}), sorted(loaded & HEAVY)


def test_version_reads_as_click_writes_it_and_other_options_still_reach_click(tmp_path: Path) -> None:
    """The fast answer is the same text as the group's own ``--version`` (``-v --version`` goes through click)."""
    fast = run_twinstar(None, "--version")
    slow = run_twinstar(None, "-v", "--version")
    assert fast.returncode == slow.returncode == 0
    assert fast.stdout == slow.stdout == "twinstar, version " + _version() + "\n"


def _version() -> str:
    import twinstar

    return twinstar.__version__


def test_any_other_command_line_goes_to_the_group() -> None:
    assert {"click", "twinstar.cli.app"} <= _modules("--help")


@pytest.mark.parametrize("args", [
    ["status"], ["status", "--json"], ["status", "-v"], ["status", "--long"], ["status", "--device", "usb:001/002"],
    ["-x", "status", "-D", "usb:SIM00001", "--json"],
])
def test_status_imports_no_command_line_library_parser_engine_or_daemon(tmp_path: Path, args: list[str]) -> None:
    sim = tmp_path / "units.json"
    assert run_twinstar(None, "sim", "init", str(sim), "--units", "2").returncode == 0
    env = {"TWINSTAR_USB_SIMULATOR": str(sim), "TWINSTAR_USB_SIM_PORT": "0", "TWINSTAR_CONFIG": str(tmp_path / "none.yaml")}
    loaded = _modules(*args, env=env)
    assert "twinstar.cli.status" in loaded
    assert not loaded & (HEAVY | {"click", "twinstar.cli.app"}), sorted(loaded & (HEAVY | {"click"}))
    assert "twinstar.config" not in loaded  # no configuration file: its model is not needed for the USB table
    # A free unit lock needs no waiting: neither the engine's lock module nor the dataclasses and typing it loads.
    assert not loaded & {"twinstar.engine.lock", "dataclasses", "typing"}, sorted(loaded & {"dataclasses", "typing"})


def test_status_logs_nothing_so_needs_no_logging_set_up(tmp_path: Path) -> None:
    """Without click the group's ``log.setup`` does not run: no twinstar logger may exist on the status path."""
    node, env = simulated_node(tmp_path)
    code = CODE.replace("print('MODULES', ' '.join(sorted(sys.modules)))",
                        "import logging; print('LOGGERS', *sorted(logging.Logger.manager.loggerDict))")
    for args in (["status", "--json"], ["-v", "--config", str(node.config_path), "status", "-v"]):
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                              env=clean_environ(env), timeout=60)
        assert proc.returncode == 0, proc.stderr
        (line,) = [line for line in proc.stdout.splitlines() if line.startswith("LOGGERS")]
        assert not [name for name in line.split()[1:] if name.split(".")[0] == "twinstar"], line


def test_status_on_a_configured_node_imports_no_command_line_library_or_yaml(tmp_path: Path) -> None:
    """The configuration comes from its compiled cache (a first run writes it), not from PyYAML."""
    node, env = simulated_node(tmp_path)
    node.cache_dir.mkdir(mode=0o700)  # the compiled configuration's place (the hook's cache)
    _modules("--config", str(node.config_path), "status", "-v", env=env)
    loaded = _modules("--config", str(node.config_path), "status", "-v", env=env)
    assert "twinstar.config" in loaded
    assert not loaded & (HEAVY | {"click"}), sorted(loaded & (HEAVY | {"click"}))
