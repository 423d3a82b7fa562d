"""The daemon starts the steps' slow safety probes when a listed unit arrives and the node is going to take over.

Events go through :class:`FakeMonitor` (the netlink socket is the only
stand-in); the decision, the engine and the steps are the real code. The ip
step names an interface that does not exist (``tswd-none0``): its probe
started ahead reads the link, finds none and sends nothing, so no frame
leaves this machine's interfaces; what is observed is the probe offered for
the takeover (:data:`twinstar.steps.early.AHEAD`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.helpers import FakeMonitor, arrive, make_daemon, role, sysfs, write_config
from tests.support import units
from twinstar import config as config_mod
from twinstar.config import Config
from twinstar.daemon.decide import going_to_take_over
from twinstar.daemon.loop import Daemon
from twinstar.daemon.monitor import Uevent
from twinstar.steps.early import AHEAD

pytestmark = pytest.mark.programs("rm", "test", "touch")

KEY = ("ip", "tswd-none0", "10.213.71.10/24")
STEPS = (
    "  - ip: {address: 10.213.71.10/24, interface: tswd-none0, dad_timeout: 0.03, arp_count: 1}\n"
)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Daemon, FakeMonitor]]:
    monitor = FakeMonitor()
    d = make_daemon(write_config(tmp_path, 2, steps=STEPS), monitor)
    d.start()
    try:
        yield d, monitor
    finally:
        d.stop()
        AHEAD.drop_all()


def event(env: dict[str, str]) -> Uevent:
    env = dict(env)
    action, devpath = env.pop("ACTION"), env.pop("DEVPATH")
    return Uevent(action=action, devpath=devpath, properties=env)


def test_the_first_listed_units_arrival_starts_the_probe_for_the_takeover(daemon: tuple[Daemon, FakeMonitor], tmp_path: Path) -> None:
    d, monitor = daemon
    assert AHEAD.offered(KEY) is None
    arrive(sysfs(tmp_path), 0, monitor)  # one of the two listed units: no takeover yet
    d.run_once(0)
    probe = AHEAD.offered(KEY)
    assert probe is not None
    assert role(tmp_path / "state") == "standby"
    d.stop()
    assert AHEAD.offered(KEY) is None  # the daemon lets go of it when it stops


def test_no_probe_ahead_in_maintenance(daemon: tuple[Daemon, FakeMonitor], tmp_path: Path) -> None:
    d, monitor = daemon
    (tmp_path / "maintenance").touch()
    arrive(sysfs(tmp_path), 0, monitor)
    d.run_once(0)
    assert AHEAD.offered(KEY) is None


def test_going_to_take_over_only_when_standby_and_a_listed_unit_is_present(daemon: tuple[Daemon, FakeMonitor], tmp_path: Path) -> None:
    d, _ = daemon
    fake = sysfs(tmp_path)
    created = event(fake.create_unit(0))
    assert going_to_take_over(d.config, created) is False  # not yet identified as a listed unit
    add, online = (event(e) for e in units.arrive(fake, 1))
    assert going_to_take_over(d.config, add) and going_to_take_over(d.config, online)
    assert not going_to_take_over(d.config, Uevent(action="change", devpath=add.devpath, properties={}))
    (tmp_path / "maintenance").touch()
    assert not going_to_take_over(d.config, online)


def test_without_a_step_that_probes_ahead_nothing_is_read(tmp_path: Path) -> None:
    """Two command steps (the default test configuration): no event makes the daemon ask whether it is going to take over."""
    asked: list[str] = []

    def going(config: Config, event: Uevent) -> bool:
        asked.append(event.action)
        return going_to_take_over(config, event)

    monitor = FakeMonitor()
    path = write_config(tmp_path, 2)
    d = Daemon(config_mod.load(str(path), strict_modes=False), config_path=str(path), open_monitor=lambda: monitor, going_to_take_over=going)
    d.start()
    try:
        arrive(sysfs(tmp_path), 0, monitor)
        d.run_once(0)
        assert d.snapshot()["last_event"] is not None and asked == []
    finally:
        d.stop()
