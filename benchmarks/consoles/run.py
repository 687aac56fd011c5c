"""``python -m benchmarks.consoles``: the command line, and the order in which the contenders
and their references are measured (each drain-only reference right after its contender)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from benchmarks.common import describe
from benchmarks.common import machine_line as common_machine_line
from benchmarks.consoles.contender import Figures, Spec
from benchmarks.consoles.drive import (
    FLOOD_TIMEOUT,
    KEY_EVERY,
    KEY_START,
    QUICK_FLOOD_TIMEOUT,
    drive,
)
from benchmarks.consoles.euporie_console import EUPORIE
from benchmarks.consoles.jupyter_console import JUPYTER
from benchmarks.consoles.peers import default_peers_venv, ensure_peers_venv, peer_specs
from benchmarks.consoles.references import drain_reference, floor_reference, kernel_label
from benchmarks.consoles.report import render_notes, render_table
from benchmarks.consoles.rtui_console import RTUI, rtui_host, rtui_spec
from benchmarks.consoles.terminal import HEIGHT, WIDTH
from tests.harness.sshd import SSHD_MISSING_MESSAGE, sshd_available

__all__ = ["main", "measure"]

_T = TypeVar("_T")

FLOOD_LINES, QUICK_FLOOD_LINES = 200_000, 20_000
RESULT_RUNS, QUICK_RESULT_RUNS = 10, 3
KEYS, QUICK_KEYS = "qzxQZX", "qzx"


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks import consoles

    description = (consoles.__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.consoles",
                                     description=description)
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_FLOOD_LINES:,} flood lines, {QUICK_RESULT_RUNS} runs")
    parser.add_argument("--peers-venv", type=Path, default=None,
                        help="venv for jupyter-console and euporie (default "
                        "$RTUI_BENCH_PEERS_VENV, else $XDG_CACHE_HOME/rtui-bench/peers-venv)")
    parser.add_argument("--only", nargs="+", choices=("rtui", "jupyter", "euporie"),
                        help="measure only these contenders")
    parser.add_argument("--demo", action="store_true",
                        help="rtui on `rtui demo` (SSH server in its own process) instead of "
                        "a host on a loopback OpenSSH sshd")
    args = parser.parse_args(argv)
    lines = QUICK_FLOOD_LINES if args.quick else FLOOD_LINES
    runs = QUICK_RESULT_RUNS if args.quick else RESULT_RUNS
    keys = QUICK_KEYS if args.quick else KEYS
    flood_timeout = QUICK_FLOOD_TIMEOUT if args.quick else FLOOD_TIMEOUT
    venv = args.peers_venv or default_peers_venv()
    only = set(args.only or ("rtui", "jupyter", "euporie"))

    started = time.perf_counter()
    print(machine_line(), flush=True)
    peers_python, peers_error, versions = ensure_peers_venv(venv)
    if peers_error:
        print(f"peers venv {venv}: {peers_error}", flush=True)
    figures = measure(
        only, peers_python, peers_error, versions, lines=lines, runs=runs, keys=keys,
        flood_timeout=flood_timeout, demo=args.demo,
    )
    print(
        f"\nConsoles in tmux {WIDTH}x{HEIGHT}, each on its own local kernel; `N+1`: median of "
        f"{runs} runs after a warm-up; flood: `for i in range({lines}): print('line', i)`, "
        f"keys `{keys}` typed one per {KEY_EVERY * 1000:.0f} ms from "
        f"{KEY_START * 1000:.0f} ms after Enter; {time.perf_counter() - started:.1f} s\n"
    )
    print(render_table(figures, lines), flush=True)
    notes = render_notes(figures)
    if notes:
        print("\n" + notes, flush=True)
    return 1 if any(f.error for f in figures) else 0


def measure(only: set[str], peers_python: Path | None, peers_error: str | None,
            versions: dict[str, str], *, lines: int, runs: int, keys: str,
            flood_timeout: float, demo: bool = False) -> list[Figures]:
    specs = _specs(peers_python, versions, demo=demo)
    figures: list[Figures] = []
    for key, name in (("rtui", RTUI), ("jupyter", JUPYTER), ("euporie", EUPORIE)):
        spec = specs.get(name)
        fig = Figures(spec, name)
        if key not in only:
            fig.skipped = "not measured: --only"
        elif name == RTUI and not demo and not sshd_available():
            fig.skipped = SSHD_MISSING_MESSAGE
        elif spec is None:
            fig.skipped = f"not installed: {peers_error or 'missing from the venv'}"
        figures.append(fig)

    with tempfile.TemporaryDirectory(prefix="rtui-bench-consoles-",
                                     ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        no_floor: list[float] = []
        floors = _references(
            figures, "`N+1` through a line client",
            lambda python, n: floor_reference(python, root / f"floor-{n}", runs), no_floor)
        for fig in figures:
            if fig.spec is not None and fig.spec.kernel_python in floors:
                fig.floor, fig.floor_label = floors[fig.spec.kernel_python]
        for fig in figures:
            if fig.skipped or fig.spec is None:
                continue
            print(f"driving {fig.name} ...", flush=True)
            home = root / "homes" / fig.spec.name.split()[0]
            server = None
            try:
                if fig.name == RTUI and not demo:
                    server = rtui_host(root / "sshd", home)
                drive(fig, fig.spec, home, lines=lines, runs=runs, keys=keys,
                      flood_timeout=flood_timeout)
            except Exception as exc:
                fig.error = f"set-up: {describe(exc)}"
            finally:
                if server is not None:
                    server.close()
            _adjacent_drain(fig, root / f"drain-{fig.name.split()[0]}", lines)
    return figures


def _references(figures: list[Figures], what: str, run: Callable[[str, int], _T],
                failed: _T) -> dict[str, tuple[_T, str]]:
    """``run(python, n)`` once per kernel build among the measured contenders: its figure
    and the build's label, or ``failed`` and why."""
    found: dict[str, tuple[_T, str]] = {}
    for fig in figures:
        if fig.skipped or fig.spec is None or fig.spec.kernel_python in found:
            continue
        python = fig.spec.kernel_python
        label = kernel_label(python)
        print(f"reference: {what} on {label} ...", flush=True)
        try:
            found[python] = (run(python, len(found)), label)
        except Exception as exc:
            found[python] = (failed, f"{label}: crashed: {describe(exc)}")
    return found


def _adjacent_drain(fig: Figures, root: Path, lines: int) -> None:
    """The drain-only reference for ``fig``, on its kernel build, right after its flood."""
    if fig.spec is None or fig.flood is None:
        return
    python = fig.spec.kernel_python
    label = kernel_label(python)
    print(f"reference: drain-only client on {label}, right after {fig.name} ...", flush=True)
    try:
        fig.drain, fig.drain_label = drain_reference(python, root, lines), label
    except Exception as exc:
        fig.drain_label = f"{label}: crashed: {describe(exc)}"


def _specs(peers_python: Path | None, versions: dict[str, str], *,
           demo: bool = False) -> dict[str, Spec]:
    return {RTUI: rtui_spec(demo=demo), **peer_specs(peers_python, versions)}


def machine_line() -> str:
    return common_machine_line(("rtui", "textual", "jupyter_client", "ipykernel"),
                               ("tmux", "-V"))


if __name__ == "__main__":
    sys.exit(main())
