"""Parse ``xpp_order``: which Astribank units this node needs, in DAHDI order.

Syntax (platform fact sheet, section 6): ``#`` starts a comment that runs to
the end of the line; whitespace around an entry is trimmed; blank lines are
skipped. Every other line is one entry: a unit's label verbatim
(``usb:00000135``) or ``@`` and its connector (``@usb-0000:00:1d.7-1``).

Labels and connectors are kept as exact strings: bytes decoded as UTF-8 with
``surrogateescape``, the same way :mod:`twinstar.astribank.sysfs` decodes the
driver's attributes, so any byte sequence compares exactly and nothing is
ever interpreted. Because of the syntax, a label that contains ``#`` or a
newline, or starts or ends with whitespace, cannot be listed; list such a
unit by ``@connector`` instead.

Unlike the original hook, a missing or empty file, a duplicate entry, a
label longer than the driver's 19 bytes (it could never match) or an empty
``@`` line are configuration errors: they can never start a takeover.
"""

from twinstar.fastpath import safefile

LABEL = "label"
CONNECTOR = "connector"

#: The xpp driver truncates labels to 19 bytes and connectors to 39.
MAX_LABEL_BYTES = 19
MAX_CONNECTOR_BYTES = 39


def _error(message: str) -> Exception:
    # Imported here: twinstar.errors imports enum, which the hook's fast path avoids.
    from twinstar.errors import XppOrderError

    return XppOrderError(message, hint="fix the file, or regenerate it with 'dahdi_genconf xpporder'")


class Entry:
    """One listed unit: a label or a connector, and where it was written."""

    __slots__ = ("kind", "value", "line", "_comment")

    def __init__(self, kind: str, value: str, line: int, comment: bytes | None = None) -> None:
        self.kind = kind
        self.value = value
        self.line = line
        #: The entry's comment (the bytes after ``#``), read only for messages (:attr:`hint`).
        self._comment = comment

    @property
    def hint(self) -> str | None:
        """The connector from a ``# @connector`` comment (as dahdi_genconf writes it), for messages."""
        return _hint(self._comment) if self._comment else None

    @property
    def text(self) -> str:
        """The entry as written in the file."""
        return "@" + self.value if self.kind == CONNECTOR else self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entry) and (self.kind, self.value) == (other.kind, other.value)

    def __hash__(self) -> int:
        return hash((self.kind, self.value))

    def __repr__(self) -> str:
        return f"Entry({self.kind}, {self.value!r}, line {self.line})"


class XppOrder:
    """The parsed file: its entries in order (position = DAHDI registration order)."""

    __slots__ = ("path", "entries")

    def __init__(self, path: str, entries: "tuple[Entry, ...]") -> None:
        self.path = path
        self.entries = entries


def _hint(comment: bytes) -> str | None:
    words = comment.split()
    if words and words[0].startswith(b"@") and len(words[0]) > 1:
        return words[0][1:].decode("utf-8", "surrogateescape")
    return None


def parse(data: bytes, path: str) -> "XppOrder":
    """Parse the bytes of an ``xpp_order`` file; ``path`` is used in messages."""
    entries: list[Entry] = []
    seen: dict[tuple[str, str], int] = {}
    number = 0
    for raw in data.split(b"\n"):
        number += 1
        body, sep, comment = raw.partition(b"#")
        body = body.strip()
        if not body:
            continue
        if b"\x00" in body:
            raise _error(f"{path}:{number}: entry contains a NUL byte")
        if body.startswith(b"@"):
            value = body[1:]
            if not value:
                raise _error(f"{path}:{number}: '@' without a connector")
            if len(value.split()) != 1:
                raise _error(f"{path}:{number}: a connector contains no whitespace, found {body.decode('utf-8', 'replace')!r}")
            if len(value) > MAX_CONNECTOR_BYTES:
                raise _error(
                    f"{path}:{number}: connector is {len(value)} bytes long; the driver's are at most "
                    f"{MAX_CONNECTOR_BYTES}, so it can never match"
                )
            kind = CONNECTOR
        else:
            value = body
            if len(value) > MAX_LABEL_BYTES:
                raise _error(
                    f"{path}:{number}: label is {len(value)} bytes long; the driver truncates labels to "
                    f"{MAX_LABEL_BYTES} bytes, so it can never match (write the truncated label)"
                )
            kind = LABEL
        text = value.decode("utf-8", "surrogateescape")
        key = (kind, text)
        if key in seen:
            from twinstar.astribank.printable import shown

            raise _error(
                f"{path}:{number}: duplicate entry {shown(body.decode('utf-8', 'surrogateescape'))} (already on line {seen[key]})"
            )
        seen[key] = number
        entries.append(Entry(kind, text, number, comment if sep and kind == LABEL else None))
    if not entries:
        raise _error(f"{path}: lists no units; a takeover needs at least one listed unit")
    return XppOrder(path, tuple(entries))


def load(path: str) -> "XppOrder":
    """Read and parse ``xpp_order`` at ``path`` (a missing file is an error).

    It must be a regular file, not a symbolic link, of at most
    :data:`~twinstar.fastpath.safefile.XPP_ORDER_LIMIT` bytes.
    """
    try:
        data = safefile.read_regular(path, safefile.XPP_ORDER_LIMIT)
    except FileNotFoundError:
        raise _error(f"{path}: not found; without it no takeover can start") from None
    except safefile.FileRefused as exc:
        raise _error(str(exc)) from None
    return parse(data, path)
