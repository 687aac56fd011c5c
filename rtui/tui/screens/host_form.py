"""Add or edit a host; every field is checked by the same code, with the same words, as the CLI.

A host is of one kind (SSH, Jupyter server, JupyterHub): the selector on top shows that kind's
fields only, and a save writes that kind's keys only (the others stay in the form meanwhile,
so a kind picked by mistake loses nothing)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Collapsible, Input, Label, Select

from rtui.core.config.model import HOST_KEY_POLICIES, Host, Problem, host_from_data, host_to_data
from rtui.core.errors import ConfigError
from rtui.tui.keys import keys_hint
from rtui.tui.screens.jupyter_form import (
    KINDS,
    jupyter_rows,
    jupyter_values,
    missing_token,
    show_token_field,
)
from rtui.tui.screens.slurm_form import slurm_rows, slurm_values

__all__ = ["HostFormScreen"]

# (field, label, placeholder); list fields are comma-separated in the form.
_FIELDS: list[tuple[str, str, str]] = [
    ("name", "Name", "a short alias, e.g. lab"),
    ("hostname", "Hostname", "DNS name or address (default: the name)"),
    ("port", "Port", "22"),
    ("user", "User", "login user (default: yours, or ~/.ssh/config's)"),
    ("identity_files", "Identity files", "~/.ssh/id_ed25519, ..."),
    ("jump", "Jump hosts", "bastion, user@gw:2222 (in order)"),
    ("python", "Python", "auto, or a remote interpreter path"),
    ("tags", "Tags", "gpu, lab"),
    ("note", "Note", "free text"),
    ("autoreload_exclude", "Not reloaded", "modules never reloaded, e.g. torch, numpy"),
]
_LISTS = {"identity_files", "jump", "tags", "auth_methods", "autoreload_exclude"}
# Fields of every kind of host; the others are an SSH host's.
_COMMON = ("name", "tags", "note")
# Module reloading in the kernels rtui starts on the host (unset: the default, 2).
_AUTORELOAD_CHOICES = [("autoreload 3 (also adds new names)", "3"), ("off", "off")]

Save = Callable[[str | None, Host], Awaitable[None]]


class HostFormScreen(ModalScreen[Host | None]):
    """A modal form; ``save`` raises ConfigError to keep it open with the reason shown."""

    # One line a field, the keys always in view under them: the form fits 80x24 with room
    # for a few errors, and scrolls (the keys still shown) when a terminal is shorter.
    DEFAULT_CSS = """
    HostFormScreen { align: center middle; }
    #form { width: 80; max-width: 100%; height: auto; max-height: 100%;
            border: thick $accent; background: $surface; padding: 0 1; }
    #fields { height: auto; margin-top: 1; }
    #ssh-rows, #jupyter-rows, #hub-rows { height: auto; }
    #form #j-token_from { width: 26; }
    #form .row { height: auto; }
    #form .line { height: 1; }
    #form Label.field { width: 16; }
    #form Input { border: none; height: 1; padding: 0 1; width: 1fr; background: $boost; }
    #form Input:focus { background: $accent 30%; }
    #form Select { width: 1fr; margin-left: 1; }
    #form .error { color: $error; height: auto; width: 100%; padding-left: 16; }
    #form .error.-empty { display: none; }
    #form .lines { height: 3; }
    #form Label.half { width: 12; margin-left: 1; }
    #form .lines Label.field { width: 13; margin-left: 1; }
    #form TextArea { height: 3; width: 1fr; background: $boost; }
    #form TextArea:focus { background: $accent 30%; }
    #form Collapsible { border: none; padding: 0; background: $surface; }
    #form Collapsible Contents { padding: 0; }
    #title { text-style: bold; }
    #form { border-subtitle-align: left; border-subtitle-color: $text; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o", "save", "Save", id="form.save"),
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
    ]

    def __init__(self, save: Save, host: Host | None = None, *,
                 via_hosts: Sequence[str] = ()) -> None:
        super().__init__()
        self.save_host = save
        self.original = host
        # The SSH hosts of the list a Jupyter server may be reached through.
        self.via_hosts = [name for name in via_hosts if host is None or name != host.name]
        self._shown: dict[str, str] = {}  # the error under each field, as shown
        self._select_values: dict[str, object] = {}  # each selector's value, as last seen

    @property
    def kind(self) -> str:
        """The kind of host the form is for now: "ssh", "jupyter" or "jupyterhub"."""
        value = self.query_one("#f-kind", Select).value
        return value if isinstance(value, str) else "ssh"

    def _field_row(self, values: dict[str, Any], field: str, label: str,
                   placeholder: str) -> ComposeResult:
        value = values.get(field, "")
        if isinstance(value, list):
            value = ", ".join(value)
        with Vertical(classes="row"):
            with Horizontal(classes="line"):
                yield Label(label, classes="field")
                yield Input(str(value), placeholder=placeholder, id=f"f-{field}")
            yield Label("", id=f"e-{field}", classes="error -empty")

    def compose(self) -> ComposeResult:
        values = host_to_data(self.original) if self.original else {}
        title = f"Edit {self.original.name}" if self.original else "Add a host"
        fields = {field: (label, placeholder) for field, label, placeholder in _FIELDS}
        with VerticalScroll(id="form") as form:
            # The kind is one shift+tab above the name, where the form starts.
            form.border_subtitle = keys_hint(self.BINDINGS, "enter next field",
                                             "shift+tab kind")
            yield Label(title, id="title")
            with Vertical(id="fields"):
                with Horizontal(classes="row"):
                    yield Label("Kind", classes="field")
                    kind = self.original.kind if self.original else "ssh"
                    yield Select([(label, value) for label, value in KINDS], value=kind,
                                 allow_blank=False, id="f-kind", compact=True)
                yield from self._field_row(values, "name", *fields["name"])
                with Vertical(id="ssh-rows"):
                    yield from self._ssh_rows(values)
                with Vertical(id="jupyter-rows"):
                    yield from jupyter_rows(
                        self.original.jupyter if self.original else None, self.via_hosts)
                for field in _COMMON[1:]:
                    yield from self._field_row(values, field, *fields[field])
                yield Label("", id="e-jupyter", classes="error -empty")
                yield Label("", id="e-form", classes="error -empty")

    def _ssh_rows(self, values: dict[str, Any]) -> ComposeResult:
        """An SSH host's own fields: the address, login, Python, reloading, SLURM."""
        for field, label, placeholder in _FIELDS:
            if field not in _COMMON:
                yield from self._field_row(values, field, label, placeholder)
        with Horizontal(classes="row"):
            yield Label("Host key policy", classes="field")
            yield Select(
                [(p, p) for p in HOST_KEY_POLICIES],
                value=values.get("host_key_policy", Select.NULL),
                prompt="default (ask)", id="f-host_key_policy", compact=True,
            )
        with Horizontal(classes="row"):
            yield Label("Module reload", classes="field")
            mode = str(values.get("autoreload", ""))
            yield Select(
                _AUTORELOAD_CHOICES,
                value=mode if mode in ("3", "off") else Select.NULL,
                prompt="autoreload 2 (default)", id="f-autoreload", compact=True,
            )
        # A SLURM login node: j runs a console's kernel as a batch job with these.
        # Folded (one line: the form fits 80x24) unless the host has a slurm table.
        slurm = self.original.slurm if self.original else None
        with Collapsible(title="SLURM job settings (a login node: j starts a "
                         "console as a job)", collapsed=slurm is None, id="slurm"):
            yield from slurm_rows(slurm, "slurm")
        yield Label("", id="e-slurm", classes="error -empty")

    def _show_kind(self) -> None:
        """Only the fields of the kind picked."""
        kind = self.kind
        self.query_one("#ssh-rows").display = kind == "ssh"
        self.query_one("#jupyter-rows").display = kind != "ssh"
        self.query_one("#hub-rows").display = kind == "jupyterhub"
        show_token_field(self)

    def on_select_changed(self, event: Select.Changed) -> None:
        """A new kind or token source: its fields shown, the form checked again (not for
        the values the selectors start with: nothing was typed yet)."""
        if event.select.id in ("f-kind", "j-token_from"):
            self._show_kind()
        key = event.select.id or ""
        if self._select_values.get(key, Select.NULL) != event.value:
            self._select_values[key] = event.value
            self._show(self._problems())

    def on_mount(self) -> None:
        self._select_values = {select.id or "": select.value for select in self.query(Select)}
        self._show_kind()
        self.query_one("#f-name", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def on_input_changed(self, event: Input.Changed) -> None:
        """Validate as the person types, so mistakes show where they are made."""
        self._show(self._problems())

    def on_text_area_changed(self) -> None:
        """The SLURM section's lines, checked as they are typed too."""
        self._show(self._problems())

    def _data(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        kind = self.kind
        for field, _, _ in _FIELDS:
            if kind != "ssh" and field not in _COMMON:
                continue
            text = self.query_one(f"#f-{field}", Input).value.strip()
            if not text:
                continue
            if field in _LISTS:
                data[field] = [item.strip() for item in text.split(",") if item.strip()]
            elif field == "port":
                data[field] = int(text) if text.isascii() and text.isdigit() else text
            else:
                data[field] = text
        if kind != "ssh":
            data["jupyter"] = jupyter_values(self, kind)
            return data
        policy = self.query_one("#f-host_key_policy", Select).value
        if isinstance(policy, str):
            data["host_key_policy"] = policy
        mode = self.query_one("#f-autoreload", Select).value
        if isinstance(mode, str):
            data["autoreload"] = mode
        slurm = slurm_values(self, "slurm")
        if slurm or (self.original is not None and self.original.slurm is not None):
            data["slurm"] = slurm  # an empty table still makes it a SLURM login node
        if self.original is not None:  # fields the form does not show are kept
            data.setdefault("auth_methods", list(self.original.auth_methods))
            if not data["auth_methods"]:
                del data["auth_methods"]
        return data

    def _problems(self) -> list[Problem]:
        problems: list[Problem] = []
        if self.kind != "ssh":
            missing = missing_token(self)
            if missing is not None:
                problems.append(Problem(missing[1], field=f"jupyter.{missing[0]}"))
        try:
            host_from_data(self._data())
        except ConfigError as exc:
            problems.extend(getattr(exc, "problems", [Problem(str(exc))]))
        return problems

    def _show(self, problems: list[Problem], general: str = "") -> None:
        by_field: dict[str, list[str]] = {}
        for problem in problems:
            field = _error_field(problem.field or "form")
            by_field.setdefault(field, []).append(problem.message)
        if general:
            by_field.setdefault("form", []).append(general)
        for label in self.query(".error").results(Label):
            field = (label.id or "").removeprefix("e-")
            text = "; ".join(by_field.get(field, []))
            if text != self._shown.get(field, ""):  # a repaint only for what changed
                self._shown[field] = text
                label.update(text)
                label.set_class(not text, "-empty")

    async def action_save(self) -> None:
        problems = self._problems()
        if problems:
            self._show(problems)
            return
        host = host_from_data(self._data())
        try:
            await self.save_host(self.original.name if self.original else None, host)
        except ConfigError as exc:
            found: list[Problem] = list(getattr(exc, "problems", []))
            self._show(found, general="" if found else str(exc).replace("\n", "; "))
            return
        self.dismiss(host)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _error_field(field: str) -> str:
    """Which error line a problem goes under: a field's own, else its section's."""
    if field.startswith("slurm"):  # the section's keys: under the section
        return "slurm"
    if field.startswith("jupyter"):  # jupyter.url: under the URL; the rest under the rows
        key = field.partition(".")[2]
        if key in ("url", "via", "ca_file"):
            return f"jupyter-{key}"
        if key in ("token_env", "token_command", "token_keyring"):
            return "jupyter-token"
        if key in ("server", "start_timeout", "hub"):
            return "jupyter-hub"
        return "jupyter"
    return field
