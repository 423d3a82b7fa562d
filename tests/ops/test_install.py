"""``make install`` / ``make uninstall``, the installed units and rule, ``twinstar check``.

Real parts throughout: make, python -m venv and pip (dependencies come from
the configured package index, as for an operator), ``systemd-analyze verify``
on the installed units, ``udevadm test`` on the installed rule inside a
private mount namespace (design.md), and the installed ``twinstar`` program.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

UNITS = ("twinstar.service", "twinstar-takeover.service", "twinstar-release.service", "twinstar-prepared.service",
         "twinstar-policy.service")  # fmt: skip
RULE = "xpp_twinstar.rules"


def make(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["make", "-C", str(REPO), *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def tree(root: Path) -> set[str]:
    return {"/" + str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One ``make install DESTDIR=... PREFIX=/usr`` shared by the layout tests."""
    root = tmp_path_factory.mktemp("destdir")
    make("install", f"DESTDIR={root}", "PREFIX=/usr")
    yield root
    if (root / "usr/lib/twinstar/install-manifest.json").exists():
        make("uninstall", f"DESTDIR={root}", "PREFIX=/usr")


def test_destdir_install_lays_out_the_expected_tree(staged: Path) -> None:
    paths = tree(staged)
    for expected in (
        "/usr/sbin/twinstar",
        "/usr/lib/twinstar/bin/python3",
        "/usr/lib/twinstar/bin/twinstar",
        "/usr/lib/twinstar/hooks/atribank_hook",
        "/usr/lib/twinstar/hooks/twinstar_hook",
        "/usr/lib/twinstar/install-manifest.json",
        f"/etc/udev/rules.d/{RULE}",
        "/etc/twinstar/twinstar.yaml",
        "/usr/lib/ocf/resource.d/twinstar/astribank",
        *(f"/etc/systemd/system/{u}" for u in UNITS),
    ):
        assert expected in paths, expected
    agent = staged / "usr/lib/ocf/resource.d/twinstar/astribank"
    assert stat.S_IMODE(agent.stat().st_mode) == 0o755
    assert 'twinstar="/usr/sbin/twinstar"' in agent.read_text()
    assert os.readlink(staged / "usr/sbin/twinstar") == "../lib/twinstar/bin/twinstar"
    assert (staged / "usr/sbin/twinstar").resolve().exists()
    for hook, flags in (("atribank_hook", " -IS"), ("twinstar_hook", "")):
        path = staged / "usr/lib/twinstar/hooks" / hook
        assert path.stat().st_mode & 0o111
        assert path.read_text().splitlines()[0] == "#!/usr/lib/twinstar/bin/python3" + flags
    site = f"/usr/lib/twinstar/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
    assert f"\nPACKAGE_DIR = {site!r}\n" in (staged / "usr/lib/twinstar/hooks/atribank_hook").read_text()
    assert (staged / site.lstrip("/") / "twinstar/cli/atribank_hook.py").is_file()
    rule = (staged / f"etc/udev/rules.d/{RULE}").read_text()
    assert 'RUN+="/usr/lib/twinstar/hooks/atribank_hook"' in rule
    for unit in UNITS:
        text = (staged / "etc/systemd/system" / unit).read_text()
        assert re.search(r"^ExecStart=/usr/sbin/twinstar \w+( --follow-up| --prepared)?$", text, re.M), unit
        assert "@" not in text.replace("%I", "")
    config = staged / "etc/twinstar/twinstar.yaml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert config.read_bytes() == (REPO / "examples/twinstar.yaml").read_bytes()
    # Nothing installed still names the staging directory.
    for sub in ("usr/lib/twinstar/bin", "usr/lib/twinstar/hooks", "etc"):
        for path in (staged / sub).rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert str(staged).encode() not in path.read_bytes(), path
    manifest = json.loads((staged / "usr/lib/twinstar/install-manifest.json").read_text())
    assert manifest["files"]["/etc/twinstar/twinstar.yaml"]["kind"] == "config"
    assert all(p.startswith("/") and not p.startswith(str(staged)) for p in manifest["files"])


def test_install_never_overwrites_an_existing_configuration(staged: Path) -> None:
    config = staged / "etc/twinstar/twinstar.yaml"
    config.write_text("node: edited\ntakeover: []\n")
    make("install", f"DESTDIR={staged}", "PREFIX=/usr")
    assert config.read_text() == "node: edited\ntakeover: []\n"
    # uninstall keeps a configuration changed since installation, and removes everything else
    make("uninstall", f"DESTDIR={staged}", "PREFIX=/usr")
    assert tree(staged) == {"/etc", "/etc/twinstar", "/etc/twinstar/twinstar.yaml"}


def test_uninstall_removes_exactly_what_was_installed(tmp_path: Path) -> None:
    (tmp_path / "etc/udev/rules.d").mkdir(parents=True)
    (tmp_path / "etc/udev/rules.d/50-other.rules").write_text("# someone else's\n")
    before = tree(tmp_path)
    make("install", f"DESTDIR={tmp_path}", "PREFIX=/usr")
    assert f"/etc/udev/rules.d/{RULE}" in tree(tmp_path)
    make("uninstall", f"DESTDIR={tmp_path}", "PREFIX=/usr")
    assert tree(tmp_path) == before


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An installation at its final place (no DESTDIR) below a temporary prefix, so it runs."""
    root = tmp_path_factory.mktemp("prefix")
    args = (f"PREFIX={root}/usr", f"SYSCONFDIR={root}/etc")
    make("install", *args)
    yield root
    make("uninstall", *args)
    assert tree(root) == set()


def test_systemd_analyze_verify_is_silent_on_every_installed_unit(installed: Path) -> None:
    units = [str(installed / "etc/systemd/system" / u) for u in UNITS]
    for unit in [*units, str(installed / "etc/systemd/system/twinstar-rearm@.service")]:
        if unit.endswith("@.service"):
            # A template is verified through an instance (the hook's BUS-DEV form).
            link = Path(unit).with_name("twinstar-rearm@001-002.service")
            link.symlink_to(Path(unit).name)
            unit = str(link)
        try:
            result = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True, timeout=120)
        finally:
            if unit.endswith("@001-002.service"):
                os.unlink(unit)
        assert result.returncode == 0 and result.stderr == "", (unit, result.stderr)


def test_installed_program_and_hooks_run(installed: Path) -> None:
    twinstar = installed / "usr/sbin/twinstar"
    out = subprocess.run([str(twinstar), "daemon", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "event loop" in out.stdout
    hook = installed / "usr/lib/twinstar/hooks/atribank_hook"
    env = {"PATH": "/usr/bin:/bin", "TWINSTAR_CONFIG": str(installed / "missing.yaml")}
    result = subprocess.run([str(hook)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and "ACTION" in result.stderr  # ran the installed code: no ACTION given


def test_udev_rule_check_passes_on_the_installed_copy(installed: Path, tmp_path: Path) -> None:
    rules = installed / "etc/udev/rules.d"
    hook = re.search(r'RUN\+="([^"]+)"', (rules / RULE).read_text())
    assert hook and os.access(hook.group(1), os.X_OK)
    assert udevadm_errors(rules) == []
    broken = tmp_path / "broken-rules"
    broken.mkdir()
    (broken / RULE).write_text((rules / RULE).read_text() + 'ACTION=="add", BOGUS{x}="y"\n')
    assert udevadm_errors(broken), "a broken rules file must be detected"


def udevadm_errors(rules_dir: Path) -> list[str]:
    """``FILE:LINE`` lines that udevadm test prints for our rules file (it exits 0 on errors)."""
    if os.geteuid() != 0:
        pytest.skip("udevadm test in a mount namespace needs root")
    script = 'mount --bind "$1" /etc/udev/rules.d && mount -t tmpfs tmpfs /run && mkdir -p /run/udev && exec udevadm test --action=add /sys/class/net/lo'
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(rules_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"Reading rules file: /etc/udev/rules.d/{RULE}" in result.stdout + result.stderr
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith(f"/etc/udev/rules.d/{RULE}:")]


def test_twinstar_check_reports_missing_and_changed_installed_files(installed: Path, tmp_path: Path) -> None:
    config = tmp_path / "check.yaml"
    config.write_text(f"node: t\nstate_dir: {tmp_path}/state\ntakeover: [{{command: {{name: noop, start: [/bin/true], stop: [/bin/true]}}}}]\n")
    twinstar = str(installed / "usr/sbin/twinstar")

    def findings() -> dict[str, tuple[str, str]]:
        out = subprocess.run([twinstar, "--config", str(config), "check", "--json"], capture_output=True, text=True, timeout=60)
        data = json.loads(out.stdout)
        return {f["subject"]: (f["level"], f["message"]) for f in data["findings"]}

    unit = installed / "etc/systemd/system/twinstar.service"
    rule = installed / f"etc/udev/rules.d/{RULE}"
    got = findings()
    assert got[f"unit {unit}"] == ("ok", "installed")
    assert got[f"udev-rule {rule}"] == ("ok", "installed")
    original = unit.read_text()
    unit.write_text(original.replace("WatchdogSec=60s", "WatchdogSec=5s"))
    rule_text = rule.read_text()
    rule.unlink()
    try:
        got = findings()
        assert got[f"unit {unit}"][0] == "warning" and "changed since make install" in got[f"unit {unit}"][1]
        assert got[f"udev-rule {rule}"] == ("error", "missing: run make install")
    finally:
        unit.write_text(original)
        rule.write_text(rule_text)


def test_check_compares_the_installation_with_a_source_tree(installed: Path, tmp_path: Path) -> None:
    """An installation made from older sources (same version number) is reported out of date."""
    import shutil

    from twinstar.ops.findings import Level
    from twinstar.ops.installation import MANIFEST
    from twinstar.ops.installcheck import check_installed

    manifest = installed / "usr/lib/twinstar" / MANIFEST
    takeover = installed / "etc/systemd/system/twinstar-takeover.service"

    def levels(source: Path) -> dict[str, Level]:
        return {f.subject: f.level for f in check_installed(str(manifest), version=None, source=str(source))}

    same = levels(REPO)
    assert same and all(level is Level.OK for level in same.values()), same
    newer = tmp_path / "newer"
    for sub in ("udev", "systemd", "hooks"):
        shutil.copytree(REPO / sub, newer / sub)
    unit = newer / "systemd" / takeover.name
    unit.write_text(unit.read_text().replace("TimeoutStartSec=20min", "TimeoutStartSec=30min"))
    findings = {f.subject: f for f in check_installed(str(manifest), version=None, source=str(newer))}
    assert findings[f"unit {takeover}"].level is Level.WARNING
    assert "out of date: differs from what" in findings[f"unit {takeover}"].message
    assert [s for s, f in findings.items() if f.level is not Level.OK] == [f"unit {takeover}"]


def test_check_reports_files_an_older_installation_lacks(installed: Path, tmp_path: Path) -> None:
    """An installation from before the re-arm unit existed: its manifest and tree lack it."""
    from twinstar.ops.findings import Level
    from twinstar.ops.installation import MANIFEST
    from twinstar.ops.installcheck import check_installed

    data = json.loads((installed / "usr/lib/twinstar" / MANIFEST).read_text())
    rearm = str(installed / "etc/systemd/system/twinstar-rearm@.service")
    del data["files"][rearm]
    older = tmp_path / MANIFEST
    older.write_text(json.dumps(data))
    findings = {f.subject: f for f in check_installed(str(older), version=None, source=None)}
    assert findings[f"unit {rearm}"].level is Level.ERROR
    assert "not installed (the installation predates this twinstar)" in findings[f"unit {rearm}"].message
    assert [s for s, f in findings.items() if f.level is not Level.OK] == [f"unit {rearm}"]


def test_install_creates_a_new_destdir_and_messages_name_the_staged_paths(tmp_path: Path) -> None:
    destdir = tmp_path / "some/new/dir"  # neither it nor its parent exists yet
    result = make("install", f"DESTDIR={destdir}", "PREFIX=/usr")
    assert f"install: {destdir}/etc/twinstar/twinstar.yaml installed from examples/twinstar.yaml" in result.stdout
    assert f"{destdir}/usr/lib/twinstar/install-manifest.json" in result.stdout
    assert (destdir / "usr/sbin/twinstar").resolve().exists()
    (destdir / "etc/twinstar/twinstar.yaml").write_text("node: edited\n")
    result = make("uninstall", f"DESTDIR={destdir}", "PREFIX=/usr")
    kept = sorted(line for line in result.stdout.splitlines() if line.startswith("uninstall: kept"))
    assert kept == [
        f"uninstall: kept {destdir}/etc/ (not empty)",
        f"uninstall: kept {destdir}/etc/twinstar/ (not empty)",
        f"uninstall: kept {destdir}/etc/twinstar/twinstar.yaml (changed since installation)",
    ]
    assert tree(destdir) == {"/etc", "/etc/twinstar", "/etc/twinstar/twinstar.yaml"}


#: dahdi-tools' hook rule (xpp/xpp.rules), verbatim.
XPP_RULE = 'KERNEL=="xbus*", RUN+="%E{XPP_INIT_DIR}/astribank_hook udev $kernel $sysfs{status} $sysfs{connector}"\n'
INIT_CONF = b"# /etc/dahdi/init.conf\nXPP_HOTPLUG_DAHDI=yes\nASTERISK_SUPPORTS_DAHDI_HOTPLUG=yes\n"


def test_install_turns_dahdi_tools_hook_off_and_uninstall_turns_it_back_on(tmp_path: Path) -> None:
    """dahdi-tools installed (its xpp.rules in /usr/lib/udev/rules.d, hotplug on): after make install one hook acts."""
    from twinstar.ops import dahdihook

    (tmp_path / "usr/lib/udev/rules.d").mkdir(parents=True)
    (tmp_path / "usr/lib/udev/rules.d/xpp.rules").write_text(XPP_RULE)
    conf = tmp_path / "etc/dahdi/init.conf"
    conf.parent.mkdir(parents=True)
    conf.write_bytes(INIT_CONF)
    before = tree(tmp_path)

    def hooks() -> dahdihook.Hooks:
        dirs = dahdihook.rules_dirs("/etc/udev/rules.d")
        return dahdihook.assess(dirs, "/etc/dahdi/init.conf", staged=lambda p: str(tmp_path) + p)

    assert hooks().acting == 1 and hooks().original_acts
    result = make("install", f"DESTDIR={tmp_path}", "PREFIX=/usr")
    assert f"appended XPP_HOTPLUG_DAHDI=no to {conf} (make uninstall takes it out again)" in result.stdout
    after = hooks()
    assert after.acting == 1 and not after.original_acts
    assert after.twinstar_rules == [f"/etc/udev/rules.d/{RULE}"]
    assert conf.read_bytes().startswith(INIT_CONF) and conf.read_bytes().endswith(b"\nXPP_HOTPLUG_DAHDI=no\n")
    manifest = json.loads((tmp_path / "usr/lib/twinstar/install-manifest.json").read_text())
    assert manifest["edits"] == ["/etc/dahdi/init.conf"]
    result = make("uninstall", f"DESTDIR={tmp_path}", "PREFIX=/usr")
    assert f"uninstall: took XPP_HOTPLUG_DAHDI=no out of {conf} again" in result.stdout
    assert conf.read_bytes() == INIT_CONF
    assert tree(tmp_path) == before


def test_check_reports_a_host_where_both_hooks_act(installed: Path) -> None:
    """The installed twinstar check, with dahdi-tools' rule and init.conf (hotplug on) beside the installation."""
    rules = installed / "etc/udev/rules.d"
    xpp = rules / "xpp.rules"
    conf = installed / "etc/dahdi/init.conf"
    conf.parent.mkdir()
    twinstar = str(installed / "usr/sbin/twinstar")
    config = installed / "check.yaml"
    config.write_text(f"node: t\nstate_dir: {installed}/state\ntakeover: [{{command: {{name: noop, start: [/bin/true], stop: [/bin/true]}}}}]\n")

    def finding() -> tuple[str, str]:
        out = subprocess.run([twinstar, "--config", str(config), "check", "--json"], capture_output=True, text=True, timeout=60)
        found = {f["subject"]: (f["level"], f["message"]) for f in json.loads(out.stdout)["findings"]}
        return found["xbus hooks"]

    try:
        assert finding()[0] == "ok"
        xpp.write_text(XPP_RULE)
        conf.write_bytes(INIT_CONF)
        level, message = finding()
        assert level == "error"
        assert message.startswith(f"two hooks act on every xbus event: dahdi-tools' astribank_hook ({xpp}) acts: XPP_HOTPLUG_DAHDI=yes in {conf}")
        assert f"twinstar's atribank_hook ({rules / RULE})" in message
        conf.write_bytes(INIT_CONF + b"XPP_HOTPLUG_DAHDI=no\n")
        level, message = finding()
        assert level == "ok" and "is off: XPP_HOTPLUG_DAHDI is 'no'" in message
    finally:
        for path in (xpp, conf, config):
            path.unlink(missing_ok=True)
        conf.parent.rmdir()
