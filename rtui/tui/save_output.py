"""Save a console output (a plot, an unknown type's bytes) here or on the host, asked by name.

Its own module because the Plots tab and the console's output pane offer the same two keys
(``s`` here, ``S`` on the host) and the same dialog; the rules are the core's
(:mod:`rtui.core.console.saving`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App

from rtui.core.console.saving import save_local, save_to_host
from rtui.tui.prompter import ask
from rtui.tui.screens.prompts import TextPromptScreen

if TYPE_CHECKING:
    from rtui.core.workspace import Workspace

__all__ = ["save_output"]


async def save_output(app: App[Any], data: bytes, name: str, *, host: str,
                      on_host: bool) -> str | None:
    """Ask where, save, say where it went; None when the person cancelled. Failures raise
    ``SaveError`` (an RtuiError: the app tells it)."""
    if on_host:
        start = f"~/{name}"
        prompt = f"Save on {host} as (a path on the host; ~ is its home):"
    else:
        start = str(Path.cwd() / name)
        prompt = "Save on this machine as:"
    answer = await ask(app, TextPromptScreen("Save output", prompt, password=False,
                                             value=start))
    if not isinstance(answer, str) or not answer.strip():
        return None
    if on_host:
        workspace: Workspace = app.workspace  # type: ignore[attr-defined]
        files = await workspace.files(host)
        where = f"{host}:{await save_to_host(files, answer.strip(), data)}"
    else:
        where = str(save_local(answer.strip(), data))
    app.notify(f"Saved {where}", timeout=6)
    return where
