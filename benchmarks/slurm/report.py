"""The slurm benchmark's tables: submit -> ready beside the scheduler's own ``srun true``,
where rtui's SLURM start goes (its stages), and the ``1+1`` round trip to a SLURM kernel
beside a kernel on the login node."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from benchmarks.common import fmt_s, goal_met, markdown_table, percentile

__all__ = ["Part", "Row", "render_rounds", "render_stages", "render_starts"]


@dataclass
class Row:
    """One path's figures (seconds), or why it has none."""

    label: str
    reference: bool = False
    goal: float | None = None  # starts: seconds over the reference; round trips: x it
    times: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def p50(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def p95(self) -> float | None:
        return percentile(self.times, 95) if self.times else None

    def fail(self, why: str) -> None:
        """The path crashed (or cannot run): its figures so far are not kept."""
        if self.error is None:
            self.error = why
        self.times.clear()


@dataclass
class Part:
    """One table: its title, its rows and the load average around it."""

    title: str
    rows: list[Row]
    load: list[str] = field(default_factory=list)

    @property
    def reference(self) -> float | None:
        return next((row.p50 for row in self.rows if row.reference), None)

    def heading(self) -> str:
        return f"### {self.title}\n\n(load average before / after: {' / '.join(self.load)})\n"


def render_starts(part: Part, *, versus: str = "`srun true`", goals: bool = True) -> str:
    """Each path's start: p50/min/max and how much longer than the reference (``versus``)
    it took; the goal columns with ``goals``."""
    header = ["path", "p50 s", "min s", "max s", f"over {versus} (p50)",
              *(["goal", "met"] if goals else [])]
    reference = part.reference
    rows: list[list[object]] = []
    for row in part.rows:
        goal = "—" if row.goal is None else f"<= {row.goal:g} s over"
        if row.p50 is None:
            rows.append([row.label, row.error or "no run kept", "—", "—", "—", goal,
                         "?" if row.goal is not None else "—"])
            continue
        over = None if reference is None else row.p50 - reference
        rows.append([row.label, fmt_s(row.p50, 2), fmt_s(min(row.times), 2),
                     fmt_s(max(row.times), 2),
                     "reference" if row.reference else (
                         "—" if over is None else f"{over:+.2f} s"),
                     goal, goal_met(over, row.goal)])
    if not goals:
        rows = [row[:-2] for row in rows]
    return part.heading() + "\n" + markdown_table(header, rows, "lrrrrll"[:len(header)])


STAGE_HEADER = ["stage (seconds after the submit)", "p50 s", "min s", "max s",
                "p50 step from the stage before"]


def render_stages(part: Part) -> str:
    """rtui's SLURM start, stage by stage: when each happened after the submit."""
    rows: list[list[object]] = []
    before: float | None = 0.0
    for row in part.rows:
        if row.p50 is None:
            rows.append([row.label, row.error or "not seen", "—", "—", "—"])
            continue
        step = None if before is None else row.p50 - before
        rows.append([row.label, fmt_s(row.p50, 3), fmt_s(min(row.times), 3),
                     fmt_s(max(row.times), 3), "—" if step is None else f"{step:+.3f}"])
        before = row.p50
    return part.heading() + "\n" + markdown_table(STAGE_HEADER, rows, "lrrrr")


ROUND_HEADER = ["kernel", "p50 ms", "p95 ms", "samples", "p50 x the login node's", "goal",
                "met"]


def render_rounds(part: Part) -> str:
    """The ``1+1`` round trip to each kernel: p50/p95 and the ratio to the reference's p50."""
    reference = part.reference
    rows: list[list[object]] = []
    for row in part.rows:
        goal = "—" if row.goal is None else f"<= {row.goal:g}x"
        if row.p50 is None or row.p95 is None:
            rows.append([row.label, row.error or "no samples", "—", "—", "—", goal,
                         "?" if row.goal is not None else "—"])
            continue
        ratio = None if not reference else row.p50 / reference
        rows.append([row.label, f"{row.p50 * 1000:.2f}", f"{row.p95 * 1000:.2f}",
                     len(row.times),
                     "1 (reference)" if row.reference else (
                         "—" if ratio is None else f"{ratio:.2f}x"),
                     goal, goal_met(ratio, row.goal)])
    return part.heading() + "\n" + markdown_table(ROUND_HEADER, rows, "lrrrrll")
