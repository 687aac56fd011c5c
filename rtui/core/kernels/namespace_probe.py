"""Runs inside the kernel: the namespace view, one value's view, a delete, as JSON text.

rtui sends this module's source once per kernel process and runs it as a module of its own
in the kernel's sys.modules (see :mod:`rtui.core.kernels.namespace`), so none of its names
lands in the user's namespace; cells then call it by a short expression. Stdlib only and
Python >= 3.8 (the kernel's Python, not rtui's); every cost is bounded: names are sorted, only
the first ``limit`` rows are made, each repr is cut, and the reply stops growing at
``reply_chars``.
"""

from __future__ import annotations

import fnmatch
import json
import pprint
import reprlib
import types
from typing import Any

__all__ = ["delete", "namespace_view", "value_view"]

# Never shown: IPython's and the kernel's own (as Spyder's Variable Explorer hides them).
HIDDEN = frozenset(("In", "Out", "exit", "quit", "get_ipython", "open", "help"))
_SKIPPED_TYPES = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
                  types.MethodType, type)


def _shown_type(kind: type, known: dict[type, bool]) -> bool:
    """Not a module, function, class or IPython's own helper (exit, quit...); once per type."""
    shown = known.get(kind)
    if shown is None:
        shown = known[kind] = not issubclass(kind, _SKIPPED_TYPES) and \
            kind.__module__.split(".")[0] not in ("IPython", "ipykernel")
    return shown


def _names(ns: dict[str, Any], pattern: str) -> list[str]:
    """What a person made (no private names, IPython's history, modules, functions,
    classes) that matches ``pattern``, by name: one cheap pass, whatever the size."""
    known: dict[type, bool] = {}
    names = [n for n, v in list(ns.items())
             if type(n) is str and n[:1] != "_" and n not in HIDDEN
             and _shown_type(type(v), known)]
    if pattern:
        names = [n for n in names if _matches(n, pattern)]
    names.sort(key=str.lower)
    return names


def _matches(name: str, pattern: str) -> bool:
    """A glob when it has one (``df*``), else a case-blind substring."""
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatch(name.lower(), pattern.lower())
    return pattern.lower() in name.lower()


def _one_line(text: str, chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: max(chars - 1, 0)] + "…"


def _short_repr(value: Any, chars: int) -> str:
    """A repr that costs little whatever the value's size (reprlib cuts containers)."""
    cutter = reprlib.Repr()
    cutter.maxstring = cutter.maxother = chars
    cutter.maxlist = cutter.maxtuple = cutter.maxset = cutter.maxdict = 12
    try:
        return _one_line(cutter.repr(value), chars)
    except Exception as exc:  # a broken __repr__ is the user's, not ours
        return f"<repr failed: {type(exc).__name__}>"


def _shape(value: Any) -> tuple[int, ...] | None:
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(n, int) for n in shape):
        return shape
    return None


def _size(value: Any) -> str:
    """Its shape (arrays, frames) or its length (containers, strings), else empty."""
    shape = _shape(value)
    if shape is not None:
        return str(shape) if shape else "scalar"
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset, range)):
        return str(len(value))
    try:
        return str(len(value)) if hasattr(value, "__len__") else ""
    except Exception:
        return ""


def _summary(value: Any, chars: int) -> str:
    """The short value: frames by their columns, anything else by its repr (arrays summarise
    theirs: a min or max would read a huge array whole after every cell)."""
    kind = type(value).__name__
    if kind == "DataFrame" and hasattr(value, "columns"):
        return _one_line("columns: " + ", ".join(str(c) for c in list(value.columns)[:20]), chars)
    return _short_repr(value, chars)


def _type_name(value: Any) -> str:
    """Its type; an array's or a Series' with its dtype (``ndarray of float64``)."""
    kind = type(value).__name__
    dtype = getattr(value, "dtype", None) if _shape(value) is not None else None
    return kind if dtype is None else f"{kind} of {dtype}"


def namespace_view(ns: dict[str, Any], pattern: str = "", limit: int = 200,
                   value_chars: int = 80, reply_chars: int = 65536) -> str:
    """The rows of the first ``limit`` names (by name) that match ``pattern``, and how many
    matched in all (``total``): ``{"total": n, "rows": [[name, type, size, value], ...]}``."""
    names = _names(ns, pattern)
    rows: list[list[str]] = []
    used = 0
    for name in names[:limit]:
        value = ns.get(name)
        row = [name, _type_name(value), _size(value), _summary(value, value_chars)]
        used += sum(len(x) for x in row) + 12
        if used > reply_chars:
            break
        rows.append(row)
    return json.dumps({"total": len(names), "rows": rows})


def _cell(value: Any, chars: int = 40) -> str:
    """One table cell; a float with 6 significant digits, as Spyder shows arrays."""
    try:
        text = f"{value:.6g}" if isinstance(value, float) else str(value)
    except Exception as exc:
        text = f"<str failed: {type(exc).__name__}>"
    return _one_line(text, chars)


def _table(value: Any, rows: int, cols: int) -> dict[str, Any] | None:
    """Arrays, DataFrames and Series as the first rows and columns, with the shape."""
    kind = type(value).__name__
    module = type(value).__module__.split(".")[0]
    shape = _shape(value)
    if shape is None:
        return None
    if module == "pandas" and kind == "DataFrame":
        part = value.iloc[:rows, :cols]
        return {"columns": [_cell(c) for c in part.columns],
                "index": [_cell(i) for i in part.index],
                "rows": [[_cell(x) for x in r] for r in part.itertuples(index=False)]}
    if module == "pandas" and kind == "Series":
        part = value.iloc[:rows]
        return {"columns": [_cell(value.name if value.name is not None else "value")],
                "index": [_cell(i) for i in part.index],
                "rows": [[_cell(x)] for x in part.tolist()]}
    if module == "numpy" and kind == "ndarray":
        note = ""
        while value.ndim > 2:  # the first 2-D slice of a cube
            value = value[0]
            note = " (the first 2-D slice)"
        if value.ndim == 0:
            return {"columns": ["value"], "index": [""], "rows": [[_cell(value.item())]],
                    "note": note}
        if value.ndim == 1:
            part = value[:rows].tolist()
            return {"columns": ["0"], "index": [str(i) for i in range(len(part))],
                    "rows": [[_cell(x)] for x in part], "note": note}
        part = value[:rows, :cols].tolist()
        return {"columns": [str(j) for j in range(min(cols, value.shape[1]))],
                "index": [str(i) for i in range(len(part))],
                "rows": [[_cell(x) for x in r] for r in part], "note": note}
    return None


def value_view(ns: dict[str, Any], name: str, rows: int = 100, cols: int = 20,
               chars: int = 200_000) -> str:
    """One value: a table (arrays, frames) or its repr, pretty-printed and cut at ``chars``."""
    if name not in ns:
        return json.dumps({"missing": True, "name": name})
    value = ns[name]
    reply: dict[str, Any] = {"name": name, "type": _type_name(value), "size": _size(value)}
    try:
        table = _table(value, rows, cols)
    except Exception as exc:
        table, reply["note"] = None, f"no table: {type(exc).__name__}: {exc}"
    if table is not None:
        reply["table"] = table
        return json.dumps(reply)
    try:
        big = hasattr(value, "__len__") and len(value) > 10_000
    except Exception:
        big = False
    try:
        if big:  # pprint walks it all: a bounded repr instead
            cutter = reprlib.Repr()
            cutter.maxlist = cutter.maxtuple = cutter.maxset = cutter.maxdict = 2000
            cutter.maxstring = cutter.maxother = chars
            text = cutter.repr(value)
        else:
            text = pprint.pformat(value, width=100)
    except Exception as exc:
        text = f"<repr failed: {type(exc).__name__}: {exc}>"
    reply["cut"] = len(text) > chars
    reply["text"] = text[:chars]
    return json.dumps(reply)


def delete(ns: dict[str, Any], name: str, shell: Any = None) -> str:
    """Remove ``name`` from the namespace (through IPython's ``del_var`` when there is a
    shell: it also drops the references its output history holds); says whether it was."""
    if name not in ns:
        return json.dumps({"deleted": False})
    if shell is not None and hasattr(shell, "del_var"):
        shell.del_var(name)
    else:
        del ns[name]
    return json.dumps({"deleted": True})
