"""The consoles' table (one column per contender, goals for rtui) and the notes under it."""

from __future__ import annotations

import statistics
from collections.abc import Callable

from benchmarks.common import describe, percentile
from benchmarks.consoles.contender import Figures
from benchmarks.consoles.jupyter_console import JUPYTER
from benchmarks.consoles.rtui_console import RTUI, command, on_demo

__all__ = ["render_notes", "render_table"]

# Goals for rtui (from the issue).
GOAL_LAUNCH = 0.6  # s
GOAL_RESULT = 0.020  # s
GOAL_FLOOD_RATIO = 1.1  # x the drain-only client
GOAL_ECHO_P95 = 0.050  # s
GOAL_RSS = 150e6  # bytes
GOAL_BYTES_RATIO = 0.25  # x jupyter console's


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def _mb(count: int) -> str:
    if count < 1e6:
        return f"{count / 1e3:.0f} kB"
    return f"{count / 1e6:.2f} MB" if count < 1e9 else f"{count / 1e9:.2f} GB"


def _cell(fig: Figures, text: Callable[[Figures], str | None], first: bool) -> str:
    if fig.skipped:
        return fig.skipped.replace("|", "/") if first else "—"
    try:
        value = text(fig)
    except Exception as exc:  # a figure missing because something earlier crashed
        value = None if fig.error else f"? ({describe(exc)})"
    if value is None:
        return "crashed (see below)" if fig.error else "—"
    return value.replace("|", "/")


def _echo(fig: Figures) -> tuple[list[float], int, int]:
    """Echo latencies of keys typed during the flood, how many of them, how many never shown."""
    during = [p for p in fig.probes if p.during]
    shown = [p.shown - p.sent for p in during if p.shown is not None]
    return shown, len(during), len(during) - len(shown)


def render_table(figures: list[Figures], lines: int) -> str:
    by_name = {f.name: f for f in figures}
    rtui, jupyter = by_name[RTUI], by_name[JUPYTER]

    def launch(f: Figures) -> str | None:
        if f.launch is None:
            return None
        extra = []
        if f.hosts_painted is not None:
            extra.append(f"`{command(f)}` → host list painted {f.hosts_painted:.2f} s")
        if f.kernel_ready is not None:
            extra.append(f"kernel ready at {f.kernel_ready:.2f} s")
        return f"{f.launch:.2f} s" + (f" ({'; '.join(extra)})" if extra else "")

    def result(f: Figures) -> str | None:
        if not f.results:
            return None
        return (f"{_ms(statistics.median(f.results))} (p95 {_ms(percentile(f.results, 95))}, "
                f"n={len(f.results)})")

    def flood(f: Figures) -> str | None:
        if f.flood_timeout is not None:
            return f"> {f.flood_timeout:g} s (had not ended)"
        if f.flood is None:
            return None
        parts = [f"{f.flood / f.drain:.2f}x drain-only"] if f.drain else []
        parts.append("best of " + ", ".join(f"{t:.2f}" for t in f.floods)
                     if len(f.floods) > 1 else "one run")
        return f"{f.flood:.2f} s ({'; '.join(parts)})"

    def floor(f: Figures) -> str | None:
        if not f.floor:
            return f.floor_label or None
        return (f"{_ms(statistics.median(f.floor))} (p95 {_ms(percentile(f.floor, 95))}, "
                f"n={len(f.floor)}; {f.floor_label})")

    def drain(f: Figures) -> str | None:
        if f.drain is None:
            return f.drain_label or None
        return f"{f.drain:.2f} s ({f.drain_label})"

    def echo(f: Figures) -> str | None:
        if not f.probes:
            return None
        shown, during, lost = _echo(f)
        if not during:
            return "no key typed before the flood ended"
        parts = [f"p95 {_ms(percentile(shown, 95))}" if shown else "none shown"]
        parts.append(f"{during} typed during the flood")
        if lost:
            parts.append(f"{lost} never shown")
        return ", ".join(parts)

    def corrupt(f: Figures) -> str | None:
        if f.kept is None:
            return None
        count = len(f.corrupt)
        where = "never inside the output" if not count else (
            f"{count} output row{'s hold' if count > 1 else ' holds'} typed keys, "
            f"e.g. `{f.corrupt[0][:40]}`")
        return f"{where}; {f.kept}/{len(f.probes)} ended in the input"

    def rss(f: Figures) -> str | None:
        return None if f.peak_rss is None else _mb(f.peak_rss)

    def written(f: Figures) -> str | None:
        if f.written is None:
            return None
        ratio = ""
        if jupyter.written and f is not jupyter:
            ratio = f" ({f.written / jupyter.written:.2f}x jupyter console)"
        return _mb(f.written) + ratio

    def met(ok: bool | None) -> str:
        return "—" if ok is None else ("yes" if ok else "no")

    shown, during, lost = _echo(rtui) if rtui.probes else ([], 0, 0)
    echo_ok = None
    if rtui.kept is not None and during:
        echo_ok = (bool(shown) and not lost and percentile(shown, 95) <= GOAL_ECHO_P95
                   and not rtui.corrupt)
    rows: list[tuple[str, Callable[[Figures], str | None], str, bool | None]] = [
        ("launch → input prompt", launch, f"≤ {GOAL_LAUNCH:g} s",
         None if rtui.launch is None else rtui.launch <= GOAL_LAUNCH),
        ("`N+1` Enter → result on screen", result, f"≤ {GOAL_RESULT * 1000:g} ms",
         None if not rtui.results else statistics.median(rtui.results) <= GOAL_RESULT),
        ("`N+1` through a line client with no UI (input(), print), same kernel build", floor,
         "—", None),
        (f"{lines:,}-line flood → last line + prompt back (best of 2, as the reference)", flood,
         f"≤ {GOAL_FLOOD_RATIO:g}x drain-only",
         None if rtui.flood is None or not rtui.drain
         else rtui.flood <= GOAL_FLOOD_RATIO * rtui.drain),
        ("drain-only client, same code, same kernel build", drain, "—", None),
        ("typed keys during the flood: echo", echo, f"≤ {GOAL_ECHO_P95 * 1000:g} ms p95, all",
         echo_ok),
        ("typed keys during the flood: where they land", corrupt, "never inside the output",
         None if rtui.kept is None else not rtui.corrupt),
        ("peak RSS during the flood (client, no kernel)", rss, f"≤ {GOAL_RSS / 1e6:g} MB",
         None if rtui.peak_rss is None else rtui.peak_rss <= GOAL_RSS),
        ("bytes written to the terminal for the flood", written,
         f"≤ {GOAL_BYTES_RATIO:g}x jupyter console",
         None if rtui.written is None or not jupyter.written
         else rtui.written <= GOAL_BYTES_RATIO * jupyter.written),
    ]
    heads = []
    for fig in figures:
        shown_version = f" {fig.spec.version}" if fig.spec and fig.spec.version else ""
        head = f"{fig.name}{shown_version}"
        heads.append(head.replace("|", "/"))
    out = [f"| | {' | '.join(heads)} | goal (rtui) | met |",
           "| --- | " + " | ".join("---" for _ in figures) + " | --- | --- |"]
    for index, (label, text, goal, ok) in enumerate(rows):
        cells = " | ".join(_cell(fig, text, index == 0) for fig in figures)
        out.append(f"| {label} | {cells} | {goal} | {met(ok)} |")
    return "\n".join(out)


def render_notes(figures: list[Figures]) -> str:
    notes = []
    for fig in figures:
        if fig.error:
            notes.append(f"- {fig.name} crashed: {fig.error}")
        if fig.host_ok is not None:
            notes.append(f"- {fig.name}: `{command(fig)}` → host checked ok "
                         f"{fig.host_ok:.2f} s; launch is timed from Enter on the host")
        if fig.spec is not None and fig.spec.root_only and fig.peak_rss is not None:
            where = ("it also hosts the demo's SSH server; its children are the demo host's "
                     "side" if on_demo(fig) else
                     "its host's side, sshd included, would run on that host")
            notes.append(f"- {fig.name}: RSS is the rtui process alone ({where})")
        for note in fig.notes:
            notes.append(f"- {fig.name}: {note}")
        late = [p for p in fig.probes if p.during and p.shown is not None]
        if late:
            detail = ", ".join(f"`{p.char}` {_ms(p.shown - p.sent)}" for p in late
                               if p.shown is not None)
            notes.append(f"- {fig.name}: typed key → shown: {detail}")
    return "\n".join(notes)
