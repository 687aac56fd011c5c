"""The token of a Jupyter server or hub that has no token source: asked once, kept in memory for
the run, or saved in the OS keyring when the person says so and a keyring works here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Checkbox, Input, Label

from rtui.tui.screens.prompts import _Dialog

__all__ = ["TokenAnswer", "TokenPromptScreen"]


@dataclass(frozen=True)
class TokenAnswer:
    """What the dialog is dismissed with (None: cancelled)."""

    token: str
    save: bool  # into the keyring (only offered when one works)


class TokenPromptScreen(_Dialog):
    """A password field; ``keyring`` None: no keyring here (the reason shown, no choice)."""

    DEFAULT_CSS = """
    TokenPromptScreen { align: center middle; }
    TokenPromptScreen Checkbox { border: none; padding: 0; margin-top: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="token.cancel"),
    ]

    def __init__(self, host: str, prompt: str, *, keyring: bool) -> None:
        super().__init__()
        self.host = host
        self.prompt = prompt
        self.keyring = keyring

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Token for {self.host}", classes="title", markup=False)
            yield Label(self.prompt.strip() or "Token:", markup=False)
            yield Input(password=True, id="token")
            if self.keyring:
                yield Checkbox("Save it in the OS keyring (the host then reads it from there)",
                               id="save")
                hint = ("Enter to send (kept for this run), tab then space: save it, "
                        "Escape to cancel")
            else:
                hint = ("Enter to send (kept in memory for this run), Escape to cancel. "
                        "No OS keyring here: set token_env or token_command to keep it.")
            yield Label(hint, classes="hint", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._send()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()

    def _send(self) -> None:
        token = self.query_one(Input).value.strip()
        if not token:
            return  # nothing typed: Escape cancels
        boxes = self.query(Checkbox)
        self.dismiss(TokenAnswer(token, save=bool(boxes) and boxes.first().value))

    def action_cancel(self) -> None:
        self.dismiss(None)
