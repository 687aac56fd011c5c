"""Setting up rtui's own environment on the host: a venv, its pip, the kernel packages.

A set-up that fails removes what it made (the venv and the directories made for it), so no
half-made environment is left to be listed, or reused by the next set-up. One failure keeps
it: ``no_index``, after which the caller brings wheels (a second ``setup``, which finishes
the venv or removes it) or gives up (``discard_setup``). Until a set-up finishes, the venv
carries a marker naming its base Python.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading

from .envs import check_python
from .installs import (
    NET_RE,
    PipProgress,
    bootstrap_pip,
    discard,
    has_pip,
    last_error,
    make_venv,
    no_index_message,
    stream,
)
from .paths import default_venv, missing_dirs, private_dir, remove
from .probe import ask
from .protocol import OpError, arg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .protocol import Progress

UNFINISHED = ".rtui-setup-unfinished"  # in a venv whose set-up has not finished yet
_venv_locks: dict[str, threading.Lock] = {}
_venv_locks_guard = threading.Lock()


def _unfinished_base(venv: str) -> str | None:
    """The base Python of an unfinished set-up of ``venv`` (None: none is unfinished)."""
    try:
        with open(os.path.join(venv, UNFINISHED)) as f:
            return str(json.load(f)["base"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _create_venv(base: str, venv: str, progress: Progress) -> None:
    if os.path.isdir(venv) and os.listdir(venv) and not os.path.exists(
            os.path.join(venv, "pyvenv.cfg")):
        raise OpError("bad_args", f"{venv} exists and is not a virtual environment; "
                      "choose another path")
    private_dir(os.path.dirname(venv))
    make_venv(base, venv, progress)  # a pip-less one gets pip in _install
    with open(os.path.join(venv, UNFINISHED), "w") as f:
        json.dump({"base": os.path.realpath(base)}, f)


def op_setup(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    base = check_python(arg(args, "base_python", str, sys.executable))
    venv = os.path.abspath(os.path.expanduser(arg(args, "venv", str, default_venv())))
    packages = arg(args, "packages", list, ["ipykernel"], of=str)
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
        made = missing_dirs(venv)  # what this set-up makes, removed if it fails
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
                discard(made)
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
    if not has_pip(vpy):
        bootstrap_pip(vpy, base, wheels, progress)
    cmd = [vpy, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    if upgrade:
        cmd.append("--upgrade")
    if wheels:
        cmd += ["--no-index", "--find-links", wheels]
    else:
        cmd += ["--timeout", str(index_timeout), "--retries", "1"]
    rc, lines = stream(cmd + packages, progress, PipProgress())
    if rc:
        if not wheels and NET_RE.search("\n".join(lines)):
            raise OpError("no_index", no_index_message(lines))
        raise OpError("pip_failed", f"pip install {' '.join(packages)} failed: "
                      f"{last_error(lines)}")
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
