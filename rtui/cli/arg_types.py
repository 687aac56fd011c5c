"""argparse types for rtui's options: numbers in ASCII digits, finite and in a stated range,
and names (kernel ids, paths) that are not blank.

Python's ``int()`` and ``float()`` take more than a person means: ``int('٢٢')`` is 22 (any
Unicode digit), ``float('nan')``, ``float('inf')`` and ``float('1_0')`` are numbers. An
option's value is a number here only when written as one in digits 0-9; a refusal names the
range, and is argparse's usage error (exit 2) like any other.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

from rtui.core.files.paths import printable

__all__ = ["LOCAL_PATH", "PORT", "not_blank", "seconds", "shown", "whole_number"]

_WHOLE = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_MAX_DIGITS = 30  # past this no range of ours holds it, and int() of it costs for nothing
_SHOWN = 40  # characters of a refused value quoted back


def shown(text: str) -> str:
    """A refused value as a message quotes it: on one line, control characters escaped,
    a long one cut."""
    text = printable(text)
    return f"'{text[:_SHOWN]}…'" if len(text) > _SHOWN else f"'{text}'"


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """A whole number ``low``-``high`` in digits 0-9 (spaces around it are allowed)."""
    def parse(text: str) -> int:
        digits = text.strip()
        if (_WHOLE.fullmatch(digits) and len(digits) <= _MAX_DIGITS
                and low <= int(digits) <= high):
            return int(digits)
        raise argparse.ArgumentTypeError(
            f"must be {low}-{high} (a whole number in digits 0-9), got {shown(text)}")

    parse.__name__ = "whole number"  # argparse names the type in some of its own errors
    return parse


def seconds(high: float) -> Callable[[str], float]:
    """Seconds above 0 and at most ``high``, as 5, 2.5 or .5 (no nan, inf, sign or
    exponent)."""
    def parse(text: str) -> float:
        number = text.strip()
        if _DECIMAL.fullmatch(number) and len(number) <= _MAX_DIGITS:
            value = float(number)
            if math.isfinite(value) and 0 < value <= high:
                return value
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds above 0 and at most {high:g}, got {shown(text)}")

    parse.__name__ = "seconds"
    return parse


def not_blank(what: str) -> Callable[[str], str]:
    """Text that names something (``what``: "a kernel id (see `rtui kernels HOST`)"): not
    empty, not only spaces, no control characters (a newline in an id is a mistake)."""
    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"must not be empty: give {what}")
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise argparse.ArgumentTypeError(
                f"must not contain control characters, got {shown(text)}: give {what}")
        return text

    parse.__name__ = "name"
    return parse


PORT = whole_number(1, 65535)
# A local file's path: open() refuses a NUL byte with ValueError, and an empty one is none.
LOCAL_PATH = not_blank("a file's path")
