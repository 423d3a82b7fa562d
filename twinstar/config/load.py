"""Load ``twinstar.yaml``: find it, read it safely, and parse it or take its compiled form.

The file is read and checked here; a compiled configuration of exactly this
content (:mod:`twinstar.config.compiled`) is used when there is one, else the
text is parsed (:mod:`twinstar.config.yamlread`, which imports PyYAML) and
the result compiled for the next load.
"""

from __future__ import annotations

import os

from twinstar.config import compiled
from twinstar.errors import ConfigError
from twinstar.fastpath import hooksettings, safefile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from twinstar.config.model import Config


def load(path: str, *, strict_modes: bool | None = None) -> Config:
    """Read, check and parse the configuration file at ``path``.

    It must be a regular file, not a symbolic link (``--config`` names the file
    itself), of at most :data:`~twinstar.fastpath.safefile.CONFIG_LIMIT` bytes. As root
    (``strict_modes``), it and every directory above it must be owned by root and
    not writable by group or others.
    """
    try:
        data = safefile.read_regular(path, safefile.CONFIG_LIMIT)
    except FileNotFoundError:
        raise ConfigError(
            "configuration file not found",
            path=path,
            hint="create it from examples/twinstar.yaml or pass --config PATH",
        ) from None
    except safefile.FileRefused as exc:
        raise ConfigError(f"configuration file {exc.reason}", path=path) from None
    if strict_modes is None:
        strict_modes = os.geteuid() == 0
    if strict_modes:
        why = safefile.replaceable(path)
        if why is not None:
            raise ConfigError(
                f"insecure configuration file: {why}",
                path=path,
                hint="make the file and its directories owned by root and not writable by group or others",
            )
    directory = hooksettings.cache_dir(os.environ)
    config = compiled.read(directory, path, data)
    if config is None:
        config = parse(data, path)
        compiled.write(directory, path, data, config)
    return config


def parse(data: bytes | str, path: str) -> Config:
    """Parse configuration text; ``path`` is only used in messages (:func:`twinstar.config.yamlread.parse`).

    Raises one :class:`ConfigError` naming every problem found.
    """
    from twinstar.config import yamlread

    return yamlread.parse(data, path)
