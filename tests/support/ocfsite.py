"""One simulated server for the OCF agent: the USB simulator seen from its port, its xpp sysfs, its configuration.

Stand-ins only for what cannot run on a build machine: the Astribank units
(the USB simulator, :mod:`twinstar.usb.sim`, answering pyusb) and the xpp
driver's sysfs (:class:`twinstar.standins.fakesysfs.FakeSysfs`). The agent,
the engine, its ``dahdi`` step and the USB code are the real ones.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.config import write_config
from twinstar.standins.fakesysfs import FakeSysfs
from twinstar.usb import sim


def serial(i: int) -> str:
    """The simulator's serial of unit ``i`` (0-based)."""
    return f"SIM{i + 1:05d}"


def unit_label(i: int) -> str:
    """Unit ``i``'s label: what the xpp driver shows and xpp_order lists."""
    return f"usb:{serial(i)}"


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

    def configure(self, *, steps: str | None = None, leave_timeout: float = 5) -> Path:
        """Write xpp_order (every unit by label), the configuration (only the ``dahdi`` step), the maintenance file.

        The maintenance file keeps twinstar's own decisions out, as under Pacemaker.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self.maintenance.touch()
        self.xpp_order.write_text("".join(f"{unit_label(i)}\t# @usb-0000:00:1d.7-{i + 1}\n" for i in range(self.count)))
        write_config(
            self.config_path,
            node=self.node,
            state_dir=self.state_dir,
            sysfs=self.sysfs.root,
            xpp_order=self.xpp_order,
            maintenance_file=self.maintenance,
            steps=steps or "  - dahdi: {timeout: 10, dahdi_cfg: [/bin/true]}\n",
            extra=(
                f"usb: {{simulator: {self.sim_path}, simulator_port: {self.port}}}\n"
                f"switchover: {{leave_timeout: {leave_timeout}}}\n"
            ),
        )
        return self.config_path

    def arrive_all(self) -> None:
        """Every unit appears in this server's sysfs, READY (the xpp driver's view once they are here)."""
        for i in range(self.count):
            self.sysfs.arrive(i, label=unit_label(i), connector=f"usb-0000:00:1d.7-{i + 1}")

    def registered(self) -> list[bool]:
        return [self.sysfs.registered(i) for i in self.sysfs.units()]

    def units(self) -> list[dict[str, object]]:
        """The simulated units as the simulator holds them."""
        units: list[dict[str, object]] = sim.load(str(self.sim_path))["units"]
        return units
