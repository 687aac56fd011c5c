"""The host form's part for Jupyter Server and JupyterHub hosts: the URL, the SSH host it is
reached through, where the token comes from, the CA file; for a hub, the server and the bound
on its start. Made as :mod:`slurm_form` makes the SLURM section: rows composed into the form,
and the values read back as the host's ``jupyter`` table, checked by the same code as
hosts.toml (``JupyterSettings.from_toml``), so the form and the file say the same words."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.dom import DOMNode
from textual.widgets import Input, Label, Select

if TYPE_CHECKING:
    from rtui.core.jupyter.settings import JupyterSettings

__all__ = [
    "KINDS",
    "TOKEN_FROM",
    "jupyter_rows",
    "jupyter_values",
    "missing_token",
    "show_token_field",
    "token_from",
]

KINDS: list[tuple[str, str]] = [
    ("SSH host", "ssh"),
    ("Jupyter server (URL and token)", "jupyter"),
    ("JupyterHub (a server of yours on it)", "jupyterhub"),
]
"""The kind selector's choices: (label, Host.kind)."""

TOKEN_FROM: list[tuple[str, str]] = [
    ("asked when needed", "ask"),
    ("environment variable", "env"),
    ("command (pass show …)", "command"),
    ("OS keyring", "keyring"),
]
"""Where the token comes from (never hosts.toml): the selector's choices."""

# What the one token field holds for each source (None: no field).
_TOKEN_FIELD = {
    "env": ("Variable", "LAB_TOKEN"),
    "command": ("Command", "pass show lab/token (run without a shell)"),
}


def token_from(settings: JupyterSettings | None) -> str:
    """The token selector's value for ``settings`` (a host being edited)."""
    if settings is None:
        return "ask"
    if settings.token_env:
        return "env"
    if settings.token_command:
        return "command"
    return "keyring" if settings.token_keyring else "ask"


def _row(label: str, widget: Input | Select[str], field: str) -> ComposeResult:
    """One line (label, widget) and its error line under it (``e-{field}``)."""
    with Vertical(classes="row"):
        with Horizontal(classes="line"):
            yield Label(label, classes="field")
            yield widget
        yield Label("", id=f"e-{field}", classes="error -empty")


def jupyter_rows(settings: JupyterSettings | None, via_hosts: Sequence[str]) -> ComposeResult:
    """The rows of both Jupyter kinds; ``#hub-rows`` holds the hub's own (shown for a hub)."""
    values: dict[str, Any] = settings.to_toml() if settings is not None else {}
    yield from _row("URL", Input(str(values.get("url", "")), id="j-url",
                                 placeholder="https://lab.example.org/ (http or https)"),
                    "jupyter-url")
    via = values.get("via")
    choices = [(name, name) for name in via_hosts]
    if isinstance(via, str) and via not in via_hosts:  # kept, and named wrong below
        choices.append((via, via))
    yield from _row("Through", Select(choices, value=via if isinstance(via, str) else Select.NULL,
                                      prompt="direct (not through an SSH host)", id="j-via",
                                      compact=True), "jupyter-via")
    source = token_from(settings)
    with Vertical(classes="row"):
        with Horizontal(classes="line"):
            yield Label("Token from", classes="field")
            yield Select(TOKEN_FROM, value=source, allow_blank=False, id="j-token_from",
                         compact=True)
            label, placeholder = _TOKEN_FIELD.get(source, ("", ""))
            yield Label(label, id="j-token_label", classes="half")
            text = values.get("token_env") or values.get("token_command") or ""
            yield Input(str(text), placeholder=placeholder, id="j-token_value",
                        password=False)
        yield Label("", id="e-jupyter-token", classes="error -empty")
    yield from _row("CA file", Input(str(values.get("ca_file", "")), id="j-ca_file",
                                     placeholder="PEM to trust (a self-signed certificate)"),
                    "jupyter-ca_file")
    with Vertical(id="hub-rows"):
        with Vertical(classes="row"):
            with Horizontal(classes="line"):
                yield Label("Hub server", classes="field")
                yield Input(str(values.get("server", "")), id="j-server",
                            placeholder="your default one")
                yield Label("Start bound", classes="half")
                timeout = values.get("start_timeout")
                yield Input("" if timeout is None else f"{timeout:g}", id="j-start_timeout",
                            placeholder="120 s")
            yield Label("", id="e-jupyter-hub", classes="error -empty")


def show_token_field(screen: DOMNode) -> None:
    """The token field as the selector says: a variable's name, a command, or none."""
    source = screen.query_one("#j-token_from", Select).value
    label, placeholder = _TOKEN_FIELD.get(str(source), ("", ""))
    screen.query_one("#j-token_label", Label).update(label)
    field = screen.query_one("#j-token_value", Input)
    field.placeholder = placeholder
    field.display = bool(label)
    screen.query_one("#j-token_label", Label).display = bool(label)


def jupyter_values(screen: DOMNode, kind: str) -> dict[str, Any]:
    """The rows as a host's ``jupyter`` table (only what is filled in; blank: the default)."""
    data: dict[str, Any] = {}
    url = screen.query_one("#j-url", Input).value.strip()
    if url:
        data["url"] = url
    if kind == "jupyterhub":
        data["hub"] = True
        server = screen.query_one("#j-server", Input).value.strip()
        if server:
            data["server"] = server
        timeout = screen.query_one("#j-start_timeout", Input).value.strip().removesuffix("s")
        if timeout.strip():
            data["start_timeout"] = _number(timeout.strip())
    via = screen.query_one("#j-via", Select).value
    if isinstance(via, str):
        data["via"] = via
    source = screen.query_one("#j-token_from", Select).value
    text = screen.query_one("#j-token_value", Input).value.strip()
    if source == "env" and text:  # blank: see missing_token
        data["token_env"] = text
    elif source == "command" and text:
        data["token_command"] = text
    elif source == "keyring":
        data["token_keyring"] = True
    ca_file = screen.query_one("#j-ca_file", Input).value.strip()
    if ca_file:
        data["ca_file"] = ca_file
    return data


def missing_token(screen: DOMNode) -> tuple[str, str] | None:
    """(key, message) when the token source needs a name or a command not typed yet."""
    source = screen.query_one("#j-token_from", Select).value
    if screen.query_one("#j-token_value", Input).value.strip():
        return None
    if source == "env":
        return ("token_env", "type the variable's name (or take another token source)")
    if source == "command":
        return ("token_command", "type the command (or take another token source)")
    return None


def _number(text: str) -> float | str:
    """A number as typed (the settings check names anything else, with the CLI's words)."""
    try:
        return float(text)
    except ValueError:
        return text
