"""Running twinstar as an unprivileged user from a root-run test.

The checkout may sit where only root can read it (``/root/tw``, mode 700), so
the unprivileged user cannot run ``.venv/bin/twinstar`` or even the venv's
interpreter. :func:`readable_install` copies what the program needs (the
twinstar package and the files of its runtime dependencies, as installed in
the test's environment) to a world-readable directory under ``/tmp``; the
user runs the base interpreter the venv was made from (same version, so
compiled extensions match) with ``PYTHONPATH`` pointing at the copy.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata

from tests.conftest import REPO

NOBODY = 65534


def _runtime_requirements() -> list[str]:
    """The distribution names twinstar needs at run time (no extras)."""
    names = []
    for req in metadata.requires("twinstar") or []:
        if "extra ==" in req:
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req)
        if match:
            names.append(match.group(0))
    return names


def _copy_distribution(name: str, dest: str) -> None:
    """The files an installed distribution put into site-packages (not its scripts)."""
    dist = metadata.distribution(name)
    for file in dist.files or []:
        if file.parts[0] == ".." or "__pycache__" in file.parts:
            continue
        source = str(dist.locate_file(file))
        if not os.path.isfile(source):
            continue
        target = os.path.join(dest, *file.parts)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target)


def base_python() -> str:
    """The interpreter the test's venv was made from, outside the checkout."""
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for directory in (os.path.join(sys.base_prefix, "bin"), "/usr/bin"):
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    raise RuntimeError(f"no {name} under {sys.base_prefix}/bin or /usr/bin")


def _open_to_all(root: str) -> None:
    for directory, _dirs, files in os.walk(root):
        os.chmod(directory, 0o755)
        for f in files:
            path = os.path.join(directory, f)
            os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) | 0o444)


@contextmanager
def readable_install() -> Iterator[dict[str, str]]:
    """A world-readable copy of twinstar and its dependencies; yields the environment that runs it.

    The directory is made under /tmp, not under the test's temporary
    directory (root's pytest directory is mode 700), and removed afterwards.
    """
    root = tempfile.mkdtemp(prefix="twinstar-unprivileged-", dir="/tmp")
    try:
        shutil.copytree(REPO / "twinstar", os.path.join(root, "twinstar"), ignore=shutil.ignore_patterns("__pycache__"))
        for name in _runtime_requirements():
            _copy_distribution(name, root)
        _open_to_all(root)
        yield {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "PYTHONPATH": root, "HOME": "/", "PYTHONDONTWRITEBYTECODE": "1"}
    finally:
        shutil.rmtree(root)


def as_nobody(argv: Sequence[str]) -> list[str]:
    """``argv`` run as the user and group nobody, without supplementary groups."""
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
