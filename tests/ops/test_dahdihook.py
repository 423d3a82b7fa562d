"""dahdi-tools' astribank_hook beside twinstar's atribank_hook: reading rules and init.conf, turning it off and back.

Real files in a temporary directory; the rule line is dahdi-tools' own
(xpp/xpp.rules), the init.conf lines are as dahdi-tools ships and operators write them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from twinstar.ops import dahdihook
from twinstar.ops.installation import Installer, Layout, Manifest, sha256

#: The hook rule of dahdi-tools' xpp.rules, verbatim.
XPP_RULE = 'KERNEL=="xbus*", RUN+="%E{XPP_INIT_DIR}/astribank_hook udev $kernel $sysfs{status} $sysfs{connector}"\n'
TWINSTAR_RULE = 'RUN+="/usr/lib/twinstar/hooks/atribank_hook"\n'


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("XPP_HOTPLUG_DAHDI=yes\n", "yes"),
        ("#XPP_HOTPLUG_DAHDI=yes\n", None),
        ("XPP_HOTPLUG_DAHDI=yes\nXPP_HOTPLUG_DAHDI=no\n", "no"),
        ('export XPP_HOTPLUG_DAHDI="yes"  # hotplug\n', "yes"),
        ("  XPP_HOTPLUG_DAHDI='no'\n", "no"),
        ("XPP_HOTPLUG_DAHDI_X=yes\nASTERISK_SUPPORTS_DAHDI_HOTPLUG=yes\n", None),
        ("", None),
    ],
)
def test_the_last_plain_assignment_wins(text: str, value: str | None) -> None:
    assert dahdihook.hotplug_setting(text) == value


def test_rules_that_run_each_hook_are_found() -> None:
    assert dahdihook.runs_hook(XPP_RULE, "astribank_hook")
    assert not dahdihook.runs_hook(XPP_RULE, "atribank_hook")
    assert dahdihook.runs_hook(TWINSTAR_RULE, "atribank_hook")
    assert not dahdihook.runs_hook(TWINSTAR_RULE, "astribank_hook")
    assert not dahdihook.runs_hook("# " + XPP_RULE, "astribank_hook")
    continued = 'KERNEL=="xbus*", \\\n\tRUN+="/usr/share/dahdi/astribank_hook"\n'
    assert dahdihook.runs_hook(continued, "astribank_hook")
    assert not dahdihook.runs_hook('RUN+="/usr/share/dahdi/astribank_hook.sample"\n', "astribank_hook")


def test_udev_order_and_a_name_in_etc_hiding_the_same_name_below(tmp_path: Path) -> None:
    etc, lib = tmp_path / "etc", tmp_path / "lib"
    etc.mkdir()
    lib.mkdir()
    (lib / "xpp.rules").write_text(XPP_RULE)
    (etc / "xpp_twinstar.rules").write_text(TWINSTAR_RULE)
    (lib / "60-other.rules").write_text("")
    (etc / "README").write_text("")
    files = dahdihook.rules_files([str(etc), str(lib)])
    assert files == [str(lib / "60-other.rules"), str(lib / "xpp.rules"), str(etc / "xpp_twinstar.rules")]
    (etc / "xpp.rules").write_text("# masked by the administrator\n")
    assert dahdihook.rules_files([str(etc), str(lib)])[1] == str(etc / "xpp.rules")
    hooks = dahdihook.assess([str(etc), str(lib)], str(tmp_path / "init.conf"))
    assert hooks.original_rules == [] and hooks.twinstar_rules == [str(etc / "xpp_twinstar.rules")]


def test_turning_the_original_off_and_back_restores_init_conf_byte_for_byte(tmp_path: Path) -> None:
    conf = tmp_path / "init.conf"
    original = b"# dahdi init.conf\nXPP_HOTPLUG_DAHDI=yes\nASTERISK_SUPPORTS_DAHDI_HOTPLUG=yes\n"
    conf.write_bytes(original)
    conf.chmod(0o640)
    rules = tmp_path / "rules.d"
    rules.mkdir()
    (rules / "xpp.rules").write_text(XPP_RULE)
    (rules / "xpp_twinstar.rules").write_text(TWINSTAR_RULE)
    before = dahdihook.assess([str(rules)], str(conf))
    assert before.original_acts and before.acting == 2
    dahdihook.turn_off(str(conf))
    after = dahdihook.assess([str(rules)], str(conf))
    assert not after.original_acts and after.acting == 1 and after.setting == "no"
    assert conf.read_bytes().startswith(original)
    assert conf.stat().st_mode & 0o777 == 0o640
    # The operator adds a line after ours; restoring takes out exactly our two lines.
    conf.write_bytes(conf.read_bytes() + b"XPP_SYNC=auto\n")
    assert dahdihook.restore(str(conf))
    assert conf.read_bytes() == original + b"XPP_SYNC=auto\n"
    assert not dahdihook.restore(str(conf))
    assert not dahdihook.restore(str(tmp_path / "missing.conf"))


def test_reinstalling_removes_an_unchanged_rule_an_earlier_version_installed(tmp_path: Path) -> None:
    """A rule renamed since: left in place, both rules would run atribank_hook for every event."""
    layout = Layout(str(tmp_path), "/usr/lib/twinstar", "/usr/sbin", "/etc/udev/rules.d", "/etc/systemd/system", "/etc")
    rules = tmp_path / "etc/udev/rules.d"
    rules.mkdir(parents=True)
    old_rule, edited_unit = rules / "60-twinstar.rules", tmp_path / "etc/systemd/system/old.service"
    old_rule.write_text(TWINSTAR_RULE)
    edited_unit.parent.mkdir(parents=True)
    edited_unit.write_text("[Unit]\n")
    old = Manifest(version="0", layout={})
    old.files["/etc/udev/rules.d/60-twinstar.rules"] = {"kind": "udev-rule", "sha256": sha256(str(old_rule))}
    old.files["/etc/systemd/system/old.service"] = {"kind": "unit", "sha256": "0" * 64}  # changed since
    installer = Installer(layout, ".", python="/usr/bin/python3", pip_opts=[], system_site_packages=False)
    installer.remove_stale(old)
    assert not old_rule.exists()
    assert edited_unit.exists()


def test_an_init_conf_that_is_a_symlink_is_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layout = Layout(str(tmp_path), "/usr/lib/twinstar", "/usr/sbin", "/etc/udev/rules.d", "/etc/systemd/system", "/etc")
    (tmp_path / "etc/udev/rules.d").mkdir(parents=True)
    (tmp_path / "etc/udev/rules.d/xpp.rules").write_text(XPP_RULE)
    (tmp_path / "etc/dahdi").mkdir()
    real = tmp_path / "elsewhere.conf"
    real.write_text("XPP_HOTPLUG_DAHDI=yes\n")
    (tmp_path / "etc/dahdi/init.conf").symlink_to(real)
    installer = Installer(layout, ".", python="/usr/bin/python3", pip_opts=[], system_site_packages=False)
    installer.turn_off_original_hook()
    assert real.read_text() == "XPP_HOTPLUG_DAHDI=yes\n"
    assert (tmp_path / "etc/dahdi/init.conf").is_symlink()
    assert installer.manifest.edits == []
    assert "is not a regular file: left as it is; set XPP_HOTPLUG_DAHDI=no in it yourself" in capsys.readouterr().out


def test_check_reports_twinstar_s_hook_run_twice(tmp_path: Path) -> None:
    """An earlier installation's rule under its old name beside the current one: the hook would run twice."""
    import json

    from twinstar.ops.findings import Level
    from twinstar.ops.installcheck import check_hooks

    rules = tmp_path / "rules.d"
    rules.mkdir()
    manifest = tmp_path / "install-manifest.json"
    manifest.write_text(json.dumps({"layout": {"udevrulesdir": str(rules), "sysconfdir": str(tmp_path / "etc")}}))
    (rules / "xpp_twinstar.rules").write_text(TWINSTAR_RULE)
    [one] = check_hooks(str(manifest))
    assert one.level is Level.OK and one.subject == "xbus hooks"
    (rules / "60-twinstar.rules").write_text(TWINSTAR_RULE)
    [two] = check_hooks(str(manifest))
    assert two.level is Level.ERROR
    assert two.message.startswith("twinstar's atribank_hook runs 2 times per xbus event")
