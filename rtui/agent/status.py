"""What the host check reports, in one exec (see ``rtui.core.ssh.check``): OS and arch, the
host's Pythons as the agent finds them (``envs``), and how many kernels answer.

Lines: ``os NAME``, ``arch NAME``, ``given PATH<TAB>NAME`` (a configured name and what it finds
here), ``py PATH VERSION yes|no`` (ipykernel), ``kernels N``.
"""

from __future__ import annotations

import json
import os
import sys

from .envs import discover
from .paths import connection_files, runtime_dir


def live_kernels() -> int:
    """Connection files in jupyter's runtime dir whose shell socket answers (a port, or a
    Unix socket ``{ip}-{port}`` for kernels on ipc)."""
    alive = 0
    for path in connection_files(runtime_dir()):
        import socket  # here: most hosts have none

        try:
            with open(path) as handle:
                info = json.load(handle)
            if info.get("transport") == "ipc":
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.settimeout(0.3)
                    probe.connect(f"{info['ip']}-{info['shell_port']}")
            else:
                socket.create_connection((info.get("ip") or "127.0.0.1", info["shell_port"]),
                                         0.3).close()
            alive += 1
        except Exception:
            pass
    return alive


def report(extra: list[str], timeout: float = 20) -> None:
    """Print the check's lines for this host; ``extra``: the host's configured Pythons."""
    uname = os.uname()
    lines = [f"os {uname.sysname}", f"arch {uname.machine}"]
    for env in discover(extra, timeout):
        if env["error"]:
            continue
        lines += [f"given {env['python']}\t{name}" for name in env["given"]]
        lines.append(f"py {env['python']} {env['version']} {'yes' if env['ipykernel'] else 'no'}")
    lines.append(f"kernels {live_kernels()}")
    sys.stdout.write("\n".join(lines) + "\n")


def main(argv: list[str]) -> None:
    report(argv)
