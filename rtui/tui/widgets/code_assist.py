"""What the console's editor asks a kernel, and the bound on every such wait.

The questions (is this cell complete, complete this name, help on this name) are what the
console pane answers from its kernel session; a wait that times out or fails is no answer,
and the editor goes on without one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Protocol, TypeVar

__all__ = ["CodeAssist", "ask_within"]

_T = TypeVar("_T")


class CodeAssist(Protocol):
    """What the editor needs from a kernel (``is_complete``/``complete``/``inspect`` requests)."""

    async def is_complete(self, code: str) -> tuple[str, str]:
        """``(status, indent)``: status is complete, incomplete, invalid or unknown."""
        ...

    async def complete(self, code: str, cursor_pos: int) -> tuple[list[str], int, int]:
        """``(matches, cursor_start, cursor_end)``, offsets into ``code``."""
        ...

    async def inspect(self, code: str, cursor_pos: int) -> str | None:
        """Help for the name at ``cursor_pos`` (plain or ANSI text), None if not found."""
        ...


async def ask_within(call: Awaitable[_T], timeout: float) -> tuple[bool, _T | None]:
    """Await a kernel answer: ``(False, None)`` on timeout or any failure."""
    try:
        return True, await asyncio.wait_for(call, timeout)
    except asyncio.CancelledError:
        raise
    except Exception:  # whatever the kernel link raised (busy, dead), the editor goes on
        return False, None
