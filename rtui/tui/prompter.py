"""The core's Prompter answered with modal screens, one question at a time."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.app import App
from textual.screen import Screen

from rtui.core.ssh.prompts import HostKeyDecision, HostKeyPrompt, KbdIntPrompt, SecretPrompt
from rtui.tui.screens.prompts import HostKeyScreen, KbdIntScreen, TextPromptScreen

__all__ = ["TuiPrompter", "ask"]


async def ask(app: App[Any], screen: Screen[Any]) -> Any:
    """Show ``screen`` and wait for what it is dismissed with (callable from any task)."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def done(result: Any) -> None:
        if not future.done():
            future.set_result(result)

    app.push_screen(screen, callback=done)
    return await future


class TuiPrompter:
    """Prompts from several hosts queue up instead of stacking dialogs on each other."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self._lock = asyncio.Lock()

    async def ask_secret(self, request: SecretPrompt) -> str | None:
        title = ("Password" if request.kind == "password" else "Key passphrase")
        async with self._lock:
            answer = await ask(self.app, TextPromptScreen(
                f"{title} for {request.target}", request.prompt, password=True))
        return answer if isinstance(answer, str) else None

    async def ask_kbdint(self, request: KbdIntPrompt) -> list[str] | None:
        async with self._lock:
            answer = await ask(self.app, KbdIntScreen(request))
        return answer if isinstance(answer, list) else None

    async def confirm_host_key(self, request: HostKeyPrompt) -> HostKeyDecision:
        async with self._lock:
            answer = await ask(self.app, HostKeyScreen(request))
        return answer if isinstance(answer, HostKeyDecision) else HostKeyDecision.REFUSE
