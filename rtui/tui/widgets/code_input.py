"""The live console's input editor: multi-line Python with history, completion and help."""

from __future__ import annotations

import asyncio
import codeop
import contextlib
import io
import tokenize
import warnings
from collections.abc import Awaitable
from dataclasses import dataclass, field
from enum import Enum
from importlib.util import find_spec
from typing import ClassVar, Protocol, TypeVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Offset, Region
from textual.message import Message
from textual.strip import Strip
from textual.widgets import OptionList, TextArea
from textual.widgets.option_list import Option
from textual.widgets.text_area import LanguageDoesNotExist, Location, TextAreaTheme

from rtui.core.console.history import History, HistoryCursor
from rtui.tui.render.text_area import render_lines_unthemed, text_area_theme

__all__ = [
    "CodeAssist",
    "CodeInput",
    "looks_complete",
    "syntax_highlighting_available",
]

_T = TypeVar("_T")


class CodeAssist(Protocol):
    """What the editor needs from a kernel (``is_complete``/``complete``/``inspect`` requests)."""

    async def is_complete(self, code: str) -> tuple[str, str]:
        """``(status, indent)``: status is complete, incomplete, invalid or unknown."""
        ...

    async def complete(self, code: str, cursor_pos: int) -> tuple[list[str], int, int]:
        """``(matches, cursor_start, cursor_end)``, offsets into ``code``."""
        ...

    async def inspect(self, code: str, cursor_pos: int) -> str | None:
        """Help for the name at ``cursor_pos`` (plain or ANSI text), None if not found."""
        ...


def syntax_highlighting_available() -> bool:
    """True when tree-sitter and its Python grammar (``textual[syntax]``) are installed."""
    return find_spec("tree_sitter") is not None and find_spec("tree_sitter_python") is not None


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
            if token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
                                  tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                last = token
    except tokenize.TokenError:
        return False  # EOF inside a bracket or a triple-quoted string
    except (SyntaxError, ValueError):
        return True  # let the kernel report it
    return not (last is not None and last.type == tokenize.OP and last.string == ":")


def _common_prefix(words: list[str]) -> str:
    if not words:
        return ""
    first, last = min(words), max(words)
    size = 0
    while size < len(first) and size < len(last) and first[size] == last[size]:
        size += 1
    return first[:size]


class _Mode(Enum):
    NONE = "none"
    COMPLETE = "complete"
    SEARCH = "search"


@dataclass
class _Completion:
    """An open completion menu: what it replaces and what it offers."""

    matches: list[str]
    start: int  # offset where the replaced text begins
    end_extra: int  # how far the replaced text reached past the cursor
    head: str  # the text before ``start`` when the menu opened
    typed: str  # the text between ``start`` and the cursor when the menu opened
    shown: list[str] = field(default_factory=list)


@dataclass
class _Search:
    """An open reverse history search."""

    query: str = ""
    shown: list[str] = field(default_factory=list)


class _AssistPopup(OptionList, can_focus=False):
    """The completion / history-search list; the editor keeps the focus and drives it."""

    DEFAULT_CSS = """
    _AssistPopup {
        overlay: screen;
        constrain: inside inside;
        display: none;
        width: auto;
        min-width: 16;
        max-width: 64;
        height: auto;
        max-height: 10;
        border: round $border;
        background: $panel;
        padding: 0;
        & > .option-list--option { padding: 0 1; }
        &.-search { min-width: 40; }
    }
    """

    def __init__(self, owner: CodeInput) -> None:
        super().__init__(markup=False, id=f"{owner.id}-popup" if owner.id else None)
        self.owner = owner

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.owner._accept_popup(event.option_index)


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
        self._popup: _AssistPopup | None = None
        self._mode = _Mode.NONE
        self._completion: _Completion | None = None
        self._search: _Search | None = None
        self._serial = 0  # bumped by every assist request, so late answers can be recognised
        self._styled_theme: TextAreaTheme | None = None  # the theme styled last
        self._theme_css: tuple[str, Style] | None = None  # ...and what for
        if history is not None:
            self.set_history(history)

    # -- public API -------------------------------------------------------------------------

    def set_history(self, history: History) -> None:
        """Use ``history`` for up/down, ctrl+r and for recording submitted cells."""
        self._history = history
        self._history_cursor = history.cursor()
        self._recalled = None

    @property
    def popup_open(self) -> bool:
        """True while the completion menu or the history search is showing."""
        return self._mode is not _Mode.NONE

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
        """Run the current text as it is."""
        code = self.text
        if not code.strip():
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

    def _code_and_cursor(self) -> tuple[str, int]:
        lines = self.document.lines
        row, column = self.cursor_location
        offset = sum(len(line) + 1 for line in lines[:row]) + column
        return "\n".join(lines), offset

    def _location(self, offset: int) -> Location:
        for row, line in enumerate(self.document.lines):
            if offset <= len(line):
                return (row, max(offset, 0))
            offset -= len(line) + 1
        return self.document.end

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
            if event.is_printable and event.character is not None:
                self._set_search_query(self._search.query + event.character)
                event.stop()
                event.prevent_default()
                return
            if event.key == "backspace":
                self._set_search_query(self._search.query[:-1])
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
            self._set_search_query(self._search.query + event.text.partition("\n")[0])

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
        if self._mode is not _Mode.NONE:
            self._accept_popup()
            return
        code, cursor = self._code_and_cursor()
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
        if "\n" not in code and _complete_python_line(code):
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
        _ok, answer = await self._ask(assist.is_complete(code))
        if serial != self._serial or self._code_and_cursor() != (code, cursor):
            return  # the user kept typing: this Enter is stale
        self._enter_decided(code, answer)

    def _enter_decided(self, code: str, answer: tuple[str, str] | None) -> None:
        status = answer[0] if answer is not None else "unknown"
        if status == "unknown":
            status = "complete" if looks_complete(code) else "incomplete"
            indent = self._guess_indent(code)
        else:
            indent = answer[1] if answer is not None and isinstance(answer[1], str) else ""
        if status in ("complete", "invalid"):
            self.submit()
        else:
            self._newline(indent)

    def _newline(self, indent: str) -> None:
        start, end = self.selection
        self.replace("\n" + indent, start, end, maintain_selection_offset=False)

    def _line_indent(self, row: int) -> str:
        line = self.document[row]
        return line[: len(line) - len(line.lstrip())]

    def _guess_indent(self, code: str) -> str:
        last = code.rstrip("\n").split("\n")[-1]
        indent = last[: len(last) - len(last.lstrip())]
        return indent + "    " if last.rstrip().endswith(":") else indent

    async def _ask(self, call: Awaitable[_T]) -> tuple[bool, _T | None]:
        """Await a kernel answer: ``(False, None)`` on timeout or any failure."""
        try:
            return True, await asyncio.wait_for(call, self.assist_timeout)
        except asyncio.CancelledError:
            raise
        except Exception:  # whatever the kernel link raised (busy, dead), the editor goes on
            return False, None

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
        if not before.strip() or self._assist is None:
            self._indent()
            return
        code, cursor = self._code_and_cursor()
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
        _ok, answer = await self._ask(assist.complete(code, cursor))
        if answer is None or serial != self._serial or self._code_and_cursor() != (code, cursor):
            return  # failed, or stale: the text moved on while the kernel thought
        matches, start, end = answer
        matches = list(dict.fromkeys(m for m in matches if isinstance(m, str)))
        start = max(0, min(start, cursor))
        end = max(cursor, min(end, len(code)))
        if not matches:
            return
        if len(matches) == 1:
            self._replace_offsets(start, end, matches[0])
            return
        typed = code[start:cursor]
        prefix = _common_prefix(matches)
        if len(prefix) > len(typed) and prefix.startswith(typed):
            self._replace_offsets(start, end, prefix)
            end = start + len(prefix)
            code, cursor = self._code_and_cursor()
        self._completion = _Completion(matches, start, end - cursor, code[:start],
                                       code[start:cursor])
        self._mode = _Mode.COMPLETE
        self._refilter_completion()

    def _replace_offsets(self, start: int, end: int, text: str) -> None:
        self.replace(text, self._location(start), self._location(end),
                     maintain_selection_offset=False)

    def _refilter_completion(self) -> None:
        completion = self._completion
        if completion is None:
            return
        code, cursor = self._code_and_cursor()
        if cursor < completion.start or not code.startswith(completion.head):
            self._close_popup()
            return
        typed = code[completion.start:cursor]
        if typed == completion.typed:
            shown = completion.matches  # as the kernel sent them, fuzzy matches included
        else:
            shown = [m for m in completion.matches if m.startswith(typed)]
        if not shown:
            self._close_popup()
            return
        if shown != completion.shown:
            completion.shown = shown
            self._show_popup(shown, anchor=cursor - completion.start, title=None)

    # -- history ----------------------------------------------------------------------------

    def _on_recalled(self) -> bool:
        return self._recalled is not None and self._recalled == (self.text, self.cursor_location)

    def action_history_prev(self) -> None:
        """Up: previous history entry on the first line, else move the cursor up."""
        if self._mode is not _Mode.NONE:
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
        if self._mode is not _Mode.NONE:
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
        self._search = _Search()
        self._mode = _Mode.SEARCH
        self._set_search_query("")

    def _set_search_query(self, query: str) -> None:
        search = self._search
        if search is None or self._history is None:
            return
        search.query = query
        search.shown = self._history.search(query)[: self.SEARCH_LIMIT]
        self._show_popup(search.shown, anchor=None, title=f"search: {query}▏",
                         empty="no match")

    # -- help -------------------------------------------------------------------------------

    def action_inspect(self) -> None:
        """shift+tab / f2: ask the kernel about the name under the cursor."""
        if self._mode is not _Mode.NONE:
            self._popup_move(-1)
            return
        if self._assist is None:
            self.post_message(self.InspectRequested(None, self, "no kernel"))
            return
        code, cursor = self._code_and_cursor()
        self.run_worker(self._ask_inspect(self._assist, code, cursor), name="code-inspect",
                        group="code-inspect", exclusive=True, exit_on_error=False)

    async def _ask_inspect(self, assist: CodeAssist, code: str, cursor: int) -> None:
        ok, answer = await self._ask(assist.inspect(code, cursor))
        if not ok:
            self.post_message(self.InspectRequested(None, self, "the kernel did not answer"))
        else:
            self.post_message(self.InspectRequested(answer or None, self))

    # -- popup ------------------------------------------------------------------------------

    def action_dismiss(self) -> None:
        """Escape: close the completion menu or cancel the search."""
        self._close_popup()

    def _ensure_popup(self) -> _AssistPopup:
        if self._popup is None:
            self._popup = _AssistPopup(self)
        if not self._popup.is_attached:
            self.screen.mount(self._popup)
        return self._popup

    def _show_popup(self, items: list[str], *, anchor: int | None, title: str | None,
                    empty: str | None = None) -> None:
        popup = self._ensure_popup()
        options: list[Option] = [Option(Text(self._label(item))) for item in items]
        if not options and empty is not None:
            options = [Option(Text(empty, style="italic"), disabled=True)]
        popup.set_options(options)
        popup.border_title = title
        popup.set_class(self._mode is _Mode.SEARCH, "-search")
        popup.highlighted = 0 if items else None
        rows = min(len(options), self.MAX_POPUP_ROWS) + popup.styles.gutter.height
        cursor_x, cursor_y = self.cursor_screen_offset
        x = cursor_x - anchor - 2 if anchor is not None else self.region.x
        screen_height = self.screen.size.height
        y = cursor_y + 1 if cursor_y + 1 + rows <= screen_height else cursor_y - rows
        popup.absolute_offset = Offset(max(0, x), max(0, y))
        popup.display = True
        popup.refresh(layout=True)

    def _label(self, item: str) -> str:
        first, newline, _rest = item.partition("\n")
        return first + (" …" if newline else "")

    def _popup_move(self, step: int) -> None:
        popup = self._popup
        if popup is None or not popup.option_count or popup.highlighted is None:
            return
        popup.highlighted = (popup.highlighted + step) % popup.option_count

    def _accept_popup(self, index: int | None = None) -> None:
        popup = self._popup
        if index is None and popup is not None:
            index = popup.highlighted
        completion, search = self._completion, self._search
        self._close_popup()
        if index is None:
            return
        if completion is not None and index < len(completion.shown):
            _code, cursor = self._code_and_cursor()
            self._replace_offsets(completion.start, cursor + completion.end_extra,
                                  completion.shown[index])
        elif search is not None and index < len(search.shown):
            if self._history_cursor is not None:
                self._history_cursor.reset()
            self._show_entry(search.shown[index], recalled=False)

    def _close_popup(self) -> None:
        self._mode = _Mode.NONE
        self._completion = None
        self._search = None
        if self._popup is not None and self._popup.display:
            self._popup.display = False


#: key -> action of CodeInput's own bindings, dispatched in order by ``CodeInput.on_key``.
_KEY_ACTIONS: dict[str, str] = {
    key.strip(): binding.action
    for binding in CodeInput.BINDINGS
    if isinstance(binding, Binding)
    for key in binding.key.split(",")
}


def _complete_python_line(code: str) -> bool:
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
