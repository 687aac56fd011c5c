"""The kernel alone: a jupyter_client on a fresh local kernel of the contender's build runs
the same plot with the same figure, from execute to the display_data's arrival (what every
console waits for before it can show anything)."""

from __future__ import annotations

import base64
import json
import statistics
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.consoles.terminal import LAUNCH_TIMEOUT, pane_env

__all__ = ["Figure", "KernelAlone", "kernel_alone", "plot_code"]

PLOT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Figure:
    """The figure a console's kernel makes: pixels at ``dpi`` before cropping, and whether
    the inline backend crops it tight (its default; rtui turns it off)."""

    width_px: int
    height_px: int
    dpi: float
    tight: bool


@dataclass
class KernelAlone:
    first: float | None = None
    times: list[float] = field(default_factory=list)
    png_px: tuple[int, int] | None = None  # the PNG's own size (after cropping)
    png_bytes: int | None = None

    @property
    def p50(self) -> float | None:
        return statistics.median(self.times) if self.times else None


def plot_code(k: int) -> str:
    """One plot, its data new each run."""
    return f"plt.plot([0, {k}]); plt.show()"


def kernel_alone(python: str, root: Path, figure: Figure, runs: int) -> KernelAlone:
    """The first plot and ``runs`` more on a fresh kernel run by ``python`` with ``figure``
    set as the console's kernel had it."""
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
    found = KernelAlone()
    try:
        client = km.blocking_client()
        client.start_channels()
        client.wait_for_ready(timeout=LAUNCH_TIMEOUT)
        bbox = "'tight'" if figure.tight else "None"
        setup = (
            "import matplotlib.pyplot as plt\n"
            f"plt.rcParams['figure.figsize'] = ({figure.width_px} / {figure.dpi}, "
            f"{figure.height_px} / {figure.dpi})\n"
            f"plt.rcParams['figure.dpi'] = {figure.dpi}\n"
            f"get_ipython().run_line_magic('config', "
            f"\"InlineBackend.print_figure_kwargs = {{'bbox_inches': {bbox}}}\")\n"
        )
        _run(client, setup, want_image=False)
        found.first, data = _run(client, plot_code(1), want_image=True)
        for k in range(runs):
            elapsed, data = _run(client, plot_code(k + 2), want_image=True)
            found.times.append(elapsed)
        png = base64.b64decode(data["image/png"])
        width, height = struct.unpack(">II", png[16:24])
        found.png_px, found.png_bytes = (width, height), len(png)
        return found
    finally:
        if client is not None:
            client.stop_channels()
        km.shutdown_kernel(now=True)


def _run(client: Any, code: str, *, want_image: bool) -> tuple[float, dict[str, Any]]:
    """Seconds from execute to the image/png display_data (``want_image``) or to idle;
    that display's data. An error in the cell raises."""
    started = time.perf_counter()
    msg_id = client.execute(code)
    shown: tuple[float, dict[str, Any]] | None = None
    while True:
        msg = client.get_iopub_msg(timeout=PLOT_TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "error":
            raise RuntimeError(f"{content['ename']}: {content['evalue']}")
        if kind == "display_data" and "image/png" in content["data"] and shown is None:
            shown = (time.perf_counter() - started, content["data"])
        elif kind == "status" and content["execution_state"] == "idle":
            if want_image and shown is None:
                raise RuntimeError(f"no image/png display for {code!r}")
            return shown or (time.perf_counter() - started, {})
