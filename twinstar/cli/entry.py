"""The ``twinstar`` command's entry: ``twinstar --version`` answered before the command line library loads.

Loading click costs a start of ``twinstar`` about as much again as the
interpreter's own start; a version query needs none of it. Every other
command line goes to :data:`twinstar.cli.app.main` unchanged (the output of
``--version`` is click's: ``PROG, version X``).
"""

from __future__ import annotations

import os
import sys


def main(prog_name: str | None = None) -> None:
    """Run the ``twinstar`` command line (``sys.argv``); exits."""
    if sys.argv[1:] == ["--version"]:
        import twinstar

        prog = prog_name or os.path.basename(sys.argv[0])
        sys.stdout.write(f"{prog}, version {twinstar.__version__}\n")
        sys.exit(0)
    from twinstar.cli.app import main as group

    group(prog_name=prog_name)
