"""The findings shared by check, setup and replica check: worst level decides the exit status."""

from __future__ import annotations

import pytest

from twinstar.errors import ExitStatus
from twinstar.ops.findings import Finding, Level, exit_status


@pytest.mark.parametrize(
    ("levels", "status"),
    [
        ((), ExitStatus.OK),
        ((Level.OK, Level.WARNING), ExitStatus.OK),
        ((Level.OK, Level.FAIL, Level.WARNING), ExitStatus.FAILED),
        ((Level.FAIL, Level.ERROR, Level.OK), ExitStatus.BAD_INPUT),
    ],
)
def test_the_worst_level_decides_the_exit_status(levels: tuple[Level, ...], status: ExitStatus) -> None:
    assert exit_status(Finding(level, "s", "m") for level in levels) == status


def test_a_failed_check_stands_out_in_the_report_but_not_in_json() -> None:
    failed = Finding(Level.FAIL, "ports", "units report different active ports")
    assert failed.line() == "  FAIL     ports: units report different active ports"
    assert failed.to_json() == {"level": "fail", "subject": "ports", "message": "units report different active ports"}
    assert Finding(Level.ERROR, "xpp_order", "missing").line() == "  error    xpp_order: missing"
