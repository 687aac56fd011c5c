"""Servers one per run (the JupyterHub, the TLS jupyter_server), started as the run begins.

Their tests are in one xdist group each (tests/conftest.py), so one worker uses each; which
one is not known when the run begins. So under xdist the controller starts them, as soon as
a worker's collection holds a test that uses one (the worker notes it in the run's shared
directory while it collects), writes what the fixtures need in ``KIND.json`` (0600: tokens)
there, and stops them by PID when the run ends. In a run without xdist this process starts
them at collection and stops them at the end. Either way their start-up overlaps the tests
that run first; the fixture waits for an answer at first use.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from tests.harness.jupyter import pid_alive, start_tls_server
from tests.harness.jupyterhub import start_hub

__all__ = ["configure", "described", "start_wanted", "stop_all", "want"]


class RunWideProcess(Protocol):
    def describe(self) -> dict[str, Any]: ...
    def stop(self) -> None: ...


# The fixture each kind serves, and how to start it.
STARTERS: dict[str, tuple[str, Callable[[], RunWideProcess]]] = {
    "hub": ("jupyterhub", start_hub),
    "tls": ("jupyter_tls_server", start_tls_server),
}
_shared: Path | None = None  # the run's shared directory under xdist (tests/conftest.py)
_started: dict[str, RunWideProcess] = {}  # started by this process


def configure(shared: Path | None) -> None:
    global _shared
    _shared = shared


def fixtures_used(items_fixturenames: set[str]) -> set[str]:
    """The kinds whose fixture is among the names the collected tests use."""
    return {kind for kind, (fixture, _) in STARTERS.items() if fixture in items_fixturenames}


def want(kinds: set[str]) -> None:
    """At collection: under xdist note the kinds for the controller, else start them now."""
    for kind in kinds:
        if _shared is not None:
            (_shared / f"want-{kind}").touch()
        else:
            _start(kind)


def start_wanted() -> None:
    """The xdist controller, once a worker has collected: start what a worker noted."""
    if _shared is None:
        return
    for kind in STARTERS:
        if kind not in _started and (_shared / f"want-{kind}").exists():
            _start(kind)


def _start(kind: str) -> None:
    if kind in _started:
        return
    server = _started[kind] = STARTERS[kind][1]()
    if _shared is not None:
        target = _shared / f"{kind}.json"
        partial = target.with_suffix(".part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(server.describe(), handle)
        partial.replace(target)


def described(kind: str, timeout: float = 30.0) -> tuple[dict[str, Any], Callable[[], bool]]:
    """What the fixture of ``kind`` needs, and whether the server still runs: from this
    process's own start, or the controller's ``KIND.json`` (written as the run began);
    started now when nobody started it (a test run some other way)."""
    if kind not in _started and _shared is not None:
        path = _shared / f"{kind}.json"
        deadline = time.monotonic() + timeout
        while not path.exists() and (_shared / f"want-{kind}").exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the xdist controller wrote no {path} in {timeout:g} s")
            time.sleep(0.05)
        if path.exists():
            found: dict[str, Any] = json.loads(path.read_text())
            return found, lambda: pid_alive(int(found["pid"]))
    _start(kind)
    mine = _started[kind].describe()
    return mine, lambda: pid_alive(int(mine["pid"]))


def stop_all() -> None:
    """Stop what this process started (the controller's, or a run's without xdist)."""
    while _started:
        _, server = _started.popitem()
        server.stop()
