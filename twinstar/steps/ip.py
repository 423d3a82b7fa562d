"""The ``ip`` step: the shared cluster address, checked for duplicates and announced.

apply: duplicate-address detection (RFC 5227 probe for ``dad_timeout``
seconds; another host answering is a refusal, exit 3), the address added, one
gratuitous ARP sent at once and the remaining ``arp_count - 1`` sent by a
detached process (:mod:`twinstar.net.garp`), off the takeover's critical
path: that process (its first announcement is ``arp_interval`` away) is
started by a thread of its own and runs at niceness BACKGROUND_NICE, so
neither its start nor its interpreter's takes the CPU from the steps after
this one (the thread keeps its niceness: one holding Python's lock while
descheduled for its niceness would stall the takeover's thread). The probe,
the first announcement and the detached sender share one ARP socket. undo:
stop that sender if it still runs, remove the address.
refresh (a takeover that finds the address up already, as one killed between
adding the address and announcing it leaves it): announce it as apply does, so
the peers do not keep a stale ARP entry for it.

The interface is read and changed in this process (:mod:`twinstar.net.iproute`:
over rtnetlink, what ``ip -j addr show``, ``ip addr add`` and ``ip addr del``
do). An apply or undo right after check (as the engine runs them) starts
from the interface as check read it; verify reads it again.
"""

from __future__ import annotations

import os
import threading

from twinstar.engine.proc import set_niceness
from twinstar.errors import RefusedError, StepError
from twinstar.net import garp
from twinstar.net.arp import mac_text
from twinstar.net.iproute import Link, LinkError, add_address, delete_address
from twinstar.net.rawsock import ArpSocket, NetError
from twinstar.steps import ip_dad
from twinstar.steps.base import (
    Probe,
    RecentReading,
    SharedRead,
    Step,
    StepContext,
)
from twinstar.steps.early import AHEAD, EarlyProbe
from twinstar.steps.ip_spec import IpSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess

#: How long what a check read stands for the apply or undo right after it (seconds).
FRESH = 1.0


class IpStep(Step):
    kind = "ip"
    check_at_start = True

    def __init__(self, spec: IpSpec, ctx: StepContext) -> None:
        super().__init__(spec.name, spec.timeout, ctx)
        self.spec = spec
        self._announcer: subprocess.Popen[bytes] | None = None
        self._starting: threading.Thread | None = None  # starting the detached sender
        self._recent: RecentReading[Link] = RecentReading(ctx.monotonic, FRESH)
        self._early: EarlyProbe[Link, ip_dad.Answer] | None = None
        self._early_ahead = False  # self._early was started ahead of the takeover (start_ahead)
        self._links = SharedRead(self._link_now)  # the takeover's check and early probe read at once: one read

    @property
    def announcer(self) -> subprocess.Popen[bytes] | None:
        """The detached sender of the remaining announcements, once started (waits for its start); None when there is none."""
        starting = self._starting
        if starting is not None:
            starting.join()
        return self._announcer

    @property
    def _where(self) -> str:
        return f"{self.spec.address.with_prefixlen} on {self.spec.interface}"

    def _link(self) -> Link:
        """The interface as it is now (:class:`SharedRead`)."""
        return self._links.get()

    def _link_now(self) -> Link:
        return ip_dad.read(self.name, self.spec.interface)

    def _link_if_present(self) -> Link | None:
        """For undo: an interface that is gone (a removed USB NIC) holds no address."""
        if not os.path.exists(f"/proc/sys/net/ipv4/conf/{self.spec.interface}"):
            self.ctx.log.warning("%s: interface %s is gone; nothing to remove", self.name, self.spec.interface)
            return None
        return self._link()

    def check(self) -> Probe:
        link = self._recent.keep(self._link())
        if link.has(self.spec.address):
            return Probe(True, f"{self._where}")
        other = link.same_ip(self.spec.address)
        if other is not None:
            return Probe(False, f"{other.with_prefixlen} on {self.spec.interface} has the wrong prefix")
        return Probe(False, f"{self.spec.address.ip} not on {self.spec.interface}")

    def release_probe(self) -> Probe:
        """The address is the step's one part: up when check says so.

        The same address with another prefix is not ours (apply refuses it);
        the detached announcer stops by itself once the address is gone.
        """
        return self.check()

    def verify(self) -> None:
        try:
            super().verify()  # reads the interface again
        finally:
            self._recent.forget()

    def verify_undone(self) -> None:
        self._recent.forget()
        link = self._link_if_present()
        if link is not None and link.has(self.spec.address):
            raise StepError(self.name, f"still up after undo: {self._where}")

    def apply(self) -> None:
        link = self._recent.take() or self._link()
        if link.has(self.spec.address):
            return
        other = link.same_ip(self.spec.address)
        if other is not None:
            raise StepError(
                self.name,
                f"{other.with_prefixlen} is on {self.spec.interface} with another prefix than configured",
                hint=f"remove it (ip addr del {other.with_prefixlen} dev {self.spec.interface}) or fix address:",
            )
        if not link.admin_up:
            raise StepError(
                self.name,
                f"interface {self.spec.interface} is down",
                hint=f"bring it up in the system's network configuration (ip link set dev {self.spec.interface} up)",
            )
        if not link.carrier:
            raise StepError(
                self.name,
                f"interface {self.spec.interface} has no carrier (state {link.operstate})",
                hint="check the cable and the switch port",
            )
        early, self._early = self._early, None
        found = None
        if early is not None:
            try:
                found = early.collect(link, max_age=ip_dad.DAD_FRESH)  # probed on this very link state, lately
            except StepError:
                if not self._early_ahead:
                    raise
                # Started ahead, when the unit arrived: what failed then is probed again now.
        owner: bytes | None = None
        sock: ArpSocket | None = None
        if found is not None:  # the early probe's answer, and its socket for the announcement
            owner, sock = found[0]
            if owner is not None and self._early_ahead:
                # Started ahead, when a unit arrived: that owner may have let the address go since
                # (a release before the units moved). Asked again now; one that still answers refuses.
                owner = self._owner(sock)
        elif self.spec.dad_timeout > 0:
            sock = self._probe_socket()
        try:
            if sock is not None and found is None:
                owner = self._owner(sock)
            self._refuse_if_owned(owner)
            try:
                add_address(self.spec.interface, self.spec.address)
            except LinkError as exc:
                raise StepError(self.name, f"cannot add {self._where}: {exc.message}", hint=exc.hint) from None
            handed, sock = sock, None
            self.announce(self.spec.arp_count, sock=handed)
        finally:
            if sock is not None:
                sock.close()

    def refresh(self) -> None:
        """The address is up already: announce it as apply would (failures are logged)."""
        self.announce(self.spec.arp_count)

    def _probe_socket(self) -> ArpSocket:
        return ip_dad.open_socket(self.name, self.spec.interface)

    def start_early(self) -> EarlyProbe[Link, ip_dad.Answer] | None:
        """Start duplicate-address detection in a thread, for apply to collect (:class:`EarlyProbe`);
        or adopt the one started ahead of this takeover (:meth:`start_ahead`).

        Its answer keeps the probe's socket open for apply's announcement:
        closing a packet socket waits for an RCU grace period (:class:`ArpSocket`),
        which the announcement's hand-over to the detached sender avoids.
        """
        adopted = AHEAD.take(self._ahead_key)
        self._early_ahead = adopted is not None
        self._early = adopted or (self._new_probe() if self.spec.dad_timeout > 0 else None)
        return self._early

    def start_ahead(self) -> EarlyProbe[Link, ip_dad.Answer] | None:
        """Start duplicate-address detection for the next takeover's ip step of this address to adopt
        (:func:`ip_dad.start_ahead`).

        The daemon runs it when a listed unit arrives while the node is going
        to take over, so that the probe's ``dad_timeout`` runs while the
        other units arrive and the steps before this one come up.
        """
        return ip_dad.start_ahead(self.spec.interface, self.spec.address, self.spec.dad_timeout, self._new_probe)

    @property
    def _ahead_key(self) -> tuple[str, str, str]:
        return ip_dad.key(self.spec.interface, self.spec.address)

    def _new_probe(self) -> EarlyProbe[Link, ip_dad.Answer]:
        spec = self.spec
        return ip_dad.start(
            self.name, spec.interface, spec.address, spec.dad_timeout, link=self._link, wait=self.timeout, monotonic=self.ctx.monotonic
        )

    def forget_early(self) -> None:
        """Drop an early probe not collected; wait until the detached sender has started (a takeover's
        process may end right after it: in the background, the start would be lost)."""
        early, self._early = self._early, None
        self._early_ahead = False
        if early is not None:
            early.drop()
        starting = self._starting
        if starting is not None:
            starting.join()

    def _owner(self, sock: ArpSocket) -> bytes | None:
        """Who answers for the address, or None: duplicate-address detection for ``dad_timeout``."""
        return ip_dad.owner(self.name, sock, self.spec.address.ip, self.spec.dad_timeout)

    def _refuse_if_owned(self, owner: bytes | None) -> None:
        if owner is not None:
            raise RefusedError(
                f"step {self.name}: {self.spec.address.ip} is already used by {mac_text(owner)} "
                f"on {self.spec.interface}",
                hint="another host answers for the shared address: find it (ip neigh, the switch's MAC table) and remove the address there",
            )

    def announce(self, count: int, *, sock: ArpSocket | None = None) -> None:
        """Announce the address: one gratuitous ARP now, ``count - 1`` from a detached sender.

        ``sock`` is an open ARP socket on the interface to use, handed over:
        the sender gets it, and it is closed once the sender holds it too
        (closing the last reference waits for an RCU grace period); without
        one, a socket of its own is opened and closed. The sender is started
        in the background (:meth:`_start_sender`). Also used for the periodic
        re-announcement while active. Failures are logged, not raised: the
        address is up, peers relearn it by ARP.
        """
        try:
            if count <= 0:
                return
            try:
                if sock is None:
                    garp.announce(self.spec.interface, self.spec.address.ip)
                else:
                    garp.announce_on(sock, self.spec.address.ip, count=1)
            except NetError as exc:
                self.ctx.log.warning("%s: gratuitous ARP not sent: %s", self.name, exc)
                return
            if count == 1:
                return
            self._stop_announcer()
            self._starting = threading.Thread(target=self._start_sender, args=(count - 1, sock), name=f"twinstar {self.name} ARP sender", daemon=True)
            sock = None  # the thread's now
            self._starting.start()
        finally:
            if sock is not None:
                sock.close()

    def _start_sender(self, count: int, sock: ArpSocket | None) -> None:
        """In its thread: start the detached sender at niceness BACKGROUND_NICE, then close ``sock``."""
        try:
            self._announcer = garp.spawn(
                self.spec.interface,
                self.spec.address,
                count=count,
                interval=self.spec.arp_interval,
                delay=self.spec.arp_interval,
                sock=sock,
            )
            set_niceness(tid=self._announcer.pid)
        except OSError as exc:
            self.ctx.log.warning("%s: remaining gratuitous ARPs not sent: %s", self.name, exc)
        finally:
            if sock is not None:
                sock.close()  # cheap: the sender holds it too

    def _stop_announcer(self) -> None:
        proc = self.announcer
        self._starting, self._announcer = None, None
        if proc is not None and proc.poll() is None:
            proc.terminate()

    def undo(self) -> None:
        # The detached sender also stops by itself once the address is gone;
        # when this process started it, stop it now.
        self._stop_announcer()
        link = self._recent.take() or self._link_if_present()
        if link is None or not link.has(self.spec.address):
            return
        try:
            delete_address(self.spec.interface, self.spec.address)
        except LinkError as exc:
            raise StepError(self.name, f"cannot remove {self._where}: {exc.message}", hint=exc.hint) from None
