"""Finding a host's Pythons: the one list of candidates (configured ones, rtui's venv, conda
envs, venvs, PATH) that both the agent's ``envs`` and the host check report, each asked what it
is (``probe``, cached) and listed once per environment."""

from __future__ import annotations

import glob
import json
import os

from .paths import cache_dir, default_venv, private_dir, read_json, real, write_json
from .probe import ask_all, stamp
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
    extra = arg(args, "extra", list, [])
    timeout = arg(args, "timeout", (int, float), 20)
    envs = discover(extra, timeout)
    for entry in envs:
        del entry["given"]  # the check's concern
    return {"envs": envs}
