"""The Debian package, installed with apt in a container that boots systemd.

``make deb`` builds the package from this tree (lintian included). A
container (:mod:`tests.support.nspawn`, an overlay of the host's ``/``, so the
host's installed Debian packages are what apt resolves the dependencies
against, offline) installs an earlier build of it, then this build as an
upgrade, then removes and purges it; the package is never installed on the
host. Nothing is a stand-in: apt, dpkg, the maintainer scripts,
deb-systemd-helper, systemd, udevadm and man are the real ones.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, require_root
from tests.support.nspawn import Node, boot_nodes
from twinstar.ops.installation import PACKAGE_LAYOUT

pytestmark = pytest.mark.privileged

#: Names of what this test makes (containers, namespaces, scratch directories) start with this.
PREFIX = "tsdeb-"
#: This test's address range (one node: its link is not used).
SUBNET = "10.213.18"
#: Where the packages are inside the container.
DEBS = "/srv/twinstar-debs"
#: What changes in a container whatever is installed: apt's and dpkg's records, logs, caches.
VOLATILE = (
    "/var/lib/dpkg/", "/var/lib/apt/", "/var/cache/", "/var/log/", "/var/lib/systemd/", "/var/tmp/", "/tmp/",
    "/run/systemd/", "/run/user/", "/run/udev/", "/run/log/", "/run/lock/", "/srv/", "/root/", "/etc/ld.so.cache",
    "/run/utmp", "/run/mount/", "/run/dbus/", "/var/lib/ucf/", "/var/lib/PackageKit/",
    "/run/agetty.reload",  # agetty asks for a reload of its issue file whenever a network interface changes
)
#: A configuration valid in the container: one command step, nothing else to find.
XPP_ORDER = "/srv/twinstar-test/xpp_order"
MAINTENANCE = "/etc/twinstar/maintenance"
CONFIG = f"""\
# changed by the operator
node: pbx-test
astribanks: {{xpp_order: {XPP_ORDER}}}
takeover:
  - command: {{name: pbx, start: [/bin/true], stop: [/bin/true]}}
"""


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(an earlier build, this build): ``make deb`` of this tree, and the same package one version lower."""
    require_root("building and installing the Debian package")
    for tool in ("dpkg-buildpackage", "lintian", "systemd-nspawn"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: sh .ci/setup installs the package build tools")
    out = tmp_path_factory.mktemp("deb")
    built = subprocess.run(["make", "-C", str(REPO), "deb", f"DEBDIR={out}"], capture_output=True, text=True, timeout=900,
                           check=False)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (current,) = out.glob("twinstar_*_all.deb")
    tree = out / "earlier"
    subprocess.run(["dpkg-deb", "-R", str(current), str(tree)], check=True, timeout=60)
    control = tree / "DEBIAN" / "control"
    version = next(line.split(": ", 1)[1] for line in control.read_text().splitlines() if line.startswith("Version: "))
    control.write_text(control.read_text().replace(f"Version: {version}\n", f"Version: {version}~earlier\n"))
    earlier = out / f"twinstar_{version}~earlier_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(earlier)], check=True, timeout=60,
                   capture_output=True)
    return earlier, current


@pytest.fixture(scope="module")
def container(debs: tuple[Path, Path]) -> Iterator[Node]:
    """A booted container without twinstar, the two packages in it."""
    with boot_nodes(1, install=False, prefix=PREFIX, subnet=SUBNET) as (node,):
        assert node.name.startswith(PREFIX)
        for deb in debs:
            target = node.host_path(f"{DEBS}/{deb.name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(deb, target)
        yield node


#: Where a package's files, and what its scripts and programs leave, can be (the rest of the
#: overlay shows the host's own working directories changing).
SYSTEM = ("/etc", "/usr", "/var", "/opt", "/run")


def _files(node: Node) -> set[str]:
    """Every path in the container's system directories, less what changes anyway."""
    listed = node.run(["find", *SYSTEM, "-xdev"], check=True, timeout=300).stdout.splitlines()
    return {p for p in listed if not any(p.startswith(v) or p + "/" == v for v in VOLATILE)}


def _apt(node: Node, *args: str) -> str:
    """apt-get answering no question; nothing to download (the dependencies are the host's installed packages)."""
    result = node.run(["apt-get", "-y", "-q", "-o", "APT::Sandbox::User=root", *args],
                      env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    fetched = [line for line in result.stdout.splitlines() if line.startswith("Get:") and DEBS not in line]
    assert fetched == [], "apt fetched packages: the dependencies must be Debian's packages already installed"
    return result.stdout


def test_install_upgrade_remove_and_purge(container: Node, debs: tuple[Path, Path]) -> None:
    node = container
    earlier, current = debs
    before = _files(node)
    empty_unit_dirs = set(node.run(["find", "/etc/systemd/system", "-type", "d", "-empty"], check=True).stdout.split())

    # Install the earlier build: the dependencies come from what is installed.
    _apt(node, "install", f"{DEBS}/{earlier.name}")
    assert node.run(["dpkg-query", "-W", "-f", "${Status} ${Version}", "twinstar"]).stdout.startswith("install ok installed")
    lay = PACKAGE_LAYOUT
    for path in (f"{lay.sbindir}/twinstar", f"{lay.hookdir}/atribank_hook", f"{lay.udevrulesdir}/xpp_twinstar.rules",
                 f"{lay.unitdir}/twinstar.service", f"{lay.unitdir}/twinstar-takeover.service", lay.config_path,
                 "/usr/share/bash-completion/completions/twinstar"):
        assert node.host_path(path).exists(), path
    assert node.run(["stat", "-c", "%a %U", lay.config_path]).stdout.split() == ["600", "root"]
    assert node.run(["dpkg-query", "-W", "-f", "${Conffiles}", "twinstar"]).stdout.split()[0] == lay.config_path

    # Nothing was started: the daemon is installed disabled, no takeover ran.
    assert node.run(["systemctl", "is-enabled", "twinstar.service"]).stdout.strip() == "disabled"
    for unit in ("twinstar.service", "twinstar-takeover.service", "twinstar-release.service", "twinstar-prepared.service",
                 "twinstar-policy.service"):  # fmt: skip
        assert node.run(["systemctl", "is-active", unit]).stdout.strip() == "inactive", unit
        fragment = node.run(["realpath", node.prop(unit, "FragmentPath")]).stdout.strip()  # /lib is /usr/lib
        assert fragment == f"{lay.unitdir}/{unit}"
    assert not node.host_path("/run/twinstar/state.json").exists()

    # The program, its pages and its hook work as installed.
    assert node.run(["twinstar", "--version"], check=True).stdout.split()[-1] == current.name.split("_")[1]
    for page in ("twinstar", "atribank_hook", "twinstar.yaml"):
        found = node.run(["man", "-w", page], check=True).stdout.strip()
        assert found.startswith("/usr/share/man/man"), found
    node.write(lay.config_path, CONFIG, mode=0o600)
    node.write(XPP_ORDER, "usb:00000135\n")
    check = node.run(["twinstar", "check"])
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"ok       hook {lay.hookdir}/atribank_hook: installed (Debian package)" in check.stdout

    # udev reads the rule from where it is installed.
    rules = node.run(["udevadm", "test", "--action=add", "/sys/class/net/lo"], timeout=60)
    assert f"{lay.udevrulesdir}/xpp_twinstar.rules" in rules.stdout + rules.stderr
    hook = node.run([f"{lay.hookdir}/atribank_hook"], env={"ACTION": "change", "XBUS_NAME": "XBUS-00"})
    assert hook.returncode == 0 and "not a hotplug action" in hook.stderr, hook.stderr
    # The maintenance file of a first installation holds the hook back; a manual takeover makes the node active.
    assert node.host_path(MAINTENANCE).exists()
    hook = node.run([f"{lay.hookdir}/atribank_hook"], env={"ACTION": "online", "XBUS_NAME": "XBUS-00"})
    assert "XBUS-00" in hook.stderr and "handed off" not in hook.stderr, hook.stderr
    takeover = node.run(["twinstar", "takeover"])
    assert takeover.returncode == 0 and "result: ok, role active" in takeover.stdout, takeover.stdout + takeover.stderr

    # The operator enables the daemon; the upgrade keeps that and the changed configuration, starting nothing.
    node.systemctl("enable", "twinstar.service", check=True)
    _apt(node, "install", f"{DEBS}/{current.name}")
    assert node.run(["dpkg-query", "-W", "-f", "${Version}", "twinstar"]).stdout == current.name.split("_")[1]
    assert node.host_path(lay.config_path).read_text() == CONFIG
    assert not list(node.host_path("/etc/twinstar").glob("*.dpkg-*"))
    assert node.run(["systemctl", "is-enabled", "twinstar.service"]).stdout.strip() == "enabled"
    assert node.run(["systemctl", "is-active", "twinstar.service"]).stdout.strip() == "inactive"
    node.systemctl("disable", "twinstar.service", check=True)

    # remove keeps only the configuration; purge leaves nothing.
    _apt(node, "remove", "twinstar")
    left = _files(node) - before
    assert {p for p in left if not p.startswith("/run/twinstar")} == {"/etc/twinstar", lay.config_path, MAINTENANCE}
    # The node's state stays (the node is still active); the hook's cache of the configuration goes.
    assert {"/run/twinstar/state.json", "/run/twinstar/journal.jsonl"} <= left
    assert not any(p.startswith("/run/twinstar/hook-cache") for p in left)
    # systemctl and deb-systemd-helper remove a unit directory they leave empty (the container has some).
    assert before - _files(node) <= empty_unit_dirs
    _apt(node, "purge", "twinstar")
    assert _files(node) - before == set()
    assert before - _files(node) <= empty_unit_dirs
    assert node.run(["dpkg-query", "-W", "twinstar"]).returncode != 0
