"""``python -m benchmarks.jupyter``: start sshd, a jupyter_server and a JupyterHub at once,
time the round trips in rounds (each path in turn), then the hub's starts, print the tables,
stop everything."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import (
    bench_host,
    close_rtui,
    describe,
    fmt_ratio,
    isolated_env,
    machine_line,
    markdown_table,
    percentile,
    rtui_kernels,
    trust,
)
from benchmarks.jupyter import hub_starts
from benchmarks.jupyter.trippers import (
    CODE,
    Tripper,
    bare_ws,
    rtui_channels,
    rtui_session,
    session_tripper,
)
from benchmarks.slurm.rtui_side import login_start, stop_login
from benchmarks.slurm.run import load_average
from rtui.core.jupyter.http import ServerClient
from rtui.core.jupyter.hub import HubClient
from rtui.core.jupyter.route import ViaRoute
from rtui.core.kernels.service import HostKernels, RemoteKernel
from tests.harness.jupyter import PendingServer, start_server
from tests.harness.jupyterhub import HubInfo, PendingHub, start_hub, wait_hub
from tests.harness.sshd import SSHD, start_sshd

__all__ = ["main"]

SAMPLES, QUICK_SAMPLES = 300, 20
RUNS, QUICK_RUNS = 3, 1
WARMUP, BLOCK_WARMUP, ROUNDS = 10, 3, 10
SETUP_TIMEOUT = 120.0

RT_SSH = "SSH kernel through the loopback sshd (rtui: `HostKernels`, `KernelSession` on zmq)"
RT_SES_ON = ("websocket, direct: rtui's `KernelSession` over `WebSocketChannels` (a console's "
             "path), QUICKACK on (rtui's default)")
RT_SES_OFF = "websocket, direct: rtui's `KernelSession` over `WebSocketChannels`, QUICKACK off"
RT_CH_ON = "websocket, direct: rtui's `WebSocketChannels`, QUICKACK on (rtui's default)"
RT_CH_OFF = "websocket, direct: rtui's `WebSocketChannels`, QUICKACK off"
RT_BARE_ON = "websocket, direct: a bare aiohttp client, QUICKACK on"
RT_BARE_OFF = "websocket, direct: a bare aiohttp client, QUICKACK off (stock)"
RT_VIA_RELAY = ("websocket --via the loopback sshd, rtui's agent relay (quickack on the far "
                "side): `KernelSession` over `WebSocketChannels`")
RT_VIA_FORWARD = ("websocket --via the loopback sshd, a plain SSH channel (the fallback): "
                  "`KernelSession` over `WebSocketChannels`")
RT_HUB = "websocket through the hub's proxy (npm CHP): `WebSocketChannels`, QUICKACK on"

HUB_SPAWN = "the hub's spawn: `POST .../server` -> progress `ready` (a bare client)"
HUB_TOOK = "the hub's log: \"User alice took X seconds to start\""
RTUI_READY = ("rtui's parts: start -> console ready (`ensure_server`, kernel, websocket, "
              "first `kernel_info_reply`)")
RTUI_SERVICE = "rtui: `ServerKernels.start` on the hub host -> kernel ready (the CLI's and TUI's)"
SSH_READY = "rtui, SSH: `HostKernels.start` on a connected host -> kernel ready (scale)"


@dataclass
class Row:
    label: str
    times: list[float] = field(default_factory=list)
    error: str | None = None

    def fail(self, why: str) -> None:
        self.error, self.times = why, []


Opener = Callable[[], AbstractAsyncContextManager[Tripper]]


@dataclass
class Servers:
    sshd: SSHD
    jupyter: PendingServer
    hub: PendingHub
    state: Path  # rtui's state dir for ServerKernels' memory of the kernels it started
    hub_info: HubInfo | None = None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.jupyter",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=None,
                        help=f"round trips per path (default {SAMPLES}, --quick "
                             f"{QUICK_SAMPLES})")
    parser.add_argument("--runs", type=int, default=None,
                        help=f"hub starts per path (default {RUNS}, --quick {QUICK_RUNS})")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args(argv)
    samples = args.samples or (QUICK_SAMPLES if args.quick else SAMPLES)
    runs = args.runs or (QUICK_RUNS if args.quick else RUNS)
    if samples < 2 or runs < 1:
        parser.error("--samples must be at least 2 and --runs at least 1")
    print(machine_line(("asyncssh", "jupyter_client", "ipykernel", "jupyter_server",
                        "jupyterhub", "aiohttp")), flush=True)
    crashed = False
    with tempfile.TemporaryDirectory(prefix="rtui-bench-jupyter-",
                                     ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        with isolated_env(root / "home") as home:
            # All three start at once: their start-ups overlap.
            jupyter, hub = start_server(root / "jupyter"), start_hub()
            sshd: SSHD | None = None
            try:
                sshd = start_sshd(root / "sshd")
                trust(sshd, home)
                (root / "state").mkdir()
                crashed = asyncio.run(_bench(Servers(sshd, jupyter, hub, root / "state"),
                                             samples, runs))
            finally:
                for stop in (jupyter.stop, hub.stop, *((sshd.close,) if sshd else ())):
                    with contextlib.suppress(Exception):
                        stop()
    return 1 if crashed else 0


async def _bench(servers: Servers, samples: int, runs: int) -> bool:
    conn, kernels = rtui_kernels(bench_host(servers.sshd))
    try:
        async with asyncio.timeout(SETUP_TIMEOUT):
            info = await asyncio.to_thread(servers.jupyter.wait)
            servers.hub_info = await asyncio.to_thread(
                wait_hub, servers.hub.describe(), lambda: servers.hub.proc.poll() is None)
        print(f"(up: jupyter_server in {servers.jupyter.ready_after or 0:.1f} s; "
              f"load {load_average()})", flush=True)
        client = ServerClient("bench", info.url,
                              hub_starts.token_source("bench", info.url, info.token))
        rows = await _round_trips(servers, kernels, client, samples)
        starts, _ = await _hub_starts(servers, kernels, runs, servers.state)
        await client.close()
    finally:
        await close_rtui(conn, kernels, None)
    crashed = any(row.error for row in (*rows, *starts))
    return crashed


# ------------------------------------------------------------------------------ round trips


async def _round_trips(servers: Servers, kernels: HostKernels, client: ServerClient,
                       samples: int) -> list[Row]:
    """The SSH kernel, a kernel of the jupyter_server and one of alice's hub server, all up
    at once; ``samples`` round trips per path in blocks taking the paths in turn."""
    hub = servers.hub_info
    assert hub is not None
    load = [load_average()]
    rows = [Row(RT_SSH), Row(RT_SES_ON), Row(RT_SES_OFF), Row(RT_CH_ON), Row(RT_CH_OFF),
            Row(RT_BARE_ON), Row(RT_BARE_OFF), Row(RT_VIA_RELAY), Row(RT_VIA_FORWARD),
            Row(RT_HUB)]
    ssh_kernel: RemoteKernel | None = None
    kernel_id: str | None = None
    hub_client: ServerClient | None = None
    hub_kernel: str | None = None
    info = servers.jupyter.info
    tokens = hub_starts.token_source("bench", info.url, info.token)
    # The server's URL opened over the sshd host's connection (its agent's relay), and the
    # same through a plain SSH channel: the fallback ViaRoute takes when the relay cannot
    # be used (marked so by hand here, as it marks itself after a failure).
    relay = ViaRoute(kernels.routes, info.url, name="bench")
    forward = ViaRoute(kernels.routes, info.url, name="bench")
    forward._relay_failed = "the benchmark's plain-forward path"
    via_clients = [ServerClient("bench", info.url, tokens, connector=route.connector)
                   for route in (relay, forward)]
    try:
        async with asyncio.timeout(SETUP_TIMEOUT):
            ssh_kernel = (await login_start(kernels)).kernel
            kernel_id = (await client.start_kernel()).id
            hub_api = HubClient("hub", hub.url,
                                hub_starts.token_source("hub", hub.url, hub.token))
            try:
                hub_base = await hub_api.ensure_server("", timeout=SETUP_TIMEOUT)
            finally:
                await hub_api.close()
            hub_client = ServerClient("hub", hub_base,
                                      hub_starts.token_source("hub", hub.url, hub.token))
            hub_kernel = (await hub_client.start_kernel()).id
        session = ssh_kernel.session
        kid, hkid, hclient = kernel_id, hub_kernel, hub_client
        openers: dict[str, Opener] = {
            RT_SSH: lambda: session_tripper(session),
            RT_SES_ON: lambda: rtui_session(client, kid, quickack=True),
            RT_SES_OFF: lambda: rtui_session(client, kid, quickack=False),
            RT_CH_ON: lambda: rtui_channels(client, kid, quickack=True),
            RT_CH_OFF: lambda: rtui_channels(client, kid, quickack=False),
            RT_BARE_ON: lambda: bare_ws(info.url, info.token, kid, quickack=True),
            RT_BARE_OFF: lambda: bare_ws(info.url, info.token, kid, quickack=False),
            RT_VIA_RELAY: lambda: rtui_session(via_clients[0], kid, quickack=True),
            RT_VIA_FORWARD: lambda: rtui_session(via_clients[1], kid, quickack=True),
            RT_HUB: lambda: rtui_channels(hclient, hkid, quickack=True),
        }
        for index, block in enumerate(_blocks(samples)):
            live = [row for row in rows if row.error is None]
            shift = index % len(live) if live else 0
            for row in live[shift:] + live[:shift]:
                await _block(row, openers[row.label], block, first=index == 0)
        for label, route, mode in ((RT_VIA_RELAY, relay, "relay"),
                                   (RT_VIA_FORWARD, forward, "forward")):
            if route.mode != mode:
                next(r for r in rows if r.label == label).fail(
                    f"went by {route.mode}, not by {mode}")
    except Exception as exc:  # set-up failed: the rows without figures say why
        for row in rows:
            if not row.times and row.error is None:
                row.fail(f"set-up: {describe(exc)}")
    finally:
        with contextlib.suppress(Exception):
            if ssh_kernel is not None:
                await stop_login(kernels, ssh_kernel)
        with contextlib.suppress(Exception):
            if kernel_id is not None:
                await client.delete(kernel_id)
        if hub_client is not None:
            with contextlib.suppress(Exception):
                if hub_kernel is not None:
                    await hub_client.delete(hub_kernel)
            await hub_client.close()
        for via_client in via_clients:
            await via_client.close()
        for route in (relay, forward):
            await route.close()
    load.append(load_average())
    print(f"\n### `{CODE}` round trip (execute_reply + idle on iopub), {samples} per path in "
          f"blocks taking the paths in turn, each after {WARMUP} (first) or {BLOCK_WARMUP} "
          f"discarded\n\n(load average before / after: {' / '.join(load)})\n", flush=True)
    print(_round_table(rows), flush=True)
    return rows


async def _block(row: Row, opener: Opener, count: int, *, first: bool) -> None:
    stage = "opening"
    times: list[float] = []
    try:
        async with opener() as tripper:
            if first:
                stage = "checking 1+1 == 2"
                await tripper.check()
            for n in range(WARMUP if first else BLOCK_WARMUP):
                stage = f"warm-up {n + 1}"
                await tripper.roundtrip()
            for n in range(count):
                stage = f"sample {len(row.times) + n + 1}"
                times.append(await tripper.roundtrip())
    except Exception as exc:  # this path crashed: its row says so, the others go on
        row.fail(f"{stage}: {describe(exc)}")
        return
    row.times += times


def _blocks(samples: int) -> list[int]:
    rounds = max(1, min(ROUNDS, samples // 10))
    return [samples // rounds + (1 if i < samples % rounds else 0) for i in range(rounds)]


def _round_table(rows: list[Row]) -> str:
    ssh = next((percentile(r.times, 50) for r in rows if r.label == RT_SSH and r.times), None)
    table: list[list[object]] = []
    for row in rows:
        if row.error or not row.times:
            table.append([row.label, f"error: {row.error or 'no samples'}", "—", "—"])
            continue
        p50, p95 = percentile(row.times, 50), percentile(row.times, 95)
        table.append([row.label, f"{p50 * 1e3:.1f}", f"{p95 * 1e3:.1f}", fmt_ratio(p50, ssh)])
    return markdown_table(["path", "p50 ms", "p95 ms", "ratio to SSH (p50)"], table, "lrrr")


# ------------------------------------------------------------------------------ hub starts


async def _hub_starts(servers: Servers, kernels: HostKernels, runs: int,
                      state: Path) -> tuple[list[Row], list[Row]]:
    """``runs`` rounds of: the hub's spawn by a bare client, rtui's start to console ready,
    and (for scale) rtui's SSH kernel start; each round in another order."""
    hub = servers.hub_info
    assert hub is not None
    log = Path(servers.hub.describe()["log"])
    load = [load_average()]
    spawn, took, rtui, ssh = Row(HUB_SPAWN), Row(HUB_TOOK), Row(RTUI_READY), Row(SSH_READY)
    service = Row(RTUI_SERVICE)
    stages = [Row(label) for label in hub_starts.RTUI_STAGES]
    with contextlib.suppress(Exception):
        await hub_starts.stop_default(hub)  # the round trips' server: each start from none

    async def by_hub() -> None:
        seconds, logged = await hub_starts.hub_spawn(hub, log)
        spawn.times.append(seconds)
        if logged is not None:
            took.times.append(logged)

    async def by_rtui() -> None:
        start = await hub_starts.rtui_console_ready(hub)
        rtui.times.append(start.seconds)
        for row in stages:
            if row.label in start.stages:
                row.times.append(start.stages[row.label])

    async def by_service() -> None:
        start = await hub_starts.server_kernels_ready(hub, state)
        service.times.append(start.seconds)

    async def by_ssh() -> None:
        started = await login_start(kernels)
        try:
            ssh.times.append(started.seconds)
        finally:
            await stop_login(kernels, started.kernel)

    paths = [(spawn, by_hub), (rtui, by_rtui), (service, by_service), (ssh, by_ssh)]
    for number in range(runs):
        shift = number % len(paths)
        for row, path in paths[shift:] + paths[:shift]:
            if row.error is not None:
                continue
            try:
                await path()
            except Exception as exc:  # its row says why; the others go on
                row.fail(f"run {number + 1}: {describe(exc)}")
                with contextlib.suppress(Exception):
                    await hub_starts.stop_default(hub)
        print(f"  (hub starts: round {number + 1} done, load {load_average()})",
              file=sys.stderr, flush=True)
    load.append(load_average())
    print(f"\n### JupyterHub: alice's server from stopped to ready, {runs} start(s) per "
          f"path, each round in another order\n\n(load average before / after: "
          f"{' / '.join(load)})\n", flush=True)
    print(_start_table([spawn, took, rtui, service, ssh], spawn), flush=True)
    print(f"\nrtui's stages, seconds after the start (p50 of {runs}):\n", flush=True)
    print(markdown_table(["stage", "p50 s", "after the hub's ready (p50)"],
                         [_stage_cells(row, stages[0]) for row in stages], "lrr"), flush=True)
    return [spawn, took, rtui, service, ssh], stages


def _start_table(rows: list[Row], reference: Row) -> str:
    ref = statistics.median(reference.times) if reference.times else None
    table: list[list[object]] = []
    for row in rows:
        if row.error or not row.times:
            table.append([row.label, f"error: {row.error or 'no figure'}", "—", "—", "—", "—"])
            continue
        p50 = statistics.median(row.times)
        over = "—" if ref is None or row is reference else f"{p50 - ref:+.2f}"
        table.append([row.label, f"{p50:.2f}", f"{min(row.times):.2f}",
                      f"{max(row.times):.2f}", over, fmt_ratio(p50, ref)])
    return markdown_table(["path", "p50 s", "min s", "max s", "over the hub's spawn (p50 s)",
                           "ratio"], table, "lrrrrr")


def _stage_cells(row: Row, first: Row) -> list[object]:
    if not row.times:
        return [row.label, "—", "—"]
    p50 = statistics.median(row.times)
    base = statistics.median(first.times) if first.times else None
    return [row.label, f"{p50:.2f}", "—" if base is None else f"{p50 - base:+.2f}"]


if __name__ == "__main__":
    sys.exit(main())
