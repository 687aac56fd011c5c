"""Where the agent keeps things on the host, and its private (0600/0700) files."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import stat
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def home() -> str:
    return os.path.expanduser("~")


def _data_home() -> str:
    return os.environ.get("XDG_DATA_HOME") or os.path.join(home(), ".local", "share")


def cache_dir() -> str:
    """rtui's cache on the host (the agent's bundle, the probe's answers)."""
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(home(), ".cache"),
                        "rtui")


def state_dir() -> str:
    return os.path.join(_data_home(), "rtui")


def default_venv() -> str:
    """rtui's own environment, made by ``setup``."""
    return os.path.join(state_dir(), "venv")


def envs_dir() -> str:
    """The environments rtui creates (``env_create``), one directory per name."""
    return os.path.join(state_dir(), "envs")


def kernels_dir() -> str:
    """rtui's records of the kernels it started."""
    return os.path.join(state_dir(), "kernels")


def runtime_dir() -> str:
    """Jupyter's runtime dir, computed as jupyter_core does."""
    if os.environ.get("JUPYTER_RUNTIME_DIR"):
        return os.environ["JUPYTER_RUNTIME_DIR"]
    data = os.environ.get("JUPYTER_DATA_DIR")
    if not data:
        if sys.platform == "darwin":
            data = os.path.join(home(), "Library", "Jupyter")
        else:
            data = os.path.join(_data_home(), "jupyter")
    return os.path.join(data, "runtime")


def connection_files(directory: str) -> list[str]:
    """The kernel connection files in ``directory``."""
    return glob.glob(os.path.join(glob.escape(directory), "kernel-*.json"))


def missing_dirs(path: str) -> list[str]:
    """``path`` and its ancestors that do not exist yet, outermost first."""
    missing: list[str] = []
    while path and not os.path.exists(path):
        missing.insert(0, path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def new_dirs_private(path: str) -> None:
    """Create ``path`` and its missing parents 0700; one that exists is left as it is (the
    person's own, e.g. a ~/.ipython they share with their group)."""
    for level in missing_dirs(os.path.abspath(path)):
        try:
            os.mkdir(level, 0o700)
        except FileExistsError:
            pass  # made meanwhile (another agent)


def ipython_dir(env: dict[str, str]) -> str:
    """Where a kernel's IPython keeps its profile (its history of every cell's code among
    it): ``IPYTHONDIR`` as the kernel gets it, else ``~/.ipython``."""
    chosen = env.get("IPYTHONDIR") or os.environ.get("IPYTHONDIR") or "~/.ipython"
    return os.path.join(home(), os.path.expanduser(chosen))


def private_dir(path: str) -> str:
    """Create ``path`` mode 0700, and each missing parent 0700 too (as the XDG spec asks of
    the base directories: ``os.makedirs`` left a new ``~/.local/share`` and ``~/.local/share/
    rtui`` 0755, listable by every account); tighten ``path`` if it is ours and looser."""
    new_dirs_private(path)
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.stat(path)
    if st.st_uid == os.getuid() and st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def write_json(path: str, obj: Any, exclusive: bool = False) -> None:
    """Write ``obj`` to ``path`` mode 0600 (atomically unless ``exclusive``)."""
    target = path if exclusive else f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(target, flags, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1)
    if not exclusive:
        os.replace(target, path)


MAX_JSON_BYTES = 1 << 20


def load_json(path: str) -> Any:
    """The JSON in a regular file of at most 1 MiB; ValueError (or OSError) saying why not.

    Never blocks: a FIFO or a device named like a connection file is refused by its type
    before it is opened (opening a FIFO waits for a writer), the file is opened non-blocking
    and only so much is read."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError("it is not a regular file")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("it is not a regular file")
        data = f.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(f"it is over {MAX_JSON_BYTES // 1024} KiB")
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8 text") from None
    except RecursionError:
        raise ValueError("its JSON is nested too deeply") from None
    except ValueError as e:
        raise ValueError(f"it is not valid JSON ({e})") from None


def read_json(path: str) -> Any:
    try:
        return load_json(path)
    except (OSError, ValueError):
        return None


def remove(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def tail(path: str, n: int = 20) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()[-16384:].decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(data.splitlines()[-n:]) or "(empty log)"


def real(path: str) -> str:
    return os.path.realpath(path)


def kernel_id(cf: str) -> str:
    """A kernel's id from its connection file's name (``kernel-<id>.json``)."""
    name = os.path.basename(cf)
    name = name[len("kernel-"):] if name.startswith("kernel-") else name
    return name[:-len(".json")] if name.endswith(".json") else name


def key_digest(conn: Any) -> str | None:
    """A short digest of a connection's key: tells two kernels' connection info apart (a
    client's copy, a keeper's) without the key leaving the host."""
    key = conn.get("key") if isinstance(conn, dict) else None
    return hashlib.sha256(key.encode()).hexdigest()[:16] if isinstance(key, str) else None
