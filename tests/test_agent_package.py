"""The agent package as it ships: standard library only, Python 3.8 syntax, one zipapp named
by its content, running on the oldest Python here."""

from __future__ import annotations

import ast
import glob
import io
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import setuptools

from rtui.core.remote.bundle import PACKAGE, agent_bundle, agent_sources, build_bundle

ROOT = Path(__file__).resolve().parents[1]
AGENT_DIR = ROOT / "rtui" / "agent"


def _python_version(python: str) -> tuple[int, ...]:
    out = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"],
                         capture_output=True, text=True, timeout=30)
    return tuple(json.loads(out.stdout.replace("(", "[").replace(")", "]") or "[]"))


def _oldest_supported_python() -> str:
    """The oldest real Python >= 3.8 here (3.8 if found; pyenv shims break under a throwaway
    HOME, so the interpreters themselves)."""
    found = {sys.executable, *glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")),
             *glob.glob("/usr/bin/python3.*")}
    versions = {p: _python_version(p) for p in found
                if "shims" not in p and os.access(p, os.X_OK) and not p.endswith("-config")}
    usable = {p: v for p, v in versions.items() if v >= (3, 8)}
    return min(usable, key=lambda p: usable[p])


def _modules() -> list[Path]:
    return sorted(AGENT_DIR.glob("*.py"))


def test_the_bundle_name_follows_its_content() -> None:
    sources = agent_sources()
    assert set(sources) == {p.name for p in _modules()}
    first, again = build_bundle(sources), build_bundle(dict(sources))
    assert first == again == agent_bundle()  # stable: same sources, same bytes, same name
    assert agent_bundle() is agent_bundle()  # built once per process
    assert first.name.startswith("agent-1-") and first.name.endswith(".pyz")
    changed = build_bundle(dict(sources, **{"probe.py": sources["probe.py"] + b"\n# new\n"}))
    assert changed.name != first.name and changed.data != first.data
    renamed = build_bundle({("paths2.py" if k == "paths.py" else k): v
                            for k, v in sources.items()})
    assert renamed.name != first.name


def test_the_bundle_is_a_deterministic_zipapp() -> None:
    with zipfile.ZipFile(io.BytesIO(agent_bundle().data)) as archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names)
        assert "__main__.py" in names
        assert {n for n in names if n.startswith(PACKAGE + "/")} == {
            f"{PACKAGE}/{p.name}" for p in _modules()}
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        for path in _modules():  # what runs on the host is the source, byte for byte
            assert archive.read(f"{PACKAGE}/{path.name}") == path.read_bytes()


def test_agent_modules_parse_as_python_38() -> None:
    for path in _modules():
        ast.parse(path.read_text(), str(path), feature_version=(3, 8))


def test_agent_modules_import_only_the_standard_library() -> None:
    """Every module of rtui/agent, walked with ast: stdlib or the package itself (relative),
    never rtui nor a third-party package; none imports at run time what only typing needs.
    The one exception is pyzmq in the keeper, inside a function: the keeper runs in the
    kernel's own Python (which has it), in its own process (tests/test_import_hygiene.py)."""
    allowed = set(sys.stdlib_module_names) | {"__future__"}
    for path in _modules():
        tree = ast.parse(path.read_text(), str(path))
        inside = {id(node) for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef)
                  for node in ast.walk(fn)}
        for node in ast.walk(tree):
            if (path.name == "keeper.py" and isinstance(node, ast.Import) and id(node) in inside
                    and [alias.name for alias in node.names] == ["zmq"]):
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: within the agent package
                    continue
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top != "rtui", f"{path.name}:{node.lineno} imports {name}"
                assert top in allowed, f"{path.name}:{node.lineno} imports {name}"


def test_the_agent_ships_in_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    assert "rtui.agent" in setuptools.find_packages(str(ROOT), include=include)
    assert {p.suffix for p in AGENT_DIR.iterdir() if p.is_file()} == {".py"}  # no data files


@pytest.mark.parametrize("python", [_oldest_supported_python()])
def test_the_bundle_runs_on_the_oldest_python(python: str, tmp_path: Path) -> None:
    built = agent_bundle()
    pyz = tmp_path / built.name
    pyz.write_bytes(built.data)
    env = dict(os.environ, HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"))
    proc = subprocess.Popen([python, "-u", str(pyz)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        ready = json.loads(proc.stdout.readline() or "{}")
        assert ready.get("event") == "ready", proc.stderr.read() if proc.stderr else ""
        assert tuple(int(n) for n in ready["data"]["python_version"].split(".")[:2]) == \
            _python_version(python)
        replies = {}
        for request in ({"id": 1, "op": "envs", "args": {"extra": [sys.executable]}},
                        {"id": 2, "op": "list"}):
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            reply = json.loads(proc.stdout.readline())
            assert reply["id"] == request["id"] and reply["ok"], reply
            replies[reply["id"]] = reply["result"]
        assert any(e["python"] == sys.executable and e["ipykernel"] for e in replies[1]["envs"])
        assert replies[2]["kernels"] == []
    finally:
        proc.stdin.close()
        assert proc.wait(30) == 0
