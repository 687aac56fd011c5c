"""A JupyterHub user server's start, the hub's own figure beside rtui's "console ready".

- **the hub's spawn**: ``POST /hub/api/users/alice/server`` until its progress stream says
  ``ready`` (read at the same time, as a client must: the POST answers 202 at once), and the
  hub's own log line "User alice took X seconds to start".
- **rtui**: from nothing running to a console that can take code: ``HubClient.ensure_server``
  (the same POST and progress), ``ServerClient.start_kernel``, the kernel's websocket open
  (``WebSocketChannels``) and its ``kernel_info_reply`` (what a console waits for before its
  first prompt). Each stage is kept as seconds after the start, so rtui's cost over the
  hub's spawn shows where it goes.

Each start begins with alice's default server stopped, and stops it after.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from rtui.core.jupyter.http import ServerClient
from rtui.core.jupyter.hub import HubClient, HubProgress
from rtui.core.jupyter.secrets import TokenSource
from rtui.core.jupyter.service import ServerKernels
from rtui.core.jupyter.settings import JupyterSettings
from rtui.core.jupyter.ws_channels import WebSocketChannels
from tests.harness.jupyterhub import HubInfo

__all__ = ["HUB_READY", "RTUI_STAGES", "hub_spawn", "rtui_console_ready",
           "server_kernels_ready", "token_source"]

START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
_TOOK = re.compile(r"User (\S+) took ([0-9.]+) seconds to start")

HUB_READY = "the hub's progress said ready (`ensure_server` returned the server's URL)"
KERNEL_MADE = "the kernel made (`POST api/kernels` answered 201)"
WS_OPEN = "the kernel's websocket open (the server waits for the new kernel)"
CONSOLE_READY = "console ready: its `kernel_info_reply` in"
RTUI_STAGES = (HUB_READY, KERNEL_MADE, WS_OPEN, CONSOLE_READY)


def token_source(name: str, url: str, token: str) -> TokenSource:
    """A TokenSource that hands out ``token`` (as one typed into the prompt)."""

    async def ask(prompt: str) -> str:
        return token

    return TokenSource(name, JupyterSettings(url=url), ask=ask)


def hub_log_took(log: Path, user: str, before: int) -> float | None:
    """The hub's own "took X seconds" for ``user`` in the log, after byte ``before``."""
    try:
        text = log.read_bytes()[before:].decode(errors="replace")
    except OSError:
        return None
    found = [float(seconds) for name, seconds in _TOOK.findall(text) if name == user]
    return found[-1] if found else None


def log_size(log: Path) -> int:
    try:
        return log.stat().st_size
    except OSError:
        return 0


async def stop_default(hub: HubInfo) -> None:
    await asyncio.wait_for(asyncio.to_thread(hub.stop_server, ""), STOP_TIMEOUT)


async def hub_spawn(hub: HubInfo, log: Path) -> tuple[float, float | None]:
    """Seconds from the POST to the progress stream's ``ready``, and the hub's own figure
    from its log. The server is stopped after."""
    headers = {"Authorization": f"token {hub.token}"}
    path = f"{hub.url}hub/api/users/{hub.user}/server"
    before = log_size(log)
    try:
        async with aiohttp.ClientSession(headers=headers) as http, \
                asyncio.timeout(START_TIMEOUT):
            started = time.perf_counter()
            async with http.post(path, json={}) as posted:
                if posted.status not in (201, 202):
                    raise RuntimeError(f"the start answered {posted.status}: "
                                       f"{await posted.text()}")
                ready_now = posted.status == 201
            if not ready_now:
                async with http.get(f"{path}/progress") as stream:
                    async for line in stream.content:
                        if not line.startswith(b"data:"):
                            continue
                        event = json.loads(line[5:])
                        if event.get("failed"):
                            raise RuntimeError(f"the spawn failed: {event.get('message')}")
                        if event.get("ready"):
                            break
                    else:
                        raise RuntimeError("the progress stream ended before ready")
            seconds = time.perf_counter() - started
        for _ in range(20):  # the log line comes as the hub adds the route, a moment later
            took = hub_log_took(log, hub.user, before)
            if took is not None:
                break
            await asyncio.sleep(0.05)
        return seconds, took
    finally:
        await stop_default(hub)


@dataclass
class ConsoleStart:
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)


async def rtui_console_ready(hub: HubInfo) -> ConsoleStart:
    """rtui's path from a stopped server to a console's first kernel_info_reply, stage by
    stage; the kernel is deleted and the server stopped after."""
    tokens = token_source("hub", hub.url, hub.token)
    hub_client = HubClient("hub", hub.url, tokens)
    server: ServerClient | None = None
    kernel_id: str | None = None
    stages: dict[str, float] = {}
    try:
        async with asyncio.timeout(START_TIMEOUT):
            started = time.perf_counter()
            base = await hub_client.ensure_server("", timeout=START_TIMEOUT)
            stages[HUB_READY] = time.perf_counter() - started
            server = ServerClient("hub", base, tokens)
            kernel = await server.start_kernel()
            kernel_id = kernel.id
            stages[KERNEL_MADE] = time.perf_counter() - started
            await _first_kernel_info(server, kernel_id, stages, started)
            return ConsoleStart(stages[CONSOLE_READY], stages)
    finally:
        if server is not None:
            if kernel_id is not None:
                await server.delete(kernel_id)
            await server.close()
        await hub_client.close()
        await stop_default(hub)


async def _first_kernel_info(server: ServerClient, kernel_id: str, stages: dict[str, float],
                             started: float) -> None:
    session_id = uuid.uuid4().hex

    async def connect(protocols: tuple[str, ...]) -> aiohttp.ClientWebSocketResponse:
        return await server.open_websocket(kernel_id, session_id, protocols=protocols)

    channels = WebSocketChannels(connect, name="hub-bench", session_id=session_id)
    answered = asyncio.Event()
    try:
        await channels.open()
        stages[WS_OPEN] = time.perf_counter() - started
        sent: list[str] = []

        def on_shell(msg: dict[str, object]) -> None:
            parent = msg.get("parent_header")
            if isinstance(parent, dict) and parent.get("msg_id") in sent:
                answered.set()

        channels.start({"shell": on_shell}, lambda event: None)
        sent.append(channels.send("shell", "kernel_info_request", {}))
        await answered.wait()
        stages[CONSOLE_READY] = time.perf_counter() - started
    finally:
        await channels.close()


async def server_kernels_ready(hub: HubInfo, state_dir: Path) -> ConsoleStart:
    """rtui's own path, as the CLI and the TUI take it: ``ServerKernels.start`` on a
    jupyterhub host (the hub's start with its progress, the kernel, its session's first
    kernel_info_reply), from a stopped server; the kernel shut down and the server stopped
    after. The stage is the hub's ready event, as ``on_progress`` hears it."""
    stages: dict[str, float] = {}
    started = time.perf_counter()  # again just before the start

    def progress(event: HubProgress) -> None:
        if event.ready and HUB_READY not in stages:
            stages[HUB_READY] = time.perf_counter() - started

    settings = JupyterSettings(url=hub.url, hub=True)
    kernels = ServerKernels("hub", settings, token_source("hub", hub.url, hub.token),
                            state_dir=state_dir, on_progress=progress)
    try:
        async with asyncio.timeout(START_TIMEOUT):
            started = time.perf_counter()
            kernel = await kernels.start(python="")
            seconds = time.perf_counter() - started
        stages[CONSOLE_READY] = seconds
        await kernels.shutdown(kernel)
        return ConsoleStart(seconds, stages)
    finally:
        await kernels.close()
        await stop_default(hub)
