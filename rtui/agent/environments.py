"""The environments rtui makes on the host (``envs_dir()/NAME``), with venv + pip or with uv,
and the changes it makes to environments: create, install, uninstall, upgrade, remove.

A create leaves a whole environment or nothing: the directory holds ``.rtui-unfinished``
(locked while its create runs) from the first moment, and ``.rtui-env.json`` (0600, how it was
made) only once everything is in; any failure or a cancel removes the directory. What an
environment holds is listed (and exported) by env_packages.py.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import sys
import threading
import time
import zipfile

from .env_packages import env_python, list_packages, requirements_file
from .envs import (
    ENV_MARKER,
    ENV_UNFINISHED,
    check_python,
    describe,
    env_marker,
    env_prefix,
    env_tool,
)
from .installs import (
    PipProgress,
    UvProgress,
    bootstrap_pip,
    child_env,
    discard,
    failure,
    find_uv,
    has_pip,
    kill_children,
    make_venv,
    stream,
    uv_env,
    uv_version,
)
from .paths import (
    envs_dir,
    home,
    missing_dirs,
    private_dir,
    real,
    remove,
    state_dir,
    write_json,
)
from .probe import ask
from .protocol import OpError, arg, on_exit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .protocol import Progress

_creating: set[str] = set()  # the prefixes of creates running now
_creating_lock = threading.Lock()
_claim_lock = threading.Lock()


def _discard_unfinished() -> None:
    """The agent is leaving (its link dropped, or rtui quit) during creates: stop their
    installs and remove what they made, as a failed create does."""
    kill_children()
    with _creating_lock:
        prefixes = list(_creating)
    for prefix in prefixes:
        shutil.rmtree(prefix, ignore_errors=True)


on_exit(_discard_unfinished)

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_UV_SCRIPT_RE = re.compile(r"[^/]+\.data/scripts/uv\Z")


# ---------------------------------------------------------------- uv on the host

def op_env_tools(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    uv, version = find_uv()
    return {"uv": uv, "uv_version": version}


def op_uv_install(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Put the uv binary of an uploaded uv wheel at ``<state_dir>/bin/uv``."""
    wheel = os.path.expanduser(arg(args, "wheel", str))
    if not os.path.isfile(wheel):
        raise OpError("not_found", f"no uv wheel at {wheel}")
    dest = os.path.join(state_dir(), "bin", "uv")
    tmp = f"{dest}.{os.getpid()}.tmp"
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = [i for i in archive.infolist() if _UV_SCRIPT_RE.match(i.filename)]
            if not members:
                raise OpError("bad_args", f"{wheel} holds no uv binary (*.data/scripts/uv)")
            private_dir(os.path.dirname(dest))
            progress(f"unpacking {members[0].filename} from {os.path.basename(wheel)}", 0.1)
            with archive.open(members[0]) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        os.chmod(tmp, 0o755)
        version = uv_version(tmp)
        if not version:
            raise OpError("uv_failed", f"the uv in {os.path.basename(wheel)} does not run on this "
                          "host (a wheel for another platform?)")
        os.replace(tmp, dest)
    except zipfile.BadZipFile as e:
        raise OpError("bad_args", f"{wheel} is not a wheel: {e}") from None
    except OSError as e:
        raise _os_error(e, f"installing uv from {wheel}") from None
    finally:
        remove(tmp)
    return {"uv": dest, "uv_version": version}


# ---------------------------------------------------------------- arguments

def _os_error(e: OSError, what: str) -> OpError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return OpError("disk_full", f"the host's disk is full: {what} stopped ({e.strerror})")
    return OpError("os_error", f"{what} failed: {e.strerror or e}")


def env_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise OpError("bad_args", f"{name!r} is not a valid environment name: letters, digits, "
                      "'.', '_' and '-', starting with a letter or a digit, 64 at most")
    return name


def package_list(args: dict[str, Any]) -> list[str]:
    """The ``packages`` argument: requirement strings, none an option."""
    packages = arg(args, "packages", list, [])
    for p in packages:
        if not isinstance(p, str) or not p.strip():
            raise OpError("bad_args", "packages must be a list of requirement strings")
        if p.lstrip().startswith("-"):
            raise OpError("bad_args", f"{p!r} is not a package (options are not accepted)")
    return [p.strip() for p in packages]


def _wheels_dir(args: dict[str, Any]) -> str | None:
    wheels = arg(args, "wheels_dir", str, None)
    if wheels is not None:
        wheels = os.path.expanduser(wheels)
        if not os.path.isdir(wheels):
            raise OpError("bad_args", f"wheels_dir {wheels} is not a directory")
    return wheels  # type: ignore[no-any-return]


def _sources(tool: str, wheels: str | None, index_timeout: float) -> list[str]:
    """Where ``tool`` finds packages: the uploaded wheels only, or the index (bounded)."""
    if wheels:
        return ["--no-index", "--find-links", wheels]
    return [] if tool == "uv" else ["--timeout", str(index_timeout), "--retries", "1"]


# ---------------------------------------------------------------- create

def _create_running(prefix: str) -> bool:
    """Whether a create of ``prefix`` runs now (its unfinished marker is locked)."""
    try:
        fd = os.open(os.path.join(prefix, ENV_UNFINISHED), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)  # (closing also drops a lock taken here)


def _claim(prefix: str, name: str, progress: Progress) -> None:
    """Make ``prefix`` for a new environment; ``exists`` when the name is taken. An unfinished
    one whose create no longer runs is replaced."""
    try:
        os.mkdir(prefix, 0o755)
        return
    except FileExistsError:
        pass
    if not os.path.exists(os.path.join(prefix, ENV_UNFINISHED)):
        what = "an environment" if env_prefix(prefix) else "something that is not an environment"
        raise OpError("exists", f"{name} exists on this host ({what} at {prefix}); choose "
                      "another name or remove it first")
    if _create_running(prefix):
        raise OpError("exists", f"{name} is being created right now; wait for that create or "
                      "cancel it")
    progress(f"removing an unfinished {name} left by an interrupted create", 0.0)
    shutil.rmtree(prefix, ignore_errors=True)
    try:
        os.mkdir(prefix, 0o755)
    except FileExistsError:
        raise OpError("exists", f"{name} is being created right now") from None


def _mark_unfinished(prefix: str, name: str) -> int:
    """Write (and lock, for as long as the create runs) the unfinished marker; its fd."""
    fd = os.open(os.path.join(prefix, ENV_UNFINISHED), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, json.dumps({"name": name, "pid": os.getpid(),
                             "started": int(time.time())}).encode())
    return fd


def _make_venv(base: str, prefix: str, wheels: str | None, reqs: list[str],
               index_timeout: float, progress: Progress) -> None:
    vpy = os.path.join(prefix, "bin", "python")
    if not make_venv(base, prefix, progress):
        bootstrap_pip(vpy, base, wheels, progress)
    cmd = [vpy, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    rc, lines = stream(cmd + _sources("pip", wheels, index_timeout) + reqs, progress,
                       PipProgress())
    if rc:
        raise failure("pip", f"pip install {' '.join(reqs)}", lines, offline=bool(wheels))


def _make_uv(uv: str, base: str, prefix: str, wheels: str | None, reqs: list[str],
             index_timeout: float, progress: Progress) -> None:
    env = uv_env(uv, index_timeout)
    progress(f"creating {prefix} with uv venv --python {base}", 0.0)
    rc, lines = stream([uv, "venv", "--allow-existing", "--python", base, prefix], progress,
                       env=env)
    if rc:
        raise failure("uv", f"uv venv {prefix}", lines, offline=True)
    cmd = [uv, "pip", "install", "--python", os.path.join(prefix, "bin", "python")]
    rc, lines = stream(cmd + _sources("uv", wheels, index_timeout) + reqs, progress,
                       UvProgress(), env=env)
    if rc:
        raise failure("uv", f"uv pip install {' '.join(reqs)}", lines, offline=bool(wheels))


def op_env_create(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    name = env_name(arg(args, "name", str))
    base = check_python(arg(args, "base_python", str))
    tool = arg(args, "tool", str, "venv")
    if tool not in ("uv", "venv"):
        raise OpError("bad_args", f"tool must be 'uv' or 'venv', not {tool!r}")
    packages = package_list(args)
    requirements = arg(args, "requirements", str, None)
    spyder = arg(args, "spyder", bool, False)
    wheels = _wheels_dir(args)
    index_timeout = arg(args, "index_timeout", (int, float), 15)
    uv = find_uv()[0] if tool == "uv" else None
    if tool == "uv" and not uv:
        raise OpError("not_found", "uv is not on this host (rtui can upload it, or use venv)")
    prefix = os.path.join(envs_dir(), name)
    made = missing_dirs(envs_dir())  # removed again when a failed create leaves them empty
    lock = -1
    with _claim_lock:  # (one claim at a time: the directory and its locked marker as one)
        try:
            private_dir(envs_dir())
            _claim(prefix, name, progress)
        except OSError as e:
            for directory in reversed(made):  # made here, and still empty
                try:
                    os.rmdir(directory)
                except OSError:
                    break
            raise _os_error(e, f"creating {prefix}") from None
        with _creating_lock:
            _creating.add(prefix)
        try:
            lock = _mark_unfinished(prefix, name)
        except OSError as e:
            discard([*made, prefix])
            with _creating_lock:
                _creating.discard(prefix)
            raise _os_error(e, f"creating {prefix}") from None
    try:
        with requirements_file(requirements) as req:
            reqs = ["ipykernel", *(["spyder-kernels"] if spyder else []), *packages]
            reqs += ["-r", req] if req else []
            if uv:
                _make_uv(uv, base, prefix, wheels, ["pip", *reqs], index_timeout, progress)
            else:
                _make_venv(base, prefix, wheels, reqs, index_timeout, progress)
        python = os.path.join(prefix, "bin", "python")
        info = ask(python, 60)
        progress.check()  # a cancel that came as the install ended: not created either
        write_json(os.path.join(prefix, ENV_MARKER), {
            "name": name, "tool": tool, "base_python": base, "created": int(time.time()),
            "packages": packages, "requirements": requirements is not None})
        os.unlink(os.path.join(prefix, ENV_UNFINISHED))
    except BaseException as e:
        discard([*made, prefix])
        if isinstance(e, OSError):
            raise _os_error(e, f"creating {name}") from None
        if isinstance(e, OpError) and e.type == "cancelled":
            raise OpError("cancelled", f"cancelled: {name} was not created (nothing is left of "
                          "it on the host)") from None
        raise
    finally:
        with _creating_lock:
            _creating.discard(prefix)
        if lock >= 0:
            os.close(lock)
    progress(f"created {name} ({info.get('version')}) at {prefix}", 1.0)
    return describe({"python": python, "kind": "venv", "name": name, "error": None,
                     "version": info.get("version"), "ipykernel": info.get("ipykernel"),
                     "spyder_kernels": info.get("spyder_kernels"), "prefix": prefix})


# ---------------------------------------------------------------- change, remove

def op_env_change(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    python = env_python(arg(args, "python", str))
    action = arg(args, "action", str)
    if action not in ("install", "uninstall", "upgrade"):
        raise OpError("bad_args", f"action must be install, uninstall or upgrade, not {action!r}")
    packages = package_list(args)
    requirements = arg(args, "requirements", str, None)
    if not packages and requirements is None:
        raise OpError("bad_args", "no packages given")
    wheels = _wheels_dir(args)
    index_timeout = arg(args, "index_timeout", (int, float), 15)
    prefix = env_prefix(python)
    if prefix and os.path.isdir(os.path.join(prefix, "conda-meta")):
        raise OpError("bad_args", f"{prefix} is a conda environment: change it with conda "
                      "(rtui does not change conda environments yet)")
    uv = find_uv()[0] if prefix and env_tool(prefix) == "uv" else None
    with requirements_file(requirements) as req:
        reqs = packages + (["-r", req] if req else [])
        if uv:
            tool = "uv"
            cmd = [uv, "pip", "uninstall" if action == "uninstall" else "install", "--python",
                   python]
            env = uv_env(uv, index_timeout)
        else:
            tool, env = "pip", child_env()
            if not has_pip(python):
                if not prefix:  # a base interpreter's own installation is not rtui's to change
                    raise OpError("no_pip", f"{python} has no pip")
                bootstrap_pip(python, python, wheels, progress)
            cmd = [python, "-m", "pip", "uninstall", "-y"] if action == "uninstall" else [
                python, "-m", "pip", "install", "--progress-bar", "off"]
            cmd.append("--disable-pip-version-check")
        if action == "upgrade":
            cmd.append("--upgrade")
        if action != "uninstall":
            cmd += _sources(tool, wheels, index_timeout)
        progress(f"{action} {' '.join(packages) or 'the requirements'} in {prefix or python} "
                 f"with {tool}", 0.0)
        try:
            rc, lines = stream(cmd + reqs, progress,
                               UvProgress() if uv else PipProgress(), env=env)
        except OpError as e:
            if e.type == "cancelled":
                raise OpError("cancelled", f"cancelled: the {action} was stopped part way; some "
                              "packages may have changed (list the packages to see)") from None
            raise
    if rc:
        raise failure(tool, f"{tool} {action} {' '.join(reqs)}", lines, offline=bool(wheels))
    return {"packages": list_packages(python, progress)}


def _prefix_to_remove(args: dict[str, Any]) -> str:
    name = arg(args, "name", str, None)
    python = arg(args, "python", str, None)
    if name is not None:
        prefix = os.path.join(envs_dir(), env_name(name))
        if not os.path.isdir(prefix):
            raise OpError("not_found", f"no environment {name} in {envs_dir()}")
        return prefix
    if python is None:
        raise OpError("bad_args", "give the environment's name or its python")
    path = os.path.abspath(os.path.expanduser(str(python)))
    prefix = path if os.path.isdir(path) else os.path.dirname(os.path.dirname(path))
    if not os.path.lexists(path) or not os.path.isdir(prefix):
        raise OpError("not_found", f"no environment at {python}")
    return prefix


def op_env_remove(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    prefix = _prefix_to_remove(args)
    force = arg(args, "force", bool, False)
    if os.path.isdir(os.path.join(prefix, "conda-meta")):
        raise OpError("bad_args", f"{prefix} is a conda environment: remove it with conda "
                      "(rtui does not change conda environments yet)")
    ours = os.path.dirname(prefix) == envs_dir()
    unfinished = ours and os.path.exists(os.path.join(prefix, ENV_UNFINISHED))
    if not unfinished and not os.path.exists(os.path.join(prefix, "pyvenv.cfg")):
        raise OpError("bad_args", f"{prefix} is a base Python installation, not an environment: "
                      "rtui never removes it")
    if real(prefix) in {real(p) for p in (home(), "/", state_dir(), envs_dir())}:
        raise OpError("bad_args", f"{prefix} holds more than an environment: rtui never removes it")
    if real(sys.prefix) == real(prefix):
        raise OpError("bad_args", f"{prefix} is the environment rtui's agent runs in on this "
                      "host: rtui never removes it (remove it from a shell if you mean it)")
    if unfinished and _create_running(prefix):
        raise OpError("busy", f"{prefix} is being created right now: cancel that create instead")
    if not (unfinished or env_marker(prefix) or force):
        raise OpError("not_rtui", f"{prefix} was not created by rtui: removing it needs force")
    progress(f"removing {prefix}", 0.0)
    failed: list[str] = []
    shutil.rmtree(prefix, onerror=lambda fn, path, exc: failed.append(f"{path}: {exc[1]}"))
    if failed:
        raise OpError("remove_failed", f"{prefix} was removed only in part: {failed[0]}"
                      + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""))
    return {"removed": prefix}
