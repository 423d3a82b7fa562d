"""Showing device-provided strings safely in logs and messages.

Labels and connectors come from USB descriptors: they may hold spaces,
quotes, control characters or bytes that are not UTF-8 (kept as lone
surrogates by ``surrogateescape``). They are never used as format strings;
this turns them into one unambiguous, printable token.
"""

_PLAIN_EXCLUDED = frozenset(" '\"\\")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\", "'": "\\'"}


def shown(text: str | None) -> str:
    """``text`` as is when plain; else quoted with escapes (``'a b'``, ``'\\xff'``)."""
    if text is None:
        return "(none)"
    if text and text.isprintable() and not (_PLAIN_EXCLUDED & set(text)):
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "'" + "".join(out) + "'"
