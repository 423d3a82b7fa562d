"""The validated configuration, compiled: a load that finds it imports neither PyYAML nor the reader.

Parsing and validating ``twinstar.yaml`` costs a takeover tens of
milliseconds (PyYAML's import alone is most of it). After a successful
parse, :func:`write` stores the :class:`~twinstar.config.Config` as built-in
values (:mod:`marshal`) in the hook's cache directory
(:func:`twinstar.fastpath.hooksettings.cache_dir`, by default inside the
default ``state_dir``; never created here); :func:`read` gives it back only
when everything it was built from is unchanged:

* the file's content, byte for byte (stored in the cache and compared), and
  its identity (path, device, inode, size, times, owner, mode);
* the host name (the default of ``node``);
* the code that reads and checks a configuration: every module of
  ``config/``, :mod:`twinstar.schema` and the steps' specs and registry, by
  size and modification time.

A cache that is unreadable, not ours (owner, mode, symbolic link), from
another format, or whose values do not fit the fields' rules is ignored,
never trusted: the file is parsed as if there were none. Values a rule
converts (an ``ip`` step's address) are stored as text and converted again.
Written to a temporary file and renamed into place: a reader sees the old
cache or the new one.
"""

from __future__ import annotations

import marshal
import os
from dataclasses import fields

from twinstar.config.model import Config
from twinstar.fastpath.hooksettings import file_identity, path_tag, private_dir
from twinstar.schema import RULE, Kind
from twinstar.steps.registry import STEP_TYPES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: Bump when the stored layout changes.
FORMAT = 1
_PLAIN = (str, int, float, bool, type(None))
_HERE = os.path.dirname(os.path.abspath(__file__))
_PACKAGE = os.path.dirname(_HERE)


class Uncacheable(ValueError):
    """A value the cache cannot store as built-in values (the configuration is then parsed each time)."""


def cache_file(directory: str, path: str) -> str:
    return f"{directory}/compiled-{path_tag(path)}.marshal"


def _code_identity() -> tuple[object, ...]:
    """Size and modification time of every module that reads or checks a configuration."""
    steps = os.path.join(_PACKAGE, "steps")
    names = [os.path.join(_HERE, n) for n in os.listdir(_HERE) if n.endswith(".py")]
    names += [os.path.join(steps, n) for n in os.listdir(steps) if n.endswith("_spec.py") or n == "registry.py"]
    names.append(os.path.join(_PACKAGE, "schema.py"))
    found = []
    for name in sorted(names):
        st = os.stat(name)
        found.append((os.path.basename(name), st.st_size, st.st_mtime_ns))
    return tuple(found)


def _key(path: str, st: os.stat_result) -> tuple[object, ...]:
    identity = (path, *file_identity(st))
    return (FORMAT, marshal.version, identity, os.uname().nodename, _code_identity())


def _plain(value: object) -> object:
    if type(value) in _PLAIN:
        return value
    if type(value) is tuple:
        return tuple(_plain(v) for v in value)
    raise Uncacheable(f"{type(value).__name__} is not a built-in value")


def encode(record: Any) -> dict[str, object]:
    """A configuration record (a section, a step's spec, the Config) as built-in values, by its fields' rules."""
    out: dict[str, object] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        rule = f.metadata.get(RULE)
        kind = rule.kind if rule is not None else None
        if kind is Kind.SECTION:
            out[f.name] = encode(value)
        elif kind is Kind.STEPS:
            out[f.name] = tuple((spec.kind, encode(spec)) for spec in value)
        elif kind is Kind.CHOICE:
            out[f.name] = str(value.value)
        elif rule is not None and rule.convert is not None and type(value) not in _PLAIN:
            out[f.name] = {"converted": str(value)}
        elif rule is not None and rule.kind not in _FITS:
            raise Uncacheable(f"{type(record).__name__}.{f.name}: no check for a {rule.kind.value} value")
        else:
            out[f.name] = _plain(value)
    return out


def decode(cls: type, data: object) -> Any:
    """The record of class ``cls`` from :func:`encode`'s values; ValueError, TypeError or KeyError if they do not fit."""
    if type(data) is not dict:
        raise TypeError(f"{cls.__name__}: expected a mapping")
    known = fields(cls)
    if set(data) != {f.name for f in known}:
        raise KeyError(f"{cls.__name__}: other fields")
    values: dict[str, object] = {}
    for f in known:
        raw = data[f.name]
        rule = f.metadata.get(RULE)
        if rule is None:
            values[f.name] = _plain(raw)
        elif rule.kind is Kind.SECTION and rule.section is not None:
            values[f.name] = decode(rule.section, raw)
        elif rule.kind is Kind.STEPS:
            values[f.name] = tuple(decode(STEP_TYPES[step_kind].spec, spec) for step_kind, spec in raw)
        elif rule.kind is Kind.CHOICE and rule.choices is not None:
            values[f.name] = rule.choices(raw)
        elif type(raw) is dict:
            if rule.convert is None or set(raw) != {"converted"} or type(raw["converted"]) is not str:
                raise TypeError(f"{cls.__name__}.{f.name}: not a converted value")
            values[f.name] = rule.convert(raw["converted"])
        else:
            values[f.name] = _checked(cls, f.name, rule.kind, _plain(raw), nullable=rule.nullable or f.default is None)
    return cls(**values)


def _is_argv(value: object) -> bool:
    return type(value) is tuple and bool(value) and all(type(v) is str for v in value)


#: Whether a stored value fits a rule's kind, for the kinds stored as plain values.
_FITS: dict[Kind, Callable[[Any], bool]] = {
    Kind.NUMBER: lambda v: type(v) in (int, float),
    Kind.FLAG: lambda v: type(v) is bool,
    Kind.TEXT: lambda v: type(v) is str,
    Kind.PATH: lambda v: type(v) is str and os.path.isabs(v),
    Kind.ARGV: _is_argv,
    Kind.ARGVS: lambda v: type(v) is tuple and all(_is_argv(a) for a in v),
    Kind.PROGRAMS: lambda v: type(v) is tuple and all(type(p) is tuple and len(p) == 2 and all(type(x) is str for x in p) for p in v),
}


def _checked(cls: type, name: str, kind: Kind, value: object, *, nullable: bool) -> object:
    """``value`` when its type fits the rule's kind."""
    if value is None and nullable:
        return value
    fits = _FITS.get(kind)
    if fits is None or not fits(value):
        raise TypeError(f"{cls.__name__}.{name}: {type(value).__name__} does not fit a {kind.value}")
    return value


def read(directory: str | None, path: str, data: bytes) -> Config | None:
    """The compiled configuration of ``path`` whose content is ``data``, or None (none, stale, or not usable)."""
    if not directory:
        return None
    try:
        fd = os.open(cache_file(directory, path), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        cst = os.fstat(fd)
        if cst.st_uid != os.geteuid() or cst.st_mode & 0o077 or not private_dir(directory, create=False):
            return None
        blob = os.read(fd, cst.st_size + 1)
        st = os.stat(path)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        stored = marshal.loads(blob)
        if type(stored) is not dict or stored.get("key") != _key(path, st) or stored.get("data") != data:
            return None
        config = decode(Config, stored["config"])
    except (ValueError, EOFError, TypeError, KeyError):
        return None
    return config if config.source == path else None


def write(directory: str | None, path: str, data: bytes, config: Config) -> bool:
    """Store ``config``, parsed from ``data`` at ``path``; False when it cannot be cached (the directory is not there or not ours)."""
    if not directory or not private_dir(directory, create=False):
        return False
    try:
        st = os.stat(path)
        blob = marshal.dumps({"key": _key(path, st), "data": data, "config": encode(config)})
    except (OSError, ValueError):
        return False
    final = cache_file(directory, path)
    tmp = f"{final}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return False
    from twinstar.fastpath.atomic import write_all

    try:
        write_all(fd, blob)
    except OSError:
        os.unlink(tmp)
        return False
    finally:
        os.close(fd)
    # No fsync: a cache torn by a crash does not decode and is ignored.
    os.replace(tmp, final)
    return True
