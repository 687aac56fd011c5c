"""A Jupyter server reached over an SSH host of the hosts file (``via``): the URL's
host:port is dialled from that host, and this side talks to a Unix socket in rtui's 0700
runtime directory (aiohttp's UnixConnector; no local TCP listener, as for kernels).

Each connection made to that socket becomes a stream through rtui's agent on the via host:
its relay connects to host:port with TCP_NODELAY and ACKs every read at once (TCP_QUICKACK).
jupyter_server never sets TCP_NODELAY on the kernel websocket, so an execute_reply and the
``idle`` after it are two writes and Nagle holds the second until the ACK that sshd's side
of the hop would delay 40 ms: 1+1 takes ~50 ms through a plain SSH forward, ~12 through the
relay (DESIGN20 §7). Where the relay cannot run (no Python for the agent there), a direct
SSH channel to host:port is opened instead (what ``forward_local_path_to_port`` opens per
connection), said once in the log: it works, 40 ms slower per round trip.

The listener lives as long as the route, across reconnects of the via host: each connection
is opened over the connection of the moment.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import aiohttp
import asyncssh

from rtui.core import locations
from rtui.core.errors import RtuiError, SSHError, TargetUnreachableError
from rtui.core.ssh.connection import ConnState

if TYPE_CHECKING:
    from rtui.core.kernels.routes import Forward, HostRoutes, StreamReader, StreamWriter

__all__ = ["ViaMode", "ViaRoute", "url_target"]

log = logging.getLogger(__name__)

ViaMode = Literal["relay", "forward"]
_SOCKET_NAME = "srv"


def url_target(url: str) -> tuple[str, int]:
    """The host and port a URL names (80/443 when it names none)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    return host, parts.port or (443 if parts.scheme == "https" else 80)


class ViaRoute:
    """The local end of a server URL opened over the via host's connection (``routes``:
    that host's, shared with its kernels: one agent, one relay channel)."""

    def __init__(self, routes: HostRoutes, url: str, *, name: str,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.routes = routes
        self.url = url
        self.name = name  # the Jupyter host's, for the messages
        self.host, self.port = url_target(url)
        self.ssl_context = ssl_context
        self.mode: ViaMode | None = None  # how the last stream went
        self._relay_failed: str | None = None  # why the relay cannot be used (this run)
        self._forward: Forward | None = None
        self._directory: Path | None = None
        self._starting = asyncio.Lock()

    @property
    def via(self) -> str:
        return self.routes.name

    @property
    def path(self) -> Path | None:
        """The local Unix socket, once listening."""
        return None if self._forward is None else self._forward.path

    async def connector(self) -> aiohttp.BaseConnector:
        """A connector for one aiohttp session: to the local socket (listening from the
        first call on). https URLs get TLS over it, checked against the URL's host."""
        path = await self.start()
        if urlsplit(self.url).scheme == "https":
            return _UnixTLSConnector(str(path), self.ssl_context or ssl.create_default_context())
        return aiohttp.UnixConnector(path=str(path))

    async def start(self) -> Path:
        """Listen on the local socket (once); its path."""
        from rtui.core.kernels.routes import Forward

        async with self._starting:
            if self._forward is None:
                directory = self._directory = locations.kernel_socket_dir()
                forward = Forward(self.routes, directory / _SOCKET_NAME,
                                  ("tcp", self.host, self.port), opener=self._open)
                try:
                    await forward.start()
                except BaseException:
                    shutil.rmtree(directory, ignore_errors=True)
                    self._directory = None
                    raise
                self._forward = forward
            return self._forward.path

    async def close(self) -> None:
        forward, self._forward = self._forward, None
        if forward is not None:
            await forward.close()
        directory, self._directory = self._directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    async def _open(self) -> tuple[StreamReader, StreamWriter]:
        """One stream to host:port from the via host: the relay, else a direct channel."""
        timeout = self.routes.connection.settings.connect_timeout + 20
        target = ("tcp", self.host, self.port)
        if self._relay_failed is None:
            try:
                stream = await self.routes.open_relayed(target, timeout=timeout, quickack=True)
            except TargetUnreachableError as exc:  # nothing listens there: no other way helps
                log.info("%s: %s", self.name, exc)
                raise
            except (RtuiError, TimeoutError) as exc:  # the agent cannot run, its relay failed
                if self.routes.connection.state is not ConnState.CONNECTED:
                    raise  # the link is down, not the relay: the next connection tries again
                self._relay_failed = str(exc)
                log.warning("%s: the agent's relay on %s cannot be used (%s): the server is "
                            "reached by a plain SSH forward, ~40 ms slower per round trip",
                            self.name, self.via, exc)
            else:
                self.mode = "relay"
                return stream
        try:
            conn = await self.routes.connection.connect()  # the live one, or made now
            reader, writer = await asyncio.wait_for(
                conn.open_connection(self.host, self.port), timeout)
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            raise SSHError(f"{self.via} cannot reach {self.host}:{self.port} for "
                           f"{self.name}: {exc}") from exc
        self.mode = "forward"
        return reader, writer


class _UnixTLSConnector(aiohttp.UnixConnector):
    """aiohttp's UnixConnector speaks plain text; an https server behind the via host needs
    TLS over the Unix socket, checked against the URL's host name (never unverified)."""

    def __init__(self, path: str, ssl_context: ssl.SSLContext) -> None:
        super().__init__(path=path)
        self._tls = ssl_context

    async def _create_connection(self, req: Any, traces: Any, timeout: Any) -> Any:
        if not req.is_ssl():
            return await super()._create_connection(req, traces, timeout)
        try:
            async with asyncio.timeout(timeout.sock_connect):
                factory: Callable[[], asyncio.BaseProtocol] = self._factory
                _, proto = await asyncio.get_running_loop().create_unix_connection(
                    factory, self.path, ssl=self._tls,
                    server_hostname=req.url.raw_host)
        except OSError as exc:
            if isinstance(exc, ssl.SSLCertVerificationError):
                raise aiohttp.ClientConnectorCertificateError(req.connection_key,
                                                              exc) from exc
            raise aiohttp.ClientConnectorError(req.connection_key, exc) from exc
        return proto
