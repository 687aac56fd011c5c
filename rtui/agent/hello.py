"""The agent's greeting: who runs it, on what platform, and where rtui keeps things."""

from __future__ import annotations

import glob
import os
import platform
import re
import subprocess
import sys
import sysconfig

from .paths import default_venv, home, runtime_dir, state_dir
from .protocol import VERSION, OpError
from .route_probe import probe_socket
from .sockets import sockets_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .protocol import Progress


def _libc() -> list[str] | None:
    name, version = platform.libc_ver()
    if name:
        return [name, version]
    for loader in glob.glob("/lib/ld-musl-*.so.1"):
        try:
            err = subprocess.run([loader], capture_output=True, text=True, timeout=5).stderr
        except (OSError, subprocess.SubprocessError):
            err = ""
        m = re.search(r"Version\s+(\S+)", err)
        return ["musl", m.group(1) if m else ""]
    return None


def _sockets_root() -> str | None:
    """The private socket root, or None where it cannot be used (the launch then says why)."""
    try:
        return sockets_root()
    except OpError:
        return None


def op_hello(args: dict[str, Any], progress: Progress | None) -> dict[str, Any]:
    impl = sys.implementation.name
    major, minor = sys.version_info[:2]
    py_tag = {"cpython": "cp", "pypy": "pp"}.get(impl, impl[:2]) + f"{major}{minor}"
    soabi = sysconfig.get_config_var("SOABI") or ""
    abi = py_tag + getattr(sys, "abiflags", "") if impl == "cpython" else soabi.replace("-", "_")
    return {
        "version": VERSION,
        "pid": os.getpid(),
        "python": sys.executable,
        "python_version": ".".join(str(n) for n in sys.version_info[:3]),
        "platform": {
            "system": platform.system(), "machine": platform.machine(), "libc": _libc(),
            "py_tag": py_tag, "abi_tag": abi, "implementation": impl,
            "sysconfig_platform": sysconfig.get_platform(),
        },
        "home": home(),
        "runtime_dir": runtime_dir(),
        "state_dir": state_dir(),
        "default_venv": default_venv(),
        # Where the client's routes check that the server forwards Unix sockets.
        "probe_socket": probe_socket(),
        # Where a kernel's sockets will be (``<root>/k/<id>/``): a client that picks the id
        # of a kernel it launches reaches them while it boots.
        "sockets_root": _sockets_root(),
    }
