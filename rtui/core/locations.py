"""Where rtui keeps its files: one place that knows the XDG paths and the overrides."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "config_path", "data_dir", "ssh_config_path", "state_dir"]

CONFIG_ENV = "RTUI_CONFIG"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var, "")
    # The XDG spec says relative values are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def config_path(override: str | os.PathLike[str] | None = None) -> Path:
    """The hosts file: ``--config``, else ``$RTUI_CONFIG``, else the XDG config dir."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return _xdg("XDG_CONFIG_HOME", ".config") / "rtui" / "hosts.toml"


def data_dir() -> Path:
    """Per-user data (history, rtui's own known_hosts)."""
    return _xdg("XDG_DATA_HOME", ".local/share") / "rtui"


def state_dir() -> Path:
    """Per-user state that may be lost without harm (logs, local connection files)."""
    return _xdg("XDG_STATE_HOME", ".local/state") / "rtui"


def cache_dir() -> Path:
    """Per-user cache (downloaded wheels)."""
    return _xdg("XDG_CACHE_HOME", ".cache") / "rtui"


def ssh_config_path() -> Path:
    """The user's OpenSSH client config, read (never written) by import and connect."""
    return Path.home() / ".ssh" / "config"
