"""Setting up rtui's own environment on the host: a venv, its pip, the kernel packages.

A set-up that fails removes what it made (the venv and the directories made for it), so no
half-made environment is left to be listed, or reused by the next set-up. One failure keeps
it: ``no_index``, after which the caller brings wheels (a second ``setup``, which finishes
the venv or removes it) or gives up (``discard_setup``). Until a set-up finishes, the venv
carries a marker naming its base Python.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections import deque

from .envs import check_python
from .paths import default_venv, remove
from .probe import ask
from .protocol import OpError, arg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .protocol import Progress

_NET_RE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Connection refused|"
    r"Max retries exceeded|Temporary failure in name resolution|Name or service not known|"
    r"nodename nor servname|Network is unreachable|No route to host|ConnectTimeoutError|"
    r"ReadTimeoutError|ProxyError|SSLError|Could not fetch URL|timed out"
)

UNFINISHED = ".rtui-setup-unfinished"  # in a venv whose set-up has not finished yet
_venv_locks: dict[str, threading.Lock] = {}
_venv_locks_guard = threading.Lock()


def _stream(cmd: list[str], progress: Progress,
            estimate: Callable[[str], float] | None = None) -> tuple[int, list[str]]:
    """Run ``cmd``, sending each output line as progress; (returncode, last lines)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PIP_NO_INPUT="1", PIP_USER="0")
    for var in ("PIP_TARGET", "PIP_PREFIX", "PIP_ROOT"):  # install into the venv, nowhere else
        env.pop(var, None)
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
    except OSError as e:
        raise OpError("not_found", f"cannot run {cmd[0]}: {e.strerror}") from None
    lines: deque[str] = deque(maxlen=80)
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace").rstrip()
        if line:
            lines.append(line)
            progress(line, estimate(line) if estimate else None)
    return proc.wait(), list(lines)


class _PipProgress:
    """A rough, monotonic fraction from pip's output."""

    def __init__(self) -> None:
        self.seen = 0
        self.fraction = 0.0

    def __call__(self, line: str) -> float:
        s = line.lstrip()
        if s.startswith(("Collecting", "Processing", "Requirement already satisfied")):
            self.seen += 1
            self.fraction = max(self.fraction, 0.6 * self.seen / (self.seen + 8))
        elif s.startswith("Installing collected packages"):
            self.fraction = max(self.fraction, 0.7)
        elif s.startswith("Successfully installed"):
            self.fraction = 1.0
        return round(self.fraction, 3)


def _last_error(lines: list[str]) -> str:
    errors = [ln for ln in lines if ln.startswith("ERROR") or "Error" in ln]
    return (errors or lines or ["no output"])[-1].strip()


def _no_index_message(lines: list[str]) -> str:
    text = "\n".join(lines)
    reason = next((r for r in ("Connection refused", "Name or service not known",
                               "Temporary failure in name resolution", "Network is unreachable",
                               "No route to host", "timed out", "SSLError", "ProxyError")
                   if r in text), "no connection")
    index = next((ln.split(":", 1)[1].strip() for ln in lines
                  if ln.startswith("Looking in indexes:")), "PyPI")
    return (f"pip could not reach the package index {index} ({reason}); "
            "rtui can upload wheels from your machine instead")


def _missing_dirs(path: str) -> list[str]:
    """``path`` and its ancestors that do not exist yet, outermost first."""
    missing: list[str] = []
    while path and not os.path.exists(path):
        missing.insert(0, path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def _unfinished_base(venv: str) -> str | None:
    """The base Python of an unfinished set-up of ``venv`` (None: none is unfinished)."""
    try:
        with open(os.path.join(venv, UNFINISHED)) as f:
            return str(json.load(f)["base"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _discard(made: list[str]) -> None:
    """Remove what a set-up made: the venv (``made[-1]``), then the directories made for it
    while they are empty."""
    shutil.rmtree(made[-1], ignore_errors=True)
    for directory in reversed(made[:-1]):
        try:
            os.rmdir(directory)
        except OSError:
            break


def _create_venv(base: str, venv: str, progress: Progress) -> None:
    if os.path.isdir(venv) and os.listdir(venv) and not os.path.exists(
            os.path.join(venv, "pyvenv.cfg")):
        raise OpError("bad_args", f"{venv} exists and is not a virtual environment; "
                      "choose another path")
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    progress(f"creating virtual environment {venv} with {base}", 0.0)
    rc, _ = _stream([base, "-m", "venv", venv], progress)
    if rc:
        progress("venv with pip failed (ensurepip missing?); retrying without pip", 0.02)
        rc, lines = _stream([base, "-m", "venv", "--without-pip", venv], progress)
        if rc:
            raise OpError("venv_failed", f"{base} -m venv {venv} failed: {_last_error(lines)}")
    with open(os.path.join(venv, UNFINISHED), "w") as f:
        json.dump({"base": os.path.realpath(base)}, f)


def _has_pip(vpy: str) -> bool:
    try:
        return subprocess.run([vpy, "-m", "pip", "--version"], capture_output=True,
                              timeout=60, stdin=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _version_key(path: str) -> tuple[int, ...]:
    m = re.match(r"pip-([0-9.]+)", os.path.basename(path))
    return tuple(int(x) for x in m.group(1).strip(".").split(".") if x.isdigit()) if m else ()


def _bootstrap_pip(vpy: str, base: str, wheels: str | None, progress: Progress) -> None:
    """Give a pip-less venv its pip: from a pip wheel in ``wheels``, else ensurepip."""
    found = sorted(glob.glob(os.path.join(wheels, "pip-*.whl")), key=_version_key) if wheels else []
    if found:
        whl = found[-1]
        progress(f"bootstrapping pip from {os.path.basename(whl)}", 0.03)
        rc, lines = _stream([vpy, os.path.join(whl, "pip"), "install", "--no-index",
                             "--disable-pip-version-check", whl], progress)
        if rc:
            raise OpError("pip_failed", f"installing pip from {whl} failed: {_last_error(lines)}")
        return
    rc, _ = _stream([vpy, "-m", "ensurepip", "--default-pip"], progress)
    if rc:
        raise OpError("no_pip", f"{base} has no ensurepip, so the new venv has no pip: install "
                      "python3-venv (e.g. 'sudo apt install python3-venv') or let rtui upload "
                      "wheels from your machine")


def op_setup(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    base = check_python(arg(args, "base_python", str, sys.executable))
    venv = os.path.abspath(os.path.expanduser(arg(args, "venv", str, default_venv())))
    packages = arg(args, "packages", list, ["ipykernel"])
    wheels = arg(args, "wheels_dir", str, None)
    index_timeout = arg(args, "index_timeout", (int, float), 15)
    if not packages or not all(isinstance(p, str) and p for p in packages):
        raise OpError("bad_args", "packages must be a non-empty list of requirement strings")
    if wheels is not None:
        wheels = os.path.expanduser(wheels)
        if not os.path.isdir(wheels):
            raise OpError("bad_args", f"wheels_dir {wheels} is not a directory")
    with _venv_lock(venv):
        vpy = os.path.join(venv, "bin", "python")
        made = _missing_dirs(venv)  # what this set-up makes, removed if it fails
        unfinished = _unfinished_base(venv)
        if unfinished is not None:  # an earlier set-up did not finish: this one does, or
            made = [venv]           # removes it (it starts again from another base Python)
            if unfinished != os.path.realpath(base):
                shutil.rmtree(venv)
        try:
            if not os.path.exists(vpy):
                _create_venv(base, venv, progress)
            info = _install(vpy, base, packages, wheels, index_timeout, bool(args.get("upgrade")),
                            progress)
        except BaseException as e:
            if made and not (isinstance(e, OpError) and e.type == "no_index"):
                _discard(made)
            raise
        remove(os.path.join(venv, UNFINISHED))
    return {"python": vpy, "venv": venv, "version": info.get("version"),
            "ipykernel": info.get("ipykernel"), "spyder_kernels": info.get("spyder_kernels")}


def _venv_lock(venv: str) -> threading.Lock:
    """One set-up of a venv at a time."""
    with _venv_locks_guard:
        return _venv_locks.setdefault(venv, threading.Lock())


def _install(vpy: str, base: str, packages: list[str], wheels: str | None,
             index_timeout: float, upgrade: bool, progress: Progress) -> dict[str, Any]:
    """pip (when the venv has none), then ``packages``; what the venv's Python is then."""
    if not _has_pip(vpy):
        _bootstrap_pip(vpy, base, wheels, progress)
    cmd = [vpy, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    if upgrade:
        cmd.append("--upgrade")
    if wheels:
        cmd += ["--no-index", "--find-links", wheels]
    else:
        cmd += ["--timeout", str(index_timeout), "--retries", "1"]
    rc, lines = _stream(cmd + packages, progress, _PipProgress())
    if rc:
        if not wheels and _NET_RE.search("\n".join(lines)):
            raise OpError("no_index", _no_index_message(lines))
        raise OpError("pip_failed", f"pip install {' '.join(packages)} failed: "
                      f"{_last_error(lines)}")
    return ask(vpy, 60)


def op_discard_setup(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The caller gives up a set-up that stopped at ``no_index``: remove its unfinished venv
    (a venv whose set-up finished is left alone)."""
    venv = os.path.abspath(os.path.expanduser(arg(args, "venv", str, default_venv())))
    with _venv_lock(venv):
        removed = _unfinished_base(venv) is not None
        if removed:
            shutil.rmtree(venv, ignore_errors=True)
    return {"venv": venv, "removed": removed}
