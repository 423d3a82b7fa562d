"""The real pyudev netlink path: a kernel uevent reaches UdevMonitor.poll.

No Astribank is attached here, so the test listens to the ``net`` subsystem
and makes the kernel send a synthetic ``change`` for ``lo`` (writing to its
``uevent`` file, tagged with a unique SYNTH_UUID so other events are ignored).
That is the same monitor class, filter and conversion the daemon uses for
``astribanks``.
"""

from __future__ import annotations

import select
import uuid

import pytest

from twinstar.daemon.monitor import Source, UdevMonitor, Uevent


@pytest.mark.privileged
def test_kernel_uevent_arrives_through_pyudev() -> None:
    monitor = UdevMonitor.open(subsystem="net", source=Source.KERNEL)
    tag = str(uuid.uuid4())
    try:
        with open("/sys/class/net/lo/uevent", "w") as f:
            f.write(f"change {tag}")
        got: Uevent | None = None
        for _ in range(100):  # skip unrelated net events, if any
            readable, _, _ = select.select([monitor.fileno()], [], [], 10)
            assert readable, "no uevent arrived within 10 s"
            event = monitor.poll(0)
            if event is not None and event.properties.get("SYNTH_UUID") == tag:
                got = event
                break
        assert got is not None
        assert got.action == "change"
        assert got.devpath == "/devices/virtual/net/lo"
        assert got.properties["SUBSYSTEM"] == "net"
        assert got.environ["ACTION"] == "change" and got.environ["DEVPATH"] == got.devpath
    finally:
        monitor.close()


def test_poll_without_events_returns_none() -> None:
    monitor = UdevMonitor.open(subsystem="astribanks", source=Source.KERNEL)
    try:
        assert monitor.poll(0) is None
    finally:
        monitor.close()
