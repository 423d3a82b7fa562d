"""The ip step's duplicate-address detection in a thread, collected by its apply (docs/steps.md, *early detection*).

Light on purpose (no engine, no configuration): the prepared takeover runner
starts the probes of the ip steps the hook's settings cache lists
(:func:`start_cached`) before it loads the configuration and the engine, so
that the probe listens while they load; the ip step adopts it
(:data:`~twinstar.steps.early.AHEAD`).
"""

from __future__ import annotations

import functools
import ipaddress
import threading
import time
from collections.abc import Callable, Iterable

from twinstar.errors import StepError
from twinstar.net import dad
from twinstar.net.iproute import Link, LinkError, read_link
from twinstar.net.rawsock import ArpSocket, NetError
from twinstar.steps.early import AHEAD, EarlyProbe

KIND = "ip"
#: How long the answer of duplicate-address detection run before apply stands (seconds, from the
#: probe's end to apply): an older one is probed again.
DAD_FRESH = 1.0
#: How long a probe started before apply goes on listening for it (seconds): the prepared takeover
#: runner's longest wait for the units. Collected sooner, it ends then; older, it ages as above.
WATCH_LIMIT = 30.0

#: Who answered for the address (None: nobody), and the probe's socket, kept open for the announcement.
Answer = tuple[bytes | None, ArpSocket]
#: What the hook's settings cache keeps of an ip step for :func:`start_cached`
#: (:attr:`twinstar.config.Config.ip_probes`): step name, interface, address with prefix, dad_timeout, timeout.
Cached = tuple[str, str, str, float, float]


def key(interface: str, address: ipaddress.IPv4Interface) -> tuple[str, str, str]:
    """Which step adopts a probe started ahead (:data:`~twinstar.steps.early.AHEAD`)."""
    return (KIND, interface, address.with_prefixlen)


def read(name: str, interface: str) -> Link:
    """The interface as it is now; a clear error of step ``name`` when it cannot be read."""
    try:
        return read_link(interface)
    except LinkError as exc:
        raise StepError(name, exc.message, hint=exc.hint) from None


def probeable(link: Link, address: ipaddress.IPv4Interface) -> bool:
    """Whether apply would probe on ``link``: the address absent (with any prefix), the interface up with carrier."""
    return link.same_ip(address) is None and link.admin_up and link.carrier


def open_socket(name: str, interface: str) -> ArpSocket:
    try:
        return ArpSocket(interface)
    except NetError as exc:
        raise failed(name, exc) from None


def failed(name: str, exc: NetError) -> StepError:
    return StepError(name, f"duplicate-address detection failed: {exc}")


def owner(
    name: str,
    sock: ArpSocket,
    address: ipaddress.IPv4Address,
    timeout: float,
    *,
    wake: dad.Wake | None = None,
    sent: Callable[[], object] | None = None,
) -> bytes | None:
    """Who answers for ``address``, or None: duplicate-address detection for ``timeout``, or with ``wake``
    until it is set (:func:`dad.watch`; ``sent`` is called once its first probe is out)."""
    try:
        if wake is None:
            return dad.probe(sock, address, timeout=timeout)
        return dad.watch(sock, address, timeout=timeout, wake=wake, limit=WATCH_LIMIT, sent=sent)
    except NetError as exc:
        raise failed(name, exc) from None


def close_answer(answer: Answer) -> None:
    answer[1].close()


def start(
    name: str,
    interface: str,
    address: ipaddress.IPv4Interface,
    dad_timeout: float,
    *,
    link: Callable[[], Link],
    wait: float,
    monotonic: Callable[[], float] = time.monotonic,
) -> EarlyProbe[Link, Answer]:
    """The probe of step ``name``, in its thread; returns once its first frame is out (or it will send none),
    ``wait`` seconds at most.

    ``link()`` reads the interface; with the address on it, or the interface
    down or without carrier, there is nothing to probe. The probe listens from
    its first frame until apply collects it, ``dad_timeout`` at least
    (:func:`dad.watch`), so its answer is as fresh as one probed at apply,
    however long the units or the steps before took. Waiting here for the
    first frame (a fraction of a millisecond) starts that clock now, where the
    thread would otherwise wait for Python's lock while this one goes on.
    """
    out = threading.Event()
    wake = dad.Wake()

    def inputs() -> Link | None:
        found = None
        try:
            now = link()
            found = now if probeable(now, address) else None
            return found
        finally:
            if found is None:  # nothing to probe: no frame to wait for, nothing to wake
                out.set()
                wake.close()

    def answer(_: Link) -> Answer:
        try:
            sock = open_socket(name, interface)
            try:
                return owner(name, sock, address.ip, dad_timeout, wake=wake, sent=out.set), sock
            except BaseException:
                sock.close()
                raise
        finally:
            out.set()
            wake.close()

    probe = EarlyProbe(name, inputs, answer, release=close_answer, finish=wake.set, monotonic=monotonic)
    out.wait(wait)
    return probe


def start_ahead(
    interface: str, address: ipaddress.IPv4Interface, dad_timeout: float, new: Callable[[], EarlyProbe[Link, Answer]]
) -> EarlyProbe[Link, Answer] | None:
    """The probe for the next takeover's ip step of this address to adopt, ``new()`` (:func:`start`) unless
    one runs already; None with ``dad_timeout`` 0.

    A probe still running stands; apply probes again when the answer is older
    than :data:`DAD_FRESH`, was read on another link state, or failed.
    """
    if dad_timeout <= 0:
        return None
    adopter = key(interface, address)
    current = AHEAD.offered(adopter)
    if current is not None and current.running:
        return current
    probe = new()
    AHEAD.offer(adopter, probe, max_age=DAD_FRESH)
    return probe


def start_cached(steps: Iterable[Cached]) -> list[str]:
    """Start the probe of each cached ip step ahead (:func:`start_ahead`); what could not start, ``"STEP: error"`` each."""
    failures = []
    for name, interface, text, dad_timeout, wait in steps:
        try:
            address = ipaddress.IPv4Interface(text)
        except ValueError as exc:  # the cache is written from a validated configuration: a damaged one
            failures.append(f"{name}: {exc}")
            continue
        link = functools.partial(read, name, interface)
        start_ahead(interface, address, dad_timeout, functools.partial(start, name, interface, address, dad_timeout, link=link, wait=wait))
    return failures
