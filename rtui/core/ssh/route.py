"""Resolve a host into the hops to connect through: rtui's fields, then ``~/.ssh/config``.

rtui's own fields win where set; an alias of the same name in the ssh config fills the rest
(HostName, Port, User, IdentityFile, ProxyJump, UserKnownHostsFile, IdentityAgent). A jump
hop may be another rtui host, an ssh alias, or an inline ``user@host:port``.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from rtui.core import locations
from rtui.core.config.model import Config, Host, parse_jump
from rtui.core.config.sshconfig import SSHConfig, SSHConfigHost, load_ssh_config
from rtui.core.errors import ConfigError

__all__ = ["Endpoint", "Route", "resolve_route", "route_resolver"]

_MAX_HOPS = 16
_DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")


@dataclass(frozen=True)
class Endpoint:
    """Everything needed to open one SSH hop."""

    label: str  # the name a person knows it by
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...] = ()
    auth_methods: tuple[str, ...] = ()
    known_hosts_files: tuple[str, ...] = _DEFAULT_KNOWN_HOSTS
    agent_path: str | None = None  # None: $SSH_AUTH_SOCK; "none": no agent
    host_key_policy: str = "ask"

    @property
    def display(self) -> str:
        port = "" if self.port == 22 else f":{self.port}"
        return f"{self.user}@{self.hostname}{port}"


@dataclass(frozen=True)
class Route:
    """The hops in the order they are opened; the last is the host itself."""

    hops: tuple[Endpoint, ...]

    @property
    def target(self) -> Endpoint:
        return self.hops[-1]


def resolve_route(host: Host, config: Config, ssh_config: Path | None = None) -> Route:
    """The full chain for ``host``; ConfigError names a hop that cannot be resolved."""
    return route_resolver(config, ssh_config)(host)


def route_resolver(config: Config, ssh_config: Path | None = None) -> Callable[[Host], Route]:
    """``resolve_route`` for many hosts of one config, reading the ssh config once."""
    resolver = _Resolver(config, ssh_config if ssh_config is not None
                         else locations.ssh_config_path())
    return lambda host: Route(tuple(resolver.chain_for_host(host, ())))


class _Resolver:
    def __init__(self, config: Config, ssh_config: Path) -> None:
        self.config = config
        self.ssh_config = ssh_config
        self.local_user = _local_user()

    @cached_property
    def parsed(self) -> SSHConfig | None:
        """The ssh config, read once per resolver (at the first lookup); None without one."""
        return load_ssh_config(self.ssh_config)

    def alias(self, name: str) -> SSHConfigHost | None:
        return None if self.parsed is None else self.parsed.resolve(name)

    def chain_for_host(self, host: Host, seen: tuple[str, ...]) -> list[Endpoint]:
        seen = self._enter(host.name, seen)
        ssh = self.alias(host.name)
        policy = host.host_key_policy or self.config.settings.host_key_policy
        endpoint = Endpoint(
            label=host.name,
            hostname=host.hostname or (ssh.hostname if ssh and ssh.hostname else host.name),
            port=host.port or (ssh.port if ssh and ssh.port else 22),
            user=host.user or (ssh.user if ssh and ssh.user else self.local_user),
            identity_files=host.identity_files or (ssh.identity_files if ssh else ()),
            auth_methods=host.auth_methods,
            known_hosts_files=_known_hosts_files(ssh),
            agent_path=ssh.identity_agent if ssh else None,
            host_key_policy=policy,
        )
        jumps = host.jump or (ssh.proxy_jump if ssh else ())
        return [*self._jumps(jumps, seen), endpoint]

    def chain_for_spec(self, spec: str, seen: tuple[str, ...]) -> list[Endpoint]:
        named = self.config.get(spec.strip())
        if named is not None:
            return self.chain_for_host(named, seen)
        hop = parse_jump(spec)
        ssh = self.alias(hop.host)
        seen = self._enter(spec, seen)
        endpoint = Endpoint(
            label=spec,
            hostname=ssh.hostname if ssh and ssh.hostname else hop.host,
            port=hop.port or (ssh.port if ssh and ssh.port else 22),
            user=hop.user or (ssh.user if ssh and ssh.user else self.local_user),
            identity_files=ssh.identity_files if ssh else (),
            known_hosts_files=_known_hosts_files(ssh),
            agent_path=ssh.identity_agent if ssh else None,
            host_key_policy=self.config.settings.host_key_policy,
        )
        jumps = ssh.proxy_jump if ssh else ()
        return [*self._jumps(jumps, seen), endpoint]

    def _jumps(self, specs: tuple[str, ...], seen: tuple[str, ...]) -> list[Endpoint]:
        chain: list[Endpoint] = []
        for spec in specs:
            chain.extend(self.chain_for_spec(spec, seen))
        return chain

    def _enter(self, name: str, seen: tuple[str, ...]) -> tuple[str, ...]:
        if name in seen:
            raise ConfigError(f"jump chain loops: {' -> '.join([*seen, name])}")
        if len(seen) >= _MAX_HOPS:
            raise ConfigError(f"jump chain longer than {_MAX_HOPS} hops: {' -> '.join(seen)}")
        return (*seen, name)


def _known_hosts_files(ssh: SSHConfigHost | None) -> tuple[str, ...]:
    if ssh is None:
        return _DEFAULT_KNOWN_HOSTS
    if ssh.known_hosts_disabled:
        return ()
    return ssh.known_hosts_files or _DEFAULT_KNOWN_HOSTS


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"
