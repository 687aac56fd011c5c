"""Finding a host's Pythons: configured ones, rtui's venv, conda, venvs, PATH; each asked once."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

from .paths import default_venv, real
from .probe import ask
from .protocol import OpError, arg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .protocol import Progress

VENV_GLOBS = (
    "~/.venvs/*", "~/venvs/*", "~/.virtualenvs/*", "~/.local/share/virtualenvs/*", "~/envs/*",
    "~/.pyenv/versions/*", "~/.pyenv/versions/*/envs/*", "~/.venv",
)
CONDA_ROOTS = (
    "~/miniconda3", "~/anaconda3", "~/miniforge3", "~/mambaforge", "~/micromamba",
    "/opt/conda", "/opt/miniconda3", "/opt/anaconda3", "/opt/miniforge3",
)


def interpreter_in(prefix: str) -> str | None:
    """The interpreter of the environment at ``prefix``, if it has one."""
    for rel in ("bin/python", "bin/python3"):
        path = os.path.join(prefix, rel)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def check_python(python: str) -> str:
    """The interpreter ``python`` names (a path, an environment's directory or a name on
    PATH); ``not_found`` when there is none."""
    python = os.path.expanduser(python)
    if os.path.isdir(python):  # an environment named by its directory
        python = interpreter_in(python) or python
    if os.sep in python:
        if not (os.path.isfile(python) and os.access(python, os.X_OK)):
            raise OpError("not_found", f"python {python} does not exist or is not executable")
        return python
    found = shutil.which(python)
    if not found:
        raise OpError("not_found", f"{python} is not on PATH")
    return found


def _env_key(python: str) -> tuple[str, str]:
    """A venv is its own env even when bin/python links to the base interpreter."""
    prefix = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    if os.path.exists(os.path.join(prefix, "pyvenv.cfg")):
        return ("venv", real(prefix))
    return ("exe", real(python))


def _conda_envs() -> list[tuple[str, str]]:
    """(prefix, name) of conda/mamba/micromamba envs; nothing when none is installed."""
    exes = [shutil.which(n) for n in ("conda", "mamba", "micromamba")]
    exes += [os.environ.get("CONDA_EXE"), os.environ.get("MAMBA_EXE")]
    prefixes = []
    for root in CONDA_ROOTS:
        root = os.path.expanduser(root)
        exes += [os.path.join(root, "bin", n) for n in ("conda", "mamba", "micromamba")]
        if os.path.isdir(os.path.join(root, "conda-meta")):
            prefixes.append(root)
        prefixes += sorted(glob.glob(os.path.join(root, "envs", "*")))
    exes = list({real(e): e for e in exes if e and os.access(e, os.X_OK)}.values())

    def env_list(exe: str) -> list[str]:
        try:
            out = subprocess.run([exe, "env", "list", "--json"], capture_output=True, text=True,
                                 timeout=10, stdin=subprocess.DEVNULL).stdout
            return [str(p) for p in json.loads(out).get("envs", [])]
        except (OSError, ValueError, AttributeError, subprocess.SubprocessError):
            return []

    if exes:
        with ThreadPoolExecutor(max_workers=len(exes)) as pool:
            for found in pool.map(env_list, exes):
                prefixes += found
    try:
        with open(os.path.expanduser("~/.conda/environments.txt")) as f:
            prefixes += [ln.strip() for ln in f if ln.strip()]
    except OSError:
        pass
    out, seen = [], set()
    for p in prefixes:
        if real(p) not in seen and os.path.isdir(p):
            seen.add(real(p))
            base = os.path.isdir(os.path.join(p, "envs")) and os.path.isdir(
                os.path.join(p, "conda-meta"))
            out.append((p, "base" if base else os.path.basename(p.rstrip("/"))))
    return out


def _candidates(extra: list[Any]) -> list[dict[str, Any]]:
    """Interpreters to probe, most specific kind first, deduplicated."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()

    # pyenv's shims are shell scripts in front of the interpreters listed on their own
    # (PYENV_ROOT/versions/*): each costs a slow probe and shows a duplicate. (Other shims,
    # asdf's or mise's, are kept: their installs are not searched.)
    pyenv_shims = os.path.join(
        os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv"), "shims")

    def add(python: str | None, kind: str, name: str, error: str | None = None) -> None:
        if python and kind != "configured" and os.path.dirname(python) == pyenv_shims:
            return
        if python:
            key = ("missing", python) if error else _env_key(python)
            if key not in seen:
                seen.add(key)
                out.append({"python": python, "kind": kind, "name": name, "error": error})

    for item in extra:
        path = os.path.abspath(os.path.expanduser(str(item)))
        py = interpreter_in(path) if os.path.isdir(path) else path
        if py and os.path.isfile(py):
            add(py, "configured", _env_name(py))
        else:
            add(path, "configured", str(item), f"{path}: no Python interpreter there")
    add(interpreter_in(default_venv()), "rtui", "rtui")
    for prefix, name in _conda_envs():
        add(interpreter_in(prefix), "conda", name)
    patterns = list(VENV_GLOBS)
    if os.environ.get("WORKON_HOME"):
        patterns.append(os.path.join(os.environ["WORKON_HOME"], "*"))
    if os.environ.get("PYENV_ROOT"):
        patterns.append(os.path.join(os.environ["PYENV_ROOT"], "versions", "*"))
    for pattern in patterns:
        for prefix in sorted(glob.glob(os.path.expanduser(pattern))):
            add(interpreter_in(prefix), "venv", os.path.basename(prefix))
    for name in ("python3", "python"):
        add(shutil.which(name), "path", name)
    for d in os.environ.get("PATH", "").split(os.pathsep):
        for py in sorted(glob.glob(os.path.join(d or ".", "python3.[0-9]*"))):
            if re.search(r"python3\.\d+$", py) and os.access(py, os.X_OK):
                add(py, "path", os.path.basename(py))
    return out


def _env_name(python: str) -> str:
    bindir = os.path.dirname(os.path.abspath(python))
    if os.path.basename(bindir) == "bin" and os.path.dirname(bindir) not in ("/usr", "/"):
        return os.path.basename(os.path.dirname(bindir))
    return python


def op_envs(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    extra = arg(args, "extra", list, [])
    timeout = arg(args, "timeout", (int, float), 20)
    cands = _candidates(extra)

    def probe(c: dict[str, Any]) -> dict[str, Any]:
        entry = dict(c, version=None, ipykernel=None, spyder_kernels=None, prefix=None)
        if not c["error"]:
            try:
                info = ask(c["python"], timeout)
                for key in ("version", "ipykernel", "spyder_kernels", "prefix", "executable"):
                    entry[key] = info.get(key)
            except OpError as e:
                entry["error"] = e.message
        return entry

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(cands)))) as pool:
        probed = list(pool.map(probe, cands))
    envs, seen = [], set()
    for e in probed:  # two spellings of one interpreter (wrappers, links): keep the first
        key = (real(e.pop("executable", None) or e["python"]), e["prefix"] or "")
        if e["error"] or key not in seen:
            seen.add(key)
            envs.append(e)
    return {"envs": envs}
