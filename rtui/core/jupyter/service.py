"""Kernels on a Jupyter server (or a JupyterHub user's server): what the CLI and the TUI
use of an SSH host's kernels (``KernelHost``), over the server's REST API and the kernel
websocket.

The server owns the kernels: it starts them from kernelspecs (listed as the host's
"environments", so the console's picker needs no dialog of its own), keeps them running
when rtui leaves, and buffers what a websocket session id missed while it was away. Each
console gets a session id of its own, never one that is still connected (the server would
close the older socket), and keeps it across reconnects of its websocket.

For a JupyterHub the user's server is started first when it is not running (the hub's
progress events go to ``on_progress``), then it is a plain server at the URL the hub gives.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import ssl
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rtui.core.errors import KernelDiedError, KernelError, RtuiError
from rtui.core.jupyter.errors import KernelNotFound
from rtui.core.jupyter.memory import ServerMemory
from rtui.core.kernels.first_code import FirstCode
from rtui.core.kernels.records import (
    Environment,
    KernelRecord,
    LocatedKernel,
    RemoteKernel,
    ServerKernelRef,
)
from rtui.core.kernels.session import KernelSession

if TYPE_CHECKING:
    import aiohttp

    from rtui.core.jupyter.http import ServerClient, ServerKernelInfo
    from rtui.core.jupyter.hub import HubClient, HubProgress
    from rtui.core.jupyter.route import ViaRoute
    from rtui.core.jupyter.secrets import TokenSource
    from rtui.core.jupyter.settings import JupyterSettings
    from rtui.core.jupyter.ws_channels import WebSocketChannels

__all__ = ["KERNELSPEC_KIND", "ProgressCallback", "ServerKernels"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[["HubProgress"], None]
KERNELSPEC_KIND = "kernelspec"  # Environment.kind of a server's kernelspec
_START_TIMEOUT = 60.0  # seconds for a new kernel to answer kernel_info (it boots meanwhile)
_DEAD = "dead"


class ServerKernels:
    """The kernel side of one Jupyter host (a ``KernelHost``), sharing one REST client."""

    supports_files = False
    supports_environments = False
    supports_slurm = False

    def __init__(
        self, name: str, settings: JupyterSettings, tokens: TokenSource, *,
        via: ViaRoute | None = None, state_dir: Path | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self._name = name
        self.settings = settings
        self.tokens = tokens
        self.via = via
        # Who hears a hub's server start (the TUI's progress widget, the CLI's stderr).
        self.on_progress = on_progress
        self.memory = ServerMemory(None if state_dir is None else state_dir / "jupyter.json")
        self._client: ServerClient | None = None
        self._hub: HubClient | None = None
        self._opening: asyncio.Lock | None = None
        self._attached: list[RemoteKernel] = []
        self._specs: list[Environment] | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def connection(self) -> None:
        """No SSH connection of its own (callers that follow one look for None)."""
        return None

    # -- the server -------------------------------------------------------------------------

    async def connect(self, *, on_progress: ProgressCallback | None = None) -> ServerClient:
        """The REST client of the server, made on first use; for a hub, the user's server
        started first when it is not running (``on_progress``, else the service's own
        callback, hears the hub's events; bounded by ``start_timeout``)."""
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._client is None:
                base_url = self.settings.url
                if self.settings.hub:
                    base_url = await self._user_server(on_progress or self.on_progress)
                self._client = self._make_client(base_url)
            return self._client

    @property
    def client(self) -> ServerClient | None:
        """The server's REST client, once made (a hub's: once its user server runs)."""
        return self._client

    def hub(self) -> HubClient | None:
        """The hub's REST client (made now), None for a plain server."""
        if not self.settings.hub:
            return None
        if self._hub is None:
            from rtui.core.jupyter.hub import HubClient

            self._hub = HubClient(self.name, self.settings.url, self.tokens, ssl=self._ssl(),
                                  connector=self.connector(),
                                  connect_timeout=self.settings.connect_timeout)
        return self._hub

    async def _user_server(self, on_progress: ProgressCallback | None) -> str:
        hub = self.hub()
        assert hub is not None
        return await hub.ensure_server(self.settings.server,
                                       timeout=self.settings.start_timeout,
                                       on_progress=on_progress)

    def _make_client(self, base_url: str) -> ServerClient:
        from rtui.core.jupyter.http import ServerClient

        return ServerClient(self.name, base_url, self.tokens, ssl=self._ssl(),
                            connector=self.connector(),
                            connect_timeout=self.settings.connect_timeout)

    def _ssl(self) -> ssl.SSLContext | None:
        from rtui.core.jupyter.tls import ssl_context

        return ssl_context(self.settings.ca_file)

    def connector(self) -> Callable[[], Awaitable[aiohttp.BaseConnector]] | None:
        """What makes each aiohttp session's connector: the via route's, else aiohttp's."""
        return None if self.via is None else self.via.connector

    async def close(self) -> None:
        """Detach from every kernel still attached (they keep running on the server)."""
        for kernel in list(self._attached):
            with contextlib.suppress(Exception):
                await self.detach(kernel)
        for client in (self._client, self._hub):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.close()
        self._client = self._hub = None
        if self.via is not None:
            await self.via.close()

    # -- what kernels can start in ----------------------------------------------------------

    async def environments(self, *, refresh: bool = False) -> builtins.list[Environment]:
        """The server's kernelspecs as environments (``python`` is the spec's name), its
        default first."""
        if self._specs is None or refresh:
            specs = await (await self.connect()).kernelspecs()
            ordered = sorted(specs.specs.items(), key=lambda item: item[0] != specs.default)
            self._specs = [
                Environment(python=spec, kind=KERNELSPEC_KIND, name=display or spec,
                            version=None, ipykernel="(kernelspec)", spyder_kernels=None)
                for spec, display in ordered]
        return list(self._specs)

    # -- kernels ----------------------------------------------------------------------------

    async def list(self) -> builtins.list[KernelRecord]:
        """The server's kernels (rtui's marked: those it started)."""
        infos = await (await self.connect()).kernels()
        return [self._record(info) for info in infos]

    def _record(self, info: ServerKernelInfo) -> KernelRecord:
        return KernelRecord(
            id=info.id, connection_file="", alive=info.execution_state != _DEAD,
            rtui=self.memory.started(self.name, info.id), kind=info.name,
            started=_unix_time(info.last_activity))

    async def start(self, *, python: str, spyder: bool = False, cwd: str | None = None,
                    code: str | None = None) -> RemoteKernel:
        """Start a kernel from the kernelspec ``python`` names ("" or "auto": the server's
        default) and attach to it. ``cwd``: a path under the server's root directory."""
        if spyder:
            raise KernelError(f"{self.name} is a Jupyter server: it starts kernelspecs, not "
                              "Spyder kernels", title="Not available")
        client = await self.connect()
        spec = python if python not in ("", "auto") else None
        info = await client.start_kernel(spec, cwd)
        self.memory.mark_started(self.name, info.id)
        log.info("%s: started kernel %s (%s)", self.name, info.id, info.name)
        try:
            return await self._connect(info, launched=True, console=True, code=code)
        except BaseException:
            with contextlib.suppress(Exception):  # a kernel nobody can reach is not left
                await client.delete(info.id)
            self.memory.forget(self.name, info.id)
            raise

    async def attach(self, spec: str, *, console: bool = True,
                     code: str | None = None) -> RemoteKernel:
        """Attach to a running kernel by id (or the start of one, when only one matches)."""
        info = await self._find(spec)
        if info.execution_state == _DEAD:
            raise self._gone_error(info.id)
        return await self._connect(info, launched=False, console=console, code=code)

    async def locate(self, spec: str, *, alive: bool = True) -> LocatedKernel:
        """The kernel ``spec`` names, not attached to (``alive``: a dead one is an error)."""
        info = await self._find(spec)
        running = info.execution_state != _DEAD
        if alive and not running:
            raise self._gone_error(info.id)
        return LocatedKernel(info.id, None, {}, None, where=f"{self.name}:{info.id}",
                             running=running)

    async def gone(self, kernel: RemoteKernel) -> KernelDiedError | None:
        """The error that names the kernel as gone when the server no longer has it (404)
        or says it is dead, else None (alive, or the server cannot be asked now)."""
        return await self._gone_by_id(kernel.id)

    async def _gone_by_id(self, kernel_id: str) -> KernelDiedError | None:
        try:
            info = await (await self.connect()).kernel(kernel_id)
        except KernelNotFound:
            return self._gone_error(kernel_id)
        except RtuiError as exc:
            log.info("%s: cannot tell whether kernel %s lives: %s", self.name, kernel_id, exc)
            return None
        return self._gone_error(kernel_id) if info.execution_state == _DEAD else None

    async def interrupt(self, kernel: RemoteKernel) -> None:
        await self._by_id(kernel.id, "interrupt")

    async def restart(self, kernel: RemoteKernel, *, timeout: float = 60) -> None:
        """Restart in place (the server keeps its id; the websocket carries on)."""
        async with asyncio.timeout(timeout):
            await self._by_id(kernel.id, "restart")
        await kernel.session.wait_ready(timeout)

    async def restart_by_id(self, kernel_id: str, *, timeout: float = 60) -> RemoteKernel:
        """Restart a kernel by id (no session first: a dead one answers nobody), then
        attach to it."""
        info = await self._find(kernel_id)
        async with asyncio.timeout(timeout):
            await self._by_id(info.id, "restart")
        return await self.attach(info.id, console=False)

    async def shutdown(self, kernel: RemoteKernel, *, timeout: float = 5,
                       dead: bool = False) -> None:
        """Shut the kernel down on the server (already gone: nothing to do), then detach."""
        try:
            with contextlib.suppress(KernelNotFound):
                async with asyncio.timeout(timeout + 15):
                    await (await self.connect()).delete(kernel.id)
            self.memory.forget(self.name, kernel.id)
        finally:
            await self.detach(kernel)

    async def shutdown_by_id(self, kernel_id: str, *, timeout: float = 5) -> None:
        info = await self._find(kernel_id)
        async with asyncio.timeout(timeout + 15):
            await self._by_id(info.id, "delete")
        self.memory.forget(self.name, info.id)

    async def detach(self, kernel: RemoteKernel) -> None:
        """Close the console's websocket; the kernel keeps running on the server."""
        with contextlib.suppress(ValueError):
            self._attached.remove(kernel)
        with contextlib.suppress(Exception):
            await kernel.session.close()

    def remember_seen(self, kernel: RemoteKernel) -> None:
        """Nothing to remember: the server's buffer is per websocket session."""

    # -- internals --------------------------------------------------------------------------

    async def _find(self, spec: str) -> ServerKernelInfo:
        """The server's record of kernel ``spec``: its id, or the unique start of one."""
        client = await self.connect()
        spec = spec.strip()
        try:
            return await client.kernel(spec)
        except KernelNotFound:
            pass
        matches = [k for k in await client.kernels() if spec and k.id.startswith(spec)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise KernelError(f"{spec} names {len(matches)} kernels on {self.name}: give more "
                              "of the id")
        raise KernelError(f"no kernel {spec} on {self.name}: is it running? "
                          f"(`rtui kernels {self.name}` lists them)")

    async def _by_id(self, kernel_id: str, action: str) -> None:
        """interrupt / restart / delete through REST; a kernel the server no longer has is
        named as gone."""
        client = await self.connect()
        calls = {"interrupt": client.interrupt, "restart": client.restart,
                 "delete": client.delete}
        try:
            await calls[action](kernel_id)
        except KernelNotFound as exc:
            raise self._gone_error(kernel_id) from exc

    def _gone_error(self, kernel_id: str) -> KernelDiedError:
        return KernelDiedError(f"{self.name}: kernel {kernel_id} is gone from the server")

    def channels(self, kernel_id: str, session_id: str) -> WebSocketChannels:
        """The websocket channels to a kernel under ``session_id`` (kept across reconnects:
        the server replays what the session missed)."""
        from rtui.core.jupyter.ws_channels import WebSocketChannels

        async def connect(protocols: tuple[str, ...]) -> aiohttp.ClientWebSocketResponse:
            client = await self.connect()
            return await client.open_websocket(kernel_id, session_id, protocols=protocols)

        return WebSocketChannels(connect, name=f"{self.name}:{kernel_id}",
                                 session_id=session_id)

    async def _connect(self, info: ServerKernelInfo, *, launched: bool, console: bool,
                       code: str | None) -> RemoteKernel:
        """A session to the kernel over a websocket with a session id of its own."""
        client = await self.connect()
        session_id = uuid.uuid4().hex  # never one still connected: the server kicks it
        name = f"{self.name}:{info.id}"
        channels = self.channels(info.id, session_id)
        await channels.open()  # a refused token or a kernel gone meanwhile is told here
        session = KernelSession(channels, name=name)
        first = FirstCode(code)
        first.session = session
        try:
            await session.start(timeout=_START_TIMEOUT, then=first.nudged, booting=launched)
            first.nudged()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await session.close()
            if isinstance(exc, KernelError):
                gone = await self._gone_by_id(info.id)
                if gone is not None:
                    raise gone from exc
            raise
        kernel = RemoteKernel(
            host=self.name, id=info.id, connection_file=None, session=session, tunnel=None,
            launched=launched, kind=info.name, python=info.name, console=console,
            first=first.execution,
            server=ServerKernelRef(client.base_url, info.id, session_id,
                                   self.via.via if self.via is not None else None))
        self._attached.append(kernel)
        return kernel


def _unix_time(stamp: str | None) -> float | None:
    """An ISO time the server gives ("2026-12-07T20:41:11.123456Z") as a unix time."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None
