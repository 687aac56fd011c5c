"""A real ipykernel on loopback for tests and benchmarks, isolated from the user's files."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

__all__ = ["connection_info", "launch_local_kernel"]


def launch_local_kernel(root: Path) -> KernelManager:
    """An ipykernel run by this very interpreter, with its own HOME/IPYTHONDIR under ``root``."""
    spec_dir = root / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "Python 3 (rtui)", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    home = root / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "IPYTHONDIR": str(home / ".ipython"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    km = KernelManager(
        kernel_name="python3",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(root / "kernels")]),
        connection_file=str(root / "connection.json"),
        ip="127.0.0.1",
        transport="tcp",
    )
    km.start_kernel(env=env)
    return km


def connection_info(km: KernelManager) -> dict[str, Any]:
    """What the transport layer hands over: the connection file as JSON (key as str)."""
    info: dict[str, Any] = json.loads(Path(km.connection_file).read_text())
    return info
