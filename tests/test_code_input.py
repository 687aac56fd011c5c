"""The console's input editor, driven with real key presses at 80x24 and a fake kernel."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import Footer, Static

from rtui.core import locations
from rtui.core.console.history import History
from rtui.tui.render.text_area import text_area_theme
from rtui.tui.widgets.assist_popup import AssistPopup
from rtui.tui.widgets.code_input import CodeInput

SIZE = (80, 24)


class FakeAssist:
    """Canned kernel answers, each after an artificial delay."""

    def __init__(self, delay: float = 0.01) -> None:
        self.delay = delay
        self.completions: dict[str, list[str]] = {}
        self.docs: dict[str, str] = {}
        self.calls: list[str] = []
        self.fail = False

    async def is_complete(self, code: str) -> tuple[str, str]:
        self.calls.append("is_complete")
        await asyncio.sleep(self.delay)
        if self.fail:
            raise TimeoutError("kernel busy")
        last = code.split("\n")[-1]
        if "\n" in code and not last.strip():
            return "complete", ""
        if code.rstrip().endswith(":") or "\n" in code:
            return "incomplete", "    "
        return "complete", ""

    async def complete(self, code: str, cursor_pos: int) -> tuple[list[str], int, int]:
        self.calls.append("complete")
        await asyncio.sleep(self.delay)
        head = code[:cursor_pos]
        word = head.split()[-1] if head.split() else ""
        word = word.rpartition(".")[2]
        matches = [m for m in self.completions.get(word, []) if m.startswith(word)]
        return matches, cursor_pos - len(word), cursor_pos

    async def inspect(self, code: str, cursor_pos: int) -> str | None:
        self.calls.append("inspect")
        await asyncio.sleep(self.delay)
        head = code[:cursor_pos]
        word = head.split()[-1] if head.split() else ""
        return self.docs.get(word.rstrip("("))


class ConsoleApp(App[None]):
    """A tiny host: an output log above the input, a footer below."""

    CSS = "#log { height: 1fr; } CodeInput { dock: bottom; }"

    def __init__(self, assist: FakeAssist | None = None, history: History | None = None) -> None:
        super().__init__()
        self.assist = assist
        self.history_ = history
        self.submitted: list[str] = []
        self.inspected: list[CodeInput.InspectRequested] = []

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="log"):
            yield Static("output")
        yield CodeInput(id="code", assist=self.assist, history=self.history_)
        yield Footer()

    def on_mount(self) -> None:
        code = self.query_one(CodeInput)
        code.cursor_blink = False
        code.focus()

    def on_code_input_submitted(self, event: CodeInput.Submitted) -> None:
        self.submitted.append(event.code)

    def on_code_input_inspect_requested(self, event: CodeInput.InspectRequested) -> None:
        self.inspected.append(event)


@pytest.fixture
def history_path() -> Path:
    return locations.state_dir() / "history" / "localhost.jsonl"


def editor(pilot: Pilot[None]) -> CodeInput:
    return pilot.app.query_one(CodeInput)


async def settle(pilot: Pilot[None]) -> None:
    """Let the assist workers finish and their effects repaint."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def type_text(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*["space" if ch == " " else ch for ch in text])


async def test_enter_runs_a_complete_line() -> None:
    app = ConsoleApp(FakeAssist())
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "1+1")
        await pilot.press("enter")
        await settle(pilot)
        assert app.submitted == ["1+1"]
        assert editor(pilot).text == ""


async def test_block_continues_with_indent_then_runs_on_blank_line() -> None:
    app = ConsoleApp(FakeAssist())
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        await type_text(pilot, "for i in x:")
        await pilot.press("enter")
        await settle(pilot)
        assert app.submitted == []
        assert code.text == "for i in x:\n    "
        assert code.cursor_location == (1, 4)
        await type_text(pilot, "print(i)")
        await pilot.press("enter")
        await settle(pilot)
        assert code.text == "for i in x:\n    print(i)\n    "
        assert app.submitted == []
        await pilot.press("enter")
        await settle(pilot)
        assert app.submitted == ["for i in x:\n    print(i)\n    "]
        assert code.text == ""


async def test_editor_grows_with_its_content_up_to_a_maximum() -> None:
    app = ConsoleApp(FakeAssist())
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        border = code.styles.gutter.height
        assert code.size.height + border == 1 + border
        code.text = "a\nb\nc"
        await pilot.pause()
        assert code.outer_size.height == 3 + border
        code.text = "\n".join(str(i) for i in range(30))
        await pilot.pause()
        assert code.outer_size.height == 10 + border


async def test_enter_inside_the_text_inserts_a_newline() -> None:
    app = ConsoleApp(FakeAssist())
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        await type_text(pilot, "a = 1")
        await pilot.press("home", "enter")
        await settle(pilot)
        assert app.submitted == []
        assert code.text == "\na = 1"


async def test_force_run_with_ctrl_j_and_alt_enter() -> None:
    assist = FakeAssist()
    app = ConsoleApp(assist)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "for i in x:")
        await pilot.press("ctrl+j")
        await settle(pilot)
        await type_text(pilot, "if y:")
        await pilot.press("alt+enter")
        await settle(pilot)
        assert app.submitted == ["for i in x:", "if y:"]
        assert "is_complete" not in assist.calls


async def test_without_kernel_answer_enter_falls_back_to_a_guess() -> None:
    assist = FakeAssist()
    assist.fail = True
    app = ConsoleApp(assist)
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        await type_text(pilot, "f(1,")
        await pilot.press("enter")
        await settle(pilot)
        assert app.submitted == []
        assert code.text == "f(1,\n"
        await type_text(pilot, "2)")
        await pilot.press("enter")
        await settle(pilot)
        assert app.submitted == ["f(1,\n2)"]


async def test_slow_kernel_times_out_and_the_guess_is_used() -> None:
    app = ConsoleApp(FakeAssist(delay=5))
    async with app.run_test(size=SIZE) as pilot:
        editor(pilot).assist_timeout = 0.2
        await type_text(pilot, "x = 1")
        await pilot.press("enter")
        await settle(pilot)
        assert app.submitted == ["x = 1"]


async def test_up_and_down_walk_the_history_and_restore_the_draft(
        history_path: Path) -> None:
    app = ConsoleApp(FakeAssist(), History(history_path))
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        for line in ("a = 1", "b = 2", "for i in x:\n    print(i)\n"):
            code.text = line
            code.move_cursor(code.document.end)
            await pilot.press("ctrl+j")
        await settle(pilot)
        await type_text(pilot, "dra")
        await pilot.press("home")  # cursor at column 0: no prefix filter
        await pilot.press("up")
        assert code.text == "for i in x:\n    print(i)"
        await pilot.press("up")  # still on the recalled entry: keeps walking back
        assert code.text == "b = 2"
        await pilot.press("up")
        assert code.text == "a = 1"
        await pilot.press("up")
        assert code.text == "a = 1"
        await pilot.press("down", "down")
        assert code.text == "for i in x:\n    print(i)"
        await pilot.press("down")
        assert code.text == "dra"
        await pilot.press("up")  # the cursor is after "dra" now: only entries starting so
        assert code.text == "dra"
        # Enter on a recalled entry runs it.
        await pilot.press("home", "up", "up", "enter")
        await settle(pilot)
        assert app.submitted[-1] == "b = 2"


async def test_up_moves_the_cursor_inside_a_multi_line_cell(history_path: Path) -> None:
    history = History(history_path)
    history.add("old")
    app = ConsoleApp(FakeAssist(), history)
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        code.text = "x = 1\ny = 2"
        code.move_cursor((1, 3))
        await pilot.press("up")
        assert code.cursor_location == (0, 3)
        assert code.text == "x = 1\ny = 2"
        await pilot.press("up")  # now on the first line: history
        assert code.text == "old"


async def test_up_is_filtered_by_the_prefix_before_the_cursor(history_path: Path) -> None:
    history = History(history_path)
    for line in ("import os", "x = 1", "import sys", "y = 2"):
        history.add(line)
    app = ConsoleApp(FakeAssist(), history)
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        await type_text(pilot, "imp")
        await pilot.press("up")
        assert code.text == "import sys"
        await pilot.press("up")
        assert code.text == "import os"
        await pilot.press("up")
        assert code.text == "import os"
        await pilot.press("down", "down")
        assert code.text == "imp"


async def test_history_survives_a_restart(history_path: Path) -> None:
    app = ConsoleApp(FakeAssist(), History(history_path))
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "answer = 42")
        await pilot.press("enter")
        await settle(pilot)
    app = ConsoleApp(FakeAssist(), History(history_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("up")
        assert editor(pilot).text == "answer = 42"


async def test_tab_with_one_match_inserts_it() -> None:
    assist = FakeAssist()
    assist.completions["pri"] = ["print"]
    app = ConsoleApp(assist)
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        await type_text(pilot, "pri")
        await pilot.press("tab")
        await settle(pilot)
        assert code.text == "print"
        assert code.cursor_location == (0, 5)
        assert not code.popup_open


async def test_tab_with_several_matches_shows_a_popup_and_enter_accepts() -> None:
    assist = FakeAssist()
    assist.completions["s"] = ["sum", "sorted", "setattr", "str"]
    app = ConsoleApp(assist)
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        await type_text(pilot, "x = s")
        await pilot.press("tab")
        await settle(pilot)
        assert code.popup_open
        assert code.popup_items == ["sum", "sorted", "setattr", "str"]
        popup = app.screen.query_one(AssistPopup)
        assert popup.display
        # The editor sits at the bottom: the list opens above the cursor, fully on screen.
        assert popup.region.bottom <= code.cursor_screen_offset.y
        assert popup.region.y >= 0
        await pilot.press("down", "tab")  # down and tab both move the highlight
        await pilot.press("enter")
        await pilot.pause()
        assert code.text == "x = setattr"
        assert not code.popup_open
        assert app.submitted == []
        assert not popup.display


async def test_typing_filters_the_popup_and_escape_closes_it() -> None:
    assist = FakeAssist()
    assist.completions["s"] = ["sum", "sorted", "setattr", "str"]
    app = ConsoleApp(assist)
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        await type_text(pilot, "s")
        await pilot.press("tab")
        await settle(pilot)
        await pilot.press("o")
        await pilot.pause()
        assert code.popup_items == ["sorted"]
        await pilot.press("escape")
        await pilot.pause()
        assert not code.popup_open
        assert code.text == "so"
        # Typing something nothing matches closes it too.
        await pilot.press("backspace", "tab")
        await settle(pilot)
        assert code.popup_open
        await pilot.press("left_parenthesis")
        await pilot.pause()
        assert not code.popup_open
        assert code.text == "s("


async def test_common_prefix_is_inserted_before_the_popup() -> None:
    assist = FakeAssist()
    assist.completions["na"] = ["name_one", "name_two"]
    app = ConsoleApp(assist)
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        await type_text(pilot, "na")
        await pilot.press("tab")
        await settle(pilot)
        assert code.text == "name_"
        assert code.popup_items == ["name_one", "name_two"]
        await pilot.press("t", "enter")
        await pilot.pause()
        assert code.text == "name_two"


async def test_tab_at_line_start_indents() -> None:
    assist = FakeAssist()
    app = ConsoleApp(assist)
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        await pilot.press("tab")
        assert code.text == "    "
        await pilot.press("space", "space", "tab")
        assert code.text == "        "
        assert "complete" not in assist.calls


async def test_shift_tab_and_f2_ask_for_help() -> None:
    assist = FakeAssist()
    assist.docs["len"] = "Return the number of items in a container."
    app = ConsoleApp(assist)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "len(")
        await pilot.press("shift+tab")
        await settle(pilot)
        assert [e.text for e in app.inspected] == ["Return the number of items in a container."]
        await type_text(pilot, "zzz")
        await pilot.press("f2")
        await settle(pilot)
        assert app.inspected[-1].text is None
        assert app.inspected[-1].error is None
        assert editor(pilot).text == "len(zzz"


async def test_ctrl_r_finds_an_old_entry(history_path: Path) -> None:
    history = History(history_path)
    for line in ("df = load('data.csv')", "df.head()", "model.fit(df)", "x = 1"):
        history.add(line)
    app = ConsoleApp(FakeAssist(), history)
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        await pilot.press("ctrl+r")
        assert code.popup_open
        assert code.popup_items[0] == "x = 1"
        await type_text(pilot, "df")
        assert code.search_query == "df"
        assert code.text == ""  # the query goes to the search, not the editor
        assert code.popup_items == ["model.fit(df)", "df.head()", "df = load('data.csv')"]
        await pilot.press("backspace", "f", "ctrl+r")  # ctrl+r again: next match
        await pilot.press("enter")
        await pilot.pause()
        assert code.text == "df.head()"
        assert not code.popup_open
        assert app.submitted == []
        await pilot.press("ctrl+r")
        app.post_message(events.Paste("fit\nignored"))  # a paste goes to the query too
        await pilot.pause()
        assert code.search_query == "fit"
        assert code.popup_items == ["model.fit(df)"]
        await pilot.press("z", "z", "z")
        assert code.popup_items == []
        await pilot.press("escape")
        assert not code.popup_open
        assert code.text == "df.head()"


async def test_slow_completion_does_not_freeze_typing() -> None:
    assist = FakeAssist(delay=0.5)
    assist.completions["pri"] = ["print", "private"]
    app = ConsoleApp(assist)
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        await type_text(pilot, "pri")
        await pilot.press("tab")
        await type_text(pilot, "nt(1)")  # typed while the kernel is thinking
        assert code.text == "print(1)"
        await settle(pilot)
        # The late answer was for "pri": it is dropped rather than applied to "print(1)".
        assert code.text == "print(1)"
        assert not code.popup_open


async def test_stale_enter_answer_is_dropped() -> None:
    app = ConsoleApp(FakeAssist(delay=0.3))
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        await type_text(pilot, "x?")  # not plain Python: only the kernel can judge it
        await pilot.press("enter")
        await type_text(pilot, "yz")
        await settle(pilot)
        assert app.submitted == []
        assert code.text == "x?yz"


async def test_complete_python_line_runs_without_asking_the_kernel() -> None:
    assist = FakeAssist(delay=0.3)
    app = ConsoleApp(assist)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "1+1")
        await pilot.press("enter")
        assert app.submitted == ["1+1"]
        assert "is_complete" not in assist.calls
        await type_text(pilot, "%time 1+1")  # IPython syntax: the kernel decides
        await pilot.press("enter")
        await settle(pilot)
        assert "is_complete" in assist.calls


async def test_bindings_have_ids_and_descriptions() -> None:
    ids = set()
    for binding in CodeInput.BINDINGS:
        assert not isinstance(binding, tuple)
        assert binding.id and binding.id.startswith("code.")
        assert binding.description
        ids.add(binding.id)
        keys = binding.key.split(",")
        assert not {"ctrl+s", "ctrl+q", "ctrl+b"} & set(keys)
    assert {"code.run", "code.force_run", "code.complete", "code.inspect",
            "code.history_search", "code.history_prev", "code.history_next"} <= ids


async def test_keys_in_one_burst_keep_their_order() -> None:
    """A terminal delivers "2+2<Enter>" in one read: Enter must see the typed text.

    The pilot waits between presses, so the keys are posted here all at once, as the
    driver does with a burst from the terminal.
    """
    app = ConsoleApp(FakeAssist())
    async with app.run_test(size=SIZE) as pilot:
        for key, char in [("2", "2"), ("plus", "+"), ("2", "2"), ("enter", "\r")]:
            app.post_message(events.Key(key, char))
        for _ in range(50):
            await pilot.pause(0.02)
            if app.submitted:
                break
        assert app.submitted == ["2+2"]


async def test_a_paste_is_inserted_once() -> None:
    """Textual's TextArea inserts a paste after the editor's own handler has looked at it
    (the editor once called it itself as well, and every paste came out twice)."""
    app = ConsoleApp(FakeAssist())
    async with app.run_test(size=SIZE) as pilot:
        app.post_message(events.Paste("abc"))
        await settle(pilot)
        assert editor(pilot).text == "abc"
        await type_text(pilot, "de")
        assert editor(pilot).text == "abcde"


async def test_editor_theme_follows_the_app_theme_and_styles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The editor styles its theme once, not on every keystroke, and again on any change."""
    from textual.widgets.text_area import TextAreaTheme

    calls = 0
    original = TextAreaTheme.apply_css

    def counted(theme: TextAreaTheme, text_area: CodeInput) -> None:
        nonlocal calls
        calls += 1
        original(theme, text_area)

    monkeypatch.setattr(TextAreaTheme, "apply_css", counted)
    app = ConsoleApp(FakeAssist())
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert text_area_theme(code) is not None
        dark = text_area_theme(code).base_style
        before = calls
        for key in "yz":
            await pilot.press(key)
            await settle(pilot)
        assert code.text == "xyz" and calls == before  # repainted, not restyled
        app.theme = "textual-light"
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert calls > before and text_area_theme(code).base_style != dark
        before = calls
        code.styles.background = "red"  # an inline style: a style update of the editor
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        assert calls > before and text_area_theme(code).base_style.bgcolor is not None
        assert text_area_theme(code).base_style.bgcolor.triplet == (255, 0, 0)


async def test_editor_paints_what_textarea_paints() -> None:
    """The theme cache skips only TextArea's restyling: same rows as TextArea's own paint
    (a Textual release that does more there fails here)."""
    from textual.geometry import Region
    from textual.widgets import TextArea

    app = ConsoleApp(FakeAssist())
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "for i in range(3): print(i)")
        await settle(pilot)
        code = editor(pilot)
        crop = Region(0, 0, code.outer_size.width, code.outer_size.height)
        ours = code.render_lines(crop)
        upstream = TextArea.render_lines(code, crop)
        assert [list(s) for s in ours] == [list(s) for s in upstream]
        assert any("print" in s.text for s in ours)


async def test_a_completion_answer_after_ctrl_r_leaves_the_search_open(
        history_path: Path) -> None:
    """Tab asked the kernel, then ctrl+r opened a search: the late matches are dropped
    (they once took the popup over, and Enter then inserted a match, not the entry)."""
    history = History(history_path)
    history.add("size = 3")
    assist = FakeAssist(delay=0.3)
    assist.completions["s"] = ["sum", "sorted"]
    app = ConsoleApp(assist, history)
    async with app.run_test(size=SIZE) as pilot:
        code = editor(pilot)
        await type_text(pilot, "s")
        await pilot.press("tab", "ctrl+r")
        await settle(pilot)
        assert "complete" in assist.calls
        assert code.search_query == ""
        assert code.popup_items == ["size = 3"]
        await pilot.press("enter")
        await pilot.pause()
        assert code.text == "size = 3"
        assert not code.popup_open
