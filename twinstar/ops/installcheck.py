"""The installation check of ``twinstar check``: the installed files against the manifest and the source tree.

It reports recorded files that are missing, changed, or from another version,
files this twinstar needs that the installation lacks (it predates them), and,
when twinstar runs from a source tree, installed files that differ from what
that tree would install.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable

from twinstar import settings as tsettings
from twinstar.ops import dahdihook
from twinstar.ops.findings import Finding, Level
from twinstar.ops.installation import (
    KIND_HOOK,
    KIND_OCF,
    KIND_PROGRAM,
    KIND_UDEV,
    KIND_UNIT,
    MANIFEST,
    PACKAGE_LAYOUT,
    PACKAGE_SITE,
    Layout,
    Manifest,
    hook_text,
    sha256,
    substitute,
)

#: Where an installation is looked for when this twinstar does not run from one.
DEFAULT_LIBDIRS = ("/usr/local/lib/twinstar", "/usr/lib/twinstar")

#: Installed files this twinstar runs or hands off to, by kind, layout directory and name.
EXPECTED = (
    (KIND_UDEV, "udevrulesdir", "xpp_twinstar.rules"),
    (KIND_HOOK, "hookdir", "atribank_hook"),
    (KIND_HOOK, "hookdir", "twinstar_hook"),
    (KIND_UNIT, "unitdir", "twinstar.service"),
    (KIND_UNIT, "unitdir", tsettings.TAKEOVER_UNIT),
    (KIND_UNIT, "unitdir", tsettings.RELEASE_UNIT),
    (KIND_UNIT, "unitdir", tsettings.PREPARED_UNIT),
    (KIND_UNIT, "unitdir", tsettings.POLICY_UNIT),
    (KIND_UNIT, "unitdir", tsettings.REARM_UNIT.format("")),
    (KIND_OCF, "ocfdir", "astribank"),
)
#: Where each kind's source lives in a source tree, and the suffix installed from there.
SOURCES = {
    KIND_UDEV: ("udev", ".rules"), KIND_UNIT: ("systemd", ".service"), KIND_HOOK: ("hooks", ""), KIND_OCF: ("ocf", ""),
}


def find_manifest(candidates: Iterable[str] | None = None) -> str | None:
    """The manifest of the installation this twinstar runs from, or of a default one."""
    dirs = [sys.prefix] if sys.prefix != sys.base_prefix else []
    dirs += list(candidates if candidates is not None else DEFAULT_LIBDIRS)
    for d in dirs:
        path = os.path.join(d, MANIFEST)
        if os.path.isfile(path):
            return path
    return None


def source_tree() -> str | None:
    """The source tree this twinstar runs from (a checkout with udev/, systemd/, hooks/), if any."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return root if all(os.path.isdir(os.path.join(root, d)) for d, _ in SOURCES.values()) else None


def rendered(source: str, kind: str, name: str, layout: dict[str, str]) -> bytes | None:
    """What ``make install`` from ``source`` writes for the installed file ``name``; None if not there."""
    subdir, suffix = SOURCES[kind]
    path = os.path.join(source, subdir, name)
    if not name.endswith(suffix) or not os.path.isfile(path):
        return None
    lay = _recorded_layout(layout)
    with open(path, "rb") as f:
        if kind == KIND_HOOK:
            return hook_text(f.read(), os.path.join(lay.libdir, "bin", "python3"), layout.get("package_dir", ""))
        text = f.read().decode("utf-8")
    return substitute(text, lay.substitutions()).encode()


def _recorded_layout(layout: dict[str, str]) -> Layout:
    """The final paths a manifest's ``layout`` records (a missing one is empty)."""
    return Layout("", *(layout.get(key, "") for key in ("libdir", "sbindir", "udevrulesdir", "unitdir", "sysconfdir", "ocfdir")))


def _expected_paths(lay: Layout) -> list[tuple[str, str]]:
    return [(kind, os.path.join(getattr(lay, key), name)) for kind, key, name in EXPECTED if getattr(lay, key)]


def check_package(module: str = __file__, layout: Layout = PACKAGE_LAYOUT) -> list[Finding] | None:
    """The Debian package's rule, hooks and units when this twinstar runs from it (dpkg keeps the record); else None."""
    if not os.path.abspath(module).startswith(PACKAGE_SITE + "/"):
        return None
    findings: list[Finding] = []
    for kind, path in _expected_paths(layout):
        subject = f"{kind} {path}"
        if not os.path.exists(path):
            findings.append(Finding(Level.ERROR, subject, "missing: apt-get install --reinstall twinstar"))
        elif kind in (KIND_HOOK, KIND_OCF) and not os.access(path, os.X_OK):
            findings.append(Finding(Level.ERROR, subject, "not executable: apt-get install --reinstall twinstar"))
        else:
            findings.append(Finding(Level.OK, subject, "installed (Debian package)"))
    return findings


def check_installed(manifest_path: str | None, *, version: str | None, source: str | None = None) -> list[Finding]:
    """Installed udev rule, hooks, program and units: present, unchanged, this version, complete.

    ``source``: a source tree to compare the installed files with (by default
    the one this twinstar runs from, if it runs from one).
    """
    if manifest_path is None:
        package = check_package()
        if package is not None:
            return package
        return [Finding(Level.WARNING, "installation", "no installation found (udev rule, hooks, units): run make install")]
    try:
        with open(manifest_path) as f:
            manifest = Manifest.from_json(json.load(f))
    except (OSError, ValueError) as exc:
        return [Finding(Level.ERROR, "installation", f"cannot read {manifest_path}: {exc}")]
    findings: list[Finding] = []
    if version and manifest.version and manifest.version != version:
        findings.append(
            Finding(Level.WARNING, "installation", f"installed files are from twinstar {manifest.version}, this is {version}: run make install")
        )
    kinds = (KIND_UDEV, KIND_HOOK, KIND_UNIT, KIND_PROGRAM, KIND_OCF)
    source = source or source_tree()
    for needed, path in _expected_paths(_recorded_layout(manifest.layout)):
        if path not in manifest.files:
            findings.append(Finding(Level.ERROR, f"{needed} {path}", "not installed (the installation predates this twinstar): run make install"))
    for path, entry in sorted(manifest.files.items()):
        kind = entry.get("kind")
        if kind not in kinds:
            continue
        subject = f"{kind} {path}"
        if not os.path.lexists(path):
            findings.append(Finding(Level.ERROR, subject, "missing: run make install"))
        elif kind == KIND_PROGRAM and not os.path.exists(path):
            findings.append(Finding(Level.ERROR, subject, f"points at {os.readlink(path)}, which does not exist: run make install"))
        elif sha256(path) != entry.get("sha256"):
            findings.append(Finding(Level.WARNING, subject, "changed since make install (out of date or edited): run make install"))
        elif kind in (KIND_HOOK, KIND_OCF) and not os.access(path, os.X_OK):
            findings.append(Finding(Level.ERROR, subject, "not executable: run make install"))
        elif source and kind in SOURCES and _differs(path, rendered(source, str(kind), os.path.basename(path), manifest.layout)):
            findings.append(Finding(Level.WARNING, subject, f"out of date: differs from what {source} installs: run make install"))
        else:
            findings.append(Finding(Level.OK, subject, "installed"))
    for kind in kinds:
        if not any(e.get("kind") == kind for e in manifest.files.values()):
            findings.append(Finding(Level.ERROR, "installation", f"no {kind} was installed: run make install from a complete source tree"))
    return findings


def check_hooks(manifest_path: str | None) -> list[Finding]:
    """Exactly one hook acts on xbus events: twinstar's, not dahdi-tools' astribank_hook too (nor ours twice).

    The rules directories and init.conf are those of the installation the
    manifest records (the system's without one).
    """
    layout: dict[str, str] = {}
    if manifest_path is not None:
        try:
            with open(manifest_path) as f:
                layout = Manifest.from_json(json.load(f)).layout
        except (OSError, ValueError):
            layout = {}  # check_installed reports the unreadable manifest
    lay = _recorded_layout(layout)
    hooks = dahdihook.assess(
        dahdihook.rules_dirs(lay.udevrulesdir or dahdihook.RULES_DIRS[0]), dahdihook.init_conf(lay.sysconfdir or "/etc")
    )
    subject = "xbus hooks"
    ours = ", ".join(hooks.twinstar_rules)
    if hooks.original_acts and hooks.twinstar_rules:
        return [Finding(
            Level.ERROR, subject,
            f"two hooks act on every xbus event: {hooks.original_state()}, and twinstar's atribank_hook ({ours}): "
            f"run make install, or set {dahdihook.SETTING}=no in {hooks.init_conf}",
        )]
    if len(hooks.twinstar_rules) > 1:
        return [Finding(Level.ERROR, subject, f"twinstar's atribank_hook runs {len(hooks.twinstar_rules)} times per xbus event ({ours}): remove all but one rule")]
    if hooks.original_acts:
        return [Finding(
            Level.ERROR, subject,
            f"{hooks.original_state()}, beside twinstar (its daemon acts on the same events): "
            f"set {dahdihook.SETTING}=no in {hooks.init_conf}, or run make install",
        )]
    if not hooks.twinstar_rules:
        return [Finding(
            Level.WARNING, subject,
            f"no udev rule runs twinstar's atribank_hook (run make install, or run the daemon); {hooks.original_state()}",
        )]
    return [Finding(Level.OK, subject, f"only twinstar's atribank_hook acts ({ours}); {hooks.original_state()}")]


def _differs(path: str, expected: bytes | None) -> bool:
    """The installed file is not what the source tree would install (False when the tree has no such file)."""
    if expected is None:
        return False
    with open(path, "rb") as f:
        return f.read() != expected
