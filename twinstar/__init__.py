"""twinstar: failover for two-server Asterisk PBX clusters on Astribank TwinStar units."""
