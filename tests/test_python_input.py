"""The console editor's Enter rule and Tab's common prefix, as plain functions (no kernel, no
Textual): what the editor decides when the kernel is not asked or does not answer."""

from __future__ import annotations

from typing import Any

from rtui.core.console.python_input import (
    common_prefix,
    complete_python_line,
    continuation,
    continuation_indent,
    looks_complete,
)
from rtui.tui.widgets.code_input import looks_complete as editor_looks_complete


def test_looks_complete() -> None:
    assert looks_complete("1+1")
    assert looks_complete("x = f(1)  # done")
    assert not looks_complete("for i in x:")
    assert not looks_complete("if x:  # note")
    assert not looks_complete("f(1,")
    assert not looks_complete("s = '''abc")
    assert not looks_complete("x = 1 + \\")
    assert looks_complete("d = {'a': 1}")
    assert looks_complete("   ")
    assert editor_looks_complete is looks_complete  # still the editor's public name


def test_complete_python_line_is_plain_python_only() -> None:
    assert complete_python_line("1+1")
    assert complete_python_line("x = f(1)")
    assert not complete_python_line("for i in x:")
    assert not complete_python_line("f(1,")
    # IPython syntax and errors are the kernel's to judge.
    assert not complete_python_line("%time 1+1")
    assert not complete_python_line("!ls")
    assert not complete_python_line("len?")
    assert not complete_python_line("1 +* 2")


def test_continuation_follows_the_kernel_answer() -> None:
    assert continuation("1+1", ("complete", "")) is None
    assert continuation("1 +* 2", ("invalid", "")) is None  # runs: the kernel reports it
    assert continuation("for i in x:", ("incomplete", "    ")) == "    "
    odd: tuple[str, Any] = ("incomplete", 7)  # an indent that is not text
    assert continuation("f(1,", odd) == ""


def test_continuation_without_an_answer_guesses() -> None:
    assert continuation("1+1", None) is None
    assert continuation("x = 1", ("unknown", "")) is None
    assert continuation("for i in x:", None) == "    "
    assert continuation("if a:\n    for i in x:", ("unknown", "")) == "        "
    assert continuation("if a:\n    f(1,", None) == "    "


def test_continuation_indent() -> None:
    assert continuation_indent("x = 1") == ""
    assert continuation_indent("def f():") == "    "
    assert continuation_indent("def f():\n    y = (1,\n") == "    "
    assert continuation_indent("if a:  \n") == "    "


def test_common_prefix() -> None:
    assert common_prefix([]) == ""
    assert common_prefix(["name_one", "name_two"]) == "name_"
    assert common_prefix(["sum", "sorted", "str"]) == "s"
    assert common_prefix(["abs", "sum"]) == ""
    assert common_prefix(["print"]) == "print"
