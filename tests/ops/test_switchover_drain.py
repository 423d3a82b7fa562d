"""``twinstar switchover`` waits for calls to drain, and refuses (changing nothing) when they do not.

Whole ``twinstar switchover`` processes. Stand-in: the USB simulator (the
units, both ports powered). Real: the engine and its command step, the
drain check (a small program standing for ``asterisk -rx "core show
channels count"``: Asterisk is not packaged for Debian 12, so a script named
``asterisk`` prints Asterisk's real three-line output), the jump and the
confirmation that the units left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import run_twinstar
from twinstar.errors import TwinstarError
from twinstar.ops.switchover import parse_calls

#: The drain check: prints the count in CALLS, then lowers it by DRAIN (0: the calls never end); logs each run.
DRAIN_CHECK = """\
import sys
calls, log, drain = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(calls).read()
with open(log, "a") as f:
    f.write(f"calls {text.strip()}\\n")
print(text.strip())
if text.strip().isdigit() and drain:
    open(calls, "w").write(str(max(0, int(text) - drain)))
"""

#: Stands in for ``asterisk -rx "core show channels count"`` (Asterisk's own lines, from main/cli.c):
#: the active calls are read from ./calls, logged to ./runs.log, and one call ends per run.
ASTERISK = """\
import sys
from pathlib import Path
here = Path(__file__).parent
if sys.argv[1:] != ["-rx", "core show channels count"]:
    sys.exit(f"unexpected arguments {sys.argv[1:]}")
calls = int((here / "calls").read_text())
with open(here / "runs.log", "a") as f:
    f.write(f"calls {calls}\\n")
s = lambda n: "" if n == 1 else "s"
print(f"{2 * calls} active channel{s(2 * calls)}")
print(f"{calls} active call{s(calls)}")
print("7 calls processed")
(here / "calls").write_text(str(max(0, calls - 1)))
"""

#: The command step's stop: logs itself, so the order of drain checks and release shows, then stops the "PBX".
STOP = "import os, sys; open(sys.argv[1], 'a').write('stop\\n'); os.unlink(sys.argv[2])"


@dataclass
class Node:
    """One active node cabled to port 0 of two simulated units."""

    tmp: Path
    config: Path
    sim: Path
    calls: Path
    log: Path
    marker: Path

    def twinstar(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_twinstar(self.config, *args)

    def observe(self) -> dict[str, object]:
        """What a refusal must not change."""
        state = json.loads((self.tmp / "state" / "state.json").read_text())
        journal = (self.tmp / "state" / "journal.jsonl").read_text().splitlines()
        ports = [u["port"] for u in json.loads(self.sim.read_text())["units"]]
        return {"role": state["role"], "pbx": self.marker.exists(), "ports": ports, "journal": len(journal)}

    def runs(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def make_node(tmp: Path, *, calls: str, drain: int, asterisk: bool = False, count_line: str | None = None) -> Node:
    sim = tmp / "units.json"
    assert run_twinstar(None, "sim", "init", str(sim), "--units", "2").returncode == 0
    node = Node(tmp, tmp / "twinstar.yaml", sim, tmp / "calls", tmp / "runs.log", tmp / "pbx-up")
    node.calls.write_text(calls)
    check = tmp / "drain_check.py"
    check.write_text(DRAIN_CHECK)
    log = str(node.log)
    drain_check = [sys.executable, str(check), str(node.calls), log, str(drain)]
    if asterisk:
        program = tmp / "asterisk"
        program.write_text(f"#!{sys.executable}\n{ASTERISK}")
        program.chmod(0o755)
        drain_check = [str(program), "-rx", "core show channels count"]
    node.config.write_text(
        json.dumps(
            {
                "node": "pbx-a",
                "state_dir": str(tmp / "state"),
                "maintenance_file": str(tmp / "maintenance"),
                "usb": {"simulator": str(sim), "simulator_port": 0},
                "takeover": [
                    {
                        "command": {
                            "name": "pbx",
                            "start": ["/usr/bin/touch", str(node.marker)],
                            "stop": [sys.executable, "-c", STOP, log, str(node.marker)],
                            "check": ["/usr/bin/test", "-e", str(node.marker)],
                        }
                    }
                ],
                "switchover": {
                    "drain_check": drain_check,
                    "drain_count_line": count_line,
                    "drain_timeout": 30,
                    "drain_poll": 0.05,
                    "leave_timeout": 5,
                },
            }
        )
    )
    node.config.chmod(0o644)
    result = node.twinstar("takeover")
    assert result.returncode == 0, result.stderr
    assert node.observe()["role"] == "active" and node.marker.exists()
    return node


def test_switchover_waits_until_the_calls_end_then_releases_and_jumps(tmp_path: Path) -> None:
    node = make_node(tmp_path, calls="3", drain=1)  # one call ends per check
    result = node.twinstar("switchover")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "drain    no active calls (waited" in result.stdout
    # Every check ran before the release, and the release only once the count was 0.
    assert node.runs() == ["calls 3", "calls 2", "calls 1", "calls 0", "stop"]
    assert node.observe()["ports"] == [1, 1]
    assert node.observe()["role"] == "standby"
    assert result.stdout.count("it has left this host") == 2


def test_switchover_refuses_when_calls_outlast_the_drain_timeout_and_changes_nothing(tmp_path: Path) -> None:
    node = make_node(tmp_path, calls="2", drain=0)  # the calls never end
    before = node.observe()
    result = node.twinstar("switchover", "--drain-timeout", "0.3")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "2 call(s) still active after 0.3 s; nothing was released" in result.stdout
    assert "--drain-timeout 0" in result.stderr + result.stdout  # the way out is named
    assert len(node.runs()) >= 2 and "stop" not in node.runs()
    assert node.observe() == before


@pytest.mark.parametrize("output", ["", "many", "1 2"])
def test_switchover_with_an_unreadable_drain_check_changes_nothing(tmp_path: Path, output: str) -> None:
    node = make_node(tmp_path, calls=output, drain=0)
    before = node.observe()
    result = node.twinstar("switchover")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "expected the number of active calls" in result.stdout
    assert "Traceback" not in result.stderr
    assert node.observe() == before


def test_drain_timeout_0_hands_over_at_once_without_asking(tmp_path: Path) -> None:
    node = make_node(tmp_path, calls="5", drain=0)
    result = node.twinstar("switchover", "--drain-timeout", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not waiting for calls (drain timeout 0)" in result.stdout
    assert node.runs() == ["stop"]
    assert node.observe()["ports"] == [1, 1]


def test_switchover_reads_the_active_calls_line_of_asterisks_three_line_output(tmp_path: Path) -> None:
    # "active calls" also reads Asterisk's singular line "1 active call".
    node = make_node(tmp_path, calls="2", drain=0, asterisk=True, count_line="active calls")
    result = node.twinstar("switchover")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "drain    no active calls (waited" in result.stdout
    assert node.runs() == ["calls 2", "calls 1", "calls 0", "stop"]
    assert node.observe()["ports"] == [1, 1]


def test_asterisks_three_lines_without_drain_count_line_are_refused_and_name_the_key(tmp_path: Path) -> None:
    node = make_node(tmp_path, calls="0", drain=0, asterisk=True)
    before = node.observe()
    result = node.twinstar("switchover")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "expected the number of active calls" in result.stdout
    assert "switchover.drain_count_line" in result.stdout + result.stderr
    assert node.observe() == before


#: Asterisk's ``core show channels count`` lines (main/cli.c), with and without ``maxcalls`` set.
ASTERISK_OUTPUTS = [
    ("0 active channels\n0 active calls\n7 calls processed\n", 0),
    ("2 active channels\n1 active call\n8 calls processed\n", 1),
    ("6 active channels\n3 of 100 max active calls ( 3.00% of capacity)\n9 calls processed\n", 3),
]


@pytest.mark.parametrize(("text", "calls"), ASTERISK_OUTPUTS)
@pytest.mark.parametrize("count_line", ["active calls", "active call", "Active  Calls"])
def test_parse_calls_reads_the_labelled_line(text: str, calls: int, count_line: str) -> None:
    assert parse_calls(text, ["asterisk"], " ".join(count_line.split())) == calls


@pytest.mark.parametrize(
    ("text", "count_line"),
    [
        (ASTERISK_OUTPUTS[0][0], "calls"),  # two lines hold "calls": which one is meant is not guessed
        (ASTERISK_OUTPUTS[0][0], "ringing calls"),  # no line holds the words
        ("active calls 3\n", "active calls"),  # the line does not begin with the number
        ("-1 active calls\n", "active calls"),
        ("٣ active calls\n", "active calls"),  # digits, but not 0-9
        (ASTERISK_OUTPUTS[0][0], None),  # several lines, and no label to choose one
    ],
)
def test_parse_calls_refuses_what_it_cannot_read_unambiguously(text: str, count_line: str | None) -> None:
    with pytest.raises(TwinstarError, match="switchover.drain_count_line"):
        parse_calls(text, ["asterisk"], count_line)


def test_parse_calls_still_reads_one_plain_number() -> None:
    assert parse_calls(" 12\n", ["active-calls"]) == 12


@pytest.mark.privileged
def test_as_root_a_drain_check_another_user_can_replace_is_refused_before_anything(tmp_path: Path) -> None:
    """The engine's preflight covers the drain check's program: exit 2, the program never runs."""
    node = make_node(tmp_path, calls="0", drain=0, asterisk=True, count_line="active calls")
    program = tmp_path / "asterisk"
    program.chmod(0o777)
    os.chown(program, 4321, 4321)
    before = node.observe()
    result = node.twinstar("switchover")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "switchover.drain_check: refusing to run" in result.stderr
    assert f"{program} is owned by uid 4321, not root" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert node.runs() == []
    assert node.observe() == before
