"""What several commands share: the config, the workspace, and running a coroutine."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from rtui.core import locations
from rtui.core.config.model import Config, Host
from rtui.core.config.store import HostStore

if TYPE_CHECKING:
    from rtui.core.kernels.service import HostKernels
    from rtui.core.workspace import Workspace

__all__ = ["load_config", "usage_handler", "with_host"]

T = TypeVar("T")


def usage_handler(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """The handler of a command group given without an action: its help, as a usage error."""
    def handler(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    return handler


def load_config(args: argparse.Namespace) -> Config:
    return HostStore(locations.config_path(args.config)).load()


def with_host(args: argparse.Namespace, name: str,
              body: Callable[[Workspace, Host, HostKernels], Awaitable[T]]) -> T:
    """Run ``body`` with a workspace of the hosts file and the host's kernel service; a
    login asks on this terminal; connections closed afterwards."""
    from rtui.cli.prompts import terminal_prompter
    from rtui.core.workspace import Workspace

    config = load_config(args)
    host = config.require(name)

    async def run() -> T:
        workspace = Workspace(None, config=config, prompter=terminal_prompter())
        try:
            return await body(workspace, host, await workspace.kernels(name))
        finally:
            await workspace.close()

    return asyncio.run(run())
