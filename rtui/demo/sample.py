"""A small project in the demo's home, so the Files tab has something real to show: a
script that runs in a console (Enter on it in the Files tab), the data it reads, a note."""

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
previews a file, `enter` on `analysis.py` runs it in a console, `e` edits a file in
$EDITOR, `u` uploads and `g` downloads, `d` deletes (after asking).
"""


def _measurements(count: int = 288) -> str:
    """A day of readings every five minutes: a daily swing and a little deterministic noise."""
    lines = ["time,temperature_c,humidity_pct"]
    for i in range(count):
        hours, minutes = divmod(i * 5, 60)
        temp = 18 + 6 * math.sin((i / count - 0.3) * 2 * math.pi) + ((i * 37) % 11 - 5) / 10
        humidity = 55 - 15 * math.sin((i / count - 0.3) * 2 * math.pi) + (i * 13) % 7 / 2
        lines.append(f"2026-12-07T{hours:02d}:{minutes:02d},{temp:.2f},{humidity:.1f}")
    return "\n".join(lines) + "\n"


def write_sample(home: Path) -> None:
    """Write the sample project into ``home`` (the demo's throwaway HOME)."""
    project = home / "demo-project"
    (project / "data").mkdir(parents=True, exist_ok=True)
    (project / "analysis.py").write_text(_SCRIPT)
    (project / "README.md").write_text(_NOTE)
    (project / "data" / "measurements.csv").write_text(_measurements())
