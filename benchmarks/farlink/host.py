"""The far host: a loopback OpenSSH sshd behind the far link, a throwaway client HOME whose
hosts.toml names it (``bench``, reached through the link; ``bench-near``, the same sshd
through a second link that is never delayed) and whose known_hosts trusts it, and the CLI
run against it."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import bench_host, rtui_command, subprocess_env, write_known_hosts
from benchmarks.farlink.link import FarLink
from tests.harness.sshd import SSHD, start_sshd

__all__ = ["HOST", "NEAR_HOST", "CommandFailed", "FarHost", "far_host"]

HOST, NEAR_HOST = "bench", "bench-near"
COMMAND_TIMEOUT = 120.0  # seconds for one CLI command, whatever the delay


class CommandFailed(RuntimeError):
    """A command exited non-zero or printed what it should not have."""


@dataclass
class FarHost:
    root: Path
    home: Path
    server: SSHD
    link: FarLink  # its delay is set per run
    near_link: FarLink  # never delayed: the same command through it runs at the same time
    known_hosts: Path
    env: dict[str, str]

    def close(self) -> None:
        self.link.close()
        self.near_link.close()
        self.server.close()

    def ssh_target(self) -> str:
        return f"{self.server.user}@{self.server.host}"

    def rtui(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> tuple[float, str]:
        """Run ``rtui ARGS`` as a person would in a shell; (seconds it took, its stdout)."""
        return self.timed([*rtui_command(), *args], timeout=timeout)

    def timed(self, argv: list[str], *, timeout: float = COMMAND_TIMEOUT) -> tuple[float, str]:
        started = time.perf_counter()
        done = subprocess.run(argv, env=self.env, cwd=self.home, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              check=False)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            said = " ".join((done.stderr or done.stdout).split())[-300:]
            raise CommandFailed(f"`{' '.join(argv[-4:])}` exited {done.returncode}: {said}")
        return elapsed, done.stdout

    def kernels(self) -> list[dict[str, Any]]:
        """The host's kernels as ``rtui kernels --json`` lists them."""
        _, out = self.rtui("kernels", HOST, "--json")
        records: list[dict[str, Any]] = json.loads(out)
        return records


def far_host(root: Path) -> FarHost:
    """Start sshd and the link in front of it; the HOME that reaches it through the link."""
    from rtui.core.config.store import HostStore

    server = start_sshd(root / "sshd")
    links: list[FarLink] = []
    try:
        links += [FarLink(server.host, server.port), FarLink(server.host, server.port)]
        home = root / "home"
        key_type, key_data = server.host_key_pub.read_text().split()[:2]
        known_hosts = write_known_hosts(home, [server.known_hosts_line(), *(
            f"[{server.host}]:{link.port} {key_type} {key_data}" for link in links)])
        hosts = [bench_host(server, port=link.port, name=name)
                 for link, name in zip(links, (HOST, NEAR_HOST), strict=True)]
        HostStore(home / ".config" / "rtui" / "hosts.toml").update(
            lambda config: config.with_host(hosts[0]).with_host(hosts[1]))
        env = subprocess_env(home, pycache=root / "pycache")
        return FarHost(root, home, server, links[0], links[1], known_hosts, env)
    except BaseException:
        for link in links:
            link.close()
        server.close()
        raise
