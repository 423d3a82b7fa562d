"""Parse the YAML text of ``twinstar.yaml`` into a :class:`~twinstar.config.Config`.

The sections and the steps are read by their fields' rules
(:mod:`twinstar.config.reader`); this module adds what no rule covers: the
``programs`` mapping and the ``takeover`` list, whose entries are read by their
step type (:mod:`twinstar.steps.registry`). Imported only when no compiled
configuration fits (:mod:`twinstar.config.compiled`): PyYAML is most of a
takeover's start-up otherwise.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import yaml

from twinstar.config.model import Config
from twinstar.config.reader import Invalid, Reader, is_null, kind_of
from twinstar.errors import ConfigError
from twinstar.schema import Kind, keys
from twinstar.steps.registry import PARALLEL, STEP_TYPES, StepSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# modules needed only for an error message or a default (difflib, socket)
# are imported where they are used.

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader


def parse(data: bytes | str, path: str) -> Config:
    """Parse configuration text; ``path`` is only used in messages.

    Raises one :class:`ConfigError` naming every problem found.
    """
    try:
        root = yaml.compose(data, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"YAML syntax error: {exc.problem}", path=path, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", path=path) from None
    except UnicodeDecodeError:
        raise ConfigError("configuration is not valid UTF-8", path=path) from None
    if root is None:
        raise ConfigError("configuration is empty", path=path)
    groups: list[tuple[str, ...]] = []
    reader = Reader(path, {Kind.PROGRAMS: _programs, Kind.STEPS: partial(_takeover, groups=groups)})
    reader.check_tags(root)
    if not reader.problems:
        try:
            return replace(reader.record(Config, root, "", source=path), groups=tuple(groups))
        except ConfigError as exc:
            reader.note(exc)
        except Invalid:
            pass
    raise reader.fail_all()


def _programs(reader: Reader, node: yaml.Node, key: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(node, yaml.MappingNode):
        raise reader.fail(node, key, f"expected a mapping, found {kind_of(node)}")
    out: dict[str, str] = {}
    before = len(reader.problems)
    for knode, vnode in node.value:
        try:
            name = reader.string(knode, key)
            sub = f"{key}.{name}"
            if name in out:
                raise reader.fail(knode, sub, "duplicate key")
            if "/" in name or name.startswith("-"):
                raise reader.fail(knode, sub, "program names must not contain '/' or start with '-'")
            out[name] = reader.abspath(vnode, sub)
        except ConfigError as exc:
            reader.note(exc)
    if len(reader.problems) > before:
        raise Invalid
    return tuple(sorted(out.items()))


def _takeover(reader: Reader, node: yaml.Node, key: str, *, groups: list[tuple[str, ...]]) -> tuple[StepSpec, ...]:
    """The ``takeover`` list; each ``- parallel: [...]`` entry's members are listed in place and named in ``groups``."""
    if not isinstance(node, yaml.SequenceNode):
        raise reader.fail(node, key, f"expected a list of steps, found {kind_of(node)}")
    if not node.value:
        raise reader.fail(node, key, "lists no steps: a takeover would do nothing", "list at least one step")
    steps: list[StepSpec] = []
    seen: dict[str, str] = {}
    before = len(reader.problems)
    for i, item in enumerate(node.value):
        entry = f"{key}[{i}]"
        try:
            members = _group(reader, item, entry)
        except ConfigError as exc:
            reader.note(exc)
            continue
        names = []
        for member, where in members or [(item, entry)]:
            try:
                spec = _step(reader, member, where)
            except ConfigError as exc:
                reader.note(exc)
                continue
            except Invalid:
                continue
            if spec.name in seen:
                reader.note(reader.fail(member, where, f"duplicate step {spec.name} (already {seen[spec.name]})"))
            else:
                seen[spec.name] = where
                steps.append(spec)
                names.append(spec.name)
        if members is not None:
            groups.append(tuple(names))
    if len(reader.problems) > before:
        raise Invalid
    return tuple(steps)


def _is_group(item: yaml.Node) -> bool:
    return (
        isinstance(item, yaml.MappingNode)
        and len(item.value) == 1
        and isinstance(item.value[0][0], yaml.ScalarNode)
        and item.value[0][0].value == PARALLEL
    )


def _group(reader: Reader, item: yaml.Node, key: str) -> list[tuple[yaml.Node, str]] | None:
    """The members of a ``- parallel: [STEP, STEP, ...]`` entry with their key paths; None for a plain step."""
    if not _is_group(item):
        return None
    node = item.value[0][1]
    key = f"{key}.{PARALLEL}"
    example = "e.g. '- parallel: [service: mariadb, service: apache2]'"
    if not isinstance(node, yaml.SequenceNode):
        raise reader.fail(node, key, f"expected a list of steps, found {kind_of(node)}", example)
    if len(node.value) < 2:
        found = "no steps" if not node.value else "one step"
        raise reader.fail(node, key, f"a parallel group needs at least 2 steps, found {found}", f"list a single step without parallel; {example}")
    for i, member in enumerate(node.value):
        if _is_group(member):
            raise reader.fail(member, f"{key}[{i}]", "parallel groups cannot be nested", "list the inner group's steps in the outer group")
    return [(member, f"{key}[{i}]") for i, member in enumerate(node.value)]


def _step(reader: Reader, item: yaml.Node, key: str) -> StepSpec:
    """One ``takeover`` entry: ``- TYPE: {keys}`` (or the type's plain value)."""
    if not isinstance(item, yaml.MappingNode) or len(item.value) != 1:
        raise reader.fail(item, key, "each step is a mapping with exactly one step type, e.g. '- service: asterisk'")
    knode, vnode = item.value[0]
    name = reader.string(knode, key)
    step_type = STEP_TYPES.get(name)
    if step_type is None:
        raise reader.unknown(knode, f"{key}.{name}", name, [*STEP_TYPES, PARALLEL], "unknown step type", "step types")
    key = f"{key}.{name}"
    spec_keys = list(keys(step_type.spec))
    if step_type.shorthand is not None and isinstance(vnode, yaml.ScalarNode):
        (short,) = [k for k in spec_keys if k.field == step_type.shorthand]
        return step_type.spec(**{short.field: reader.value(short.rule, vnode, key)})
    if is_null(vnode) and not any(k.required for k in spec_keys):
        return step_type.spec()  # type: ignore[call-arg]
    return reader.record(step_type.spec, vnode, key)
