"""Reading ``state.json`` (and the other small JSON files of ``state_dir``), cheaply.

The one reader of these files: the udev hook reads ``state.json`` on every
event, the engine before every transition. Built-in modules only: the C half
of :mod:`json` parses and, for their writer (:mod:`twinstar.engine.statedir`),
encodes (``json`` itself would import ``re``); ``json`` is imported only to
explain a file that is not valid. A file that cannot be
used is a :class:`~twinstar.errors.StateFileError` (bad input, exit 2; a
file that cannot be read at all is a StateError) that names it and says what
to do: remove it; the next takeover or release rebuilds it from the real state.

``state.json`` holds the role; while a transition runs, the identity of its
process (pid, start time, boot id: :mod:`twinstar.fastpath.procid`); and when the
role was entered, on the wall clock (``since``, for people) and on the boot
clock (``since_boot``, for decisions).
"""

import _stat as stat

from twinstar import settings, words
from twinstar.fastpath import procid, safefile

#: Larger than any state file twinstar writes (a takeover's record is a few KiB).
MAX_BYTES = safefile.MIB

ROLES = words.ROLES
TRANSITIONS = words.TRANSITIONS
REBUILD = "remove it; the next takeover or release rebuilds it from the real state"


def _state_error(message: str, *, malformed: bool = True) -> Exception:
    """A StateFileError (``malformed``: bad input) or a StateError (the file cannot be read), with what to do."""
    from twinstar.errors import StateError, StateFileError

    return (StateFileError if malformed else StateError)(message, hint=REBUILD)


class _JsonContext:
    """What the C JSON scanner asks of its decoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_int = int
    memo: dict[str, str] = {}

    @staticmethod
    def parse_float(text: str) -> float:
        value = float(text)
        if value in (float("inf"), float("-inf")):
            raise ValueError(f"number out of range: {text[:20]}")
        return value

    @staticmethod
    def parse_constant(name: str) -> float:
        raise ValueError(f"{name} is not a number JSON allows")


_WHITESPACE = " \t\n\r"


def loads(text: str) -> object:
    """The JSON value in ``text``; ValueError (saying why) when it is not valid, has NaN or an infinite number."""
    try:
        import _json

        scanner = _json.make_scanner(_JsonContext())  # type: ignore[arg-type]  # it reads only these attributes
        value, end = scanner(text, len(text) - len(text.lstrip(_WHITESPACE)))
        if not text[end:].strip(_WHITESPACE):
            return value
    except (ImportError, AttributeError, StopIteration, ValueError, SystemError):
        # Not CPython, or not valid. The C scanner cannot always say why (without
        # json.decoder imported it fails with a SystemError): json explains.
        pass
    import json

    ctx = _JsonContext
    return json.loads(text, parse_float=ctx.parse_float, parse_constant=ctx.parse_constant)


def _unserializable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: object) -> str:
    """``json.dumps(value, sort_keys=True)``, with the C half of :mod:`json` where there is one (no ``re``)."""
    try:
        from _json import encode_basestring_ascii, make_encoder

        encoder = make_encoder({}, _unserializable, encode_basestring_ascii, None, ": ", ", ", True, False, True)
    except (ImportError, TypeError):  # not CPython, or another signature
        import json

        return json.dumps(value, sort_keys=True)
    return "".join(encoder(value, 0))


def read_object(path: str) -> dict[str, object] | None:
    """The JSON object in the regular file ``path`` (never through a symlink); None when there is none."""
    try:
        data = safefile.read_regular(path, MAX_BYTES)
    except FileNotFoundError:
        return None
    except safefile.FileRefused as exc:
        if exc.strerror is not None:
            raise _state_error(f"cannot read {path}: {exc.strerror}", malformed=False) from None
        if exc.mode is None:
            raise _state_error(f"{path} is larger than {MAX_BYTES // 1024} KiB, more than twinstar ever writes") from None
        if stat.S_ISLNK(exc.mode):
            raise _state_error(f"{path} is a symlink; refusing to follow it") from None
        raise _state_error(f"{path} is not a regular file") from None
    try:
        value = loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _state_error(f"{path} is not valid JSON (not UTF-8)") from None
    except RecursionError:
        raise _state_error(f"{path} is not valid JSON (nested too deeply)") from None
    except ValueError as exc:
        raise _state_error(f"{path} is not valid JSON ({str(exc).splitlines()[0] if str(exc) else 'invalid'})") from None
    if type(value) is not dict:
        raise _state_error(f"{path} does not hold a JSON object")
    return value


# --- state.json -----------------------------------------------------------------------------


def _number(value: object) -> float | None:
    """``value`` as a finite float; None when it is not a number or not finite."""
    if type(value) not in (int, float):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except OverflowError:
        return None
    return number if number - number == 0.0 else None  # inf - inf and NaN are NaN


class NodeView:
    """What ``state.json`` says, checked field by field."""

    __slots__ = ("role", "pid", "pid_start", "boot_id", "since", "since_boot", "last_transition", "node")

    def __init__(
        self,
        role: str = words.STANDBY,
        pid: int | None = None,
        since: float = 0.0,
        *,
        pid_start: int | None = None,
        boot_id: str = "",
        since_boot: float | None = None,
        last_transition: dict[str, object] | None = None,
        node: str = "",
    ) -> None:
        self.role = role
        self.pid = pid
        self.pid_start = pid_start
        self.boot_id = boot_id
        self.since = since
        self.since_boot = since_boot
        self.last_transition = last_transition
        self.node = node

    @property
    def interrupted(self) -> bool:
        """A transition whose process is gone (a live process that merely reuses its pid does not count)."""
        return self.role in TRANSITIONS and not procid.process_alive(self.pid, self.pid_start, self.boot_id)

    @property
    def since_this_boot(self) -> float:
        """When the role was entered, on this boot's clock (0.0: in an earlier boot, or not recorded)."""
        return procid.this_boot(self.since_boot, self.boot_id)

    @property
    def last_result(self) -> str | None:
        """``ok``, ``refused`` or ``failed``: how the last transition ended (None: none recorded)."""
        result = (self.last_transition or {}).get("result")
        return result if type(result) is str else None


def parse_node(raw: dict[str, object], path: str) -> "NodeView":
    """The fields of ``state.json`` (``raw``); StateFileError naming ``path`` and the field when one is malformed."""
    role = raw.get("role", words.STANDBY)
    pid, pid_start = raw.get("pid"), raw.get("pid_start")
    since, since_boot = raw.get("since", 0.0), raw.get("since_boot")
    boot, last, node = raw.get("boot_id", ""), raw.get("last_transition"), raw.get("node", "")
    checks = (
        ("role", role in ROLES, "one of " + ", ".join(ROLES)),
        ("pid", pid is None or (type(pid) is int and pid > 0), "a process id"),
        ("pid_start", pid_start is None or (type(pid_start) is int and pid_start >= 0), "a start time in clock ticks"),
        ("since", _number(since) is not None, "a time in seconds"),
        ("since_boot", since_boot is None or _number(since_boot) is not None, "a time in seconds"),
        ("boot_id", type(boot) is str, "a boot id"),
        ("last_transition", last is None or type(last) is dict, "an object"),
        ("node", type(node) is str, "a name"),
    )
    for key, ok, want in checks:
        if not ok:
            raise _state_error(f"{path}: {key} is not {want}")
    return NodeView(
        str(role),
        pid,  # type: ignore[arg-type]
        _number(since) or 0.0,
        pid_start=pid_start,  # type: ignore[arg-type]
        boot_id=str(boot),
        since_boot=_number(since_boot),
        last_transition=last,  # type: ignore[arg-type]
        node=str(node),
    )


def state_path(state_dir: str) -> str:
    return f"{state_dir}/{settings.STATE_FILE}"


def read_node(state_dir: str) -> "NodeView":
    """The node's state from ``state_dir/state.json`` (standby when there is none)."""
    path = state_path(state_dir)
    raw = read_object(path)
    return NodeView() if raw is None else parse_node(raw, path)
