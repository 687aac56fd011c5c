"""A small project in the demo's home, so the Files tab has something real to show: a
script that runs in a console (Enter on it in the Files tab), the data it reads, a chart of
that data (a PNG the preview draws), a note."""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["write_sample"]

_SCRIPT = '''"""Summarise the demo's measurements: Enter on me in the Files tab runs me."""

import csv
import statistics
from pathlib import Path

rows = list(csv.DictReader(open(Path(__file__).parent / "data" / "measurements.csv")))
temps = [float(r["temperature_c"]) for r in rows]
print(f"{len(rows)} measurements from {rows[0]['time']} to {rows[-1]['time']}")
print(f"temperature: mean {statistics.mean(temps):.2f} C, "
      f"min {min(temps):.2f}, max {max(temps):.2f}, stdev {statistics.stdev(temps):.2f}")
'''

_NOTE = """# Demo project

A few files in the demo host's home, to try the Files tab on: `enter` opens a folder or
previews a file (`data/day.png`, a chart of the data, is drawn in the preview), `enter` on
`analysis.py` runs it in a console, `e` edits a file in $EDITOR, `u` uploads and `g`
downloads, `d` deletes (after asking).
"""


def _readings(count: int = 288) -> list[tuple[str, float, float]]:
    """A day of readings every five minutes: a daily swing and a little deterministic noise."""
    rows = []
    for i in range(count):
        hours, minutes = divmod(i * 5, 60)
        temp = 18 + 6 * math.sin((i / count - 0.3) * 2 * math.pi) + ((i * 37) % 11 - 5) / 10
        humidity = 55 - 15 * math.sin((i / count - 0.3) * 2 * math.pi) + (i * 13) % 7 / 2
        rows.append((f"2026-12-07T{hours:02d}:{minutes:02d}", round(temp, 2),
                     round(humidity, 1)))
    return rows


def _measurements(rows: list[tuple[str, float, float]]) -> str:
    lines = ["time,temperature_c,humidity_pct"]
    lines += [f"{time},{temp:.2f},{humidity:.1f}" for time, temp, humidity in rows]
    return "\n".join(lines) + "\n"


def _chart(rows: list[tuple[str, float, float]], path: Path) -> None:
    """The day's temperature (filled, orange) and humidity (a blue line) over a dark grid:
    bold strokes, since the preview draws it a few dozen cells wide."""
    from PIL import Image, ImageDraw

    width, height, pad = 288, 144, 8
    image = Image.new("RGB", (width, height), (22, 24, 32))
    draw = ImageDraw.Draw(image)
    for hour in range(0, 25, 6):  # a line every six hours, one every quarter of the range
        x = pad + (width - 2 * pad) * hour // 24
        draw.line([(x, pad), (x, height - pad)], fill=(52, 56, 70), width=2)
    for quarter in range(5):
        y = pad + (height - 2 * pad) * quarter // 4
        draw.line([(pad, y), (width - pad, y)], fill=(52, 56, 70), width=2)

    def point(i: int, value: float, low: float, high: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * i / (len(rows) - 1)
        return x, height - pad - (height - 2 * pad) * (value - low) / (high - low)

    temps = [point(i, temp, 10, 26) for i, (_, temp, _) in enumerate(rows)]
    draw.polygon([(pad, height - pad), *temps, (width - pad, height - pad)],
                 fill=(120, 62, 20))
    draw.line(temps, fill=(255, 140, 40), width=4)
    humidity = [point(i, value, 30, 80) for i, (_, _, value) in enumerate(rows)]
    draw.line(humidity, fill=(80, 170, 255), width=4)
    image.save(path, "PNG", optimize=True)


def write_sample(home: Path) -> None:
    """Write the sample project into ``home`` (the demo's throwaway HOME)."""
    project = home / "demo-project"
    (project / "data").mkdir(parents=True, exist_ok=True)
    (project / "analysis.py").write_text(_SCRIPT)
    (project / "README.md").write_text(_NOTE)
    rows = _readings()
    (project / "data" / "measurements.csv").write_text(_measurements(rows))
    _chart(rows, project / "data" / "day.png")
