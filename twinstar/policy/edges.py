"""What the policy reads and does beyond the node's files: the units over USB, DRBD's disk states, the hand-back.

Each function is one edge, called only when the policy needs it (a failed
takeover, split units): the hook's plain path never comes here.
"""

from __future__ import annotations

from twinstar.config import Config, DrbdSpec
from twinstar.engine.proc import ProgramRunner
from twinstar.errors import ProgramError, TwinstarError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from twinstar.usb.units import UnitOutcome


def peer_powered(config: Config) -> bool | None:
    """Whether the other port has power on every TwinStar unit here; None when no unit could be read."""
    # pyusb is imported only when asked: never on the way of a takeover (which imports this module).
    from twinstar.ops.switchover import check_power
    from twinstar.usb.units import Astribanks, status_rows

    try:
        checks = [c for c in check_power(status_rows(Astribanks.from_config(config))) if c.error is None]
    except TwinstarError:
        return None
    if not checks:
        return None
    return all(c.peer_powered for c in checks)


def parse_dstate(text: str) -> tuple[str | None, str | None]:
    """``drbdadm dstate``: "Outdated/UpToDate" (local/peer) or "UpToDate" (local only)."""
    words = text.strip().split("/")
    if not words[0] or len(words) > 2 or not all(w.isalpha() for w in words):
        return None, None
    return words[0], words[1] if len(words) == 2 else None


def drbd_disks(config: Config) -> tuple[str | None, str | None]:
    """This node's and the peer's DRBD disk states for the first drbd step; (None, None) without one or when unreadable."""
    spec = next((s for s in config.takeover if isinstance(s, DrbdSpec)), None)
    if spec is None:
        return None, None
    try:
        result = ProgramRunner(programs=config.program_map).run(["drbdadm", "dstate", spec.resource], timeout=spec.timeout, quiet=True)
    except ProgramError:
        return None, None
    return parse_dstate(result.stdout)


def set_watchdogs(config: Config, on: bool) -> list[UnitOutcome]:
    """Enable or disable the TwinStar watchdog of every unit on this host."""
    from twinstar.usb.units import Astribanks, run_each, set_watchdog

    hw = Astribanks.from_config(config)
    return run_each(hw, hw.units(), set_watchdog(on), explicit=False)


def watchdog_line(outcomes: list[UnitOutcome], on: bool) -> str:
    """One line for the log: what each unit's watchdog did."""
    if not outcomes:
        return f"watchdog {'on' if on else 'off'}: no unit here"
    return "; ".join(f"{o.unit}: {o.message}" for o in outcomes)
