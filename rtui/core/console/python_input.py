"""What Enter decides about Python typed into the console, and Tab's common prefix.

Plain rules with no kernel and no Textual: the editor asks the kernel first (it knows IPython's
syntax: ``%magic``, ``!shell``, ``obj?``); these run a plain complete line a round trip sooner
and stand in when the kernel does not answer.
"""

from __future__ import annotations

import codeop
import io
import tokenize
import warnings
from collections.abc import Sequence

__all__ = [
    "common_prefix",
    "complete_python_line",
    "continuation",
    "continuation_indent",
    "looks_complete",
]

_NOT_CODE = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
             tokenize.ENDMARKER)


def looks_complete(code: str) -> bool:
    """A kernel-free guess for Enter: False after a trailing ``:``, ``\\`` or an open bracket."""
    stripped = code.rstrip()
    if not stripped:
        return True
    if stripped.endswith("\\"):
        return False
    last: tokenize.TokenInfo | None = None
    try:
        for token in tokenize.generate_tokens(io.StringIO(stripped + "\n").readline):
            if token.type not in _NOT_CODE:
                last = token
    except tokenize.TokenError:
        return False  # EOF inside a bracket or a triple-quoted string
    except (SyntaxError, ValueError):
        return True  # let the kernel report it
    return not (last is not None and last.type == tokenize.OP and last.string == ":")


def complete_python_line(code: str) -> bool:
    """True when one line is complete plain Python, decided here without the kernel.

    Anything else (incomplete, or not Python: ``%magic``, ``!shell``, ``obj?``) is left to
    the kernel's is_complete, which knows IPython's syntax.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return codeop.compile_command(code, "<input>", "single") is not None
        except (SyntaxError, ValueError, OverflowError):
            return False


def continuation_indent(code: str) -> str:
    """The indent of the line after ``code``'s last: the same, one level more after a ``:``."""
    last = code.rstrip("\n").split("\n")[-1]
    indent = last[: len(last) - len(last.lstrip())]
    return indent + "    " if last.rstrip().endswith(":") else indent


def continuation(code: str, answer: tuple[str, str] | None) -> str | None:
    """Enter at the end of ``code``: None when the cell runs, else the indent of its next line.

    ``answer`` is the kernel's is_complete ``(status, indent)``, None when it gave none; an
    ``unknown`` status (or none) falls back to :func:`looks_complete`. An ``invalid`` cell
    runs, so that the kernel reports the error.
    """
    status = answer[0] if answer is not None else "unknown"
    if status == "unknown":
        status = "complete" if looks_complete(code) else "incomplete"
        indent = continuation_indent(code)
    else:
        indent = answer[1] if answer is not None and isinstance(answer[1], str) else ""
    return None if status in ("complete", "invalid") else indent


def common_prefix(words: Sequence[str]) -> str:
    """The longest start all ``words`` share ("" for none): Tab inserts it before offering them."""
    if not words:
        return ""
    first, last = min(words), max(words)
    size = 0
    while size < len(first) and size < len(last) and first[size] == last[size]:
        size += 1
    return first[:size]
