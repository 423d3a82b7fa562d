"""The prepared takeover runner of ``spawn`` mode: everything loaded before the last unit is READY.

On a unit's event while listed units are present but not all READY, and
this node is going to take over (:func:`twinstar.fastpath.decision.going_to_take_over`),
the hook starts this runner (:func:`twinstar.fastpath.detach.prepared_runner`).
It starts the ip steps' duplicate-address probes from the hook's settings
cache before anything heavier is imported (they listen while the rest
loads), loads the configuration, builds the engine, starts the other steps'
ahead probes as the daemon does (the ip steps find theirs running), and
waits, bounded, on ``state_dir/prepared.fifo`` (mode 0600; its pid in
``prepared.pid``). The decisive hook, under
``handoff.lock``, writes one byte into it instead of forking
(:func:`twinstar.fastpath.detach.wake_prepared`) and records the runner's
pid as the hand-off's; the runner then runs the takeover as a spawned one
would (:func:`twinstar.hotplug.hook.run_transition`).

No lost wake-up: when its wait ends, the runner reads the FIFO and removes
it under ``handoff.lock``; a hook that finds no FIFO, or no reader on it,
forks the takeover as before. One runner at a time (``prepared.lock``).
"""

from __future__ import annotations

import os
import select

from twinstar import settings as tsettings
from twinstar.fastpath import atomic
from twinstar.fastpath.detach import PREPARED_FIFO, PREPARED_LOCK, PREPARED_PID, PREPARED_WAIT
from twinstar.fastpath.syslogsend import log_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from twinstar.engine.runner import Engine
    from twinstar.fastpath.hooksettings import HookSettings


def offer(state_dir: str) -> tuple[int, int]:
    """Create the FIFO (mode 0600) after publishing this pid; its read end and a write end kept open here (so
    that no writer's close ends the wait).

    The FIFO is made and opened under a temporary name, then renamed over
    ``prepared.fifo`` (a killed runner's goes with it): a hook that finds it
    always finds a reader.
    """
    fifo = f"{state_dir}/{PREPARED_FIFO}"
    new = f"{fifo}.new"
    try:
        os.unlink(new)  # a runner killed while it offered (one runner at a time: prepared.lock)
    except FileNotFoundError:
        pass
    atomic.replace_file(f"{state_dir}/{PREPARED_PID}", f"{os.getpid()}\n".encode(), mode=0o600, sync_dir=False)
    old = os.umask(0o077)
    try:
        os.mkfifo(new, 0o600)
    finally:
        os.umask(old)
    reader = os.open(new, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    keeper = os.open(new, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    os.rename(new, fifo)
    return reader, keeper


def woken(state_dir: str, reader: int, seconds: float) -> bool:
    """Wait up to ``seconds`` for a byte on ``reader``; whether one came, read and the FIFO removed under ``handoff.lock``.

    The waking hook still holds that lock while it records the hand-off (a few
    ms): it is tried every millisecond, not at the engine lock's 20 ms.
    """
    from twinstar.engine.lock import FileLock
    from twinstar.hotplug.handoff import LOCK_WAIT

    poller = select.poll()
    poller.register(reader, select.POLLIN)
    poller.poll(max(0, int(seconds * 1000)))
    with FileLock(f"{state_dir}/{tsettings.HANDOFF_LOCK_FILE}", timeout=LOCK_WAIT, poll=0.001):
        try:
            byte = os.read(reader, 1)
        except BlockingIOError:
            byte = b""
        os.unlink(f"{state_dir}/{PREPARED_FIFO}")  # no hook writes to it any more
    return bool(byte)


def main(path: str, seconds: float = PREPARED_WAIT, *, follow_up_mode: str | None = None, lock_fd: int | None = None) -> int:
    """The prepared runner for the configuration at ``path``: its exit status.

    The FIFO is offered first (from the hook's settings cache when it is
    fresh), so that a decisive event while the rest is still loading wakes
    this runner rather than forking a second takeover process. 0 without a
    wake-up (the bound ended: the units went away, or this node is no longer
    going to take over), or when another runner is prepared.

    ``follow_up_mode``: how a transition due after the takeover is handed off
    (None: the configured ``handoff``). ``twinstar-prepared.service`` runs it
    in its own process (``inline``), as ``twinstar takeover --follow-up`` does,
    and leaves a failed takeover's retries to ``twinstar-policy.service``.

    ``lock_fd``: a descriptor on ``prepared.lock`` that the hook which started
    this runner locked for it (:func:`twinstar.fastpath.detach.prepared_runner`).

    A configuration changed (or replaced) while the runner waited is read
    again when it is woken: the takeover follows the file as it is then.
    """
    from twinstar.engine.lock import FileLock
    from twinstar.errors import LockBusyError, TwinstarError
    from twinstar.fastpath import hooksettings
    from twinstar.hotplug.configuration import load

    cache = hooksettings.cache_dir(os.environ)
    read_as = identity(path)
    settings = load(path, cache=cache)
    lock = FileLock(f"{settings.state_dir}/{PREPARED_LOCK}")
    if lock_fd is None or not lock.adopt(lock_fd):
        try:
            lock.acquire(timeout=0)
        except LockBusyError:
            return 0
    try:
        reader, keeper = offer(settings.state_dir)
        try:
            _start_probes(settings)
            from twinstar.engine import log

            log.setup()
            engine = _prepare(settings)
            if not woken(settings.state_dir, reader, seconds):
                return 0
        finally:
            os.close(keeper)
            os.close(reader)
        if identity(path) != read_as:
            log_line(f"prepared takeover: {path} changed while the runner waited; the takeover reads it again")
            from twinstar.steps.early import AHEAD

            for step in engine.steps:
                step.forget_early()
            AHEAD.drop_all()  # started for the configuration as it was
            settings = load(path, cache=cache)
            engine = _prepare(settings)
        return _takeover(settings, engine, follow_up_mode)
    except TwinstarError as exc:
        log_line(f"prepared takeover: error: {exc}", error=True)
        return int(exc.exit_status)
    finally:
        lock.release()


def identity(path: str) -> tuple[int, ...] | None:
    """The file's identity (:func:`~twinstar.fastpath.hooksettings.file_identity`); None when it cannot be read."""
    from twinstar.fastpath.hooksettings import file_identity

    try:
        return file_identity(os.stat(path))
    except OSError:
        return None


def _start_probes(settings: HookSettings) -> None:
    """The ip steps' duplicate-address probes, from the settings alone: they listen while the
    configuration and the engine load (:mod:`twinstar.steps.ip_dad`), and the steps adopt them."""
    from twinstar.steps.ip_dad import start_cached

    for failure in start_cached(settings.ip_probes):
        log_line(f"prepared takeover: no probe started ahead for {failure}")


def _prepare(settings: HookSettings) -> Engine:
    """The configuration, the engine, the ahead probes and what the takeover imports after its steps."""
    from twinstar.engine.runner import engine_for
    from twinstar.hotplug.configuration import full_config
    from twinstar.steps.base import start_ahead

    engine = engine_for(full_config(settings))
    import twinstar.hotplug.hook
    import twinstar.policy.consult  # noqa: F401 - loaded now, not after the takeover's steps

    for failure in start_ahead(engine.steps):
        log_line(f"prepared takeover: no probe started ahead for {failure}")
    return engine


def _takeover(settings: HookSettings, engine: Engine, follow_up_mode: str | None) -> int:
    """The takeover as a spawned runner (:mod:`twinstar.cli.handoff_runner`) or, with ``follow_up_mode``,
    ``twinstar-takeover.service`` runs it."""
    from twinstar.hotplug.hook import policy_loop, run_transition

    report = run_transition(settings, "takeover", mode=follow_up_mode, environ=os.environ, engine=engine)
    if not report.ok and follow_up_mode is None:
        policy_loop(settings, environ=os.environ)  # retries wait here: no daemon looks again
    elif not report.ok:
        from twinstar.hotplug.handoff import retry_in_policy_unit

        retry_in_policy_unit(settings)
    return int(report.exit_status)
