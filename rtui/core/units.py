"""Sizes and times as people read them, one way everywhere (the CLI's progress line, the
Files tab, the transfers panel, error messages)."""

from __future__ import annotations

__all__ = ["byte_size", "clock"]

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def byte_size(n: float) -> str:
    """``512 B``, ``1.5 KiB``, ``120 MiB``: one decimal below 10 of a unit, none above."""
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}" if abs(value) < 10 else f"{value:.0f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def clock(seconds: float) -> str:
    """``0:03``, ``12:05``, ``1:02:03``: a time the way scp and rsync show it."""
    whole = max(0, int(seconds + 0.5))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
