"""The simulated hardware: the Astribank units and the xpp kernel driver of both servers.

    python -m twinstar.demo.hardware SPEC.json

One process plays, every few milliseconds:

* the TwinStar watchdog of each unit: when the watchdog is on, the server on
  the active port has not sent a heartbeat for longer than the watchdog
  timeout, and the other port is powered, the unit switches port (in the USB
  simulator's state file, as the unit's firmware would);
* the USB bus: a server whose power is cut (``power.json``) no longer
  powers its port, until ``power.json`` says it is on again (the server
  booted: how its hook is run is read again from SPEC.json);
* the xpp driver of each server: a unit whose active port changed leaves one
  server's fake sysfs (:mod:`twinstar.standins.fakesysfs`; offline, then remove) and appears in the other's with
  the real sequence (add with status missing and no label yet; then label,
  connector, transport and READY after ``init_delay``, the time the driver
  takes to initialise the unit; then online). Every event runs *that*
  server's real ``atribank_hook`` inside its network namespace, with the
  environment udev gives it. A server without power gets no events;
* the DAHDI driver of each server: registrations and span assignments its
  takeover writes are acted on (:meth:`FakeSysfs.drive`) as soon as they are
  written (:class:`~twinstar.standins.fakesysfs.WriteWatch`), not at the
  loop's next turn: the kernel acts within the write.

Everything it does goes to the demo's event log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from twinstar import settings
from twinstar.demo import events
from twinstar.demo.heartbeat import last_beat
from twinstar.demo.topology import in_netns
from twinstar.standins.fakesysfs import FakeSysfs, WriteWatch
from twinstar.usb import sim


@dataclass(frozen=True)
class Plug:
    """Where a unit is plugged on one server: its xbus number and USB device number there."""

    num: int
    devnum: int
    serial: str


@dataclass
class Server:
    key: str
    name: str
    port: int
    netns: str
    sysfs: FakeSysfs
    heartbeat: str
    config: str
    cache_dir: str
    hook_log: str
    enter: list[str] | None = None  # argv prefix that runs a program on the server (default: in its namespace)
    powered: bool = True
    plugs: dict[str, Plug] = field(default_factory=dict)  # serial -> plug

    def free_num(self) -> int:
        used = {p.num for p in self.plugs.values()}
        return next(n for n in range(128) if n not in used)


@dataclass
class RunningHook:
    proc: subprocess.Popen[bytes]
    server: str
    action: str
    xbus: str
    started: float


class Hardware:
    def __init__(self, spec: dict[str, Any], spec_path: str | None = None) -> None:
        self.spec = spec
        self.spec_path = spec_path
        self.sim_path: str = spec["sim"]
        self.events: str = spec["events"]
        self.power_file: str = spec["power_file"]
        self.timeout: float = spec["watchdog_timeout"]
        self.poll: float = spec.get("poll", 0.005)
        self.init_delay: float = spec["init_delay"]
        self.hook_argv: list[str] = spec["hook_argv"]
        self.servers = {
            key: Server(
                key=key,
                name=s["name"],
                port=s["port"],
                netns=s["netns"],
                sysfs=FakeSysfs(s["sysfs"]),
                heartbeat=s["heartbeat"],
                config=s["config"],
                cache_dir=s["cache_dir"],
                hook_log=s["hook_log"],
                enter=s.get("enter"),
            )
            for key, s in spec["servers"].items()
        }
        self.by_port = {s.port: s for s in self.servers.values()}
        self.hooks: list[RunningHook] = []
        self.seqnum = 1000
        self.power_mtime = 0.0
        self.running = True

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        events.emit(self.events, "hardware up", "", timeout_ms=round(self.timeout * 1000))
        writes = WriteWatch()  # the DAHDI driver acts on a write at once, as the kernel's does
        wrote = True
        try:
            while self.running:
                # The fake trees are looked at and watched again only after a write or a change of their
                # shape (a unit came or went, a registration): each look costs the stand-in a millisecond of
                # CPU, taken from the services starting beside it, which real hardware does not take.
                changed = self.step(drive=wrote)
                if changed or wrote:
                    for server in self.servers.values():
                        server.sysfs.watch_writes(writes)
                wrote = writes.wait(self.poll) or changed  # a write before its directory was watched: look once more
        finally:
            writes.close()
        for hook in self.hooks:
            hook.proc.wait(timeout=10)
        self.reap()

    def step(self, *, drive: bool) -> bool:
        """One turn: power, watchdog, the xpp driver, and with ``drive`` the DAHDI driver's side of what was
        written; True when a fake tree changed its shape."""
        changed = self.read_power()
        state = sim.snapshot(self.sim_path)
        if self.watchdog(state):
            state = sim.snapshot(self.sim_path)
        changed = self.driver(state) or changed
        if drive:
            for server in self.servers.values():
                for done in server.sysfs.drive():  # DAHDI's side of each registration and span assignment
                    events.emit(self.events, f"dahdi: {done}", server.name)
                    changed = True
        self.reap()
        return changed

    # -- power ---------------------------------------------------------------------------------

    def read_power(self) -> bool:
        """Act on ``power.json`` when it changed; True when it did."""
        try:
            mtime = os.stat(self.power_file).st_mtime
        except FileNotFoundError:
            return False
        if mtime == self.power_mtime:
            return False
        self.power_mtime = mtime
        with open(self.power_file) as f:
            wanted = json.load(f)
        for key, on in wanted.items():
            server = self.servers[key]
            if server.powered and not on:
                self.power_off(server)
            elif on and not server.powered:
                self.power_on(server)
        return True

    def power_off(self, server: Server) -> None:
        server.powered = False
        with sim.update(self.sim_path) as state:
            for unit in state["units"]:
                unit[f"power{server.port}"] = False
        for serial, plug in list(server.plugs.items()):
            server.sysfs.remove_unit(plug.num)  # no events: the server is dark
            del server.plugs[serial]
        events.emit(self.events, f"no power on USB-{server.port}", server.name)

    def power_on(self, server: Server) -> None:
        """The server is back: its port is powered again (units on that port arrive there).

        The spec is read again for how the server's programs are entered (a
        container that booted again has a new PID 1).
        """
        if self.spec_path is not None:
            with open(self.spec_path) as f:
                server.enter = json.load(f)["servers"][server.key].get("enter")
        server.powered = True
        with sim.update(self.sim_path) as state:
            for unit in state["units"]:
                unit[f"power{server.port}"] = True
        events.emit(self.events, f"power on USB-{server.port}", server.name)

    # -- the TwinStar watchdog ----------------------------------------------------------------

    def watchdog(self, state: dict[str, Any]) -> bool:
        """Switch the units whose active server went silent; True when any did."""
        now = time.time()
        switch = []
        for unit in state["units"]:
            if not unit["watchdog"]:
                continue
            server = self.by_port[unit["port"]]
            beat = last_beat(server.heartbeat)
            other = 1 - unit["port"]
            if beat is not None and now - beat > self.timeout and unit[f"power{other}"]:
                switch.append((unit["serial"], other, now - beat))
        if not switch:
            return False
        with sim.update(self.sim_path) as fresh:
            for serial, other, lapse in switch:
                unit = next(u for u in fresh["units"] if u["serial"] == serial)
                if unit["port"] != other:
                    sim.set_port(fresh, unit, other)
                    events.emit(
                        self.events,
                        f"watchdog: switch to USB-{other}",
                        self.by_port[1 - other].name,
                        unit=sim.label(unit),
                        lapse_ms=round(lapse * 1000),
                    )
        return True

    # -- the xpp driver --------------------------------------------------------------------------

    def driver(self, state: dict[str, Any]) -> bool:
        """Units leave the server whose port they left and arrive on the other; True when any did."""
        leaving: list[tuple[Server, Plug]] = []
        arriving: list[tuple[Server, dict[str, Any]]] = []
        for unit in state["units"]:
            serial = unit["serial"]
            target = self.by_port[unit["port"]]
            for server in self.servers.values():
                plug = server.plugs.get(serial)
                if plug is not None and (server is not target or plug.devnum != unit["address"]):
                    leaving.append((server, plug))
            if target.powered and (serial not in target.plugs or target.plugs[serial].devnum != unit["address"]):
                arriving.append((target, unit))
        for server, plug in leaving:
            self.event(server, plug, server.sysfs.offline(plug.num))
        for server, plug in leaving:
            server.sysfs.set_state(plug.num, "DEACTIVATED")
            del server.plugs[plug.serial]
            self.event(server, plug, server.sysfs.remove_unit(plug.num))
        plugs = []
        for server, unit in arriving:
            index = next(i for i, u in enumerate(state["units"]) if u["serial"] == unit["serial"])
            plug = Plug(num=server.free_num(), devnum=unit["address"], serial=unit["serial"])
            server.plugs[unit["serial"]] = plug
            self.event(server, plug, server.sysfs.create_unit(plug.num, busnum=unit["bus"], devnum=plug.devnum))
            plugs.append((server, plug, index))
        if plugs and self.init_delay > 0:
            time.sleep(self.init_delay)  # the driver reads the descriptors and initialises the XPDs
        for server, plug, index in plugs:
            label = f"usb:{plug.serial}"[:19]  # the driver's label: usb: and the serial, at most 19 bytes
            server.sysfs.attach(plug.num, label=label, connector=f"usb-0000:00:1d.7-{index + 1}", serial=plug.serial)
            self.event(server, plug, server.sysfs.online(plug.num))
        return bool(leaving or arriving)

    def event(self, server: Server, plug: Plug, uevent: dict[str, str]) -> None:
        """One uevent (its environment from the fake sysfs): logged, and the server's hook run as udev would."""
        self.seqnum += 1
        action, xbus = uevent["ACTION"], uevent["XBUS_NAME"]
        events.emit(self.events, f"{action} {xbus}", server.name, unit=f"usb:{plug.serial}", seqnum=self.seqnum)
        if not server.powered:
            return
        env = {
            **uevent,
            "PATH": settings.SAFE_PATH,
            "SEQNUM": str(self.seqnum),
            settings.CONFIG_ENV: server.config,
            settings.HOOK_CACHE_ENV: server.cache_dir,
        }
        with open(server.hook_log, "ab") as log:
            proc = subprocess.Popen(
                [*server.enter, *self.hook_argv] if server.enter else in_netns(server.netns, self.hook_argv),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd="/",
            )
        self.hooks.append(RunningHook(proc, server.name, action, xbus, time.time()))

    def reap(self) -> None:
        for hook in list(self.hooks):
            rc = hook.proc.poll()
            if rc is None:
                continue
            self.hooks.remove(hook)
            events.emit(
                self.events,
                f"hook {hook.action} {hook.xbus} exit {rc}",
                hook.server,
                ms=round((time.time() - hook.started) * 1000, 1),
                rc=rc,
            )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    with open(args[0]) as f:
        spec = json.load(f)
    hw = Hardware(spec, args[0])

    def stop(signum: int, frame: object) -> None:
        hw.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    hw.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
