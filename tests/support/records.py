"""Does a JSON object written to disk have exactly the keys of its TypedDict record?"""

from __future__ import annotations

from typing import Any, NotRequired, get_origin, get_type_hints


def keys_of(record: Any) -> tuple[set[str], set[str]]:
    """The record's required and optional keys (``__required_keys__`` is wrong under postponed annotations)."""
    hints = get_type_hints(record, include_extras=True)
    optional = {key for key, kind in hints.items() if get_origin(kind) is NotRequired}
    return set(hints) - optional, optional


def fits(value: dict[str, Any], record: Any) -> bool:
    required, optional = keys_of(record)
    return required <= set(value) <= required | optional


def mismatch(value: dict[str, Any], record: Any) -> str:
    required, optional = keys_of(record)
    return f"missing {sorted(required - set(value))}, undeclared {sorted(set(value) - required - optional)}"

