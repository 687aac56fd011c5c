"""Checks on a config file's text made before a parser sees it: where its bytes stop being
UTF-8, and how deep its TOML arrays and inline tables nest.

Python's ``tomllib`` recurses once per level of ``[`` or ``{``; a file nested a thousand
deep ends in a ``RecursionError``. :func:`nesting_problem` counts the levels first, skipping
strings and comments as TOML reads them, in C-speed regular expressions (a 4 MiB file takes
milliseconds). Its count is an upper bound of what the parser will see (a table header's
``[[`` counts too), so what it passes never recurses deeply.
"""

from __future__ import annotations

import itertools
import re

__all__ = ["nesting_problem", "not_utf8"]

# Strings and comments, each matched whole or to the end of the text when unterminated (so
# no pattern ever backtracks over the rest of the file). A multi-line string may end in up to
# five quotes (one or two of them its own); basic strings know backslash escapes.
_QUIET = re.compile(
    r'"""(?:[^"\\]|\\[\s\S]?|"(?!""))*(?:"{3,5}|\Z)'
    r"|'''[\s\S]*?(?:'{3,5}|\Z)"
    r'|"(?:[^"\\\n]|\\.?)*"?'
    r"|'[^'\n]*'?"
    r"|#[^\n]*"
)
_BRACKET = re.compile(r"[\[\]{}]")
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}.__getitem__


def nesting_problem(text: str, limit: int) -> str | None:
    """"line N: ... nested deeper than LIMIT levels" when ``text`` nests arrays or inline
    tables deeper than ``limit``, else None."""
    if text.count("[") + text.count("{") <= limit:
        return None
    if _deepest(_QUIET.sub("", text)) <= limit:  # strings and comments dropped
        return None
    # Again with their newlines kept, so the line is counted as in text (only when refused).
    skeleton = _QUIET.sub(lambda m: "\n" * m.group().count("\n"), text)
    depths = itertools.accumulate(map(_STEP, _NOT_BRACKET.sub("", skeleton)))
    where = next(m.start() for depth, m in zip(depths, _BRACKET.finditer(skeleton), strict=True)
                 if depth > limit)
    line = skeleton.count("\n", 0, where) + 1
    return f"line {line}: arrays or inline tables nested deeper than {limit} levels"


def _deepest(skeleton: str) -> int:
    brackets = _NOT_BRACKET.sub("", skeleton)
    return max(itertools.accumulate(map(_STEP, brackets)), default=0)


def not_utf8(exc: UnicodeDecodeError) -> str:
    """"line L, column C: not UTF-8 text (byte 0xNN)" for the first bad byte of a decode."""
    data = bytes(exc.object)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return ("line 1, column 1: UTF-16 text (it starts with a UTF-16 byte order mark); "
                "save it as UTF-8")
    start = exc.start
    line_start = data.rfind(b"\n", 0, start) + 1
    line = data.count(b"\n", 0, start) + 1
    column = len(data[line_start:start].decode("utf-8", "replace")) + 1
    return (f"line {line}, column {column}: not UTF-8 text (byte 0x{data[start]:02x}); "
            "save it as UTF-8")
