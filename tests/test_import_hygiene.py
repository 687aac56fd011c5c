"""The import contract: the core and the agent never reach up into a face (Textual, the TUI,
the CLI, the demo), checked over every module; and the CLI does not pay for Textual."""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The UI-free wings, and what none of their modules may import (at any depth, lazily or not).
WINGS = ("rtui.core", "rtui.agent")
FORBIDDEN = ("textual", "rtui.tui", "rtui.cli", "rtui.demo")


def wing_modules() -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for wing in WINGS:
        spec = importlib.util.find_spec(wing)
        if spec is None:  # the agent package lands with its own change
            continue
        found.append((wing, Path(spec.origin or "")))
        for info in pkgutil.walk_packages(spec.submodule_search_locations, wing + "."):
            sub = importlib.util.find_spec(info.name)
            assert sub is not None and sub.origin
            found.append((info.name, Path(sub.origin)))
    return found


def imported_names(path: Path, module: str) -> set[str]:
    """Every module a file imports, anywhere in it (also inside functions), made absolute."""
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_the_contract_walks_every_module() -> None:
    found = {name for name, _ in wing_modules()}
    on_disk = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for wing in WINGS for p in (ROOT / wing.replace(".", "/")).rglob("*.py")
    }
    assert on_disk <= found, f"modules the walk missed: {sorted(on_disk - found)}"
    assert len(found) > 30


@pytest.mark.parametrize("module,path", wing_modules(), ids=lambda v: str(v))
def test_no_wing_module_imports_a_face(module: str, path: Path) -> None:
    bad = sorted(n for n in imported_names(path, module) if forbidden(n))
    assert not bad, f"{module} imports {bad}"


def test_importing_every_wing_module_loads_no_face() -> None:
    names = [name for name, _ in wing_modules()]
    mods = loaded_modules_after("import importlib; " + "; ".join(
        f"importlib.import_module({name!r})" for name in names))
    assert not {m for m in mods if forbidden(m)}


def loaded_modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_core_does_not_import_textual() -> None:
    mods = loaded_modules_after(
        "import rtui.core, rtui.core.config.store, rtui.core.config.importer, "
        "rtui.core.config.ssh_aliases, rtui.core.locations"
    )
    assert not {m for m in mods if m == "textual" or m.startswith("textual.")}


def test_workspace_loads_no_ssh_kernel_ui_or_demo_code() -> None:
    """The Workspace is made before the first frame: asyncssh and jupyter_client are
    imported off the loop when a host is first used; the demo is a wing of its own."""
    mods = loaded_modules_after("import rtui.core.workspace, rtui.core.kernels.choice")
    assert not {"asyncssh", "jupyter_client", "zmq", "textual", "rtui.demo"} & mods
    assert not {m for m in mods if m.startswith(("rtui.tui", "rtui.cli", "rtui.demo"))}


def test_cli_commands_do_not_import_textual() -> None:
    mods = loaded_modules_after("from rtui.cli.main import build_parser; build_parser()")
    assert "textual" not in mods


def test_hosts_commands_do_not_load_ssh_or_kernel_libraries() -> None:
    """`rtui hosts ...` is run often from shells and scripts: it stays quick to start."""
    mods = loaded_modules_after("import rtui.cli.main")
    assert not {"asyncssh", "jupyter_client", "zmq"} & mods


def test_host_list_does_not_load_ssh_kernel_or_console_code() -> None:
    """The TUI's first frame is the host list: what only a connection or a console needs is
    imported later (asyncssh and jupyter_client off the event loop)."""
    mods = loaded_modules_after("import rtui.tui.app")
    assert not {"asyncssh", "jupyter_client", "zmq", "rtui.tui.widgets.console",
                "rtui.tui.widgets.code_input", "rtui.core.config.importer",
                "rtui.core.remote.bundle", "rtui.agent.protocol"} & mods


def test_only_the_keeper_imports_zmq_and_only_when_it_runs() -> None:
    """The agent is standard library only; the keeper process alone needs pyzmq, imported
    inside its own code path (Keeper.__init__), never at module level nor by another module."""
    for module, path in wing_modules():
        if not module.startswith("rtui.agent"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        top_level = imported_names_in(tree.body)
        assert not {n for n in top_level if n == "zmq" or n.startswith("zmq.")}, module
        if module != "rtui.agent.keeper":
            assert not {n for n in imported_names(path, module)
                        if n == "zmq" or n.startswith("zmq.")}, module
    mods = loaded_modules_after("import importlib; " + "; ".join(
        f"importlib.import_module({name!r})" for name, _ in wing_modules()
        if name.startswith("rtui.agent")))
    assert "zmq" not in mods


def imported_names_in(body: list[ast.stmt]) -> set[str]:
    """Modules imported by the statements of ``body`` themselves (not inside functions or
    classes, where an import runs only when called)."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Import):
                names.update(alias.name for alias in sub.names)
            elif isinstance(sub, ast.ImportFrom) and not sub.level:
                names.add(sub.module or "")
    return names
