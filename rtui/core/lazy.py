"""Heavy modules imported in one background thread, each once, awaited from the event loop.

On the loop, importing asyncssh or jupyter_client freezes the screen for 0.1-0.9 s. Every
caller of a module awaits the same import: one that only checked ``sys.modules`` would see a
module still being imported in the thread and block the loop on its import lock.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from types import ModuleType

__all__ = ["import_off_loop"]

_lock = threading.Lock()
_imports: dict[str, Future[ModuleType]] = {}
_executor: ThreadPoolExecutor | None = None


async def import_off_loop(module: str) -> None:
    """Return once ``module`` is imported; the import runs in the background thread."""
    global _executor
    with _lock:
        future = _imports.get(module)
        if future is None:
            if module in sys.modules:
                return  # imported the usual way, and finished: the loop was there
            if _executor is None:
                # One thread: imports in parallel would only take turns on the GIL.
                _executor = ThreadPoolExecutor(1, thread_name_prefix="rtui-import")
            future = _imports[module] = _executor.submit(importlib.import_module, module)
    if future.done():  # the usual case after start-up: no loop turn
        future.result()  # what the import raised, if it did
        return
    await asyncio.wrap_future(future)
