"""Status at scale: ``rtui check`` on 100 hosts against the slowest single-host check.

``python -m benchmarks.scale [--runs N] [--quick]``

100 hosts (``--quick``: 10), each a distinct name: 90 are aliases of 10 loopback OpenSSH sshds
(round robin, same hostname and port, the client key as identity, host keys trusted in
``~/.ssh/known_hosts`` of a throwaway HOME); 10 are down, every tenth in the list: half point
at a closed port (refused), half at a black hole that accepts TCP and never answers (the SSH
handshake times out at ``--timeout 2``). The real CLI runs as a subprocess,
``python -m rtui --config CFG check --json --timeout 2``, with the throwaway HOME; its wall
time (spawn to exit) is compared with the slowest single-host check (``rtui check NAME`` for
one up host and one black-hole host). The settings are rtui's defaults (check_concurrency 32,
at most 8 handshakes at once per SSH server); a second row checks all 100 at once; the
harness's sshds allow that (MaxStartups 200, MaxSessions 100). Each host caches its probe's answers
(``~/.cache/rtui/probe-v2.json``, valid until an interpreter or its packages change): one row
is the first check ever, run once before the others (every sshd's cache, which the warm-up
filled for its server, is deleted first), when every host starts its Pythons to answer; on this
machine those 100 "remote" hosts share 2 cores, which real hosts do not. The other rows are
taken in rounds, every row in turn, after one discarded single-host check; Python's bytecode is
cached in the temp dir (PYTHONPYCACHEPREFIX) as an installed package has it.

Everything runs on 127.0.0.1 and is stopped at the end. Exit 0 whatever the figures;
non-zero if a run crashed.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import (
    LOOPBACK,
    TIMING_ALIGN,
    TimedRow,
    describe,
    free_ports,
    goal_met,
    kill_leftovers,
    machine_line,
    markdown_table,
    problem_cells,
    runs_parser,
    runs_wanted,
    stop_process,
    subprocess_env,
    timing_cells,
    timing_header,
    write_known_hosts,
)
from rtui.core.config.model import Config, Host, Settings
from rtui.core.config.store import HostStore
from rtui.core.ssh.check import PER_SERVER
from tests.harness.relay import BlackHole
from tests.harness.sshd import SSHD, start_sshd

__all__ = ["main"]

GOAL_RATIO = 1.5  # all hosts within 1.5x of the slowest single host
ALL_AT_ONCE = 100  # the second row: every host at once
TIMEOUT = 2.0  # rtui check --timeout
RUN_TIMEOUT = 300.0  # seconds for one CLI run before it counts as crashed
DEFAULT_RUNS = 3
QUICK_RUNS = 1


@dataclass(frozen=True)
class Size:
    sshds: int
    up: int
    down: int  # half refused, half black holes

    @property
    def hosts(self) -> int:
        return self.up + self.down


FULL = Size(sshds=10, up=90, down=10)
QUICK = Size(sshds=1, up=8, down=2)


@dataclass
class Row(TimedRow):
    """One way of running the check; its goal is a ratio to the reference."""

    args: list[str] = field(default_factory=list)  # after `rtui --config CFG check`
    config: str = "default"  # which hosts file
    single: bool = False  # one host: a candidate for the reference
    once: bool = False  # measured once, before the rounds (the first check ever)
    outcomes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------ running


def main(argv: Sequence[str] | None = None) -> int:
    parser = runs_parser(
        "python -m benchmarks.scale", __doc__, what="runs of each check", default=DEFAULT_RUNS,
        quick=QUICK_RUNS, quick_help=f"{QUICK.hosts} hosts on {QUICK.sshds} sshd, {QUICK_RUNS} run")
    args = parser.parse_args(argv)
    runs = runs_wanted(parser, args, default=DEFAULT_RUNS, quick=QUICK_RUNS)
    size = QUICK if args.quick else FULL

    print(machine_line(), flush=True)
    started = time.perf_counter()
    rows, notes = measure(size, runs)
    print(
        f"\n`rtui check --json --timeout {TIMEOUT:g}` (real CLI, subprocess, wall time from "
        f"spawn to exit): {size.hosts} hosts, {size.up} up as aliases of {size.sshds} loopback "
        f"sshd(s), {size.down // 2} refused, {size.down - size.down // 2} black holes; "
        f"{runs} run(s) each, in rounds; {time.perf_counter() - started:.1f} s in all\n"
    )
    print(render_table(rows), flush=True)
    if notes:
        print("\n" + "\n".join(f"- {note}" for note in notes), flush=True)
    return 1 if any(row.error for row in rows) else 0


def measure(size: Size, runs: int) -> tuple[list[Row], list[str]]:
    all_at_once = (f"all {size.hosts} hosts, check_concurrency {ALL_AT_ONCE} "
                   f"({PER_SERVER} handshakes per server)")
    default = Settings().check_concurrency
    rows = [
        Row(f"all {size.hosts} hosts, default settings (check_concurrency {default}, "
            f"{PER_SERVER} handshakes per server)", goal=GOAL_RATIO),
        Row(all_at_once, config="all-at-once"),
        Row(f"all {size.hosts} hosts, the first check ever (no probe answers cached on the "
            "hosts yet), default settings, once", once=True),
        Row("one up host", args=["up-000"], single=True),
        Row(f"one black-hole host (times out at {TIMEOUT:g} s)", args=["blackhole-0"],
            single=True),
    ]
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rtui-bench-scale-",
                                     ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        servers: list[SSHD] = []
        try:
            for n in range(size.sshds):
                servers.append(start_sshd(root / f"sshd{n}"))
            notes += asyncio.run(_measure_all(root, servers, size, rows, runs))
        except Exception as exc:  # set-up failed: every row without a figure says why
            for row in rows:
                if not row.times and row.error is None:
                    row.error = f"set-up failed: {describe(exc)}"
        finally:
            for server in servers:
                server.stop()
            kill_leftovers(str(root))  # the sshds' remote HOMEs (kernels) and all else in root
    return rows, notes


async def _measure_all(
    root: Path, servers: list[SSHD], size: Size, rows: list[Row], runs: int
) -> list[str]:
    home = root / "home"
    env = subprocess_env(home, pycache=root / "pycache")
    write_known_hosts(home, [s.known_hosts_line() for s in servers])
    holes = [BlackHole() for _ in range(size.down - size.down // 2)]
    try:
        for hole in holes:
            await hole.start()
        refused = free_ports(size.down // 2)  # free a moment ago: nothing listens there
        hosts = _hosts(servers, size, refused, [h.port for h in holes])
        configs = {
            "default": root / "hosts.toml",
            "all-at-once": root / "hosts-all-at-once.toml",
        }
        _write_config(configs["default"], Config(hosts=tuple(hosts)))
        _write_config(configs["all-at-once"],
                      Config(settings=Settings(check_concurrency=ALL_AT_ONCE),
                             hosts=tuple(hosts)))
        expected_up = {h.name for h in hosts if h.name.startswith("up-")}
        warm_up = Row("warm-up", args=["up-000"])  # discarded: fills the bytecode cache
        await _run_once(warm_up, configs["default"], env, expected_up, len(hosts))
        if warm_up.error:
            raise RuntimeError(f"the warm-up check failed: {warm_up.error}")
        for server in servers:  # the warm-up filled its server's probe cache
            (server.remote_home / ".cache/rtui/probe-v2.json").unlink(missing_ok=True)
        for row in rows:  # before anything else fills the hosts' probe caches
            if row.once:
                await _run_once(row, configs[row.config], env, expected_up, len(hosts))
        rounds = [row for row in rows if not row.once]
        for index in range(runs):
            shift = index % len(rounds)
            for row in rounds[shift:] + rounds[:shift]:  # a different order each round
                if row.error is None:
                    await _run_once(row, configs[row.config], env, expected_up, len(hosts))
    finally:
        for hole in holes:
            await hole.close()
    notes = []
    for row in rows:
        if row.outcomes and not row.single:
            counted = collections.Counter(row.outcomes)
            per_run = len(row.times)
            found = ", ".join(f"{k} x{round(v / per_run, 1):g}"
                              for k, v in sorted(counted.items()))
            notes.append(f"{row.label}, per run: {found}")
    return notes


def _hosts(servers: list[SSHD], size: Size, refused: list[int], holes: list[int]) -> list[Host]:
    """Down hosts spread evenly (every tenth of 100; refused and black holes alternating);
    the rest are aliases of the sshds, round robin."""
    hosts: list[Host] = []
    up = down = 0
    step = size.hosts // size.down
    for index in range(size.hosts):
        if index % step == step - 1 and down < size.down:
            kind, n = ("refused", "blackhole")[down % 2], down // 2
            port = refused[n] if kind == "refused" else holes[n]
            hosts.append(Host(f"{kind}-{n}", hostname=LOOPBACK, port=port))
            down += 1
            continue
        server = servers[up % len(servers)]
        hosts.append(Host(
            f"up-{up:03d}", hostname=LOOPBACK, port=server.port, user=server.user,
            identity_files=(str(server.client_key),),
        ))
        up += 1
    return hosts


def _write_config(path: Path, config: Config) -> None:
    HostStore(path).update(lambda _old: config)


async def _run_once(
    row: Row, config: Path, env: dict[str, str], expected_up: set[str], total: int
) -> None:
    command = [sys.executable, "-m", "rtui", "--config", str(config), "check", *row.args,
               "--json", "--timeout", f"{TIMEOUT:g}"]
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
        elapsed = time.perf_counter() - started
    except TimeoutError:
        row.error = f"run {len(row.times) + 1}: no exit within {RUN_TIMEOUT:g} s"
        return
    finally:
        await stop_process(process)
    statuses = []
    for line in out.decode(errors="replace").splitlines():
        try:
            statuses.append(json.loads(line))
        except json.JSONDecodeError:
            row.error = f"run {len(row.times) + 1}: not JSON: {line[:80]!r}"
            return
    if len(statuses) != (len(row.args) or total):
        row.error = (f"run {len(row.times) + 1}: {len(statuses)} statuses "
                     f"(exit {process.returncode}): {err.decode(errors='replace')[-300:]}")
        return
    row.times.append(elapsed)
    for status in statuses:
        row.outcomes.append(_outcome(status, status["name"] in expected_up))


def _outcome(status: dict[str, object], should_be_up: bool) -> str:
    if should_be_up:
        if status.get("ok") and not status.get("failed_step"):
            return "up: ok"
        if status.get("ok"):  # logged in: sshd took the login, a later step failed
            return f"up, logged in, but {status.get('failed_step')}: {status.get('error_kind')}"
        return f"up but NOT logged in ({status.get('failed_step')}: {status.get('error_kind')})"
    return f"down: {status.get('failed_step')} {status.get('error_kind')}"


# ------------------------------------------------------------------------------- output


def render_table(rows: list[Row]) -> str:
    singles = [r.p50 for r in rows if r.single and r.p50 is not None]
    reference = max(singles) if singles else None
    table = []
    for row in rows:
        goal = "—" if row.goal is None else f"≤ {row.goal:g}x slowest single"
        label = f"{row.label} (reference)" if row.single and row.p50 == reference else row.label
        if row.error is not None or not row.times:
            table.append(problem_cells(label, f"error: {row.error or 'no runs'}", goal,
                                       has_goal=row.goal is not None))
            continue
        ratio = row.p50 / reference if row.p50 is not None and reference else None
        table.append(timing_cells(label, row.times, reference=reference, goal=goal,
                                  met=goal_met(ratio, row.goal), digits=2))
    header = timing_header("rtui check", "slowest single host")
    return markdown_table(header, table, TIMING_ALIGN)


if __name__ == "__main__":
    sys.exit(main())
