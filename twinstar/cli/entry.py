"""The ``twinstar`` command's entry: ``--version`` and ``status`` answered before the command line library loads.

Loading click costs a start of ``twinstar`` about as much again as the
interpreter's own start; a version query needs none of it, and ``status``
(:func:`twinstar.cli.status.run`) parses its plain command lines itself.
Every other command line goes to :data:`twinstar.cli.app.main` unchanged (the
output of ``--version`` is click's: ``PROG, version X``).
"""

from __future__ import annotations

import os
import sys


def main(prog_name: str | None = None) -> None:
    """Run the ``twinstar`` command line (``sys.argv``); exits."""
    args = sys.argv[1:]
    if args == ["--version"]:
        import twinstar

        prog = prog_name or os.path.basename(sys.argv[0])
        sys.stdout.write(f"{prog}, version {twinstar.__version__}\n")
        sys.exit(0)
    if "status" in args:
        from twinstar.cli.status import run

        run(args)  # exits, unless the command line is for click
    from twinstar.cli.app import main as group

    group(prog_name=prog_name)
