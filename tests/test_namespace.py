"""The namespace probe (the code rtui runs in a kernel), run here on plain dicts: what it
hides, how it bounds a huge namespace, the value views; and Spyder's view made rows."""

from __future__ import annotations

import json
import math
import sys
import time
from typing import cast

import numpy as np
import pandas as pd

from rtui.core.kernels import namespace_probe as probe
from rtui.core.kernels.events import ExecuteReply
from rtui.core.kernels.namespace import (
    KEY,
    Namespace,
    NamespaceView,
    _expression_value,
    _module_name,
    install_code,
    probe_call,
    value_from_probe,
    view_from_spyder,
)
from rtui.core.kernels.session import KernelSession


def _view(ns: dict[str, object], **kwargs: object) -> dict[str, object]:
    return json.loads(probe.namespace_view(ns, **kwargs))  # type: ignore[arg-type, no-any-return]


def test_the_view_shows_what_a_person_made_and_hides_the_rest() -> None:
    class Thing:
        pass

    ns: dict[str, object] = {
        "x": 42, "name": "ada", "arr": np.zeros((3, 4)), "df": pd.DataFrame({"a": [1, 2]}),
        "_private": 1, "In": [], "Out": {}, "exit": object(), "get_ipython": print,
        "math": math, "f": lambda: 1, "Thing": Thing, "thing": Thing(), "big": list(range(10**5)),
    }
    rows = {r[0]: r for r in _view(ns)["rows"]}  # type: ignore[attr-defined]
    assert sorted(rows) == ["arr", "big", "df", "name", "thing", "x"]
    assert rows["x"] == ["x", "int", "", "42"]
    assert rows["arr"][1:3] == ["ndarray of float64", "(3, 4)"]
    assert rows["df"][1:4] == ["DataFrame", "(2, 1)", "columns: a"]
    assert rows["name"][2:] == ["3", "'ada'"]
    assert rows["big"][2] == "100000" and len(rows["big"][3]) <= 80


def test_a_huge_namespace_is_bounded_filtered_and_quick() -> None:
    ns: dict[str, object] = {f"v{i:06d}": "x" * 1000 for i in range(100_000)}
    started = time.perf_counter()
    view = _view(ns, limit=50, value_chars=40)
    assert time.perf_counter() - started < 2
    assert view["total"] == 100_000
    rows = view["rows"]
    assert [r[0] for r in rows] == [f"v{i:06d}" for i in range(50)]  # type: ignore[attr-defined]
    assert all(len(r[3]) <= 40 for r in rows)  # type: ignore[attr-defined]
    # The reply stops growing at its size bound, whatever the limit.
    assert len(probe.namespace_view(ns, limit=100_000, reply_chars=10_000)) < 12_000
    # A glob or a substring, case-blind.
    assert _view(ns, pattern="v00001?")["total"] == 10
    assert _view(ns, pattern="V09999")["total"] == 10


def test_value_views_of_arrays_frames_and_text() -> None:
    ns: dict[str, object] = {
        "arr": np.arange(2000.0).reshape(100, 20), "cube": np.ones((2, 3, 4)),
        "df": pd.DataFrame({"alpha": range(500), "beta": ["b"] * 500}),
        "s": pd.Series([1.5, 2.5], name="w"), "d": {"k": list(range(3))},
        "huge": list(range(10**6)),
    }
    arr = value_from_probe(json.loads(probe.value_view(ns, "arr", rows=5, cols=3)))
    assert arr.size == "(100, 20)" and arr.columns == ("0", "1", "2")
    assert arr.rows[1] == ("20", "21", "22") and len(arr.rows) == 5
    third = value_from_probe(json.loads(probe.value_view({"t": np.array([1 / 3, 1e-9])}, "t")))
    assert third.rows == (("0.333333",), ("1e-09",))  # 6 significant digits, as Spyder
    cube = value_from_probe(json.loads(probe.value_view(ns, "cube")))
    assert cube.note == " (the first 2-D slice)" and len(cube.rows) == 3
    df = value_from_probe(json.loads(probe.value_view(ns, "df", rows=3)))
    assert (df.type, df.size, df.columns) == ("DataFrame", "(500, 2)", ("alpha", "beta"))
    assert df.rows == (("0", "b"), ("1", "b"), ("2", "b")) and df.index == ("0", "1", "2")
    series = value_from_probe(json.loads(probe.value_view(ns, "s")))
    assert series.columns == ("w",) and series.rows == (("1.5",), ("2.5",))
    text = value_from_probe(json.loads(probe.value_view(ns, "d")))
    assert text.text == "{'k': [0, 1, 2]}" and not text.cut
    started = time.perf_counter()
    huge = value_from_probe(json.loads(probe.value_view(ns, "huge", chars=5000)))
    assert time.perf_counter() - started < 2
    assert huge.text is not None and len(huge.text) <= 5000
    assert value_from_probe(json.loads(probe.value_view(ns, "nope"))).missing


def test_delete_and_the_expression_round_trip() -> None:
    ns: dict[str, object] = {"a": 1, "b": None}
    assert json.loads(probe.delete(ns, "b")) == {"deleted": True} and "b" not in ns
    assert json.loads(probe.delete(ns, "b")) == {"deleted": False}
    # What the kernel evaluates: a short call, 'null' until the probe is installed (in
    # sys.modules, once per process); nothing lands in the user's namespace.
    user_ns: dict[str, object] = {"a": 1}
    expression = probe_call("namespace_view", "", 10, 80, 1000).replace(
        "__import__('IPython').get_ipython().user_ns", "user_ns")
    assert len(expression) < 300
    name = _module_name()
    sys.modules.pop(name, None)
    try:
        assert eval(expression, {"user_ns": user_ns}) == "null"  # what the kernel does
        exec(install_code(), {})
        exec(install_code(), {})  # once only: the second finds it there
        result = eval(expression, {"user_ns": user_ns})
    finally:
        sys.modules.pop(name, None)
    assert json.loads(result)["rows"] == [["a", "int", "", "1"]] and user_ns == {"a": 1}
    # What IPython sends back for it: the repr of the JSON text.
    reply = ExecuteReply("ok", 3, user_expressions={
        KEY: {"status": "ok", "data": {"text/plain": repr(result)}, "metadata": {}}})
    assert _expression_value(reply, "view")["total"] == 1


def test_spyder_view_made_rows() -> None:
    view = {f"n{i}": {"type": "int", "size": 1, "view": str(i)} for i in range(300)}
    view["arr"] = {"type": "Array of float64", "size": [3, 4], "view": "[[0. 0.]\n [0. 0.]]"}
    rows = view_from_spyder(view, "", limit=100)
    assert rows.total == 301 and rows.more == 201 and rows.via == "spyder"
    assert rows.variables[0].name == "arr"
    assert rows.variables[0].size == "(3, 4)" and rows.variables[0].value == "[[0. 0.] [0. 0.]]"
    assert view_from_spyder(view, "n1?").total == 10


def test_after_a_cell_the_reply_carries_the_view_or_a_refresh_is_due() -> None:
    """A cell's reply: the view (no request more); a failed cell's (no expression evaluated)
    or a restarted kernel's ('null': the probe is gone with the old process): one refresh."""
    views: list[NamespaceView] = []
    namespace = Namespace(cast(KernelSession, object()), spyder=False, on_view=views.append)
    assert namespace.cell_expressions() is None  # hidden: cells carry nothing
    namespace.on = True
    assert set(namespace.cell_expressions() or {}) == {KEY}

    def reply(text: str | None, status: str = "ok") -> ExecuteReply:
        expressions = {} if text is None else {
            KEY: {"status": "ok", "data": {"text/plain": repr(text)}, "metadata": {}}}
        return ExecuteReply(status, 4, user_expressions=expressions)  # type: ignore[arg-type]

    assert namespace.cell_ended(reply(probe.namespace_view({"a": 1}))) is False
    assert [v.name for v in views[-1].variables] == ["a"]
    assert namespace.cell_ended(reply(None, "error")) is True
    assert namespace.cell_ended(reply("null")) is True
    assert len(views) == 1
