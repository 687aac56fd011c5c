"""``python -m benchmarks.console_flood [--lines N]``: a real kernel's print flood, end to end.

A local ipykernel runs ``for i in range(N): print('line', i)``. First a client that only drains
iopub times the kernel itself (the baseline); then the same flood goes through ConsoleModel and
ConsoleView in a headless Textual app (120x36) while a key is typed into an Input every 50 ms.
Reported: when the last line is in the model, when the view painted it, and how long each typed
key took to reach the Input (press -> value updated). Figures only; exit 0 whatever they are.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widgets import Input

from benchmarks.common import markdown_table
from rtui.core.console.model import ConsoleModel
from rtui.core.kernels.events import Stream
from rtui.core.kernels.session import KernelSession
from rtui.tui.widgets.console_view import ConsoleView
from tests.harness.kernels import connection_info, launch_local_kernel

__all__ = ["main"]

SIZE = (120, 36)
KEY_EVERY = 0.05  # seconds between typed keys, a fast typist


def _launch_kernel(root: Path) -> tuple[KernelManager, dict[str, Any]]:
    """A local ipykernel (the test harness's) and its connection info."""
    km = launch_local_kernel(root)
    return km, connection_info(km)


class _ProbeView(ConsoleView):
    """A ConsoleView that notes when it paints the target line and counts its catch-ups."""

    def __init__(self, model: ConsoleModel) -> None:
        super().__init__(model)
        self.target: str | None = None
        self.painted_at: float | None = None
        self.syncs = 0

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if self.target is not None and self.painted_at is None:
            if strip.text.rstrip() == self.target:
                self.painted_at = time.perf_counter()
        return strip

    def sync(self) -> None:
        self.syncs += 1
        super().sync()


class _FloodApp(App[None]):
    """The console pane's shape: output above, the input (with focus) below."""

    CSS = "_ProbeView { height: 1fr; } Input { height: 3; }"

    def __init__(self, model: ConsoleModel) -> None:
        super().__init__()
        self.model = model
        self.changed_at: list[float] = []

    def compose(self) -> ComposeResult:
        yield _ProbeView(self.model)
        yield Input()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.changed_at.append(time.perf_counter())


async def _drain_only(session: KernelSession, code: str) -> tuple[float, int, int]:
    """Baseline: seconds until the reply (and idle), stream messages and their characters."""
    messages = chars = 0
    started = time.perf_counter()
    async for event in session.execute(code):
        if isinstance(event, Stream):
            messages += 1
            chars += len(event.text)
    return time.perf_counter() - started, messages, chars


async def _through_the_ui(session: KernelSession, code: str, lines: int) -> dict[str, Any]:
    model = ConsoleModel()
    app = _FloodApp(model)
    target = f"line {lines - 1}"
    figures: dict[str, Any] = {}
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(_ProbeView)
        view.target = target
        apply_time = 0.0
        in_model_at: float | None = None
        started = time.perf_counter()

        async def consume() -> None:
            nonlocal apply_time, in_model_at
            async for event in session.execute(code):
                t0 = time.perf_counter()
                model.apply(event)
                view.notify_changed()
                apply_time += time.perf_counter() - t0
                if in_model_at is None and target in model.plain_lines(model.total - 2):
                    in_model_at = time.perf_counter()

        pressed_at, presses = await _type_during(pilot, asyncio.create_task(consume()))
        done_at = time.perf_counter()
        deadline = done_at + 10
        while view.painted_at is None and time.perf_counter() < deadline:
            await pilot.pause(0.01)
        await asyncio.gather(*presses)
        await pilot.pause(0.1)
        latencies = [b - a for a, b in zip(pressed_at, app.changed_at, strict=False)]
        figures.update(
            reply=done_at - started,
            in_model=None if in_model_at is None else in_model_at - started,
            painted=None if view.painted_at is None else view.painted_at - started,
            apply_time=apply_time,
            syncs=view.syncs,
            keys=len(pressed_at),
            keys_echoed=len(app.changed_at),
            typed_ok=app.query_one(Input).value == "x" * len(pressed_at),
            latencies=latencies,
            kept=model.line_count,
        )
    return figures


async def _type_during(
    pilot: Pilot[None], flood: asyncio.Task[None]
) -> tuple[list[float], list[asyncio.Task[None]]]:
    """Press a key every KEY_EVERY seconds (each press its own task) until the flood ends."""
    pressed_at: list[float] = []
    presses: list[asyncio.Task[None]] = []
    next_at = time.perf_counter()
    while not flood.done():
        pressed_at.append(time.perf_counter())
        presses.append(asyncio.create_task(pilot.press("x")))
        next_at += KEY_EVERY
        await asyncio.wait({flood}, timeout=max(0.0, next_at - time.perf_counter()))
    await flood  # re-raise a failure
    return pressed_at, presses


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _s(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.2f} s"


async def _run(lines: int) -> None:
    code = f"for i in range({lines}): print('line', i)"
    with tempfile.TemporaryDirectory(prefix="rtui-bench-") as tmp:
        km, info = _launch_kernel(Path(tmp))
        try:
            session = KernelSession.over_zmq(info, name="flood")
            await session.start(timeout=60)
            try:
                await session.execute("pass").reply()  # warm up
                baseline, messages, chars = await _drain_only(session, code)
                ui = await _through_the_ui(session, code, lines)
            finally:
                await session.close()
        finally:
            km.shutdown_kernel(now=True)
    latencies = ui["latencies"] or [0.0]
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("kernel flood, client only drains iopub (baseline)", _s(baseline)),
        ("stream messages / text", f"{messages} / {chars / 1e6:.1f} MB"),
        ("through the UI: execute -> reply", _s(ui["reply"])),
        ("through the UI: last line in the model", _s(ui["in_model"])),
        ("through the UI: last line painted by the view", _s(ui["painted"])),
        ("time inside ConsoleModel.apply (total)", _s(ui["apply_time"])),
        ("view catch-ups (repaints requested)", str(ui["syncs"])),
        ("lines kept (max_lines)", f"{ui['kept']:,}"),
        (
            f"keys typed during the flood (one per {_ms(KEY_EVERY)})",
            f"{ui['keys']} pressed, {ui['keys_echoed']} arrived"
            + ("" if ui["typed_ok"] else " (Input value differs!)"),
        ),
        (
            "key press -> Input value, p50 / worst",
            f"{_ms(statistics.median(latencies))} / {_ms(max(latencies))}",
        ),
        ("peak RSS of this process", f"{rss_mib:.0f} MiB"),
    ]
    print(
        f"`for i in range({lines:,}): print('line', i)` on a local ipykernel, "
        f"headless Textual {SIZE[0]}x{SIZE[1]}\n"
    )
    print(markdown_table(["measure", "figure"], rows))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.console_flood", description=__doc__)
    parser.add_argument("--lines", type=int, default=200_000, help="lines the kernel prints")
    parser.add_argument("--quick", action="store_true", help="50,000 lines (a smoke run)")
    args = parser.parse_args(argv)
    asyncio.run(_run(50_000 if args.quick else max(1, args.lines)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
