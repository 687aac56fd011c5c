"""The job form (``j`` on a host): a SLURM kernel's settings, prefilled from the host's
``slurm`` table and changed for this console only; ctrl+o submits the job. The same fields
make the host form's SLURM section (:func:`slurm_rows`, :func:`slurm_values`), so both
check a value with the same words (``SlurmSettings.from_toml``, as hosts.toml is checked)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static, TextArea

from rtui.core.errors import ConfigError, RtuiError
from rtui.core.slurm.settings import SlurmSettings
from rtui.tui.keys import keys_hint

__all__ = ["SLURM_FIELDS", "SLURM_LINES", "SlurmFormScreen", "slurm_rows", "slurm_values"]

# (key, label, placeholder): one line each.
SLURM_FIELDS: list[tuple[str, str, str]] = [
    ("partition", "Partition", "the default"),
    ("time", "Time", "HH:MM:SS, MM, D-HH:MM"),
    ("cpus", "CPUs", "per task: 4"),
    ("mem", "Memory", "e.g. 16G"),
    ("gpus", "GPUs", "e.g. 1 or a100:2"),
    ("account", "Account", "e.g. proj42"),
    ("qos", "QOS", "e.g. normal"),
    ("gres", "GRES", "e.g. gpu:1"),
    ("reservation", "Reservation", "e.g. lab"),
]
# (key, label, placeholder): one item a line.
SLURM_LINES: list[tuple[str, str, str]] = [
    ("extra", "sbatch", "more options, one a line: --exclusive"),
    ("setup", "Set-up", "lines run before the kernel: module load python/3.11"),
]

Submit = Callable[[SlurmSettings], Awaitable[object]]
"""Submits the job (HostKernels.submit_slurm); an RtuiError keeps the form open."""


def slurm_rows(settings: SlurmSettings | None, prefix: str) -> ComposeResult:
    """The fields, filled from ``settings``, two a line (the form fits 80x24); ids
    ``{prefix}-{key}``."""
    values: Mapping[str, Any] = settings.to_toml() if settings is not None else {}
    for pair in (SLURM_FIELDS[i:i + 2] for i in range(0, len(SLURM_FIELDS), 2)):
        with Horizontal(classes="line"):
            for key, label, placeholder in pair:
                yield Label(label, classes="field half")
                yield Input(str(values.get(key, "")), placeholder=placeholder,
                            id=f"{prefix}-{key}")
    for key, label, placeholder in SLURM_LINES:
        with Horizontal(classes="lines"):
            yield Label(label, classes="field")
            yield TextArea("\n".join(values.get(key, ())), id=f"{prefix}-{key}",
                           show_line_numbers=False, compact=True, soft_wrap=False,
                           placeholder=placeholder)


def slurm_values(screen: DOMNode, prefix: str) -> dict[str, Any]:
    """The fields as a ``slurm`` table (only what is filled in: blank keeps the default)."""
    data: dict[str, Any] = {}
    for key, _, _ in SLURM_FIELDS:
        text = screen.query_one(f"#{prefix}-{key}", Input).value.strip()
        if text:
            data[key] = int(text) if key == "cpus" and text.isascii() and text.isdigit() else text
    for key, _, _ in SLURM_LINES:
        lines = [line.strip() for line in
                 screen.query_one(f"#{prefix}-{key}", TextArea).text.splitlines()]
        if any(lines):
            data[key] = [line for line in lines if line]
    return data


class SlurmFormScreen(ModalScreen[object]):
    """A modal form; ctrl+o submits (sbatch's refusal keeps it open, its words shown),
    Escape cancels. Dismissed with what ``submit`` gave (the submitted job), or None."""

    DEFAULT_CSS = """
    SlurmFormScreen { align: center middle; }
    #slurm-form { width: 80; max-width: 100%; height: auto; max-height: 100%;
                  border: thick $accent; background: $surface; padding: 0 1;
                  border-subtitle-align: left; border-subtitle-color: $text; }
    #slurm-form .title { text-style: bold; }
    #slurm-form .note { color: $text-muted; }
    #slurm-fields { height: auto; margin-top: 1; }
    #slurm-form .row { height: auto; }
    #slurm-form .line { height: 1; }
    #slurm-form .lines { height: 3; }
    #slurm-form Label.field { width: 12; }
    #slurm-form Label.half, #slurm-form .lines Label.field { margin-left: 1; }
    #slurm-form Input { border: none; height: 1; padding: 0 1; width: 1fr;
                        background: $boost; }
    #slurm-form TextArea { height: 3; width: 1fr; background: $boost; }
    #slurm-form Input:focus, #slurm-form TextArea:focus { background: $accent 30%; }
    #slurm-error { color: $error; height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o", "submit", "Submit", id="jobform.submit"),
        Binding("escape", "cancel", "Cancel", id="jobform.cancel"),
    ]

    def __init__(self, host: str, settings: SlurmSettings | None, submit: Submit) -> None:
        super().__init__()
        self.host = host
        self.settings = settings
        self.submit = submit
        self._submitting = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="slurm-form") as form:
            form.border_subtitle = keys_hint(self.BINDINGS, "tab next field")
            yield Label(f"Job console on {self.host}", classes="title", markup=False)
            yield Static("A kernel in a SLURM batch job, on a compute node. The host's slurm "
                         "table fills the fields; changes here are for this console only.",
                         classes="note")
            with Vertical(id="slurm-fields"):
                yield from slurm_rows(self.settings, "job")
            yield Label("", id="slurm-error")

    def on_mount(self) -> None:
        self.query_one("#job-partition", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def _error(self, text: str) -> None:
        self.query_one("#slurm-error", Label).update(text)

    def chosen(self) -> SlurmSettings:
        """The fields as settings; ConfigError names the key that is wrong."""
        return SlurmSettings.from_toml(slurm_values(self, "job"))

    def action_submit(self) -> None:
        if self._submitting:
            return
        try:
            settings = self.chosen()
        except ConfigError as problem:
            self._error(str(problem))
            return
        self._submitting = True  # escape waits: a job submitted meanwhile is shown, not lost
        self._error("")
        self.query_one("#slurm-form").border_title = "submitting…"
        self._submit(settings)

    @work(group="submit", exit_on_error=False)
    async def _submit(self, settings: SlurmSettings) -> None:
        try:
            submitted = await self.submit(settings)
        except RtuiError as refused:  # sbatch's own words: fix the field, submit again
            self._error(str(refused))
            return
        finally:
            self._submitting = False
            self.query_one("#slurm-form").border_title = ""
        self.dismiss(submitted)

    def action_cancel(self) -> None:
        if not self._submitting:
            self.dismiss(None)
