"""What an environment holds: its packages, read by its own Python (importlib.metadata: no
pip needed, conda environments too), and exported as requirements or uv's pylock.toml."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import tempfile
import time

from .envs import broken_reason, env_prefix, env_tool, interpreter_in
from .installs import failure, find_uv, uv_env
from .protocol import OpError, arg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from .protocol import Progress

PACKAGES_TIMEOUT = 60.0
# Runs in the environment's Python (3.8+; older ones through pkg_resources).
LIST_PACKAGES = r"""
import json
try:
    from importlib.metadata import distributions
    found = [(d.metadata["Name"], d.version) for d in distributions()]
except ImportError:
    import pkg_resources
    found = [(d.project_name, d.version) for d in pkg_resources.working_set]
print("RTUI-PACKAGES " + json.dumps([[n, v] for n, v in found if n]))
"""
# What ``pip freeze`` leaves out too: the installers, not the environment's content.
FREEZE_SKIP = ("pip", "setuptools", "wheel", "distribute")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def env_python(python: str) -> str:
    """The interpreter ``python`` names (it, or an environment's directory); ``broken`` when
    it is an environment's whose Python is gone, ``not_found`` when there is nothing."""
    path = os.path.abspath(os.path.expanduser(python))
    if os.path.isdir(path):
        path = interpreter_in(path) or os.path.join(path, "bin", "python")
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    prefix = env_prefix(path)
    if prefix:
        raise OpError("broken", f"the environment {prefix} is broken: {broken_reason(prefix)}")
    raise OpError("not_found", f"python {python} does not exist or is not executable")


def run_bounded(cmd: list[str], progress: Progress, timeout: float,
                env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``cmd`` to its end within ``timeout`` s (cancellable); (returncode, out, err)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env, cwd="/", start_new_session=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            out, err = proc.communicate(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            if progress.cancelled() or time.monotonic() > deadline:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                if progress.cancelled():
                    raise OpError("cancelled", "cancelled by the caller") from None
                raise OpError("timeout", f"{os.path.basename(cmd[0])} did not finish within "
                              f"{timeout:g} s") from None
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def list_packages(python: str, progress: Progress) -> list[dict[str, str]]:
    """The distributions ``python`` sees, by name (the first of one name, as imports find)."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    try:
        rc, out, err = run_bounded([python, "-c", LIST_PACKAGES], progress, PACKAGES_TIMEOUT, env)
    except OSError as e:
        raise OpError("broken", f"{python} cannot run: {e.strerror}") from None
    except OpError as e:
        if e.type == "timeout":
            raise OpError("broken", f"{python} did not list its packages within "
                          f"{PACKAGES_TIMEOUT:g} s") from None
        raise
    for line in reversed(out.splitlines()):
        if line.startswith("RTUI-PACKAGES "):
            found: dict[str, dict[str, str]] = {}
            for name, version in json.loads(line[len("RTUI-PACKAGES "):]):
                found.setdefault(canonical(name), {"name": name, "version": str(version)})
            return [found[key] for key in sorted(found)]
    said = err.strip().splitlines()
    raise OpError("broken", f"{python} cannot run (exit {rc}): "
                  + (said[-1] if said else "no output"))


@contextlib.contextmanager
def requirements_file(text: str | None) -> Iterator[str | None]:
    """A private (0600) file holding ``text`` for ``-r``, removed afterwards (None: none)."""
    if text is None:
        yield None
        return
    fd, path = tempfile.mkstemp(prefix="rtui-requirements-", suffix=".txt")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text if text.endswith("\n") else text + "\n")
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def op_env_packages(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    python = env_python(arg(args, "python", str))
    return {"packages": list_packages(python, progress), "python": python}


def _uv_writes_pylock(uv: str) -> bool:
    try:
        said = subprocess.run([uv, "pip", "compile", "--help"], capture_output=True, timeout=15,
                              stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return b"pylock.toml" in said


def op_env_export(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    python = env_python(arg(args, "python", str))
    fmt = arg(args, "format", str, "requirements")
    if fmt not in ("requirements", "pylock"):
        raise OpError("bad_args", f"format must be requirements or pylock, not {fmt!r}")
    pins = [f"{p['name']}=={p['version']}" for p in list_packages(python, progress)
            if canonical(p["name"]) not in FREEZE_SKIP]
    text = "".join(f"{pin}\n" for pin in pins)
    if fmt == "requirements":
        return {"text": text, "format": fmt}
    prefix = env_prefix(python)
    tool = env_tool(prefix) if prefix else None
    if tool != "uv":
        raise OpError("bad_args", f"pylock.toml is exported from environments made by uv; "
                      f"{prefix or python} was made by {tool or 'no tool'}: export requirements")
    uv, version = find_uv()
    if not uv or not _uv_writes_pylock(uv):
        raise OpError("bad_args", "exporting pylock.toml needs a uv that writes it (0.7 or "
                      f"later) on the host; {f'uv {version}' if uv else 'no uv'} is here")
    with requirements_file(text) as req:
        assert req is not None
        rc, out, err = run_bounded([uv, "pip", "compile", req, "--format", "pylock.toml",
                                    "--python", python, "--no-header", "--quiet"],
                                   progress, 300, uv_env(uv, 15))
    if rc:
        error = failure("uv", "uv pip compile --format pylock.toml", err.splitlines(), False)
        if error.type == "no_index":  # (no wheels could stand in: the lock names the index's)
            error = OpError("no_index", "exporting pylock.toml looks each package up on the "
                            f"package index, and {error.message.split('; rtui can')[0]}: "
                            "export requirements instead")
        raise error
    return {"text": out, "format": fmt}
