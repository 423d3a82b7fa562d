"""An ``asterisk`` stand-in: the remote console's ``-rx COMMAND``, with Asterisk's state in a JSON file.

Asterisk is not packaged for the build machine (Debian 12), so the narrowest
boundary twinstar touches, ``asterisk -rx 'COMMAND'`` as a program, is played
here; everything above it (the asterisk step, its parsing, the engine) is
real. The outputs are chan_dahdi's and the CLI's own formats (``FORMAT`` and
``FORMAT2`` of ``dahdi_show_status`` and ``dahdi_show_channels`` in
``channels/chan_dahdi.c``, Asterisk 13 and later; tests/standins/ holds
samples recorded from real systems of older versions too). DAHDI's spans are
read, as the real ``DAHDI_SPANSTAT`` ioctl would give them, from a (fake)
sysfs tree; chan_dahdi creates its channels when it is loaded or reloaded,
so a span that came up after the load has none until a reload.

Commands::

    core show version              "Asterisk 18.10.0 built by ..."
    module show like chan_dahdi.so  the module table and "N modules loaded"
    module load|unload|reload chan_dahdi.so
    dahdi show status               one line per DAHDI span (needs chan_dahdi)
    dahdi show channels             pseudo, then each channel chan_dahdi created
    channel originate ...           accepted and recorded (the ready announcement)

anything else: "No such command ...". A stopped Asterisk (``running``
false) answers nothing: "Unable to connect to remote asterisk", exit 1.

State file::

    {"running": true,
     "modules": {"chan_dahdi.so": false},       # loaded?
     "dahdi_conf_spans": null,                  # spans chan_dahdi.conf configures (null: all)
     "channels": [[1, 1, "FXO Kewlstart"], ...],  # created at the last load/reload
     "counts": {"load": 0, "reload": 0, "unload": 0},
     "calls": ["core show version", ...]}
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

VERSION = "Asterisk 18.10.0 built by buildd @ pbx on a x86_64 running Linux on 2022-03-01 10:00:00 UTC"
NOT_RUNNING = "Unable to connect to remote asterisk (does /var/run/asterisk/asterisk.ctl exist?)"
CHAN_DAHDI = "chan_dahdi.so"
DESCRIPTION = "DAHDI Telephony w/PRI & SS7 & MFC/R2"
LBO = "0 db (CSU)/0-133 feet (DSX-1)"

#: chan_dahdi's and the CLI's printf formats: the tables' headers (``FORMAT2``) and rows (``FORMAT``).
STATUS_HEADER = "%4s %-40.40s %-7.7s %-6.6s %-6.6s %-6.6s %-3.3s %-4.4s %-8.8s %s"
STATUS_ROW = "%4d %-40.40s %-7.7s %-6d %-6d %-6d %-3.3s %-4.4s %-8.8s %s"
CHANNELS_HEADER = "%7s %4s %-20.20s %-10.10s %-15.15s %-8.8s %-20.20s %-10.10s %-10.10s %-12.12s %-32.32s"
CHANNELS_ROW = "%7s %4d %-20.20s %-10.10s %-15.15s %-8.8s %-20.20s %-10.10s %-10.10s %-12.12s %-32.32s"
MODULES_HEADER = "%-30s %-40.40s %-10s %-11s %13s"
MODULES_ROW = "%-30s %-40.40s %-10d %-11s %13s"

#: The channels' signalling by DAHDI span type (an FXS port is signalled as FXO, and the reverse).
SIGNALLING = {"FXS": "FXO Kewlstart", "FXO": "FXS Kewlstart", "E1": "ISDN PRI", "T1": "ISDN PRI", "TE": "ISDN BRI"}


def new_state(*, running: bool = True, loaded: bool = False, conf_spans: list[int] | None = None) -> dict[str, Any]:
    return {
        "running": running,
        "modules": {CHAN_DAHDI: loaded},
        "dahdi_conf_spans": conf_spans,
        "channels": [],
        "counts": {"load": 0, "reload": 0, "unload": 0},
        "calls": [],
    }


def write_wrapper(path: str | os.PathLike[str], state_file: str | os.PathLike[str], sysfs: str | os.PathLike[str]) -> Path:
    """Write an executable ``asterisk`` for ``programs: {asterisk: PATH}`` on ``state_file`` and the sysfs tree."""
    path = Path(path)
    package_root = Path(__file__).resolve().parents[2]
    path.write_text(
        f"#!{sys.executable} -I\n"
        '"""asterisk stand-in (twinstar.standins.asterisk)."""\n'
        "import sys\n"
        f"sys.path.insert(0, {str(package_root)!r})\n"
        "from twinstar.standins.asterisk import main\n"
        f"sys.exit(main(['--state', {os.fspath(state_file)!r}, '--sysfs', {os.fspath(sysfs)!r}, *sys.argv[1:]]))\n"
    )
    path.chmod(0o755)
    return path


@contextmanager
def updated(state_file: str) -> Iterator[dict[str, Any]]:
    """The state, locked for the block and written back after it."""
    with open(state_file + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(state_file) as f:
            state: dict[str, Any] = json.load(f)
        yield state
        tmp = state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, state_file)


def load(state_file: str) -> dict[str, Any]:
    with open(state_file) as f:
        value: dict[str, Any] = json.load(f)
    return value


# --- what DAHDI shows ------------------------------------------------------------------------


def _spans(sysfs: str) -> list[Any]:
    from twinstar.astribank import spans

    return spans.read_spans(sysfs)


def _spantype(path: str) -> str:
    with open(os.path.join(path, "spantype")) as f:
        return f.read().strip()


def _alarm_info(alarms: int, channels: int) -> str:
    """chan_dahdi's ``build_alarm_info``."""
    if alarms > 0:
        parts = [name for bit, name in ((16, "BLU"), (4, "YEL"), (8, "RED"), (2, "LB"), (1, "REC"), (32, "NOP")) if alarms & bit]
        return "/".join(parts) or "UUU"
    return "OK" if channels else "UNCONFIGURED"


def _line_words(lineconfig: str) -> tuple[str, str, str]:
    """Framing, coding and options as ``dahdi show status`` derives them from the span's line configuration."""
    bits = set(lineconfig.split("/"))
    framing = next((w for w in ("D4", "ESF", "CCS") if w in bits), "CAS")
    coding = next((w for w in ("B8ZS", "HDB3", "AMI") if w in bits), "Unknown")
    return framing, coding, "CRC4" if "CRC4" in bits else ""


def show_status(sysfs: str) -> str:
    lines = [STATUS_HEADER % (
        "Span", "Description", "Alarms", "IRQ", "bpviol", "CRC", "Framing", "Coding", "Options", "LBO")]
    for span in _spans(sysfs):
        framing, coding, options = _line_words(span.lineconfig)
        desc = Path(span.path, "desc").read_text().strip()
        lines.append(STATUS_ROW % (
            span.number, desc, _alarm_info(span.alarms, span.channels), 0, 0, 0, framing, coding, options, LBO))
    return "\n".join(lines) + "\n"


def show_channels(state: dict[str, Any]) -> str:
    lines = [CHANNELS_HEADER % ("Chan", "Span", "Signalling", "Extension", "Context", "Language", "MOH Interpret", "Blocked", "In Service", "Alarms", "Description")]
    rows = [("pseudo", 0, "Pseudo")] + [(str(c), s, sig) for c, s, sig in state["channels"]]
    for chan, span, sig in rows:
        lines.append(CHANNELS_ROW % (chan, span, sig, "", "from-pstn" if span else "default", "", "default", "  ", "Yes", "No Alarm", ""))
    return "\n".join(lines) + "\n"


def _create_channels(state: dict[str, Any], sysfs: str) -> None:
    """What chan_dahdi does at load and reload: a channel for each of the configured spans' channels."""
    wanted = state["dahdi_conf_spans"]
    channels = []
    for span in _spans(sysfs):
        if wanted is not None and span.number not in wanted:
            continue
        base = int(Path(span.path, "basechan").read_text())
        sig = SIGNALLING.get(_spantype(span.path), "FXO Kewlstart")
        channels += [[base + i, span.number, sig] for i in range(span.channels)]
    state["channels"] = channels


def show_modules(state: dict[str, Any], like: str) -> str:
    loaded = [m for m, on in state["modules"].items() if on and like in m]
    lines = [MODULES_HEADER % ("Module", "Description", "Use Count", "Status", "Support Level")]
    lines += [MODULES_ROW % (m, DESCRIPTION, 0, "Running", "core") for m in loaded]
    lines.append(f"{len(loaded)} modules loaded")
    return "\n".join(lines) + "\n"


# --- the commands ---------------------------------------------------------------------------


def execute(command: str, state: dict[str, Any], sysfs: str) -> tuple[int, str]:
    """Run one CLI command against ``state`` (changed in place); exit status and output."""
    state["calls"].append(command)
    if not state["running"]:
        return 1, NOT_RUNNING + "\n"
    words = command.split()
    loaded = state["modules"].get(CHAN_DAHDI, False)
    if words == ["core", "show", "version"]:
        return 0, VERSION + "\n"
    if words[:3] == ["module", "show", "like"] and len(words) == 4:
        return 0, show_modules(state, words[3])
    if len(words) == 3 and words[0] == "module" and words[1] in ("load", "unload", "reload"):
        verb, name = words[1], words[2]
        if name != CHAN_DAHDI:
            return 0, f"Unable to {verb} module {name}\nCommand '{command}' failed.\n"
        if verb == "load":
            if loaded:
                return 0, f"Unable to load module {name}\nCommand '{command}' failed.\n"
            state["modules"][name] = True
            state["counts"]["load"] += 1
            _create_channels(state, sysfs)
            return 0, f"Loaded {name}\n"
        if verb == "unload":
            if not loaded:
                return 0, f"Unable to unload resource {name}\nCommand '{command}' failed.\n"
            state["modules"][name] = False
            state["counts"]["unload"] += 1
            state["channels"] = []
            return 0, f"Unloaded {name}\n"
        if not loaded:
            return 0, f"The module '{name}' was not properly initialized.  Before reloading the module, you must run \"module load {name}\" and fix whatever is preventing the module from being initialized.\n"
        state["counts"]["reload"] += 1
        _create_channels(state, sysfs)
        return 0, f"Module '{name}' reloaded successfully.\n"
    if words[:2] == ["dahdi", "show"] and loaded and words[2:] == ["status"]:
        return 0, show_status(sysfs)
    if words[:2] == ["dahdi", "show"] and loaded and words[2:] == ["channels"]:
        return 0, show_channels(state)
    if words[:2] == ["channel", "originate"] and len(words) >= 5:
        return 0, ""
    return 0, f"No such command '{command}' (type 'core show help {command}' for other possible commands)\n"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    state_file = sysfs = None
    while args[:1] and args[0] in ("--state", "--sysfs") and len(args) >= 2:
        if args[0] == "--state":
            state_file = args[1]
        else:
            sysfs = args[1]
        args = args[2:]
    if not state_file or not sysfs or len(args) != 2 or args[0] != "-rx":
        print("asterisk stand-in: usage: asterisk -rx COMMAND (with --state FILE --sysfs ROOT from its wrapper)", file=sys.stderr)
        return 1
    with updated(state_file) as state:
        status, out = execute(args[1], state, sysfs)
    (sys.stderr if status else sys.stdout).write(out)
    return status


if __name__ == "__main__":
    sys.exit(main())
