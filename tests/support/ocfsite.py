"""One simulated server for the OCF agent: the USB simulator seen from its port, its xpp sysfs, its configuration.

Stand-ins only for what cannot run on a build machine: the Astribank units
(the USB simulator, :mod:`twinstar.usb.sim`, answering pyusb), the xpp and
dahdi drivers' sysfs (:class:`twinstar.standins.fakesysfs.FakeSysfs`, acted
on by :class:`tests.support.drivers.Drivers` while ``site.drivers`` runs) and
``dahdi_cfg`` (:func:`write_dahdi_cfg`). The agent, the engine, its ``dahdi``
step and the USB code are the real ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import REPO
from tests.support.config import write_config
from tests.support.drivers import Drivers
from twinstar.standins.fakesysfs import FakeSysfs
from twinstar.usb import sim


def serial(i: int) -> str:
    """The simulator's serial of unit ``i`` (0-based)."""
    return f"SIM{i + 1:05d}"


def unit_label(i: int) -> str:
    """Unit ``i``'s label: what the xpp driver shows and xpp_order lists."""
    return f"usb:{serial(i)}"


def write_dahdi_cfg(path: Path, sysfs_root: str | Path, *, python: str = sys.executable, pythonpath: Path | None = REPO) -> Path:
    """The ``dahdi_cfg`` stand-in at ``path``: it leaves in the fake tree at ``sysfs_root`` what dahdi_cfg would.

    ``python`` runs ``twinstar.standins.fakesysfs`` (with ``pythonpath``, when
    given: twinstar's programs run with a clean environment).
    """
    env = f"PYTHONPATH='{pythonpath}' " if pythonpath is not None else ""
    path.write_text(f"#!/bin/sh\n{env}exec '{python}' -m twinstar.standins.fakesysfs dahdi-cfg '{sysfs_root}'\n")
    path.chmod(0o755)
    return path


class Site:
    """A server cabled to ``port`` of every simulated unit in ``sim_path``; its files below ``root``."""

    def __init__(self, root: Path, sim_path: Path, *, port: int, units: int, node: str) -> None:
        self.root = root
        self.sim_path = sim_path
        self.port = port
        self.count = units
        self.node = node
        self.sysfs = FakeSysfs(str(root / "sys"))
        self.xpp_order = root / "xpp_order"
        self.state_dir = root / "state"
        self.config_path = root / "twinstar.yaml"
        self.maintenance = root / "maintenance"
        self.dahdi_cfg = root / "dahdi_cfg"
        self.drivers = Drivers(self.sysfs)

    def configure(self, *, steps: str | None = None, leave_timeout: float = 5) -> Path:
        """Write xpp_order (every unit by label), ``dahdi_cfg``, the configuration (only the ``dahdi`` step), the maintenance file.

        The maintenance file keeps twinstar's own decisions out, as under Pacemaker.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self.maintenance.touch()
        self.xpp_order.write_text("".join(f"{unit_label(i)}\t# @usb-0000:00:1d.7-{i + 1}\n" for i in range(self.count)))
        write_dahdi_cfg(self.dahdi_cfg, self.sysfs.root)
        write_config(
            self.config_path,
            node=self.node,
            state_dir=self.state_dir,
            sysfs=self.sysfs.root,
            xpp_order=self.xpp_order,
            maintenance_file=self.maintenance,
            steps=steps or f"  - dahdi: {{timeout: 10, dahdi_cfg: [{self.dahdi_cfg}]}}\n",
            extra=(
                f"usb: {{simulator: {self.sim_path}, simulator_port: {self.port}}}\n"
                f"switchover: {{leave_timeout: {leave_timeout}}}\n"
            ),
        )
        return self.config_path

    def arrive_all(self) -> None:
        """Every unit appears in this server's sysfs, READY (the xpp driver's view once they are here)."""
        with self.drivers.lock:
            for i in range(self.count):
                self.sysfs.arrive(i, label=unit_label(i), connector=f"usb-0000:00:1d.7-{i + 1}")

    def registered(self) -> list[bool]:
        return [self.sysfs.registered(i) for i in self.sysfs.units()]

    def spans(self) -> list[list[int]]:
        """The DAHDI span numbers of each unit's XPDs (0: not assigned)."""
        return [self.sysfs.span_numbers(i) for i in self.sysfs.units()]

    def units(self) -> list[dict[str, object]]:
        """The simulated units as the simulator holds them."""
        units: list[dict[str, object]] = sim.load(str(self.sim_path))["units"]
        return units
