"""dahdi-tools' ``astribank_is_starting`` semaphore, removed once this node's units are up.

At boot the dahdi init script runs ``waitfor_xpds``, which creates a SysV
semaphore with key 0xAB11A0 (``astribank_is_starting -a``) and, in hotplug
mode (``XPP_HOTPLUG_DAHDI=yes``), waits up to 60 s for the hotplug hook to
remove it (``astribank_is_starting -w``). dahdi-tools' hook removed it once
every unit listed in ``xpp_order`` was up; with that hook turned off, twinstar
does: when every listed unit is READY (the takeover is handed off then, or
the node is up already), so a boot never waits the 60 s. Removing it is what
``astribank_is_starting -r`` does: ``semget(key, 0, 0)`` and
``semctl(id, 0, IPC_RMID)``; a semaphore that is not there is not an error.
Whether it is there is read from ``/proc/sysvipc/sem`` first: every event that
finds all units READY comes here, and loading :mod:`ctypes` would cost the
udev hook more than the rest of its work (no ``from __future__`` import
either: this is on the hook's path, see :mod:`twinstar.fastpath`).
"""

import posix

KEY = 0xAB11A0
IPC_RMID = 0


def present() -> bool:
    """Whether the semaphore exists in this IPC namespace (True when ``/proc/sysvipc/sem`` cannot tell)."""
    try:
        with open("/proc/sysvipc/sem", "rb") as table:
            rows = table.read().splitlines()[1:]
    except OSError:
        return True
    key = str(KEY).encode()
    return any(row.split()[:1] == [key] for row in rows)


def remove() -> bool:
    """Remove the semaphore of this IPC namespace; True when there was one, OSError when it cannot."""
    if not present():
        return False
    import ctypes  # only when the semaphore is there (at boot)
    import errno

    libc = ctypes.CDLL(None, use_errno=True)
    semid = libc.semget(ctypes.c_int(KEY), 0, 0)
    if semid < 0:
        err = ctypes.get_errno()
        if err == errno.ENOENT:
            return False
        raise OSError(err, f"astribank_is_starting semaphore (key {KEY:#x}): semget: {posix.strerror(err)}")
    if libc.semctl(semid, 0, IPC_RMID) < 0:
        err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.EIDRM):  # removed meanwhile, by waitfor_xpds or another hook
            return False
        raise OSError(err, f"astribank_is_starting semaphore (key {KEY:#x}): semctl IPC_RMID: {posix.strerror(err)}")
    return True
