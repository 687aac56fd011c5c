"""Asking interpreters what they are (version, prefix, kernel packages), once per change.

Each interpreter runs ``ASK`` (any Python, even 2.7). Kernel packages are found by find_spec
of the package and of each package it imports at start, not imported: a real import of
ipykernel costs ~0.2 s of CPU per interpreter, and a probe runs on every check and before
every console; a broken install is still caught, with its traceback, when the kernel is
launched. Answers are cached on the host (``cache_dir()/probe-v2.json``) with the mtimes of
the interpreter and of its package directories: an install, an upgrade or a new interpreter
changes them and is asked again; a probe that finds nothing changed starts no interpreter.
"""

from __future__ import annotations

import json
import os
import threading

from .paths import cache_dir, private_dir, read_json, write_json
from .protocol import OpError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Answer = dict[str, Any] | OpError

CACHE_NAME = "probe-v2.json"
ASK = r"""
import json, os, sys
def v(dist, mods):
    try:
        from importlib.util import find_spec
        for m in mods:
            if find_spec(m) is None:
                return None
    except BaseException:
        return None
    try:
        from importlib.metadata import version
        return str(version(dist))
    except BaseException:
        return "unknown"
K = ("ipykernel", "IPython", "zmq", "jupyter_client", "traitlets", "tornado")
watch = [os.path.realpath(sys.executable)] + [p for p in sys.path if p and os.path.isdir(p)]
try:
    import site
    watch += list(site.getsitepackages()) + [site.getusersitepackages()]
except Exception:
    pass
print("RTUI-PROBE " + json.dumps({"version": "%d.%d.%d" % tuple(sys.version_info[:3]),
    "executable": sys.executable, "prefix": sys.prefix,
    "ipykernel": v("ipykernel", K),
    "spyder_kernels": v("spyder-kernels", ("spyder_kernels",) + K),
    "watch": sorted(set(watch))}))
"""

_cache_lock = threading.Lock()


def ask(python: str, timeout: float) -> dict[str, Any]:
    """Run ASK in ``python`` now; raise OpError(probe_failed) with a readable reason."""
    import subprocess  # here: a check that finds every answer cached starts no process

    try:
        proc = subprocess.run([python, "-c", ASK], capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd="/")
    except subprocess.TimeoutExpired:
        raise OpError("probe_failed", f"{python} did not answer within {timeout:g} s") from None
    except OSError as e:
        raise OpError("probe_failed", f"cannot run {python}: {e.strerror}") from None
    for line in reversed(proc.stdout.decode("utf-8", "replace").splitlines()):
        if line.startswith("RTUI-PROBE "):
            return json.loads(line[len("RTUI-PROBE "):])  # type: ignore[no-any-return]
    err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    raise OpError("probe_failed", f"{python} exited {proc.returncode}: "
                  + (err[-1] if err else "no output"))


def stamp(paths: list[str]) -> list[float | None]:
    """The mtimes of ``paths`` (None: missing): what a cached answer is valid for."""
    out: list[float | None] = []
    for path in paths:
        try:
            out.append(os.stat(path).st_mtime)
        except OSError:
            out.append(None)
    return out


def ask_all(pythons: list[str], timeout: float) -> dict[str, Answer]:
    """Each interpreter's answer (or why it gave none): cached while nothing it depends on
    changed, else asked, several at once."""
    path = os.path.join(cache_dir(), CACHE_NAME)
    with _cache_lock:
        cache = read_json(path)
    cache = cache if isinstance(cache, dict) else {}
    answers: dict[str, Answer] = {}
    stale = []
    for python in pythons:
        entry = cache.get(python)
        if (isinstance(entry, dict) and isinstance(entry.get("watch"), list)
                and entry.get("stamp") == stamp([python, *entry["watch"]])):
            answers[python] = entry
        elif python not in stale:
            stale.append(python)
    if not stale:
        return answers

    def one(python: str) -> Answer:
        try:
            return ask(python, timeout)
        except OpError as e:
            return e

    if len(stale) == 1:
        fresh = [one(stale[0])]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(stale))) as pool:
            fresh = list(pool.map(one, stale))
    for index, python in enumerate(stale):  # (zip's strict= is not in Python 3.8)
        answer = answers[python] = fresh[index]
        if isinstance(answer, dict):
            cache[python] = dict(answer, stamp=stamp([python, *answer["watch"]]))
    try:
        with _cache_lock:
            write_json(os.path.join(private_dir(cache_dir()), CACHE_NAME), cache)
    except OSError:
        pass  # a read-only or full home: asked again next time
    return answers
