"""The ``drbd`` step: promote the replicated resource and mount it.

apply: refuse (exit 3) when the peer is Primary; ``drbdadm primary RES``
retried with backoff until the step timeout (exit 17, DRBD refusing because
of the peer or fencing, is a refusal and is not retried); fsck when the
filesystem type needs it; mount. A mount that fails after the promotion
demotes again. undo: unmount; when the mount is busy, wait ``kill_grace``,
then SIGTERM the processes holding it, SIGKILL those still there after
``kill_grace``, reporting each (:mod:`twinstar.steps.holders`); then ``drbdadm secondary RES``. Release runs undo while either part is up
(Primary, or the device mounted), so a takeover or release killed between
the role change and the mount leaves nothing that blocks the peer.

check reads the state with one ``drbdadm role`` (8.4 prints the peer's role
beside ours; 9 needs ``status`` for it, read only when promoting) and the
mount table (:mod:`twinstar.mounts`, in-process). An apply or undo that comes
right after the check (as the engine runs them) starts from that reading
instead of taking it again; verify always reads the state back.

The mount is identified by device number (the table's MAJ:MIN against the
device's st_rdev), not by path strings: /dev/drbd0, /dev/drbd/by-res/r0/0 and
a loop device in tests are all found the same way.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from twinstar import mounts
from twinstar.engine.proc import ProgramResult
from twinstar.errors import BadInputError, ProgramError, RefusedError, StepError
from twinstar.steps.base import Probe, RecentReading, SharedRead, Step, StepContext
from twinstar.steps.drbd_spec import DrbdSpec, FsckMode
from twinstar.steps.early import EarlyProbe
from twinstar.steps.holders import find_holders, stop_holders

PRIMARY = "Primary"
#: drbdadm's exit status when DRBD refuses a promotion (peer Primary, not outdated).
DRBDADM_REFUSED = 17
#: Filesystem types checked before mounting in fsck mode ``auto``.
FSCK_TYPES = frozenset({"ext2", "ext3", "ext4"})
_BACKOFF_START = 0.2
_BACKOFF_MAX = 2.0
#: How long what a check read stands for the apply or undo right after it (seconds).
FRESH = 1.0


# --- pure parts ------------------------------------------------------------------------


def parse_role(text: str) -> tuple[str, str | None]:
    """``drbdadm role``: "Primary/Secondary" (8.4, local/peer) or "Primary" (9, local only)."""
    words = text.split()
    if len(words) != 1:
        raise ValueError(f"unexpected drbdadm role output {text.strip()!r}")
    local, _, peer = words[0].partition("/")
    return local, (peer or None)


def parse_status_peer_roles(text: str) -> list[str]:
    """Peer roles from DRBD 9 ``drbdadm status`` (peer lines: two-space indent, ``role:``)."""
    roles = []
    for line in text.splitlines()[1:]:
        if line.startswith("  ") and not line.startswith("   "):
            for token in line.split()[1:]:
                if token.startswith("role:"):
                    roles.append(token.removeprefix("role:"))
    return roles


def fsck_needed(mode: FsckMode, fstype: str) -> bool:
    if mode is FsckMode.ALWAYS:
        return True
    if mode is FsckMode.NEVER:
        return False
    return fstype in FSCK_TYPES


def is_device(mount: mounts.Mount, device: str) -> bool:
    """Whether ``mount`` is of ``device``: the same device number (st_rdev), or for a filesystem without one
    (a mount whose number is not the device's) the same resolved source path."""
    try:
        rdev = os.stat(device).st_rdev
    except OSError:
        return False
    if mount.majmin == f"{os.major(rdev)}:{os.minor(rdev)}":
        return True
    return os.path.realpath(mount.source) == os.path.realpath(device)


@dataclass(frozen=True)
class _Reading:
    """One look at the resource: ``drbdadm role`` (local and, with 8.4, peer) and the mount."""

    local: str
    peer: str | None
    mount: mounts.Mount | None


# --- the step ----------------------------------------------------------------------------


class DrbdStep(Step):
    kind = "drbd"
    check_at_start = True

    def __init__(self, spec: DrbdSpec, ctx: StepContext) -> None:
        super().__init__(spec.name, spec.timeout, ctx)
        self.spec = spec
        self._recent: RecentReading[_Reading] = RecentReading(ctx.monotonic, FRESH)
        self._early: EarlyProbe[_Reading, list[str]] | None = None
        self._reads = SharedRead(self._read_now)  # the takeover's check and early probe read at once: one read

    def programs(self) -> tuple[str, ...]:
        progs = ["drbdadm", "mount", "umount"]
        if self.spec.fsck is not FsckMode.NEVER:
            progs.append(self._checker())
        return tuple(progs)

    def _checker(self) -> str:
        """The filesystem's own checker, ``fsck.TYPE``, as fsck(8) would run it (the type has no ``/``)."""
        return f"fsck.{self.spec.fstype}"

    # -- reading state --

    def _drbdadm(self, *args: str, ok_codes: tuple[int, ...] | None = (0,)) -> ProgramResult:
        # No "--" here: drbdadm passes what follows "--" on to drbdsetup as
        # options. The resource name is validated at load (never starts with -).
        argv = ["drbdadm", *args, self.spec.resource]
        try:
            return self.ctx.runner.run(
                argv, timeout=self.timeout, ok_codes=ok_codes, quiet=args[0] not in ("primary", "secondary")
            )
        except ProgramError as exc:
            raise StepError(
                self.name,
                f"drbdadm {args[0]} {self.spec.resource} failed: {exc}",
                hint=f"is the resource configured and up? (drbdadm up {self.spec.resource})",
            ) from None

    def _peer_roles(self, reading: _Reading) -> list[str]:
        """The peers' roles (8.4: ``role`` printed it; 9: from ``status``)."""
        if reading.peer is not None:
            return [reading.peer]
        return parse_status_peer_roles(self._drbdadm("status").stdout)

    def start_early(self) -> EarlyProbe[_Reading, list[str]]:
        """Start reading the peers' roles in a thread, for apply to collect (:class:`EarlyProbe`).

        Used when the resource reads the same at apply; DRBD itself still
        refuses a promotion while a peer is Primary.
        """
        self._early = EarlyProbe(self.name, self._read, self._peer_roles)
        return self._early

    def forget_early(self) -> None:
        self._early = None

    def _mounted(self) -> mounts.Mount | None:
        """What is mounted on the mountpoint (its path resolved, as the kernel's table names it), or None."""
        try:
            return mounts.on(os.path.realpath(self.spec.mountpoint))
        except BadInputError as exc:
            raise StepError(self.name, f"cannot read mounts: {exc}") from None

    def _describe(self, role: str, mount: mounts.Mount | None) -> str:
        if mount is None:
            where = f"nothing mounted on {self.spec.mountpoint}"
        elif self._ours(mount):
            where = f"{self.spec.device} mounted on {self.spec.mountpoint}"
        else:
            where = f"{mount.source} (not {self.spec.device}) mounted on {self.spec.mountpoint}"
        return f"{self.spec.resource} {role}, {where}"

    def _read(self) -> _Reading:
        """The roles and the mount, as they are now (:class:`SharedRead`)."""
        return self._reads.get()

    def _read_now(self) -> _Reading:
        """The roles (one ``drbdadm role``) and the mount, as they are now."""
        try:
            local, peer = parse_role(self._drbdadm("role").stdout)
        except ValueError as exc:
            raise StepError(self.name, str(exc)) from None
        return _Reading(local, peer, self._mounted())

    def _ours(self, mount: mounts.Mount | None) -> bool:
        return mount is not None and is_device(mount, self.spec.device)

    def check(self) -> Probe:
        r = self._recent.keep(self._read())
        return Probe(r.local == PRIMARY and self._ours(r.mount), self._describe(r.local, r.mount))

    def release_probe(self) -> Probe:
        """Up while either part is: Primary, or the device mounted (undo takes down each)."""
        r = self._recent.keep(self._read())
        return Probe(r.local == PRIMARY or self._ours(r.mount), self._describe(r.local, r.mount))

    def verify(self) -> None:
        try:
            super().verify()  # reads the state back
        finally:
            self._recent.forget()

    def verify_undone(self) -> None:
        try:
            super().verify_undone()  # reads the state back
        finally:
            self._recent.forget()

    # -- apply --

    def apply(self) -> None:
        reading = self._recent.take()
        self._require_paths()
        reading = reading or self._read()
        mount = reading.mount
        if mount is not None and not self._ours(mount):
            raise StepError(
                self.name,
                f"{self.spec.mountpoint} already has {mount.source} mounted, not {self.spec.device}",
                hint=f"unmount it (umount {self.spec.mountpoint}) or fix mountpoint:",
            )
        early, self._early = self._early, None
        found = early.collect(reading) if early is not None else None  # read while the resource looked the same
        local, peers = reading.local, found[0] if found is not None else self._peer_roles(reading)
        if PRIMARY in peers:
            raise RefusedError(
                f"step {self.name}: the peer is Primary for {self.spec.resource}; not promoting",
                hint="release the resource on the peer first (twinstar release there)",
            )
        if "Unknown" in peers:
            self.ctx.log.warning(
                "%s: peer role unknown (disconnected); relying on DRBD fencing to refuse a second Primary",
                self.name,
            )
        promoted = False
        if local != PRIMARY:
            self._change_role("primary")
            promoted = True
        if mount is not None:
            return
        try:
            if fsck_needed(self.spec.fsck, self.spec.fstype):
                self._fsck()
            self._mount()
        except StepError:
            if promoted:
                self._demote_after_failure()
            raise

    def _require_paths(self) -> None:
        if not os.path.isdir(self.spec.mountpoint):
            raise StepError(
                self.name,
                f"mountpoint {self.spec.mountpoint} does not exist or is not a directory",
                hint=f"create it (mkdir {self.spec.mountpoint}) on both servers",
            )
        try:
            st = os.stat(self.spec.device)
        except OSError as exc:
            raise StepError(
                self.name,
                f"device {self.spec.device}: {exc.strerror}",
                hint=f"is the DRBD resource up? (drbdadm up {self.spec.resource})",
            ) from None
        if not stat.S_ISBLK(st.st_mode):
            raise StepError(self.name, f"{self.spec.device} is not a block device")

    def _change_role(self, role: str) -> None:
        """``drbdadm primary|secondary`` retried with backoff until the step timeout."""
        deadline = self.ctx.monotonic() + self.timeout
        delay = _BACKOFF_START
        attempts = 0
        while True:
            attempts += 1
            result = self._drbdadm(role, ok_codes=None)
            if result.returncode == 0:
                return
            message = result.output.splitlines()[-1] if result.output else f"exit status {result.returncode}"
            if role == "primary" and result.returncode == DRBDADM_REFUSED:
                raise RefusedError(
                    f"step {self.name}: DRBD refused to promote {self.spec.resource}: {message}",
                    hint="the peer is Primary or not outdated; release it there first",
                )
            if self.ctx.monotonic() + delay >= deadline:
                raise StepError(
                    self.name,
                    f"drbdadm {role} {self.spec.resource} still failing after {attempts} attempts "
                    f"in {self.timeout:g} s: {message}",
                )
            self.ctx.log.warning(
                "%s: drbdadm %s %s failed (%s), retrying in %.1f s", self.name, role, self.spec.resource, message, delay
            )
            self.ctx.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX)

    def _demote_after_failure(self) -> None:
        try:
            self._change_role("secondary")
        except StepError as exc:
            self.ctx.log.error("%s: could not demote again after the failed mount: %s", self.name, exc)

    def _fsck(self) -> None:
        # The checker itself, not fsck(8): with the type known, the front end
        # only adds a probe of the whole device (libblkid) and a second process.
        # No "--": not every checker takes it. The device is an absolute path.
        argv = [self._checker(), "-p", self.spec.device]
        try:
            result = self.ctx.runner.run(argv, timeout=self.timeout, ok_codes=None)
        except ProgramError as exc:
            raise StepError(self.name, f"fsck failed: {exc}") from None
        if result.returncode == 1:
            self.ctx.log.warning("%s: fsck corrected errors on %s", self.name, self.spec.device)
        elif result.returncode != 0:
            last = result.output.splitlines()[-1] if result.output else ""
            raise StepError(
                self.name,
                f"fsck of {self.spec.device} failed with exit status {result.returncode}: {last}",
                hint=f"check it by hand: {self._checker()} {self.spec.device}",
            )

    def _mount(self) -> None:
        argv = ["mount", "-t", self.spec.fstype, "-o", self.spec.mount_options, "--", self.spec.device, self.spec.mountpoint]
        self.run_program(argv, failure=f"cannot mount {self.spec.device} on {self.spec.mountpoint}")

    # -- undo --

    def undo(self) -> None:
        reading = self._recent.take() or self._read()
        mount = reading.mount
        if mount is not None:
            if self._ours(mount):
                self._unmount()
            else:
                self.ctx.log.warning(
                    "%s: leaving %s mounted on %s: it is not %s",
                    self.name, mount.source, self.spec.mountpoint, self.spec.device,
                )
        # Unmounting does not change the role: the reading still holds.
        if reading.local == PRIMARY:
            self._change_role("secondary")

    def _try_umount(self) -> str | None:
        """Unmount once; None when done, else umount's message."""
        try:
            result = self.ctx.runner.run(["umount", "--", self.spec.mountpoint], timeout=self.timeout, ok_codes=None)
        except ProgramError as exc:
            raise StepError(self.name, f"cannot unmount {self.spec.mountpoint}: {exc}") from None
        if result.returncode == 0 or self._mounted() is None:
            return None
        return result.output.splitlines()[-1] if result.output else f"umount exited {result.returncode}"

    def _unmount(self) -> None:
        dev = os.stat(self.spec.mountpoint).st_dev
        if self._try_umount() is None:
            return
        # Busy: give the processes (services just stopped) the grace period to leave.
        deadline = self.ctx.monotonic() + self.spec.kill_grace
        while self.ctx.monotonic() < deadline:
            self.ctx.sleep(min(0.2, max(0.0, deadline - self.ctx.monotonic())))
            if self._try_umount() is None:
                return
        stop_holders(dev, grace=self.spec.kill_grace, log=self.ctx.log, who=self.name, what=self.spec.mountpoint)
        problem = self._try_umount()
        if problem is not None:
            left = ", ".join(f"{h.pid} ({h.comm})" for h in find_holders(dev)) or "none found (kernel users?)"
            raise StepError(
                self.name,
                f"cannot unmount {self.spec.mountpoint}: {problem}; processes still holding it: {left}",
            )
