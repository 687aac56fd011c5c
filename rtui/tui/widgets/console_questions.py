"""The kernel's questions answered in the console's own editor, as in a terminal: an
``input()``, and every line of a debugger (``breakpoint()``, ``pdb.set_trace()``, ``%debug``,
``%pdb``), where a dialog per command was unusable.

While the kernel asks, the editor shows the prompt as its title and Enter sends the line as
it is (the cell being written waits aside, and comes back when the cell ends). A debugger
line has a history of its own (up/down, ctrl+r) and local completion and help (the kernel's
shell is busy while pdb waits); lines typed while pdb runs a command answer its next
prompts. A password (getpass) is typed in a masked field that takes the editor's place and
is never echoed.
"""

from __future__ import annotations

import contextlib
from collections import deque
from typing import TYPE_CHECKING

from textual.widgets import Input

from rtui.core.console import debugger
from rtui.core.kernels import events as ev
from rtui.tui.widgets.code_input import CodeInput

if TYPE_CHECKING:
    from rtui.core.console.history import History
    from rtui.tui.widgets.code_assist import CodeAssist
    from rtui.tui.widgets.console import ConsolePane

__all__ = ["DebuggerAssist", "KernelQuestions"]

# How many of the output's last lines the names for ``p``/``pp`` completion come from.
_NAMES_FROM_LINES = 300


class DebuggerAssist:
    """The editor's completion and help while a debugger asks: pdb's commands, and names the
    debugger printed for ``p``/``pp`` arguments; all local (the kernel is busy in pdb)."""

    def __init__(self, pane: ConsolePane) -> None:
        self.pane = pane

    async def is_complete(self, code: str) -> tuple[str, str]:
        return "complete", ""

    async def complete(self, code: str, cursor_pos: int) -> tuple[list[str], int, int]:
        model = self.pane.model
        lines = model.plain_lines(max(model.total - _NAMES_FROM_LINES, 0))
        return debugger.complete_command(code, cursor_pos, debugger.names_in(lines))

    async def inspect(self, code: str, cursor_pos: int) -> str | None:
        return debugger.command_help(code, cursor_pos)


class KernelQuestions:
    """The pane's side of the kernel's ``input_request``: who asks, what was typed ahead,
    the editor switched to answering and back."""

    def __init__(self, pane: ConsolePane, debugger_history: History) -> None:
        self.pane = pane
        self.debugger_history = debugger_history
        self.asking: ev.InputRequest | None = None  # the question waiting for its answer
        self.debugging = False  # a debugger asked in the running cell
        self._cell: str | None = None  # the request id of the cell that asked last
        self._typed_ahead: deque[str] = deque()  # lines entered while pdb ran a command
        # The editor as it was for cells: its text, history and assist.
        self._saved: tuple[str, History | None, CodeAssist | None] | None = None
        self._assist = DebuggerAssist(pane)

    @property
    def active(self) -> bool:
        """True while Enter answers the kernel rather than running a cell."""
        return self._saved is not None

    def status_note(self) -> str:
        """What the status line adds: the question and how to go on."""
        if self.asking is not None and self.debugging:
            return (f" · {_clean(self.asking.prompt).strip()} n next, s step, c continue,"
                    " q quit")
        if self.asking is not None:
            return " · the kernel asks for input"
        if self.debugging:
            return " · debugger running…"
        return ""

    # -- the kernel asks ---------------------------------------------------------------------

    def asked(self, event: ev.InputRequest) -> None:
        """An input_request: answer it in the editor (a password in a masked field)."""
        self.asking = event
        self._cell = event.parent_id
        self.debugging = debugger.is_debugger_prompt(event.prompt)
        if event.password:
            self._ask_password(event)
        else:
            self._editor_answers(event)
            if self.debugging and self._typed_ahead:
                self.answer(self._typed_ahead.popleft())
                return
        self.pane.refresh_status()

    def _editor_answers(self, event: ev.InputRequest) -> None:
        editor = self.pane.query_one(CodeInput)
        if self._saved is None:  # the cell being written waits aside
            self._saved = (editor.text, editor.input_history, editor.assist)
            editor.clear()
        editor.line_mode = True
        editor.set_history(self.debugger_history if self.debugging else None)
        editor.assist = self._assist if self.debugging else None
        editor.border_title = _clean(event.prompt) or "input"
        editor.add_class("-answering")
        editor.display = True
        self._take_focus(editor, event)

    def _ask_password(self, event: ev.InputRequest) -> None:
        editor = self.pane.query_one(CodeInput)
        self._drop_secret()
        secret = Input(password=True, id="secret", placeholder="typed here, never shown")
        secret.border_title = _clean(event.prompt) or "password"
        editor.display = False
        self.pane.mount(secret, before=editor)
        self._take_focus(secret, event)

    def _take_focus(self, widget: CodeInput | Input, event: ev.InputRequest) -> None:
        """Typing goes to the answer when this console is the one shown; a console in
        another tab says that it asks, and leaves the keys where they are."""
        if self.pane.is_on_screen:
            widget.focus()
        else:
            name = self.pane.kernel.host if self.pane.kernel is not None else "a host"
            self.pane.notify(f"A console on {name} asks: {_clean(event.prompt).strip()}",
                             title="Input wanted")

    # -- the user answers ---------------------------------------------------------------------

    def answer(self, text: str) -> None:
        """Enter in the editor (or the masked field): the answer, or a line typed ahead
        while the debugger runs a command."""
        question = self.asking
        if question is None:
            if self.debugging:
                self._typed_ahead.append(text)
            return
        self.asking = None
        self.pane.send_input_reply(text)
        # Echoed as a terminal would; a password not at all, not even its length.
        self.pane.echo(_clean(question.prompt) + ("" if question.password else text))
        if question.password:
            self._drop_secret()
            editor = self.pane.query_one(CodeInput)
            editor.display = True
            self.pane.call_after_refresh(editor.focus)  # once the field is gone
        if not self.debugging:
            self._back_to_cells()
        self.pane.refresh_status()

    # -- the cell ends ------------------------------------------------------------------------

    def ended(self, cell: str | None = None) -> None:
        """The cell ``cell`` ended (None: whichever; or the kernel did): if it is the one
        that asked, the editor runs cells again, with the cell that was being written, and
        any line typed ahead for the debugger put back. (Another request's idle status, a
        kernel_info's, comes while pdb waits.)"""
        if self._saved is None and self.asking is None and not self._typed_ahead:
            return
        if cell is not None and self._cell is not None and cell != self._cell:
            return
        self.asking = None
        self.debugging = False
        self._drop_secret()
        self._back_to_cells()
        self.pane.refresh_status()

    def _back_to_cells(self) -> None:
        editor = self.pane.query_one(CodeInput)
        saved, self._saved = self._saved, None
        left = "\n".join(self._typed_ahead)
        self._typed_ahead.clear()
        editor.line_mode = False
        editor.border_title = None
        editor.remove_class("-answering")
        editor.display = True
        if saved is not None:
            text, history, assist = saved
            editor.set_history(history)
            editor.assist = assist
            text = text or left
            editor.replace(text, (0, 0), editor.document.end, maintain_selection_offset=False)
            editor.move_cursor(editor.document.end)

    def _drop_secret(self) -> None:
        for secret in self.pane.query("#secret"):
            with contextlib.suppress(Exception):
                secret.remove()


def _clean(prompt: str) -> str:
    """The prompt as text (ipdb may colour it; a title or a line holds one line)."""
    return debugger.strip_ansi(prompt).replace("\n", " ")
