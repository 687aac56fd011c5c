"""Rich outputs as the console draws them: Markdown, HTML (a pandas DataFrame's included), LaTeX
and JSON readable at a width; broken input never raises; a huge source costs a bounded render."""

from __future__ import annotations

import io
import json
import time

import pandas as pd
import pytest
from rich.color import ColorType
from rich.console import Console
from rich.segment import Segment

from rtui.core.console.latex_text import latex_to_text
from rtui.core.console.rich_text import SOURCE_CAPS, renderable


def segments(kind: str, source: str, width: int = 80) -> list[list[Segment]]:
    console = Console(width=width, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor")
    return console.render_lines(renderable(kind, source), console.options, pad=False)


def rows(kind: str, source: str, width: int = 80) -> list[str]:
    return ["".join(s.text for s in line).rstrip() for line in segments(kind, source, width)]


def test_markdown_headings_lists_code_in_the_16_colours_and_tables() -> None:
    source = ("# Results\n\nThe *fit* converged.\n\n- first\n- second\n\n"
              "```python\ndef f(x):\n    return 'done'\n```\n\n"
              "| name | value |\n|------|-------|\n| alpha | 0.5 |\n")
    lines = segments("markdown", source)
    text = ["".join(s.text for s in line).rstrip() for line in lines]
    assert text[0].strip() == "Results"
    assert "The fit converged." in text
    assert [t.strip() for t in text if "•" in t] == ["• first", "• second"]
    code = [line for line in lines if "return" in "".join(s.text for s in line)]
    colours = {s.style.color for s in code[0] if s.style is not None and s.style.color}
    assert colours, "code is highlighted"
    assert all(c.type in (ColorType.STANDARD, ColorType.DEFAULT) for c in colours)
    table = [t for t in text if "alpha" in t]
    assert table and "0.5" in table[0] and table[0].index("alpha") < table[0].index("0.5")


def test_html_reads_as_text_scripts_and_styles_dropped() -> None:
    html = ("<html><head><title>Page</title><style>p {color: red}</style></head><body>"
            "<script>alert('no')</script><h2>Summary</h2>"
            "<p>See <a href='https://example.org/doc'>the docs</a> and <code>fit()</code>.</p>"
            "<ul><li>one</li><li>two<ol><li>inner</li></ol></li></ul>"
            "<pre>x = 1\n    y = 2</pre><p>a&amp;b &lt;tag&gt;</p></body></html>")
    text = rows("html", html)
    joined = "\n".join(text)
    assert "alert" not in joined and "color" not in joined and "Page" not in joined
    assert text[0] == "Summary"
    assert "See the docs (https://example.org/doc) and fit()." in text
    assert "• one" in text and "• two" in text and "  1. inner" in text
    assert "x = 1" in text and "    y = 2" in text
    assert "a&b <tag>" in text
    nothing = '<div id="plot"></div><script>Plotly.newPlot("plot", [])</script><iframe></iframe>'
    assert rows("html", nothing, width=100) == [
        "(HTML with no text to show: scripts, styles or frames only; r shows its plain text)"]


def test_a_dataframe_reads_as_a_table() -> None:
    frame = pd.DataFrame({"city": ["Lyon", "Oslo"], "temp": [21.5, -3.25]},
                         index=pd.Index(["a", "b"], name="key"))
    text = rows("html", frame._repr_html_())
    header = next(t for t in text if "city" in t)
    assert header.split() == ["city", "temp"]
    assert "key" in text[text.index(header) + 1]
    lyon = next(t for t in text if "Lyon" in t)
    oslo = next(t for t in text if "Oslo" in t)
    assert lyon.split() == ["a", "Lyon", "21.50"] and oslo.split() == ["b", "Oslo", "-3.25"]
    assert lyon.index("21.50") + 5 == oslo.index("-3.25") + 5 == header.index("temp") + 4
    big = pd.DataFrame({f"c{i}": range(100) for i in range(3)})
    text = rows("html", big._repr_html_())
    assert "..." in "".join(text) and text[-1] == "100 rows \N{MULTIPLICATION SIGN} 3 columns"


def test_multiindex_headers_and_row_spans_stay_in_their_columns() -> None:
    frame = pd.DataFrame(
        [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]],
        columns=pd.MultiIndex.from_product([["a", "b"], ["x", "y"]]),
        index=pd.MultiIndex.from_tuples([("p", 1), ("p", 2), ("q", 1)], names=["k", "n"]))
    text = rows("html", frame._repr_html_())
    assert text[0].split() == ["a", "b"]
    assert text[1].split() == ["x", "y", "x", "y"]
    assert text[2].split() == ["k", "n"]
    assert set(text[3]) == {"─"}
    assert [t.split() for t in text[4:7]] == [
        ["p", "1", "0", "1", "2", "3"], ["2", "4", "5", "6", "7"], ["q", "1", "8", "9", "10", "11"]]
    assert text[5].index("2") == text[4].index("1")  # the spanned "p" left blank, not shifted


def test_a_wide_table_wraps_its_text_columns_within_the_width() -> None:
    note = "a long note that cannot fit in the column and has to wrap over a few rows"
    html = pd.DataFrame({"id": [1, 2], "note": [note, "short"]}).to_html()
    text = rows("html", html, width=40)
    assert max(len(t) for t in text) <= 40
    column = text[0].index("note")
    first = next(i for i, t in enumerate(text) if t.startswith("0"))
    wrapped = [t[column:].strip() for t in text[first:] if not t.startswith("1")]
    assert len(wrapped) > 2 and " ".join(wrapped) == note


@pytest.mark.parametrize("html", [
    "<div><p>unclosed <b>bold <table><tr><td>a<td>b<tr><td>c",
    "<<<>>></ / <!-- <p x=\"'>&bogus; &#99999999; <![CDATA[ x",
    "</table></td><td>stray</tr>text<li>item</ul></ol>",
    "<table><tr><td colspan='x' rowspan='99999999'>span</td></tr></table><p>after",
    "<script>never closed", "", "<p>" * 10_000 + "deep",
], ids=["unclosed", "garbage", "stray-ends", "bad-spans", "open-script", "empty", "deep"])
def test_broken_html_gives_what_it_can_never_a_traceback(html: str) -> None:
    text = "\n".join(rows("html", html))
    for word in ("unclosed", "bold", "stray", "item", "span", "after", "deep"):
        if word in html.split("<script>")[0]:
            assert word in text


def test_latex_as_unicode_unknown_macros_kept_broken_input_tolerated() -> None:
    assert latex_to_text(r"$\alpha^2 + \frac{1}{2}$") == "α² + 1/2"
    assert latex_to_text(r"$\frac{a+b}{c} + x_{i}^{n} + e^{-x^2}$") == "(a+b)/c + xᵢⁿ + e^(-x²)"
    assert latex_to_text(r"$A = \begin{pmatrix} a & b \\ c & d \end{pmatrix}$").split("\n") \
        == ["A = ⎛a  b⎞", "    ⎝c  d⎠"]
    sympy_matrix = r"$\displaystyle \left[\begin{matrix}1 & 22\\333 & 4\end{matrix}\right]$"
    assert latex_to_text(sympy_matrix).split("\n") == ["⎡  1  22⎤", "⎣333   4⎦"]
    assert latex_to_text(r"$\displaystyle \sin{\left(x \right)}$") == "sin(x)"
    assert latex_to_text(r"$\foo{x} + \mathbb{R}$") == "\\foo{x} + \N{DOUBLE-STRUCK CAPITAL R}"
    for broken in (r"$\frac{1}{$", r"\begin{pmatrix", "}}}{{{", "$x^$", r"\end{x}"):
        assert isinstance(latex_to_text(broken), str)
    deep = "{" * 1900 + "x" + "}" * 1900  # pylatexenc recurses per group
    assert rows("latex", deep, width=4000)[:2] == [
        "(could not read this LaTeX: RecursionError)", deep]
    started = time.process_time()
    assert latex_to_text("&" * 3900)  # a long run of spaces once took 4 s in a regex
    assert time.process_time() - started < 2
    assert rows("latex", r"$\sqrt{x} \leq \infty$") == ["√x≤∞"]


def test_json_pretty_invalid_and_huge() -> None:
    assert rows("json", '{"a": [1, {"b": null}], "c": "é"}') == [
        "{", '  "a": [', "    1,", "    {", '      "b": null', "    }", "  ],", '  "c": "é"', "}"]
    text = rows("json", '{"a": [1, 2')
    assert text[0].startswith("(not valid JSON: ") and text[1] == '{"a": [1, 2'
    deep = "[" * 3000 + "]" * 3000  # json's parser recurses: RecursionError, not ValueError
    assert rows("json", deep, width=6000) == ["(nested too deeply to read)", deep]
    huge = json.dumps(list(range(5000)))
    text = rows("json", huge)
    assert len(text) == 2001 and text[-2] == "  1998,"
    assert text[-1] == "… the rest not shown (the first 2,000 lines of 28 KiB)"
    too_big = json.dumps(["x" * 100] * 30_000)  # over the cap: not parsed, its start shown
    text = rows("json", too_big)
    assert text[0] == "(too big to read whole)" and "more of this json not shown" in text[-1]


@pytest.mark.parametrize("kind", ["html", "markdown"])
def test_a_5_mb_source_is_cut_and_says_so(kind: str) -> None:
    paragraph = "<p>word word word</p>\n" if kind == "html" else "word word word\n\n"
    source = paragraph * (5_000_000 // len(paragraph))
    started = time.process_time()
    text = rows(kind, source)
    spent = time.process_time() - started
    shown = sum(t.count("word") for t in text)
    assert shown <= SOURCE_CAPS[kind] // len(paragraph) * 3
    assert text[-1].startswith("… ") and f"more of this {kind} not shown (of 4.8 MiB" in text[-1]
    assert spent < 5  # CPU seconds; unbounded, the 5 MB took minutes


def test_a_1000_row_dataframe_at_100_columns_and_one_too_wide() -> None:
    frame = pd.DataFrame({f"c{i}": [(j * 37 % 1000) / 1000 for j in range(1000)]
                          for i in range(10)})
    text = rows("html", frame.to_html(), width=100)
    assert len(text) == 1 + 1 + 1000  # the columns' names, a rule, the rows
    assert max(len(t) for t in text) <= 100
    assert text[5].split() == ["3", *["0.111"] * 10] and text[-1].split()[0] == "999"
    wide = pd.DataFrame({f"c{i}": [123456.5 + i, -1.25] for i in range(12)}).to_html()
    text = rows("html", wide, width=60)  # numbers are not wrapped: the last columns hidden
    assert text[0].split()[-1] == "…" and text[2].split()[:2] == ["0", "123456.50"]
    assert all(len(t) <= 60 for t in text) and len(text) == 4
