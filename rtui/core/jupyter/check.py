"""A Jupyter host's status check: reachable, TLS, token accepted, server version, kernels.

The same ``HostStatus`` an SSH host's check gives, so the host list, ``rtui check`` and its
JSON read both alike. Steps: ``tcp`` (connect, timed), ``tls`` (the handshake, https only),
``auth`` (a call that needs the token: the kernels, or the hub's user), ``probe`` (the
server's version). Each is bounded by the check's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rtui.core.errors import RtuiError
from rtui.core.jupyter.errors import ServerError, ServerTimeout, ServerUnreachable
from rtui.core.jupyter.http import ConnectorFactory, ServerClient, os_reason
from rtui.core.jupyter.hub import HubClient
from rtui.core.jupyter.secrets import TokenSource
from rtui.core.jupyter.tls import ssl_context, tls_problem
from rtui.core.ssh.check import HostStatus

if TYPE_CHECKING:
    from rtui.core.config.model import Host

__all__ = ["check_server"]


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


async def check_server(host: Host, tokens: TokenSource, *, timeout: float,
                       client: ServerClient | None = None, hub: HubClient | None = None,
                       connector: ConnectorFactory | None = None) -> HostStatus:
    """Check one jupyter or jupyterhub host. ``client``/``hub``: the host's own clients
    when it has them (kept open), else made here from its settings and closed. A host
    reached ``--via`` an SSH host passes its ``connector``: no tcp/tls step then (the route
    makes the connection). A hub's server version and kernels are its user server's, when
    that runs (the check never starts it)."""
    status = HostStatus(host.name)
    settings = host.jupyter
    started = time.perf_counter()
    step = "tcp"
    made: list[ServerClient | HubClient] = []
    try:
        if settings is None:
            raise ServerError(f"{host.name} is not a Jupyter host")
        step = "tls"
        context = ssl_context(settings.ca_file)
        if connector is None:
            step = "tcp"
            writer = await _connect(host.name, settings.url, timeout, status)
            step = "tls"
            await _handshake(host.name, settings.url, context, timeout, writer)
        step = "auth"
        if settings.hub:
            if hub is None:
                hub = HubClient(host.name, settings.url, tokens, ssl=context,
                                connector=connector, connect_timeout=timeout)
                made.append(hub)
            t0 = time.perf_counter()
            async with _bounded(host.name, "the hub's answer", timeout):
                await hub.user()
            status.rtt_ms = _ms(t0)
            status.ok = True
            step = "probe"
            async with _bounded(host.name, "the hub's answer", timeout):
                state = await hub.server_state(settings.server)
            if state is None or not state.ready or not state.url:
                return status
            if client is None:
                client = ServerClient(host.name, hub.server_url(state.url), tokens,
                                      ssl=context, connector=connector,
                                      connect_timeout=timeout)
                made.append(client)
        elif client is None:
            client = ServerClient(host.name, settings.url, tokens, ssl=context,
                                  connector=connector, connect_timeout=timeout)
            made.append(client)
        t0 = time.perf_counter()
        async with _bounded(host.name, "the kernels' list", timeout):
            kernels = await client.kernels()
        if not settings.hub:
            status.rtt_ms = _ms(t0)
        status.ok = True
        status.kernels = len(kernels)
        step = "probe"
        async with _bounded(host.name, "the server's version", timeout):
            status.server_version = await client.version()
    except RtuiError as exc:
        status.failed_step, status.error = step, str(exc)
        status.error_kind = exc.error_kind if isinstance(exc, ServerError) else "error"
    finally:
        for made_client in made:
            await made_client.close()
        status.elapsed_ms = _ms(started)
    return status


@contextlib.asynccontextmanager
async def _bounded(name: str, what: str, timeout: float) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError:
        raise ServerTimeout(f"{name}: no answer within {timeout:g} s ({what})") from None


async def _connect(name: str, url: str, timeout: float,
                   status: HostStatus) -> asyncio.StreamWriter:
    """Time the TCP connect (the connection is kept for the handshake)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    where = f"{parts.scheme}://{parts.netloc}/"
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(parts.hostname or "", port)
    except TimeoutError:
        raise ServerTimeout(f"{name}: no answer from {where} within {timeout:g} s") from None
    except OSError as exc:
        raise ServerUnreachable(f"{name}: nothing answers at {where} "
                                f"({os_reason(exc)})") from None
    status.tcp_ms = _ms(t0)
    return writer


async def _handshake(name: str, url: str, context: ssl.SSLContext | None, timeout: float,
                     writer: asyncio.StreamWriter) -> None:
    """For https, the TLS handshake on the connection ``_connect`` made; then closes it."""
    parts = urlsplit(url)
    where = f"{parts.scheme}://{parts.netloc}/"
    try:
        if parts.scheme == "https":
            try:
                async with asyncio.timeout(timeout):
                    await writer.start_tls(context or ssl.create_default_context(),
                                           server_hostname=parts.hostname)
            except TimeoutError:
                raise ServerTimeout(
                    f"{name}: no TLS answer from {where} within {timeout:g} s (if it serves "
                    f"plain http, the url must start with http://)") from None
            except (ssl.SSLError, OSError) as exc:
                raise (tls_problem(name, url, exc)
                       or ServerUnreachable(f"{name}: the TLS handshake with {where} failed "
                                            f"({exc})")) from None
    finally:
        # Dropped, not closed: a graceful close after a handshake that never finished
        # waits for the far side (for ever, on a server that never speaks TLS).
        writer.transport.abort()
        with contextlib.suppress(Exception):  # no wait once start_tls took the transport
            async with asyncio.timeout(0.1):
                await writer.wait_closed()
