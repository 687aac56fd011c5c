"""ConsoleModel: kernel events in, styled lines out (no UI, no kernel: events built by hand)."""

from __future__ import annotations

import time

import pytest
from rich.console import Console
from rich.text import Text

from rtui.core.console.blocks import ImageBlock, RichBlock, UnknownBlock
from rtui.core.console.model import ConsoleModel
from rtui.core.kernels.events import (
    ClearOutput,
    DisplayData,
    Error,
    ExecuteInput,
    ExecuteReply,
    ExecuteResult,
    Status,
    Stream,
)


def out(text: str, parent: str | None = None) -> Stream:
    return Stream("stdout", text, parent)


def err(text: str, parent: str | None = None) -> Stream:
    return Stream("stderr", text, parent)


def plain(model: ConsoleModel) -> list[str]:
    return model.plain_lines()


def colours(line: Text, text: str) -> set[int | None]:
    """ANSI colour numbers applied to the characters of ``text`` within ``line``."""
    start = line.plain.index(text)
    found: set[int | None] = set()
    for offset in range(start, start + len(text)):
        style = line.get_style_at_offset(CONSOLE, offset)
        found.add(style.color.number if style.color else None)
    return found


CONSOLE = Console(color_system="truecolor", force_terminal=True)


# -- streams ---------------------------------------------------------------------------------


def test_partial_lines_continue_with_the_next_chunk_of_the_same_stream() -> None:
    m = ConsoleModel()
    for chunk in ("li", "ne 1\nline", " 2\nline 3", "\n"):
        m.apply(out(chunk))
    assert plain(m) == ["line 1", "line 2", "line 3"]


def test_open_line_is_visible_before_its_newline() -> None:
    m = ConsoleModel()
    m.apply(out("Downloading"))
    assert plain(m) == ["Downloading"]
    m.apply(out("..."))
    assert plain(m) == ["Downloading..."]


def test_empty_lines_and_lone_newlines() -> None:
    m = ConsoleModel()
    m.apply(out("a\n\n"))
    m.apply(out("\n"))
    m.apply(out("b\n"))
    assert plain(m) == ["a", "", "", "b"]


def test_stdout_and_stderr_keep_their_own_open_lines() -> None:
    m = ConsoleModel()
    m.apply(out("out-a"))
    m.apply(err("err-a"))
    m.apply(out("out-b\n"))
    m.apply(err("err-b\n"))
    assert plain(m) == ["out-aout-b", "err-aerr-b"]


def test_stderr_is_styled_distinctly() -> None:
    m = ConsoleModel()
    m.apply(out("to stdout\n"))
    m.apply(err("to stderr\n"))
    stdout_line, stderr_line = m.lines()
    assert not stdout_line.style and not stdout_line.spans
    assert stderr_line.style == m.styles.stderr
    assert stderr_line.style


def test_carriage_return_redraws_the_line_in_place() -> None:
    m = ConsoleModel()
    m.apply(err(" 10%|#         |\r"))
    m.apply(err(" 50%|#####     |\r"))
    assert plain(m) == [" 50%|#####     |"]
    m.apply(err("100%|##########|\n"))
    m.apply(out("done\n"))
    assert plain(m) == ["100%|##########|", "done"]


def test_carriage_return_overwrites_like_a_terminal() -> None:
    m = ConsoleModel()
    m.apply(out("abcdef\rXY"))
    assert plain(m) == ["XYcdef"]
    m.apply(out("Z\n"))
    assert plain(m) == ["XYZdef"]


def test_crlf_is_a_newline_even_split_across_chunks() -> None:
    m = ConsoleModel()
    m.apply(out("one\r\ntwo\r"))
    m.apply(out("\nthree\r\n"))
    assert plain(m) == ["one", "two", "three"]


def test_progress_bar_with_prints_in_between_stays_on_its_own_line() -> None:
    m = ConsoleModel()
    m.apply(err("step 1/3\r"))
    m.apply(out("log a\n"))
    m.apply(err("step 2/3\r"))
    m.apply(out("log b\n"))
    m.apply(err("step 3/3\n"))
    assert plain(m) == ["step 3/3", "log a", "log b"]


def test_ansi_colours_become_styles() -> None:
    m = ConsoleModel()
    m.apply(out("\x1b[31mred\x1b[0m and \x1b[1;32mgreen\x1b[0m\n"))
    (line,) = m.lines()
    assert line.plain == "red and green"
    assert colours(line, "red") == {1}
    assert colours(line, "green") == {2}
    assert colours(line, " and ") == {None}


def test_ansi_escape_split_across_chunks() -> None:
    m = ConsoleModel()
    m.apply(out("plain \x1b[3"))
    m.apply(out("4mblue\x1b"))
    m.apply(out("[0m after\n"))
    (line,) = m.lines()
    assert line.plain == "plain blue after"
    assert colours(line, "blue") == {4}
    assert colours(line, "after") == {None}


def test_ansi_state_carries_over_lines_and_chunks() -> None:
    m = ConsoleModel()
    m.apply(out("\x1b[33mfirst\nsecond"))
    m.apply(out(" still\n\x1b[0mplain\n"))
    first, second, third = m.lines()
    assert colours(first, "first") == {3}
    assert colours(second, "second still") == {3}
    assert colours(third, "plain") == {None}


def test_other_escape_sequences_are_dropped() -> None:
    m = ConsoleModel()
    m.apply(out("\x1b[2Kcleared\x1b[1A up\n"))
    assert plain(m) == ["cleared up"]


def test_tabs_are_expanded() -> None:
    m = ConsoleModel()
    m.apply(out("a\tb\n"))
    assert plain(m) == ["a       b"]


# -- cells -----------------------------------------------------------------------------------


def test_execute_input_prompt_and_continuation_lines() -> None:
    m = ConsoleModel()
    m.apply(ExecuteInput("for i in range(2):\n    print(i)\n", 12))
    first, second = m.lines()
    assert first.plain == "In [12]: for i in range(2):"
    assert second.plain == "    ...:     print(i)"
    assert colours(first, "In [12]:") == {2}  # green prompt
    assert colours(first, "for") == {None}  # code is not prompt-coloured
    m.apply(ExecuteInput("1+1", 13))
    assert plain(m)[-2:] == ["", "In [13]: 1+1"]  # a blank line between cells


def test_execute_result_one_line_follows_the_prompt() -> None:
    m = ConsoleModel()
    m.apply(ExecuteResult(3, {"text/plain": "2", "text/html": "<b>2</b>"}))
    assert plain(m) == ["Out[3]: 2"]  # a one-line value is not drawn as html below it


def test_execute_result_multi_line_starts_below_the_prompt() -> None:
    m = ConsoleModel()
    m.apply(ExecuteResult(4, {"text/plain": "array([[1, 2],\n       [3, 4]])"}))
    assert plain(m) == ["Out[4]:", "array([[1, 2],", "       [3, 4]])"]


def test_execute_result_with_crlf_and_carriage_returns() -> None:
    m = ConsoleModel()
    m.apply(ExecuteResult(5, {"text/plain": "a\r\nold\rnew\r\n"}))
    assert plain(m) == ["Out[5]:", "a", "new"]


def test_display_data_images_rich_text_and_unknown_types_become_blocks() -> None:
    m = ConsoleModel()
    m.apply(DisplayData({"text/plain": "<Figure size 640x480>", "image/png": "AAAA"}))
    m.apply(DisplayData({"image/png": "A" * 16384}))
    m.apply(DisplayData({"text/html": "<table></table>"}))
    m.apply(DisplayData({"application/x-foo": "x" * 15}))
    first, second, html, unknown = (m.block_at(i) for i in range(m.first_index, m.total))
    assert isinstance(first, ImageBlock) and first.plain == "<Figure size 640x480>"
    assert isinstance(second, ImageBlock) and second.plain == "<image 2: PNG, 12 KiB>"
    assert second.record.size_px is None  # not a PNG: named, not drawn
    assert isinstance(html, RichBlock) and html.kind == "html"
    assert isinstance(unknown, UnknownBlock) and unknown.plain == "<application/x-foo 15 B>"
    assert unknown.payload() == (b"x" * 15, ".foo")
    assert [r.seq for r in m.images.records()] == [2, 1]


def test_update_display_data_replaces_the_earlier_lines() -> None:
    m = ConsoleModel()
    m.apply(out("before\n"))
    m.apply(DisplayData({"text/plain": "progress 0"}, transient={"display_id": "p"}))
    m.apply(out("after\n"))
    m.apply(
        DisplayData({"text/plain": "progress 1\nof 2"}, transient={"display_id": "p"}, update=True)
    )
    assert plain(m) == ["before", "progress 1", "of 2", "after"]
    m.apply(DisplayData({"text/plain": "done"}, transient={"display_id": "p"}, update=True))
    assert plain(m) == ["before", "done", "after"]


def test_update_of_an_unknown_display_is_appended() -> None:
    m = ConsoleModel()
    m.apply(DisplayData({"text/plain": "new"}, transient={"display_id": "x"}, update=True))
    m.apply(DisplayData({"text/plain": "newer"}, transient={"display_id": "x"}, update=True))
    assert plain(m) == ["newer"]


def test_error_traceback_keeps_its_colours() -> None:
    m = ConsoleModel()
    tb = [
        "\x1b[0;31m---------------------------------------------------------------------\x1b[0m",
        "\x1b[0;31mZeroDivisionError\x1b[0m                 Traceback (most recent call last)",
        "Cell \x1b[0;32mIn[1], line 1\x1b[0m\n\x1b[0;32m----> 1\x1b[0m 1\x1b[38;5;241m/\x1b[0m0",
        "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero",
    ]
    m.apply(Error("ZeroDivisionError", "division by zero", tb))
    lines = m.lines()
    assert [t.plain for t in lines][-1] == "ZeroDivisionError: division by zero"
    assert len(lines) == 5  # the third entry holds two lines
    assert colours(lines[-1], "ZeroDivisionError") == {1}
    assert colours(lines[3], "/") == {241}


def test_error_without_traceback() -> None:
    m = ConsoleModel()
    m.apply(Error("KeyError", "'x'", []))
    assert plain(m) == ["KeyError: 'x'"]


def test_status_and_replies_show_nothing() -> None:
    m = ConsoleModel()
    m.apply(Status("busy"))
    m.apply(ExecuteReply("ok", 1))
    assert m.line_count == 0
    assert m.version == 0


def test_clear_output_clears_the_current_cell_only() -> None:
    m = ConsoleModel()
    m.apply(ExecuteInput("print('old')", 1, "cell-1"))
    m.apply(out("old\n", "cell-1"))
    m.apply(ExecuteInput("loop()", 2, "cell-2"))
    m.apply(out("1\n2\n", "cell-2"))
    m.apply(ClearOutput(False, "cell-2"))
    assert plain(m) == ["In [1]: print('old')", "old", "", "In [2]: loop()"]
    m.apply(out("3\n", "cell-2"))
    assert plain(m)[-1] == "3"


def test_clear_output_wait_defers_until_the_next_output() -> None:
    m = ConsoleModel()
    m.apply(ExecuteInput("loop()", 1, "c"))
    m.apply(out("step 0\n", "c"))
    m.apply(ClearOutput(True, "c"))
    assert plain(m) == ["In [1]: loop()", "step 0"]  # nothing cleared yet: no flicker
    m.apply(out("step 1\n", "c"))
    assert plain(m) == ["In [1]: loop()", "step 1"]
    m.apply(ClearOutput(True, "c"))
    m.apply(DisplayData({"text/plain": "figure 2"}, parent_id="c"))
    assert plain(m) == ["In [1]: loop()", "figure 2"]


def test_clear_output_wait_is_dropped_by_the_next_cell() -> None:
    m = ConsoleModel()
    m.apply(ExecuteInput("a()", 1, "a"))
    m.apply(out("kept\n", "a"))
    m.apply(ClearOutput(True, "a"))
    m.apply(ExecuteInput("b()", 2, "b"))
    m.apply(out("b out\n", "b"))
    assert "kept" in plain(m)


def test_clear_output_also_closes_the_open_line() -> None:
    m = ConsoleModel()
    m.apply(ExecuteInput("x", 1, "c"))
    m.apply(out("partial", "c"))
    m.apply(ClearOutput(False, "c"))
    m.apply(out("fresh\n", "c"))
    assert plain(m) == ["In [1]: x", "fresh"]


def test_add_info_and_clear() -> None:
    m = ConsoleModel()
    m.apply(out("half"))
    m.add_info("kernel restarted", "bold yellow")
    m.apply(out(" more\n"))
    assert plain(m) == ["half", "kernel restarted", " more"]
    assert m.lines()[1].style == "bold yellow"
    total = m.total
    m.clear()
    assert m.line_count == 0 and m.first_index == total == m.total


# -- bounds, indices, versions ---------------------------------------------------------------


def test_bounded_size_drops_from_the_top_with_absolute_indices() -> None:
    m = ConsoleModel(max_lines=10)
    m.apply(out("".join(f"{i}\n" for i in range(25))))
    assert m.line_count == 10
    assert m.first_index == 15 and m.total == 25
    assert plain(m) == [str(i) for i in range(15, 25)]
    assert m.plain_lines(20, 22) == ["20", "21"]
    assert m.plain_lines(0, 16) == ["15"]  # clamped to what is kept
    for i in range(25, 5025):  # many small appends: compaction keeps indices right
        m.apply(out(f"{i}\n"))
    assert m.first_index == 5015
    assert plain(m) == [str(i) for i in range(5015, 5025)]


def test_open_line_dropped_from_the_top_starts_a_new_line() -> None:
    m = ConsoleModel(max_lines=2)
    m.apply(err("progress"))
    m.apply(out("a\nb\n"))
    m.apply(err(" more\n"))
    assert plain(m) == ["b", " more"]


def test_version_and_changes_since() -> None:
    m = ConsoleModel()
    v0 = m.version
    m.apply(out("a\nb"))
    v1 = m.version
    assert v1 > v0
    m.apply(out("c"))  # continues the open line 1 in place
    ch = m.changes_since(v1)
    assert ch.modified == {1} and ch.restructured_from is None
    assert (ch.first_index, ch.total) == (0, 2)
    m.apply(ExecuteInput("x", 1, "p"))
    m.apply(out("1\n2\n", "p"))
    v2 = m.version
    m.apply(ClearOutput(False, "p"))
    ch = m.changes_since(v2)
    assert ch.restructured_from == 4 and ch.total == 4
    assert m.changes_since(m.version).modified == frozenset()


def test_a_reader_far_behind_is_told_to_redo_everything() -> None:
    m = ConsoleModel()
    m.apply(out("x"))
    for _ in range(3000):
        m.apply(out("y"))  # an in-place edit each time
    assert m.changes_since(0).restructured_from == m.first_index


# -- volume ----------------------------------------------------------------------------------


def _flood_chunks(lines: int, chunk_bytes: int = 150_000) -> list[str]:
    text = "".join(f"line {i}\n" for i in range(lines))
    return [text[i : i + chunk_bytes] for i in range(0, len(text), chunk_bytes)]


def test_big_chunk_is_linear_in_its_size() -> None:
    """One 150 KB chunk appended to a full buffer costs about what it costs to an empty one."""
    chunk = "".join(f"{i:>10} some output\n" for i in range(6000))[:150_000]

    def cost(model: ConsoleModel) -> float:
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            model.apply(out(chunk))
            best = min(best, time.perf_counter() - started)
        return best

    empty_cost = cost(ConsoleModel(max_lines=1_000_000))
    full = ConsoleModel(max_lines=1_000_000)
    full.apply(out("".join(f"{i}\n" for i in range(300_000))))
    full_cost = cost(full)
    print(
        f"\n150 KB chunk: {empty_cost * 1e3:.2f} ms empty, {full_cost * 1e3:.2f} ms at 300k lines"
    )
    assert full_cost < max(5 * empty_cost, 0.02)


@pytest.mark.parametrize(
    "name,chunks",
    [
        ("15 chunks of 150 KB", _flood_chunks(200_000)),
        ("200,000 one-line messages", [f"line {i}\n" for i in range(200_000)]),
        ("ANSI, 15 chunks", [f"\x1b[32m{c}\x1b[0m" for c in _flood_chunks(200_000)]),
    ],
)
def test_perf_200k_lines(name: str, chunks: list[str]) -> None:
    m = ConsoleModel()
    started = time.perf_counter()
    for chunk in chunks:
        m.apply(out(chunk))
    elapsed = time.perf_counter() - started
    print(f"\n200,000 lines ({name}) through apply: {elapsed:.3f} s")
    assert m.line_count == 100_000 and m.total == 200_000
    assert m.plain_lines(m.total - 1) == ["line 199999"]
    if not name.startswith("ANSI"):  # coloured floods cost about a microsecond per span more
        assert elapsed < 2.0  # target ~1 s; generous for loaded CI machines


def test_a_note_while_a_line_is_half_printed_goes_above_it() -> None:
    """A lost link said while the kernel's line is half sent: the line stays whole (it was
    cut in two around the note, which read as a line lost); a note after whole lines, or
    once the cell moved on, goes below as before."""
    model = ConsoleModel()
    model.apply(out("TAG 122\nTAG 12"))
    model.add_info("Connection lost (reset); reconnecting…", between_lines=True)
    model.apply(out("3\nTAG 124\nTAG 1"))
    model.apply(err("warn\n"))  # stderr's whole line: stdout's half line is no longer last
    model.add_info("Reconnected.", between_lines=True)
    model.apply(out("25\n"))
    assert plain(model) == ["TAG 122", "Connection lost (reset); reconnecting…", "TAG 123",
                            "TAG 124", "TAG 1", "warn", "Reconnected.", "25"]


def test_the_seam_of_replayed_and_dropped_output_is_marked() -> None:
    from rtui.core.kernels.events import OutputDropped, OutputReplayed

    model = ConsoleModel()
    model.apply(out("line 1\nline 2 "))
    t0 = time.mktime((2026, 1, 2, 10, 2, 0, 0, 0, -1))
    model.apply(OutputReplayed(1204, t0, t0 + 300, 0))
    model.apply(OutputReplayed(3, t0, t0, 0))  # statuses only (nothing shown): nothing said
    model.apply(out("line 3\n"))
    model.apply(OutputReplayed(0, None, None, 0))  # nothing replayed: nothing said
    model.apply(OutputReplayed(5, t0, t0, 12))  # messages lost are always said
    model.apply(OutputDropped(1))
    assert plain(model) == [  # the line begun before the seam goes on after it, whole
        "line 1",
        "── replayed 1,204 messages, 10:02:00\u201310:07:00 ──",
        "line 2 line 3",
        "── replayed 5 messages, 10:02:00\u201310:02:00; 12 earlier messages were dropped: "
        "the host's output buffer was full ──",
        "── 1 message of output was dropped: this client fell behind by more than the "
        "host's output buffer ──",
    ]
    model.apply(OutputDropped(3, 64.0))  # the size asked for is said when known
    assert plain(model)[-1] == (
        "── 3 messages of output were dropped: this client fell behind by more than the "
        "host's output buffer (64 MB, settings.output_buffer_mb) ──")


def test_a_kernel_death_shows_its_exit_and_log_tail() -> None:
    from rtui.core.kernels.events import KernelExited

    model = ConsoleModel()
    model.apply(out("working"))
    model.apply(KernelExited(None, 9, "Loading data\nKilled"))
    model.apply(KernelExited(1, None, ""))
    assert plain(model) == [
        "working",
        "The kernel was killed by signal 9 (SIGKILL).",
        "The end of its log:",
        "Loading data",
        "Killed",
        "The kernel exited with code 1.",
    ]
