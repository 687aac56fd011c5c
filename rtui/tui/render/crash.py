"""rtui's App base for a crash: a bug is said in one line after the app's screen is gone, its
traceback kept in the log (rtui.core.crash). Textual's own crash screen prints every frame's
local variables, where a password being sent, a token or a kernel's HMAC key may sit, onto a
terminal that scrollback, tmux and screen recorders keep. Here because it overrides Textual's
private ``_fatal_error`` (rtui.tui.render.compat lists it)."""

from __future__ import annotations

from rich.text import Text
from textual.app import App

from rtui.core.crash import keep_crash

__all__ = ["QuietCrashApp"]


class QuietCrashApp(App[None]):
    """An App whose crash shows one line and no variables."""

    def _fatal_error(self) -> None:
        error = self._exception
        line = keep_crash(error) if error is not None else "internal error (a bug in rtui)"
        self.bell()
        self._exit_renderables.append(Text(f"rtui: {line}"))
        self._close_messages_no_wait()
