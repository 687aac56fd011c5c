"""The code rtui starts its kernels with (rtui/agent/kernel_boot.py), without a kernel: it runs
the module as ``-m`` would, patches the installed ipykernel's fork pipe, and leaves an
IOPubThread of another shape as it is. (A kernel through it, its fork pipe on a Unix socket
and a forked child's output arriving: tests/test_private_transport.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from rtui.agent.kernel_boot import BOOT, kernel_argv

# Run as the module: what it was given, which functions IOPubThread's pipe methods and
# IPKernelApp._bind_socket are
# (when the boot imported ipykernel's iostream; a plain -m run has no cause to, nor time).
_PROBE = """import json, sys
iostream = sys.modules.get("ipykernel.iostream")
thread = getattr(iostream, "IOPubThread", None)
pipe = thread and [thread._setup_pipe_in.__name__, thread._setup_pipe_out.__name__]
app = getattr(sys.modules.get("ipykernel.kernelapp"), "IPKernelApp", None)
bind = app and app._bind_socket.__name__
print(json.dumps({"argv": sys.argv, "name": __name__, "path": sys.path, "pipe": pipe,
                  "bind": bind}))
"""
# An ipykernel whose pipe methods do something else: not rtui's to change.
_OTHER_IOSTREAM = """ZMQStream = object


class IOPubThread:
    def _setup_pipe_in(self):
        self._pipe_path = "elsewhere"

    def _setup_pipe_out(self):
        return None
"""


def _probe(tmp_path: Path, argv: list[str], fake_ipykernel: bool) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    if fake_ipykernel:
        (tmp_path / "lib" / "ipykernel").mkdir(parents=True, exist_ok=True)
        (tmp_path / "lib" / "ipykernel" / "__init__.py").write_text("")
        (tmp_path / "lib" / "ipykernel" / "iostream.py").write_text(_OTHER_IOSTREAM)
        env["PYTHONPATH"] = str(tmp_path / "lib")
    (tmp_path / "work").mkdir(exist_ok=True)
    (tmp_path / "work" / "probe.py").write_text(_PROBE)
    done = subprocess.run(argv, cwd=tmp_path / "work", env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_the_module_runs_as_with_dash_m_and_the_pipe_is_patched(tmp_path: Path) -> None:
    argv = kernel_argv(sys.executable, "probe", "conn.json")
    assert argv == [sys.executable, "-Xfrozen_modules=off", "-c", BOOT, "probe", "-f",
                    "conn.json"]
    booted = _probe(tmp_path, argv, fake_ipykernel=False)
    plain = _probe(tmp_path, [sys.executable, "-Xfrozen_modules=off", "-m", "probe", "-f",
                              "conn.json"], fake_ipykernel=False)
    assert booted["pipe"] == ["setup_pipe_in", "setup_pipe_out"]  # this ipykernel's shape
    assert booted["bind"] == "bind_socket"  # the iopub PUB gets no high-water mark
    assert plain["pipe"] is None and plain["bind"] is None
    assert booted["argv"] == plain["argv"] == [str(tmp_path / "work" / "probe.py"), "-f",
                                               "conn.json"]
    assert booted["name"] == plain["name"] == "__main__"
    assert booted["path"] == plain["path"] and booted["path"][0] == str(tmp_path / "work")


def test_an_ipykernel_of_another_shape_is_left_as_it_is(tmp_path: Path) -> None:
    booted = _probe(tmp_path, kernel_argv(sys.executable, "probe", "conn.json"),
                    fake_ipykernel=True)
    assert booted["pipe"] == ["_setup_pipe_in", "_setup_pipe_out"]
    assert booted["argv"][1:] == ["-f", "conn.json"]
