"""A connection's states and the change events, without asyncssh (the UI imports these)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["ConnState", "StateChange"]


class ConnState(enum.StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    LOST = "lost"
    RECONNECTING = "reconnecting"
    FAILED = "failed"


@dataclass(frozen=True)
class StateChange:
    """One transition, as every listener sees it."""

    host: str
    state: ConnState
    previous: ConnState
    reason: str | None = None
    attempt: int = 0  # reconnect attempt number, from 1
    retry_in: float | None = None  # seconds until the next attempt
    generation: int = 0  # counts successful connects; a new value means "re-establish"
