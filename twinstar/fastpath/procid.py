"""Process identity, and a clock that no clock step moves: for the hook and the engine.

A pid names a process only until it exits; the kernel then reuses it. A
process is named here by its pid, its start time (clock ticks after boot, from
``/proc/PID/stat``) and the boot id (``/proc/sys/kernel/random/boot_id``):
together they never name two processes.

Times that decisions compare (when a transition ended, when a device event
was seen) come from ``CLOCK_BOOTTIME``, which setting the wall clock does not
move, and are compared only within the boot that recorded them.

Built-in modules only: the udev hook imports this on every event.
"""

import time

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"

_boot_id: str | None = None


def boot_id() -> str:
    """This boot's id ("" where the kernel does not tell)."""
    global _boot_id
    if _boot_id is None:
        try:
            with open(BOOT_ID_PATH, "rb") as f:
                _boot_id = f.read(64).decode("ascii", "replace").strip()
        except OSError:
            _boot_id = ""
    return _boot_id


def boottime() -> float:
    """Seconds since this boot, suspend included; never goes back."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def this_boot(t: object, boot: object) -> float:
    """A :func:`boottime` value recorded in boot ``boot``, as a time of this boot.

    0.0 (before anything of this boot) when it was recorded in another boot,
    or is missing or malformed.
    """
    if type(t) not in (int, float) or boot != boot_id() or not 0.0 <= t < float("inf"):  # type: ignore[operator]
        return 0.0
    return float(t)  # type: ignore[arg-type]


def process_start(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks after boot; None when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    try:
        fields = data[data.rindex(b")") + 2 :].split()
        if fields[0] == b"Z":
            return None
        return int(fields[19])
    except (ValueError, IndexError):
        return None


def process_alive(pid: object, start: object = None, boot: object = None) -> bool:
    """Process ``pid`` exists and is not a zombie; given its recorded ``start`` and ``boot``, it is that very process."""
    if type(pid) is not int or pid <= 0:
        return False
    if boot and boot != boot_id():
        return False  # recorded in an earlier boot: that process is gone
    began = process_start(pid)
    if began is None:
        return False
    return start is None or began == start


def identity(pid: int) -> tuple[int, int | None, str]:
    """What names process ``pid`` for :func:`process_alive`: (pid, start time, boot id)."""
    return pid, process_start(pid), boot_id()
