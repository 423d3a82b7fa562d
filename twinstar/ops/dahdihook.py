"""dahdi-tools' hotplug hook beside twinstar's: which of them acts on an xbus event, and turning the original off.

dahdi-tools installs ``xpp.rules``, whose rule runs
``$XPP_INIT_DIR/astribank_hook`` for every event of an ``xbus*`` device. That
hook sources ``/etc/dahdi/init.conf`` and exits at once unless
``XPP_HOTPLUG_DAHDI=yes``; so it acts when a rules file runs it and the last
assignment in init.conf is ``yes``. twinstar's rule runs ``atribank_hook``.
udev reads the rules files of all its directories as one list ordered by file
name, a file in an earlier directory hiding one of the same name in a later
one, and runs every RUN it collected.

``make install`` turns the original off the documented way, by appending
:data:`BLOCK` (``XPP_HOTPLUG_DAHDI=no``) to init.conf, and ``make uninstall``
takes exactly those lines out again. init.conf is a shell file: it is never
run, only its plain ``XPP_HOTPLUG_DAHDI=`` lines are read (the last one wins,
as when the hook sources it). Only the standard library and
:mod:`twinstar.fastpath.atomic` are used: ``make install`` runs this before
the virtual environment exists.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from twinstar.fastpath.atomic import replace_file

#: udev's rules directories, highest priority first (a name in /etc hides the same name below).
RULES_DIRS = ("/etc/udev/rules.d", "/run/udev/rules.d", "/usr/lib/udev/rules.d", "/lib/udev/rules.d")
ORIGINAL_HOOK = "astribank_hook"
TWINSTAR_HOOK = "atribank_hook"
SETTING = "XPP_HOTPLUG_DAHDI"
#: What ``make install`` appends to init.conf, and ``make uninstall`` removes.
BLOCK = (
    "# twinstar: dahdi-tools' astribank_hook is off; twinstar's udev rule takes the xbus events "
    "(make uninstall removes these two lines)\n"
    f"{SETTING}=no\n"
)

_ASSIGNMENT = re.compile(rf"^\s*(?:export\s+)?{SETTING}=(\S*)\s*(?:#.*)?$")


def init_conf(sysconfdir: str) -> str:
    """dahdi-tools' init.conf below ``sysconfdir`` (``/etc``)."""
    return os.path.join(sysconfdir, "dahdi", "init.conf")


def rules_dirs(udevrulesdir: str) -> list[str]:
    """The directories udev reads, the one twinstar installs into first."""
    return list(dict.fromkeys([udevrulesdir, *RULES_DIRS]))


def rules_files(dirs: Sequence[str], staged: Callable[[str], str] = str) -> list[str]:
    """The rules files udev reads from ``dirs`` (final paths), in its order: by name, earlier directories hiding later ones."""
    chosen: dict[str, str] = {}
    seen: set[str] = set()
    for d in dirs:
        real = os.path.realpath(staged(d))
        if real in seen:  # /lib/udev/rules.d is /usr/lib/udev/rules.d on a merged /usr
            continue
        seen.add(real)
        try:
            names = sorted(os.listdir(staged(d)))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            if name.endswith(".rules") and name not in chosen:
                chosen[name] = os.path.join(d, name)
    return [chosen[name] for name in sorted(chosen)]


def runs_hook(text: str, hook: str) -> bool:
    """A rule in ``text`` (a rules file) has a RUN of a program named ``hook``."""
    joined = re.sub(r"\\\n", " ", text)
    pattern = re.compile(rf"\bRUN\s*\+?=\s*\"[^\"]*(?:^|[/}}\s\"]){re.escape(hook)}(?:[\s\"]|$)")
    return any(pattern.search(line) for line in joined.splitlines() if not line.lstrip().startswith("#"))


def hotplug_setting(text: str) -> str | None:
    """The value of the last plain ``XPP_HOTPLUG_DAHDI=`` line (quotes removed), None without one."""
    value = None
    for line in text.splitlines():
        match = _ASSIGNMENT.match(line)
        if match:
            value = match.group(1).strip("'\"")
    return value


@dataclass(frozen=True)
class Hooks:
    """Which hooks the xbus events reach on a host."""

    init_conf: str
    setting: str | None
    original_rules: list[str] = field(default_factory=list)
    twinstar_rules: list[str] = field(default_factory=list)

    @property
    def original_acts(self) -> bool:
        return bool(self.original_rules) and self.setting == "yes"

    @property
    def acting(self) -> int:
        """How many hooks act on each xbus event."""
        return len(self.twinstar_rules) + (1 if self.original_acts else 0)

    def original_state(self) -> str:
        """dahdi-tools' hook in a few words."""
        if not self.original_rules:
            return f"dahdi-tools' {ORIGINAL_HOOK} is not run by any udev rule"
        where = ", ".join(self.original_rules)
        if self.original_acts:
            return f"dahdi-tools' {ORIGINAL_HOOK} ({where}) acts: {SETTING}=yes in {self.init_conf}"
        shown = "not set" if self.setting is None else f"{self.setting!r}"
        return f"dahdi-tools' {ORIGINAL_HOOK} ({where}) is off: {SETTING} is {shown} in {self.init_conf}"


def assess(dirs: Sequence[str], conf: str, staged: Callable[[str], str] = str) -> Hooks:
    """Read the rules files in ``dirs`` and init.conf ``conf`` (final paths, read at ``staged(path)``)."""
    original, ours = [], []
    for path in rules_files(dirs, staged):
        try:
            with open(staged(path), encoding="utf-8", errors="replace") as f:
                text = f.read(1 << 20)
        except OSError:
            continue
        if runs_hook(text, ORIGINAL_HOOK):
            original.append(path)
        if runs_hook(text, TWINSTAR_HOOK):
            ours.append(path)
    return Hooks(conf, _read_setting(staged(conf)), original, ours)


def _read_setting(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return hotplug_setting(f.read(1 << 20))
    except (FileNotFoundError, NotADirectoryError):
        return None


def turn_off(path: str) -> None:
    """Append :data:`BLOCK` to the init.conf at ``path`` (mode kept), so the original hook exits at once."""
    with open(path, "rb") as f:
        data = f.read()
    mode = os.stat(path).st_mode & 0o7777
    if data and not data.endswith(b"\n"):
        data += b"\n"
    replace_file(path, data + BLOCK.encode(), mode=mode)


def restore(path: str) -> bool:
    """Take :data:`BLOCK` out of the init.conf at ``path`` again; False when it is not there (any more)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return False
    block = BLOCK.encode()
    if block not in data:
        return False
    mode = os.stat(path).st_mode & 0o7777
    replace_file(path, data.replace(block, b"", 1), mode=mode)
    return True
