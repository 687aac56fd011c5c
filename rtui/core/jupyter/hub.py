"""A JupyterHub's REST API: who the token is, the user's servers, and starting one.

A start is ``POST .../server`` (201 ready, 202 pending) while the hub's progress stream is read
at the same time: the hub may hold the POST up to its ``slow_spawn_timeout`` (10 s by
default) before it answers 201, and the person should see progress meanwhile. The whole
start is bounded; a server that is not ready within it is left starting, and the error names
the hub's last progress message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from ssl import SSLContext
from typing import Any
from urllib.parse import quote, urljoin

import aiohttp

from rtui.core.jupyter.errors import (
    ServerError,
    ServerProtocolError,
    ServerStartTimeout,
    SpawnFailed,
)
from rtui.core.jupyter.http import HUB_SCOPES, ConnectorFactory, JupyterHttp, api_message
from rtui.core.jupyter.secrets import TokenSource

__all__ = [
    "HUB_SCOPES", "HubClient", "HubProgress", "HubServerState", "SseParser",
    "progress_event",
]

log = logging.getLogger(__name__)

RETRY_PAUSE = 0.25
"""Between reads of the progress stream while the hub has not begun the spawn yet."""
MAX_STARTS = 2
"""POSTs per ensure_server: a second one only if the server stopped under the first."""


@dataclass(frozen=True)
class HubProgress:
    """One event of the hub's progress stream (0-100; ``url`` once ready)."""

    progress: int
    message: str
    ready: bool
    failed: bool
    url: str | None


@dataclass(frozen=True)
class HubServerState:
    """A user's server as the hub's user model says: ``url`` is its path on the hub."""

    name: str
    ready: bool
    pending: str | None  # "spawn", "stop", or None
    url: str | None


class SseParser:
    """Server-sent events from lines: each event's ``data`` lines joined, at its blank line."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """The data of the event this line ends, else None (comments and other fields are
        skipped; the hub's keepalives are blank lines with no data)."""
        line = line.rstrip("\r\n")
        if not line:
            data, self._data = self._data, []
            return "\n".join(data) if data else None
        if line.startswith("data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None


def progress_event(data: str) -> HubProgress | None:
    """A progress event from an SSE data field (None if it is not one)."""
    try:
        event = json.loads(data)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    try:
        progress = int(event.get("progress") or 0)
    except (TypeError, ValueError):
        progress = 0
    url = event.get("url")
    return HubProgress(progress=progress, message=str(event.get("message") or ""),
                       ready=event.get("ready") is True, failed=event.get("failed") is True,
                       url=url if isinstance(url, str) else None)


class HubClient(JupyterHttp):
    """One user's view of a hub (the token's owner): its servers, started and stopped."""

    def __init__(self, name: str, hub_url: str, tokens: TokenSource, *,
                 ssl: SSLContext | None = None, connector: ConnectorFactory | None = None,
                 connect_timeout: float = 15.0) -> None:
        super().__init__(name, hub_url, tokens, ssl=ssl, connector=connector,
                         connect_timeout=connect_timeout)
        self._user_name: str | None = None  # the token's owner, known after user()

    async def version(self) -> str:
        data = await self.get_json("hub/api")
        version = data.get("version") if isinstance(data, dict) else None
        if not isinstance(version, str):
            raise ServerProtocolError(f"{self.name}: {self.url('hub/api')} names no version: "
                                      f"is {self.base_url} a JupyterHub?")
        return version

    async def user(self) -> dict[str, Any]:
        """The token owner's model (``GET hub/api/user``), its servers included."""
        data = await self.get_json("hub/api/user")
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise ServerProtocolError(f"{self.name}: {self.url('hub/api/user')} names no "
                                      f"user: is {self.base_url} a JupyterHub?")
        self._user_name = data["name"]
        return data

    async def server_state(self, server: str = "") -> HubServerState | None:
        """The user's server ``server`` ("" the default one); None when it does not exist
        or is stopped."""
        servers = (await self.user()).get("servers")
        if not isinstance(servers, dict):
            if servers is None:
                raise ServerError(
                    f"{self.name}: the hub shows the token no servers: it needs the scope "
                    f"read:servers (rtui needs {', '.join(HUB_SCOPES)})")
            return None
        entry = servers.get(server)
        if not isinstance(entry, dict):
            return None
        url = entry.get("url")
        pending = entry.get("pending")
        return HubServerState(name=server, ready=entry.get("ready") is True,
                              pending=pending if isinstance(pending, str) else None,
                              url=url if isinstance(url, str) else None)

    def server_url(self, path: str) -> str:
        """The user server's base URL from its path on the hub ("/user/alice/")."""
        url = urljoin(self.base_url, path)
        return url if url.endswith("/") else url + "/"

    async def ensure_server(self, server: str = "", *, timeout: float,
                            on_progress: Callable[[HubProgress], None] | None = None) -> str:
        """The user server's base URL, started first when it is not running. ``timeout``
        bounds the whole start (the POST included); ServerStartTimeout names the hub's last
        progress message, SpawnFailed the hub's failure."""
        state = await self.server_state(server)
        if state is not None and state.ready and state.url:
            return self.server_url(state.url)
        last: list[HubProgress] = []

        def seen(event: HubProgress) -> None:
            last.append(event)
            log.debug("%s: start progress %d%% %s", self.name, event.progress, event.message)
            if on_progress is not None:
                on_progress(event)

        try:
            async with asyncio.timeout(timeout):
                return await self._start(server, state, timeout, seen)
        except TimeoutError:
            what = f"the server '{server}'" if server else "the user's server"
            tail = f" (last: '{last[-1].message}')" if last and last[-1].message else ""
            raise ServerStartTimeout(f"{self.name}: the hub did not start {what} within "
                                     f"{timeout:g} s{tail}; it is left starting") from None

    async def _start(self, server: str, state: HubServerState | None, timeout: float,
                     seen: Callable[[HubProgress], None]) -> str:
        starts = 0
        post: asyncio.Task[bool] | None = None
        if state is None or state.pending != "spawn":
            post, starts = asyncio.create_task(self._post_start(server, timeout)), 1
        follow = asyncio.create_task(self._follow(server, seen))
        # A failed event read before our POST answered may be an older spawn's.
        follow_after_post = post is None
        try:
            while True:
                await asyncio.wait({t for t in (post, follow) if t is not None},
                                   return_when=asyncio.FIRST_COMPLETED)
                if post is not None and post.done():
                    if post.result():  # 201 or already running: ready now
                        return await self._ready_url(server)
                    post = None  # 202: the progress stream says when it is ready
                if not follow.done():
                    continue
                event = follow.result()
                if event is not None and event.ready:
                    return (self.server_url(event.url) if event.url
                            else await self._ready_url(server))
                if event is not None and event.failed and follow_after_post:
                    raise SpawnFailed(f"{self.name}: the hub could not start "
                                      f"{_server_words(server)}: {event.message}")
                # Not begun yet (our POST is still on its way), or the stream ended.
                if post is None:
                    now = await self.server_state(server)
                    if now is not None and now.ready and now.url:
                        return self.server_url(now.url)
                    if now is None or now.pending is None:
                        if starts >= MAX_STARTS:
                            raise SpawnFailed(f"{self.name}: the hub says "
                                              f"{_server_words(server)} is neither running "
                                              f"nor starting")
                        post, starts = asyncio.create_task(
                            self._post_start(server, timeout)), starts + 1
                follow = asyncio.create_task(self._follow(server, seen, pause=RETRY_PAUSE))
                follow_after_post = post is None
        finally:
            # Cancelling our POST does not stop the spawn: the hub keeps it going.
            for task in (post, follow):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task

    async def _ready_url(self, server: str) -> str:
        state = await self.server_state(server)
        if state is None or not state.url:
            raise SpawnFailed(f"{self.name}: the hub said {_server_words(server)} started, "
                              f"but lists no URL for it")
        return self.server_url(state.url)

    async def _post_start(self, server: str, timeout: float) -> bool:
        """Ask the hub to start the server: True when it is ready (201, or it was already
        running), False when pending (202). Bounded by the start's own bound."""
        path = await self._server_path(server)
        try:
            status, _ = await self.request("POST", path, body={}, bound=timeout, ok=(201, 202))
        except ServerError as exc:
            text = str(exc)
            if "already running" in text:
                return True
            if "is pending" in text:  # spawn: follow it; stop: wait, then start again
                return False
            if "Named servers are not enabled" in text:
                raise ServerError(
                    f"{self.name}: the hub has named servers off "
                    f"(c.JupyterHub.allow_named_servers): leave `server` empty to use the "
                    f"default server, or ask the hub's admin") from None
            raise
        return status == 201

    async def _follow(self, server: str, seen: Callable[[HubProgress], None], *,
                      pause: float = 0.0) -> HubProgress | None:
        """Read the progress stream to its ready or failed event (each event to ``seen``);
        None when the hub says the server is not starting (400/404) or the stream ends."""
        if pause:
            await asyncio.sleep(pause)
        path = await self._server_path(server) + "/progress"
        async with self._open("GET", path) as response:
            if response.status in (400, 404):
                log.debug("%s: progress: %s", self.name, api_message(await response.read()))
                return None
            if response.status != 200:
                raise self.status_error("GET", path, response.status, await response.read(),
                                        response.headers.get("Location", ""))
            parser = SseParser()
            try:
                async for raw in response.content:
                    data = parser.feed(raw.decode(errors="replace"))
                    event = progress_event(data) if data is not None else None
                    if event is None:
                        continue
                    seen(event)
                    if event.ready or event.failed:
                        return event
            except aiohttp.ClientError as exc:
                raise self.failure(exc, self.url(path)) from None
        return None

    async def stop_server(self, server: str = "") -> None:
        """Stop the user's server (202 while it stops, 204 once stopped)."""
        await self.request("DELETE", await self._server_path(server), ok=(202, 204))

    async def _server_path(self, server: str) -> str:
        if self._user_name is None:
            await self.user()
        user = quote(self._user_name or "", safe="")
        if server:
            return f"hub/api/users/{user}/servers/{quote(server, safe='')}"
        return f"hub/api/users/{user}/server"


def _server_words(server: str) -> str:
    return f"the server '{server}'" if server else "the user's server"
