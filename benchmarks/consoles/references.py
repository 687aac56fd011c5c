"""The references a contender is compared with, on a kernel of its own build (same Python,
same ipykernel): a client that only drains iopub (the flood) and a line client with no UI
(`N+1`), timed in tmux exactly as the consoles are."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.consoles.contender import Figures, Spec
from benchmarks.consoles.drive import launch, results
from benchmarks.consoles.jupyter_console import jupyter_input, jupyter_prompt, jupyter_ready
from benchmarks.consoles.terminal import LAUNCH_TIMEOUT, STEP_TIMEOUT, Terminal, pane_env

__all__ = ["drain_reference", "floor_reference", "kernel_label"]

DRAIN_RUNS = 2
LINE_CLIENT = Path(__file__).with_name("line_client.py")  # run as a script, in the pane


def drain_reference(python: str, root: Path, lines: int) -> float:
    """Seconds for a client that only drains iopub (jupyter_client, blocking) to see the
    flood's last line and the kernel idle again, on a fresh kernel run by ``python``: the best
    of DRAIN_RUNS (what the kernel itself can do; a contender gets one run)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec_dir = root / "kernels" / "bench"
    spec_dir.mkdir(parents=True)
    spec = {"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "benchmark", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    env = pane_env(root / "home")
    km = KernelManager(kernel_name="bench",
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(root / "kernels")]),
                       connection_file=str(root / "connection.json"), ip="127.0.0.1",
                       transport="tcp")
    with (root / "kernel.log").open("wb") as log:  # its warnings are not the benchmark's
        km.start_kernel(env=env, cwd=str(root), stdout=log, stderr=subprocess.STDOUT)
    client = None
    try:
        client = km.blocking_client()
        client.start_channels()
        client.wait_for_ready(timeout=LAUNCH_TIMEOUT)
        _drain(client, "1+1", None)  # warm-up
        code = f"for i in range({lines}): print('line', i)"
        return min(_drain(client, code, f"line {lines - 1}") for _ in range(DRAIN_RUNS))
    finally:
        if client is not None:
            client.stop_channels()
        km.shutdown_kernel(now=True)


def floor_reference(python: str, root: Path, runs: int) -> list[float]:
    """`N+1` Enter -> result on screen for ``line_client.py`` (input(), one
    execute_request, print) on a fresh kernel run by ``python``, timed in tmux exactly as
    the consoles are: what the kernel, the terminal and this way of reading it cost."""
    spec = Spec("line client", [sys.executable, str(LINE_CLIENT), python, str(root)], python,
                jupyter_prompt, jupyter_ready, jupyter_input)
    fig = Figures(spec, spec.name)
    home = root / "home"
    term = Terminal("line-client", pane_env(home), home)
    try:
        term.start()
        term.wait_shell()
        launch(term, spec, fig)
        term.track()
        results(term, spec, fig, runs)
    finally:
        term.close()
    return fig.results


def _drain(client: object, code: str, last: str | None) -> float:
    started = time.perf_counter()
    msg_id = client.execute(code)  # type: ignore[attr-defined]
    seen = last is None
    while True:
        msg = client.get_iopub_msg(timeout=STEP_TIMEOUT * 3)  # type: ignore[attr-defined]
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and last is not None and f"{last}\n" in content["text"]:
            seen = True
        elif kind == "status" and content["execution_state"] == "idle":
            elapsed = time.perf_counter() - started
            if not seen:
                raise RuntimeError(f"idle before {last!r} arrived")
            return elapsed


def kernel_label(python: str) -> str:
    """"Python X, ipykernel Y" of ``python``: which kernel build a reference ran on."""
    try:
        done = subprocess.run(
            [python, "-c", "import ipykernel, platform; "
             "print(platform.python_version(), ipykernel.__version__)"],
            capture_output=True, text=True, timeout=60, check=True,
        )
        py, ipk = done.stdout.split()
    except (OSError, subprocess.SubprocessError, ValueError):
        return python
    return f"Python {py}, ipykernel {ipk}"
