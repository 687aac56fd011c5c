"""What several commands share: the config, the workspace, and running a coroutine."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from rtui.core import locations
from rtui.core.config.model import Config, Host
from rtui.core.config.store import HostStore
from rtui.core.errors import RtuiError

if TYPE_CHECKING:
    from rtui.core.kernels.host_api import KernelHost
    from rtui.core.kernels.service import HostKernels
    from rtui.core.remote.client import Progress
    from rtui.core.ssh.connection import HostConnection
    from rtui.core.workspace import Workspace

__all__ = [
    "UsageError",
    "command_text",
    "load_config",
    "print_progress",
    "ssh_only",
    "unless_given_up",
    "usage_handler",
    "with_host",
    "with_kernels",
    "write_out",
]

T = TypeVar("T")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class UsageError(RtuiError):
    """A command or option that does not fit the host it names (an SSH-only one on a
    Jupyter server): said as every error is, with the usage exit code (2)."""


def ssh_only(host: Host, what: str) -> None:
    """Refuse ``what`` (a command, or options) on a Jupyter host, naming what it can do."""
    if host.jupyter is not None:
        raise UsageError(f"{what}: only on SSH hosts; {host.name} is a {host.kind} host "
                         f"({host.address}): it runs kernels (rtui kernels, kernel start|"
                         "stop|interrupt|restart, run, log)")


def command_text(args: argparse.Namespace) -> str:
    """The command given, as "rtui envs create", for a message about it."""
    words = [str(args.command)]
    action = getattr(args, f"{args.command}_command", None)
    return " ".join(["rtui", *words, *([str(action)] if action else [])])


def usage_handler(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """The handler of a command group given without an action: its help, as a usage error."""
    def handler(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    return handler


def print_progress(p: Progress) -> None:
    """A long request's progress line, on stderr (stdout is the command's answer)."""
    fraction = f" [{p.fraction:4.0%}]" if p.fraction is not None else ""
    print(f"  {p.line}{fraction}", file=sys.stderr, flush=True)


def load_config(args: argparse.Namespace) -> Config:
    return HostStore(locations.config_path(args.config)).load()


def with_host(args: argparse.Namespace, name: str,
              body: Callable[[Workspace, Host, HostKernels], Awaitable[T]]) -> T:
    """Run ``body`` with a workspace of the hosts file and the SSH host's kernel service; a
    login asks on this terminal; connections closed afterwards. A Jupyter host is refused
    (exit 2): these commands need the host's agent.

    A connection lost meanwhile is retried for ``settings.reconnect_give_up`` seconds; when
    it is given up (or refused for good: a changed host key), ``body`` is stopped and that
    error, in full, is what the command says."""
    config = load_config(args)
    ssh_only(config.require(name), command_text(args))

    async def ssh_body(workspace: Workspace, host: Host, kernels: KernelHost) -> T:
        from rtui.core.kernels.host_api import ssh_kernels

        service = ssh_kernels(kernels)
        assert service is not None, kernels  # an SSH host's (refused above otherwise)
        return await body(workspace, host, service)

    return _run_with_kernels(config, name, ssh_body)


def with_kernels(args: argparse.Namespace, name: str,
                 body: Callable[[Workspace, Host, KernelHost], Awaitable[T]]) -> T:
    """Run ``body`` with the host's kernels, whatever reaches them: an SSH host's (as
    :func:`with_host`, its connection given up after ``settings.reconnect_give_up``) or a
    Jupyter host's, its server reached first (a hub's started, the progress on stderr; the
    token asked on this terminal when no source gives it). An option the host's kind has
    no use for is refused first (exit 2)."""
    from rtui.cli.jupyter import check_options

    config = load_config(args)
    check_options(args, config.require(name))
    return _run_with_kernels(config, name, body)


def _run_with_kernels(config: Config, name: str,
                      body: Callable[[Workspace, Host, KernelHost], Awaitable[T]]) -> T:
    from rtui.cli.jupyter import HubProgressLine
    from rtui.cli.prompts import terminal_prompter
    from rtui.core.workspace import Workspace

    host = config.require(name)

    async def run() -> T:
        prompter = terminal_prompter()
        workspace = Workspace(None, config=config, prompter=prompter)
        try:
            if host.jupyter is not None:  # the server reached (a hub's started) first
                kernels = await workspace.connect(name, prompter,
                                                  on_progress=HubProgressLine(name))
                return await body(workspace, host, kernels)
            service = await workspace.ssh_kernels(name)
            service.connection.give_up_after = config.settings.reconnect_give_up
            return await unless_given_up(service.connection, body(workspace, host, service))
        finally:
            await workspace.close()

    return asyncio.run(run())


async def unless_given_up(connection: HostConnection, work: Awaitable[T]) -> T:
    """``work``'s result, unless the connection, once lost, fails for good first: then
    ``work`` is cancelled and the connection's failure raised (its full message)."""
    from rtui.core.errors import SSHError
    from rtui.core.ssh.state import ConnState, StateChange

    loop = asyncio.get_running_loop()
    given_up: asyncio.Future[SSHError] = loop.create_future()

    def on_change(change: StateChange) -> None:
        if (change.state is ConnState.FAILED and not given_up.done()
                and change.previous in (ConnState.LOST, ConnState.RECONNECTING)):
            given_up.set_result(connection.failure or SSHError(
                f"lost the connection to {connection.name}: {change.reason}"))

    unsubscribe = connection.subscribe(on_change)
    task = asyncio.ensure_future(work)
    try:
        waits: set[asyncio.Future[Any]] = {task, given_up}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if task.done() or not given_up.done():
            return await task
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise given_up.result()
    finally:
        unsubscribe()
        given_up.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def write_out(stream: TextIO, text: str) -> None:
    """A kernel's output to this terminal (colour codes dropped when it is no terminal)."""
    if not stream.isatty():
        text = _ANSI.sub("", text)
    stream.write(text)
    stream.flush()
