"""The bad-input catalogue: every kind of bad input, each run as the real program.

Each case prepares its own tree (configuration, ``xpp_order``, a fake xpp sysfs
standing in for the driver, a command step whose start would create a marker
file), runs ``twinstar`` or the udev hook as a process with a timeout, and
asserts: the documented exit status (2 for bad input; 0 for a udev event that
is merely not actionable), nothing changed (the tree's files, the mounts below
it, no step ran), no traceback and no "internal error", and a message that
names what and where. The processes run in parallel, a few at a time.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import REPO, TWINSTAR, clean_environ
from tests.support.commands import recorder_wrapper
from twinstar.standins.fakesysfs import FakeSysfs

HOOK = [sys.executable, str(REPO / "hooks" / "atribank_hook")]
LABEL = "usb:00000000"


@dataclass(frozen=True)
class Run:
    argv: list[str]
    env: dict[str, str]


@dataclass(frozen=True)
class Case:
    setup: Callable[[Path], Run]
    says: tuple[str, ...]
    status: int = 2
    root: bool = False


# --- the tree every case starts from ----------------------------------------------------


def _tree(tmp: Path, *, extra: str = "", steps: str | None = None, dahdi: bool = False) -> Path:
    """``tmp/node``: configuration, xpp_order, a fake sysfs with one unit; returns the configuration."""
    node = tmp / "node"
    node.mkdir(exist_ok=True)
    rec = recorder_wrapper(node)
    marker, calls = node / "up-1", node / "calls"
    step = steps if steps is not None else (
        f"  - command: {{name: s1, start: [{rec}, {calls}, start1, --create, {marker}], "
        f"stop: [{rec}, {calls}, stop1], check: [/usr/bin/test, -e, {marker}]}}\n"
    )
    if dahdi:
        step = "  - dahdi: {dahdi_cfg: [/bin/true]}\n" + step
    (node / "xpp_order").write_text(LABEL + "\n")
    sysfs = FakeSysfs(str(node / "sys"))
    sysfs.arrive(0, label=LABEL, connector="usb-0")
    config = node / "twinstar.yaml"
    config.write_text(
        f"node: t\nstate_dir: {node / 'state'}\nhandoff: inline\n"
        f"astribanks: {{sysfs: {node / 'sys'}, xpp_order: {node / 'xpp_order'}, rearm_watchdog: false}}\n"
        f"{extra}takeover:\n{step}"
    )
    config.chmod(0o644)
    return config


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    return clean_environ({"TWINSTAR_CACHE_DIR": str(tmp / "cache"), **extra})  # the cache: outside the compared tree


def twinstar(*args: str, extra: str = "", steps: str | None = None, dahdi: bool = False,
             prepare: Callable[[Path], object] | None = None) -> Callable[[Path], Run]:
    def setup(tmp: Path) -> Run:
        config = _tree(tmp, extra=extra, steps=steps, dahdi=dahdi)
        if prepare is not None:
            prepare(tmp / "node")
        return Run([*TWINSTAR, "--config", str(config), *args], _env(tmp))

    return setup


def config_text(text: str, *args: str) -> Callable[[Path], Run]:
    """A configuration file of exactly ``text`` (``{node}`` is the tree)."""
    def prepare(node: Path) -> None:
        (node / "twinstar.yaml").write_text(text.format(node=node))

    return twinstar(*(args or ("takeover",)), prepare=prepare)


def config_path(make: Callable[[Path], str], *args: str) -> Callable[[Path], Run]:
    """``--config`` names what ``make`` prepared (a FIFO, a directory, a device...)."""
    def setup(tmp: Path) -> Run:
        _tree(tmp)
        return Run([*TWINSTAR, "--config", make(tmp / "node"), *(args or ("takeover",))], _env(tmp))

    return setup


def hook(event: dict[str, str], prepare: Callable[[Path], object] | None = None) -> Callable[[Path], Run]:
    def setup(tmp: Path) -> Run:
        config = _tree(tmp)
        if prepare is not None:
            prepare(tmp / "node")
        return Run(HOOK, _env(tmp, TWINSTAR_CONFIG=str(config), **event))

    return setup


ONLINE = {"ACTION": "online", "XBUS_NAME": "XBUS-00", "XBUS_NUM": "00", "DEVPATH": "/devices/xbus-00"}


# --- how files of the wrong kind are made -------------------------------------------------


def _fifo(path: Path) -> str:
    os.mkfifo(path)
    return str(path)


def _directory(path: Path) -> str:
    path.mkdir()
    return str(path)


def _symlink(path: Path) -> str:
    target = path.with_name(path.name + ".real")
    target.write_text(LABEL + "\n")
    target.chmod(0o644)
    path.symlink_to(target)
    return str(path)


def _huge(path: Path, size: int) -> str:
    with open(path, "wb") as f:
        f.truncate(size)
    return str(path)


def xpp_order(make: Callable[[Path], str]) -> Callable[[Path], Run]:
    def prepare(node: Path) -> None:
        (node / "xpp_order").unlink()
        make(node / "xpp_order")

    return twinstar("takeover", dahdi=True, prepare=prepare)


def xpp_order_text(data: bytes) -> Callable[[Path], Run]:
    return twinstar("takeover", dahdi=True, prepare=lambda node: (node / "xpp_order").write_bytes(data))


def label_attr(make: Callable[[Path], object]) -> Callable[[Path], object]:
    def prepare(node: Path) -> None:
        base = Path(FakeSysfs(str(node / "sys")).node(0))
        (base / "label").unlink()
        make(base / "label")

    return prepare


def _xpp_order_is(path: str) -> Callable[[Path], None]:
    def prepare(node: Path) -> None:
        config = node / "twinstar.yaml"
        config.write_text(config.read_text().replace(f"xpp_order: {node / 'xpp_order'}", f"xpp_order: {path}"))

    return prepare


def dahdi_attr(where: str, attr: str, value: str) -> Callable[[Path], None]:
    """Unit 0 registered with DAHDI (the fake driver's work), then ``attr`` of its device or span 1 set to ``value``."""
    def prepare(node: Path) -> None:
        fake = FakeSysfs(str(node / "sys"))
        fake.write_attr(0, "dahdi_registration", "1")
        fake.drive()
        base = fake.device_dir(0) if where == "device" else fake.span_dir(1)
        Path(base, attr).write_text(value + "\n")

    return prepare


def _garbage_simulator(node: Path) -> None:
    (node / "sim.json").write_text("{not json")
    (node / "sim.json.lock").touch()  # as 'twinstar sim init' leaves it


def _step(body: str) -> str:
    return f"  - {body}\n"


def _cmd(extra: str = "") -> str:
    return _step(f"command: {{name: c, start: [/bin/true], stop: [/bin/true]{extra}}}")


def _other_users_program(node: Path) -> None:
    prog = node / "evil"
    prog.write_text("#!/bin/sh\ntouch \"$0.ran\"\n")
    prog.chmod(0o777)
    os.chown(prog, 4321, 4321)


CASES: dict[str, Case] = {
    # configuration: keys, types, numbers, tags, empty takeover, option-like strings
    "unknown key": Case(twinstar("takeover", extra="lock_timout: 3\n"), ("twinstar.yaml:5: lock_timout", "did you mean 'lock_timeout'")),
    "wrong type": Case(twinstar("takeover", extra="lock_timeout: soon\n"), ("twinstar.yaml:5: lock_timeout", "found a string 'soon'")),
    "lock_timeout .nan": Case(twinstar("takeover", extra="lock_timeout: .nan\n"), ("twinstar.yaml:5: lock_timeout", "not a finite number")),
    "lock_timeout 1e308": Case(twinstar("release", extra="lock_timeout: 1.0e+308\n"), ("twinstar.yaml:5: lock_timeout", "from 0 to 86400")),
    "step timeout .inf": Case(twinstar("takeover", steps=_cmd(", timeout: .inf")), ("twinstar.yaml:6: takeover[0].command.timeout", "not a finite")),
    "dad_timeout .nan in check": Case(
        twinstar("check", steps=_step("ip: {address: 10.213.80.10/24, interface: lo, dad_timeout: .nan}")),
        ("twinstar.yaml:6: takeover[0].ip.dad_timeout", "not a finite number"),
    ),
    "arp_count not whole": Case(
        twinstar("check", steps=_step("ip: {address: 10.213.80.10/24, interface: lo, arp_count: 2.5}")),
        ("takeover[0].ip.arp_count", "expected a whole number"),
    ),
    "drain_timeout -1": Case(twinstar("check", extra="switchover: {drain_timeout: -1}\n"), ("twinstar.yaml:5: switchover.drain_timeout", "from 0 to 86400")),
    "tag !foo": Case(twinstar("takeover", extra="lock_timeout: !foo 3\n"), ("twinstar.yaml:5:", "unsupported YAML tag !foo")),
    "tag python/name": Case(
        twinstar("takeover", extra="lock_timeout: !!python/name:os.system ''\n"), ("twinstar.yaml:5:", "unsupported YAML tag !!python/name:os.system")
    ),
    "tag !!float abc": Case(twinstar("takeover", extra="lock_timeout: !!float abc\n"), ("twinstar.yaml:5: lock_timeout", "'abc' is not a valid float")),
    "tag !!int 0xZZ": Case(twinstar("takeover", extra="lock_timeout: !!int 0xZZ\n"), ("twinstar.yaml:5: lock_timeout", "'0xZZ' is not a valid int")),
    "tag !!timestamp": Case(twinstar("takeover", extra="maintenance_file: !!timestamp 2024-13-45\n"), ("twinstar.yaml:5: maintenance_file", "'2024-13-45' is not a valid timestamp")),
    "tag on a mapping": Case(twinstar("takeover", extra="daemon: !!set {a, b}\n"), ("twinstar.yaml:5:", "unsupported YAML tag !!set")),
    "takeover without steps": Case(twinstar("takeover", steps=""), ("twinstar.yaml:5: takeover", "expected a list of steps")),
    "empty takeover list": Case(config_text("state_dir: {node}/state\ntakeover: []\n"), ("twinstar.yaml:2: takeover", "lists no steps")),
    "drbd resource -r0": Case(
        twinstar("takeover", steps=_step("drbd: {resource: -r0, device: /dev/drbd0, mountpoint: /replica}")),
        ("twinstar.yaml:6: takeover[0].drbd.resource", "invalid DRBD resource name '-r0'"),
    ),
    "drbd resource --force": Case(
        twinstar("release", steps=_step("drbd: {resource: --force, device: /dev/drbd0, mountpoint: /replica}")),
        ("takeover[0].drbd.resource", "'--force'"),
    ),
    "service --force": Case(twinstar("takeover", steps=_step("service: --force")), ("takeover[0].service", "invalid service name '--force'")),
    "service not ASCII": Case(twinstar("takeover", steps=_step("service: astérisk")), ("takeover[0].service", "invalid service name 'astérisk'")),
    "interface -eth0": Case(
        twinstar("takeover", steps=_step("ip: {address: 10.213.80.10/24, interface: -eth0}")),
        ("takeover[0].ip.interface", "invalid interface name '-eth0'"),
    ),
    "relative device": Case(
        twinstar("takeover", steps=_step("drbd: {resource: r0, device: -dev/drbd0, mountpoint: /replica}")),
        ("takeover[0].drbd.device", "must be an absolute path"),
    ),
    "mount options with spaces": Case(
        twinstar("takeover", steps=_step("drbd: {resource: r0, device: /dev/drbd0, mountpoint: /replica, mount_options: 'ro --bind'}")),
        ("takeover[0].drbd.mount_options", "must not contain spaces"),
    ),
    "yaml syntax": Case(config_text("node: [unclosed\n"), ("twinstar.yaml:2:", "YAML syntax error")),
    "not utf-8": Case(twinstar("takeover", prepare=lambda n: (n / "twinstar.yaml").write_bytes(b"node: \xff\n")), ("twinstar.yaml", "UTF-8")),
    # the configuration file's kind and size
    "config is a FIFO": Case(config_path(lambda n: _fifo(n / "fifo.yaml")), ("fifo.yaml: configuration file is a FIFO",)),
    "config is a directory": Case(config_path(lambda n: _directory(n / "dir.yaml"), "check"), ("dir.yaml: configuration file is a directory",)),
    "config is /dev/zero": Case(config_path(lambda n: "/dev/zero"), ("/dev/zero: configuration file is a character device",)),
    "config is /dev/urandom": Case(config_path(lambda n: "/dev/urandom", "release"), ("/dev/urandom: configuration file is a character device",)),
    "config is a symlink": Case(config_path(lambda n: _symlink(n / "link.yaml")), ("link.yaml: configuration file is a symbolic link",)),
    "config is too large": Case(config_path(lambda n: _huge(n / "big.yaml", 5 << 20)), ("big.yaml: configuration file is larger than 4194304 bytes",)),
    "config missing": Case(config_path(lambda n: str(n / "none.yaml")), ("none.yaml: configuration file not found",)),
    "config writable by others": Case(
        twinstar("takeover", prepare=lambda n: (n / "twinstar.yaml").chmod(0o666)), ("insecure configuration file", "writable by group or others"), root=True
    ),
    # xpp_order: contents and kinds
    "xpp_order duplicate": Case(xpp_order_text(b"usb:1\nusb:1\n"), ("xpp_order:2: duplicate entry usb:1",)),
    "xpp_order empty": Case(xpp_order_text(b"# nothing\n"), ("xpp_order: lists no units",)),
    "xpp_order NUL": Case(xpp_order_text(b"usb:\x001\n"), ("xpp_order:1: entry contains a NUL byte",)),
    "xpp_order long label": Case(xpp_order_text(b"usb:" + b"9" * 30 + b"\n"), ("xpp_order:1: label is 34 bytes long",)),
    "xpp_order is a FIFO": Case(xpp_order(_fifo), ("xpp_order: is a FIFO, expected a regular file",)),
    "xpp_order is a directory": Case(xpp_order(_directory), ("xpp_order: is a directory, expected a regular file",)),
    "xpp_order is /dev/zero": Case(twinstar("takeover", dahdi=True, prepare=_xpp_order_is("/dev/zero")), ("/dev/zero: is a character device",)),
    "xpp_order is /dev/urandom": Case(twinstar("check", prepare=_xpp_order_is("/dev/urandom")), ("/dev/urandom: is a character device",)),
    "xpp_order is a symlink": Case(xpp_order(_symlink), ("xpp_order: is a symbolic link, expected a regular file",)),
    "xpp_order is too large": Case(xpp_order(lambda p: _huge(p, 1 << 20)), ("xpp_order: is larger than 65536 bytes",)),
    # programs root would run
    "program of another user": Case(
        twinstar("takeover", steps=_step("command: {name: c, start: [{n}/evil], stop: [/bin/true]}"), prepare=_other_users_program),
        ("step command:c: refusing to run", "evil is owned by uid 4321"),
        root=True,
    ),
    # sysfs contents: not actionable (exit 0), but the attribute and the problem are named
    "label is a directory": Case(hook(ONLINE, label_attr(lambda p: p.mkdir())), ("label: is a directory, expected a regular file",), status=0),
    "label is a FIFO": Case(hook(ONLINE, label_attr(os.mkfifo)), ("label: is a FIFO",), status=0),
    "label is too large": Case(hook(ONLINE, label_attr(lambda p: _huge(p, 8192))), ("label: is larger than 4096 bytes",), status=0),
    "xbus_state garbage": Case(
        hook(ONLINE, lambda n: (Path(FakeSysfs(str(n / "sys")).node(0)) / "xbus_state").write_text("$(reboot) (4)\n")),
        ("xbus_state: expected 'NAME (n)'",),
        status=0,
    ),
    "dahdi span alarms garbage": Case(
        twinstar("takeover", dahdi=True, prepare=dahdi_attr("span", "alarms", "RED")),
        ("span-1/alarms: expected a hexadecimal alarm mask such as 0x0, found RED",),
    ),
    "dahdi registration_time garbage": Case(
        twinstar("takeover", dahdi=True, prepare=dahdi_attr("device", "registration_time", "yesterday")),
        ("astribanks:xbus-00/registration_time: expected seconds.nanoseconds",),
    ),
    "dahdi span_count garbage": Case(
        twinstar("takeover", dahdi=True, prepare=dahdi_attr("device", "span_count", "$(reboot)")),
        ("span_count: expected a number, found $(reboot)",),
    ),
    # the telephony keys
    "on_ready not commands": Case(twinstar("takeover", extra="on_ready: [xpp_blink, bzzt]\n"), ("twinstar.yaml:5: on_ready[0]", "expected a command as a non-empty list")),
    "asterisk module -h": Case(twinstar("check", steps=_step("asterisk: {module: -h}")), ("takeover[0].asterisk.module", "invalid Asterisk module '-h'")),
    # the hook's udev environment
    "hook without ACTION": Case(hook({"XBUS_NAME": "XBUS-00"}), ("ACTION is not set",)),
    "hook with a path as XBUS_NAME": Case(
        hook({**ONLINE, "XBUS_NAME": "../../../etc"}, lambda n: (n / "xpp_order").write_text("usb:99999999\n")),
        ("online ../../../etc: 0/1 ready, missing usb:99999999",),
        status=0,
    ),
    "hook with xpp_order a FIFO": Case(hook(ONLINE, lambda n: _fifo(n / "xpp_order") if not (n / "xpp_order").unlink() else ""),
                                       ("xpp_order: is a FIFO, expected a regular file",)),
    "hook with a bad configuration": Case(hook(ONLINE, lambda n: (n / "twinstar.yaml").write_text("lock_timeout: .nan\ntakeover: []\n")), ("lock_timeout", "not a finite")),
    # simulated USB: a broken simulator state file
    "usb simulator state is garbage": Case(
        twinstar("ports", extra="usb: {simulator: {n}/sim.json}\n", prepare=_garbage_simulator),
        ("sim.json: the simulator state is not valid JSON",),
    ),
    # the command line
    "--drain-timeout nan": Case(twinstar("switchover", "--drain-timeout", "nan"), ("'--drain-timeout'", "not a finite number")),
    "--drain-timeout inf": Case(twinstar("switchover", "--drain-timeout", "inf"), ("'--drain-timeout'", "not a finite number")),
    "--drain-timeout -1": Case(twinstar("switchover", "--drain-timeout", "-1"), ("'--drain-timeout'", "from 0 to 86400")),
    "demo --dad-timeout nan": Case(twinstar("demo", "--dad-timeout", "nan"), ("'--dad-timeout'", "not a finite number")),
    "demo --dad-timeout 61": Case(twinstar("demo", "--dad-timeout", "61"), ("'--dad-timeout'", "from 0 to 60")),
    "demo --unit-init 10001": Case(twinstar("demo", "--unit-init", "10001"), ("'--unit-init'", "0<=x<=10000")),
    "demo --unit-init nan": Case(twinstar("demo", "--unit-init", "nan"), ("'--unit-init'", "'nan' is not a valid integer")),
    "unknown option": Case(twinstar("takeover", "--force"), ("No such option '--force'",)),
}


def _materialize(case: Case, tmp: Path) -> Run:
    run = case.setup(tmp)
    node = tmp / "node"
    # "{n}" in a step or key stands for the tree (used where a case needs its own files).
    config = node / "twinstar.yaml"
    if config.is_file() and not config.is_symlink() and stat.S_ISREG(config.stat().st_mode):
        try:
            text = config.read_text()
        except UnicodeDecodeError:
            text = ""
        if "{n}" in text:
            config.write_text(text.replace("{n}", str(node)))
    return run


def _snapshot(root: Path) -> dict[str, tuple[int, int, int, int]]:
    """Every path below ``root``: its kind and mode, size and modification time (nothing is opened)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_uid)
    return out


def _mounts_below(root: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if str(root) in line]


@dataclass
class Outcome:
    returncode: int | None
    output: str
    before: dict[str, tuple[int, int, int, int]]
    after: dict[str, tuple[int, int, int, int]]
    mounts: tuple[list[str], list[str]]


def _run(name: str, case: Case, base: Path) -> Outcome:
    tmp = base / name.replace(" ", "_").replace("/", "_")
    tmp.mkdir()
    run = _materialize(case, tmp)
    node = tmp / "node"
    before, mounts_before = _snapshot(node), _mounts_below(tmp)
    try:
        proc = subprocess.run(run.argv, env=run.env, capture_output=True, text=True, timeout=60, cwd="/",
                              errors="replace")
        returncode, output = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        returncode, output = None, f"timed out (hangs): {exc}"
    return Outcome(returncode, output, before, _snapshot(node), (mounts_before, _mounts_below(tmp)))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    base = tmp_path_factory.mktemp("catalogue")
    wanted = {n: c for n, c in CASES.items() if not c.root or os.geteuid() == 0}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {n: pool.submit(_run, n, c, base) for n, c in wanted.items()}
        return {n: f.result() for n, f in futures.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_and_changes_nothing(name: str, outcomes: dict[str, Outcome]) -> None:
    case = CASES[name]
    if case.root and os.geteuid() != 0:
        pytest.skip("needs root (chown, or the checks root applies)")
    out = outcomes[name]
    assert out.returncode == case.status, out.output
    assert "Traceback" not in out.output and "internal error" not in out.output, out.output
    for text in case.says:
        assert text in out.output, (text, out.output)
    changed = {p for p in set(out.before) | set(out.after) if out.before.get(p) != out.after.get(p)}
    assert not changed, f"changed: {sorted(changed)}\n{out.output}"
    assert out.mounts[0] == out.mounts[1]
    assert "up-1" not in out.after and "calls" not in out.after and "evil.ran" not in out.after


def test_the_catalogue_covers_every_category() -> None:
    """At least one case of each kind of bad input the issue lists."""
    names = " ".join(CASES)
    for word in ("unknown key", "nan", "tag", "empty takeover", "-r0", "FIFO", "/dev/zero", "directory",
                 "xpp_order", "label", "hook", "usb", "--drain-timeout", "another user"):
        assert word in names, word
