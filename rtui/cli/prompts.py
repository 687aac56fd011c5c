"""Answering the core's questions on the terminal, one question at a time."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import sys
import threading

from rtui.core.ssh.prompts import (
    HostKeyDecision,
    HostKeyPrompt,
    KbdIntPrompt,
    NoPrompter,
    Prompter,
    SecretPrompt,
)

__all__ = ["TerminalPrompter", "ask_line", "terminal_prompter"]


class TerminalPrompter:
    """Prompts on the controlling terminal; a lock keeps concurrent hosts from interleaving."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    async def ask_secret(self, request: SecretPrompt) -> str | None:
        async with self._lock:
            try:
                return await asyncio.to_thread(getpass.getpass, request.prompt)
            except (EOFError, KeyboardInterrupt):
                return None

    async def ask_kbdint(self, request: KbdIntPrompt) -> list[str] | None:
        async with self._lock:
            return await asyncio.to_thread(self._kbdint, request)

    @staticmethod
    def _kbdint(request: KbdIntPrompt) -> list[str] | None:
        if request.name or request.instructions:
            print(f"{request.target}: {request.name} {request.instructions}".strip(),
                  file=sys.stderr)
        answers: list[str] = []
        try:
            for text, echo in request.prompts:
                answers.append(input(text) if echo else getpass.getpass(text))
        except (EOFError, KeyboardInterrupt):
            return None
        return answers

    async def confirm_host_key(self, request: HostKeyPrompt) -> HostKeyDecision:
        async with self._lock:
            return await asyncio.to_thread(self._confirm, request)

    @staticmethod
    def _confirm(request: HostKeyPrompt) -> HostKeyDecision:
        print(
            f"The authenticity of host {request.host} can't be established.\n"
            f"{request.key_type} key fingerprint is {request.fingerprint}.",
            file=sys.stderr,
        )
        try:
            answer = input("Trust it? [y]es and remember / [o]nce / [N]o: ").strip().lower()
        except (EOFError, KeyboardInterrupt):
            return HostKeyDecision.REFUSE
        if answer in ("y", "yes"):
            return HostKeyDecision.ACCEPT_REMEMBER
        if answer in ("o", "once"):
            return HostKeyDecision.ACCEPT_ONCE
        return HostKeyDecision.REFUSE


def terminal_prompter() -> Prompter:
    """Ask on the terminal when there is one; without a TTY every question is refused."""
    if sys.stdin.isatty():
        return TerminalPrompter()
    return NoPrompter()


async def ask_line(prompt: str, password: bool = False) -> str:
    """A line typed on this terminal, read in a daemon thread: ctrl+c while the question
    waits ends rtui at once (a thread of asyncio's executor would hold the exit until the
    person pressed Enter)."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()

    def settle(value: str | None, error: BaseException | None) -> None:
        if answer.done():
            return
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(value or "")

    def read() -> None:
        value, error = None, None
        try:
            value = _ask(prompt, password)
        except (OSError, EOFError, ValueError) as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=read, name="rtui-input", daemon=True).start()
    return await answer


def _ask(prompt: str, password: bool) -> str:
    if password and sys.stdin.isatty():
        return getpass.getpass(prompt)
    sys.stdout.write(prompt)
    sys.stdout.flush()
    line = sys.stdin.readline()
    return line.rstrip("\n")
