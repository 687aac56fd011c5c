"""Where rtui keeps its files: one place that knows the XDG paths and the overrides."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from rtui.core.errors import RtuiError

__all__ = [
    "cache_dir",
    "config_path",
    "data_dir",
    "kernel_socket_dir",
    "runtime_dir",
    "ssh_config_path",
    "state_dir",
]

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


def runtime_dir() -> Path:
    """The root of rtui's local private sockets (the ends of kernel forwards).

    ``$XDG_RUNTIME_DIR/rtui`` when that variable names a directory of ours, else
    ``/tmp/rtui-<uid>``: short (a Unix socket path must stay under 108 bytes, a deep home
    would not), a real directory owned by us, mode 0700 (made so, or refused): another
    local user cannot connect to what is inside.
    """
    base = os.environ.get("XDG_RUNTIME_DIR", "")
    uid = os.getuid()
    if base and os.path.isabs(base):
        try:
            info = os.stat(base)
        except OSError:
            info = None
        if info is not None and stat.S_ISDIR(info.st_mode) and info.st_uid == uid:
            return private_dir(Path(base) / "rtui")
    return private_dir(Path(f"/tmp/rtui-{uid}"))


def private_dir(path: Path) -> Path:
    """``path`` as a real directory of ours with mode 0700: created so, or tightened when
    it is ours and looser; RtuiError naming the path and the problem otherwise."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise RtuiError(f"cannot create the private directory {path}: {exc.strerror}") from exc
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise RtuiError(f"cannot inspect the private directory {path}: {exc.strerror}") from exc
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise RtuiError(f"{path} must be a directory, not a symlink or a file: refusing to "
                        "put private sockets there (remove it, or set XDG_RUNTIME_DIR)")
    if info.st_uid != os.getuid():
        raise RtuiError(f"{path} belongs to uid {info.st_uid}, not to you: refusing to put "
                        "private sockets there (remove it, or set XDG_RUNTIME_DIR)")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def kernel_socket_dir() -> Path:
    """A new private (0700) directory for one kernel's local sockets: ``<root>/c/<random>``.

    Random and short (the ipc sockets inside are ``k-1`` ... ``k-5``): two consoles of one
    kernel, or one after a crash, never share one."""
    parent = private_dir(runtime_dir() / "c")
    while True:
        path = parent / secrets.token_hex(4)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        except OSError as exc:
            raise RtuiError(f"cannot create a socket directory in {parent}: "
                            f"{exc.strerror}") from exc
        return private_dir(path)
