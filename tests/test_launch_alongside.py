"""A kernel rtui launches is reached while it boots (rtui picks its id and key, so its
sockets' paths are known before the agent answers), over a real sshd: the key stays off
every command line and out of every file but 0600 ones, the session follows the kernel's
output from its very first message, and a kernel that fails to start is told at once with
its log's tail, not waited for on channels opened for it."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from rtui.core.errors import RtuiError
from rtui.core.kernels import events as ev
from rtui.core.kernels.service import HostKernels
from tests.harness.sshd import SSHD

PY = sys.executable  # the "remote" Python: this machine's, which has ipykernel
WAIT = 60.0


def _command_lines_with(secret: bytes) -> list[str]:
    """The processes on this machine (the host too) whose command line holds ``secret``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if secret in f.read():
                    found.append(entry)
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def _files_with(secret: bytes, *roots: Path) -> dict[Path, int]:
    """Regular files under ``roots`` that hold ``secret``, with their modes."""
    found = {}
    for root in roots:
        for directory, _, names in os.walk(root):
            for name in names:
                path = Path(directory) / name
                try:
                    st = path.lstat()
                    if stat.S_ISREG(st.st_mode) and secret in path.read_bytes():
                        found[path] = stat.S_IMODE(st.st_mode)
                except OSError:
                    continue
    return found


async def test_a_launched_kernel_is_reached_with_the_key_rtui_chose_kept_private(
    kernels: HostKernels, sshd: SSHD, isolated_home: Path
) -> None:
    """The kernel runs with the key this client chose (sent inside the agent's stdin
    protocol): no process has it in its command line, the only files that hold it are
    0600 (the connection file among them), and the session saw the kernel's first output."""
    held: list[ev.KernelEvent] = []
    kernel = await asyncio.wait_for(kernels.start(python=PY), WAIT)
    try:
        kernel.session.subscribe(held.append)
        info = kernel.remote_info
        key = str(info["key"]).encode()
        assert info["transport"] == "ipc" and len(key) == 64
        assert info["ip"].endswith(f"/k/{kernel.id}/k")  # where its id says, planned here
        assert kernel.keeper is not None and kernel.keeper.endswith(f"/k/{kernel.id}/keeper")
        assert kernel.connection_file is not None

        execution = kernel.session.execute("6 * 7")
        async with asyncio.timeout(WAIT):
            results = [e for e in [e async for e in execution]
                       if isinstance(e, ev.ExecuteResult)]
        assert results and results[0].data.get("text/plain") == "42"

        assert _command_lines_with(key) == []
        holding = _files_with(key, sshd.remote_home, isolated_home)
        assert Path(kernel.connection_file) in holding
        assert {path: oct(mode) for path, mode in holding.items() if mode != 0o600} == {}
        # Followed from the keeper's first message: the kernel's own "starting" status,
        # published as it booted, before anyone could have asked it anything.
        statuses = [e.state for e in held if isinstance(e, ev.Status)]
        assert statuses[:1] == ["starting"], (statuses, [type(e).__name__ for e in held][:20])
        assert kernel.session.last_seq is not None and kernel.session.last_seq >= 1
    finally:
        await kernels.shutdown(kernel)


async def test_a_kernel_that_fails_to_start_is_told_with_its_log_not_waited_for(
    kernels: HostKernels, tmp_path: Path
) -> None:
    """Its channels and the keeper's stream were opened alongside the launch; the launch's
    failure ends them at once and is what the person reads: the exit and the log's tail."""
    workdir = tmp_path / "shadowed"
    workdir.mkdir()
    # `python -m ipykernel_launcher` finds this one first (the working directory leads
    # sys.path), as a stray file of that name would in a person's project.
    (workdir / "ipykernel_launcher.py").write_text(
        "import sys\nprint('this directory shadows the kernel', file=sys.stderr)\n"
        "sys.exit(3)\n")
    await kernels.routes.ready()
    started = time.monotonic()
    with pytest.raises(RtuiError) as caught:
        await asyncio.wait_for(kernels.start(python=PY, cwd=str(workdir)), WAIT)
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert "exited with code 3" in message, message
    assert "this directory shadows the kernel" in message, message
    assert elapsed < 20, f"told after {elapsed:.1f} s"
    assert kernels._attached == []
    assert kernels.routes._forwards == []  # the forwards opened for it are closed
