"""``python -m twinstar``: the same as the ``twinstar`` command."""

from twinstar.cli.entry import main

main(prog_name="twinstar")
