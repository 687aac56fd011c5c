"""The form that creates an environment on a host: a name, a Python of the host's, the tool,
packages and/or a local requirements file, spyder-kernels or not. It checks what it can here
(the name, the file) and is dismissed with the :class:`EnvSpec` to create."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Select

from rtui.core.envs import EnvSpec, valid_name
from rtui.core.kernels.records import Environment
from rtui.tui.keys import keys_hint

__all__ = ["EnvFormScreen", "python_choices", "tool_choices"]

_MAX_REQUIREMENTS = 1 << 20  # bytes of a requirements file: more is not one


def python_choices(envs: Sequence[Environment]) -> list[tuple[str, str]]:
    """(label, interpreter) of every Python 3 the host has that runs, each once (Python 2
    has no venv)."""
    seen: set[str] = set()
    choices = []
    for env in envs:
        if env.error or env.python in seen or (env.version or "").startswith("2."):
            continue
        seen.add(env.python)
        choices.append((f"{env.version or '?':<8} {env.python}", env.python))
    return choices


def tool_choices(uv: str | None) -> list[tuple[str, str]]:
    """The tools offered: uv when the host has it; else venv + pip, or uv put there."""
    if uv:
        return [(f"uv ({uv} on the host)", "uv"), ("venv + pip", "venv")]
    return [("venv + pip", "venv"), ("uv: upload it to the host (the host has none)",
                                     "uv-upload")]


class EnvFormScreen(ModalScreen[EnvSpec | None]):
    """A modal form; ``ctrl+o`` creates, Escape cancels."""

    DEFAULT_CSS = """
    EnvFormScreen { align: center middle; }
    #env-form { width: 80; max-width: 100%; height: auto; max-height: 100%;
                border: thick $accent; background: $surface; padding: 0 1;
                border-subtitle-align: left; border-subtitle-color: $text; }
    #env-form .title { text-style: bold; padding-bottom: 1; }
    #env-form .line { height: 1; margin-bottom: 1; }
    #env-form Label.field { width: 14; }
    #env-form Input { border: none; height: 1; padding: 0 1; width: 1fr; background: $boost; }
    #env-form Input:focus { background: $accent 30%; }
    #env-form Select { width: 1fr; margin-left: 1; }
    #env-form Checkbox { border: none; padding: 0; height: 1; margin-left: 14; }
    #env-form #env-error { color: $error; height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o", "create", "Create", id="envform.create"),
        Binding("escape", "cancel", "Cancel", id="envform.cancel"),
    ]

    def __init__(self, host: str, envs: Sequence[Environment], uv: str | None, *,
                 taken: Collection[str] = ()) -> None:
        super().__init__()
        self.host = host
        self.pythons = python_choices(envs)
        self.tools = tool_choices(uv)
        self.taken = set(taken)

    def compose(self) -> ComposeResult:
        with Vertical(id="env-form") as form:
            form.border_subtitle = keys_hint(self.BINDINGS, "tab next field")
            yield Label(f"New environment on {self.host}", classes="title", markup=False)
            with Horizontal(classes="line"):
                yield Label("Name", classes="field")
                yield Input(placeholder="e.g. analysis (letters, digits, . _ -)", id="env-name")
            with Horizontal(classes="line"):
                yield Label("Python", classes="field")
                yield Select(self.pythons, prompt="the host's Python", id="env-python",
                             compact=True)
            with Horizontal(classes="line"):
                yield Label("Tool", classes="field")
                yield Select(self.tools, value=self.tools[0][1], allow_blank=False,
                             id="env-tool", compact=True)
            with Horizontal(classes="line"):
                yield Label("Packages", classes="field")
                yield Input(placeholder="numpy xarray==2024.1 (ipykernel is added)",
                            id="env-packages")
            with Horizontal(classes="line"):
                yield Label("Requirements", classes="field")
                yield Input(placeholder="a local requirements.txt (optional)",
                            id="env-requirements")
            yield Checkbox("spyder-kernels too (for Spyder)", id="env-spyder", compact=True)
            yield Label("", id="env-error")

    def on_mount(self) -> None:
        self.query_one("#env-name", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def _error(self, text: str) -> None:
        self.query_one("#env-error", Label).update(text)

    def spec(self) -> EnvSpec:
        """What the fields ask for; ValueError says what is wrong."""
        name = self.query_one("#env-name", Input).value.strip()
        if not valid_name(name):
            raise ValueError("Name: 1-64 letters, digits, '.', '_' or '-', not starting "
                             "with '.', '_' or '-'")
        if name in self.taken:
            raise ValueError(f"Name: {self.host} has an environment named {name}")
        python = self.query_one("#env-python", Select).value
        tool = str(self.query_one("#env-tool", Select).value)
        packages = tuple(word for word in re.split(r"[\s,]+",
                                                   self.query_one("#env-packages", Input).value)
                         if word)
        if any(word.startswith("-") for word in packages):
            raise ValueError("Packages: names only (use the requirements file for options)")
        requirements = None
        path_text = self.query_one("#env-requirements", Input).value.strip()
        if path_text:
            path = Path(path_text).expanduser()
            try:
                if path.stat().st_size > _MAX_REQUIREMENTS:
                    raise ValueError(f"Requirements: {path} is over 1 MiB")
                requirements = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"Requirements: cannot read {path}: "
                                 f"{getattr(exc, 'strerror', None) or exc}") from None
        return EnvSpec(
            name=name, python=python if isinstance(python, str) else None,
            tool="uv" if tool == "uv-upload" else tool, packages=packages,
            requirements=requirements, spyder=self.query_one("#env-spyder", Checkbox).value,
            upload_uv=tool == "uv-upload")

    def action_create(self) -> None:
        try:
            spec = self.spec()
        except ValueError as problem:
            self._error(str(problem))
            return
        self.dismiss(spec)

    def action_cancel(self) -> None:
        self.dismiss(None)
