"""What a kernel leaves on its host (here: the same machine, through the test sshd): its
process and its keeper's, its connection file, its private directory with the keeper's
socket. A kernel shut down leaves none of them."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path


def processes_mentioning(text: str) -> list[int]:
    """The pids whose command line holds ``text`` (a kernel's id: its own process names its
    connection file, its keeper is given the id)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(name))
        except OSError:
            pass
    return found


def leftovers(kernel_id: str, connection_file: str | None, keeper: str | None) -> list[str]:
    """What is still there of the kernel, named (empty: nothing)."""
    left = [f"process {pid}" for pid in processes_mentioning(kernel_id)]
    if connection_file and Path(connection_file).exists():
        left.append(connection_file)
    if keeper and Path(keeper).parent.exists():
        left.append(str(Path(keeper).parent))
    return left


async def until_gone(kernel_id: str, connection_file: str | None, keeper: str | None,
                     timeout: float = 10) -> None:
    """Wait until nothing of the kernel is left on the host (a process may take a moment
    to be reaped); fail naming what stayed."""
    deadline = time.monotonic() + timeout
    while left := leftovers(kernel_id, connection_file, keeper):
        assert time.monotonic() < deadline, f"left on the host: {left}"
        await asyncio.sleep(0.05)
