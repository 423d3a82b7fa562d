"""twinstar: failover for two-server Asterisk PBX clusters on Astribank TwinStar units."""

#: The one copy of the version (pyproject.toml reads it from here).
__version__ = "0.1.0"
