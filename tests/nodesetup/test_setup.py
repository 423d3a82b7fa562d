"""``twinstar setup`` against a fake sysfs tree and simulated Astribanks.

Stand-ins, at the narrowest boundaries (design.md): the xpp driver's sysfs is
a fake tree with the driver's exact formats (``FakeSysfs`` plus the XPD
``NN:U:S/span`` children written here), and the Astribanks are the USB
simulator (a pyusb backend speaking MPP bytes). Everything above them, the
command line included, is the production code, run in a child process.

The simulator shows a unit only to the host on its active port, so one host
cannot see units on different ports through it; that decision is tested on
the pure :func:`assess` with the rows ``twinstar status`` would read.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import run_twinstar
from twinstar.astribank import xpporder
from twinstar.astribank.sysfs import Unit
from twinstar.nodesetup.assess import assess
from twinstar.nodesetup.xpds import Xpd, XpdReading
from twinstar.ops.findings import Level
from twinstar.standins.fakesysfs import FakeSysfs
from twinstar.usb import sim
from twinstar.usb.units import UnitStatusRow


class Bench:
    """Two Astribanks: in sysfs (xbus-00, xbus-01) and on the simulated USB (port 0)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.sim = str(tmp_path / "astribanks.json")
        sim.init_state(self.sim, units=2, port=0)
        self.fake = FakeSysfs(str(tmp_path / "sys"))
        self.xpp_order = tmp_path / "dahdi" / "xpp_order"
        # xbus-00 registers second (spans 3, 4), xbus-01 first (spans 1, 2).
        self.plug(0, label="usb:SIM00001", spans=(3, 4))
        self.plug(1, label="usb:SIM00002", spans=(1, 2))
        self.config = tmp_path / "twinstar.yaml"
        self.config.write_text(
            "node: pbx-a\n"
            f"state_dir: {tmp_path}/state\n"
            f"astribanks: {{sysfs: {tmp_path}/sys, xpp_order: {self.xpp_order}}}\n"
            f"usb: {{simulator: {self.sim}, simulator_port: 0}}\n"
            "takeover:\n  - dahdi: {}\n"
        )
        self.config.chmod(0o644)

    def connector(self, num: int) -> str:
        return f"usb-0000:00:1d.7-{num + 1}"

    def plug(self, num: int, *, label: str | bytes, spans: tuple[int, ...]) -> None:
        self.fake.arrive(num, label=label, connector=self.connector(num), busnum=1, devnum=num + 2)
        for i, span in enumerate(spans):
            self.set_span(num, i, span)

    def set_span(self, num: int, xpd: int, span: int) -> None:
        d = os.path.join(self.fake.node(num), f"{num:02d}:{xpd}:0")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "span"), "w") as f:
            f.write(f"{span}\n")
        with open(os.path.join(d, "type"), "w") as f:
            f.write("FXS\n")

    def sim_set(self, index: int, key: str, value: str) -> None:
        with sim.update(self.sim) as state:
            sim.apply_setting(state, state["units"][index], key, value)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_twinstar(self.config, "setup", *args)


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    return Bench(tmp_path)


def entries(path: Path) -> list[str]:
    return [e.text for e in xpporder.load(str(path)).entries]


def body_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if not line.startswith("#")]


def test_ready_node_gets_xpp_order_in_registration_order(bench: Bench) -> None:
    result = bench.run("--write")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "setup: ready" in result.stdout
    assert body_lines(bench.xpp_order) == [
        f"usb:SIM00002\t# @{bench.connector(1)} XBUS-01",
        f"usb:SIM00001\t# @{bench.connector(0)} XBUS-00",
    ]
    assert entries(bench.xpp_order) == ["usb:SIM00002", "usb:SIM00001"]
    assert not os.path.exists(f"{bench.xpp_order}.bak")
    assert [p.name for p in bench.xpp_order.parent.iterdir()] == ["xpp_order"]  # no temp file left


def test_existing_xpp_order_is_backed_up(bench: Bench) -> None:
    bench.xpp_order.parent.mkdir()
    bench.xpp_order.write_text("usb:OLDUNIT\n")
    old_inode = bench.xpp_order.stat().st_ino
    with open(bench.xpp_order) as reader:  # a reader of the old file is never shown a torn one
        result = bench.run("--write")
        assert reader.read() == "usb:OLDUNIT\n"
    assert result.returncode == 0, result.stdout
    assert bench.xpp_order.stat().st_ino != old_inode  # replaced by rename, not rewritten in place
    assert sorted(p.name for p in bench.xpp_order.parent.iterdir()) == ["xpp_order", "xpp_order.bak"]
    assert Path(f"{bench.xpp_order}.bak").read_text() == "usb:OLDUNIT\n"
    assert entries(bench.xpp_order) == ["usb:SIM00002", "usb:SIM00001"]
    assert f"kept as {bench.xpp_order}.bak" in result.stdout


@pytest.mark.privileged
def test_a_failed_write_keeps_the_previous_file(bench: Bench) -> None:
    """A read-only /etc/dahdi (a real read-only bind mount): exit 1, one clear line, the old file as it was."""
    bench.xpp_order.parent.mkdir()
    bench.xpp_order.write_text("usb:OLDUNIT\n")
    directory = str(bench.xpp_order.parent)
    subprocess.run(["mount", "--bind", directory, directory], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", directory], check=True)
        result = bench.run("--write")
    finally:
        subprocess.run(["umount", directory], check=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == (
        f"twinstar: error: cannot write {bench.xpp_order}: Read-only file system (the previous file is unchanged)\n"
    )
    assert sorted(p.name for p in bench.xpp_order.parent.iterdir()) == ["xpp_order"]
    assert bench.xpp_order.read_text() == "usb:OLDUNIT\n"


def test_dry_run_shows_the_file_and_writes_nothing(bench: Bench) -> None:
    result = bench.run("--dry-run", "--write")
    assert result.returncode == 0
    assert f"  | usb:SIM00002\t# @{bench.connector(1)} XBUS-01" in result.stdout
    assert not bench.xpp_order.exists()
    checks_only = bench.run()
    assert checks_only.returncode == 0 and not bench.xpp_order.exists()


def test_unregistered_span_fails_and_writes_nothing(bench: Bench) -> None:
    bench.set_span(1, 1, 0)
    result = bench.run("--write")
    assert result.returncode == 1
    assert "XBUS-01 usb:SIM00002" in result.stdout
    assert "not registered with DAHDI: span 0 on XPD 01:1:0" in result.stdout
    assert "not written: the node is not ready" in result.stdout
    assert not bench.xpp_order.exists()


def test_unit_on_the_other_port_is_not_seen_over_usb(bench: Bench) -> None:
    bench.sim_set(0, "port", "1")
    result = bench.run()
    assert result.returncode == 1
    assert "XBUS-00 usb:SIM00001" in result.stdout and "is not among the Astribanks on USB" in result.stdout


def test_missing_power_is_a_warning_only(bench: Bench) -> None:
    bench.sim_set(1, "power1", "off")
    result = bench.run("--write")
    assert result.returncode == 0, result.stdout
    warning = [line for line in result.stdout.splitlines() if line.strip().startswith("warning")]
    assert len(warning) == 1
    assert "usb:001/003 (usb:SIM00002)" in warning[0] and "only USB-0 has power" in warning[0]
    assert bench.xpp_order.exists()


@pytest.mark.parametrize(
    ("label", "why"),
    [(b"", "empty"), (b"usb:AB#12", "contains '#'"), (b"usb:\x01bad", "not printable"), (b" usb:X", "leading or trailing whitespace")],
)
def test_unusable_label_is_listed_by_connector(tmp_path: Path, label: bytes, why: str) -> None:
    bench = Bench(tmp_path)
    bench.fake.write_attr(1, "label", label)
    result = bench.run("--write")
    assert result.returncode == 0, result.stdout
    assert f"label unusable ({why}" in result.stdout
    assert body_lines(bench.xpp_order)[0] == f"@{bench.connector(1)}\t# @{bench.connector(1)} XBUS-01"
    assert entries(bench.xpp_order) == [f"@{bench.connector(1)}", "usb:SIM00001"]


def test_not_twinstar_capable_fails(bench: Bench) -> None:
    bench.sim_set(0, "twinstar", "off")
    result = bench.run("--write")
    assert result.returncode == 1
    assert "usb:001/002 (usb:SIM00001): not TwinStar-capable: the TwinStar capability bit is not set" in result.stdout
    assert not bench.xpp_order.exists()


def test_missing_driver_fails(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    import shutil

    shutil.rmtree(tmp_path / "sys" / "bus")
    result = bench.run()
    assert result.returncode == 1
    assert "the xpp driver is not loaded" in result.stdout


def test_malformed_sysfs_is_bad_input(bench: Bench) -> None:
    bench.fake.write_attr(0, "xbus_state", "READY")
    span = os.path.join(bench.fake.node(1), "01:0:0", "span")
    with open(span, "w") as f:
        f.write("one\n")
    result = bench.run("--write")
    assert result.returncode == 2
    assert "xbus_state: expected 'NAME (n)'" in result.stdout
    shown_path = os.path.join(bench.fake.bus_dir, "xbus-01", "01:0:0", "span")
    assert f"{shown_path}: expected a number, found one" in result.stdout
    assert not bench.xpp_order.exists()


def _unit(num: int, label: str) -> Unit:
    u = Unit(f"xbus-{num:02d}", f"/sys/bus/astribanks/devices/xbus-{num:02d}")
    u.num, u.label, u.connector, u.state, u.status = num, label, f"usb-{num}", "READY", "connected"
    u.busnum, u.devnum = 1, num + 2
    return u


def _row(num: int, port: int) -> UnitStatusRow:
    return UnitStatusRow(
        device=f"usb:001/{num + 2:03d}", label=f"usb:S{num}", product="1162",
        capable=True, port=port, watchdog=False, power0=True, power1=True,
    )


def test_mixed_ports_fail() -> None:
    units = [_unit(0, "usb:S0"), _unit(1, "usb:S1")]
    xpds = {"xbus-00": XpdReading((Xpd("00:0:0", 1),), ()), "xbus-01": XpdReading((Xpd("01:0:0", 2),), ())}
    result = assess(driver_present=True, units=units, xpds=xpds, usb_rows=[_row(0, 0), _row(1, 1)])
    failed = [f for f in result.findings if f.level == Level.FAIL]
    assert [f.subject for f in failed] == ["ports"]
    assert "different active ports (port 0: usb:001/002; port 1: usb:001/003)" in failed[0].message
    same = assess(driver_present=True, units=units, xpds=xpds, usb_rows=[_row(0, 1), _row(1, 1)])
    assert same.ready and [u.xbus for u in same.order] == ["XBUS-00", "XBUS-01"]


def test_duplicate_labels_are_listed_by_connector() -> None:
    units = [_unit(0, "usb:SAME"), _unit(1, "usb:SAME")]
    xpds = {"xbus-00": XpdReading((Xpd("00:0:0", 2),), ()), "xbus-01": XpdReading((Xpd("01:0:0", 1),), ())}
    result = assess(driver_present=True, units=units, xpds=xpds, usb_rows=[_row(0, 0), _row(1, 0)])
    assert result.ready
    assert sum("shared with another unit" in f.message for f in result.findings) == 2


def test_units_are_matched_to_usb_rows_by_bus_and_device_number() -> None:
    units = [_unit(0, "usb:S0"), _unit(1, "usb:S1")]
    units[1].busnum = units[1].devnum = None  # an xbus without a USB transport
    xpds = {"xbus-00": XpdReading((Xpd("00:0:0", 1),), ()), "xbus-01": XpdReading((Xpd("01:0:0", 2),), ())}
    result = assess(driver_present=True, units=units, xpds=xpds, usb_rows=[_row(0, 0), _row(5, 0)])
    failed = {f.subject: f.message for f in result.findings if f.level == Level.FAIL}
    assert failed == {
        "XBUS-01 usb:S1 @usb-1": "its USB device (no transport) is not among the Astribanks on USB: cannot check TwinStar",
        "usb:001/007 (usb:S5)": "has no xbus: the xpp driver has not registered it",
    }
    assert not result.ready and result.order == ()
