"""What was measured of one operation at each delay, and the round trips that makes."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

__all__ = ["FAR", "NEAR", "Series"]

NEAR, FAR = 0.0, 0.050  # one-way delay of the link, seconds (FAR: the default far one)


@dataclass
class Series:
    """One operation's times at each delay; ``goal_rt``: at most that many round trips;
    ``goal_far``: at most that many seconds at the far delay."""

    label: str
    ours: bool = True  # rtui's (its crash fails the benchmark; a peer's is a figure)
    goal_rt: float | None = None
    goal_far: float | None = None
    goal_text: str = "—"
    far: float = FAR
    times: dict[float, list[float]] = field(default_factory=dict)
    pairs: list[float] = field(default_factory=list)  # far - near, run at the same time
    error: str | None = None

    def __post_init__(self) -> None:
        for delay in (NEAR, self.far):
            self.times.setdefault(delay, [])

    def p50(self, delay: float) -> float | None:
        values = self.times[delay]
        return statistics.median(values) if values else None

    @property
    def round_trips(self) -> float | None:
        """From the medians: the figure the goals are about."""
        return _round_trips(self.p50(NEAR), self.p50(self.far), self.far)

    @property
    def round_trips_paired(self) -> float | None:
        """From runs made in pairs, one through each link at the same time, so both meet
        the same load: the median of their differences."""
        if not self.pairs:
            return None
        return statistics.median(self.pairs) / (2 * (self.far - NEAR))

    @property
    def met(self) -> str:
        if self.goal_rt is None and self.goal_far is None:
            return "—"
        rt, far = self.round_trips, self.p50(self.far)
        if (self.goal_rt is not None and rt is None) or (self.goal_far is not None
                                                        and far is None):
            return "?"
        ok = (self.goal_rt is None or (rt is not None and rt <= self.goal_rt)) and (
            self.goal_far is None or (far is not None and far <= self.goal_far))
        return "yes" if ok else "no"


def _round_trips(near: float | None, far: float | None, delay: float) -> float | None:
    if near is None or far is None:
        return None
    return (far - near) / (2 * (delay - NEAR))
