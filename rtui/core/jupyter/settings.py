"""A Jupyter Server's or a JupyterHub's settings: the ``jupyter`` table of a host in hosts.toml
(a host with one is reached over HTTP(S) and the kernel websocket, not SSH).

Each value is checked here, so a typo is named with its key and what is allowed. The token
itself is never a key: it comes from an environment variable, a command or the OS keyring,
or it is asked for and kept in memory for the run.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from rtui.core.errors import ConfigError, describe_value

__all__ = ["JUPYTER_KEYS", "JupyterSettings", "jupyter_problems", "normalize_url"]

JUPYTER_KEYS = ("url", "hub", "server", "via", "token_env", "token_command", "token_keyring",
                "ca_file", "start_timeout", "connect_timeout")
"""Every key of the table, in the order hosts.toml and the forms show them."""

_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# JupyterHub's named servers: its default named_server_name_pattern is stricter still.
_SERVER_RE = re.compile(r"^[A-Za-z0-9._~-]+$")
_HOST_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Keys that would hold a secret: refused with where the token can come from instead.
_SECRET_KEYS = {"token", "api_token", "password", "secret"}
_TOKEN_SOURCES = "token_env, token_command or token_keyring = true (or leave them out: rtui asks)"
_MAX_SECONDS = 86_400.0
_DEFAULTS = {"start_timeout": 120.0, "connect_timeout": 15.0}


@dataclass(frozen=True)
class JupyterSettings:
    """Where a Jupyter Server (or a JupyterHub) answers and where its token comes from."""

    url: str                          # http(s)://host[:port][/base/], always ending in "/"
    hub: bool = False                 # True: a JupyterHub (kind "jupyterhub")
    server: str = ""                  # hub: "" the user's default server, else a named one
    via: str | None = None            # an SSH host of this file: the URL is opened over it
    token_env: str | None = None
    token_command: str | None = None  # run without a shell (shlex.split), first stdout line
    token_keyring: bool = False       # keyring service "rtui", username = host name
    ca_file: str | None = None        # PEM to trust (self-signed); never "verify off"
    start_timeout: float = 120.0      # hub: bound on the server start (s)
    connect_timeout: float = 15.0

    @classmethod
    def from_toml(cls, table: Mapping[str, Any]) -> JupyterSettings:
        """The settings of a ``jupyter`` table; ConfigError naming every bad key and what it
        allows."""
        if not isinstance(table, Mapping):
            raise _error([("", f"must be a table with a url ([hosts.jupyter]), got "
                               f"{describe_value(table)}")])
        problems = jupyter_problems(table)
        if problems:
            raise _error(problems)
        return cls(**{key: _decode(key, value) for key, value in table.items()})

    def to_toml(self) -> dict[str, Any]:
        """The table for hosts.toml: the url and the keys that are set."""
        data: dict[str, Any] = {"url": self.url}
        for key in JUPYTER_KEYS[1:]:
            value = getattr(self, key)
            if value is None or value is False or value == "" or value == _DEFAULTS.get(key):
                continue
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # start_timeout = 60, as one writes it
            data[key] = value
        return data

    @property
    def kind(self) -> str:
        """"jupyterhub" or "jupyter" (Host.kind's answer for a host with this table)."""
        return "jupyterhub" if self.hub else "jupyter"

    def describe(self) -> str:
        """One line for a host list: the URL, the hub's server and the SSH host it goes via."""
        text = self.url
        if self.hub and self.server:
            text += f" (server {self.server})"
        return f"{text} via {self.via}" if self.via else text


def jupyter_problems(table: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem of a ``jupyter`` table as (key, message); empty when it is usable."""
    problems: list[tuple[str, str]] = []
    if "url" not in table:
        problems.append(("url", "missing: the server's (or the hub's) address, as "
                                "https://lab.example.org/"))
    for key, value in table.items():
        if key.lower() in _SECRET_KEYS:
            problems.append((key, f"secrets are never stored in hosts.toml; remove this key "
                                  f"and use {_TOKEN_SOURCES}"))
            continue
        if key not in JUPYTER_KEYS:
            problems.append((key, f"unknown key (known: {', '.join(JUPYTER_KEYS)})"))
            continue
        try:
            _decode(key, value)
        except ValueError as exc:
            problems.append((key, str(exc)))
    if table.get("token_env") and table.get("token_command"):
        problems.append(("token_command", "set token_env or token_command, not both (rtui "
                                          "would not know which token is meant)"))
    if table.get("server") and table.get("hub") is not True:
        problems.append(("server", "a named server is a JupyterHub's: set hub = true, or "
                                   "leave server out"))
    return problems


def normalize_url(text: str) -> str:
    """``text`` as rtui keeps a server's URL (ending in "/"); ValueError says what is wrong."""
    url = text.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"'{text}' is not an http:// or https:// URL (as "
                         "https://lab.example.org/ or http://127.0.0.1:8888/)")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"'{text}' holds a user or password: secrets are never stored in "
                         f"hosts.toml; use {_TOKEN_SOURCES}")
    if parts.query or parts.fragment:
        raise ValueError(f"'{text}' has a query or fragment (a ?token=... never belongs in "
                         f"hosts.toml; use {_TOKEN_SOURCES})")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError as exc:
        raise ValueError(f"'{text}' has a bad port ({exc})") from None
    return url if url.endswith("/") else url + "/"


def _decode(key: str, value: Any) -> Any:
    """One key's value in model form; ValueError says what is allowed."""
    if key in ("hub", "token_keyring"):
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {describe_value(value)}")
        return value
    if key in ("start_timeout", "connect_timeout"):
        return _decode_seconds(value)
    if not isinstance(value, str):
        raise ValueError(f"must be text, got {describe_value(value)}")
    text = value.strip()
    if key == "server":
        if text and not _SERVER_RE.match(text):
            raise ValueError(f"'{text}' is not a usable server name (letters, digits, '.', "
                             "'_', '-', '~'; empty for the user's default server)")
        return text
    if not text:
        raise ValueError("must not be empty (leave the key out instead)")
    if key == "url":
        return normalize_url(text)
    if key == "via" and not _HOST_NAME_RE.match(text):
        raise ValueError(f"'{text}' is not a host name of this file")
    if key == "token_env" and not _ENV_RE.match(text):
        raise ValueError(f"'{text}' is not an environment variable's name (letters, digits "
                         "and '_', not starting with a digit)")
    if key == "token_command":
        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise ValueError(f"'{text}' cannot be split into words ({exc}); it runs "
                             "without a shell") from None
        if not words:
            raise ValueError("must not be empty (leave the key out instead)")
    return text


def _decode_seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number of seconds, got {describe_value(value)}")
    if (isinstance(value, float) and not math.isfinite(value)) or not 0 < value <= _MAX_SECONDS:
        raise ValueError(f"must be greater than 0 and at most {_MAX_SECONDS:g} s, got {value!r}")
    return float(value)


def _error(problems: list[tuple[str, str]]) -> ConfigError:
    from rtui.core.config.model import Problem  # the model imports this module

    items = [Problem(message, field=f"jupyter.{key}" if key else "jupyter")
             for key, message in problems]
    return ConfigError("\n".join(str(p) for p in items), problems=items)
