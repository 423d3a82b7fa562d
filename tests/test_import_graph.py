"""The shape of the package: no import circle, and a fast path of built-in modules only.

Read from the source with :mod:`ast`, so a test fails before any module runs.
What counts is every import that can run: at module level and inside
functions (a lazy import is still an import). Imports under
``if TYPE_CHECKING:`` never run and are left out; with
``from __future__ import annotations`` they only name types.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "twinstar"

#: Top-level modules the fast path may use besides itself: they import only built-in modules.
BASE = ("twinstar.errors", "twinstar.settings", "twinstar.words")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def runtime_imports(name: str) -> set[str]:
    """Every module ``name`` may import when it runs (outside ``if TYPE_CHECKING:``)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            base = f"{anchor}.{base}" if base else anchor
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            targets.add(sub if sub in MODULES else base)
    return targets


GRAPH = {name: {t for t in runtime_imports(name) if t in MODULES and t != name} for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as ``[a, b, ..., a]``, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == GREY:
                return [*stack[stack.index(nxt):], nxt]
            if colour[nxt] == WHITE and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        colour[node] = BLACK
        return None

    for start in sorted(graph):
        if colour[start] == WHITE and (cycle := visit(start)):
            return cycle
    return None


def test_the_graph_is_read() -> None:
    assert "twinstar.hotplug.hook" in MODULES and "twinstar.fastpath.statefile" in MODULES
    assert "twinstar.hotplug.handoff" in GRAPH["twinstar.hotplug.hook"]
    assert "twinstar.engine.runner" in GRAPH["twinstar.hotplug.hook"]  # a lazy import counts


def test_find_cycle_names_the_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import circle: " + " -> ".join(cycle or ())


def _allowed_for_fast_path(target: str) -> bool:
    top = target.split(".")[0]
    if top != "twinstar":
        return top in sys.stdlib_module_names
    return target.startswith("twinstar.fastpath") or target in BASE


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("twinstar.fastpath")] + list(BASE))
def test_fast_path_imports_only_builtin_modules_and_itself(name: str) -> None:
    """Every import of ``twinstar.fastpath`` (and of the base modules it uses) is stdlib or fast path."""
    imports = runtime_imports(name)
    if name in BASE:
        wrong = sorted(t for t in imports if t.split(".")[0] not in sys.stdlib_module_names)
    else:
        wrong = sorted(t for t in imports if not _allowed_for_fast_path(t))
    assert not wrong, f"{name} imports {', '.join(wrong)}: the fast path may import only built-in modules, twinstar.fastpath and {', '.join(BASE)}"
