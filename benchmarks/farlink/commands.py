"""The operations run from a shell: ``ssh host true``, ``rtui check``, ``rtui run -k``,
``rtui run``; each checked to have done its job (``1+1`` printed ``2``)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable

from benchmarks.common import ssh_options
from benchmarks.farlink.host import HOST, NEAR_HOST, CommandFailed, FarHost

__all__ = ["Command", "cli_commands", "start_kernel", "stop_kernel"]

Command = Callable[[FarHost, bool], float]  # runs once (near: on the undelayed link); seconds


def _name(near: bool) -> str:
    return NEAR_HOST if near else HOST


def _ssh_true(host: FarHost, near: bool) -> float:
    ssh = shutil.which("ssh")
    if ssh is None:
        raise RuntimeError("no `ssh` client on PATH (apt-get install -y openssh-client)")
    elapsed, _ = host.timed([
        ssh, *ssh_options(key=host.server.client_key, known_hosts=host.known_hosts,
                          port=(host.near_link if near else host.link).port),
        host.ssh_target(), "true"])
    return elapsed


def _check(host: FarHost, near: bool) -> float:
    elapsed, out = host.rtui("check", _name(near))
    if not out.startswith(f"{_name(near)}: ok"):
        raise CommandFailed(f"`rtui check` said: {out.strip()[:200]}")
    return elapsed


def _run(*args: str) -> Command:
    def run(host: FarHost, near: bool) -> float:
        elapsed, out = host.rtui("run", _name(near), *args, "-c", "1+1")
        # Its own result comes last: before it may come what the kernel printed since this
        # machine last attached (the other link's run of the pair, on the same kernel).
        if out.strip().splitlines()[-1:] != ["2"]:
            raise CommandFailed(f"`rtui run {' '.join(args)} -c 1+1` printed {out.strip()!r}")
        return elapsed

    return run


def cli_commands(kernel_id: str) -> dict[str, Command]:
    """Label -> command, in the order of the table."""
    return {
        "`ssh host true` (OpenSSH)": _ssh_true,
        "`rtui check`": _check,
        "`rtui run -k ID -c 1+1`": _run("-k", kernel_id),
        "`rtui run -c 1+1` (starts a kernel)": _run(),
    }


def start_kernel(host: FarHost) -> str:
    """``rtui kernel start``: a detached kernel for ``rtui run -k``; its id."""
    _, out = host.rtui("kernel", "start", HOST)
    match = re.search(r"started kernel (\S+)", out)
    if match is None:
        raise CommandFailed(f"`rtui kernel start` said: {out.strip()[:200]}")
    return match.group(1)


def stop_kernel(host: FarHost, kernel_id: str) -> None:
    host.rtui("kernel", "stop", HOST, kernel_id)
