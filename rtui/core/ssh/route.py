"""Resolve a host into the hops to connect through: rtui's fields, then ``~/.ssh/config``.

rtui's own fields win where set; the ssh config, resolved by asyncssh for the host's name (as
``ssh NAME`` would, Match blocks included), fills the rest: HostName, Port, User,
IdentityFile, IdentitiesOnly, ProxyJump, UserKnownHostsFile, IdentityAgent, ConnectTimeout,
ServerAliveInterval/CountMax and StrictHostKeyChecking. A jump hop may be another rtui host,
an ssh alias, or an inline ``user@host:port``; each is resolved the same way.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from rtui.core import locations
from rtui.core.config.model import Config, Host, parse_jump
from rtui.core.errors import ConfigError
from rtui.core.ssh.ssh_config import SSHConfigFiles, SSHOptions, load_ssh_config

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
    identities_only: bool = False  # offer agent keys only when among the identity files
    connect_timeout: float | None = None  # None: the app's setting
    keepalive_interval: float | None = None  # ServerAliveInterval; None: the app's setting
    keepalive_count_max: int | None = None  # ServerAliveCountMax; None: the app's setting

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


#: StrictHostKeyChecking as rtui's host_key_policy: ``no``/``off`` accept a new key (a
#: changed one is refused whatever the policy), ``yes`` refuses it, ``ask`` asks.
_STRICT_POLICY = {"yes": "strict", "accept-new": "accept-new", "no": "accept-new", "ask": "ask"}
_STRICTNESS = {"accept-new": 0, "ask": 1, "strict": 2}


def _host_key_policy(own: str | None, ssh: str | None, default: str) -> str:
    """A host's own policy wins; else the ssh config's, which may loosen rtui's default
    only while that is ``ask`` (a ``[settings] host_key_policy = "strict"`` is not undone by
    a ``Host *  StrictHostKeyChecking no`` written for ssh), and may always tighten it."""
    if own:
        return own
    if ssh is None or default == "ask":
        return ssh or default
    return max(ssh, default, key=_STRICTNESS.__getitem__)


class _Resolver:
    def __init__(self, config: Config, ssh_config: Path) -> None:
        self.config = config
        self.ssh_config = ssh_config
        self.local_user = _local_user()

    @cached_property
    def parsed(self) -> SSHConfigFiles | None:
        """The ssh config, read once per resolver (at the first lookup); None without one."""
        return load_ssh_config(self.ssh_config)

    def options(self, name: str, *, user: str | None = None, port: int | None = None,
                hostname: str | None = None) -> SSHOptions:
        if self.parsed is None:
            return SSHOptions()
        return self.parsed.resolve(name, user=user, port=port, hostname=hostname)

    def chain_for_host(self, host: Host, seen: tuple[str, ...], *,
                       own_jumps: bool = True) -> list[Endpoint]:
        seen = self._enter(host.name, seen)
        ssh = self.options(host.name, user=host.user, port=host.port, hostname=host.hostname)
        endpoint = self._endpoint(
            host.name, ssh, host.name, hostname=host.hostname, port=host.port, user=host.user,
            host_key_policy=host.host_key_policy, identity_files=host.identity_files,
            auth_methods=host.auth_methods)
        if not own_jumps:
            return [endpoint]
        return [*self._jumps(host.jump or ssh.proxy_jump, seen), endpoint]

    def chain_for_spec(self, spec: str, seen: tuple[str, ...], *,
                       own_jumps: bool = True) -> list[Endpoint]:
        named = self.config.get(spec.strip())
        if named is not None:
            return self.chain_for_host(named, seen, own_jumps=own_jumps)
        hop = parse_jump(spec)
        seen = self._enter(spec, seen)
        ssh = self.options(hop.host, user=hop.user, port=hop.port)
        endpoint = self._endpoint(spec, ssh, hop.host, port=hop.port, user=hop.user)
        if not own_jumps:
            return [endpoint]
        return [*self._jumps(ssh.proxy_jump, seen), endpoint]

    def _endpoint(self, label: str, ssh: SSHOptions, name: str, *, hostname: str | None = None,
                  port: int | None = None, user: str | None = None,
                  host_key_policy: str | None = None, identity_files: tuple[str, ...] = (),
                  auth_methods: tuple[str, ...] = ()) -> Endpoint:
        """One hop: rtui's values win (the resolution saw them too), ssh's fill in."""
        strict = _STRICT_POLICY.get(ssh.strict_host_key_checking or "")
        return Endpoint(
            label=label,
            hostname=(hostname or ssh.hostname or name).lower(),  # as ssh (and known_hosts)
            port=port or ssh.port or 22,
            user=user or ssh.user or self.local_user,
            identity_files=identity_files or ssh.identity_files,
            auth_methods=auth_methods,
            known_hosts_files=(_DEFAULT_KNOWN_HOSTS if ssh.known_hosts_files is None
                               else ssh.known_hosts_files),
            agent_path=ssh.identity_agent,
            host_key_policy=_host_key_policy(host_key_policy, strict,
                                             self.config.settings.host_key_policy),
            identities_only=ssh.identities_only,
            connect_timeout=ssh.connect_timeout or None,  # ssh's 0 is "the system's default"
            keepalive_interval=ssh.server_alive_interval,
            keepalive_count_max=ssh.server_alive_count_max,
        )

    def _jumps(self, specs: tuple[str, ...], seen: tuple[str, ...]) -> list[Endpoint]:
        """``a,b,c`` as ssh opens it: ``a`` through its own jumps, then ``b`` and ``c`` as
        they are (ssh reaches them with ``-J``, which overrides their own ProxyJump)."""
        chain: list[Endpoint] = []
        for i, spec in enumerate(specs):
            chain.extend(self.chain_for_spec(spec, seen, own_jumps=i == 0))
        return chain

    def _enter(self, name: str, seen: tuple[str, ...]) -> tuple[str, ...]:
        if name in seen:
            raise ConfigError(f"jump chain loops: {' -> '.join([*seen, name])}")
        if len(seen) >= _MAX_HOPS:
            raise ConfigError(f"jump chain longer than {_MAX_HOPS} hops: {' -> '.join(seen)}")
        return (*seen, name)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"
