"""Start the sshd and the far link, measure every section on one workspace, print the
tables, stop everything."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from benchmarks.common import (
    bench_host,
    isolated_env,
    machine_line,
    subprocess_env,
    write_known_hosts,
)
from benchmarks.farlink.link import FarLink
from benchmarks.files.bench import (
    BANDWIDTH,
    DELAY,
    FAR,
    FULL,
    HOST,
    QUICK,
    Bench,
    Sizes,
    best_of,
)
from benchmarks.files.report import render
from benchmarks.files.sections import big_file, connect, far_link, folder, listing
from tests.harness.sshd import start_sshd

__all__ = ["main"]

async def measure(bench: Bench, sizes: Sizes) -> tuple[str, bool]:
    """Every section on one workspace; the tables, and whether a path crashed."""
    from rtui.core.config.model import Config
    from rtui.core.config.store import HostStore
    from rtui.core.workspace import Workspace

    hosts = [bench_host(bench.server, name=HOST)]
    if bench.link is not None:
        hosts.append(bench_host(bench.server, port=bench.link.port, name=FAR))
    bench.workspace = Workspace(None, config=Config(hosts=tuple(hosts)))
    HostStore(bench.home / ".config" / "rtui" / "hosts.toml").update(
        lambda config: config.with_host(hosts[0]))
    spent: list[str] = []
    clock = time.perf_counter()

    def lap(what: str) -> None:
        nonlocal clock
        spent.append(f"{what} {time.perf_counter() - clock:.1f} s")
        clock = time.perf_counter()

    try:
        await connect(bench, HOST)
        logins = {
            "sftp": await asyncio.to_thread(
                best_of, sizes.logins, [*bench.openssh("sftp"), "-b", "-", bench.target],
                stdin="pwd\n"),
            "ssh": await asyncio.to_thread(
                best_of, sizes.logins, [*bench.openssh("ssh"), bench.target, "true"]),
        }
        lap("connect and logins")
        big, rss = await big_file(bench, sizes, logins)
        lap("big file")
        small = await folder(bench, sizes, logins)
        lap("folder")
        far = await far_link(bench, sizes)
        lap("far link")
        lists = await listing(bench, sizes, logins)
        lap("directory")
        crashed = any(row.error is not None for row in (*big, *small, far, *lists))
        text = render(sizes, big, rss, small, far, lists, logins)
        return f"{text}\n\n(time spent: {', '.join(spent)})", crashed
    finally:
        with contextlib.suppress(Exception):
            await bench.workspace.close()


def run(sizes: Sizes) -> tuple[str, bool]:
    """Start sshd and the far link, measure, stop everything; the tables, and whether a path
    crashed."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="rtui-bench-files-", dir=base,
                                     ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        server = start_sshd(root / "sshd")
        link = None
        try:
            with isolated_env(root / "home") as home:
                link = FarLink(server.host, server.port)
                link.set_delay(DELAY)
                link.set_bandwidth(BANDWIDTH)
                key_type, key_data = server.host_key_pub.read_text().split()[:2]
                known_hosts = write_known_hosts(home, [
                    server.known_hosts_line(),
                    f"[{server.host}]:{link.port} {key_type} {key_data}"])
                bench = Bench(root, server, home, known_hosts, link=link,
                              env=subprocess_env(home, pycache=root / "pycache"))
                bench.local.mkdir()
                bench.remote.mkdir()
                return asyncio.run(measure(bench, sizes))
        finally:
            if link is not None:
                link.close()
            server.close()


def _first_paragraph() -> str:
    import benchmarks.files

    return (benchmarks.files.__doc__ or "").split("\n\n")[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.files",
                                     description=_first_paragraph())
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 8 MiB, 100 files, 1 MiB far, 2,000 entries, 1 run")
    parser.add_argument("--runs", type=int, help=f"rounds (default {FULL.runs})")
    parser.add_argument("--mib", type=int, help=f"the big file (default {FULL.mib})")
    parser.add_argument("--files", type=int, help=f"the folder's files (default {FULL.files})")
    parser.add_argument("--entries", type=int, help=f"the directory (default {FULL.entries})")
    parser.add_argument("--relay-mib", type=int,
                        help=f"the file through the far link (default {FULL.relay_mib})")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    chosen = {name: value for name in ("runs", "mib", "files", "entries", "relay_mib")
              if (value := getattr(args, name)) is not None}
    if any(value < 1 for value in chosen.values()):
        parser.error("sizes and --runs must be at least 1")
    sizes = replace(sizes, **chosen)
    print(machine_line(), flush=True)
    started = time.perf_counter()
    text, crashed = run(sizes)
    print(text)
    print(f"\n(files: {time.perf_counter() - started:.1f} s in all)", flush=True)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
