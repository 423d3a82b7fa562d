"""Whole ``atribank_hook`` processes: decisions, bad input, hostile labels, the cache.

Stand-in: the fake sysfs tree (no xpp driver here). The hook process, its
configuration cache, the hand-off and the engine with command steps are real.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.node import HOOK, PYTHON, Node
from tests.support.units import label


def _line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines, proc
    return lines[-1]


def test_arrival_hands_off_exactly_one_takeover_and_departure_one_release(node: Node) -> None:
    node.configure()
    node.listed(3)
    results = [r for i in (2, 0, 1) for r in node.plug(i)]
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert "online XBUS-00: 2/3 ready, missing usb:00000001 (@usb-0000:00:1d.7-1); waiting for the listed units" in results[3].stderr
    assert "online XBUS-01: 3/3 ready; all ready; takeover running in this process" in results[-1].stderr
    assert node.begins("takeover") == 1 and node.role() == "active"
    again = node.run_hook(node.sysfs.event("online", 1))
    assert "already active" in _line(again) and node.begins("takeover") == 1
    departures = [r for i in (0, 1, 2) for r in node.unplug(i)]
    assert all(r.returncode == 0 for r in departures)
    last = _line(departures[4])
    assert last.startswith("twinstar: offline XBUS-02: 0/3 ready, missing usb:00000000 (@usb-0000:00:1d.7-0)")
    assert last.endswith("leaving usb:00000002 (DEACTIVATING); no listed unit present (active); release running in this process")
    assert node.begins("release") == 1 and node.role() == "standby"


def test_unknown_action_is_ignored_and_missing_action_is_exit_2(node: Node) -> None:
    node.configure()
    node.listed(1)
    node.arrive(0)
    bind = node.run_hook({"ACTION": "bind", "XBUS_NAME": "XBUS-00"})
    assert bind.returncode == 0 and "bind XBUS-00: not a hotplug action" in bind.stderr
    none = node.run_hook({"XBUS_NAME": "XBUS-00"})
    assert none.returncode == 2 and "ACTION is not set" in none.stderr
    assert "Traceback" not in bind.stderr + none.stderr
    assert node.begins("takeover") == 0


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "not found; without it no takeover can start"),
        ("empty", "lists no units"),
        ("duplicate", "duplicate entry"),
    ],
)
def test_bad_xpp_order_never_takes_over(node: Node, setup: str, message: str) -> None:
    node.configure()
    node.arrive(0)
    if setup == "empty":
        node.order(["# nothing", ""])
    elif setup == "duplicate":
        node.order([label(0), label(0)])
    proc = node.run_hook(node.sysfs.event("online", 0))
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert node.begins("takeover") == 0 and not node.state_dir.joinpath("handoff.json").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("node: [\n", "YAML syntax error"),
        ("takeover: []\nhandof: spawn\n", "did you mean 'handoff'"),
        (None, "configuration file not found"),
    ],
)
def test_bad_configuration_is_exit_2(node: Node, text: str | None, message: str) -> None:
    node.listed(1)
    node.arrive(0)
    if text is not None:
        node.config_path.write_text(text)
    proc = node.run_hook(node.sysfs.event("online", 0))
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not node.state_dir.exists()


def test_garbage_in_sysfs_is_logged_and_blocks_only_that_unit(node: Node) -> None:
    node.configure()
    node.listed(2)
    node.arrive(0)
    node.arrive(1)
    node.sysfs.write_attr(1, "xbus_state", "$(touch pwned) (4)")
    proc = node.run_hook(node.sysfs.event("online", 1))
    assert proc.returncode == 0
    assert "1/2 ready, waiting usb:00000001 (xbus_state: expected 'NAME (n)'" in proc.stderr
    assert node.begins("takeover") == 0
    node.sysfs.set_state(1, "READY")
    assert node.run_hook(node.sysfs.event("online", 1)).returncode == 0
    assert node.begins("takeover") == 1
    assert not list(node.root.rglob("pwned"))


HOSTILE = [
    b"$(touch pwned)",
    b"`touch pwned`",
    b";touch pwned;",
    b"|touch pwned",
    b"a\nb",  # cannot be listed: a line break
    b"usb:\xff\xfe\x80",
    b"%s%n%x%p",
    b"' \" \\",
]


def test_hostile_labels_are_never_executed_and_match_exactly(node: Node, tmp_path: Path) -> None:
    node.configure()
    listable = [lab for lab in HOSTILE if b"\n" not in lab and lab.strip() == lab]
    node.order(listable)
    for i, lab in enumerate(HOSTILE):
        node.sysfs.create_unit(i)
        node.sysfs.attach(i, label=lab, connector=f"usb-{i};touch pwned")
    procs = [node.run_hook(node.sysfs.online(i), cwd=tmp_path) for i in range(len(HOSTILE))]
    assert all(p.returncode == 0 for p in procs), [p.stderr for p in procs]
    final = _line(procs[-1])
    assert f"{len(listable)}/{len(listable)} ready" in final and "takeover running in this process" in final
    assert "unlisted 'a\\nb' (xbus-04)" in final
    assert node.begins("takeover") == 1
    everything = "".join(p.stderr for p in procs)
    assert "usb:\\xff\\xfe\\x80" in everything and "%s%n%x%p" in everything
    assert not list(tmp_path.rglob("pwned")) and not os.path.exists("pwned") and not Path("/tmp/pwned").exists()


def test_maintenance_file_blocks_takeover_and_release(node: Node) -> None:
    node.configure()
    node.listed(1)
    node.maintenance.write_text("")
    events = node.arrive(0)
    proc = node.run_hook(events[-1])
    assert "maintenance file is present: no takeover" in proc.stderr and node.begins("takeover") == 0
    node.maintenance.unlink()
    node.run_hook(events[-1])
    assert node.role() == "active"
    node.maintenance.write_text("")
    proc = node.run_hook(node.sysfs.offline(0))
    assert "no release" in proc.stderr and node.role() == "active"


def test_failed_takeover_retries_on_the_next_event_only(node: Node) -> None:
    node.configure(steps="  - command: {name: bad, start: [/bin/false], stop: [/bin/true]}\n")
    node.listed(1)
    event = node.arrive(0)[-1]
    first = node.run_hook(event)
    assert first.returncode == 1 and node.role() == "failed" and node.begins("takeover") == 1
    periodic = node.evaluate(None)
    assert periodic.decision.action == "nothing" and "last transition failed" in periodic.decision.reason
    assert node.begins("takeover") == 1
    node.run_hook(event)
    assert node.begins("takeover") == 2


def test_interrupted_takeover_does_not_block(node: Node) -> None:
    node.configure()
    node.listed(1)
    node.state_dir.mkdir(mode=0o700)
    dead = subprocess.Popen([PYTHON, "-c", "pass"])
    dead.wait()
    (node.state_dir / "state.json").write_text(json.dumps({"role": "starting", "pid": dead.pid, "since": 1.0}))
    (node.state_dir / "handoff.json").write_text(json.dumps({"action": "takeover", "time": 0.5, "mode": "spawn", "pid": dead.pid}))
    proc = node.run_hook(node.arrive(0)[-1])
    assert "completing an interrupted transition" in proc.stderr
    assert node.role() == "active" and node.begins("takeover") == 1


def test_a_live_pending_hand_off_blocks_a_second_one(node: Node) -> None:
    from twinstar.fastpath.procid import process_start
    from twinstar.hotplug.handoff import write_record

    node.configure()
    node.listed(1)
    node.state_dir.mkdir(mode=0o700)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        record = {"action": "takeover", "mode": "spawn", "pid": sleeper.pid, "start": process_start(sleeper.pid)}
        write_record(str(node.state_dir), record)
        proc = node.run_hook(node.arrive(0)[-1])
        assert "takeover handed off" in proc.stderr and f"pid {sleeper.pid}" in proc.stderr
        assert node.begins("takeover") == 0
        record["start"] = 1  # same pid, another process: reused pid, stale record
        write_record(str(node.state_dir), record)
        node.run_hook(node.sysfs.event("online", 0))
        assert node.begins("takeover") == 1
    finally:
        sleeper.kill()
        sleeper.wait()


def test_failing_systemctl_is_exit_1_and_not_recorded(node: Node) -> None:
    stub = node.write_stub("systemctl", "echo 'Unit not found' >&2; exit 5")
    node.configure(handoff="systemd", extra=f"programs: {{systemctl: {stub}}}\n")
    node.listed(1)
    proc = node.run_hook(node.arrive(0)[-1])
    assert proc.returncode == 1 and "exited with status 5" in proc.stderr
    assert not (node.state_dir / "handoff.json").exists()
    node.run_hook(node.sysfs.event("online", 0))
    assert len(node.recorded()) == 2


@pytest.mark.parametrize("entry", ["atribank_hook", "in-process"])
def test_spawn_hand_off_survives_the_hook(node: Node, entry: str) -> None:
    """The hook's detached takeover is a fork of the hook (no new interpreter); another caller (here the test) starts the runner.

    Either way the detached process holds none of the hook's descriptors: the hand-off lock is free.
    """
    go, done = node.root / "go", node.root / "done"
    waiter = f"import os,sys,time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.01)\nopen({str(done)!r},'w').write('done')"
    node.configure(handoff="spawn", steps=f"  - command: {{name: slow, start: [{PYTHON}, -c, {json.dumps(waiter)}], stop: [/bin/true], timeout: 60}}\n")
    node.listed(1)
    event = node.arrive(0)[-1]
    if entry == "atribank_hook":
        hook = node.run_hook(event)
        assert hook.returncode == 0 and "handed off to a detached process" in hook.stderr, hook.stderr
    else:
        assert "handed off to a detached process" in str(node.evaluate(event, handoff_mode="spawn").handed_off)
    record = json.loads((node.state_dir / "handoff.json").read_text())
    assert record["mode"] == "spawn" and not done.exists()
    from twinstar.fastpath.procid import process_alive

    assert process_alive(record["pid"], record["start"])  # the hook has exited; the takeover has not
    for _ in range(3000):  # the runner has begun (so an exec, if any, is done)
        if node.role() == "starting":
            break
        time.sleep(0.01)
    assert node.role() == "starting"
    cmdline = Path(f"/proc/{record['pid']}/cmdline").read_bytes().split(b"\0")[:-1]
    if entry == "atribank_hook":
        assert cmdline == [PYTHON.encode(), str(HOOK).encode()]
    else:
        assert cmdline[1:4] == [b"-m", b"twinstar.cli.handoff_runner", b"takeover"]
    import fcntl

    with open(node.state_dir / "handoff.lock", "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if the detached process kept the hook's lock
    go.write_text("")
    for _ in range(3000):
        if node.role() == "active" and not process_alive(record["pid"]):
            break
        time.sleep(0.01)
    assert node.role() == "active" and done.exists()
    assert node.begins("takeover") == 1


def _serving(node: Node) -> None:
    """state.json says this node is active (it serves): only then does an ``online`` re-arm its unit."""
    node.state_dir.mkdir(mode=0o700, exist_ok=True)
    (node.state_dir / "state.json").write_text(json.dumps({"role": "active", "since": 1.0}))


def test_rearm_is_handed_off_with_the_units_usb_address(node: Node) -> None:
    stub = node.write_stub("systemctl", "exit 0")
    node.configure(handoff="systemd", rearm=True, extra=f"programs: {{systemctl: {stub}}}\n")
    node.listed(1)
    node.sysfs.create_unit(0, busnum=3, devnum=12)
    node.sysfs.attach(0, label=label(0), connector="usb-0")
    node.run_hook(node.sysfs.online(0))  # standby: the takeover is handed off, the watchdog left alone
    assert node.recorded() == ["systemctl start --no-block twinstar-takeover.service"]
    _serving(node)
    node.sysfs.create_unit(7, busnum=3, devnum=13)
    node.sysfs.attach(7, label="usb:unlisted", connector="usb-7")
    node.run_hook(node.sysfs.event("online", 0))
    node.run_hook(node.sysfs.online(7))
    assert node.recorded()[1:] == ["systemctl start --no-block twinstar-rearm@003-012.service"]
    node.maintenance.write_text("")
    node.run_hook(node.sysfs.event("online", 0))
    assert len(node.recorded()) == 2


#: The twinstar modules every event with a warm cache imports: the node's state and the policy's memory included.
HOT_PATH = {
    "twinstar", "twinstar.settings", "twinstar.words",
    "twinstar.cli", "twinstar.cli.atribank_hook",
    "twinstar.fastpath", "twinstar.fastpath.decision", "twinstar.fastpath.hooksettings", "twinstar.fastpath.procid",
    "twinstar.fastpath.safefile", "twinstar.fastpath.syslogsend", "twinstar.fastpath.statefile",
    "twinstar.fastpath.policyfile",
    "twinstar.hotplug", "twinstar.hotplug.hook",
    "twinstar.astribank", "twinstar.astribank.printable", "twinstar.astribank.readiness", "twinstar.astribank.sysfs",
    "twinstar.astribank.xpporder",
}
#: With every listed unit READY: dahdi-tools' boot semaphore looked for (not ctypes).
NODE_STATE = {"twinstar.astribank.startsem"}
IMPORTS_CODE = (
    "import sys\nfrom twinstar.cli import atribank_hook\nrc = atribank_hook.main()\n"
    "heavy = ('yaml', 'click', 'pyudev', 'usb', 'json', 'dataclasses', 'typing', 're', 'enum', 'logging', 'subprocess',"
    " '__future__', 'binascii', 'ctypes')\n"
    "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] == 'twinstar')))"
)


def test_fast_path_imports_exactly_the_hot_path(node: Node) -> None:
    """Each module costs the hook about 0.1 ms: the set is pinned, heavy ones (and ``__future__``) never load.

    An event that can act (a takeover, a re-arm) adds the hand-off; one that
    finds a stale cache adds the configuration: neither is in these runs.
    """
    node.configure()
    node.listed(2)
    for i in (0, 1):
        node.arrive(i)
    assert node.run_hook(node.sysfs.event("online", 1)).returncode == 0  # slow path once: takeover, cache
    active = node.run_hook(node.sysfs.event("online", 0), argv=[PYTHON, "-c", IMPORTS_CODE])
    rc_heavy, loaded = active.stdout.splitlines()
    assert rc_heavy == "0 []", active.stdout + active.stderr
    assert "already active" in active.stderr
    assert set(loaded.split()) == HOT_PATH | NODE_STATE, active.stdout


def test_an_event_that_concerns_no_listed_unit_stays_on_the_fast_path(node: Node) -> None:
    """A standby node, no listed unit here, nothing in the policy's memory: only the hot path is imported."""
    node.configure()
    node.listed(2)
    node.sysfs.create_unit(7, busnum=3, devnum=13)
    node.sysfs.attach(7, label="usb:unlisted", connector="usb-7")
    assert node.run_hook(node.sysfs.online(7)).returncode == 0  # slow path once: the cache
    other = node.run_hook(node.sysfs.event("online", 7), argv=[PYTHON, "-c", IMPORTS_CODE])
    rc_heavy, loaded = other.stdout.splitlines()
    assert rc_heavy == "0 []", other.stdout + other.stderr
    assert "0/2 ready" in other.stderr, other.stderr
    assert set(loaded.split()) == HOT_PATH, other.stdout


@pytest.mark.parametrize("mode", ["systemd", "spawn"])
def test_cold_hook_never_imports_click_pyudev_or_pyusb(node: Node, mode: str) -> None:
    """No cache yet (the configuration is parsed), a takeover handed off (its success arms the watchdog, not the hook)."""
    stub = node.write_stub("systemctl", "exit 0")
    node.configure(handoff=mode, rearm=True, steps="  - command: {name: noop, start: [/bin/true], stop: [/bin/true]}\n",
                   extra=f"programs: {{systemctl: {stub}}}\n")
    node.listed(1)
    node.arrive(0)
    code = (
        "import sys\nfrom twinstar.cli import atribank_hook\nrc = atribank_hook.main()\n"
        "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('click', 'pyudev', 'usb')))"
    )
    proc = node.run_hook(node.sysfs.event("online", 0), argv=[PYTHON, "-c", code])
    assert proc.stdout.split("\n")[0] == "0 []", proc.stdout + proc.stderr
    assert "takeover handed off" in proc.stderr and "watchdog re-arm" not in proc.stderr, proc.stderr
    if mode == "spawn":  # let the detached takeover finish before the tree is removed
        record = json.loads((node.state_dir / "handoff.json").read_text())
        from twinstar.fastpath.procid import process_alive

        for _ in range(3000):
            if not process_alive(record["pid"], record["start"]):
                break
            time.sleep(0.01)


def test_cache_is_private_and_follows_every_edit(node: Node) -> None:
    node.configure(handoff="inline")
    node.listed(1)
    node.run_hook(node.sysfs.create_unit(0))
    (cache,) = node.cache_dir.iterdir()
    assert stat.S_IMODE(node.cache_dir.stat().st_mode) == 0o700 and stat.S_IMODE(cache.stat().st_mode) == 0o600
    stub = node.write_stub("systemctl", "exit 0")
    node.configure(handoff="systemd", extra=f"programs: {{systemctl: {stub}}}\n")
    node.sysfs.attach(0, label=label(0), connector="usb-0")
    node.run_hook(node.sysfs.online(0))
    assert node.recorded() == ["systemctl start --no-block twinstar-takeover.service"]


def test_unsafe_cache_is_ignored(node: Node) -> None:
    node.configure()
    node.listed(1)
    node.cache_dir.mkdir(mode=0o755)
    node.cache_dir.chmod(0o755)
    proc = node.run_hook(node.arrive(0)[-1])
    assert proc.returncode == 0 and node.role() == "active"
    assert list(node.cache_dir.iterdir()) == []  # not written into a directory others can read


def test_planted_cache_symlink_is_not_followed(node: Node, tmp_path: Path) -> None:
    node.configure()
    node.listed(1)
    node.run_hook(node.sysfs.event("add", 0))
    (cache,) = node.cache_dir.iterdir()
    target = tmp_path / "target"
    target.write_bytes(b"precious")
    cache.unlink()
    cache.symlink_to(target)
    node.config_path.write_text(node.config_path.read_text() + "\n")
    os.utime(node.config_path, (1e9, 1e9))
    assert node.run_hook(node.arrive(0)[-1]).returncode == 0
    assert target.read_bytes() == b"precious" and not cache.is_symlink()


def test_twinstar_hook_command_is_the_same_code_path(node: Node) -> None:
    node.configure()
    node.listed(1)
    event = node.arrive(0)[-1]
    twinstar = str(Path(sys.executable).parent / "twinstar")
    proc = node.run_hook(event, argv=[twinstar, "--config", str(node.config_path), "hook"])
    assert proc.returncode == 0 and "online XBUS-00: 1/1 ready; all ready; takeover running in this process" in proc.stderr
    assert node.begins("takeover") == 1
    assert node.run_hook({"XBUS_NAME": "XBUS-00"}, argv=[twinstar, "hook"]).returncode == 2


def test_hook_file_is_a_thin_executable() -> None:
    assert os.access(HOOK, os.X_OK)
    assert "from twinstar.cli.atribank_hook import run" in HOOK.read_text()
    assert HOOK.read_text().splitlines()[0].endswith(" -IS")


def test_leaving_the_fast_path_turns_the_garbage_collector_back_on() -> None:
    """The installed hook runs its fast path without the cyclic collector; what goes beyond it (the parser, a
    transition, a forked runner) comes through ``complete_startup``, which turns it on again."""
    import gc

    from twinstar.hotplug import configuration

    assert "gc.disable()" in HOOK.read_text()
    gc.disable()
    try:
        configuration.complete_startup()
        assert gc.isenabled()
    finally:
        gc.enable()


#: A hook process (:func:`twinstar.cli.atribank_hook.run`) with output still buffered and an object whose
#: finalizer only the interpreter's teardown would run; ``{extra}`` is code run before the hook.
RUN_CODE = (
    "import sys\nsys.path.insert(0, {repo!r})\n{extra}\n"
    "class Torn:\n    def __del__(self):\n        sys.stderr.write('torn down\\n')\n"
    "kept = Torn()\nsys.stdout.write('pending')  # a pipe: block-buffered, not written yet\n"
    "from twinstar.cli.atribank_hook import run\nrun()\n"
)


@pytest.mark.parametrize("extra", ["", "import atexit\natexit.register(lambda: sys.stdout.write(' exit handler'))",
                                   "import threading"])
def test_the_hook_skips_the_teardown_only_when_nothing_needs_it(node: Node, extra: str) -> None:
    """Nothing registered to run at exit and no thread: the output is flushed and the process ends with the
    event's status, without the teardown (the finalizer never runs). An exit handler or threads (as an inline
    takeover has: logging's handler): the usual exit."""
    node.configure()
    node.listed(1)
    node.arrive(0)
    code = RUN_CODE.format(repo=str(REPO), extra=extra)
    inline = node.run_hook(node.sysfs.event("online", 0), argv=[PYTHON, "-c", code])  # takes over, in this process
    assert inline.returncode == 0 and "torn down" in inline.stderr and node.role() == "active", inline.stderr
    proc = node.run_hook(node.sysfs.event("online", 0), argv=[PYTHON, "-c", code])
    assert proc.returncode == 0 and "already active" in proc.stderr, proc.stderr
    assert proc.stdout == ("pending exit handler" if "atexit" in extra else "pending"), proc.stdout
    assert ("torn down" in proc.stderr) == bool(extra), proc.stderr
    bad = node.run_hook({"XBUS_NAME": "XBUS-00"}, argv=[PYTHON, "-c", code])
    assert bad.returncode == 2 and bad.stdout.startswith("pending") and "ACTION is not set" in bad.stderr, bad.stderr


@pytest.mark.parametrize("handoff", ["inline", "spawn"])
def test_hook_started_isolated_and_without_site_parses_takes_over_and_stays_fast(node: Node, handoff: str) -> None:
    """As installed (``python3 -IS``): the cold start parses the YAML and takes over, after completing the start-up."""
    node.configure(handoff=handoff)
    node.listed(1)
    argv = [PYTHON, "-IS", str(HOOK)]
    procs = [node.run_hook(event, argv=argv) for event in node.arrive(0)]
    assert all(p.returncode == 0 for p in procs), [p.stderr for p in procs]
    assert "1/1 ready; all ready; takeover" in procs[0].stderr
    if handoff == "spawn":  # wait for the detached takeover
        from twinstar.fastpath.procid import process_alive

        record = json.loads((node.state_dir / "handoff.json").read_text())
        for _ in range(3000):
            if not process_alive(record["pid"], record["start"]):
                break
            time.sleep(0.01)
    assert node.begins("takeover") == 1 and node.role() == "active"
    again = node.run_hook(node.sysfs.event("online", 0), argv=argv)
    assert again.returncode == 0 and "already active" in _line(again)
    code = (  # the hook's fast path under -IS: neither site nor os (each a sixth of a bare start)
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\nfrom twinstar.cli import atribank_hook\nrc = atribank_hook.main()\n"
        "print(rc, [m for m in ('site', 'os', 'stat', '_collections_abc', 'json', 're') if m in sys.modules])"
    )
    lean = node.run_hook(node.sysfs.event("online", 0), argv=[PYTHON, "-IS", "-c", code])
    assert lean.stdout == "0 []\n" and "already active" in lean.stderr, lean.stdout + lean.stderr
    bad = node.run_hook({"XBUS_NAME": "XBUS-00"}, argv=argv)
    assert bad.returncode == 2 and "ACTION is not set" in bad.stderr


def test_an_arrival_hands_the_policy_runner_off_without_loading_the_hand_off(node: Node) -> None:
    """Some units here, not all (``handoff: spawn``): the hook starts the pair policy's runner detached and
    loads neither ``site``, ``os`` nor :mod:`twinstar.hotplug.handoff` for it (:mod:`twinstar.fastpath.detach`)."""
    node.configure(handoff="spawn")
    node.listed(2)
    node.arrive(0)
    code = (
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\nfrom twinstar.cli import atribank_hook\nrc = atribank_hook.main()\n"
        "print(rc, [m for m in ('site', 'os', 'twinstar.hotplug.handoff', 'twinstar.config') if m in sys.modules])"
    )
    for warm in (False, True):  # the first event parses the configuration and writes the hook's cache
        proc = node.run_hook(node.sysfs.event("online", 0), argv=[PYTHON, "-IS", "-c", code])
        assert proc.stdout == "0 []\n" or not warm, proc.stdout + proc.stderr
        assert "1/2 ready" in proc.stderr and "policy handed off to a detached process (pid " in proc.stderr, proc.stderr
        pid = int(proc.stderr.split("policy handed off to a detached process (pid ")[1].split(")")[0])
        for _ in range(6000):  # the runner looks, finds nothing to do yet, and ends
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.01)
        assert not os.path.exists(f"/proc/{pid}"), f"the policy runner {pid} is still running"
    assert node.begins("takeover") == 0


@pytest.mark.parametrize("mode", ["inline", "spawn"])
def test_rearm_enables_the_watchdog_of_the_simulated_unit(node: Node, mode: str) -> None:
    """Stand-ins: the fake sysfs tree and the simulated Astribank (a pyusb backend)."""
    from twinstar.usb import sim

    state = node.root / "sim.json"
    sim.init_state(str(state), units=2, port=0)
    node.configure(handoff=mode, rearm=True, extra=f"usb: {{simulator: {state}, simulator_port: 0}}\n")
    node.listed(1)
    _serving(node)  # active already: the online event re-arms its own unit only
    node.sysfs.create_unit(0, busnum=1, devnum=3)  # the simulator's second unit
    node.sysfs.attach(0, label=label(0), connector="usb-0")
    proc = node.run_hook(node.sysfs.online(0))
    assert proc.returncode == 0, proc.stderr

    def watchdogs() -> list[bool]:
        return [u["watchdog"] for u in json.loads(state.read_text())["units"]]

    for _ in range(3000):
        if watchdogs() == [False, True]:
            break
        time.sleep(0.01)
    assert watchdogs() == [False, True], proc.stderr
    if mode == "inline":
        assert "SIM00002" in proc.stderr or "usb:001/003" in proc.stderr
