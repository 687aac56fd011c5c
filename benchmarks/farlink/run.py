"""``python -m benchmarks.farlink``: the command line, the order of the runs (each operation
at both delays, alternating which goes first), the table."""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.common import describe, fmt_s, machine_line, markdown_table
from benchmarks.consoles.peers import default_peers_venv, ensure_peers_venv
from benchmarks.farlink.commands import cli_commands, start_kernel, stop_kernel
from benchmarks.farlink.consoles import (
    JUPYTER,
    RTUI,
    Contender,
    contenders,
    peer_kernel,
    run_session,
)
from benchmarks.farlink.figures import FAR, NEAR, Series
from benchmarks.farlink.host import FarHost, far_host
from benchmarks.farlink.launch import measure_launch
from tests.harness.sshd import SSHD_MISSING_MESSAGE, sshd_available

__all__ = ["main"]

CLI_RUNS, QUICK_CLI_RUNS = 5, 1  # per delay
SESSIONS, QUICK_SESSIONS = 3, 1  # console launches per delay
RESULT_RUNS, QUICK_RESULT_RUNS = 5, 2  # `N+1` per session (after a warm-up)
KEYS, QUICK_KEYS = "qzx", "q"  # typed per session
RUN_K_GOAL = 9.0  # round trips (issue 15)
CONSOLE_GOAL = 3.0  # round trips beyond the kernel's own start
RESULT_GOAL = 2 * FAR + 0.015  # one round trip + 15 ms, seconds at the default far delay
ECHO_GOAL = 0.020  # seconds at the default far delay
SESSION_RETRIES = 1  # a console session that failed (tmux on a loaded machine) runs again


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks import farlink

    parser = argparse.ArgumentParser(prog="python -m benchmarks.farlink",
                                     description=(farlink.__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_CLI_RUNS} run of each command and {QUICK_SESSIONS} "
                        "console session per delay, no warm-up session")
    parser.add_argument("--runs", type=int, default=None,
                        help=f"pairs of runs of each command (default {CLI_RUNS})")
    parser.add_argument("--delay", type=float, default=FAR * 1000, metavar="MS",
                        help=f"the far link's one-way delay (default {FAR * 1000:g}; the "
                        "goals in seconds hold at the default only)")
    parser.add_argument("--commands-only", action="store_true",
                        help="the commands only, no console in tmux")
    parser.add_argument("--consoles-only", action="store_true",
                        help="the consoles in tmux only, no command")
    parser.add_argument("--only", nargs="+", choices=("rtui", "peers"),
                        help="rtui: rtui's operations and `ssh host true` only")
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.delay <= 0:
        parser.error("--delay must be above 0")
    far = args.delay / 1000
    quick = bool(args.quick)
    only = set(args.only or ("rtui", "peers"))
    print(machine_line(("rtui", "asyncssh", "jupyter_client", "ipykernel")), flush=True)
    if not sshd_available():
        print(f"not measured: {SSHD_MISSING_MESSAGE}")
        return 0
    started = time.perf_counter()
    cli_runs = args.runs or (QUICK_CLI_RUNS if quick else CLI_RUNS)
    sessions = QUICK_SESSIONS if quick else SESSIONS
    rows = measure(only, quick=quick, cli_runs=0 if args.consoles_only else cli_runs,
                   sessions=0 if args.commands_only else sessions, far=far)
    print(f"\nThrough a relay delaying every chunk 0 or {far * 1000:.0f} ms each way "
          f"(pipelined); p50 of {cli_runs} runs per delay for commands (in pairs: one "
          f"through each link at the same time), of {sessions} session(s) per delay for "
          f"consoles (`N+1`: {_runs(quick)} per session, echo: `{_keys(quick)}` per session); "
          f"round trips = (p50 at {far * 1000:.0f} ms - p50 at 0 ms) / "
          f"{2 * far * 1000:.0f} ms, and the median of the pairs' differences / "
          f"{2 * far * 1000:.0f} ms; {time.perf_counter() - started:.1f} s\n")
    print(render_table(rows, far), flush=True)
    failed = [row for row in rows if row.error]
    if failed:
        print("\n" + "\n".join(f"- {row.label}: {row.error}" for row in failed), flush=True)
    return 1 if any(row.ours for row in failed) else 0


def _runs(quick: bool) -> int:
    return QUICK_RESULT_RUNS if quick else RESULT_RUNS


def _keys(quick: bool) -> str:
    return QUICK_KEYS if quick else KEYS


def measure(only: set[str], *, quick: bool, cli_runs: int, sessions: int,
            far: float = FAR) -> list[Series]:
    rows: list[Series] = []
    with tempfile.TemporaryDirectory(prefix="rtui-bench-farlink-",
                                     ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        host = far_host(root)
        try:
            host.rtui("check", "bench")  # warm-up: the agent is uploaded once
            if cli_runs:
                kernel_id = start_kernel(host)
                try:
                    rows += _measure_commands(host, kernel_id, cli_runs, far)
                finally:
                    stop_kernel(host, kernel_id)
            if not sessions:
                return rows
            launch = measure_launch(host, sessions, far)  # paired: read beside the console's
            launch.goal_rt, launch.goal_text = CONSOLE_GOAL, f"≤ {CONSOLE_GOAL:g} round trips"
            rows.append(launch)
            with _peer_setup(only, root) as (jupyter, kernel_file, why):
                for contender in contenders(jupyter, kernel_file):
                    if contender.name != RTUI and "peers" not in only:
                        continue
                    rows += _measure_console(host, contender, root, quick=quick,
                                             sessions=sessions, far=far)
                if why and "peers" in only:
                    rows.append(Series(f"{JUPYTER}: launch", ours=False, far=far, error=why))
        finally:
            host.close()
    return rows


@contextlib.contextmanager
def _peer_setup(only: set[str], root: Path
                ) -> Iterator[tuple[Path | None, Path | None, str | None]]:
    """jupyter-console from the consoles' peers venv and a kernel for it; (None, None, why)
    when not installed or not wanted."""
    if "peers" not in only:
        yield None, None, None
        return
    python, error, _versions = ensure_peers_venv(default_peers_venv())
    console = python.parent / "jupyter-console" if python is not None else None
    if error or console is None or not console.exists():
        yield None, None, f"not installed: {error or 'jupyter-console missing from the venv'}"
        return
    with peer_kernel(root / "peer-kernel") as kernel_file:
        yield console, kernel_file, None


def _order(run: int, far: float) -> tuple[float, ...]:
    return (NEAR, far) if run % 2 == 0 else (far, NEAR)


def _measure_commands(host: FarHost, kernel_id: str, runs: int, far: float) -> list[Series]:
    commands = cli_commands(kernel_id)
    rows = {label: Series(label, ours="OpenSSH" not in label, far=far) for label in commands}
    rows["`rtui run -k ID -c 1+1`"].goal_rt = RUN_K_GOAL
    rows["`rtui run -k ID -c 1+1`"].goal_text = f"≤ {RUN_K_GOAL:g} round trips"
    host.link.set_delay(NEAR)
    for label, command in commands.items():  # warm-up, not kept
        _attempt(rows[label], functools.partial(command, host, False))
        _attempt(rows[label], functools.partial(command, host, True))
    host.link.set_delay(far)
    with ThreadPoolExecutor(2) as pool:
        for _ in range(runs):
            for label, command in commands.items():
                if rows[label].error is None:
                    _take_pair(rows[label], pool, functools.partial(command, host))
    host.link.set_delay(NEAR)
    return list(rows.values())


def _measure_console(host: FarHost, contender: Contender, root: Path, *, quick: bool,
                     sessions: int, far: float) -> list[Series]:
    name = contender.name
    launch = Series(f"{name}: launch" + (" (Enter on the checked host)" if name == RTUI else ""),
                    ours=contender.ours, far=far)
    result = Series(f"{name}: `N+1` Enter -> result", ours=contender.ours, far=far)
    echo = Series(f"{name}: a typed character's echo", ours=contender.ours, far=far)
    if contender.name == RTUI:
        launch.goal_rt, launch.goal_text = CONSOLE_GOAL, f"≤ {CONSOLE_GOAL:g} round trips"
        if far == FAR:
            result.goal_far = RESULT_GOAL
            result.goal_text = f"≤ {RESULT_GOAL * 1000:.0f} ms at {FAR * 1000:.0f} ms"
            echo.goal_far = ECHO_GOAL
            echo.goal_text = f"≤ {ECHO_GOAL * 1000:.0f} ms at {FAR * 1000:.0f} ms"
    print(f"driving {name} ...", flush=True)
    plan = [] if quick else [NEAR]  # a warm-up session, not kept
    for run in range(sessions):
        plan += _order(run, far)
    for index, delay in enumerate(plan):
        warmup = not quick and index == 0
        session, failed = None, ""
        for attempt in range(1 + SESSION_RETRIES):
            host.link.set_delay(delay)
            home = root / "homes" / f"{name.split()[0]}-{index}-{attempt}"
            try:
                session = run_session(host, contender, runs=_runs(quick), keys=_keys(quick),
                                      home=home if name != RTUI else host.home)
                break
            except Exception as exc:
                failed = f"at {delay * 1000:.0f} ms: {describe(exc)}"
                print(f"  session {index + 1} failed ({failed})", flush=True)
            finally:
                if name == RTUI:
                    _stop_started_kernels(host)
        if session is None:
            for row in (launch, result, echo):
                row.error = failed
            break
        if not warmup:
            launch.times[delay].append(session.launch)
            result.times[delay].extend(session.results)
            echo.times[delay].extend(session.echoes)
    host.link.set_delay(NEAR)
    return [launch, result, echo]


def _stop_started_kernels(host: FarHost) -> None:
    """The kernels the console started (Enter starts one, quitting leaves it running)."""
    host.link.set_delay(NEAR)
    with contextlib.suppress(Exception):
        for record in host.kernels():
            if record.get("rtui"):
                stop_kernel(host, str(record["id"]))


def _attempt(row: Series, run: Callable[[], float]) -> None:
    try:
        run()
    except Exception as exc:
        row.error = f"warm-up: {describe(exc)}"


def _take_pair(row: Series, pool: ThreadPoolExecutor, run: Callable[[bool], float]) -> None:
    """The command through the far link and through the near one, at the same time."""
    far, near = pool.submit(run, False), pool.submit(run, True)
    try:
        far_time, near_time = far.result(), near.result()
    except Exception as exc:
        row.error = describe(exc)
        return
    row.times[row.far].append(far_time)
    row.times[NEAR].append(near_time)
    row.pairs.append(far_time - near_time)


def render_table(rows: list[Series], far: float = FAR) -> str:
    header = ["operation", "0 ms: p50 s", f"{far * 1000:.0f} ms each way: p50 s",
              "round trips", "round trips (paired runs)", "goal", "met"]
    body = []
    for row in rows:
        rt, paired = row.round_trips, row.round_trips_paired
        body.append([
            row.label + (" (crashed, see below)" if row.error else ""),
            "crashed" if row.error and row.p50(NEAR) is None else fmt_s(row.p50(NEAR)),
            fmt_s(row.p50(row.far)), "—" if rt is None else f"{rt:.1f}",
            "—" if paired is None else f"{paired:.1f}",
            row.goal_text, row.met,
        ])
    return markdown_table(header, body, "lrrrrll")


if __name__ == "__main__":
    sys.exit(main())
