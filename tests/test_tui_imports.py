"""No import loop in rtui.tui: its modules' import graph, as Python runs it, has no cycle.

Read from the source with ``ast``: the imports a module runs when it is loaded (module level,
outside ``if TYPE_CHECKING:``); imports inside functions run later, on use, and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import rtui.tui

PACKAGE = "rtui.tui"
ROOT = Path(rtui.tui.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _load_time_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """The import statements run when the module loads: module level, through if/try/with
    blocks, but not in functions, classes' methods or ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                found += _load_time_imports(node.body)
            found += _load_time_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody,
                          *(handler.body for handler in node.handlers)):
                found += _load_time_imports(block)
        elif isinstance(node, ast.With | ast.ClassDef):
            found += _load_time_imports(node.body)
    return found


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom,
             known: set[str]) -> set[str]:
    """The rtui.tui modules an import statement loads (a submodule, its packages too)."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[:len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base]) if base else ".".join(anchor)
        names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
    loaded: set[str] = set()
    for name in names:
        parts = name.split(".")
        for end in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
            candidate = ".".join(parts[:end])
            if candidate in known and candidate != module:
                loaded.add(candidate)
    return loaded


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(path): path for path in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in _load_time_imports(tree.body):
            edges |= _targets(module, is_package, node, set(files))
        # A package's __init__ runs before its modules: not an edge a cycle can close through.
        graph[module] = {e for e in edges if not module.startswith(e + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle (its modules in import order, the first repeated at the end), or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node):], node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start)
        if cycle:
            return cycle
    return None


def test_no_import_cycle_in_rtui_tui() -> None:
    graph = import_graph()
    assert "rtui.tui.app" in graph and "rtui.tui.actions" in graph
    assert "rtui.tui.actions" in graph["rtui.tui.widgets.hosts"]  # the walk sees real edges
    assert "rtui.tui.commands" in graph["rtui.tui.app"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles() -> None:
    """The check above can fail: a loop, as the app and the palette had, is reported."""
    looped = {"rtui.tui.app": {"rtui.tui.commands"}, "rtui.tui.commands": {"rtui.tui.app"},
              "rtui.tui.keys": set()}
    assert find_cycle(looped) == ["rtui.tui.app", "rtui.tui.commands", "rtui.tui.app"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_type_checking_and_function_imports_are_not_load_time() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import rtui.tui.keys\n"
        "if TYPE_CHECKING:\n    from rtui.tui.app import RtuiApp\n"
        "def later():\n    from rtui.tui.commands import HostCommands\n"
        "try:\n    from . import lazy\nexcept ImportError:\n    pass\n"
    )
    known = {"rtui.tui", "rtui.tui.keys", "rtui.tui.app", "rtui.tui.commands",
             "rtui.tui.lazy", "rtui.tui.widgets", "rtui.tui.widgets.hosts"}
    loaded: set[str] = set()
    for node in _load_time_imports(tree.body):
        loaded |= _targets("rtui.tui.widgets.hosts", False, node, known)
    assert loaded == {"rtui.tui", "rtui.tui.keys", "rtui.tui.widgets"}
