"""Read YAML nodes by the fields' rules, every problem with file:line and key path.

A :class:`Reader` reads a dataclass from a mapping node by the rules its fields
carry (:mod:`twinstar.schema`): the known and required keys come from the
fields, so they are written nowhere else. A problem does not stop the reading:
it is collected and the reading goes on with the next key, so one run reports
them all (:meth:`Reader.error`). An unknown key gets the closest known one as
a suggestion: a typo must never be silently ignored on a PBX.
"""

from __future__ import annotations

import os

import yaml

from twinstar.errors import ConfigError
from twinstar.schema import Kind, Range, check_number, keys, typename

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from enum import StrEnum
    from typing import Any, TypeVar

    from twinstar.schema import Key, Rule

    T = TypeVar("T")
    E = TypeVar("E", bound=StrEnum)
    #: A reader of its own for a kind of value the rules do not cover.
    Custom = Callable[["Reader", yaml.Node, str], Any]

Node = yaml.Node


class Invalid(Exception):
    """A part of the configuration had problems, already collected; its value cannot be built."""


class Reader:
    """Reads the configuration file ``path``, collecting its problems."""

    def __init__(self, path: str, custom: dict[Kind, Custom] | None = None) -> None:
        self.path = path
        self.custom = custom or {}
        self.problems: list[ConfigError] = []

    # -- problems --

    def fail(self, node: Node | None, key: str, message: str, hint: str | None = None) -> ConfigError:
        line = node.start_mark.line + 1 if node is not None else None
        return ConfigError(message, path=self.path, line=line, key=key or None, hint=hint)

    def unknown(self, node: Node, key: str, name: str, known: Sequence[str], message: str, listing: str) -> ConfigError:
        """``name`` is none of ``known``: the closest one as the hint, else ``listing``: all of them."""
        import difflib  # only for the message

        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"{listing}: " + ", ".join(known)
        return self.fail(node, key, message, hint)

    def note(self, problem: ConfigError) -> None:
        self.problems.append(problem)

    def fail_all(self) -> ConfigError:
        """All problems noted as one error: the first, then one line each."""
        first, *more = self.problems
        first.more = tuple(more)
        return first

    # -- tags --

    def check_tags(self, root: Node) -> None:
        """Note every explicit YAML tag but the plain types' (``!foo``, ``!!python/...``, ``!!binary``)."""
        todo, seen = [root], set()
        while todo:
            node = todo.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            allowed = _COLLECTION_TAGS if isinstance(node, yaml.MappingNode | yaml.SequenceNode) else _SCALAR_TAGS
            if node.tag not in allowed:
                tag = node.tag.replace("tag:yaml.org,2002:", "!!")
                self.note(self.fail(node, "", f"unsupported YAML tag {tag}", "write the plain value without a tag"))
            if isinstance(node, yaml.MappingNode):
                todo += [n for pair in node.value for n in pair]
            elif isinstance(node, yaml.SequenceNode):
                todo += node.value

    # -- records --

    def record(self, cls: type[T], node: Node, key: str, **given: Any) -> T:
        """The dataclass ``cls`` read from mapping ``node`` by its fields' rules."""
        before = len(self.problems)
        fields = list(keys(cls))
        found = self.mapping(node, key, fields)
        values = dict(given)
        for k in fields:
            sub = subkey(key, k.name)
            if k.name in found:
                try:
                    values[k.field] = self.value(k.rule, found[k.name], sub)
                except ConfigError as exc:
                    self.note(exc)
                except Invalid:
                    pass
            elif k.rule.missing is not None:
                values[k.field] = k.rule.missing()
        if len(self.problems) > before:
            raise Invalid
        return cls(**values)

    def mapping(self, node: Node, key: str, fields: Sequence[Key]) -> dict[str, Node]:
        """The values of mapping ``node`` by key; unknown, duplicate and missing keys are noted."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, key, f"expected a mapping, found {kind_of(node)}")
        known = tuple(k.name for k in fields)
        out: dict[str, Node] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode) or knode.tag != "tag:yaml.org,2002:str":
                self.note(self.fail(knode, key, "keys must be plain strings"))
                continue
            name = knode.value
            sub = subkey(key, name)
            if name in out:
                self.note(self.fail(knode, sub, "duplicate key"))
            elif name not in known:
                self.note(self.unknown(knode, sub, name, known, "unknown key", "known keys"))
            else:
                out[name] = vnode
        for k in fields:
            if k.required and k.name not in out:
                self.note(self.fail(node, subkey(key, k.name), "required key is missing"))
        return out

    def value(self, rule: Rule, node: Node, key: str) -> Any:
        """The value at ``node`` by ``rule``."""
        if rule.nullable and is_null(node):
            return None
        if rule.kind in self.custom:
            return self.custom[rule.kind](self, node, key)
        value: Any
        if rule.kind is Kind.SECTION:
            assert rule.section is not None
            return self.record(rule.section, node, key)
        if rule.kind is Kind.NUMBER:
            assert rule.range is not None
            value = self.number(node, key, rule.range)
            return float(value) if rule.seconds else value
        if rule.kind is Kind.FLAG:
            return self.boolean(node, key)
        if rule.kind is Kind.CHOICE:
            assert rule.choices is not None
            return self.enum(node, key, rule.choices)
        if rule.kind is Kind.ARGV:
            return self.argv(node, key)
        if rule.kind is Kind.COMMANDS:
            return self.commands(node, key)
        if rule.kind is Kind.PATH:
            value = self.abspath(node, key)
        elif rule.kind is Kind.TEXT:
            value = self.string(node, key)
        else:
            raise AssertionError(f"no reader for {rule.kind}")
        if rule.convert is not None:
            try:
                value = rule.convert(value)
            except ValueError as exc:
                raise self.fail(node, key, str(exc)) from None
        return value

    # -- values --

    def scalar(self, node: Node, key: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, key, f"expected a single value, found {kind_of(node)}")
        try:
            return _construct(node)
        except (ValueError, OverflowError, yaml.YAMLError):
            raise self.fail(node, key, f"{node.value!r:.60} is not a valid {node.tag.rpartition(':')[2]}") from None

    def string(self, node: Node, key: str, *, allow_empty: bool = False) -> str:
        value = self.scalar(node, key)
        if not isinstance(value, str):
            raise self.fail(node, key, f"expected a string, found {typename(value)}")
        if not allow_empty and not value.strip():
            raise self.fail(node, key, "must not be empty")
        if "\x00" in value:
            raise self.fail(node, key, "must not contain NUL characters")
        return value

    def boolean(self, node: Node, key: str) -> bool:
        value = self.scalar(node, key)
        if not isinstance(value, bool):
            raise self.fail(node, key, f"expected true or false, found {typename(value)}")
        return value

    def number(self, node: Node, key: str, rng: Range) -> Any:
        """The number at ``node``, within ``rng``."""
        value = self.scalar(node, key)
        why = check_number(value, rng)
        if why is not None:
            raise self.fail(node, key, why)
        return value

    def abspath(self, node: Node, key: str) -> str:
        value = self.string(node, key)
        if not os.path.isabs(value):
            raise self.fail(node, key, f"must be an absolute path, found {value!r}")
        return os.path.normpath(value)

    def enum(self, node: Node, key: str, cls: type[E]) -> E:
        value = self.string(node, key)
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(m.value for m in cls)
            raise self.fail(node, key, f"must be one of {choices}, found {value!r}") from None

    def argv(self, node: Node, key: str) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            raise self.fail(node, key, "expected a command as a non-empty list, e.g. [/usr/bin/foo, --bar]")
        items = []
        for i, item in enumerate(node.value):
            v = self.scalar(item, f"{key}[{i}]")
            if isinstance(v, bool) or v is None or isinstance(v, list | dict):
                raise self.fail(item, f"{key}[{i}]", f"expected a string, found {typename(v)}")
            items.append(str(v))
        if "/" in items[0] and not os.path.isabs(items[0]):
            raise self.fail(node, f"{key}[0]", f"must be an absolute path or a program name, found {items[0]!r}")
        return tuple(items)


    def commands(self, node: Node, key: str) -> tuple[tuple[str, ...], ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, key, "expected a list of commands, e.g. [[/usr/local/bin/page, oncall]]")
        return tuple(self.argv(item, f"{key}[{i}]") for i, item in enumerate(node.value))


def subkey(key: str, name: str) -> str:
    """The key path of ``name`` within ``key`` (the top level's is empty)."""
    return f"{key}.{name}" if key else name


def is_null(node: Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


_SCALAR_LOADER = yaml.SafeLoader("")
_SCALAR_TAGS = frozenset(
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "timestamp", "merge")
)
_COLLECTION_TAGS = frozenset(("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"))


def _construct(node: Node) -> Any:
    return _SCALAR_LOADER.construct_object(node, deep=True)


def kind_of(node: Node) -> str:
    """How a message names what ``node`` holds."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    try:
        value = _construct(node)
    except (ValueError, OverflowError, yaml.YAMLError):
        return repr(node.value)
    return f"{typename(value)} {node.value!r}"
