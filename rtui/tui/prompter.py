"""The core's Prompter answered with modal screens, one question at a time."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from textual.app import App
from textual.screen import Screen

from rtui.core.config.model import Host
from rtui.core.ssh.prompts import HostKeyDecision, HostKeyPrompt, KbdIntPrompt, SecretPrompt
from rtui.tui.screens.prompts import HostKeyScreen, KbdIntScreen, TextPromptScreen

__all__ = ["TuiPrompter", "ask"]

log = logging.getLogger(__name__)


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
        if request.kind == "token":  # a Jupyter server's or hub's (target: the host's name)
            return await self.ask_token(request)
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

    async def ask_token(self, request: SecretPrompt) -> str | None:
        """A server's token: kept for the run by the core's TokenSource; saved in the
        keyring (and the host told to read it there) when the person asks and one works."""
        from rtui.core.jupyter.secrets import keyring_works
        from rtui.tui.screens.token_prompt import TokenAnswer, TokenPromptScreen

        async with self._lock:
            works = await asyncio.to_thread(keyring_works)  # its first import scans packages
            answer = await ask(self.app, TokenPromptScreen(request.target, request.prompt,
                                                           keyring=works))
        if not isinstance(answer, TokenAnswer):
            return None
        if answer.save:
            await self._save_token(request.target, answer.token)
        return answer.token

    async def _save_token(self, host: str, token: str) -> None:
        """Into the keyring, then ``token_keyring = true`` on the host; a failure is said and
        the token still used for this run."""
        from rtui.core.errors import RtuiError
        from rtui.core.jupyter.secrets import save_token

        workspace = getattr(self.app, "workspace", None)
        try:
            await asyncio.to_thread(save_token, host, token)
            if workspace is not None and not workspace.is_injected(host):
                await workspace.edit_host(host, _reads_keyring)
        except RtuiError as exc:
            log.warning("token of %s not saved: %s", host, exc)
            self.app.notify(f"The token was not saved: {exc}", title=host, severity="warning",
                            timeout=10)
            return
        self.app.notify(f"{host}: token saved in the keyring (token_keyring = true)",
                        timeout=6)


def _reads_keyring(host: Host) -> Host:
    """The host with its token read from the keyring from now on."""
    if host.jupyter is None:
        return host
    return dataclasses.replace(host, jupyter=dataclasses.replace(host.jupyter,
                                                                 token_keyring=True))
