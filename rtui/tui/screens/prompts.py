"""Modal prompts: secrets, 2FA codes, host keys, confirmations, choices, kernel input()."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from rtui.core.ssh.prompts import HostKeyDecision, HostKeyPrompt, KbdIntPrompt
from rtui.tui.keys import keys_hint

__all__ = [
    "ChoiceScreen",
    "ConfirmScreen",
    "HostKeyScreen",
    "KbdIntScreen",
    "MessageScreen",
    "Remembered",
    "TextPromptScreen",
]


class _Dialog(ModalScreen["object"]):
    """A centred box; Escape cancels with ``None`` (or the screen's refusal value)."""

    DEFAULT_CSS = """
    _Dialog, TextPromptScreen, KbdIntScreen, HostKeyScreen, ConfirmScreen, MessageScreen,
    ChoiceScreen { align: center middle; }
    .dialog { width: 76; max-width: 100%; height: auto; max-height: 100%;
              border: thick $accent; background: $surface; padding: 0 1; }
    .dialog .title { text-style: bold; padding-bottom: 1; }
    .dialog .hint { color: $text-muted; padding-top: 1; width: 100%; }
    .dialog .error { color: $error; }
    """


class TextPromptScreen(_Dialog):
    """One line of text: a password, a passphrase, a kernel's ``input()``, or a name or a
    path (``value``: the text it starts with, selected, as a rename's old name)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel"),
    ]

    def __init__(self, title: str, prompt: str, *, password: bool, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.prompt = prompt
        self.password = password
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="title", markup=False)
            yield Label(self.prompt.strip() or "Input:", markup=False)
            yield Input(self.value, password=self.password, id="answer")
            yield Label("Enter to send, Escape to cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class KbdIntScreen(_Dialog):
    """Every prompt of one keyboard-interactive challenge, echo off where the server asks."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel"),
    ]

    def __init__(self, request: KbdIntPrompt) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Login to {self.request.target}", classes="title", markup=False)
            if self.request.name or self.request.instructions:
                yield Static(f"{self.request.name}\n{self.request.instructions}".strip(),
                             markup=False)
            for n, (text, echo) in enumerate(self.request.prompts):
                yield Label(text.strip(), markup=False)
                yield Input(password=not echo, id=f"answer-{n}")
            yield Label("Enter for the next field / to send, Escape to cancel", classes="hint")

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self.dismiss([i.value for i in inputs])

    def action_cancel(self) -> None:
        self.dismiss(None)


class HostKeyScreen(_Dialog):
    """An unknown host key: compare the fingerprint, then trust it or not."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "decide('remember')", "Trust and remember", id="hostkey.remember"),
        Binding("o", "decide('once')", "Trust once", id="hostkey.once"),
        Binding("n,escape", "decide('refuse')", "Refuse", id="hostkey.refuse"),
    ]

    def __init__(self, request: HostKeyPrompt) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        r = self.request
        with Vertical(classes="dialog"):
            yield Label("Unknown host key", classes="title")
            yield Static(
                f"The authenticity of [b]{escape(r.host)}[/b] can't be established.\n\n"
                f"{escape(r.key_type)} key fingerprint:\n[b]{escape(r.fingerprint)}[/b]\n\n"
                "Compare it with the fingerprint the host's admin gives you."
            )
            yield Label(keys_hint(self.BINDINGS), classes="hint")

    def action_decide(self, choice: str) -> None:
        self.dismiss({
            "remember": HostKeyDecision.ACCEPT_REMEMBER,
            "once": HostKeyDecision.ACCEPT_ONCE,
        }.get(choice, HostKeyDecision.REFUSE))


class ConfirmScreen(_Dialog):
    """A yes/no question; ``y``/``n`` answer, Escape says no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, title: str, question: str) -> None:
        super().__init__()
        self.title_text = title
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="title", markup=False)
            yield Static(self.question, markup=False)
            yield Label(keys_hint(self.BINDINGS), classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class MessageScreen(_Dialog):
    """A message that needs reading (a refused host key): Enter or Escape closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,escape", "close", "Close", id="message.close"),
    ]

    def __init__(self, title: str, message: str, *, error: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="title error" if self.error else "title",
                        markup=False)
            yield Static(self.message, markup=False)
            yield Label(keys_hint(self.BINDINGS), classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class Remembered:
    """A choice the person also asked to keep (ChoiceScreen's ``remember``)."""

    value: str


class ChoiceScreen(_Dialog):
    """Pick one of several options (environments, kernels, what to do on close).

    With ``remember`` (what keeping means, e.g. "as lab's python in hosts.toml"), ``r``
    chooses the highlighted option and dismisses with :class:`Remembered`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="choice.cancel"),
        Binding("r", "remember", "Choose and remember", id="choice.remember"),
    ]

    def __init__(self, title: str, options: list[tuple[str, str]], *, hint: str = "",
                 remember: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.options = options  # (value, label)
        self.remember = remember
        self.hint = hint or ("Enter to choose"
                             + (f", r to choose and save it {remember}" if remember else "")
                             + ", Escape to cancel")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="title", markup=False)
            yield OptionList(*[Option(Content(label), id=value) for value, label in self.options])
            yield Label(self.hint, classes="hint")

    def on_mount(self) -> None:
        for options in self.query(OptionList):  # none when the app closes while it mounts
            options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.remember is not None if action == "remember" else True

    def action_remember(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None:
            option_id = options.get_option_at_index(options.highlighted).id
            if option_id is not None:
                self.dismiss(Remembered(option_id))

    def action_cancel(self) -> None:
        self.dismiss(None)
