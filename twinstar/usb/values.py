"""Small value classes of the USB layer: equality, hash and text made from their ``__slots__``.

``twinstar status`` defines and fills these on every run; a dataclass costs
its definition a few million instructions (it compiles each generated
method), a class built on :class:`Value` almost nothing. Values are not
changed once made.
"""

from __future__ import annotations


class Value:
    """Compared, hashed and shown by the fields named in ``__slots__`` (less those in ``_uncompared``)."""

    __slots__: tuple[str, ...] = ()
    _uncompared: tuple[str, ...] = ()

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__ if name not in self._uncompared)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Value)
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__ if name not in self._uncompared)
        return f"{type(self).__name__}({fields})"
