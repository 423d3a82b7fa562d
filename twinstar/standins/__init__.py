"""Stand-ins for parts that cannot run on a build machine (design.md, the stand-in table).

Each replaces exactly one external program at its command-line boundary and
keeps its state in a file, so two simulated servers can share it.
"""
