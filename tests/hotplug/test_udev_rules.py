"""The rules file, checked by the real ``udevadm test`` in a private mount namespace.

``udevadm`` exits 0 even when a rules file has errors; it reports them as
``FILE:LINE message`` lines, which is what these tests look for. The host's
/etc/udev/rules.d and /run/udev are untouched: both are mounted over inside
the namespace only.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.node import REPO

RULES = REPO / "udev" / "xpp_twinstar.rules"

SCRIPT = (
    "set -e; mount --bind \"$1\" /etc/udev/rules.d; "
    "if [ -d /run/udev ]; then mount -t tmpfs tmpfs /run/udev; else mount -t tmpfs tmpfs /run; mkdir /run/udev; fi; "
    "udevadm test --action=add /sys/class/net/lo"
)


def _udevadm_test(rules_dir: Path) -> str:
    if shutil.which("udevadm") is None or shutil.which("unshare") is None:
        pytest.fail("udevadm and unshare are needed (Debian packages udev and util-linux)")
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", SCRIPT, "sh", str(rules_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def _errors(output: str, name: str) -> list[str]:
    return [line for line in output.splitlines() if f"{name}:" in line]


@pytest.mark.privileged
@pytest.mark.parametrize("hookdir", ["@HOOKDIR@", "/usr/local/lib/twinstar/hooks"])
def test_rules_file_has_no_errors(tmp_path: Path, hookdir: str) -> None:
    (tmp_path / RULES.name).write_text(RULES.read_text().replace("@HOOKDIR@", hookdir))
    output = _udevadm_test(tmp_path)
    assert f"Reading rules file: /etc/udev/rules.d/{RULES.name}" in output
    assert _errors(output, RULES.name) == []
    assert "atribank_hook" not in output  # a net device never reaches the hook


@pytest.mark.privileged
def test_broken_copy_is_detected(tmp_path: Path) -> None:
    broken = RULES.read_text().replace('RUN+="', 'RUNN+="').replace('KERNEL!="xbus*"', 'KERNEL!="xbus*')
    (tmp_path / RULES.name).write_text(broken)
    errors = _errors(_udevadm_test(tmp_path), RULES.name)
    assert any("Invalid key 'RUNN'" in e for e in errors), errors
    assert len(errors) >= 2


def test_rule_filters_actions_subsystem_and_kernel_name() -> None:
    rules = [line for line in RULES.read_text().splitlines() if line and not line.startswith("#")]
    assert 'ACTION!="add|online|offline|remove", GOTO="twinstar_end"' in rules
    assert 'SUBSYSTEM!="astribanks", GOTO="twinstar_end"' in rules
    assert 'KERNEL!="xbus*", GOTO="twinstar_end"' in rules
    assert 'RUN+="@HOOKDIR@/atribank_hook"' in rules
    assert rules[-1] == 'LABEL="twinstar_end"'


#: dahdi-tools' hook rule (xpp/xpp.rules), verbatim.
XPP_RULE = 'KERNEL=="xbus*", RUN+="%E{XPP_INIT_DIR}/astribank_hook udev $kernel $sysfs{status} $sysfs{connector}"\n'

#: An xbus device in a tmpfs mounted over /sys inside the namespace; SYSTEMD_DEVICE_VERIFY_SYSFS=0
#: lets udevadm accept it (no xpp driver, no Astribank on this machine).
XBUS_SCRIPT = (
    'set -e; mount --bind "$1" /etc/udev/rules.d; '
    "if [ -d /run/udev ]; then mount -t tmpfs tmpfs /run/udev; else mount -t tmpfs tmpfs /run; mkdir /run/udev; fi; "
    "mount -t tmpfs tmpfs /sys; mkdir -p /sys/devices/xbus-00 /sys/bus/astribanks; "
    "ln -s ../../bus/astribanks /sys/devices/xbus-00/subsystem; "
    'cp "$2" /sys/devices/xbus-00/uevent; echo connected > /sys/devices/xbus-00/status; '
    "echo usb-0000:00:1d.7-1 > /sys/devices/xbus-00/connector; shift 2; "
    'for action in "$@"; do echo "@@xbus-event $action"; '
    'SYSTEMD_DEVICE_VERIFY_SYSFS=0 udevadm test --action="$action" /sys/devices/xbus-00 2>&1; done'
)
ACTIONS = ("add", "online", "offline", "remove", "bind", "change")


def _xbus_events(rules_dir: Path, initdir: Path, tmp_path: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """For each action: the RUN commands udevadm test lists for xbus-00, in order, and the event's properties."""
    uevent = tmp_path / "uevent"
    uevent.write_text(f"XBUS_NUM=00\nXBUS_NAME=XBUS-00\nXPP_INIT_DIR={initdir}\n")
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", XBUS_SCRIPT, "sh", str(rules_dir), str(uevent), *ACTIONS],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = {}
    for section in proc.stdout.split("@@xbus-event ")[1:]:
        action, _, body = section.partition("\n")
        runs = [line[len("run: '"):-1] for line in body.splitlines() if line.startswith("run: '")]
        props = dict(line.split("=", 1) for line in body.splitlines() if re.fullmatch(r"[A-Z_]+=.*", line))
        assert props.get("ACTION") == action and props.get("SUBSYSTEM") == "astribanks", body
        events[action] = (runs, props)
    assert set(events) == set(ACTIONS)
    return events


@pytest.mark.privileged
def test_exactly_one_hook_acts_beside_dahdi_tools_xpp_rules(tmp_path: Path) -> None:
    """udevadm test with dahdi-tools' xpp.rules and twinstar's rule, then every listed RUN run as udev would.

    Stand-ins, as neither dahdi-tools nor an Astribank is on this machine: the
    two hooks record that they acted. dahdi-tools' stand-in keeps the
    original's gate verbatim (source init.conf, exit 0 unless
    XPP_HOTPLUG_DAHDI=yes); twinstar's real hook is tested in test_hook.py.
    init.conf is turned off by the code ``make install`` runs.
    """
    import shlex
    import stat

    from twinstar.ops import dahdihook

    log, conf = tmp_path / "acted", tmp_path / "init.conf"
    initdir, hookdir, rules = tmp_path / "share-dahdi", tmp_path / "hooks", tmp_path / "rules.d"
    for d in (initdir, hookdir, rules):
        d.mkdir()
    hooks = {
        initdir / "astribank_hook": (
            f'#!/bin/sh\n[ -r {conf} ] && . {conf}\nif [ "$XPP_HOTPLUG_DAHDI" != yes ]; then\n\texit 0\nfi\n'
            f'echo "astribank_hook $ACTION" >> {log}\n'
        ),
        hookdir / "atribank_hook": f'#!/bin/sh\necho "atribank_hook $ACTION" >> {log}\n',
    }
    for path, text in hooks.items():
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    (rules / "xpp.rules").write_text(XPP_RULE)
    (rules / RULES.name).write_text(RULES.read_text().replace("@HOOKDIR@", str(hookdir)))
    conf.write_text("XPP_HOTPLUG_DAHDI=yes\n")

    events = _xbus_events(rules, initdir, tmp_path)
    for action, (runs, _props) in events.items():
        ours = [f"{hookdir}/atribank_hook"] if action in ("add", "online", "offline", "remove") else []
        # xpp.rules is read first ('.' sorts before '_'), so its RUN comes first.
        assert runs == [f"{initdir}/astribank_hook udev xbus-00 connected usb-0000:00:1d.7-1", *ours], action

    def acted() -> dict[str, list[str]]:
        log.unlink(missing_ok=True)
        for runs, props in events.values():
            for command in runs:
                subprocess.run(shlex.split(command), env={**props, "PATH": "/usr/bin:/bin"}, check=True, timeout=30)
        lines = log.read_text().splitlines() if log.exists() else []
        return {action: [line.split()[0] for line in lines if line.split()[1] == action] for action in ACTIONS}

    both = acted()
    assert both["online"] == ["astribank_hook", "atribank_hook"]  # dahdi-tools' hook on: two act
    dahdihook.turn_off(str(conf))
    assert acted() == {
        "add": ["atribank_hook"], "online": ["atribank_hook"], "offline": ["atribank_hook"],
        "remove": ["atribank_hook"], "bind": [], "change": [],
    }
    assert dahdihook.restore(str(conf))
    assert acted()["remove"] == ["astribank_hook", "atribank_hook"]
