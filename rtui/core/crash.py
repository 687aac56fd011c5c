"""A bug in rtui (an exception nothing expected) said as one line, its traceback kept in the log.

The person sees what failed and where, never a traceback: Textual's own crash screen prints
every frame's local variables, where a password being sent, a token or a kernel's HMAC key
may sit, onto a terminal that tmux and screen recorders keep. The log (0600 in a 0700
directory) gets the traceback without variables, for a bug report. The line names the
exception's type and rtui's innermost frame, not its message (which can quote the data that
was being read).
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import rtui
from rtui.core.logs import log_path

__all__ = ["EXIT_INTERNAL", "crash_line", "keep_crash"]

EXIT_INTERNAL = 70  # sysexits.h' EX_SOFTWARE: an internal error, not the person's input
log = logging.getLogger("rtui.crash")


def keep_crash(error: BaseException) -> str:
    """Log ``error``'s traceback (no variables) and return the line to show for it."""
    log.error("rtui crashed (a bug):\n%s",
              "".join(traceback.format_exception(type(error), error, error.__traceback__)))
    return crash_line(error, log_path())


def crash_line(error: BaseException, log_file: Path) -> str:
    """'internal error: ValueError at rtui/core/x.py:12 (a bug in rtui); ...'."""
    return (f"internal error: {type(error).__name__}{_where(error)} (a bug in rtui); "
            f"its traceback is in {_home_relative(log_file)}: please report it")


def _where(error: BaseException) -> str:
    """' at rtui/core/x.py:12': rtui's innermost frame, else the innermost of all."""
    package = Path(rtui.__file__).resolve().parent
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if Path(f.filename).resolve().is_relative_to(package)]
    if not (ours or frames):
        return ""
    frame = (ours or frames)[-1]
    path = Path(frame.filename).resolve()
    shown = (f"rtui/{path.relative_to(package).as_posix()}" if path.is_relative_to(package)
             else path.name)
    return f" at {shown}:{frame.lineno}"


def _home_relative(path: Path) -> str:
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)
