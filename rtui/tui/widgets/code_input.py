"""The live console's input editor: multi-line Python with history, completion and help.

The editor routes keys and asks the kernel (code_assist: the questions, each wait bounded);
what it decides lives next door: the Enter rule in rtui.core.console.python_input, Tab's menu
in code_completion, ctrl+r in history_search, and the list they both show in assist_popup.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from importlib.util import find_spec
from typing import ClassVar

from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widgets import TextArea
from textual.widgets.text_area import LanguageDoesNotExist, Location, TextAreaTheme

from rtui.core.console.history import History, HistoryCursor
from rtui.core.console.python_input import complete_python_line, continuation, looks_complete
from rtui.tui.render.text_area import render_lines_unthemed, text_area_theme
from rtui.tui.widgets.assist_popup import AssistPopup
from rtui.tui.widgets.code_assist import CodeAssist, ask_within
from rtui.tui.widgets.code_completion import CompletionMenu, code_and_cursor, open_completion
from rtui.tui.widgets.code_theme import ANSI_CODE_THEME
from rtui.tui.widgets.history_search import HistorySearch

__all__ = [
    "CodeAssist",
    "CodeInput",
    "looks_complete",
    "syntax_highlighting_available",
]


def syntax_highlighting_available() -> bool:
    """True when tree-sitter and its Python grammar (``textual[syntax]``) are installed."""
    return find_spec("tree_sitter") is not None and find_spec("tree_sitter_python") is not None


class CodeInput(TextArea):
    """A Python editor that runs cells on Enter when the kernel says they are complete."""

    DEFAULT_CSS = """
    CodeInput {
        height: auto;
        max-height: 12;
    }
    CodeInput.-textual-compact {
        max-height: 10;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "run", "Run", id="code.run"),
        Binding("ctrl+j,alt+enter,ctrl+enter,shift+enter", "force_run", "Force run",
                id="code.force_run"),
        Binding("tab", "complete", "Complete", id="code.complete"),
        Binding("shift+tab,f2", "inspect", "Help", id="code.inspect"),
        Binding("ctrl+r", "history_search", "History", id="code.history_search"),
        Binding("up", "history_prev", "Previous input", id="code.history_prev", show=False),
        Binding("down", "history_next", "Next input", id="code.history_next", show=False),
        Binding("escape", "dismiss", "Close", id="code.dismiss"),
    ]

    MAX_POPUP_ROWS: ClassVar[int] = 8
    SEARCH_LIMIT: ClassVar[int] = 200

    @dataclass
    class Submitted(Message):
        """The user ran a cell."""

        code: str
        code_input: CodeInput

        @property
        def control(self) -> CodeInput:
            return self.code_input

    @dataclass
    class InspectRequested(Message):
        """Help for the name under the cursor arrived (``text`` None: nothing found)."""

        text: str | None
        code_input: CodeInput
        error: str | None = None

        @property
        def control(self) -> CodeInput:
            return self.code_input

    def __init__(
        self,
        text: str = "",
        *,
        history: History | None = None,
        assist: CodeAssist | None = None,
        max_lines: int | None = None,
        assist_timeout: float = 2.0,
        highlight: bool = True,
        compact: bool = False,
        placeholder: str = "",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        # Plain text first; the Python grammar is switched on after the first paint (see
        # on_mount): compiling its highlight query takes ~25 ms, twice when given here.
        self._language = "python" if highlight and syntax_highlighting_available() else None
        super().__init__(text, soft_wrap=True, tab_behavior="focus", compact=compact,
                         placeholder=placeholder, name=name, id=id, classes=classes)
        self.indent_width = 4
        self.max_lines = max_lines
        self.assist_timeout = assist_timeout
        self._assist = assist
        self._history: History | None = None
        self._history_cursor: HistoryCursor | None = None
        self._recalled: tuple[str, Location] | None = None
        self._popup: AssistPopup | None = None
        # What the popup shows: at most one of them is open (neither: the popup is closed).
        self._completion: CompletionMenu | None = None
        self._search: HistorySearch | None = None
        self._serial = 0  # bumped by every assist request, so late answers can be recognised
        # Answering the kernel's input() or debugger prompt: Enter sends the line as it is
        # (empty too: pdb repeats its last command), Tab completes even at a line's start.
        self.line_mode = False
        self._styled_theme: TextAreaTheme | None = None  # the theme styled last
        self._theme_css: tuple[str, Style] | None = None  # ...and what for
        if history is not None:
            self.set_history(history)

    # -- public API -------------------------------------------------------------------------

    def set_history(self, history: History | None) -> None:
        """Use ``history`` for up/down, ctrl+r and for recording submitted cells (None:
        neither, as for an input() answer)."""
        self._history = history
        self._history_cursor = history.cursor() if history is not None else None
        self._recalled = None

    @property
    def input_history(self) -> History | None:
        """What up/down recall (None: nothing)."""
        return self._history

    @property
    def assist(self) -> CodeAssist | None:
        """Who completes and explains (the kernel's questions, or the debugger's, local)."""
        return self._assist

    @assist.setter
    def assist(self, assist: CodeAssist | None) -> None:
        self._assist = assist
        self._serial += 1  # an answer of the one before is stale
        self._close_popup()

    @property
    def popup_open(self) -> bool:
        """True while the completion menu or the history search is showing."""
        return self._completion is not None or self._search is not None

    @property
    def popup_items(self) -> list[str]:
        """What the open popup offers, in order."""
        if self._completion is not None:
            return list(self._completion.shown)
        if self._search is not None:
            return list(self._search.shown)
        return []

    @property
    def search_query(self) -> str | None:
        """The reverse-search query while searching, else None."""
        return self._search.query if self._search is not None else None

    def submit(self) -> None:
        """Run the current text as it is (in ``line_mode``, send it, even empty)."""
        code = self.text
        if not code.strip() and not self.line_mode:
            return
        if self._history is not None:
            self._history.add(code)
        if self._history_cursor is not None:
            self._history_cursor.reset()
        self._recalled = None
        self._serial += 1
        self._close_popup()
        self.clear()
        self.post_message(self.Submitted(code, self))

    # -- lifecycle --------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        """TextArea re-derives its theme from CSS on every paint (~2 ms: its own style and
        six component styles made into Rich styles), and every keystroke repaints the
        editor; here only when its style, a stylesheet rule or the app's theme changed."""
        theme = text_area_theme(self)
        # Component styles come from the stylesheet only (notify_style_update resets the
        # key); the widget's own style also follows inline styles here and on ancestors.
        # The theme object itself is kept: a new one (TextArea makes one per theme change)
        # is styled even if it reuses a freed one's address.
        key = (self.app.current_theme.name, self.rich_style)
        if theme is not None and (theme is not self._styled_theme or key != self._theme_css):
            theme.apply_css(self)
            self._styled_theme, self._theme_css = theme, key
        return render_lines_unthemed(self, crop)

    def notify_style_update(self) -> None:
        self._theme_css = None  # focus, classes, CSS or an ancestor's style changed
        super().notify_style_update()

    def on_mount(self) -> None:
        if self.app.native_ansi_color:  # rtui --ansi: code in the terminal's 16 colours
            self.register_theme(ANSI_CODE_THEME)
            self.theme = ANSI_CODE_THEME.name
        if self.max_lines is not None:
            self.styles.max_height = self.max_lines + self.styles.gutter.height
        if self._history is not None:  # read before the first Enter needs it
            self.run_worker(self._history.load(), name="history-load", exit_on_error=False)
        if self._language is not None:
            self.call_after_refresh(self._highlight)

    def _highlight(self) -> None:
        selection = self.selection  # what was typed meanwhile stays, and so does the cursor
        with contextlib.suppress(LanguageDoesNotExist):  # a broken tree-sitter install
            self.language = self._language
        self.selection = selection

    def on_unmount(self) -> None:
        if self._popup is not None and self._popup.is_attached:
            self._popup.remove()

    def on_blur(self) -> None:
        self._close_popup()

    # -- key routing ------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "dismiss":
            return self.popup_open
        return True

    async def on_key(self, event: events.Key) -> None:
        # Our keys are dispatched here, not as priority bindings: a priority binding runs
        # when the app sees the key, before this widget has inserted the characters typed
        # just before it. A terminal sends "2+2<Enter>" in one burst, so Enter would see
        # an empty editor. Here every key is handled in the order it was typed. Textual
        # calls TextArea's own key handler (which types) after this one, unless this one
        # prevents the default.
        action = _KEY_ACTIONS.get(event.key)
        if action is not None and self.check_action(action, ()):
            event.stop()
            event.prevent_default()
            await self.run_action(action)
            return
        if self._search is not None:
            if self._search.take_key(event):
                event.stop()
                event.prevent_default()
                return
            self._close_popup()  # any other key ends the search and does its usual job

    def on_paste(self, event: events.Paste) -> None:
        # Textual's TextArea inserts the paste after this, unless a search takes it. (This
        # was `_on_paste` calling TextArea's: Textual then called TextArea's again, and every
        # paste was inserted twice.)
        if self._search is not None:
            event.stop()
            event.prevent_default()
            self._search.take_paste(event.text)

    # Both end here: nothing above the editor listens, and each would otherwise bubble
    # through every ancestor (seven message queues, seven loop turns) on every keystroke.

    def _on_text_area_changed(self, event: TextArea.Changed) -> None:
        if event.text_area is self:
            event.stop()
            if self._completion is not None:
                self._refilter_completion()

    def _on_text_area_selection_changed(self, event: TextArea.SelectionChanged) -> None:
        if event.text_area is self:
            event.stop()
            if self._completion is not None:
                self._refilter_completion()

    # -- run --------------------------------------------------------------------------------

    def action_run(self) -> None:
        """Enter: accept a popup item, else run a complete cell or continue it."""
        if self.popup_open:
            self._accept_popup()
            return
        if self.line_mode:
            self.submit()
            return
        code, cursor = code_and_cursor(self)
        if not code.strip():
            return
        row, column = self.cursor_location
        at_end = (row == self.document.line_count - 1
                  and not self.document[row][column:].strip())
        if not at_end:
            self._newline(self._line_indent(row))
            return
        if self._assist is None:
            self._enter_decided(code, None)
            return
        if "\n" not in code and complete_python_line(code):
            self.submit()  # `1+1`: no need to ask the kernel, run it a round trip sooner
            return
        self._serial += 1
        self.run_worker(self._ask_is_complete(self._assist, code, cursor, self._serial),
                        name="code-is-complete", group="code-is-complete", exclusive=True,
                        exit_on_error=False)

    def action_force_run(self) -> None:
        """Run whatever is in the editor, complete or not."""
        if self._search is not None:
            self._accept_popup()
        self._close_popup()
        self.submit()

    async def _ask_is_complete(self, assist: CodeAssist, code: str, cursor: int,
                               serial: int) -> None:
        _ok, answer = await ask_within(assist.is_complete(code), self.assist_timeout)
        if serial != self._serial or code_and_cursor(self) != (code, cursor):
            return  # the user kept typing: this Enter is stale
        self._enter_decided(code, answer)

    def _enter_decided(self, code: str, answer: tuple[str, str] | None) -> None:
        indent = continuation(code, answer)
        if indent is None:
            self.submit()
        else:
            self._newline(indent)

    def _newline(self, indent: str) -> None:
        start, end = self.selection
        self.replace("\n" + indent, start, end, maintain_selection_offset=False)

    def _line_indent(self, row: int) -> str:
        line = self.document[row]
        return line[: len(line) - len(line.lstrip())]

    # -- completion -------------------------------------------------------------------------

    def action_complete(self) -> None:
        """Tab: next item in a popup, indent at a blank line start, else ask the kernel."""
        if self._completion is not None:
            self._popup_move(+1)
            return
        if self._search is not None:
            self._accept_popup()
            return
        row, column = self.cursor_location
        before = self.document[row][:column]
        if self._assist is None or not (before.strip() or self.line_mode):
            self._indent()
            return
        code, cursor = code_and_cursor(self)
        self._serial += 1
        self.run_worker(self._ask_complete(self._assist, code, cursor, self._serial),
                        name="code-complete", group="code-complete", exclusive=True,
                        exit_on_error=False)

    def _indent(self) -> None:
        _row, column = self.cursor_location
        width = self.indent_width - column % self.indent_width
        start, end = self.selection
        self.replace(" " * width, start, end, maintain_selection_offset=False)

    async def _ask_complete(self, assist: CodeAssist, code: str, cursor: int,
                            serial: int) -> None:
        _ok, answer = await ask_within(assist.complete(code, cursor), self.assist_timeout)
        if answer is None or serial != self._serial or code_and_cursor(self) != (code, cursor):
            return  # failed, or stale: the text moved on while the kernel thought
        if self._search is not None:
            return  # ctrl+r meanwhile: the search has the popup
        self._completion = open_completion(self, self._ensure_popup(), code, cursor, answer)
        self._refilter_completion()

    def _refilter_completion(self) -> None:
        completion = self._completion
        if completion is not None and not completion.narrow(*code_and_cursor(self)):
            self._close_popup()

    # -- history ----------------------------------------------------------------------------

    def _on_recalled(self) -> bool:
        return self._recalled is not None and self._recalled == (self.text, self.cursor_location)

    def action_history_prev(self) -> None:
        """Up: previous history entry on the first line, else move the cursor up."""
        if self.popup_open:
            self._popup_move(-1)
            return
        cursor = self._history_cursor
        location = self.cursor_location
        if cursor is None or not (self._on_recalled()
                                  or self.navigator.is_first_wrapped_line(location)):
            self.action_cursor_up()
            return
        prefix: str | None = None
        if not cursor.active:
            row, column = location
            prefix = self.document[row][:column] if self.document.line_count == 1 else ""
        entry = cursor.older(self.text, prefix=prefix)
        if entry is not None:
            self._show_entry(entry)

    def action_history_next(self) -> None:
        """Down: next history entry (then the draft) on the last line, else move down."""
        if self.popup_open:
            self._popup_move(+1)
            return
        cursor = self._history_cursor
        if cursor is None or not cursor.active or not (
                self._on_recalled() or self.navigator.is_last_wrapped_line(self.cursor_location)):
            self.action_cursor_down()
            return
        entry = cursor.newer()
        if entry is not None:
            self._show_entry(entry, recalled=cursor.active)

    def _show_entry(self, text: str, *, recalled: bool = True) -> None:
        self.replace(text, (0, 0), self.document.end, maintain_selection_offset=False)
        self.move_cursor(self.document.end)
        self._recalled = (self.text, self.cursor_location) if recalled else None

    def action_history_search(self) -> None:
        """ctrl+r: search the history as you type; again for the next match."""
        if self._history is None:
            return
        if self._search is not None:
            self._popup_move(+1)
            return
        self._close_popup()
        self._search = HistorySearch(self._history, self._ensure_popup(),
                                     limit=self.SEARCH_LIMIT)
        self._search.set_query("")

    # -- help -------------------------------------------------------------------------------

    def action_inspect(self) -> None:
        """shift+tab / f2: ask the kernel about the name under the cursor."""
        if self.popup_open:
            self._popup_move(-1)
            return
        if self._assist is None:
            self.post_message(self.InspectRequested(None, self, "no kernel"))
            return
        code, cursor = code_and_cursor(self)
        self.run_worker(self._ask_inspect(self._assist, code, cursor), name="code-inspect",
                        group="code-inspect", exclusive=True, exit_on_error=False)

    async def _ask_inspect(self, assist: CodeAssist, code: str, cursor: int) -> None:
        ok, answer = await ask_within(assist.inspect(code, cursor), self.assist_timeout)
        if not ok:
            self.post_message(self.InspectRequested(None, self, "the kernel did not answer"))
        else:
            self.post_message(self.InspectRequested(answer or None, self))

    # -- popup ------------------------------------------------------------------------------

    def action_dismiss(self) -> None:
        """Escape: close the completion menu or cancel the search."""
        self._close_popup()

    def _ensure_popup(self) -> AssistPopup:
        if self._popup is None:
            self._popup = AssistPopup(self, on_choose=self._accept_popup,
                                      max_rows=self.MAX_POPUP_ROWS)
        return self._popup

    def _popup_move(self, step: int) -> None:
        if self._popup is not None:
            self._popup.move(step)

    def _accept_popup(self, index: int | None = None) -> None:
        popup = self._popup
        if index is None and popup is not None:
            index = popup.highlighted
        completion, search = self._completion, self._search
        self._close_popup()
        if index is None:
            return
        if completion is not None:
            completion.accept(self, index)
        elif search is not None and index < len(search.shown):
            if self._history_cursor is not None:
                self._history_cursor.reset()
            self._show_entry(search.shown[index], recalled=False)

    def _close_popup(self) -> None:
        self._completion = None
        self._search = None
        if self._popup is not None:
            self._popup.hide()


#: key -> action of CodeInput's own bindings, dispatched in order by ``CodeInput.on_key``.
_KEY_ACTIONS: dict[str, str] = {
    key.strip(): binding.action
    for binding in CodeInput.BINDINGS
    if isinstance(binding, Binding)
    for key in binding.key.split(",")
}
