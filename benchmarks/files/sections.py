"""The benchmark's four sections: a big file, a folder of small files, the far link, a big
directory; each path measured in rounds, a different order each round."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.common import describe, rtui_command
from benchmarks.files.bench import (
    AGENT,
    CLI,
    ENGINE,
    FAR,
    HOST,
    LS,
    SCANDIR,
    SCP,
    SCP_R,
    SERVICE,
    SFTP,
    SFTP_R,
    STEP_TIMEOUT,
    TAB,
    Bench,
    MiB,
    Row,
    Rss,
    RssSampler,
    Sizes,
    best_of,
    clear,
    digest,
    net,
    rtui_has,
    there,
    timed,
    turn,
)


async def engine_copy(bench: Bench, source: str, dest: str, *, up: bool, host: str = HOST,
                      recursive: bool = False) -> float:
    """Seconds for rtui's engine to copy ``source`` to ``dest`` (``up``: this machine to the
    host), its connection already up."""
    from rtui.core.files.paths import Local, Remote
    from rtui.core.files.transfer import TransferSpec, transfer

    src = Local(source) if up else Remote(host, source)
    dst = Remote(host, dest) if up else Local(dest)
    spec = TransferSpec(sources=(src,), dest=dst, recursive=recursive)
    started = time.perf_counter()
    await asyncio.wait_for(transfer(bench.workspace, spec), STEP_TIMEOUT)
    return time.perf_counter() - started


async def connect(bench: Bench, host: str) -> Any:
    """The host's files service with its connection, SFTP and agent up (not measured)."""
    files = await bench.workspace.files(host)
    await files.stat(str(bench.remote))
    await files.sftp()
    await files.agent.start()
    return files


# ------------------------------------------------------------------------- the sections


async def big_file(bench: Bench, sizes: Sizes, logins: dict[str, float]
                   ) -> tuple[list[Row], list[Rss]]:
    """One file up and down by every path, the paths in another order each round."""
    source = bench.local / "big.bin"
    with source.open("wb") as out:
        for _ in range(sizes.mib):
            out.write(os.urandom(MiB))
    size = source.stat().st_size
    shutil.copyfile(source, bench.remote / "big.bin")  # what the downloads fetch
    want = digest(source)
    rows = [Row(ENGINE, missing=not there("rtui.core.files.transfer")),
            Row(CLI, missing=not rtui_has("cp")), Row(SFTP), Row(SCP)]
    rss: list[Rss] = []
    up_to, down_to = bench.remote / "up.bin", bench.local / "down.bin"
    remote_big = str(bench.remote / "big.bin")

    async def one(row: Row, direction: str, index: int) -> float:
        up = direction == "up"
        src, dst = (str(source), str(up_to)) if up else (remote_big, str(down_to))
        if row.label == ENGINE:
            with RssSampler() as sampler:
                seconds = await engine_copy(bench, src, dst, up=up)
            rss.append(sampler.result(f"{direction}, round {index + 1}", size))
            return seconds
        if row.label == CLI:
            if "rtui" not in logins:  # its start and login (a failure here is the row's)
                stat = [*rtui_command(), "files", HOST, "stat", str(bench.remote)]
                logins["rtui"] = await asyncio.to_thread(best_of, sizes.logins, stat,
                                                         env=bench.env)
            remote = f"{HOST}:{dst if up else src}"
            command = [*rtui_command(), "cp", "-q", *((src, remote) if up else (remote, dst))]
            return net(await asyncio.to_thread(timed, command, env=bench.env), logins["rtui"])
        if row.label == SFTP:
            batch = f"put {src} {dst}\n" if up else f"get {src} {dst}\n"
            command = [*bench.openssh("sftp"), "-b", "-", bench.target]
            return net(await asyncio.to_thread(timed, command, stdin=batch), logins["sftp"])
        far = f"{bench.target}:{dst if up else src}"
        command = [*bench.openssh("scp"), *((src, far) if up else (far, dst))]
        return net(await asyncio.to_thread(timed, command), logins["sftp"])

    if not rows[0].missing:  # the engine's first use (threads, SFTP's first open): not timed
        warm = bench.local / "warm.bin"
        warm.write_bytes(os.urandom(MiB))
        try:
            await engine_copy(bench, str(warm), str(bench.remote / "warm.bin"), up=True)
            await engine_copy(bench, str(bench.remote / "warm.bin"), str(warm), up=False)
        except Exception as exc:
            rows[0].error = f"warm-up: {describe(exc)}"
    for index in range(sizes.runs):
        for row in turn(rows, index):
            for direction in ("up", "down"):
                landed = up_to if direction == "up" else down_to
                try:
                    row.add(direction, await one(row, direction, index))
                    if landed.stat().st_size != size or (index == 0 and digest(landed) != want):
                        raise RuntimeError(f"{direction}: the copy differs from its source")
                except Exception as exc:
                    row.error = f"{direction}: {describe(exc)}"
                    break
                finally:
                    with contextlib.suppress(OSError):
                        clear(landed)
    return rows, rss


async def folder(bench: Bench, sizes: Sizes, logins: dict[str, float]) -> list[Row]:
    """A folder of small files up and down by the engine, ``scp -r`` and ``sftp -r``."""
    source = bench.local / "small"
    source.mkdir()
    for i in range(sizes.files):
        (source / f"f{i:05d}.dat").write_bytes(os.urandom(4096))
    shutil.copytree(source, bench.remote / "small")
    rows = [Row(ENGINE, missing=not there("rtui.core.files.transfer")), Row(SCP_R), Row(SFTP_R)]
    up_to, down_to = bench.remote / "small-up", bench.local / "small-down"
    remote_small = str(bench.remote / "small")

    async def one(row: Row, up: bool) -> float:
        src, dst = (str(source), str(up_to)) if up else (remote_small, str(down_to))
        if row.label == ENGINE:
            return await engine_copy(bench, src, dst, up=up, recursive=True)
        if row.label == SCP_R:
            far = f"{bench.target}:{dst if up else src}"
            command = [*bench.openssh("scp"), "-r", *((src, far) if up else (far, dst))]
            return net(await asyncio.to_thread(timed, command), logins["sftp"])
        batch = f"put -r {src} {dst}\n" if up else f"get -r {src} {dst}\n"
        command = [*bench.openssh("sftp"), "-b", "-", bench.target]
        return net(await asyncio.to_thread(timed, command, stdin=batch), logins["sftp"])

    for index in range(sizes.runs):
        for row in turn(rows, index):
            for direction in ("up", "down"):
                landed = up_to if direction == "up" else down_to
                try:
                    row.add(direction, await one(row, direction == "up"))
                    count = len(os.listdir(landed))
                    if count != sizes.files:
                        raise RuntimeError(f"{count} of {sizes.files} files arrived")
                except Exception as exc:
                    row.error = f"{direction}: {describe(exc)}"
                    break
                finally:
                    with contextlib.suppress(OSError):
                        clear(landed)
    return rows


async def far_link(bench: Bench, sizes: Sizes) -> Row:
    """The file up and down by the engine through the relay (50 ms, 10 MB/s); one round:
    the link sets the pace, not the machine (1 GiB takes ~110 s each way)."""
    row = Row(ENGINE, missing=not there("rtui.core.files.transfer"))
    if row.missing or bench.link is None:
        return row
    source = bench.local / "far.bin"
    with source.open("wb") as out:
        for _ in range(sizes.relay_mib):
            out.write(os.urandom(MiB))
    try:
        await connect(bench, FAR)
        row.add("up", await engine_copy(bench, str(source), str(bench.remote / "far.bin"),
                                        up=True, host=FAR))
        row.add("down", await engine_copy(bench, str(bench.remote / "far.bin"),
                                          str(bench.local / "far-back.bin"), up=False,
                                          host=FAR))
        if (bench.local / "far-back.bin").stat().st_size != source.stat().st_size:
            raise RuntimeError("the copy differs from its source")
    except Exception as exc:
        row.error = describe(exc)
    return row


async def listing(bench: Bench, sizes: Sizes, logins: dict[str, float]) -> list[Row]:
    """A big directory listed by ``ls -la`` over ssh, rtui's service, the agent, SFTP, and
    shown by rtui's Files tab."""
    many = bench.remote / "many"
    many.mkdir()
    for i in range(sizes.entries):
        os.close(os.open(many / f"entry-{i:06d}.txt", os.O_CREAT | os.O_WRONLY, 0o644))
    path = str(many)
    rows = [Row(LS), Row(SERVICE), Row(AGENT), Row(SCANDIR)]
    tab = Row(TAB, missing=not there("rtui.tui.widgets.files"))
    files = await connect(bench, HOST)

    async def stream(batches: Callable[[Callable[[int], None]], Awaitable[None]],
                     row: Row) -> None:
        started = time.perf_counter()
        counted: list[int] = []

        def got(n: int) -> None:
            if not counted:
                row.add("first", time.perf_counter() - started)
            counted.append(n)

        await asyncio.wait_for(batches(got), STEP_TIMEOUT)
        row.add("all", time.perf_counter() - started)
        if sum(counted) != sizes.entries:
            raise RuntimeError(f"{sum(counted)} of {sizes.entries} entries listed")

    async def by_service(got: Callable[[int], None]) -> None:
        async for entries in files.list(path):
            got(len(entries))

    async def by_agent(got: Callable[[int], None]) -> None:
        await files.agent.request("fs_list", {"path": path, "batch": 1000}, timeout=60,
                                  idle_timeout=True, on_rows=lambda rows: got(len(rows)))

    async def by_scandir(got: Callable[[int], None]) -> None:
        sftp = await files.sftp()
        batch = 0
        async for entry in sftp.scandir(path):
            if entry.filename not in (".", ".."):
                batch += 1
                if batch == 100:
                    got(batch)
                    batch = 0
        got(batch)

    ways = {SERVICE: by_service, AGENT: by_agent, SCANDIR: by_scandir}
    ls = [*bench.openssh("ssh"), bench.target, f"ls -la {path} | wc -l"]
    for index in range(sizes.runs):
        for row in turn(rows, index):
            try:
                if row.label == LS:
                    row.add("all", net(await asyncio.to_thread(timed, ls), logins["ssh"]))
                else:
                    await stream(ways[row.label], row)
            except Exception as exc:
                row.error = describe(exc)
    if not tab.missing:
        from benchmarks.files.tab import tab_listing

        try:
            await tab_listing(bench, path, sizes.runs, tab, "entry-")
        except Exception as exc:
            tab.error = describe(exc)
    return [*rows, tab]
