"""``screenshots/make.py``: the real app against the demo server, one SVG per state."""

from __future__ import annotations

import html
import re

import pytest

from tests import benchmark_runs

# file -> texts that only its state shows
EXPECTED: dict[str, tuple[str, ...]] = {
    "hosts.svg": ("ok", "unreachable", "host key unknown", "archive", "newbox", "demo"),
    "host-form.svg": ("Add a host", "99999", "must be 1-65535"),
    "host-key.svg": ("Unknown host key", "SHA256:", "trust and remember"),
    "console.svg": ("hello from the demo kernel", "Out[2]: 42", "ZeroDivisionError",
                    "Traceback", "progress #################### 100%"),
    "kernels.svg": ("Kernels running on demo", "ipykernel", "rtui"),
    "help.svg": ("Quit", "Force run", "Check all", "escape / f1 / q close help"),
    "console-80x24.svg": ("hello from the demo kernel", "Out[2]: 42", "100%"),
    "files.svg": ("demo:~/demo-project", "analysis.py", "README.md", "statistics", "rows"),
    "files-image.svg": ("demo:~/demo-project/data", "PNG 288", "144, 2.3 KiB", "▀▀▀▀"),
    "files-80x24.svg": ("demo:~", "demo-project/", "done", "demo:~/demo-project → ~/Downloads",
                        "100%"),
    "console-plot.svg": ("▀▀▀▀", "Two curves, 12 units long", "In [8]"),
    "plots.svg": ("demo #1 plots", "PNG", "▀▀▀▀", "s save here"),
    "variables.svg": ("df", "DataFrame", "400", "ndarray", "42"),
    "environments.svg": ("demo envs", "environments", "ipykernel", "Package", "Version"),
    "slurm.svg": ("SLURM job", "PENDING", "reason", "escape cancels the job",
                  "partition debug, time 2:00:00, 2 CPUs", "import numpy as np"),
    "jupyter.svg": ("lab #1", "a kernel of jupyter_server", "Out[2]: 42", "websocket"),
}
SMALL = {"console-80x24.svg", "files-80x24.svg", "slurm.svg", "jupyter.svg"}


def svg_text(svg: str) -> str:
    """The terminal's text, a line per row: the ``<text>`` runs of each row joined, entities
    decoded and Textual's no-break spaces (``&#160;``) made plain spaces."""
    rows: dict[float, list[str]] = {}
    for match in re.finditer(r'<text\b[^>]*\by="([\d.]+)"[^>]*>([^<]*)</text>', svg):
        rows.setdefault(float(match.group(1)), []).append(match.group(2))
    return "\n".join(
        html.unescape("".join(rows[y])).replace("\xa0", " ") for y in sorted(rows))


def terminal_size(svg: str) -> tuple[int, int]:
    """Columns and rows of a Rich/Textual SVG export (12.2 x 24.4 px cells, 18 px margin)."""
    match = re.search(r'viewBox="0 0 ([\d.]+) ', svg)
    assert match, "no viewBox"
    rows = max(int(n) for n in re.findall(r'id="terminal-\d+-line-(\d+)"', svg)) + 2
    return round((float(match.group(1)) - 18) / 12.2), rows


@pytest.mark.timeout(benchmark_runs.WAIT + 30)
def test_make_writes_every_screenshot() -> None:
    # In a whole-suite run the script ran in the background from the start, and this comes
    # last (tests/benchmark_runs.py); alone, it runs here.
    finished = benchmark_runs.run("screenshots")
    try:
        _check_screenshots(finished)
    finally:
        finished.remove()


def _check_screenshots(finished: benchmark_runs.Finished) -> None:
    result, out = finished.process, finished.out
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(EXPECTED)
    for name, texts in EXPECTED.items():
        svg = (out / name).read_text(encoding="utf-8")
        head = svg.lstrip()[:200]
        assert head.startswith(("<svg", "<?xml")), f"{name}: {head!r}"
        assert "<svg" in svg and svg.rstrip().endswith("</svg>"), name
        text = svg_text(svg)
        for wanted in texts:
            assert wanted in text, f"{name} does not show {wanted!r}"
        want = (80, 24) if name in SMALL else (120, 36)
        assert terminal_size(svg) == want, name
    # The script worked in its own HOME: nothing landed in the HOME it was given.
    assert not any(finished.home.iterdir())
