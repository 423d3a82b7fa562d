"""``python -m twinstar``: the same as the ``twinstar`` command."""

from twinstar.cli.app import main

main(prog_name="twinstar")
