"""The prepared takeover runner of ``spawn`` mode, woken through its FIFO by the decisive hook.

Whole ``hooks/atribank_hook`` and hand-off runner processes, a real FIFO,
the real engine with command steps; the one stand-in is the fake sysfs tree
(the xpp driver cannot load here).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.cli import run_twinstar
from tests.support.node import HOOK, PYTHON, Node
from tests.support.units import attach
from twinstar.fastpath.lockprobe import held_by_other
from twinstar.fastpath.procid import process_alive

#: The step: which process ran it (its parent's pid), into a file.
STEP = "import os\nopen('{parent}', 'w').write(str(os.getppid()))\n"


def _wait(what: str, condition: Callable[[], object]) -> None:
    for _ in range(6000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture
def spawned(node: Node) -> Iterator[list[int]]:
    """Pids of runners started here: any left alive at the end is killed."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)


def _configure(node: Node) -> Path:
    parent = node.root / "parent.pid"
    code = STEP.format(parent=parent)
    node.configure(handoff="spawn", steps=f"  - command: {{name: where, start: [{PYTHON}, -c, {json.dumps(code)}], stop: [/bin/true]}}\n")
    return parent


def _fifo(node: Node) -> Path:
    return node.state_dir / "prepared.fifo"


def _prepared_pid(node: Node) -> int:
    """The runner that waits on its FIFO (it publishes its pid before it creates the FIFO)."""
    _wait("the prepared runner's FIFO", lambda: _fifo(node).exists())
    return int((node.state_dir / "prepared.pid").read_text())


def _runner(node: Node, seconds: int) -> subprocess.Popen[str]:
    argv = [PYTHON, "-m", "twinstar.cli.handoff_runner", "prepare", "--config", str(node.config_path), str(seconds)]
    return subprocess.Popen(argv, env=node.environ(), cwd=node.root, text=True, stderr=subprocess.PIPE)


def test_the_decisive_event_wakes_the_prepared_runner(node: Node, spawned: list[int]) -> None:
    """The runner is a fork of the hook that prepared it (no new interpreter: its probes start sooner)."""
    parent = _configure(node)
    node.listed(1)
    add = node.run_hook(node.sysfs.create_unit(0))
    assert add.returncode == 0 and "preparing a takeover runner (pid" in add.stderr, add.stderr
    runner = _prepared_pid(node)
    spawned.append(runner)
    assert Path(f"/proc/{runner}/cmdline").read_bytes().split(b"\0")[:-1] == [PYTHON.encode(), str(HOOK).encode()]
    assert Path(f"/proc/{runner}/comm").read_text() == "twinstar-prepar\n"  # not the hook's name, under which it was forked
    fifo = os.lstat(_fifo(node))
    assert stat.S_ISFIFO(fifo.st_mode) and stat.S_IMODE(fifo.st_mode) == 0o600
    attach(node.sysfs, 0)
    online = node.run_hook(node.sysfs.online(0))
    assert online.returncode == 0, online.stderr
    assert f"takeover handed off to a detached process (pid {runner}, prepared)" in online.stderr, online.stderr
    assert json.loads((node.state_dir / "handoff.json").read_text())["pid"] == runner
    _wait("the prepared takeover", lambda: node.role() == "active" and not process_alive(runner))
    assert int(parent.read_text()) == runner  # the step ran as a child of the runner
    assert node.begins("takeover") == 1
    assert not _fifo(node).exists()


def test_without_a_runner_the_takeover_is_forked(node: Node) -> None:
    parent = _configure(node)
    node.listed(1)
    online = node.arrive(0)[-1]  # the add event's hook never ran: nothing prepared
    result = node.run_hook(online)
    assert "takeover handed off to a detached process (pid" in result.stderr and "prepared" not in result.stderr, result.stderr
    pid = json.loads((node.state_dir / "handoff.json").read_text())["pid"]
    _wait("the forked takeover", lambda: node.role() == "active" and not process_alive(pid))
    assert int(parent.read_text()) == pid


@pytest.mark.parametrize("what", ["file", "directory", "fifo 0644"])
def test_anything_but_a_private_fifo_is_not_used(node: Node, what: str) -> None:
    _configure(node)
    node.listed(1)
    node.state_dir.mkdir(mode=0o700)
    path = _fifo(node)
    if what == "file":
        path.write_text("")
        path.chmod(0o600)
    elif what == "directory":
        path.mkdir(mode=0o600)
    else:
        os.mkfifo(path, 0o644)
        path.chmod(0o644)
    result = node.run_hook(node.arrive(0)[-1])
    assert "is not a FIFO of this user with mode 0600: not used" in result.stderr, result.stderr
    assert "takeover handed off to a detached process (pid" in result.stderr and ", prepared)" not in result.stderr
    pid = json.loads((node.state_dir / "handoff.json").read_text())["pid"]
    _wait("the forked takeover", lambda: node.role() == "active" and not process_alive(pid))
    assert os.path.lexists(path)  # left alone


def test_a_runner_not_woken_removes_its_fifo_and_runs_nothing(node: Node) -> None:
    _configure(node)
    node.listed(1)
    node.arrive(0)
    runner = _runner(node, 1)
    assert runner.wait(timeout=120) == 0, runner.stderr.read() if runner.stderr else ""
    assert not _fifo(node).exists()
    assert node.begins("takeover") == 0 and node.role() == "standby"


def _opened(pid: int, path: Path) -> bool:
    """Process ``pid`` has ``path`` open."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd) == str(path) for fd in fds.iterdir())
    except OSError:  # a descriptor closed while looked at
        return False


def test_a_wake_up_as_the_wait_ends_is_not_lost(node: Node) -> None:
    """The byte is written once the runner's wait is over (0 s): it has opened ``handoff.lock``, held here."""
    _configure(node)
    node.listed(1)
    node.arrive(0)
    node.state_dir.mkdir(mode=0o700)
    lock = os.open(node.state_dir / "handoff.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        runner = _runner(node, 0)
        assert _prepared_pid(node) == runner.pid
        _wait("the runner to wait for handoff.lock", lambda: _opened(runner.pid, node.state_dir / "handoff.lock"))
        fd = os.open(_fifo(node), os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, b"1")
        os.close(fd)
    finally:
        os.close(lock)
    assert runner.wait(timeout=120) == 0, runner.stderr.read() if runner.stderr else ""
    assert node.role() == "active" and node.begins("takeover") == 1
    assert not _fifo(node).exists()


def test_two_arriving_events_leave_one_runner(node: Node, spawned: list[int]) -> None:
    _configure(node)
    node.listed(3)
    node.arrive(0)
    events = [node.sysfs.create_unit(1), node.sysfs.create_unit(2)]
    hooks = [subprocess.Popen([PYTHON, str(Path(__file__).parents[2] / "hooks" / "atribank_hook")], env=node.environ(e),
                              cwd=node.root, text=True, stderr=subprocess.PIPE) for e in events]
    outputs = [h.communicate(timeout=120)[1] for h in hooks]
    announced = [int(o.split("preparing a takeover runner (pid ")[1].split(")")[0]) for o in outputs if "preparing" in o]
    spawned.extend(announced)
    # One runner: the first hook took prepared.lock for it, the other found it taken.
    assert len(announced) == 1 and any("already prepared" in o for o in outputs), outputs
    assert _prepared_pid(node) == announced[0]
    again = node.run_hook(node.sysfs.event("add", 1))
    assert "takeover runner already prepared" in again.stderr, again.stderr


def test_the_runner_holds_its_lock_from_the_moment_its_hook_returns(node: Node, spawned: list[int]) -> None:
    """The hook takes ``prepared.lock`` and hands it to the runner: an event a millisecond later finds it
    taken, though the runner's interpreter has not started yet. The lock is not passed on to the
    programs the takeover runs."""
    parent = _configure(node)
    node.listed(1)
    add = node.run_hook(node.sysfs.create_unit(0))
    assert "preparing a takeover runner (pid" in add.stderr, add.stderr
    spawned.append(int(add.stderr.split("preparing a takeover runner (pid ")[1].split(")")[0]))
    assert held_by_other(str(node.state_dir / "prepared.lock"))
    runner = _prepared_pid(node)
    assert runner == spawned[0]
    assert (node.state_dir / "prepared.lock").read_text() == f"{runner}\n"
    attach(node.sysfs, 0)
    node.run_hook(node.sysfs.online(0))
    _wait("the prepared takeover", lambda: node.role() == "active" and not process_alive(runner))
    assert int(parent.read_text()) == runner
    assert not held_by_other(str(node.state_dir / "prepared.lock"))  # nothing the takeover ran kept it


def test_a_configuration_changed_while_the_runner_waits_is_read_again(node: Node, spawned: list[int]) -> None:
    """The runner loaded the configuration when the first unit arrived; the operator changed it before the
    last unit was READY: the takeover runs the file as it is then, in the prepared runner."""
    first = _configure(node)
    node.listed(1)
    node.run_hook(node.sysfs.create_unit(0))
    runner = _prepared_pid(node)
    spawned.append(runner)
    # Built its engine and waits on the FIFO (the kernel says where its main thread sleeps).
    _wait("the runner's wait", lambda: "poll" in Path(f"/proc/{runner}/wchan").read_text())
    changed = node.root / "changed.pid"
    code = STEP.format(parent=changed)
    node.configure(handoff="spawn", steps=f"  - command: {{name: changed, start: [{PYTHON}, -c, {json.dumps(code)}], stop: [/bin/true]}}\n")
    attach(node.sysfs, 0)
    online = node.run_hook(node.sysfs.online(0))
    assert f"(pid {runner}, prepared)" in online.stderr, online.stderr
    _wait("the prepared takeover", lambda: node.role() == "active" and not process_alive(runner))
    assert int(changed.read_text()) == runner and not first.exists()


def test_a_runner_killed_after_the_wake_up_leaves_the_takeover_to_the_next_event(node: Node, spawned: list[int]) -> None:
    parent = _configure(node)
    node.listed(1)
    node.run_hook(node.sysfs.create_unit(0))
    runner = _prepared_pid(node)
    spawned.append(runner)
    os.kill(runner, signal.SIGSTOP)  # it cannot read the byte before it is killed
    attach(node.sysfs, 0)
    online = node.sysfs.online(0)
    first = node.run_hook(online)
    assert f"(pid {runner}, prepared)" in first.stderr, first.stderr
    os.kill(runner, signal.SIGKILL)
    _wait("the killed runner to be gone", lambda: not process_alive(runner))
    assert node.role() == "standby" and node.begins("takeover") == 0
    second = node.run_hook(online)
    assert "takeover handed off to a detached process (pid" in second.stderr and ", prepared)" not in second.stderr, second.stderr
    pid = json.loads((node.state_dir / "handoff.json").read_text())["pid"]
    assert pid != runner
    _wait("the forked takeover", lambda: node.role() == "active" and not process_alive(pid))
    assert int(parent.read_text()) == pid and node.begins("takeover") == 1


@pytest.mark.parametrize("why", ["maintenance", "leaving"])
def test_no_runner_is_prepared_for_a_unit_leaving_or_when_no_takeover_would_follow(node: Node, why: str) -> None:
    _configure(node)
    if why == "maintenance":
        node.maintenance.write_text("")
    node.listed(2)
    node.arrive(0)
    if why == "leaving":
        node.arrive(1)
        event = node.sysfs.offline(1)
    else:
        event = node.sysfs.create_unit(1)
    result = node.run_hook(event)
    assert result.returncode == 0 and "1/2 ready" in result.stderr, result.stderr
    assert "prepar" not in result.stderr and not _fifo(node).exists()


def _second_unit_arriving_under_systemd(node: Node, systemctl: str) -> subprocess.CompletedProcess[str]:
    """``handoff: systemd``, a recording ``systemctl`` whose shell body is ``systemctl``; two units listed, the
    first READY: the hook's run for the second one's ``add``."""
    node.write_stub("systemctl", systemctl)
    node.configure(handoff="systemd", extra=f"programs: {{systemctl: {node.root / 'systemctl'}}}\n")
    node.listed(2)
    node.arrive(0)
    return node.run_hook(node.sysfs.create_unit(1))


def test_under_systemd_the_prepared_unit_is_started_once_per_runner(node: Node) -> None:
    """``handoff: systemd``: an arriving event starts ``twinstar-prepared.service`` (here a recording
    ``systemctl``); once a runner holds ``prepared.lock`` the next event starts nothing. The unit itself,
    under a real systemd: tests/systemd/test_handoff.py."""
    first = _second_unit_arriving_under_systemd(node, "exit 0")
    assert first.returncode == 0 and "preparing a takeover runner (twinstar-prepared.service)" in first.stderr, first.stderr
    prepared = "systemctl start --no-block twinstar-prepared.service"
    assert node.recorded() == ["systemctl start --no-block twinstar-policy.service", prepared]  # the split's policy too
    node.state_dir.mkdir(mode=0o700, exist_ok=True)
    with open(node.state_dir / "prepared.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        again = node.run_hook(node.sysfs.event("add", 1))
    assert again.returncode == 0 and "takeover runner already prepared" in again.stderr, again.stderr
    assert node.recorded().count(prepared) == 1


def test_the_decisive_hook_wakes_the_runner_without_heavy_imports(node: Node, spawned: list[int]) -> None:
    """The event that makes every unit READY, under ``-IS`` as installed: the hand-off lock, the record and the
    wake-up load neither ``site`` nor ``dataclasses``, ``enum`` (:mod:`twinstar.errors`), ``json``, ``re`` nor
    ``typing``: together they were two thirds of that hook's instructions (docs/benchmarks.md)."""
    _configure(node)
    node.listed(1)
    assert node.run_hook(node.sysfs.create_unit(0)).returncode == 0
    runner = _prepared_pid(node)
    spawned.append(runner)
    attach(node.sysfs, 0)
    heavy = ("site", "dataclasses", "enum", "json", "re", "typing", "twinstar.errors", "twinstar.config", "yaml")
    code = (
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\nfrom twinstar.cli import atribank_hook\nrc = atribank_hook.main()\n"
        f"print(rc, [m for m in {heavy!r} if m in sys.modules])"
    )
    online = node.run_hook(node.sysfs.online(0), argv=[PYTHON, "-IS", "-c", code])
    assert online.stdout == "0 []\n", online.stdout + online.stderr
    assert f"takeover handed off to a detached process (pid {runner}, prepared)" in online.stderr, online.stderr
    _wait("the prepared takeover", lambda: node.role() == "active" and not process_alive(runner))


def test_twinstar_takeover_prepared_is_the_runner_the_decisive_hook_wakes(node: Node) -> None:
    """``twinstar takeover --prepared`` (what ``twinstar-prepared.service`` runs): woken, it takes over and exits 0."""
    parent = _configure(node)
    node.listed(1)
    proc = subprocess.Popen(
        [PYTHON, "-m", "twinstar", "-c", str(node.config_path), "takeover", "--prepared"],
        env=node.environ(), cwd=node.root, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        runner = _prepared_pid(node)
        assert runner == proc.pid
        online = node.arrive(0)[-1]
        result = node.run_hook(online)
        assert f"takeover handed off to a detached process (pid {runner}, prepared)" in result.stderr, result.stderr
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert node.role() == "active" and node.begins("takeover") == 1
    assert int(parent.read_text()) == runner
    assert not _fifo(node).exists()


@pytest.mark.parametrize("extra", ["--dry-run", "--json"])
def test_takeover_prepared_takes_no_dry_run_or_json(node: Node, extra: str) -> None:
    _configure(node)
    result = run_twinstar(node.config_path, "takeover", "--prepared", extra)
    assert result.returncode == 2 and "--prepared runs the takeover the hook wakes" in result.stderr, result.stderr
    assert not node.state_dir.exists()


def test_under_systemd_a_missing_prepared_unit_costs_only_a_note(node: Node) -> None:
    """An installation without ``twinstar-prepared.service`` (``systemctl`` exits 5, "Unit not found"): the
    arriving event still exits 0 and says why; the decisive event then starts the takeover unit as before."""
    missing = 'case "$*" in *twinstar-prepared.service*) echo "Unit twinstar-prepared.service not found." >&2; exit 5;; esac\nexit 0'
    arriving = _second_unit_arriving_under_systemd(node, missing)
    assert arriving.returncode == 0 and "no takeover runner prepared: " in arriving.stderr, arriving.stderr
    attach(node.sysfs, 1)
    decisive = node.run_hook(node.sysfs.online(1))
    assert decisive.returncode == 0 and "takeover handed off to systemd (twinstar-takeover.service)" in decisive.stderr, decisive.stderr
    assert node.recorded()[-1] == "systemctl start --no-block twinstar-takeover.service"


def test_under_systemd_the_pair_policy_runs_in_its_unit_not_detached(node: Node) -> None:
    """``handoff: systemd``: an event that concerns the pair policy starts ``twinstar-policy.service``
    (udev would kill a detached runner); one looking already (``policy-run.lock``) is not started again;
    a unit that cannot be started is said in the event's line, exit 1."""
    first = _second_unit_arriving_under_systemd(node, "exit 0")
    assert first.returncode == 0 and "policy handed off to systemd (twinstar-policy.service)" in first.stderr, first.stderr
    assert "policy handed off to a detached process" not in first.stderr
    node.state_dir.mkdir(mode=0o700, exist_ok=True)
    with open(node.state_dir / "policy-run.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        again = node.run_hook(node.sysfs.event("add", 1))
    assert again.returncode == 0 and "policy: a runner is already looking" in again.stderr, again.stderr
    assert node.recorded().count("systemctl start --no-block twinstar-policy.service") == 1
    node.write_stub("systemctl", "exit 5")
    failed = node.run_hook(node.sysfs.event("add", 1))
    assert failed.returncode == 1 and "policy not handed off: " in failed.stderr, failed.stderr


def test_twinstar_policy_runs_the_pair_policy_once_and_ends(node: Node) -> None:
    """``twinstar policy`` (what ``twinstar-policy.service`` runs): with every listed unit here and READY on a
    standby node there is nothing for the policy to wait for; it ends with exit 0 and the lock free again."""
    _configure(node)
    node.listed(1)
    node.arrive(0)
    result = run_twinstar(node.config_path, "policy", timeout=120)
    assert result.returncode == 0, result.stderr
    assert not held_by_other(str(node.state_dir / "policy-run.lock"))


def test_a_state_directory_that_is_a_symlink_gets_no_lock_file_from_the_hook(node: Node, spawned: list[int], tmp_path: Path) -> None:
    """Bad input: ``state_dir`` a symlink. The arriving hook writes nothing through it; the runner it starts
    finds the state directory bad and ends (exit 2, nothing changed)."""
    _configure(node)
    node.listed(1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    if node.state_dir.exists():
        node.state_dir.rmdir()
    node.state_dir.symlink_to(elsewhere)
    add = node.run_hook(node.sysfs.create_unit(0))
    assert add.returncode == 0 and "preparing a takeover runner (pid" in add.stderr, add.stderr
    pid = int(add.stderr.split("preparing a takeover runner (pid ")[1].split(")")[0])
    spawned.append(pid)
    _wait("the runner to end", lambda: not process_alive(pid))
    assert list(elsewhere.iterdir()) == []
