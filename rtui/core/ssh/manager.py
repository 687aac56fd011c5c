"""The connections of this process: one :class:`HostConnection` per host, made on first use."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rtui.core.config.model import Config, Host, Settings
from rtui.core.errors import ConfigError
from rtui.core.ssh.connection import HostConnection
from rtui.core.ssh.prompts import Prompter
from rtui.core.ssh.route import Route, resolve_route, route_resolver

__all__ = ["Connections", "FixedRoute"]


@dataclass(frozen=True)
class FixedRoute:
    """A host of this run reached a fixed way, not through the ssh config (the demo's), and
    trusted through its own known_hosts file; it applies while the config holds exactly
    ``host`` (a host of the same name in the hosts file is reached as usual)."""

    host: Host
    route: Route
    own_known_hosts: Path


class Connections:
    """Owns every host connection so that checks, kernels and files share one per host."""

    def __init__(
        self,
        config: Config,
        *,
        prompter: Prompter | None = None,
        settings: Settings | None = None,
        ssh_config: Path | None = None,
        own_known_hosts: Path | None = None,
        auto_reconnect: bool = True,
        fixed: Sequence[FixedRoute] = (),
    ) -> None:
        self.config = config
        self.prompter = prompter
        self.settings = settings or config.settings
        self.ssh_config = ssh_config
        self.own_known_hosts = own_known_hosts
        self.auto_reconnect = auto_reconnect
        self.fixed = {f.host.name: f for f in fixed}
        self._by_name: dict[str, HostConnection] = {}

    def get(self, name: str) -> HostConnection:
        """The connection for host ``name`` (not yet connected); ConfigError if unknown."""
        existing = self._by_name.get(name)
        if existing is not None:
            return existing
        host = self.config.require(name)
        fixed = self._fixed(host)
        connection = HostConnection(
            name,
            fixed.route if fixed else resolve_route(host, self.config, self.ssh_config),
            own_known_hosts=fixed.own_known_hosts if fixed else self.own_known_hosts,
            settings=self.settings,
            prompter=self.prompter,
            auto_reconnect=self.auto_reconnect,
        )
        self._by_name[name] = connection
        return connection

    async def update_config(self, config: Config) -> None:
        """Take a new config; connections whose host went away, or is now reached another
        way (its own entry, a jump host's, the ssh config), are closed. A new python, tag
        or note leaves the link (and the consoles on it) alone."""
        self.config = config
        self.settings = config.settings
        resolve = route_resolver(config, self.ssh_config)
        for name, connection in list(self._by_name.items()):
            host = config.get(name)
            fixed = self._fixed(host) if host else None
            if (fixed.route if fixed else _route(resolve, host)) != connection.route:
                await self._by_name.pop(name).close()

    def _fixed(self, host: Host) -> FixedRoute | None:
        fixed = self.fixed.get(host.name)
        return fixed if fixed is not None and fixed.host == host else None

    def existing(self, name: str) -> HostConnection | None:
        return self._by_name.get(name)

    async def close_all(self) -> None:
        connections = list(self._by_name.values())
        self._by_name.clear()
        with contextlib.suppress(Exception):
            await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)


def _route(resolve: Callable[[Host], Route], host: Host | None) -> Route | None:
    """How ``host`` is reached now, through every hop; None if it is gone or cannot be."""
    try:
        return None if host is None else resolve(host)
    except ConfigError:
        return None
