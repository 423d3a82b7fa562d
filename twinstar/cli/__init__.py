"""Entry points: the twinstar command (:mod:`twinstar.cli.app`) and the hooks (see docs/architecture.md).

Imports nothing: the udev hook's entry lives here too and must stay cheap.
"""
