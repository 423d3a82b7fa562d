"""Stand-ins used only by tests (see each module's docstring for the boundary it replaces)."""

from __future__ import annotations

import sys
from pathlib import Path


def write_python_wrapper(path: Path, script: Path, *args: str) -> Path:
    """An executable at ``path`` running ``script`` with ``args`` baked in before its own arguments."""
    path.write_text(
        f"#!{sys.executable}\n"
        "import runpy, sys\n"
        f"sys.argv = [{str(script)!r}, *{list(args)!r}, *sys.argv[1:]]\n"
        f"runpy.run_path({str(script)!r}, run_name='__main__')\n"
    )
    path.chmod(0o755)
    return path
