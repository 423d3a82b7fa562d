"""Configuration and data on the replicated partition, reached through symlinks.

``replica add`` moves a path onto the replica and leaves a symlink
(:mod:`~twinstar.replica.move`); ``replica list``, ``check`` and ``link``
keep both nodes' links in step with the managed list kept on the replica
(:mod:`~twinstar.replica.links`, :mod:`~twinstar.replica.manifest`).
"""
