"""Where rtui's log and Python's warnings go: a private file, never the user's terminal.

stderr carries rtui's own messages only: a JSON consumer of ``rtui kernels --json 2>&1`` or a
TUI's screen must not receive a library's ``DeprecationWarning``. Warnings are kept in the
log at debug level (written only with ``RTUI_DEBUG=1``); errors are logged at their level.
The file is made on the first record that is kept, so a run with nothing to say leaves no
file behind (``rtui demo`` promises that).
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from rtui.core import locations
from rtui.core.private import open_private

__all__ = ["DEBUG_ENV", "log_path", "log_to", "setup_logging"]

DEBUG_ENV = "RTUI_DEBUG"
_MAX_BYTES = 1_000_000
warnings_log = logging.getLogger("rtui.warnings")


def log_path() -> Path:
    """rtui's log: ``$XDG_STATE_HOME/rtui/rtui.log``."""
    return locations.state_dir() / "rtui.log"


class _PrivateLogFile(logging.handlers.RotatingFileHandler):
    """A size-capped log file made 0600 in a 0700 directory, opened at the first record."""

    def _open(self) -> io.TextIOWrapper:
        fd = open_private(Path(self.baseFilename), os.O_WRONLY | os.O_APPEND)
        return open(fd, "a", encoding=self.encoding or "utf-8", errors=self.errors)

    def handleError(self, record: logging.LogRecord) -> None:
        """A log that cannot be written (a full disk) is dropped, never printed on the
        terminal (logging's way is a traceback on stderr)."""


def setup_logging(path: Path | None = None) -> None:
    """Send log records and warnings to the log file (once per process).

    Warnings a person asked for with ``-W`` or ``PYTHONWARNINGS`` are left to Python.
    """
    root = logging.getLogger()
    if any(isinstance(h, _PrivateLogFile) for h in root.handlers):
        return
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    handler = _PrivateLogFile(path or log_path(), maxBytes=_MAX_BYTES, backupCount=1,
                              encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = logging.DEBUG if debug else logging.WARNING
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(min(root.level or logging.WARNING, level))
    if not sys.warnoptions:
        warnings.showwarning = _log_warning


def _log_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
    warnings_log.debug("%s", warnings.formatwarning(message, category, filename, lineno, line))


def log_to(path: Path | None) -> None:
    """Keep the log in ``path`` from now on (the demo: its temporary directory, so that it
    leaves no file behind); None: keep no log any more."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _PrivateLogFile):
            handler.close()  # reopened at the next record, at the new place
            if path is None:
                handler.setLevel(logging.CRITICAL + 1)
            else:
                handler.baseFilename = os.fspath(path)
