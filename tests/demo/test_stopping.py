"""The demo clients' stop: the first SIGTERM or SIGINT ends their loops."""

from __future__ import annotations

import os
import signal

import pytest

from twinstar.demo.stopping import StopSignal


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_requests_the_stop(signum: int) -> None:
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        stop = StopSignal()
        assert not stop.requested
        os.kill(os.getpid(), signum)  # handled at once, in this (the main) thread
        assert stop.requested
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
