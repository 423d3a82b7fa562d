"""The ``drbd`` step with a real ext4 filesystem on a loop device, really mounted.

Stand-in: only ``drbdadm`` (twinstar.standins.drbdadm, state in a JSON
file listing both nodes), because the DRBD kernel module cannot load here.
fsck, mount, umount, the mount table and the processes holding the mount are real.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.support.rigs import Volume, mounted_on
from tests.support.rigs import run as sh
from twinstar.config import Config, DrbdSpec, FsckMode
from twinstar.engine.proc import ProgramRunner
from twinstar.errors import RefusedError, StepError
from twinstar.standins import drbdadm
from twinstar.steps.base import StepContext
from twinstar.steps.drbd import DrbdStep

pytestmark = [pytest.mark.privileged, pytest.mark.programs("drbdadm", "fsck.ext4", "fsck.ext2", "mount", "umount")]  # programs: what twinstar runs in this process


@dataclass
class Rig:
    volume: Volume
    state: Path
    ctx: StepContext
    spec: DrbdSpec

    def step(self, **changes: object) -> DrbdStep:
        return DrbdStep(replace(self.spec, **changes), self.ctx)

    def role(self, node: str = "pbx-a") -> str:
        return drbdadm.read_state(self.state)["resources"]["r0"]["nodes"][node]["role"]

    def calls(self, command: str) -> list[list[str]]:
        return [c["argv"] for c in drbdadm.read_state(self.state)["calls"] if c["argv"][0] == command]

    def configure(self, **res: object) -> None:
        with drbdadm.locked(self.state) as state:
            state["resources"]["r0"].update(res)


def make_rig(volume: Volume, tmp_path: Path, *, format: str = "8.4", primary: str | None = None) -> Rig:
    state = tmp_path / "drbd.json"
    drbdadm.write_state(state, drbdadm.new_state("r0", ("pbx-a", "pbx-b"), primary=primary, device=volume.device, format=format))
    wrapper = drbdadm.write_wrapper(tmp_path / "drbdadm", state, "pbx-a")
    config = Config(source="test", node="pbx-a", state_dir=str(tmp_path), programs=(("drbdadm", str(wrapper)),))
    ctx = StepContext(config=config, runner=ProgramRunner(programs=config.program_map), log=logging.getLogger("twinstar.steps.test"))
    spec = DrbdSpec(resource="r0", device=volume.device, mountpoint=str(volume.mountpoint), timeout=10.0, kill_grace=0.3)
    return Rig(volume, state, ctx, spec)


@pytest.fixture(params=["8.4", "9"])
def rig(request: pytest.FixtureRequest, volume: Volume, tmp_path: Path) -> Rig:
    return make_rig(volume, tmp_path, format=request.param)


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


HOLDER = """
import signal, sys, time
if sys.argv[2] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
f = open(sys.argv[1], "w")
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def start_holder(path: Path, mode: str, procs: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), mode], stdout=subprocess.PIPE, text=True)
    procs.append(p)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return p


def test_apply_promotes_and_mounts_then_undo_releases(rig: Rig) -> None:
    step = rig.step()
    assert step.check().up is False
    step.apply()
    step.verify()
    probe = step.check()
    assert probe.up and f"{rig.volume.device} mounted on {rig.volume.mountpoint}" in probe.detail
    assert rig.role() == "Primary" and mounted_on(rig.volume.mountpoint)
    # The filesystem is really there and writable.
    (rig.volume.mountpoint / "asterisk.conf").write_text("[general]\n")

    step.undo()
    step.verify_undone()
    assert rig.role() == "Secondary" and not mounted_on(rig.volume.mountpoint)
    assert not (rig.volume.mountpoint / "asterisk.conf").exists()


def test_refuses_when_peer_is_primary(rig: Rig) -> None:
    drbdadm.set_role(rig.state, "r0", "pbx-b", "Primary")
    with pytest.raises(RefusedError) as err:
        rig.step().apply()
    assert err.value.exit_status == 3 and "peer is Primary" in str(err.value)
    assert rig.calls("primary") == []
    assert rig.role() == "Secondary" and not mounted_on(rig.volume.mountpoint)


def test_drbd_refusal_exit_17_is_not_retried(volume: Volume, tmp_path: Path) -> None:
    """Disconnected: the peer's role is Unknown locally, DRBD itself refuses (exit 17)."""
    rig = make_rig(volume, tmp_path, primary="pbx-b")
    rig.configure(connected=False)
    with pytest.raises(RefusedError) as err:
        rig.step().apply()
    assert err.value.exit_status == 3 and "Refusing to be Primary while peer is not outdated" in str(err.value)
    assert len(rig.calls("primary")) == 1
    assert rig.role() == "Secondary" and not mounted_on(volume.mountpoint)


def test_primary_retried_with_backoff_until_it_succeeds(volume: Volume, tmp_path: Path) -> None:
    rig = make_rig(volume, tmp_path)
    rig.configure(fail_primary=3)
    slept: list[float] = []
    rig.ctx.sleep = slept.append
    rig.step().apply()
    assert len(rig.calls("primary")) == 4
    assert slept == sorted(slept) and slept[0] < slept[-1]
    assert rig.role() == "Primary" and mounted_on(volume.mountpoint)


def test_primary_gives_up_at_the_step_timeout(volume: Volume, tmp_path: Path) -> None:
    rig = make_rig(volume, tmp_path)
    rig.configure(fail_primary=1000)
    clock = [0.0]
    rig.ctx.monotonic = lambda: clock[0]
    rig.ctx.sleep = lambda s: clock.__setitem__(0, clock[0] + s)
    with pytest.raises(StepError, match="still failing after .* attempts in 5 s: .*Need access to UpToDate data"):
        rig.step(timeout=5.0).apply()
    assert clock[0] <= 5.0
    assert 3 <= len(rig.calls("primary")) < 20
    assert rig.role() == "Secondary" and not mounted_on(volume.mountpoint)


def test_failed_mount_demotes_again(volume: Volume, tmp_path: Path) -> None:
    rig = make_rig(volume, tmp_path)
    with pytest.raises(StepError, match="cannot mount"):
        rig.step(mount_options="no_such_option").apply()
    assert rig.role() == "Secondary" and not mounted_on(volume.mountpoint)
    assert len(rig.calls("secondary")) == 1


def test_failed_fsck_demotes_and_does_not_mount(volume: Volume, tmp_path: Path) -> None:
    rig = make_rig(volume, tmp_path)
    with open(volume.device, "r+b") as dev:  # wipe the superblocks: fsck exits 8
        dev.write(b"\0" * (2 * 1024 * 1024))
    with pytest.raises(StepError, match="fsck of .* failed with exit status 8"):
        rig.step().apply()
    assert rig.role() == "Secondary" and not mounted_on(volume.mountpoint)


@pytest.mark.parametrize("mode, fstype, runs", [(FsckMode.AUTO, "ext4", True), (FsckMode.NEVER, "ext4", False), (FsckMode.AUTO, "ext2", True)])
def test_fsck_runs_when_the_type_needs_it(volume: Volume, tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: FsckMode, fstype: str, runs: bool) -> None:
    rig = make_rig(volume, tmp_path)
    if fstype == "ext2":
        sh("mkfs.ext2", "-q", "-F", volume.device)
    with caplog.at_level(logging.INFO, logger="twinstar.proc"):
        rig.step(fsck=mode, fstype=fstype).apply()
    fsck_runs = [r.getMessage() for r in caplog.records if " -p " + volume.device in r.getMessage()]
    assert bool(fsck_runs) is runs
    findmnt = json.loads(sh("findmnt", "-J", "-o", "FSTYPE", "--mountpoint", str(volume.mountpoint)))
    assert findmnt["filesystems"][0]["fstype"] == fstype


def test_mount_and_umount_get_their_paths_after_double_dash(volume: Volume, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """mount and umount end their options at ``--``, the paths follow it; the filesystem's checker
    (``fsck.ext4`` itself, not the fsck front end) gets ``-p`` and the absolute device path only."""
    rig = make_rig(volume, tmp_path)
    step = rig.step()
    with caplog.at_level(logging.INFO, logger="twinstar.proc"):
        step.apply()
        assert mounted_on(volume.mountpoint)
        step.undo()
    assert not mounted_on(volume.mountpoint) and rig.role() == "Secondary"
    runs = [r.getMessage().removeprefix("run: ").split() for r in caplog.records if r.getMessage().startswith("run: ")]
    by_name = {Path(argv[0]).name: argv[1:] for argv in runs}
    assert by_name["mount"] == ["-t", "ext4", "-o", "defaults", "--", volume.device, str(volume.mountpoint)]
    assert by_name["umount"] == ["--", str(volume.mountpoint)]
    assert by_name["fsck.ext4"] == ["-p", volume.device] and "fsck" not in by_name


def test_missing_mountpoint_fails_before_promotion(volume: Volume, tmp_path: Path) -> None:
    rig = make_rig(volume, tmp_path)
    with pytest.raises(StepError, match="mountpoint .*/nowhere does not exist"):
        rig.step(mountpoint=str(tmp_path / "nowhere")).apply()
    assert rig.calls("primary") == []
    assert not (tmp_path / "nowhere").exists()


def test_other_filesystem_on_mountpoint_is_not_ours(volume: Volume, tmp_path: Path) -> None:
    rig = make_rig(volume, tmp_path)
    sh("mount", "-t", "tmpfs", "tmpfs", str(volume.mountpoint))
    try:
        step = rig.step()
        probe = step.check()
        assert probe.up is False and "tmpfs (not" in probe.detail
        with pytest.raises(StepError, match="already has tmpfs mounted"):
            step.apply()
        assert rig.calls("primary") == []
        step.undo()  # leaves the foreign mount alone
        assert mounted_on(volume.mountpoint)
    finally:
        subprocess.run(["umount", str(volume.mountpoint)], capture_output=True)


def test_apply_when_already_primary_only_mounts(volume: Volume, tmp_path: Path) -> None:
    rig = make_rig(volume, tmp_path, primary="pbx-a")
    step = rig.step()
    assert step.check().up is False
    step.apply()
    assert rig.calls("primary") == [] and mounted_on(volume.mountpoint)


def test_busy_mount_holder_is_terminated_and_reported(
    volume: Volume, tmp_path: Path, holders: list[subprocess.Popen[str]], caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig(volume, tmp_path)
    step = rig.step()
    step.apply()
    holder = start_holder(volume.mountpoint / "held.log", "normal", holders)
    comm = Path(f"/proc/{holder.pid}/comm").read_text().strip()
    with caplog.at_level(logging.WARNING, logger="twinstar.steps.test"):
        step.undo()
    step.verify_undone()
    assert holder.wait(timeout=10) == -signal.SIGTERM
    assert f"terminating pid {holder.pid} ({comm}) holding {volume.mountpoint}" in caplog.text
    assert "killing pid" not in caplog.text
    assert rig.role() == "Secondary" and not mounted_on(volume.mountpoint)


def test_holder_ignoring_sigterm_is_killed(
    volume: Volume, tmp_path: Path, holders: list[subprocess.Popen[str]], caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig(volume, tmp_path)
    step = rig.step()
    step.apply()
    stubborn = start_holder(volume.mountpoint / "held.log", "ignore-term", holders)
    polite = start_holder(volume.mountpoint / "other.log", "normal", holders)
    with caplog.at_level(logging.WARNING, logger="twinstar.steps.test"):
        step.undo()
    assert stubborn.wait(timeout=10) == -signal.SIGKILL
    assert polite.wait(timeout=10) == -signal.SIGTERM
    assert f"terminating pid {stubborn.pid} " in caplog.text and f"terminating pid {polite.pid} " in caplog.text
    assert f"killing pid {stubborn.pid} " in caplog.text and f"killing pid {polite.pid} " not in caplog.text
    assert rig.role() == "Secondary" and not mounted_on(volume.mountpoint)


def test_holder_with_cwd_on_mount_is_found(volume: Volume, tmp_path: Path, holders: list[subprocess.Popen[str]]) -> None:
    rig = make_rig(volume, tmp_path)
    step = rig.step()
    step.apply()
    p = subprocess.Popen([sys.executable, "-c", "print('ready', flush=True); import time; time.sleep(60)"], cwd=volume.mountpoint, stdout=subprocess.PIPE, text=True)
    holders.append(p)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    step.undo()
    assert p.wait(timeout=10) == -signal.SIGTERM
    assert not mounted_on(volume.mountpoint)


def test_undo_when_nothing_is_up_changes_nothing(rig: Rig) -> None:
    step = rig.step()
    step.undo()
    step.verify_undone()
    assert rig.calls("secondary") == [] and rig.calls("primary") == []


def test_check_reports_unconfigured_resource(volume: Volume, tmp_path: Path) -> None:
    rig = make_rig(volume, tmp_path)
    with pytest.raises(StepError, match="drbdadm role r9 failed: .*not defined in your config"):
        rig.step(resource="r9").check()


def test_apply_right_after_check_reads_the_roles_once(rig: Rig) -> None:
    """The engine's check -> apply -> verify: one role read for the check, one for the verify."""
    step = rig.step()
    assert step.check().up is False
    step.apply()
    step.verify()
    assert len(rig.calls("role")) == 2 and len(rig.calls("primary")) == 1
    assert rig.role() == "Primary" and mounted_on(rig.volume.mountpoint)


def test_undo_right_after_check_reads_the_roles_once(rig: Rig) -> None:
    step = rig.step()
    step.apply()
    before = len(rig.calls("role"))
    assert step.check().up is True
    step.undo()
    step.verify_undone()
    assert len(rig.calls("role")) - before == 2 and len(rig.calls("secondary")) == 1
    assert rig.role() == "Secondary" and not mounted_on(rig.volume.mountpoint)


def test_a_stale_check_is_not_trusted_by_apply(volume: Volume, tmp_path: Path) -> None:
    """A check older than FRESH (fake clock) is read again: the peer that became Primary is seen."""
    rig = make_rig(volume, tmp_path)
    clock = [100.0]
    rig.ctx.monotonic = lambda: clock[0]
    step = rig.step()
    assert step.check().up is False
    drbdadm.set_role(rig.state, "r0", "pbx-b", "Primary")
    clock[0] += 2.0
    with pytest.raises(RefusedError, match="peer is Primary"):
        step.apply()
    assert rig.calls("primary") == [] and not mounted_on(volume.mountpoint)


def test_peer_promoted_between_check_and_apply_is_still_refused(volume: Volume, tmp_path: Path) -> None:
    """Within FRESH the check's reading stands; DRBD itself (exit 17) still refuses a second Primary."""
    rig = make_rig(volume, tmp_path)
    step = rig.step()
    assert step.check().up is False
    drbdadm.set_role(rig.state, "r0", "pbx-b", "Primary")
    with pytest.raises(RefusedError) as err:
        step.apply()
    assert err.value.exit_status == 3
    assert rig.role() == "Secondary" and rig.role("pbx-b") == "Primary" and not mounted_on(volume.mountpoint)


def test_an_early_probe_on_the_same_reading_gives_apply_the_peer_roles(volume: Volume, tmp_path: Path) -> None:
    """DRBD 9: the peers' roles read when the takeover began stand while the resource reads the same (one ``status``);
    a peer promoted since is refused by DRBD itself, as within FRESH."""
    rig = make_rig(volume, tmp_path, format="9")
    step = rig.step()
    step.start_early().wait()
    assert len(rig.calls("status")) == 1
    drbdadm.set_role(rig.state, "r0", "pbx-b", "Primary")
    assert step.check().up is False
    with pytest.raises(RefusedError) as err:
        step.apply()
    assert err.value.exit_status == 3
    assert len(rig.calls("status")) == 1 and len(rig.calls("primary")) == 1  # not read again: DRBD refused the promotion
    assert rig.role() == "Secondary" and not mounted_on(volume.mountpoint)


def test_an_early_probe_on_another_reading_is_read_again(volume: Volume, tmp_path: Path) -> None:
    """8.4: the early probe saw the peer Primary; the peer was demoted since (the role reads otherwise): apply promotes."""
    rig = make_rig(volume, tmp_path, primary="pbx-b")
    step = rig.step()
    step.start_early().wait()
    drbdadm.set_role(rig.state, "r0", "pbx-b", "Secondary")
    assert step.check().up is False
    step.apply()
    step.verify()
    assert rig.role() == "Primary" and mounted_on(volume.mountpoint)
    step.undo()


# --- release of a partial state: each part that is up is taken down ------------------------


def test_release_demotes_a_primary_that_is_not_mounted(rig: Rig) -> None:
    """What a takeover killed between ``drbdadm primary`` and the mount leaves (or an unmount by hand)."""
    drbdadm.set_role(rig.state, "r0", "pbx-a", "Primary")
    step = rig.step()
    assert step.check().up is False  # takeover still has to mount
    probe = step.release_probe()
    assert probe.up and "r0 Primary, nothing mounted" in probe.detail
    step.undo()
    step.verify_undone()
    assert rig.role() == "Secondary" and len(rig.calls("secondary")) == 1
    assert step.release_probe().up is False


def test_release_unmounts_the_device_mounted_while_secondary(rig: Rig) -> None:
    sh("mount", "-t", "ext4", rig.volume.device, str(rig.volume.mountpoint))
    step = rig.step()
    assert step.check().up is False
    assert step.release_probe().up is True
    step.undo()
    step.verify_undone()
    assert not mounted_on(rig.volume.mountpoint) and rig.role() == "Secondary"
    assert rig.calls("secondary") == []


def test_release_leaves_another_filesystem_on_the_mountpoint(volume: Volume, tmp_path: Path) -> None:
    """Not ours, Secondary: nothing of the step is up."""
    rig = make_rig(volume, tmp_path)
    sh("mount", "-t", "tmpfs", "tmpfs", str(volume.mountpoint))
    try:
        assert rig.step().release_probe().up is False
    finally:
        sh("umount", str(volume.mountpoint))
