"""The agent's protocol: JSON lines on stdin/stdout, each request answered in its own thread.

- request  ``{"id": N, "op": "name", "args": {...}}``
- reply    ``{"id": N, "ok": true, "result": {...}}`` or
           ``{"id": N, "ok": false, "error": {"type": "snake_case", "message": "..."}}``
- progress ``{"id": N, "event": "progress", "data": {"line": "...", "fraction": 0.0-1.0|null}}``
- rows     ``{"id": N, "event": "rows", "data": [row, ...]}`` (a listing streamed in batches)
- ``cancel {"target": N}`` sets request N's cancelled flag; an op that polls it answers
  error type ``cancelled``.
- on start ``{"event": "ready", "data": <hello result>}``; EOF on stdin exits 0.
- a request line is at most ``MAX_REQUEST`` bytes: a longer one is answered ``bad_request``
  (with its id when its head names one) and skipped to its end, unparsed.

The agent leaves by ``leave`` (``os._exit``: running requests are not waited for), which runs
the hooks given to ``on_exit`` first (the probe socket is removed so), also on SIGTERM/SIGHUP.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import signal
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # not imported at run time: the host check loads this module too
    from collections.abc import Callable
    from typing import Any, NoReturn, Protocol

    class Progress(Protocol):
        """Where a long request reports a line of progress (and how far along it is), streams
        rows, and learns whether its caller has cancelled it."""

        def __call__(self, line: str, fraction: float | None = None,
                     **extra: Any) -> None: ...

        def rows(self, batch: list[Any]) -> None: ...

        def cancelled(self) -> bool: ...

        def check(self) -> None: ...

    Op = Callable[[dict[str, Any], Progress], dict[str, Any]]

VERSION = "1"
MAX_REQUEST = 8 << 20
"""Bytes in one request line: far above any request rtui writes (a removal of 50,000 paths),
and the most a line makes the agent hold (a runaway writer cannot exhaust its memory)."""
_HEAD_ID = re.compile(rb'\s*\{\s*"id"\s*:\s*(-?[0-9]{1,18})\s*[,}]')

_out_lock = threading.Lock()
_REQUIRED = object()
_exit_hooks: list[Callable[[], None]] = []
# Each running request's cancelled flag, by id. ``cancel`` may come first (its thread can
# start before the target's has registered): it then leaves the flag set for it.
_cancels: dict[Any, threading.Event] = {}
_cancels_lock = threading.Lock()


def on_exit(hook: Callable[[], None]) -> None:
    """Run ``hook`` when the agent leaves (atexit would not: it leaves by ``os._exit``)."""
    _exit_hooks.append(hook)


def leave(code: int = 0) -> NoReturn:
    """Run the exit hooks, then end the process at once."""
    while _exit_hooks:
        try:
            _exit_hooks.pop()()
        except Exception:
            pass
    os._exit(code)


def _on_signal(signum: int, frame: Any) -> None:
    leave(128 + signum)


class OpError(Exception):
    """An expected failure, reported to the caller as ``{"type", "message"}``."""

    def __init__(self, type_: str, message: str) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message


def send(obj: dict[str, Any]) -> None:
    """Write one JSON line; a closed channel ends the agent (nobody is left to answer)."""
    line = json.dumps(obj, default=str) + "\n"
    with _out_lock:
        try:
            sys.stdout.write(line)
            sys.stdout.flush()
        except (OSError, ValueError):  # the SSH channel is gone
            leave(0)


_KIND_NAMES = {str: "a string", list: "a list", dict: "an object", bool: "a boolean",
               int: "a whole number"}
_PLURALS = {str: "strings without a NUL character", dict: "objects", int: "whole numbers"}


def _kind_name(kind: Any) -> str:
    if isinstance(kind, tuple):
        if set(kind) == {int, float}:
            return "a number"
        return " or ".join(_kind_name(k) for k in kind)
    return _KIND_NAMES.get(kind, "a number")


def _is(value: Any, kind: Any) -> bool:
    """``isinstance`` where a boolean is no number, a number is finite and a string holds no
    NUL (no path or command takes one: the OS would refuse it with a traceback's words)."""
    if isinstance(value, bool):
        return kind is bool or (isinstance(kind, tuple) and bool in kind)
    if not isinstance(value, kind):
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int):
        return abs(value) < 1 << 63
    if isinstance(value, str):
        return "\x00" not in value
    return True


def arg(args: dict[str, Any], name: str, kind: Any, default: Any = _REQUIRED,
        of: Any = None) -> Any:
    """Argument ``name`` of type ``kind`` (a list's items of type ``of``); ``bad_args`` when
    missing (and required) or wrong. Numbers are finite (and fit in 64 bits), strings hold no
    NUL; the message names the argument, never its value (it may be a key)."""
    value = args.get(name)
    if value is None:
        if default is _REQUIRED:
            raise OpError("bad_args", f"missing argument {name!r}")
        return default
    if not _is(value, kind):
        extra = ""
        if isinstance(value, str) and isinstance(value, kind):
            extra = " without a NUL character"
        elif (isinstance(value, (int, float)) and not isinstance(value, bool)
              and isinstance(value, kind)):
            extra = " (finite, within 64 bits)"
        raise OpError("bad_args", f"argument {name!r} must be {_kind_name(kind)}{extra}")
    if of is not None and isinstance(value, list) and not all(_is(v, of) for v in value):
        raise OpError("bad_args", f"argument {name!r} must be a list of "
                      f"{_PLURALS.get(of, 'numbers')}")
    return value


def _flag(rid: Any) -> threading.Event:
    with _cancels_lock:
        return _cancels.setdefault(rid, threading.Event())


class Reporter:
    """What an op gets as ``progress``: progress lines, rows events and its cancelled flag."""

    def __init__(self, rid: Any) -> None:
        self.rid = rid
        self.flag = _flag(rid)

    def __call__(self, line: str, fraction: float | None = None, **extra: Any) -> None:
        """A progress event; ``extra`` adds fields to its data (slurm_wait's ``job``)."""
        send({"id": self.rid, "event": "progress",
              "data": {"line": line, "fraction": fraction, **extra}})

    def rows(self, batch: list[Any]) -> None:
        send({"id": self.rid, "event": "rows", "data": batch})

    def cancelled(self) -> bool:
        return self.flag.is_set()

    def check(self) -> None:
        """Raise ``cancelled`` when the caller has cancelled this request."""
        if self.flag.is_set():
            raise OpError("cancelled", "cancelled by the caller")


def op_cancel(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Set request ``target``'s cancelled flag; ``running``: it had started (or was coming)."""
    target = arg(args, "target", (int, str))
    with _cancels_lock:
        running = target in _cancels
    _flag(target).set()
    return {"running": running}


def _request_id(req: dict[str, Any]) -> Any:
    """The request's id: a string, a whole number (or none). Anything else (a list is not
    hashable, NaN never equals itself) would break the cancel table: refused, unattributed."""
    rid = req.get("id")
    if rid is None or isinstance(rid, str) or (
            isinstance(rid, int) and not isinstance(rid, bool)):
        return rid
    raise OpError("bad_request", "a request's id must be a string or a whole number")


_OS_ERRORS = {
    errno.ENOSPC: ("disk_full", "the host's disk is full"),
    errno.EDQUOT: ("disk_full", "the disk quota on the host is used up"),
    errno.EROFS: ("permission", "the host's file system is read-only"),
    errno.EACCES: ("permission", "permission denied on the host"),
    errno.EPERM: ("permission", "operation not permitted on the host"),
}


def os_error_words(e: OSError) -> tuple[str, str]:
    """(type, message) of an OSError no op foresaw, for a person: what went wrong on the
    host and where, not Python's repr of it; a full disk says what to do."""
    kind, words = _OS_ERRORS.get(e.errno or 0, ("io", f"{e.strerror or e} on the host"))
    where = f": {e.filename}" if e.filename else ""
    fix = "; free some space there" if kind == "disk_full" else ""
    return kind, f"{words}{where}{fix}"


def handle(raw: bytes, ops: dict[str, Op]) -> None:
    """Answer one request line: its result, or its error as a typed reply."""
    rid = None
    try:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise OpError("bad_request", "the request line is not UTF-8 (a bad byte at "
                          f"offset {e.start})") from None
        try:
            req = json.loads(text)
        except ValueError as e:
            raise OpError("bad_request", f"not a JSON line: {e}") from None
        except RecursionError:
            raise OpError("bad_request", "a request nested too deep to read") from None
        if not isinstance(req, dict):
            raise OpError("bad_request", "a request must be a JSON object")
        rid = _request_id(req)
        op = req.get("op")
        args = req.get("args") or {}
        if not isinstance(args, dict):
            raise OpError("bad_args", "args must be a JSON object")
        fn = ops.get(op) if isinstance(op, str) else None
        if fn is None:
            shown = repr(op)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            raise OpError("unknown_op", f"unknown op {shown}; known: {', '.join(sorted(ops))}")

        reporter = Reporter(rid)
        try:
            result = fn(args, reporter)
        finally:
            with _cancels_lock:
                _cancels.pop(rid, None)
        send({"id": rid, "ok": True, "result": result})
    except OpError as e:
        send({"id": rid, "ok": False, "error": {"type": e.type, "message": e.message}})
    except OSError as e:  # not foreseen by the op: a full or read-only home under a launch...
        kind, words = os_error_words(e)
        send({"id": rid, "ok": False, "error": {"type": kind, "message": words}})
    except Exception as e:
        msg = f"{type(e).__name__}: {e}".replace("\n", " ")
        send({"id": rid, "ok": False, "error": {"type": "internal", "message": msg}})


def _too_long(head: bytes) -> None:
    """Answer a request line over ``MAX_REQUEST`` (by the id its head names, if it does)."""
    found = _HEAD_ID.match(head)
    send({"id": int(found.group(1)) if found else None, "ok": False,
          "error": {"type": "bad_request", "message": (
              f"a request line over {MAX_REQUEST >> 20} MiB ({MAX_REQUEST:,} bytes, the "
              "agent's limit); dropped")}})


def serve(ops: dict[str, Op], hello: dict[str, Any]) -> None:
    """Greet, then answer each request line in its own thread until stdin ends."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    send({"event": "ready", "data": hello})
    stdin = sys.stdin.buffer
    while True:
        raw = stdin.readline(MAX_REQUEST + 1)
        if not raw:
            break
        if len(raw) > MAX_REQUEST:
            _too_long(raw[:100])
            while raw and not raw.endswith(b"\n"):  # the rest of it, never held whole
                raw = stdin.readline(MAX_REQUEST)
            continue
        if raw.strip():
            threading.Thread(target=handle, args=(raw, ops), daemon=True).start()
    with _out_lock:
        sys.stdout.flush()
    leave(0)  # do not wait for running requests; kernels are detached anyway
