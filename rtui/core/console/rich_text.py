"""Rich outputs as rich renderables: Markdown, HTML, LaTeX and JSON as a console shows them.

The console's ``RichBlock`` lays the renderable out at its width (``blocks.render_lines``);
this module decides what the reader sees: Markdown by rich (code highlighted in the terminal's
16 colours), HTML as text with tables (:mod:`html_text`), LaTeX as Unicode (:mod:`latex_text`),
JSON indented and highlighted. Every source is capped first, saying what was cut, so a 5 MB
output costs a bounded render. Only ``quick`` sources are laid out on the event loop; the view
lays the others out in a thread (rtui.tui.widgets.console_rich), so all of this is thread-safe:
parsers are made per call (pylatexenc's contexts are built once, under a lock, and only read),
rendering changes no renderable (rich's own, html_text's), and each layout has its own Console.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Final

from rich.console import Group, RenderableType
from rich.highlighter import JSONHighlighter
from rich.markdown import Markdown
from rich.text import Text

from rtui.core.units import byte_size

__all__ = ["KINDS", "QUICK_CHARS", "SOURCE_CAPS", "quick", "renderable"]

KINDS: Final = ("markdown", "html", "latex", "json")
# The most of a source rendered, in characters, per kind: measured to stay near 0.1 s on a
# loaded 2-core machine (rich's Markdown is the slow one); the rest is named, not drawn.
SOURCE_CAPS: Final = {"markdown": 16_000, "html": 300_000, "latex": 4_000,
                      "json": 2_000_000}
# Sources up to this many characters are laid out where a view asks (on the event loop): at
# most ~3 ms of CPU at 80 columns (measured: rich's Markdown 1.5 ms + 11 us a character, JSON
# ~25 us a character (highlighting), LaTeX ~12 us, HTML ~1.7 us). Bigger ones go to a thread.
QUICK_CHARS: Final = {"markdown": 160, "html": 1500, "latex": 200, "json": 120}
_JSON_LINES: Final = 2000  # of the indented document
_JSON_RAW_CHARS: Final = 8_000  # of a document shown as it came (invalid, too big)


def _cut(source: str, cap: int) -> tuple[str, int]:
    """``source`` up to ``cap`` characters (at a line's end when one is near), and how many
    characters were left out."""
    if len(source) <= cap:
        return source, 0
    end = source.rfind("\n", cap - cap // 10, cap)
    end = cap if end < 0 else end
    return source[:end], len(source) - end


def _indented(data: object) -> tuple[str, bool]:
    """``data`` indented, its first ``_JSON_LINES`` lines (the encoder stops there: indenting
    a whole 6 MB document took 3 s), and whether that was all of it."""
    lines = 0
    chunks: list[str] = []
    for chunk in json.JSONEncoder(indent=2, ensure_ascii=False, default=str).iterencode(data):
        if lines + chunk.count("\n") >= _JSON_LINES:  # keep up to the line that fills it
            chunks.append("\n".join(chunk.split("\n")[: _JSON_LINES - lines]))
            return "".join(chunks), False
        lines += chunk.count("\n")
        chunks.append(chunk)
    return "".join(chunks), True


def _json(source: str, whole: bool) -> RenderableType:
    """Indented and highlighted up to ``_JSON_LINES`` lines; JSON that is invalid, cut or
    nested too deeply to indent as its first characters, saying why."""
    problem = "too big to read whole"
    if whole:
        try:
            shown, complete = _indented(json.loads(source))
            problem = ""
        except ValueError as exc:
            problem = f"not valid JSON: {exc}"
        except RecursionError:
            problem = "nested too deeply to read"
    if problem:
        text = Text(source[:_JSON_RAW_CHARS])
        JSONHighlighter().highlight(text)
        return Group(Text(f"({problem})", "dim"), text)
    text = Text(shown)
    JSONHighlighter().highlight(text)
    if complete:
        return text
    return Group(text, Text(f"… the rest not shown (the first {_JSON_LINES:,} lines of "
                            f"{byte_size(len(source.encode()))})", "dim"))


def quick(kind: str, source: str) -> bool:
    """Whether laying ``source`` out is cheap enough (a few ms) to do at once, on the event
    loop: a ``Markdown('# Title')`` is drawn in the frame it arrives, never as plain text first."""
    return len(source) <= QUICK_CHARS.get(kind, QUICK_CHARS["markdown"])


@lru_cache(maxsize=16)
def renderable(kind: str, source: str) -> RenderableType:
    """``source`` of ``kind`` (one of ``KINDS``) as the console draws it; an unknown kind is
    its source as text. Never raises on what a kernel sends (broken HTML, unknown macros).

    Cached: a block is laid out again at each new width, and parsing is the dear part (a
    renderable does not depend on the width)."""
    from rtui.core.console.html_text import html_renderable
    from rtui.core.console.latex_text import latex_to_text

    shown, left_out = _cut(source, SOURCE_CAPS.get(kind, SOURCE_CAPS["markdown"]))
    body: RenderableType
    if kind == "markdown":
        body = Markdown(shown, code_theme="ansi_dark", inline_code_theme="ansi_dark",
                        hyperlinks=False)
    elif kind == "html":
        body = html_renderable(shown)
    elif kind == "latex":
        try:
            body = Text(latex_to_text(shown))
        except Exception as exc:  # pylatexenc recurses per group: {{{…}}} thousands deep
            body = Group(Text(f"(could not read this LaTeX: {type(exc).__name__})", "dim"),
                         Text(shown))
    elif kind == "json":
        body = _json(shown, whole=not left_out)
    else:
        body = Text(shown)
    if not left_out:
        return body
    size = byte_size(len(source[len(shown):].encode()))
    return Group(body, Text(f"… {size} more of this {kind} not shown (of "
                            f"{byte_size(len(source.encode()))}; r shows the plain text)", "dim"))
