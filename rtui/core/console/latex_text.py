"""LaTeX (a ``text/latex`` output: sympy's, IPython's ``Latex``) as readable Unicode text.

pylatexenc parses (tolerantly: broken input still gives nodes) and knows the symbols (``\\alpha``,
``\\mathbb{R}``); on top of it this module writes what a reader of a console expects
and pylatexenc leaves as source: superscripts and subscripts in Unicode where every character
has one (``x²``, ``xᵢ``), fractions with parentheses where they are needed, matrices laid out
as rows between tall brackets, and unknown macros kept as they were written (``\\foo{x}``),
never dropped and never an exception.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any, Final

from pylatexenc import latexwalker, macrospec  # type: ignore[import-untyped]
from pylatexenc.latex2text import (  # type: ignore[import-untyped]
    EnvironmentTextSpec,
    LatexNodes2Text,
    MacroTextSpec,
    get_default_latex_context_db,
)

__all__ = ["latex_to_text"]

# Greek letters among the Latin ones are meant (ruff's RUF001 takes them for look-alikes).
_SUP: Final = dict(zip(
    "0123456789+-=()abcdefghijklmnoprstuvwxyzABDEGHIJKLMNOPRTUVWβγδθιφχ",  # noqa: RUF001
    "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂᵝᵞᵟᶿᶥᵠᵡ", strict=True))
_SUB: Final = dict(zip(
    "0123456789+-=()aehijklmnoprstuvxβγρφχ",  # noqa: RUF001
    "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓᵦᵧᵨᵩᵪ", strict=True))
# A matrix is drawn between these (top, middle, bottom; one row: the single form).
_BRACKETS: Final = {
    "matrix": ("", "", "", "", "", "", "", ""),
    "smallmatrix": ("", "", "", "", "", "", "", ""),
    "array": ("", "", "", "", "", "", "", ""),
    "pmatrix": ("⎛", "⎜", "⎝", "(", "⎞", "⎟", "⎠", ")"),
    "bmatrix": ("⎡", "⎢", "⎣", "[", "⎤", "⎥", "⎦", "]"),
    "Bmatrix": ("⎧", "⎨", "⎩", "{", "⎫", "⎬", "⎭", "}"),
    "vmatrix": ("│", "│", "│", "|", "│", "│", "│", "|"),
    "Vmatrix": ("‖", "‖", "‖", "‖", "‖", "‖", "‖", "‖"),
}
_ROOTS: Final = {"2": "√", "3": "∛", "4": "∜"}
_BLOCK: Final = "\x01"  # around a matrix in the text, until the lines are put side by side
_ROW: Final = "\x02"  # between a matrix's rows
_FENCED: Final = re.compile(  # sympy's \left[\begin{matrix}…\end{matrix}\right]
    r"\\left\s*(\(|\[|\\\{)\s*\\begin\{matrix\}(.*?)\\end\{matrix\}\s*\\right\s*(\)|\]|\\\})",
    re.S)
_FENCE_ENV: Final = {"(": "pmatrix", "[": "bmatrix", "\\{": "Bmatrix"}
_SCRIPT: Final = re.compile(r"(?<!\\)([\^_])")
# sympy's "\left(x \right)": no space inside the parentheses. A run of spaces is tried from
# its first only (else a long run before no bracket is scanned from each of its spaces).
_SPACE_BEFORE_CLOSE: Final = re.compile(r"(?<![ \t])[ \t]+(?=[)\]}])")
_SPACE_AFTER_OPEN: Final = re.compile(r"([(\[{])[ \t]+")
_NEEDS_PARENS: Final = re.compile(r"[\s+\-*/=<>,±∓·×÷]")  # noqa: RUF001
# Layout macros of math (sympy writes them) that pylatexenc knows neither to parse nor to
# write: they add nothing to the text, the delimiter after \left stays.
_SILENT: Final = (
    "left", "right", "middle", "displaystyle", "textstyle", "scriptstyle", "limits",
    "nolimits", "nonumber", "notag", "hline", "allowbreak",
    *(size + side for size in ("big", "Big", "bigg", "Bigg") for side in ("", "l", "r", "m")),
)
# Macros of one argument pylatexenc does not know, written as that argument.
_ARGUMENT: Final = ("operatorname", "boldsymbol", "bm", "mathtt", "mathscr", "mathds")


def _script(text: str, table: dict[str, str], mark: str) -> str:
    """``text`` raised or lowered in Unicode if every character can be, else ``^(text)``."""
    text = text.strip()
    if text and all(ch in table for ch in text):
        return "".join(table[ch] for ch in text)
    if len(text) <= 1:
        return mark + text
    return f"{mark}({text})"


def _arg_text(node: Any, l2tobj: LatexNodes2Text, index: int) -> str:
    """The text of a macro's ``index``-th argument ('' when it has none)."""
    args = node.nodeargd.argnlist if node.nodeargd is not None else []
    arg = args[index] if index < len(args) else None
    return "" if arg is None else str(l2tobj.node_to_text(arg)).strip()


def _parens(text: str) -> str:
    return f"({text})" if _NEEDS_PARENS.search(text) else text


def _frac(node: Any, l2tobj: LatexNodes2Text) -> str:
    return f"{_parens(_arg_text(node, l2tobj, 0))}/{_parens(_arg_text(node, l2tobj, 1))}"


def _sqrt(node: Any, l2tobj: LatexNodes2Text) -> str:
    root = _ROOTS.get(_arg_text(node, l2tobj, 0) or "2")
    body = _arg_text(node, l2tobj, 1)
    if root is None:
        return f"{_script(_arg_text(node, l2tobj, 0), _SUP, '^')}√{_parens(body) or '()'}"
    return root + (body if len(body) == 1 else f"({body})")


def _matrix(node: Any, l2tobj: LatexNodes2Text, environmentname: str) -> str:
    """A matrix as aligned rows between brackets, marked so the lines around it are set
    beside it (see ``_side_by_side``)."""
    rows: list[list[str]] = [[]]
    cell: list[Any] = []

    def end_cell() -> None:
        text = str(l2tobj.nodelist_to_text(cell)).strip()
        rows[-1].append(text.replace(_BLOCK, "").replace(_ROW, "; "))
        cell.clear()

    for child in node.nodelist:
        if child.isNodeType(latexwalker.LatexSpecialsNode) and child.specials_chars == "&":
            end_cell()
        elif child.isNodeType(latexwalker.LatexMacroNode) and child.macroname == "\\":
            end_cell()
            rows.append([])
        else:
            cell.append(child)
    end_cell()
    if rows[-1] == [""] and len(rows) > 1:  # a trailing \\
        rows.pop()
    columns = max(len(row) for row in rows)
    widths = [max((len(row[c]) if c < len(row) else 0) for row in rows) for c in range(columns)]
    lines = ["  ".join((row[c] if c < len(row) else "").rjust(widths[c])
                       for c in range(columns)) for row in rows]
    top, mid, bottom, one, rtop, rmid, rbottom, rone = _BRACKETS.get(
        environmentname, _BRACKETS["bmatrix"])
    if len(lines) == 1:
        return f"{one}{lines[0]}{rone}"
    framed = []
    for index, line in enumerate(lines):
        left, right = ((top, rtop) if index == 0 else
                       (bottom, rbottom) if index == len(lines) - 1 else (mid, rmid))
        framed.append(f"{left}{line}{right}")
    return _BLOCK + _ROW.join(framed) + _BLOCK


def _side_by_side(line: str) -> list[str]:
    """A line holding matrices made into rows: text on the middle row, matrices whole."""
    if _BLOCK not in line:
        return [line]
    parts = line.split(_BLOCK)
    pieces = [part.split(_ROW) if index % 2 else [part] for index, part in enumerate(parts)]
    height = max(len(piece) for piece in pieces)
    out = [""] * height
    for piece in pieces:
        width = max(len(row) for row in piece)
        start = (height - len(piece)) // 2
        for row in range(height):
            index = row - start
            text = piece[index] if 0 <= index < len(piece) else ""
            out[row] += text.ljust(width)
    return [row.rstrip() for row in out]


class _Converter(LatexNodes2Text):  # type: ignore[misc]
    """pylatexenc's converter, keeping unknown macros (with their braced arguments) as they
    were written instead of dropping them."""

    def nodelist_to_text(self, nodelist: list[Any]) -> str:
        out = ""
        previous: Any = None
        skip_groups = False
        for node in nodelist:
            if skip_groups and node.isNodeType(latexwalker.LatexGroupNode):
                out += node.latex_verbatim()
                continue
            skip_groups = False
            if node.isNodeType(latexwalker.LatexMacroNode) and self._unknown(node):
                out += node.latex_verbatim()
                skip_groups = True
                previous = None
                continue
            if (previous is not None and previous.isNodeType(latexwalker.LatexMacroNode)
                    and not (previous.nodeargd and previous.nodeargd.argnlist)
                    and node.isNodeType(latexwalker.LatexCharsNode)):
                out += previous.macro_post_space  # pylatexenc's spacing: "\alpha x" stays
            column = len(out) - out.rfind("\n") - 1
            out += self.node_to_text(node, textcol=column)
            previous = node
        return out

    def _unknown(self, node: Any) -> bool:
        """Known to neither the parser nor the writer (\\label is parsed, then dropped)."""
        name = node.macroname
        return bool(self.latex_context.get_macro_spec(name) is None
                    and node.parsing_state.latex_context.get_macro_spec(name) is None)


def _build() -> tuple[Any, _Converter]:
    """The walker's and the converter's contexts with rtui's rules in front."""
    walker_db = latexwalker.get_default_latex_context_db()
    walker_db.add_context_category("rtui", prepend=True, macros=[
        macrospec.std_macro("rtuisup", False, 1), macrospec.std_macro("rtuisub", False, 1),
        macrospec.std_macro("tag", False, 1),
        *(macrospec.std_macro(name, False, 1) for name in _ARGUMENT),
    ])
    text_db = get_default_latex_context_db()
    scripts: list[tuple[str, str | Callable[..., str]]] = [
        ("rtuisup", lambda n, l2tobj: _script(_arg_text(n, l2tobj, 0), _SUP, "^")),
        ("rtuisub", lambda n, l2tobj: _script(_arg_text(n, l2tobj, 0), _SUB, "_")),
        ("frac", _frac), ("dfrac", _frac), ("tfrac", _frac), ("sqrt", _sqrt),
        ("tag", lambda n, l2tobj: f"  ({_arg_text(n, l2tobj, 0)})"),
        *((name, lambda n, l2tobj: _arg_text(n, l2tobj, 0)) for name in _ARGUMENT),
        *((name, "") for name in _SILENT),
    ]
    text_db.add_context_category(
        "rtui", prepend=True,
        macros=[MacroTextSpec(name, simplify_repl=repl) for name, repl in scripts],
        environments=[EnvironmentTextSpec(name, simplify_repl=_matrix) for name in _BRACKETS],
    )
    converter = _Converter(latex_context=text_db, math_mode="text",
                           strict_latex_spaces="except-in-equations")
    return walker_db, converter


_CONTEXT: tuple[Any, _Converter] | None = None
_BUILDING: Final = threading.Lock()  # the event loop and a view's layout thread both convert


def latex_to_text(source: str) -> str:
    """``source`` as Unicode text; what cannot be understood is kept as written. Thread-safe:
    the contexts are only read once built, and the converter keeps no state between calls."""
    global _CONTEXT
    if _CONTEXT is None:
        with _BUILDING:
            if _CONTEXT is None:
                _CONTEXT = _build()
    walker_db, converter = _CONTEXT
    prepared = _FENCED.sub(
        lambda m: f"\\begin{{{_FENCE_ENV[m[1]]}}}{m[2]}\\end{{{_FENCE_ENV[m[1]]}}}", source)
    prepared = _SCRIPT.sub(lambda m: "\\rtuisup " if m[1] == "^" else "\\rtuisub ", prepared)
    walker = latexwalker.LatexWalker(prepared, latex_context=walker_db, tolerant_parsing=True)
    nodes, _, _ = walker.get_latex_nodes()
    text = converter.nodelist_to_text(nodes)
    text = _SPACE_AFTER_OPEN.sub(r"\1", _SPACE_BEFORE_CLOSE.sub("", text))
    lines: list[str] = []
    for line in text.split("\n"):
        lines.extend(_side_by_side(line.rstrip()))
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    return "\n".join(line[indent:] for line in lines) or source.strip()
