"""The "did you mean" hint for a name that is none of the known ones (a key, a command, a setting)."""

from __future__ import annotations

from collections.abc import Sequence


def hint(name: str, known: Sequence[str], listing: str) -> str:
    """``did you mean 'X'?`` for the closest known name, else ``listing: a, b, c``."""
    import difflib  # only for the message

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else f"{listing}: " + ", ".join(known)
