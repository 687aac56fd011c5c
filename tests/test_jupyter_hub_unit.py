"""HubClient against a fake hub (aiohttp.web on loopback): the 201 branch with progress read
while the POST waits, 202 + the event stream, 400 "already running", named servers off, a
failed spawn, a start past its bound, a missing scope; and the SSE parser."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from rtui.core.jupyter.errors import (
    ServerError,
    ServerStartTimeout,
    SpawnFailed,
    TokenRejected,
)
from rtui.core.jupyter.hub import HubClient, HubProgress, SseParser, progress_event
from rtui.core.jupyter.secrets import TokenSource
from rtui.core.jupyter.settings import JupyterSettings
from tests.jupyter_fakes import serve

TOKEN = "hub-token-77c1"


@dataclass
class FakeHub:
    """alice's default server: ``post`` picks how POST answers, ``events`` what the
    progress stream sends ("hang" holds it open), ``spawn_s`` how long a spawn takes."""

    post: str = "202"  # "201", "202", "running"
    events: list[dict[str, object] | str] = field(default_factory=list)
    spawn_s: float = 0.3
    ready: bool = False
    pending: str | None = None
    posts: int = 0
    scope_403: bool = False

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/hub/api/user", self.user)
        app.router.add_post("/hub/api/users/alice/server", self.start)
        app.router.add_delete("/hub/api/users/alice/server", self.stop)
        app.router.add_get("/hub/api/users/alice/server/progress", self.progress)
        app.router.add_post("/hub/api/users/alice/servers/{name}", self.named)
        return app

    def refused(self, request: web.Request) -> web.StreamResponse | None:
        if request.headers.get("Authorization") != f"token {TOKEN}":
            return web.json_response({"status": 403, "message":
                                      "Missing or invalid credentials."}, status=403)
        return None

    async def user(self, request: web.Request) -> web.StreamResponse:
        servers = {}
        if self.ready or self.pending:
            servers[""] = {"name": "", "ready": self.ready, "pending": self.pending,
                           "url": "/user/alice/", "progress_url": "/hub/api/.../progress"}
        return self.refused(request) or web.json_response({"name": "alice",
                                                           "servers": servers})

    async def _spawn(self) -> None:
        await asyncio.sleep(self.spawn_s)
        self.ready, self.pending = True, None

    async def start(self, request: web.Request) -> web.StreamResponse:
        if self.scope_403:
            return web.json_response({"status": 403, "message": "Action is not authorized "
                                      "with current scopes; requires any of [servers]"},
                                     status=403)
        self.posts += 1
        if self.pending == "stop":
            return web.json_response({"status": 400, "message": "alice is pending stop"},
                                     status=400)
        if self.post == "running":
            self.ready = True  # it was started behind our back
            return web.json_response({"status": 400, "message": "alice is already running"},
                                     status=400)
        self.pending = "spawn"
        spawn = asyncio.ensure_future(self._spawn())
        if self.post == "201":
            await spawn
            return web.Response(status=201)
        return web.Response(status=202)

    async def stop(self, request: web.Request) -> web.StreamResponse:
        self.ready = False
        return web.Response(status=204)

    async def named(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": 400, "message": "Named servers are not enabled."},
                                 status=400)

    async def progress(self, request: web.Request) -> web.StreamResponse:
        if self.pending != "spawn" and not self.ready:
            return web.json_response({"status": 400, "message": "alice is not starting..."},
                                     status=400)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in self.events:
            if event == "hang":
                await asyncio.sleep(60)
            elif isinstance(event, str):
                await response.write(event.encode())  # raw lines: keepalives, split data
            else:
                await response.write(f"data: {json.dumps(event)}\n\n".encode())
                await asyncio.sleep(0.02)
        return response


@pytest.fixture
async def hub_url() -> AsyncIterator[tuple[FakeHub, str]]:
    hub = FakeHub()
    async with serve(hub.app()) as url:
        yield hub, url


def client(url: str, monkeypatch: pytest.MonkeyPatch) -> HubClient:
    monkeypatch.setenv("HUB_TOKEN", TOKEN)
    settings = JupyterSettings(url=url, hub=True, token_env="HUB_TOKEN")
    return HubClient("hub", url, TokenSource("hub", settings))


REQUESTED = {"progress": 0, "message": "Server requested"}
SPAWNING = {"progress": 50, "message": "Spawning server..."}


async def test_201_while_progress_is_read(hub_url: tuple[FakeHub, str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    hub, url = hub_url
    hub.post, hub.spawn_s = "201", 0.5
    hub.events = [REQUESTED, SPAWNING, "hang"]  # only the POST's 201 can say "ready"
    seen: list[HubProgress] = []
    hc = client(url, monkeypatch)
    try:
        assert await hc.ensure_server(timeout=10, on_progress=seen.append) == \
            url + "user/alice/"
        assert [(e.progress, e.message) for e in seen] == [(0, "Server requested"),
                                                           (50, "Spawning server...")]
        # Running: no POST, no progress.
        assert await hc.ensure_server(timeout=10, on_progress=seen.append) == \
            url + "user/alice/"
        assert hub.posts == 1 and len(seen) == 2
    finally:
        await hc.close()


async def test_202_then_the_event_stream_says_ready(hub_url: tuple[FakeHub, str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    hub, url = hub_url
    ready = {"progress": 100, "ready": True, "message": "Server ready at /user/alice/",
             "url": "/user/alice/"}
    hub.events = ["\n\n", REQUESTED, ": a comment\n", 'data: {"progress": 50,\ndata: '
                  '"message": "Spawning server..."}\n\n', "\n\n", ready]
    seen: list[HubProgress] = []
    hc = client(url, monkeypatch)
    try:
        assert await hc.ensure_server(timeout=10, on_progress=seen.append) == \
            url + "user/alice/"
    finally:
        await hc.close()
    assert [(e.progress, e.ready) for e in seen] == [(0, False), (50, False), (100, True)]
    assert seen[-1].url == "/user/alice/"


async def test_already_running_is_ready(hub_url: tuple[FakeHub, str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    hub, url = hub_url
    hub.post = "running"
    hc = client(url, monkeypatch)
    try:
        assert await hc.ensure_server(timeout=10) == url + "user/alice/"
    finally:
        await hc.close()


async def test_a_server_still_stopping_is_waited_for_then_started(
        hub_url: tuple[FakeHub, str], monkeypatch: pytest.MonkeyPatch) -> None:
    hub, url = hub_url
    hub.pending = "stop"
    hub.events = [REQUESTED, {"progress": 100, "ready": True, "url": "/user/alice/"}]

    async def stopped() -> None:
        await asyncio.sleep(0.4)
        hub.pending = None

    stopping = asyncio.ensure_future(stopped())
    hc = client(url, monkeypatch)
    try:
        assert await hc.ensure_server(timeout=10) == url + "user/alice/"
    finally:
        await hc.close()
        await stopping
    assert hub.posts == 2


async def test_failed_spawn_names_the_hubs_message(hub_url: tuple[FakeHub, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    hub, url = hub_url
    hub.spawn_s = 30
    hub.events = [REQUESTED, {"progress": 100, "failed": True,
                              "message": "Spawn failed: out of quota"}]
    hc = client(url, monkeypatch)
    try:
        with pytest.raises(SpawnFailed, match="hub: the hub could not start the user's "
                                              "server: Spawn failed: out of quota") as caught:
            await hc.ensure_server(timeout=10)
    finally:
        await hc.close()
    assert caught.value.error_kind == "spawn"


async def test_a_start_past_its_bound_names_the_last_progress(
        hub_url: tuple[FakeHub, str], monkeypatch: pytest.MonkeyPatch) -> None:
    hub, url = hub_url
    hub.spawn_s = 30
    hub.events = [REQUESTED, SPAWNING, "hang"]
    hc = client(url, monkeypatch)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(ServerStartTimeout) as caught:
            await hc.ensure_server(timeout=0.6)
    finally:
        await hc.close()
    assert loop.time() - started < 3
    assert str(caught.value) == ("hub: the hub did not start the user's server within 0.6 s "
                                 "(last: 'Spawning server...'); it is left starting")
    assert caught.value.error_kind == "timeout"


async def test_named_servers_off_and_a_missing_scope(hub_url: tuple[FakeHub, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    hub, url = hub_url
    hc = client(url, monkeypatch)
    try:
        with pytest.raises(ServerError, match=r"named servers off \(c.JupyterHub."
                                              r"allow_named_servers\)"):
            await hc.ensure_server("rtui", timeout=5)
        hub.scope_403 = True
        with pytest.raises(TokenRejected) as caught:
            await hc.ensure_server(timeout=5)
    finally:
        await hc.close()
    text = str(caught.value)
    assert text.startswith("hub refused the token (HTTP 403); it comes from $HUB_TOKEN: Action "
                           "is not authorized with current scopes; requires any of [servers]")
    assert "access:servers!user" in text
    monkeypatch.setenv("HUB_TOKEN", "wrong")
    wrong = HubClient("hub", url, TokenSource("hub", JupyterSettings(
        url=url, hub=True, token_env="HUB_TOKEN")))
    with pytest.raises(TokenRejected, match=r"^hub refused the token \(HTTP 403\); it comes "
                                            r"from \$HUB_TOKEN$"):
        await wrong.user()
    await wrong.close()


def test_sse_lines_make_events() -> None:
    parser = SseParser()
    lines = [": keepalive\n", "\n", "event: progress\n", "data: {\"progress\": 5,\r\n",
             "data:\"message\": \"a\"}\n", "\n", "data: not json\n", "\n"]
    datas = [d for d in (parser.feed(line) for line in lines) if d is not None]
    assert datas == ['{"progress": 5,\n"message": "a"}', "not json"]
    assert progress_event(datas[0]) == HubProgress(5, "a", False, False, None)
    assert progress_event(datas[1]) is None
    assert progress_event('{"progress": "x", "ready": true, "url": "/user/a/"}') == \
        HubProgress(0, "", True, False, "/user/a/")
