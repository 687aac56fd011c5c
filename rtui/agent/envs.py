"""Finding a host's Pythons: the one list of candidates (configured ones, rtui's venv, conda
envs, venvs, PATH) that both the agent's ``envs`` and the host check report, each asked what it
is (``probe``, cached) and listed once per environment."""

from __future__ import annotations

import glob
import json
import os
import time

from .paths import cache_dir, default_venv, envs_dir, private_dir, read_json, real, write_json
from .probe import ask_all, stamp
from .protocol import OpError, arg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .protocol import Progress

VENV_GLOBS = (
    "~/.venvs/*", "~/venvs/*", "~/.virtualenvs/*", "~/.local/share/virtualenvs/*", "~/envs/*",
    "~/.pyenv/versions/*", "~/.pyenv/versions/*/envs/*", "~/.venv",
)
ENV_MARKER = ".rtui-env.json"  # in an environment rtui created: how (env_create)
ENV_UNFINISHED = ".rtui-unfinished"  # in one whose create has not finished
UNFINISHED_ERROR = ("unfinished: its create is running or was interrupted (a new create of "
                    "this name replaces it)")
SIZES_BUDGET = 3.0  # seconds a listing spends on sizes at most
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


def which(name: str) -> str | None:
    """The first executable ``name`` on PATH (shutil.which's answer for a bare name, without
    importing shutil: the host check runs this on every host it checks)."""
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(directory or ".", name)
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
    found = which(python)
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
    exes = [which(n) for n in ("conda", "mamba", "micromamba")]
    exes += [os.environ.get("CONDA_EXE"), os.environ.get("MAMBA_EXE")]
    prefixes = []
    for root in CONDA_ROOTS:
        root = os.path.expanduser(root)
        exes += [os.path.join(root, "bin", n) for n in ("conda", "mamba", "micromamba")]
        if os.path.isdir(os.path.join(root, "conda-meta")):
            prefixes.append(root)
        prefixes += sorted(glob.glob(os.path.join(root, "envs", "*")))
    tools = list({real(e): e for e in exes if e and os.access(e, os.X_OK)}.values())
    if tools:
        prefixes += _conda_env_lists(tools)
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


def _conda_env_lists(exes: list[str]) -> list[str]:
    """The prefixes ``conda env list`` gives for each of ``exes``; kept on the host while the
    tool and conda's lists of environments are unchanged (conda starts slowly, and the check
    runs this on every host it checks)."""
    path = os.path.join(cache_dir(), "conda-envs-v1.json")
    cache = read_json(path)
    cache = cache if isinstance(cache, dict) else {}
    watch = [os.path.expanduser(p) for p in ("~/.conda/environments.txt", "~/.condarc")]
    watch += [os.path.join(os.path.expanduser(root), "envs") for root in CONDA_ROOTS]
    out: list[str] = []
    changed = False
    for exe in exes:
        now = stamp([exe, *watch])
        entry = cache.get(exe)
        if not (isinstance(entry, dict) and entry.get("stamp") == now):
            import subprocess

            try:
                said = subprocess.run([exe, "env", "list", "--json"], capture_output=True,
                                      text=True, timeout=10, stdin=subprocess.DEVNULL).stdout
                entry = {"stamp": now, "envs": [str(p) for p in json.loads(said).get("envs", [])]}
            except (OSError, ValueError, AttributeError, subprocess.SubprocessError):
                entry = {"stamp": None, "envs": []}
            cache[exe] = entry
            changed = True
        out += entry["envs"]
    if changed:
        try:
            write_json(os.path.join(private_dir(cache_dir()), "conda-envs-v1.json"), cache)
        except OSError:
            pass
    return out


def find_python(name: str) -> str | None:
    """What the shell's ``command -v`` finds for ``name`` (``~`` expanded; an environment's
    directory: its interpreter): a path as given, else the first executable on PATH."""
    try:
        return check_python(name)
    except OpError:
        return None


def _candidates(extra: list[Any]) -> list[dict[str, Any]]:
    """Interpreters to probe, most specific kind first, deduplicated."""
    out: list[dict[str, Any]] = []

    # pyenv's shims are shell scripts in front of the interpreters listed on their own
    # (PYENV_ROOT/versions/*): each costs a slow probe and shows a duplicate. (Other shims,
    # asdf's or mise's, are kept: their installs are not searched.)
    pyenv_shims = os.path.join(
        os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv"), "shims")

    seen: dict[tuple[str, str], dict[str, Any]] = {}

    def add(python: str | None, kind: str, name: str, error: str | None = None,
            given: str | None = None) -> None:
        if python and kind != "configured" and os.path.dirname(python) == pyenv_shims:
            return
        if python:
            key = ("missing", python) if error else _env_key(python)
            if key not in seen:
                seen[key] = {"python": python, "kind": kind, "name": name, "error": error,
                             "given": []}
                out.append(seen[key])
            if given is not None:  # what the configured name finds here
                seen[key]["given"].append(given)

    for item in extra:
        py = find_python(str(item))
        if py:
            add(py, "configured", _env_name(py), given=str(item))
        else:
            path = os.path.abspath(os.path.expanduser(str(item)))
            add(path, "configured", str(item), f"{path}: no Python interpreter there")
    add(interpreter_in(default_venv()), "rtui", "rtui")
    for prefix, name in _conda_envs():
        add(interpreter_in(prefix), "conda", name)
    for prefix in sorted(glob.glob(os.path.join(glob.escape(envs_dir()), "*"))):
        _add_created(prefix, add)
    patterns = list(VENV_GLOBS)
    if os.environ.get("WORKON_HOME"):
        patterns.append(os.path.join(os.environ["WORKON_HOME"], "*"))
    if os.environ.get("PYENV_ROOT"):
        patterns.append(os.path.join(os.environ["PYENV_ROOT"], "versions", "*"))
    for pattern in patterns:
        for prefix in sorted(glob.glob(os.path.expanduser(pattern))):
            add(interpreter_in(prefix), "venv", os.path.basename(prefix))
    for name in ("python3", "python"):
        add(which(name), "path", name)
    for d in os.environ.get("PATH", "").split(os.pathsep):
        for name in _versioned_pythons(d or "."):
            py = os.path.join(d or ".", name)
            if os.access(py, os.X_OK):
                add(py, "path", name)
    return out


def _add_created(prefix: str, add: Callable[..., None]) -> None:
    """One of rtui's environments (in envs_dir()), also when it is unfinished or broken: an
    unusable one is listed with the reason, so that it can be removed."""
    python = os.path.join(prefix, "bin", "python")
    name = os.path.basename(prefix)
    if os.path.exists(os.path.join(prefix, ENV_UNFINISHED)):
        add(python, "venv", name, UNFINISHED_ERROR)
    elif interpreter_in(prefix):
        add(interpreter_in(prefix), "venv", name)
    elif os.path.exists(os.path.join(prefix, "pyvenv.cfg")):
        add(python, "venv", name, f"broken: {broken_reason(prefix)}")


def broken_reason(prefix: str) -> str:
    """Why the environment at ``prefix`` has no interpreter that runs."""
    python = os.path.join(prefix, "bin", "python")
    if os.path.islink(python):
        return (f"its Python is gone ({python} points to {os.readlink(python)}, which no longer "
                "exists); remove the environment and create it again")
    return f"it has no Python ({python} is missing); remove it and create it again"


def env_prefix(python: str) -> str | None:
    """The environment (venv or conda) ``python`` belongs to; None for a base interpreter."""
    path = os.path.abspath(os.path.expanduser(python))
    prefix = path if os.path.isdir(path) else os.path.dirname(os.path.dirname(path))
    for mark in ("pyvenv.cfg", "conda-meta"):
        if os.path.exists(os.path.join(prefix, mark)):
            return prefix
    return None


def env_marker(prefix: str) -> dict[str, Any] | None:
    """The marker rtui wrote when it created the environment at ``prefix`` (None: it did not)."""
    marker = read_json(os.path.join(prefix, ENV_MARKER))
    return marker if isinstance(marker, dict) else None


def env_tool(prefix: str) -> str | None:
    """What made the environment: the marker's word, else uv when pyvenv.cfg names it, else
    venv for any other virtual environment."""
    marker = env_marker(prefix)
    if marker and isinstance(marker.get("tool"), str):
        return str(marker["tool"])
    try:
        with open(os.path.join(prefix, "pyvenv.cfg")) as f:
            keys = [line.split("=", 1)[0].strip() for line in f]
    except (OSError, UnicodeDecodeError):
        return None
    return "uv" if "uv" in keys else "venv"


def tree_size(root: str, deadline: float) -> int | None:
    """Bytes the files under ``root`` take on disk (each inode once, links not followed);
    None when the walk passes ``deadline`` (time.monotonic())."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        if time.monotonic() > deadline:
            return None
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    if st.st_nlink > 1 and not entry.is_dir(follow_symlinks=False):
                        if (st.st_dev, st.st_ino) in seen:
                            continue
                        seen.add((st.st_dev, st.st_ino))
                    blocks = getattr(st, "st_blocks", None)
                    total += blocks * 512 if blocks is not None else st.st_size
        except OSError:
            continue
    return total


def describe(entry: dict[str, Any], deadline: float | None = None) -> dict[str, Any]:
    """``entry`` (a listed environment) with what rtui knows of it: its prefix, whether rtui
    created it (``managed``), the tool that did, and its size when a ``deadline`` is given."""
    given = entry.get("prefix")
    prefix = (env_prefix(given) if given else None) or env_prefix(entry["python"])
    if prefix and not given:  # one that did not answer (broken, unfinished): where it is
        entry["prefix"] = prefix
    entry["managed"] = bool(prefix and env_marker(prefix))
    entry["tool"] = env_tool(prefix) if prefix else None
    if deadline is not None:
        entry["size"] = tree_size(prefix, deadline) if prefix else None
    return entry


def _versioned_pythons(directory: str) -> list[str]:
    """``python3.X`` names in ``directory`` (a listing and string tests: /usr/bin is large,
    and glob's pattern matching over it was most of a check's time on the host)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(n for n in names if n.startswith("python3.") and n[8:].isdigit())


def _env_name(python: str) -> str:
    bindir = os.path.dirname(os.path.abspath(python))
    if os.path.basename(bindir) == "bin" and os.path.dirname(bindir) not in ("/usr", "/"):
        return os.path.basename(os.path.dirname(bindir))
    return python


def discover(extra: list[Any], timeout: float) -> list[dict[str, Any]]:
    """The host's environments: each candidate with its version and kernel packages, or the
    error that kept it from answering; one interpreter found under two spellings (wrappers,
    links into one environment) is listed under the first."""
    cands = _candidates(extra)
    answers = ask_all([c["python"] for c in cands if not c["error"]], timeout)
    envs: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for c in cands:
        entry = dict(c, version=None, ipykernel=None, spyder_kernels=None, prefix=None)
        answer = answers.get(c["python"]) if not c["error"] else None
        if isinstance(answer, OpError):
            entry["error"] = answer.message
        elif answer is not None:
            for field in ("version", "ipykernel", "spyder_kernels", "prefix"):
                entry[field] = answer.get(field)
            key = (real(answer.get("executable") or c["python"]), entry["prefix"] or "")
            if key in seen:
                seen[key]["given"] += entry["given"]
                continue
            seen[key] = entry
        envs.append(entry)
    return envs


def op_envs(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    extra = arg(args, "extra", list, [], of=str)
    timeout = arg(args, "timeout", (int, float), 20)
    sizes = arg(args, "sizes", bool, False)
    envs = discover(extra, timeout)
    deadline = time.monotonic() + SIZES_BUDGET if sizes else None
    for entry in envs:
        del entry["given"]  # the check's concern
        describe(entry, deadline)
    return {"envs": envs}
