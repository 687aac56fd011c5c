"""The variables of one console's kernel: rows of name, type, size or shape and a short value.

Two ways, one result:

- any ipykernel: :mod:`namespace_probe`, installed in the kernel's sys.modules by the first
  silent request of the pane's own (its code, ~9 KB, goes with those only), then called by a
  short ``user_expression`` (~170 bytes) on the cell's own execute_request: zero extra round
  trips, the view comes in the reply. One silent request (one round trip) when shown, after
  a failed cell, after a restart (the probe went with the old process), for a delete;
- spyder-kernels: their own comm (``spyder_api``); once its settings are set, the kernel
  pushes the view after every cell by itself. If it stays silent (an old kernel, a restart
  closed the comm) the console falls back to the first way.

Both are bounded: the first ``limit`` names that match a filter, with the count of all; each
value cut to a line; the kernel's reply cut in size (the probe's; Spyder's view is the
kernel's own, cut here).
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from rtui.core.errors import KernelError
from rtui.core.kernels import namespace_probe
from rtui.core.kernels.events import ExecuteReply
from rtui.core.kernels.execution import Execution
from rtui.core.kernels.namespace_probe import _matches
from rtui.core.kernels.session import KernelSession
from rtui.core.kernels.spyder_comm import NAMESPACE_SETTINGS, SpyderComm

__all__ = ["Namespace", "NamespaceView", "ValueView", "Variable", "install_code", "probe_call"]

log = logging.getLogger(__name__)

LIMIT = 200
"""Rows in a view: the first names (by name) that match the filter; the rest are counted."""
VALUE_CHARS = 80
REPLY_CHARS = 65_536
WAIT = 10.0
"""Seconds to wait for the kernel (a running cell holds its shell until it ends)."""
KEY = "rtui_namespace"
"""The name of rtui's user_expression in a cell's request (replies are per request)."""


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    type: str
    size: str
    """Its shape (``(3, 4)``) or length, or empty."""
    value: str
    """One line, cut."""


@dataclass(frozen=True, slots=True)
class NamespaceView:
    """The rows of a view and how many names matched in all (``more`` were left out)."""

    variables: tuple[Variable, ...]
    total: int
    pattern: str = ""
    via: str = "ipykernel"

    @property
    def more(self) -> int:
        return max(self.total - len(self.variables), 0)


@dataclass(frozen=True, slots=True)
class ValueView:
    """One value: a table (arrays, frames: the first rows and columns) or its text."""

    name: str
    type: str = ""
    size: str = ""
    text: str | None = None
    cut: bool = False
    """The text was cut (a huge repr)."""
    columns: tuple[str, ...] = ()
    index: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = field(default_factory=tuple)
    note: str = ""
    missing: bool = False


@cache
def _probe_source() -> str:
    return Path(namespace_probe.__file__).read_text(encoding="utf-8")


@cache
def _module_name() -> str:
    """The probe's name in the kernel's sys.modules: one per version of its code."""
    digest = hashlib.sha1(_probe_source().encode(), usedforsecurity=False).hexdigest()
    return f"_rtui_probe_{digest[:12]}"


def install_code() -> str:
    """Silent code that puts the probe in the kernel's sys.modules, once per kernel process
    (a module of its own: no name lands in the user's namespace). Sent with the requests of
    the pane's own, never with a cell: a cell carries only a short call (``probe_call``)."""
    name = _module_name()
    return (f"(lambda s, t: s.modules.get({name!r}) or (s.modules.__setitem__({name!r}, "
            f"t.ModuleType({name!r})), exec({_probe_source()!r}, "
            f"s.modules[{name!r}].__dict__)))(__import__('sys'), __import__('types'))")


def probe_call(function: str, *args: object) -> str:
    """An expression that runs ``namespace_probe.<function>(user_ns, *args)`` in the kernel;
    ``'null'`` where the probe is not installed (a kernel process that never had it, or a
    restarted one): the view then comes by a request that installs it first."""
    arguments = "".join(f", {arg!r}" for arg in args)
    if function == "delete":
        arguments += ", __import__('IPython').get_ipython()"
    return (f"(lambda m: m.{function}(__import__('IPython').get_ipython().user_ns{arguments})"
            f" if m else 'null')(__import__('sys').modules.get({_module_name()!r}))")


def _expression_value(reply: ExecuteReply, what: str) -> Any:
    """The JSON the probe returned, from the reply's user_expression (its repr, as text)."""
    result = reply.user_expressions.get(KEY)
    if not isinstance(result, dict):
        raise KernelError(f"the kernel sent no {what} (its reply was {reply.status})")
    if result.get("status") != "ok":
        raise KernelError(f"the {what} failed in the kernel: {result.get('ename', 'error')}: "
                          f"{result.get('evalue', '')}")
    text = (result.get("data") or {}).get("text/plain", "")
    try:
        return json.loads(ast.literal_eval(text))
    except (ValueError, SyntaxError, TypeError) as exc:
        raise KernelError(f"the kernel's {what} is not readable: {exc}") from None


def _view_from_probe(data: dict[str, Any], pattern: str) -> NamespaceView:
    rows = tuple(Variable(*(str(x) for x in row[:4])) for row in data.get("rows") or ())
    return NamespaceView(rows, int(data.get("total", len(rows))), pattern, "ipykernel")


def _one_line(text: str, chars: int = VALUE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1] + "…"


def view_from_spyder(view: dict[str, Any], pattern: str = "", limit: int = LIMIT) -> NamespaceView:
    """Spyder's namespace view (name → type, size, view) as rows: filtered, the first
    ``limit`` by name, each value on one cut line."""
    names = sorted((n for n in view if _matches(n, pattern)), key=lambda n: (n.lower(), n))
    rows = []
    for name in names[:limit]:
        entry = view[name] if isinstance(view[name], dict) else {}
        size = entry.get("size", "")
        shown = str(tuple(size)) if isinstance(size, list) else str(size)
        rows.append(Variable(name, str(entry.get("type", "")), shown,
                             _one_line(str(entry.get("view", "")))))
    return NamespaceView(tuple(rows), len(names), pattern, "spyder")


def value_from_probe(data: dict[str, Any]) -> ValueView:
    name = str(data.get("name", ""))
    if data.get("missing"):
        return ValueView(name, missing=True)
    table = data.get("table")
    kind, size = str(data.get("type", "")), str(data.get("size", ""))
    note = str(data.get("note") or "")
    if isinstance(table, dict):
        return ValueView(
            name, kind, size, columns=tuple(str(c) for c in table.get("columns") or ()),
            index=tuple(str(i) for i in table.get("index") or ()),
            rows=tuple(tuple(str(x) for x in row) for row in table.get("rows") or ()),
            note=str(table.get("note") or note))
    return ValueView(name, kind, size, text=str(data.get("text", "")),
                     cut=bool(data.get("cut")), note=note)


class Namespace:
    """The variables view of one kernel, kept fresh after each cell while it is on.

    The console asks :meth:`cell_expressions` for each cell it sends and hands each cell's
    end to :meth:`cell_ended`; ``on_view`` gets every new view (on the session's loop).
    ``spyder`` None: not known (an attached kernel rtui did not start); the kernel_info
    asked when first shown tells.
    """

    def __init__(self, session: KernelSession, *, spyder: bool | None,
                 on_view: Callable[[NamespaceView], None], limit: int = LIMIT) -> None:
        self.session = session
        self.spyder = spyder
        self.limit = limit
        self.pattern = ""
        self.on = False
        self.view: NamespaceView | None = None
        self.last_spyder: dict[str, Any] | None = None
        self._on_view = on_view
        self._comm: SpyderComm | None = None
        self._states_seen = 0

    @property
    def via(self) -> str:
        """How views come now: "spyder" (its comm) or "ipykernel" (the probe)."""
        return "spyder" if self._comm is not None else "ipykernel"

    def _publish(self, view: NamespaceView) -> None:
        self.view = view
        self._on_view(view)

    # -- on and off --------------------------------------------------------------------------

    async def show(self, timeout: float = WAIT) -> NamespaceView:
        """Turn the view on and fetch it now (spyder: open its comm; else one silent request)."""
        self.on = True
        if self.spyder is None:  # not known (a kernel rtui did not start): its kernel_info says
            try:
                info = await self.session.kernel_info(timeout=timeout)
            except KernelError as exc:
                log.info("%s: no kernel_info (%s); using the probe", self.session.name, exc)
                info = {}
            self.spyder = "spyder_kernels_info" in info
        if self.spyder and self._comm is None:
            comm = SpyderComm(self.session, self._on_spyder_state)
            try:
                comm.open()
                self._comm = comm
                await comm.call("set_configuration",
                                {"namespace_view_settings": NAMESPACE_SETTINGS}, timeout=timeout)
                view = await comm.call("get_namespace_view", timeout=timeout)
            except KernelError as exc:
                log.info("%s: spyder's comm failed (%s); using the probe", self.session.name, exc)
                self._drop_comm()
            else:
                self._states_seen = comm.states
                self.last_spyder = view if isinstance(view, dict) else {}
                self._publish(view_from_spyder(self.last_spyder, self.pattern, self.limit))
                assert self.view is not None
                return self.view
        elif self._comm is not None:
            self._comm.send("set_configuration", {"namespace_view_settings": NAMESPACE_SETTINGS})
        return await self.refresh(timeout)

    def hide(self) -> None:
        """Off: cells carry nothing more, a spyder kernel stops making views (no wait)."""
        self.on = False
        if self._comm is not None:
            try:
                self._comm.send("set_configuration", {"namespace_view_settings": {}})
            except KernelError:
                self._drop_comm()

    def close(self) -> None:
        self.on = False
        self._drop_comm()

    def _drop_comm(self) -> None:
        comm, self._comm = self._comm, None
        if comm is not None:
            comm.close()

    async def set_pattern(self, pattern: str, timeout: float = WAIT) -> NamespaceView:
        """Filter by ``pattern`` (a substring, or a glob such as ``df*``): spyder's last view
        filtered here; else the kernel is asked (the filter bounds what it sends)."""
        self.pattern = pattern
        if self._comm is not None and self.last_spyder is not None:
            self._publish(view_from_spyder(self.last_spyder, pattern, self.limit))
            assert self.view is not None
            return self.view
        return await self.refresh(timeout)

    # -- after each cell ---------------------------------------------------------------------

    def cell_expressions(self) -> dict[str, str] | None:
        """What the next cell's request carries: the probe's view while on (ipykernel way)."""
        if not self.on or self._comm is not None:
            return None
        return {KEY: self._view_expression()}

    def cell_ended(self, reply: ExecuteReply) -> bool:
        """A cell of this console ended: take the view its reply carries. True: none came
        (the cell failed, or a spyder kernel pushed nothing), so one :meth:`refresh` is due."""
        if not self.on:
            return False
        comm = self._comm
        if comm is not None:
            if comm.states > self._states_seen:
                self._states_seen = comm.states
                return False
            log.info("%s: spyder's comm pushed no view; using the probe", self.session.name)
            self._drop_comm()
            return True
        if KEY not in reply.user_expressions:
            return True  # a failed cell: the kernel evaluates no expression then
        try:
            data = _expression_value(reply, "namespace view")
        except KernelError as exc:
            log.warning("%s: %s", self.session.name, exc)
            return False
        if data is None:
            return True  # a new kernel process (a restart): the probe is installed again
        self._publish(_view_from_probe(data, self.pattern))
        return False

    def _on_spyder_state(self, state: dict[str, Any]) -> None:
        view = state.get("namespace_view")
        if not self.on or not isinstance(view, dict):
            return  # settings off: the kernel says None
        self.last_spyder = view
        self._publish(view_from_spyder(view, self.pattern, self.limit))

    # -- requests of their own (one round trip each) -----------------------------------------

    def _view_expression(self) -> str:
        return probe_call("namespace_view", self.pattern, self.limit, VALUE_CHARS, REPLY_CHARS)

    def _send(self, expression: str) -> Execution:
        """A silent request that installs the probe if need be, then evaluates ``expression``."""
        return self.session.execute(install_code(), silent=True, store_history=False,
                                    allow_stdin=False, user_expressions={KEY: expression})

    async def _silent(self, expression: str, what: str, timeout: float,
                      sent: Execution | None = None) -> Any:
        """One silent request carrying ``expression`` (``sent``: already on its way); its
        JSON value. The wait is bounded; a request the kernel aborted (it does, right after
        a failed cell) is sent once more."""
        execution = sent or self._send(expression)
        for attempt in range(2):
            try:
                async with asyncio.timeout(timeout):
                    reply = await execution.reply()
            except TimeoutError:
                raise KernelError(f"{self.session.name}: no {what} within {timeout:g} s: the "
                                  "kernel is busy (a cell still running?)") from None
            if reply.status != "aborted":
                value = _expression_value(reply, what)
                if value is None:
                    raise KernelError(f"{self.session.name}: the kernel could not load rtui's "
                                      f"namespace probe for the {what}")
                return value
            if attempt == 0:
                await asyncio.sleep(0.05)
                execution = self._send(expression)
        raise KernelError(f"{self.session.name}: the kernel refused the {what} request twice")

    async def refresh(self, timeout: float = WAIT) -> NamespaceView:
        """The view now, by one request of its own."""
        comm = self._comm
        if comm is not None:
            view = await comm.call("get_namespace_view", timeout=timeout)
            self.last_spyder = view if isinstance(view, dict) else {}
            self._publish(view_from_spyder(self.last_spyder, self.pattern, self.limit))
        else:
            data = await self._silent(self._view_expression(), "namespace view", timeout)
            self._publish(_view_from_probe(data, self.pattern))
        assert self.view is not None
        return self.view

    async def value(self, name: str, *, rows: int = 100, cols: int = 20,
                    timeout: float = WAIT) -> ValueView:
        """One value to look at: arrays and frames as a table, else its repr (cut)."""
        data = await self._silent(probe_call("value_view", name, rows, cols), "value", timeout)
        return value_from_probe(data)

    async def delete(self, name: str, timeout: float = WAIT) -> NamespaceView:
        """Delete ``name`` from the kernel's namespace; the view after it (one round trip:
        the new view is asked for right behind the delete)."""
        comm = self._comm
        if comm is not None:
            _, view = await asyncio.gather(
                comm.call("remove_value", name, timeout=timeout),
                comm.call("get_namespace_view", timeout=timeout))
            self.last_spyder = view if isinstance(view, dict) else {}
            self._publish(view_from_spyder(self.last_spyder, self.pattern, self.limit))
        else:
            # Both at once: shell runs them in order, so the view is the one after the delete.
            deleted = self._send(probe_call("delete", name))
            listed = self._send(self._view_expression())
            await self._silent(probe_call("delete", name), "delete", timeout, deleted)
            data = await self._silent(self._view_expression(), "namespace view", timeout, listed)
            self._publish(_view_from_probe(data, self.pattern))
        assert self.view is not None
        return self.view
