"""Which Python a new kernel runs in: one rule, a pure function returning a decision.

The TUI renders :class:`Ask` as the environment picker and :class:`SetUp` as its confirm and
progress dialogs; the CLI renders them as flags (``--env``) and set-up with progress lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # plain records here; their modules load asyncssh
    from rtui.core.config.model import Host
    from rtui.core.kernels.service import Environment
    from rtui.core.ssh.check import HostStatus

__all__ = [
    "Ask",
    "EnvironmentDecision",
    "ListEnvironments",
    "Run",
    "SetUp",
    "choose_environment",
    "ready_python",
]


@dataclass(frozen=True)
class Run:
    """Start the kernel in ``python`` without asking."""

    python: str


@dataclass(frozen=True)
class Ask:
    """Let the person choose among ``options`` (the best first); ``can_remember``: the
    choice may be saved as the host's ``python`` (not for a host of this run only)."""

    options: tuple[Environment, ...]
    can_remember: bool


@dataclass(frozen=True)
class SetUp:
    """No Python there can run the kernel: offer to create rtui's own environment."""


@dataclass(frozen=True)
class ListEnvironments:
    """The rule needs the host's environments (``refresh``: probed again, not the ones
    known): list them and ask again."""

    refresh: bool


EnvironmentDecision = Run | Ask | SetUp


def ready_python(host: Host | None, status: HostStatus | None) -> str | None:
    """The host's configured Python once its last check found ipykernel in it (the
    interpreter the check found for it: ``~/…`` or an environment's directory name one)."""
    python = host.configured_python if host else None
    if python is None or status is None:
        return None
    return next((p.path for p in status.pythons
                 if p.ipykernel and (p.path == python or python in p.given)), None)


def choose_environment(
    host: Host | None,
    status: HostStatus | None,
    envs: Sequence[Environment] | None,
    session_choice: str | None,
    *,
    pick: bool,
    can_remember: bool = True,
    spyder: bool = False,
) -> EnvironmentDecision | ListEnvironments:
    """Straight to a known Python: the one chosen earlier in this session, else the host's
    configured one once its check found ipykernel there. Otherwise, among the environments
    that can run the kernel: ask when there are several (or always, with ``pick``), take the
    only one, set one up when there is none. ``envs`` None: not listed yet."""
    if not pick:
        if session_choice:
            return Run(session_choice)
        known = ready_python(host, status)
        if known is not None:
            return Run(known)
    if envs is None:
        return ListEnvironments(refresh=pick)
    usable = [e for e in envs if e.can_run(spyder)]
    if host is not None and host.configured_python:
        usable.sort(key=lambda e: e.kind != "configured")  # stable: the agent's order otherwise
    if len(usable) > 1 or (usable and pick):
        return Ask(tuple(usable), can_remember)
    if usable:
        return Run(usable[0].python)
    return SetUp()
