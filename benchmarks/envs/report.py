"""The envs benchmark's tables: per host and caches, each path's p50/min/max, its ratio to
the by-hand reference, what it uploaded, and the goal."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from benchmarks.common import fmt_ratio, fmt_s, goal_met, markdown_table

if TYPE_CHECKING:
    from benchmarks.envs.run import Section

__all__ = ["Row", "render"]

MISSING = "not there yet"


@dataclass
class Row:
    """One path's timed runs (seconds), or why it has none."""

    label: str
    goal: float | None = None  # x the reference's p50
    reference: bool = False
    missing: bool = False
    times: list[float] = field(default_factory=list)
    uploaded: str = ""
    error: str | None = None

    @property
    def p50(self) -> float | None:
        return statistics.median(self.times) if self.times else None


HEADER = ["path", "p50 s", "min s", "max s", "x by hand (p50)", "uploaded", "goal", "met"]
ALIGN = "lrrrrlll"


def cells(row: Row, reference: float | None) -> list[object]:
    goal = f"<= {row.goal:g}x" if row.goal is not None else "—"
    if row.error is not None or row.missing or not row.times:
        why = MISSING if row.missing else (row.error or "no run kept")
        return [row.label, why, "—", "—", "—", "—", goal, "?" if row.goal else "—"]
    ratio = None if row.p50 is None or not reference else row.p50 / reference
    return [row.label, fmt_s(row.p50, 1), fmt_s(min(row.times), 1),
            fmt_s(max(row.times), 1),
            "1 (reference)" if row.reference else fmt_ratio(row.p50, reference),
            row.uploaded or "—", goal, goal_met(ratio, row.goal)]


def render(sections: Sequence[Section]) -> str:
    parts: list[str] = []
    for part in sections:
        reference = next((row.p50 for row in part.rows if row.reference), None)
        parts.append(f"### {part.title}\n\n(load average before / after: "
                     f"{' / '.join(part.load)})\n")
        parts.append(markdown_table(HEADER, [cells(row, reference) for row in part.rows],
                                    ALIGN))
    return "\n\n".join(parts)
