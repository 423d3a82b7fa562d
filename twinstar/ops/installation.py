"""``make install`` / ``make uninstall``: the installed layout and its manifest.

One idea (install, record, uninstall the same layout), hence a little over 400 lines.

Layout (``PREFIX=/usr/local`` by default)::

    LIBDIR   = PREFIX/lib/twinstar      a virtual environment with twinstar and its
                                        dependencies, and hooks/ (atribank_hook, twinstar_hook)
    SBINDIR  = PREFIX/sbin              twinstar -> LIBDIR/bin/twinstar
    /etc/udev/rules.d/xpp_twinstar.rules RUN points at LIBDIR/hooks/atribank_hook
    /etc/systemd/system/twinstar*.service  ExecStart points at SBINDIR/twinstar
    /etc/twinstar/twinstar.yaml         the example, only when none exists (0600)
    /etc/dahdi/init.conf                XPP_HOTPLUG_DAHDI=no appended when dahdi-tools'
                                        astribank_hook would act too (:mod:`twinstar.ops.dahdihook`)
    /usr/lib/ocf/resource.d/twinstar/astribank  the OCF resource agent (OCFDIR), calling SBINDIR/twinstar

The hooks are written with the installation's interpreter on their ``#!``
line (its flags kept: ``atribank_hook`` runs ``-IS``, without ``site``) and
the directory the twinstar package is installed in as their ``PACKAGE_DIR``
(:func:`hook_text`; the environment's site-packages, or the package's
:data:`PACKAGE_SITE`).

The Debian package stages the same files (no environment, no manifest: dpkg
keeps the record) at Debian's paths, :data:`PACKAGE_LAYOUT`, below its build
directory: ``python3 -m twinstar.ops.installation package --destdir DIR``.

Every file and every directory the installation created is recorded, with
its SHA-256, in ``LIBDIR/install-manifest.json``, and so is the init.conf it
edited; uninstall removes exactly those and takes the edit out again (a
configuration file changed since is kept), and ``twinstar check`` compares
the installation with it (:mod:`twinstar.ops.installcheck`). Files an earlier
installation recorded that this one no longer installs (a renamed rule) are
removed when they are unchanged.
With ``DESTDIR`` everything goes below it and the paths inside the files are
the final ones. Only the standard library is used (and twinstar's
``fastpath.atomic`` and ``ops.dahdihook``, which use nothing else): this runs
before the virtual environment exists.
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import hashlib
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from twinstar.fastpath.atomic import replace_file, write_json
from twinstar.ops import dahdihook

MANIFEST = "install-manifest.json"

KIND_VENV = "venv"
KIND_HOOK = "hook"
KIND_PROGRAM = "program"
KIND_UDEV = "udev-rule"
KIND_UNIT = "unit"
KIND_CONFIG = "config"
KIND_OCF = "ocf-agent"

#: Where Pacemaker looks for the agents of provider "twinstar".
OCFDIR = "/usr/lib/ocf/resource.d/twinstar"


class InstallError(Exception):
    """Installation cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Layout:
    """Final paths (without DESTDIR) and the DESTDIR they are written below."""

    destdir: str
    libdir: str
    sbindir: str
    udevrulesdir: str
    unitdir: str
    sysconfdir: str
    ocfdir: str = OCFDIR

    @property
    def hookdir(self) -> str:
        return os.path.join(self.libdir, "hooks")

    @property
    def config_path(self) -> str:
        return os.path.join(self.sysconfdir, "twinstar", "twinstar.yaml")

    @property
    def manifest_path(self) -> str:
        return os.path.join(self.libdir, MANIFEST)

    def staged(self, path: str) -> str:
        """Where a final path is written: below DESTDIR."""
        return self.destdir.rstrip("/") + path if self.destdir else path

    def substitutions(self) -> dict[str, str]:
        """The placeholders in udev/, systemd/ and ocf/ and the installed paths that replace them."""
        return {"@LIBDIR@": self.libdir, "@HOOKDIR@": self.hookdir, "@SBINDIR@": self.sbindir}


#: Where the Debian package installs the Python package (pybuild's choice for Debian's python3).
PACKAGE_SITE = "/usr/lib/python3/dist-packages"
#: Where the Debian package puts the files (``debian/rules`` stages them with ``package``).
PACKAGE_LAYOUT = Layout(
    destdir="",
    libdir="/usr/lib/twinstar",
    sbindir="/usr/sbin",
    udevrulesdir="/usr/lib/udev/rules.d",
    unitdir="/usr/lib/systemd/system",
    sysconfdir="/etc",
)


@dataclass
class Manifest:
    version: str
    layout: dict[str, str]
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # final path -> {kind, sha256}
    dirs: list[str] = field(default_factory=list)  # directories created, parents first
    edits: list[str] = field(default_factory=list)  # init.conf files that got dahdihook.BLOCK

    def to_json(self) -> dict[str, Any]:
        return {
            "format": 1, "version": self.version, "layout": self.layout, "files": self.files, "dirs": self.dirs,
            "edits": self.edits,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        return cls(
            version=str(data.get("version", "")), layout=dict(data.get("layout", {})), files=dict(data.get("files", {})),
            dirs=list(data.get("dirs", [])), edits=list(data.get("edits", [])),
        )


def sha256(path: str) -> str:
    h = hashlib.sha256()
    if os.path.islink(path):
        h.update(b"symlink:" + os.readlink(path).encode())
        return h.hexdigest()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def substitute(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def shebang_for(first_line: bytes, python: str) -> bytes:
    """The hook's first line with its interpreter replaced by ``python`` (flags kept)."""
    if not first_line.startswith(b"#!"):
        raise InstallError(f"hook does not start with #!: {first_line[:40]!r}")
    words = first_line[2:].split()
    if words and words[0].endswith(b"/env"):
        words = words[1:]  # "#!/usr/bin/env python3 ..." -> "python3 ..."
    return b" ".join([b"#!" + python.encode(), *words[1:]]).rstrip() + b"\n"


#: The line of a hook that names twinstar's directory (it runs without ``site``: hooks/atribank_hook).
PACKAGE_DIR_LINE = b"PACKAGE_DIR = "


def hook_text(source: bytes, python: str, package_dir: str) -> bytes:
    """A hook as installed: ``python`` on its ``#!`` line (flags kept), ``PACKAGE_DIR`` the installed package's directory."""
    first, _, rest = source.partition(b"\n")
    lines = rest.split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(PACKAGE_DIR_LINE):
            lines[i] = PACKAGE_DIR_LINE + repr(package_dir).encode()
    return shebang_for(first, python) + b"\n".join(lines)


# --- install ----------------------------------------------------------------------------


class Installer:
    def __init__(
        self, layout: Layout, source: str, *, python: str, pip_opts: list[str], system_site_packages: bool,
        hook_python: str | None = None, package_dir: str | None = None,
    ) -> None:
        self.layout = layout
        #: The hooks' interpreter: the environment's, or (a package) the system's.
        self.hook_python = hook_python or os.path.join(layout.libdir, "bin", "python3")
        #: Where the twinstar package is installed (the environment's site-packages, found once it exists; a package's).
        self.package_dir = package_dir
        self.source = os.path.abspath(source)
        self.python = python
        self.pip_opts = pip_opts
        self.system_site_packages = system_site_packages
        self.manifest = Manifest(version="", layout=_layout_json(layout))

    def say(self, message: str) -> None:
        print(f"install: {message}", flush=True)

    def makedirs(self, final: str) -> None:
        """Create a directory (final path) and record every level that did not exist."""
        missing: list[str] = []
        path = final
        while path not in ("/", "") and not os.path.lexists(self.layout.staged(path)):
            missing.append(path)
            path = os.path.dirname(path)
        for p in reversed(missing):
            os.mkdir(self.layout.staged(p), 0o755)
            self.manifest.dirs.append(p)

    def record(self, final: str, kind: str) -> None:
        self.manifest.files[final] = {"kind": kind, "sha256": sha256(self.layout.staged(final))}

    def write(self, final: str, data: bytes, *, mode: int, kind: str) -> None:
        self.makedirs(os.path.dirname(final))
        replace_file(self.layout.staged(final), data, mode=mode)
        self.record(final, kind)

    def run(self, argv: list[str]) -> None:
        self.say(shlex.join(argv))
        result = subprocess.run(argv, check=False)
        if result.returncode != 0:
            raise InstallError(f"{shlex.join(argv)} exited with status {result.returncode}")

    def install(self) -> Manifest:
        lay = self.layout
        if lay.destdir and not os.path.isdir(lay.destdir):
            # DESTDIR is the staging root, not part of the installation: created, never recorded.
            os.makedirs(lay.destdir, 0o755)
            self.say(f"created DESTDIR {lay.destdir}")
        old = Manifest(version="", layout={})
        if os.path.lexists(lay.staged(lay.manifest_path)):
            # Re-installing over an earlier installation: keep its record of what it created.
            with open(lay.staged(lay.manifest_path)) as f:
                old = Manifest.from_json(json.load(f))
            self.manifest.dirs = old.dirs
            self.manifest.files = {p: e for p, e in old.files.items() if e.get("kind") == KIND_CONFIG}
            self.manifest.edits = old.edits
        self.install_venv()
        self.install_program()
        self.install_files()
        self.remove_stale(old)
        self.turn_off_original_hook()
        self.record_venv()
        self.write_manifest()
        return self.manifest

    def install_files(self) -> None:
        """Everything but the Python package and the program: hooks, rule, units, OCF agent, example (a package ships these too)."""
        self.install_hooks()
        self.install_templates("udev", ".rules", self.layout.udevrulesdir, KIND_UDEV)
        self.install_templates("systemd", ".service", self.layout.unitdir, KIND_UNIT)
        self.install_templates("ocf", "", self.layout.ocfdir, KIND_OCF, mode=0o755)
        self.install_config()

    def remove_stale(self, old: Manifest) -> None:
        """Remove what an earlier installation laid out and this one does not (a renamed rule), if unchanged."""
        for final, entry in sorted(old.files.items()):
            if entry.get("kind") not in (KIND_UDEV, KIND_UNIT, KIND_HOOK, KIND_OCF) or final in self.manifest.files:
                continue
            staged = self.layout.staged(final)
            if not os.path.lexists(staged):
                continue
            if sha256(staged) != entry.get("sha256"):
                self.say(f"kept {staged}: installed by an earlier version but changed since; remove it yourself")
                continue
            os.unlink(staged)
            self.say(f"removed {staged}: installed by an earlier version, no longer part of twinstar")

    def turn_off_original_hook(self) -> None:
        """Make twinstar's the one hook that acts: turn dahdi-tools' astribank_hook off where it would act too."""
        lay = self.layout
        conf = dahdihook.init_conf(lay.sysconfdir)
        hooks = dahdihook.assess(dahdihook.rules_dirs(lay.udevrulesdir), conf, lay.staged)
        if not hooks.original_acts:
            if hooks.original_rules:
                self.say(f"{hooks.original_state()}: left as it is")
            return
        if not stat.S_ISREG(os.lstat(lay.staged(conf)).st_mode):
            self.say(
                f"{hooks.original_state()}, as twinstar's atribank_hook would; {lay.staged(conf)} is not a regular "
                f"file: left as it is; set {dahdihook.SETTING}=no in it yourself (twinstar check reports it)"
            )
            return
        dahdihook.turn_off(lay.staged(conf))
        if conf not in self.manifest.edits:
            self.manifest.edits.append(conf)
        self.say(
            f"{hooks.original_state()}, as twinstar's atribank_hook would: appended {dahdihook.SETTING}=no "
            f"to {lay.staged(conf)} (make uninstall takes it out again)"
        )

    def install_venv(self) -> None:
        lay = self.layout
        self.makedirs(os.path.dirname(lay.libdir))
        created = not os.path.lexists(lay.staged(lay.libdir))
        argv = [self.python, "-m", "venv"]
        if self.system_site_packages:
            argv.append("--system-site-packages")
        self.run([*argv, lay.staged(lay.libdir)])
        if created:
            self.manifest.dirs.append(lay.libdir)
        pip = os.path.join(lay.staged(lay.libdir), "bin", "python")
        self.run([pip, "-m", "pip", "install", "--quiet", "--no-compile", "--upgrade", *self.pip_opts, self.source])
        self.relocate_venv()
        probe = subprocess.run(
            [pip, "-c", "import importlib.metadata as m, os, twinstar; print(m.version('twinstar'));"
             " print(os.path.dirname(os.path.dirname(os.path.abspath(twinstar.__file__))))"],
            capture_output=True,
            text=True,
            check=False,
            cwd="/",
        )
        if probe.returncode != 0:
            raise InstallError(f"twinstar is not importable in {lay.staged(lay.libdir)}: {probe.stderr.strip()}")
        self.manifest.version, staged_dir = probe.stdout.strip().split("\n")
        destdir = lay.destdir.rstrip("/")
        self.package_dir = staged_dir[len(destdir):] if destdir and staged_dir.startswith(destdir + "/") else staged_dir
        self.manifest.layout["package_dir"] = self.package_dir

    def relocate_venv(self) -> None:
        """With DESTDIR, make the environment's scripts name its final location."""
        lay = self.layout
        staged, final = lay.staged(lay.libdir), lay.libdir
        if staged != final:
            for name in ("bin", ""):
                top = os.path.join(staged, name)
                for entry in os.listdir(top):
                    path = os.path.join(top, entry)
                    if os.path.islink(path) or not os.path.isfile(path):
                        continue
                    if name == "" and entry != "pyvenv.cfg":
                        continue
                    with open(path, "rb") as f:
                        data = f.read()
                    if staged.encode() in data:
                        with open(path, "wb") as f:
                            f.write(data.replace(staged.encode(), final.encode()))
        # Byte-compile with the final paths in tracebacks.
        compileall.compile_dir(
            os.path.join(staged, "lib"),
            quiet=1,
            stripdir=lay.destdir.rstrip("/") or None,
            prependdir="/" if lay.destdir.rstrip("/") else None,
        )

    def install_hooks(self) -> None:
        lay = self.layout
        python = self.hook_python
        hooks = os.path.join(self.source, "hooks")
        for name in sorted(os.listdir(hooks)):
            path = os.path.join(hooks, name)
            if not os.path.isfile(path) or name.startswith("."):
                continue
            with open(path, "rb") as f:
                source = f.read()
            if self.package_dir is None:
                raise InstallError("the hooks need the directory the twinstar package is installed in")
            self.write(os.path.join(lay.hookdir, name), hook_text(source, python, self.package_dir), mode=0o755, kind=KIND_HOOK)

    def install_program(self) -> None:
        lay = self.layout
        final = os.path.join(lay.sbindir, "twinstar")
        self.makedirs(lay.sbindir)
        staged = lay.staged(final)
        if os.path.lexists(staged):
            os.unlink(staged)
        os.symlink(os.path.relpath(os.path.join(lay.libdir, "bin", "twinstar"), lay.sbindir), staged)
        self.record(final, KIND_PROGRAM)

    def install_templates(self, subdir: str, suffix: str, target: str, kind: str, *, mode: int = 0o644) -> None:
        directory = os.path.join(self.source, subdir)
        if not os.path.isdir(directory):
            self.say(f"no {subdir}/ directory: nothing to install there")
            return
        values = self.layout.substitutions()
        for name in sorted(os.listdir(directory)):
            if not name.endswith(suffix) or name.startswith("."):
                continue
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                text = substitute(f.read(), values)
            self.write(os.path.join(target, name), text.encode(), mode=mode, kind=kind)

    def install_config(self) -> None:
        lay = self.layout
        final = lay.config_path
        if os.path.lexists(lay.staged(final)):
            self.say(f"{lay.staged(final)} exists: left as it is")
            return
        with open(os.path.join(self.source, "examples", "twinstar.yaml"), "rb") as f:
            data = f.read()
        self.write(final, data, mode=0o600, kind=KIND_CONFIG)
        if os.geteuid() == 0:
            os.chown(lay.staged(final), 0, 0)
        self.say(f"{lay.staged(final)} installed from examples/twinstar.yaml: edit it, then run twinstar check")

    def record_venv(self) -> None:
        lay = self.layout
        staged_root = lay.staged(lay.libdir)
        prefix = len(lay.destdir.rstrip("/")) if lay.destdir else 0
        for top, dirs, files in os.walk(staged_root):
            dirs.sort()
            final_top = top[prefix:] if prefix else top
            if final_top == lay.hookdir:
                continue
            for d in list(dirs):
                p = os.path.join(final_top, d)
                if os.path.islink(os.path.join(top, d)):  # lib64 -> lib: a file to us
                    dirs.remove(d)
                    self.manifest.files[p] = {"kind": KIND_VENV, "sha256": ""}
                elif p not in self.manifest.dirs and p != lay.hookdir:
                    self.manifest.dirs.append(p)
            for name in files:
                p = os.path.join(final_top, name)
                if p == lay.manifest_path or p in self.manifest.files:
                    continue
                self.manifest.files[p] = {"kind": KIND_VENV, "sha256": ""}

    def write_manifest(self) -> None:
        lay = self.layout
        write_json(lay.staged(lay.manifest_path), self.manifest.to_json())
        self.say(f"recorded {len(self.manifest.files)} files in {lay.staged(lay.manifest_path)}")


# --- uninstall --------------------------------------------------------------------------


def uninstall(destdir: str, libdir: str, *, out: Any = None) -> list[str]:
    """Remove what the manifest in ``libdir`` records; the paths kept (below ``destdir``, with why)."""
    out = out or sys.stdout
    lay = Layout(destdir, libdir, "", "", "", "")
    manifest_path = lay.staged(lay.manifest_path)
    try:
        with open(manifest_path) as f:
            manifest = Manifest.from_json(json.load(f))
    except FileNotFoundError:
        raise InstallError(f"{manifest_path} not found: nothing installed there (check PREFIX and DESTDIR)") from None
    kept: list[str] = []
    for final in manifest.edits:
        if dahdihook.restore(lay.staged(final)):
            print(f"uninstall: took {dahdihook.SETTING}=no out of {lay.staged(final)} again", file=out)
    for final, entry in sorted(manifest.files.items(), reverse=True):
        staged = lay.staged(final)
        if not os.path.lexists(staged):
            continue
        if entry.get("kind") == KIND_CONFIG and sha256(staged) != entry.get("sha256"):
            kept.append(f"{staged} (changed since installation)")
            continue
        os.unlink(staged)
    for final in [lay.manifest_path, *sorted(manifest.dirs, key=len, reverse=True)]:
        staged = lay.staged(final)
        if final == lay.manifest_path:
            if os.path.lexists(staged):
                os.unlink(staged)
            continue
        if final == libdir and os.path.isdir(staged):
            _remove_caches(staged)
        try:
            os.rmdir(staged)
        except FileNotFoundError:
            pass
        except OSError:
            kept.append(f"{staged}/ (not empty)")
    for line in kept:
        print(f"uninstall: kept {line}", file=out)
    return kept


def _remove_caches(root: str) -> None:
    """Byte-code caches written after installation are ours too."""
    for top, dirs, _files in os.walk(root, topdown=False):
        for d in dirs:
            if d == "__pycache__":
                shutil.rmtree(os.path.join(top, d), ignore_errors=True)
    for top, dirs, _files in os.walk(root, topdown=False):
        for d in dirs:
            try:
                os.rmdir(os.path.join(top, d))
            except OSError:
                pass


def _layout_json(layout: Layout) -> dict[str, str]:
    return {
        "libdir": layout.libdir,
        "sbindir": layout.sbindir,
        "udevrulesdir": layout.udevrulesdir,
        "unitdir": layout.unitdir,
        "sysconfdir": layout.sysconfdir,
        "ocfdir": layout.ocfdir,
    }


# --- command line (used by the Makefile) ------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twinstar.ops.installation", description="twinstar make install/uninstall")
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("install")
    uninst = sub.add_parser("uninstall")
    package = sub.add_parser("package", help="stage the hooks, rule, units and example for a package at PACKAGE_LAYOUT")
    package.add_argument("--destdir", required=True)
    package.add_argument("--source", default=".")
    package.add_argument("--python", default="/usr/bin/python3", help="the hooks' interpreter")
    for p in (inst, uninst):
        p.add_argument("--destdir", default="")
        p.add_argument("--libdir", required=True)
    inst.add_argument("--source", default=".")
    inst.add_argument("--sbindir", required=True)
    inst.add_argument("--udevrulesdir", required=True)
    inst.add_argument("--unitdir", required=True)
    inst.add_argument("--sysconfdir", required=True)
    inst.add_argument("--ocfdir", default=OCFDIR)
    inst.add_argument("--python", default=sys.executable)
    inst.add_argument("--pip-opts", default="", help="extra pip install options, e.g. '--no-index --find-links DIR'")
    inst.add_argument("--system-site-packages", choices=("yes", "no"), default="no")
    args = parser.parse_args(argv)
    for name in ("libdir", "sbindir", "udevrulesdir", "unitdir", "sysconfdir", "ocfdir", "python"):
        value = getattr(args, name, None)
        if value is not None and not os.path.isabs(value):
            print(f"{parser.prog}: error: {name.upper()} must be an absolute path, found {value!r}", file=sys.stderr)
            return 2
    if args.destdir and not os.path.isabs(args.destdir):
        args.destdir = os.path.abspath(args.destdir)
    try:
        if args.command == "package":
            layout = dataclasses.replace(PACKAGE_LAYOUT, destdir=args.destdir)
            Installer(layout, args.source, python=args.python, pip_opts=[], system_site_packages=True,
                      hook_python=args.python, package_dir=PACKAGE_SITE).install_files()
            return 0
        if args.command == "uninstall":
            uninstall(args.destdir, os.path.normpath(args.libdir))
            return 0
        layout = Layout(
            destdir=args.destdir,
            libdir=os.path.normpath(args.libdir),
            sbindir=os.path.normpath(args.sbindir),
            udevrulesdir=os.path.normpath(args.udevrulesdir),
            unitdir=os.path.normpath(args.unitdir),
            sysconfdir=os.path.normpath(args.sysconfdir),
            ocfdir=os.path.normpath(args.ocfdir),
        )
        Installer(
            layout,
            args.source,
            python=args.python,
            pip_opts=shlex.split(args.pip_opts),
            system_site_packages=args.system_site_packages == "yes",
        ).install()
    except (InstallError, OSError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
