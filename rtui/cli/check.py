"""``rtui check``: status of hosts, checked concurrently, printed as each one finishes."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from typing import TYPE_CHECKING, Any

from rtui.cli.arg_types import seconds
from rtui.cli.common import load_config
from rtui.core.errors import ConfigError

if TYPE_CHECKING:
    from rtui.core.ssh.check import HostStatus

__all__ = ["MAX_TIMEOUT", "register"]

MAX_TIMEOUT = 3600.0  # seconds a step may take: longer is a typo, and a check nobody waits for


def register(commands: Any) -> None:
    p = commands.add_parser(
        "check", help="check hosts: reachable, authenticated, round trip, Pythons found "
        "(a Jupyter host: its server's version and kernels)"
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="hosts to check (default: all)")
    p.add_argument("--json", action="store_true", help="print one JSON object per host")
    p.add_argument("--timeout", type=seconds(MAX_TIMEOUT), metavar="S",
                   help="seconds allowed for each step, at most an hour (default: "
                   "settings.check_timeout)")
    p.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    config = load_config(args)
    names = args.names or [h.name for h in config.hosts]
    for name in names:
        config.require(name)
    if not names:
        raise ConfigError("no hosts to check: add one with `rtui hosts add`")
    return asyncio.run(_run(args, config, names))


async def _run(args: argparse.Namespace, config: Any, names: list[str]) -> int:
    # Imported here: `rtui hosts ...` must not pay for asyncssh.
    from rtui.cli.prompts import terminal_prompter
    from rtui.core.workspace import Workspace

    timeout = args.timeout or config.settings.check_timeout
    settings = dataclasses.replace(config.settings, connect_timeout=timeout)
    prompter = terminal_prompter()
    workspace = Workspace(None, config=config, prompter=prompter, settings=settings,
                          auto_reconnect=False, prefetch=False)

    def show(status: HostStatus) -> None:
        host = config.get(status.name)
        server = host is not None and host.jupyter is not None
        print(json.dumps(status.to_json()) if args.json
              else _server_line(status) if server else _line(status), flush=True)

    try:
        statuses = await workspace.check(names, prompter=prompter, timeout=timeout,
                                         on_status=show)
    finally:
        await workspace.close()
    return 1 if any(not status.ok for status in statuses) else 0


def _server_line(status: HostStatus) -> str:
    """A Jupyter host's status: reachable, the token taken, the server's version and its
    kernels (a hub's user server that is not running: said, not started)."""
    if not status.ok:
        return f"{status.name}: FAILED ({status.failed_step}): {status.error}"
    parts = [f"{status.name}: ok"]
    if status.tcp_ms is not None:
        parts.append(f"tcp {status.tcp_ms:.0f} ms")
    if status.rtt_ms is not None:
        parts.append(f"round trip {status.rtt_ms:.0f} ms")
    if status.server_version:
        parts.append(f"jupyter {status.server_version}")
        parts.append(f"kernels {status.kernels}")
    elif status.failed_step is None:
        parts.append("token accepted; the server is not running (rtui kernel start starts it)")
    if status.error:
        parts.append(f"{status.failed_step} failed: {status.error}")
    return " | ".join(parts)


def _line(status: HostStatus) -> str:
    if not status.ok:
        return f"{status.name}: FAILED ({status.failed_step}): {status.error}"
    ssh = f"ssh {status.ssh_ms:.0f} ms" if status.ssh_ms is not None else "ssh connected"
    parts = [f"{status.name}: ok"]
    if status.tcp_ms is not None:
        parts.append(f"tcp {status.tcp_ms:.0f} ms")
    parts.append(ssh)
    if status.rtt_ms is not None:
        parts.append(f"round trip {status.rtt_ms:.0f} ms")
    if status.os:
        parts.append(f"{status.os} {status.arch or ''}".strip())
    if status.pythons:
        parts.append(", ".join(
            f"{p.path} {p.version}{' +ipykernel' if p.ipykernel else ''}" for p in status.pythons
        ))
    elif status.failed_step is None:
        parts.append("no Python found")
    parts.append(f"kernels {status.kernels}")
    if status.error:
        parts.append(f"{status.failed_step} failed: {status.error}")
    return " | ".join(parts)
