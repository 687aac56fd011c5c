"""Asking an interpreter what it is: its version and the kernel packages it has."""

from __future__ import annotations

import json
import subprocess

from .protocol import OpError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Run in each candidate interpreter (any Python, even 2.7): version and kernel packages.
# Found by find_spec of the package and of each package it imports at start (not imported:
# a real import of ipykernel costs ~0.2 s of CPU per interpreter, and a probe runs on every
# check and before every console); a broken install is still caught, with its traceback,
# when the kernel is launched.
PROBE_CODE = r"""
import json, sys
def v(dist, mods):
    try:
        from importlib.util import find_spec
        for m in mods:
            if find_spec(m) is None:
                return None
    except BaseException:
        return None
    try:
        from importlib.metadata import version
        return str(version(dist))
    except BaseException:
        return "unknown"
K = ("ipykernel", "IPython", "zmq", "jupyter_client", "traitlets", "tornado")
print("RTUI-PROBE " + json.dumps({"version": "%d.%d.%d" % tuple(sys.version_info[:3]),
    "executable": sys.executable, "prefix": sys.prefix,
    "ipykernel": v("ipykernel", K),
    "spyder_kernels": v("spyder-kernels", ("spyder_kernels",) + K)}))
"""


def ask(python: str, timeout: float) -> dict[str, Any]:
    """Run PROBE_CODE in ``python``; raise OpError(probe_failed) with a readable reason."""
    try:
        proc = subprocess.run([python, "-c", PROBE_CODE], capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd="/")
    except subprocess.TimeoutExpired:
        raise OpError("probe_failed", f"{python} did not answer within {timeout:g} s") from None
    except OSError as e:
        raise OpError("probe_failed", f"cannot run {python}: {e.strerror}") from None
    for line in reversed(proc.stdout.decode("utf-8", "replace").splitlines()):
        if line.startswith("RTUI-PROBE "):
            return json.loads(line[len("RTUI-PROBE "):])  # type: ignore[no-any-return]
    err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    raise OpError("probe_failed", f"{python} exited {proc.returncode}: "
                  + (err[-1] if err else "no output"))
