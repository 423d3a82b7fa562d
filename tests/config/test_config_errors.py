"""Bad configuration: one-line error naming the problem and where, exit 2, no step runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import clean_environ, run_twinstar
from tests.support.commands import calls, command_steps_config, recorder_wrapper

GOOD_STEP = """  - command: {{name: s1, start: [{rec}, {calls}, start1], stop: [{rec}, {calls}, stop1]}}
"""


def _config(tmp: Path, body: str, *, steps: bool = True) -> Path:
    rec = recorder_wrapper(tmp)
    text = f"state_dir: {tmp / 'state'}\n" + body
    if steps:
        text += "takeover:\n" + GOOD_STEP.format(rec=rec, calls=tmp / "calls")
    path = tmp / "twinstar.yaml"
    path.write_text(text)
    path.chmod(0o644)
    return path


CASES = {
    "yaml syntax": ("node: [unclosed\n", False, r"twinstar.yaml:\d+: YAML syntax error"),
    "unknown key": ("nodee: a\n", True, r"twinstar.yaml:2: nodee: unknown key \(did you mean 'node'\?\)"),
    "wrong type": ("lock_timeout: soon\n", True, r"twinstar.yaml:2: lock_timeout: expected a number from 0 to 86400, found a string"),
    "nested unknown": ("astribanks: {xpp_ordr: /etc/x}\n", True, r"astribanks.xpp_ordr: unknown key \(did you mean 'xpp_order'\?\)"),
    "relative path": ("maintenance_file: etc/maint\n", True, r"maintenance_file: must be an absolute path"),
    "bad handoff": ("handoff: later\n", True, r"handoff: must be one of auto, systemd, spawn, inline"),
    "invalid cidr": ("takeover:\n  - ip: {address: 10.213.9.300/24, interface: eth0}\n", False, r"takeover\[0\].ip.address: invalid IPv4 address/prefix"),
    "bad prefix": ("takeover:\n  - ip: {address: 10.213.9.3/33, interface: eth0}\n", False, r"takeover\[0\].ip.address: invalid IPv4"),
    "no prefix": ("takeover:\n  - ip: {address: 10.213.9.3, interface: eth0}\n", False, r"expected an address with prefix length"),
    "interface too long": ("takeover:\n  - ip: {address: 10.213.9.3/24, interface: averyveryverylongname0}\n", False, r"longer than 15 characters"),
    "unknown step": ("takeover:\n  - servce: asterisk\n", False, r"takeover\[0\].servce: unknown step type \(did you mean 'service'\?\)"),
    "duplicate step": ("takeover:\n  - service: asterisk\n  - service: asterisk\n", False, r"takeover\[1\]: duplicate step service:asterisk"),
    "empty drain count line": ("switchover: {drain_count_line: ' '}\n", True, r"twinstar.yaml:2: switchover.drain_count_line: must not be empty"),
    "duplicate key": ("node: a\nnode: b\n", True, r"node: duplicate key"),
    "relative command": ("takeover:\n  - command: {name: x, start: [bin/x], stop: [/bin/true]}\n", False, r"must be an absolute path or a program name"),
    "missing key": ("takeover:\n  - drbd: {resource: r0, device: /dev/drbd0}\n", False, r"takeover\[0\].drbd.mountpoint: required key is missing"),
    # concurrent groups (docs/steps.md)
    "parallel empty": ("takeover:\n  - parallel: []\n", False, r"twinstar.yaml:3: takeover\[0\].parallel: a parallel group needs at least 2 steps, found no steps"),
    "parallel of one": ("takeover:\n  - parallel: [service: a]\n", False, r"twinstar.yaml:3: takeover\[0\].parallel: a parallel group needs at least 2 steps, found one step"),
    "parallel nested": (
        "takeover:\n  - parallel:\n    - service: a\n    - parallel: [service: b, service: c]\n", False, r"twinstar.yaml:5: takeover\[0\].parallel\[1\]: parallel groups cannot be nested"
    ),
    "parallel unknown step": (
        "takeover:\n  - parallel: [service: a, servce: b]\n", False, r"twinstar.yaml:3: takeover\[0\].parallel\[1\].servce: unknown step type \(did you mean 'service'\?\)"
    ),
    "parallel not a list": ("takeover:\n  - parallel: {service: a}\n", False, r"twinstar.yaml:3: takeover\[0\].parallel: expected a list of steps, found a mapping"),
    "parallel duplicate step": (
        "takeover:\n  - service: a\n  - parallel: [service: b, service: a]\n", False, r"takeover\[1\].parallel\[1\]: duplicate step service:a \(already takeover\[0\]\)"
    ),
    # the telephony keys (docs/telephony.md)
    "on_ready not a list": ("on_ready: /usr/bin/xpp_blink\n", True, r"twinstar.yaml:2: on_ready: expected a list of commands"),
    "on_ready empty command": ("on_ready: [[]]\n", True, r"twinstar.yaml:2: on_ready\[0\]: expected a command as a non-empty list"),
    "on_ready relative program": ("on_ready:\n  - [bin/blink]\n", True, r"twinstar.yaml:3: on_ready\[0\]\[0\]: must be an absolute path or a program name"),
    "on_ready_timeout 0": ("on_ready_timeout: 0\n", True, r"twinstar.yaml:2: on_ready_timeout: must be from 0.1 to 3600, found 0"),
    "asterisk module option": ("takeover:\n  - asterisk: {module: -h}\n", False, r"takeover\[0\].asterisk.module: invalid Asterisk module '-h'"),
    "asterisk module two words": (
        "takeover:\n  - asterisk: {module: 'chan_dahdi.so now'}\n", False, r"takeover\[0\].asterisk.module: invalid Asterisk module 'chan_dahdi.so now'"
    ),
    "asterisk argv empty": ("takeover:\n  - asterisk: {asterisk: []}\n", False, r"takeover\[0\].asterisk.asterisk: expected a command as a non-empty list"),
    "dahdi alarm_gate not a flag": ("takeover:\n  - dahdi: {alarm_gate: maybe}\n", False, r"takeover\[0\].dahdi.alarm_gate: expected true or false"),
    "dahdi alarm_timeout -1": ("takeover:\n  - dahdi: {alarm_timeout: -1}\n", False, r"takeover\[0\].dahdi.alarm_timeout: must be from 0 to 3600"),
    "dahdi span_assignments relative": (
        "takeover:\n  - dahdi: {span_assignments: [sbin/dahdi_span_assignments, add]}\n", False, r"span_assignments\[0\]: must be an absolute path or a program name"
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_configuration_is_exit_2_with_location(tmp_path: Path, case: str) -> None:
    import re

    body, steps, pattern = CASES[case]
    config = _config(tmp_path, body, steps=steps)
    for action in ("takeover", "release", "check"):
        result = run_twinstar(config, action)
        assert result.returncode == 2, (action, result.stdout, result.stderr)
        assert re.search(pattern, result.stderr), result.stderr
        assert result.stderr.strip().count("\n") == 0, "error must be one line"
        assert "Traceback" not in result.stderr
    assert calls(tmp_path) == []
    assert not (tmp_path / "state").exists()


def test_missing_configuration(tmp_path: Path) -> None:
    for action in ("takeover", "release", "check"):
        result = run_twinstar(tmp_path / "nope.yaml", action)
        assert result.returncode == 2, (action, result.stderr)
        assert result.stderr.startswith(f"twinstar: error: {tmp_path / 'nope.yaml'}: configuration file not found (")
        assert result.stderr.count("\n") == 1
    for action in ("online", "offline"):
        hook = _hook({"ACTION": action, "TWINSTAR_CONFIG": str(tmp_path / "nope.yaml")})
        assert hook.returncode == 2, hook.stderr
        assert hook.stderr.startswith(f"twinstar_hook: error: {tmp_path / 'nope.yaml'}: configuration file not found")


def test_nonexistent_program_is_exit_2_before_any_step(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 2)
    text = config.read_text().replace(f"[{tmp_path / 'recorder'}", "[/nonexistent/prog", 1)
    text = text.replace(f'["{tmp_path / "recorder"}"', '["/nonexistent/prog"', 1)
    config.write_text(text)
    assert "/nonexistent/prog" in text
    result = run_twinstar(config, "takeover")
    assert result.returncode == 2, result.stderr
    assert "/nonexistent/prog does not exist or is not executable" in result.stderr
    assert calls(tmp_path) == []
    check = run_twinstar(config, "check")
    assert check.returncode == 2
    assert "/nonexistent/prog" in check.stdout


def test_unknown_program_name_in_programs(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 1, extra="programs: {drbdadm: /nonexistent/drbdadm}\n")
    text = config.read_text() + "  - drbd: {resource: r0, device: /dev/drbd0, mountpoint: /replica}\n"
    config.write_text(text)
    result = run_twinstar(config, "takeover")
    assert result.returncode == 2, result.stderr
    assert "/nonexistent/drbdadm" in result.stderr
    assert calls(tmp_path) == []


@pytest.mark.privileged
@pytest.mark.parametrize("problem", ["group-writable", "world-writable", "not-root-owned"])
def test_insecure_configuration_file_is_refused_as_root(tmp_path: Path, problem: str) -> None:
    config = command_steps_config(tmp_path, 1)
    if problem == "group-writable":
        config.chmod(0o664)
    elif problem == "world-writable":
        config.chmod(0o646)
    else:
        os.chown(config, 65534, 65534)
    for action in ("takeover", "release", "check"):
        result = run_twinstar(config, action)
        assert result.returncode == 2, (action, result.stderr)
        assert "insecure configuration file" in result.stderr
        assert result.stderr.count("\n") == 1
    hook = _hook({"ACTION": "online", "TWINSTAR_CONFIG": str(config)})
    assert hook.returncode == 2 and "insecure configuration file" in hook.stderr
    assert calls(tmp_path) == []
    assert not (tmp_path / "state").exists()


def _hook(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    hook = Path(__file__).resolve().parents[2] / "hooks" / "twinstar_hook"
    return subprocess.run([sys.executable, str(hook)], env=clean_environ(env), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("content", [None, "", "usb:1\nusb:1\n"], ids=["missing", "empty", "duplicate"])
def test_bad_xpp_order_is_exit_2_before_any_step(tmp_path: Path, content: str | None) -> None:
    """The dahdi step's xpp_order is read before step 1 runs, not when the dahdi step comes."""
    config = command_steps_config(tmp_path, 1, extra="programs: {dahdi_cfg: /bin/true}\n")
    config.write_text(config.read_text() + "  - dahdi: {}\n")
    if content is not None:
        (tmp_path / "xpp_order").write_text(content)
    result = run_twinstar(config, "takeover")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"twinstar: error: {tmp_path / 'xpp_order'}")
    assert result.stderr.count("\n") == 1
    assert calls(tmp_path) == []
    assert not (tmp_path / "state").exists()
    # A release still takes down what it can.
    (tmp_path / "up-1").touch()
    release = run_twinstar(config, "release", "--json")
    assert release.returncode == 1
    assert calls(tmp_path) == ["stop1"]
