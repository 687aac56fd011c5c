"""The one async interface through which the core asks a person for secrets and decisions.

The CLI answers on the terminal, the TUI with modal dialogs, tests with scripts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "HostKeyDecision",
    "HostKeyPrompt",
    "KbdIntPrompt",
    "KnownKeyRecord",
    "NoPrompter",
    "Prompter",
    "SecretPrompt",
]


class HostKeyDecision(enum.Enum):
    REFUSE = "refuse"
    ACCEPT_ONCE = "accept-once"
    ACCEPT_REMEMBER = "accept-remember"


@dataclass(frozen=True)
class KnownKeyRecord:
    """A key on record for a host, and where it is written."""

    key_type: str
    fingerprint: str
    file: str
    line: int


@dataclass(frozen=True)
class HostKeyPrompt:
    """An unknown host key, shown so a person can compare the fingerprint out of band."""

    host: str  # as known_hosts names it: ``host`` or ``[host]:port``
    key_type: str
    fingerprint: str  # ``SHA256:...``


@dataclass(frozen=True)
class SecretPrompt:
    """A password (``kind="password"``) or a key passphrase (``kind="passphrase"``)."""

    kind: str
    target: str  # ``user@host`` or the key file
    prompt: str


@dataclass(frozen=True)
class KbdIntPrompt:
    """One keyboard-interactive challenge: each prompt with whether the answer may echo."""

    target: str
    name: str
    instructions: str
    prompts: tuple[tuple[str, bool], ...]


class Prompter(Protocol):
    """Answers return ``None`` to cancel, which ends the attempt without retrying."""

    async def ask_secret(self, request: SecretPrompt) -> str | None: ...

    async def ask_kbdint(self, request: KbdIntPrompt) -> list[str] | None: ...

    async def confirm_host_key(self, request: HostKeyPrompt) -> HostKeyDecision: ...


class NoPrompter:
    """For runs without a person: every question is answered "no"."""

    async def ask_secret(self, request: SecretPrompt) -> str | None:
        return None

    async def ask_kbdint(self, request: KbdIntPrompt) -> list[str] | None:
        return None

    async def confirm_host_key(self, request: HostKeyPrompt) -> HostKeyDecision:
        return HostKeyDecision.REFUSE
