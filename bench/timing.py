"""Small helpers the benchmarks share: the spread of a set of timings, the machine's load."""

from __future__ import annotations

import os
import statistics


def spread(values: list[float]) -> str:
    """The interquartile range of ``values`` as ``q1–q3`` (ms, one decimal)."""
    if len(values) < 2:
        return "-"
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"{q1:.1f}–{q3:.1f}"


def load() -> str:
    """The load averages (1, 5 and 15 minutes) as text."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"
