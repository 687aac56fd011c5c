"""``python -m benchmarks.plots``: the command line, each console driven in turn (its
kernel-alone reference right after it), and the table."""

from __future__ import annotations

import argparse
import itertools
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import describe, machine_line, markdown_table, percentile, version
from benchmarks.consoles.contender import Figures, Spec
from benchmarks.consoles.drive import launch
from benchmarks.consoles.euporie_console import EUPORIE, euporie_spec
from benchmarks.consoles.rtui_console import RTUI, rtui_host, rtui_spec
from benchmarks.consoles.terminal import HEIGHT, STEP_TIMEOUT, WIDTH, Terminal, pane_env
from benchmarks.plots.reference import Figure, KernelAlone, kernel_alone, plot_code
from tests.harness.sshd import SSHD_MISSING_MESSAGE, sshd_available

__all__ = ["IMAGE_CELLS", "IMAGE_ROWS", "main", "measure"]

RUNS, QUICK_RUNS = 10, 2
IMAGE_ROWS = 6  # rows of half-block cells on screen: the image is painted
IMAGE_CELLS = 16  # half-block cells in a row for it to count as an image row
HALF_BLOCKS = re.compile("[\u2580\u2584]")
PLOT_TIMEOUT = 30.0  # Enter -> image on screen
IMPORT_TIMEOUT = 60.0  # `import matplotlib.pyplot` on a loaded machine
PROBE = re.compile(r"figure px (\d+) (\d+) ([\d.]+) (\S+)")
PROBE_CODE = (  # short lines: each must fit the input line; the inline backend not touched
    "r = plt.rcParams; d = r['figure.dpi']; w, h = r['figure.figsize']",
    "c = get_ipython().config.InlineBackend; b = c.get('print_figure_kwargs') or {}",
    "print('figure px', round(w * d), round(h * d), d, b.get('bbox_inches', 'tight'))",
)
CLEAR_CODE = "print('\\n'.join('.' * 60))"  # 60 rows of output: the last image scrolls away
_RUNS = itertools.count(1)  # each untimed cell's end marker


# rtui drawing the figure euporie shows (matplotlib's default, cropped tight): the same
# picture in both consoles. Set after rtui's own series (the inline backend is set up then).
DEFAULT_FIGURE = Figure(640, 480, 100.0, tight=True)
DEFAULT_FIGURE_CODE = (
    "plt.rcParams['figure.figsize'] = (6.4, 4.8); plt.rcParams['figure.dpi'] = 100",
    "from matplotlib_inline.config import InlineBackend as I",
    "I.instance().print_figure_kwargs = {'bbox_inches': 'tight'}",
)


@dataclass
class Series:
    """Plots of one figure in one console: the first (``first``: the inline backend is set
    up then; None when it was already) and the timed ones after it."""

    label: str
    figure: Figure | None = None
    first: float | None = None
    times: list[float] = field(default_factory=list)
    image_rows: int | None = None  # rows of the image on screen once it settled
    alone: KernelAlone | None = None
    alone_error: str | None = None


@dataclass
class Shown:
    """One console's figures."""

    name: str
    version: str = ""
    skipped: str | None = None
    error: str | None = None
    series: list[Series] = field(default_factory=list)


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks import plots

    parser = argparse.ArgumentParser(prog="python -m benchmarks.plots",
                                     description=(plots.__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_RUNS} runs")
    parser.add_argument("--runs", type=int, default=None,
                        help=f"plots timed after the first (default {RUNS})")
    parser.add_argument("--only", nargs="+", choices=("rtui", "euporie"),
                        help="measure only these consoles")
    args = parser.parse_args(argv)
    runs = max(1, args.runs or (QUICK_RUNS if args.quick else RUNS))
    started = time.perf_counter()
    print(machine_line(("rtui", "textual", "euporie", "ipykernel", "matplotlib"),
                       ("tmux", "-V")), flush=True)
    shown = measure(set(args.only or ("rtui", "euporie")), runs)
    print(f"\nPlot shown in tmux {WIDTH}x{HEIGHT}: Enter on `{plot_code(2)}` (k new each run) "
          f"-> at least {IMAGE_ROWS} rows of half-block cells on screen; the first plot, then "
          f"the median of {runs}; {time.perf_counter() - started:.1f} s\n")
    print(render(shown), flush=True)
    return 1 if any(s.error for s in shown) else 0


def measure(only: set[str], runs: int) -> list[Shown]:
    euporie = Path(sys.executable).with_name("euporie-console")
    contenders: list[tuple[Shown, Spec | None]] = [
        (Shown(RTUI, version("rtui")), rtui_spec()),
        (Shown(EUPORIE, version("euporie")),
         euporie_spec(Path(sys.executable), version("euporie")) if euporie.exists() else None),
    ]
    with tempfile.TemporaryDirectory(prefix="rtui-bench-plots-",
                                     ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        for result, spec in contenders:
            key = "rtui" if result.name == RTUI else "euporie"
            if key not in only:
                result.skipped = "not measured: --only"
            elif spec is None:
                result.skipped = f"not installed next to {sys.executable}"
            elif result.name == RTUI and not sshd_available():
                result.skipped = SSHD_MISSING_MESSAGE
            if result.skipped or spec is None:
                continue
            print(f"driving {result.name} ...", flush=True)
            home = root / "homes" / key
            server = None
            try:
                if result.name == RTUI:
                    server = rtui_host(root / "sshd", home)
                _drive(result, spec, home, runs)
            except Exception as exc:
                result.error = result.error or f"set-up: {describe(exc)}"
            finally:
                if server is not None:
                    server.close()
            for number, series in enumerate(result.series):
                if series.figure is None:
                    continue
                print(f"reference: the kernel alone, {result.name}: {series.label} ...",
                      flush=True)
                try:
                    series.alone = kernel_alone(spec.kernel_python,
                                                root / f"alone-{key}-{number}",
                                                series.figure, runs)
                except Exception as exc:
                    series.alone_error = describe(exc)
    return [result for result, _ in contenders]


def _drive(result: Shown, spec: Spec, home: Path, runs: int) -> None:
    stage = "starting tmux"
    term = Terminal(f"plots-{spec.name.split()[0]}", pane_env(home), home)
    try:
        term.start()
        stage = "shell prompt"
        term.wait_shell()
        stage = "launch"
        (spec.launch or launch)(term, spec, Figures(spec, spec.name))
        term.track()
        stage = "import matplotlib.pyplot"
        _run(term, spec, "import matplotlib.pyplot as plt", IMPORT_TIMEOUT)
        own = Series("its own figure")
        result.series.append(own)
        stage = "the figure's size"
        own.figure = _probe(term, spec)
        term.watch_output(True)
        _plots(term, spec, own, runs, first=True)
        if spec.name == RTUI:
            same = Series("euporie's figure (matplotlib's default, cropped tight)",
                          DEFAULT_FIGURE)
            result.series.append(same)
            stage = "euporie's figure"
            for line in DEFAULT_FIGURE_CODE:
                _run(term, spec, line, STEP_TIMEOUT)
            _plots(term, spec, same, runs, first=False)
    except Exception as exc:
        result.error = f"{stage}: {describe(exc)}"
    finally:
        term.close()


def _probe(term: Terminal, spec: Spec) -> Figure:
    """The figure the console's kernel makes: its pixels, dpi and cropping, printed."""
    for line in PROBE_CODE:
        _run(term, spec, line, STEP_TIMEOUT)
    found = next((m for row in term.screen() if (m := PROBE.search(row))), None)
    if found is None:
        raise RuntimeError("the figure's size was not printed")
    width, height, dpi, bbox = found.groups()
    return Figure(int(width), int(height), float(dpi), bbox == "tight")


def _plots(term: Terminal, spec: Spec, series: Series, runs: int, *, first: bool) -> None:
    """The first plot (``first``) and ``runs`` more, each from Enter until its image is on
    screen, the last one pushed off the screen before."""
    for k in range(0 if first else 1, runs + 1):
        _run(term, spec, CLEAR_CODE, STEP_TIMEOUT)
        term.wait(lambda rows: _image_rows(rows) == 0, STEP_TIMEOUT, "no image on screen")
        code = plot_code(k + 1)
        _type(term, spec, code)
        pressed = time.perf_counter()
        term.key("Enter")
        shown, _ = term.wait(lambda rows: _image_rows(rows) >= IMAGE_ROWS, PLOT_TIMEOUT,
                             f"the image of `{code}`")
        if k == 0:
            series.first = shown - pressed
        else:
            series.times.append(shown - pressed)
        _, rows = term.wait(spec.ready, STEP_TIMEOUT, "prompt back")
        series.image_rows = _image_rows(rows)


def _image_rows(rows: list[str]) -> int:
    return sum(1 for row in rows if len(HALF_BLOCKS.findall(row)) >= IMAGE_CELLS)


def _type(term: Terminal, spec: Spec, text: str) -> None:
    """Type ``text``; wait until the input shows it (euporie may draw it away from its
    prompt right after start-up)."""
    term.wait(spec.ready, STEP_TIMEOUT, "prompt back")
    term.type(text)
    term.wait(lambda rows: text in (spec.input_text(rows) or "")
              or (spec.input_anywhere and any(text in row for row in rows)),
              STEP_TIMEOUT, f"`{text}` in the input")


def _run(term: Terminal, spec: Spec, code: str, timeout: float) -> None:
    """Run ``code`` (not timed) and wait until it printed its end and the prompt is back."""
    number = next(_RUNS)
    end = f"ran {number}"  # printed as print('ran', N): the echoed code does not match it
    _type(term, spec, f"{code}; print('ran', {number})")
    term.key("Enter")
    term.wait(lambda rows: any(row.rstrip().endswith(end) for row in rows) and spec.ready(rows),
              timeout, f"`{code[:40]}` run")


def render(shown: list[Shown]) -> str:
    """One table: a column per console and figure, a row per measure."""
    columns: list[tuple[Shown, Series | None]] = []
    for console in shown:
        columns += [(console, series) for series in console.series] or [(console, None)]
    header = ["", *(f"{c.name} {c.version}".strip()
                    + (f": {s.label}" if s is not None else "") for c, s in columns)]
    labels = {
        "first": "Enter → plot on screen, first plot (the inline backend set up)",
        "later": "Enter → plot on screen, later plots: p50 (p95, n)",
        "alone": "the kernel alone, same figure: execute → display_data, first / p50",
        "figure": "figure: pixels at dpi (PNG after cropping), image rows on screen",
        "ratio": "plot shown, x the kernel alone (p50)",
    }
    rows = [[label, *(_cell(c, s, what) for c, s in columns)] for what, label in labels.items()]
    return markdown_table(header, rows)


def _cell(console: Shown, s: Series | None, what: str) -> str:
    if console.skipped:
        return console.skipped
    if console.error and what in ("first", "later"):
        done = s is not None and (s.first is not None or s.times)
        if not done:
            return f"error: {console.error}"
    if s is None:
        return "—"
    if what == "first":
        return "—" if s.first is None else f"{s.first * 1000:.0f} ms"
    if what == "later":
        if not s.times:
            return "—"
        return (f"{statistics.median(s.times) * 1000:.0f} ms "
                f"(p95 {percentile(s.times, 95) * 1000:.0f} ms, n={len(s.times)})")
    if what == "alone":
        if s.alone_error:
            return f"error: {s.alone_error}"
        if s.alone is None or s.alone.p50 is None or s.alone.first is None:
            return "—"
        return f"{s.alone.first * 1000:.0f} / {s.alone.p50 * 1000:.0f} ms"
    if what == "figure":
        if s.figure is None:
            return "—"
        png = s.alone.png_px if s.alone is not None else None
        text = f"{s.figure.width_px}x{s.figure.height_px} px at {s.figure.dpi:g} dpi"
        if png is not None:
            text += f" ({png[0]}x{png[1]} PNG{', cropped tight' if s.figure.tight else ''})"
        return text + (f", {s.image_rows} rows" if s.image_rows is not None else "")
    if s.alone is None or s.alone.p50 is None or not s.times:
        return "—"
    return f"{statistics.median(s.times) / s.alone.p50:.2f}x"
