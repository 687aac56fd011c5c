"""``python -m benchmarks.envs``: start the two hosts (online, and one whose index is
unreachable), time every path in interleaved rounds, print the tables, stop everything."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import (
    bench_host,
    describe,
    isolated_env,
    machine_line,
    subprocess_env,
    write_known_hosts,
)
from benchmarks.envs.host import (
    OFFLINE_SETENV,
    ONLINE_SETENV,
    PACKAGES,
    Host,
    Made,
    check_env,
    local_uv,
    uv_version,
)
from benchmarks.envs.report import Row, render
from benchmarks.envs.rtui_side import MISSING, connect, rtui_create, there
from tests.harness.sshd import SSHD_MISSING_MESSAGE, sshd_available, start_sshd

__all__ = ["main"]

RUNS, QUICK_RUNS = 3, 1
GOAL = 0.3  # rtui with uv, x the by-hand time
ONLINE, OFFLINE = "online", "offline"
WARM, COLD, BOTH = "warm", "cold", "both"
Make = Callable[[], Awaitable[Made]]


@dataclass(frozen=True)
class Contender:
    """One path: its label, whether rtui runs it, its goal (x the reference), and how to
    make one environment on a host (``envs``: rtui's service for that host, or None)."""

    label: str
    rtui: bool
    make: Callable[[Host, Any], Awaitable[Made]]
    goal: float | None = None
    reference: bool = False


async def _in_thread(call: Callable[[], Made]) -> Made:
    return await asyncio.to_thread(call)


ONLINE_PATHS = (
    Contender("rtui, uv (`HostEnvironments.create`, tool uv)", True,
              lambda host, envs: rtui_create(envs, host, "uv"), goal=GOAL),
    Contender("rtui, venv + pip (tool venv)", True,
              lambda host, envs: rtui_create(envs, host, "venv")),
    Contender("by hand: `ssh host 'python3 -m venv X && X/bin/pip install ipykernel numpy'`",
              False, lambda host, envs: _in_thread(host.by_hand_pip), reference=True),
    Contender("by hand with uv: `ssh host 'uv venv X && uv pip install -p X ...'` (scale)",
              False, lambda host, envs: _in_thread(host.by_hand_uv)),
)
OFFLINE_PATHS = (
    Contender("rtui, uv (index tried, unless already seen failing in the run; then "
              "wheels here + uploaded)", True,
              lambda host, envs: rtui_create(envs, host, "uv"), goal=GOAL),
    Contender("rtui, venv + pip (index tried, unless seen failing; then wheels + upload)", True,
              lambda host, envs: rtui_create(envs, host, "venv")),
    Contender("rtui, uv, `offline=True` (wheels here + uploaded, index not tried)", True,
              lambda host, envs: rtui_create(envs, host, "uv", offline=True)),
    Contender("by hand: `pip download` here + `scp -r` + `pip install --no-index "
              "--find-links`", False,
              lambda host, envs: _in_thread(host.by_hand_offline), reference=True),
)


@dataclass
class Section:
    """One table: a host, warm or cold caches, its rows and the load around it."""

    title: str
    rows: list[Row]
    load: list[str] = field(default_factory=list)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


async def one_run(contender: Contender, row: Row, host: Host, envs: Any, *,
                  kept: bool, cold: bool) -> None:
    """Make one environment by ``contender``'s path; its time kept in ``row`` when
    ``kept``; the environment checked (imports ipykernel and numpy), then removed."""
    if row.error is not None or row.missing:
        return
    if cold:
        host.clear_caches()
    if contender.rtui and host.offline:
        host.forget_uploads()
    try:
        made = await contender.make(host, envs)
        check_env(made.prefix)
    except Exception as exc:  # a crash is a row's message, not the end of the run
        row.error = describe(exc)
        return
    finally:
        shutil.rmtree(host.home / "by-hand", ignore_errors=True)  # a by-hand run's, or half
    shutil.rmtree(made.prefix, ignore_errors=True)
    if kept:
        row.times.append(made.seconds)
        if made.uploaded:
            row.uploaded = made.uploaded


async def section(title: str, paths: Sequence[Contender], host: Host, envs: Any, *,
                  runs: int, warm_up: bool, cold: bool) -> Section:
    """Every path ``runs`` times, interleaved (a path's neighbours change each round, so a
    load that comes and goes falls on all); a first untimed round when ``warm_up``."""
    rows = [Row(p.label, goal=p.goal, reference=p.reference,
                missing=p.rtui and envs is None) for p in paths]
    if isinstance(envs, Exception):  # rtui could not reach the host's environments
        for row, path in zip(rows, paths, strict=True):
            if path.rtui:
                row.error = f"no service: {describe(envs)}"
    result = Section(title, rows, [load_average()])
    rounds = runs + (1 if warm_up else 0)
    for number in range(rounds):
        shift = number % len(paths)
        order = list(range(len(paths)))[shift:] + list(range(len(paths)))[:shift]
        for index in order:
            await one_run(paths[index], rows[index], host, envs,
                          kept=not (warm_up and number == 0), cold=cold)
        print(f"  ({title}: round {number + 1}/{rounds} done, load {load_average()})",
              file=sys.stderr, flush=True)
    result.load.append(load_average())
    return result


async def measure(hosts: dict[str, Host], *, runs: int, quick: bool, caches: str,
                  only: Sequence[str]) -> list[Section]:
    from rtui.core.config.model import Config
    from rtui.core.workspace import Workspace

    workspace = Workspace(None, config=Config(hosts=tuple(
        bench_host(host.server, name=name) for name, host in hosts.items())))
    sections: list[Section] = []
    try:
        services: dict[str, Any] = {}
        for name in hosts:
            try:
                services[name] = await connect(workspace, name) if there() else None
            except Exception as exc:  # its rows say why; the by-hand rows still run
                services[name] = exc
        plan = [(ONLINE, ONLINE_PATHS), (OFFLINE, OFFLINE_PATHS)]
        for name, paths in plan:
            if only and name not in only:
                continue
            host, envs = hosts[name], services[name]
            where = ("the host reaches PyPI" if name == ONLINE else
                     "the host's index unreachable (PIP_INDEX_URL, UV_INDEX_URL, "
                     "UV_DEFAULT_INDEX = http://127.0.0.1:9/simple by sshd's SetEnv)")
            warm = ("one run each (caches as they are)" if quick else
                    f"warm caches (a first untimed round fills pip's and uv's caches on "
                    f"the host and here), median of {runs}")
            if caches != COLD:
                sections.append(await section(f"{name.capitalize()} create, {warm}; {where}",
                                              paths, host, envs, runs=runs,
                                              warm_up=not quick, cold=False))
            if caches == COLD or (caches == BOTH and not quick):
                sections.append(await section(
                    f"{name.capitalize()} create, cold caches (the host's ~/.cache, pip's "
                    f"and uv's, and this side's emptied before each run: everything "
                    f"downloaded from PyPI), median of {runs}; {where}",
                    paths, host, envs, runs=runs, warm_up=False, cold=True))
    finally:
        with contextlib.suppress(Exception):
            await workspace.close()
    return sections


def run(*, runs: int, quick: bool, caches: str, only: Sequence[str]) -> list[Section]:
    """Start both hosts, measure, stop everything."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="rtui-bench-envs-", dir=base,
                                     ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        servers = {ONLINE: start_sshd(root / ONLINE, extra_config=ONLINE_SETENV)}
        try:
            servers[OFFLINE] = start_sshd(root / OFFLINE, extra_config=OFFLINE_SETENV)
            with isolated_env(root / "client") as home:
                known_hosts = write_known_hosts(
                    home, [server.known_hosts_line() for server in servers.values()])
                env = subprocess_env(home)
                uv = local_uv()
                hosts: dict[str, Host] = {}
                for name, server in servers.items():
                    scratch = root / f"wheels-{name}"
                    scratch.mkdir()
                    hosts[name] = Host(server, name == OFFLINE, known_hosts, env, scratch)
                    if uv is not None:
                        hosts[name].link_uv(uv)
                return asyncio.run(measure(hosts, runs=runs, quick=quick, caches=caches,
                                           only=only))
        finally:
            for server in servers.values():
                server.close()


def main(argv: Sequence[str] | None = None) -> int:
    import benchmarks.envs

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.envs",
        description=(benchmarks.envs.__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: one run of each path, no warm-up, no cold rows")
    parser.add_argument("--runs", type=int, help=f"timed runs of each path (default {RUNS})")
    parser.add_argument("--caches", choices=(WARM, COLD, BOTH), default=BOTH,
                        help="the warm tables, the cold ones (they download everything from "
                             "PyPI), or both (default)")
    parser.add_argument("--only", action="append", choices=(ONLINE, OFFLINE), default=[],
                        help="only this host's tables (repeatable)")
    args = parser.parse_args(argv)
    runs = args.runs or (QUICK_RUNS if args.quick else RUNS)
    if runs < 1:
        parser.error("--runs must be at least 1")
    if not sshd_available():
        print(f"skipped: {SSHD_MISSING_MESSAGE}", flush=True)
        return 0
    uv = local_uv()
    print(machine_line(), flush=True)
    print(f"Host side: the same machine through a loopback OpenSSH sshd; base interpreter "
          f"{Path(sys.base_prefix)} (every path makes its venv from it); "
          f"{uv_version(uv)} linked as the host's ~/.local/bin/uv; packages "
          f"{' + '.join(PACKAGES)}; load average at the start {load_average()}", flush=True)
    if not there():
        print(f"(rtui.core.envs is {MISSING}: rtui's rows are left empty)", flush=True)
    started = time.perf_counter()
    sections = run(runs=runs, quick=args.quick, caches=args.caches, only=args.only)
    print(render(sections))
    print(f"\n(envs: {time.perf_counter() - started:.1f} s in all)", flush=True)
    crashed = any(row.error is not None for part in sections for row in part.rows)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
