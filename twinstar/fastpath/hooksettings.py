"""The part of the configuration the udev hook needs, cached between events.

Parsing YAML costs more than the hook's whole time budget (PyYAML alone
takes about as long to import as the interpreter takes to start), so the
hook reads a small cache file instead. The cache is keyed by the
configuration file's identity and version (path, device, inode, size,
mtime, ctime, owner, mode): any edit, replacement, chmod or chown makes it
stale, and the hook then takes the slow path
(:func:`twinstar.hotplug.configuration.load`: the full configuration with all
its validation), after which the cache is rewritten atomically. A file modified within the last
:data:`RACY_SECONDS` is not cached, because a second edit within the
filesystem's timestamp granularity could keep size and mtime unchanged.

The cache lives in a root-only directory (mode 0700, ``settings.HOOK_CACHE_DIR``
or ``$TWINSTAR_CACHE_DIR``), is written with O_NOFOLLOW|O_EXCL and
renamed into place, and uses :mod:`marshal` (built in; ``json`` would cost
the import of ``re``). A cache that is unreadable, not ours, or from another
version is ignored. Reading it needs :mod:`posix` only, not :mod:`os`
(:func:`twinstar.settings.process_environ`).
"""

import marshal
import posix
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from os import stat_result

    from twinstar.config import Config

#: Bump when the cached fields change.
CACHE_FORMAT = 3
RACY_SECONDS = 2.0

class HookSettings:
    """What the hotplug decision and its hand-off need from the configuration.

    Each field is the configuration's key (or property) of the same name, at
    the top level or in the ``astribanks`` section: the annotations below are
    the one list (:data:`FIELDS`), and :meth:`from_config` copies by it.
    """

    source: str
    node: str
    state_dir: str
    maintenance_file: str
    handoff: str
    sysfs: str
    xpp_order: str
    rearm_watchdog: bool
    programs: tuple[tuple[str, str], ...]
    #: The ip steps, for the prepared takeover runner to start their duplicate-address probes before
    #: it loads the rest (:func:`twinstar.steps.ip_dad.start_cached`).
    ip_probes: tuple[tuple[str, str, str, float, float], ...]

    def __init__(self, **values: object) -> None:
        for name in FIELDS:
            setattr(self, name, values[name])
        #: The full configuration when it is at hand (slow path, daemon); else None
        #: (:func:`twinstar.hotplug.configuration.full_config` loads it).
        self.config: Config | None = None
        #: Runs the hand-off runner's arguments (``takeover|release|prepare --config PATH``) in this
        #: process: a ``spawn`` hand-off then forks instead of starting a new interpreter
        #: (:func:`twinstar.fastpath.detach.spawn_detached`). Set by the udev hook's entry only.
        self.fork_runner: Callable[[list[str]], int] | None = None

    @classmethod
    def from_config(cls, config: "Config") -> "HookSettings":
        values: dict[str, object] = {}
        for name in FIELDS:
            value = getattr(config if hasattr(config, name) else config.astribanks, name)
            # marshal stores built-in types only: an enum member is stored as its value.
            values[name] = value if type(value) in (str, bool, tuple) else str(value)
        settings = cls(**values)
        settings.config = config
        return settings

    def record(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in FIELDS}


#: The cached fields, in the order of the annotations above.
FIELDS = tuple(HookSettings.__annotations__)


def cache_dir(environ: "Mapping[str, str]") -> str:
    from twinstar import settings

    return environ.get(settings.HOOK_CACHE_ENV) or settings.HOOK_CACHE_DIR


def file_identity(st: "stat_result") -> tuple[int, ...]:
    """What changes when the file ``st`` describes is written, replaced, chowned or chmodded."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_uid, st.st_mode)


def _key(path: str, st: "stat_result") -> tuple[object, ...]:
    return (CACHE_FORMAT, marshal.version, path, *file_identity(st))


def path_tag(path: str) -> str:
    """A short, stable name for ``path`` (32-bit FNV-1a, in Python: no module to import for it)."""
    value = 0x811C9DC5
    for byte in path.encode("utf-8", "surrogateescape"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{value:08x}"


def _cache_file(directory: str, path: str) -> str:
    return f"{directory}/config-{path_tag(path)}.marshal"


def private_dir(directory: str, *, create: bool) -> bool:
    """``directory`` is a real directory owned by us and closed to others."""
    if create:
        try:
            import os

            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError:
            return False
    try:
        st = posix.lstat(directory)
    except OSError:
        return False
    return (st.st_mode & 0o170000) == 0o040000 and st.st_uid == posix.geteuid() and not st.st_mode & 0o077


def read_cache(directory: str, path: str, st: "stat_result") -> "HookSettings | None":
    """The cached settings for this exact version of ``path``, or None."""
    try:
        fd = posix.open(_cache_file(directory, path), posix.O_RDONLY | posix.O_NOFOLLOW | posix.O_CLOEXEC)
    except OSError:
        return None
    try:
        cst = posix.fstat(fd)
        if cst.st_uid != posix.geteuid() or cst.st_mode & 0o077 or not private_dir(directory, create=False):
            return None
        data = posix.read(fd, 1 << 20)
    except OSError:
        return None
    finally:
        posix.close(fd)
    try:
        value = marshal.loads(data)
        if type(value) is not dict or value.get("key") != _key(path, st):
            return None
        return HookSettings(**value["settings"])
    except (ValueError, EOFError, TypeError, KeyError):
        return None


def cached(path: str, directory: str | None) -> "HookSettings | None":
    """The cached settings of the configuration at ``path`` as it is now, or None (no cache, stale, unreadable)."""
    if not directory:
        return None
    try:
        st = posix.stat(path)
    except OSError:
        return None
    return read_cache(directory, path, st)


def write_cache(directory: str, path: str, st: "stat_result", settings: "HookSettings") -> bool:
    """Store ``settings`` for this version of ``path``; False when the cache cannot be used."""
    if time.time() - st.st_mtime < RACY_SECONDS or not private_dir(directory, create=True):
        return False
    final = _cache_file(directory, path)
    tmp = f"{final}.{posix.getpid()}.tmp"
    data = marshal.dumps({"key": _key(path, st), "settings": settings.record()})
    try:
        fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | posix.O_NOFOLLOW | posix.O_CLOEXEC, 0o600)
    except OSError:
        return False
    try:
        posix.write(fd, data)
    finally:
        posix.close(fd)
    posix.replace(tmp, final)
    return True
