"""The agent's probe socket: how the client learns whether the server forwards Unix sockets.

OpenSSH answers a refused streamlocal channel exactly as it answers one to a path where
nothing listens ("open failed", checked on 9.2), so the client's probe (routes.py) needs a
path that surely listens: this one, made when the agent starts, in the private socket root.

It goes with the agent: removed when the agent leaves (``protocol.on_exit``: its stdin ended,
its channel closed, SIGTERM or SIGHUP). An agent killed outright cannot remove it: the next
agent does, finding nobody listening there (or its pid gone).
"""

from __future__ import annotations

import os
import socket
import threading

from .paths import remove
from .procs import pid_alive
from .protocol import OpError, on_exit
from .sockets import sockets_root

PREFIX = "probe-"
_probe: list[str | None] = []  # this process's probe socket, once made


def probe_socket() -> str | None:
    """A listening socket ``<root>/probe-<pid>`` for this agent's lifetime, or None.

    Connections are accepted and closed at once. Sockets of agents that are gone are removed.
    """
    if not _probe:
        _probe.append(_listen_probe())
    return _probe[0]


def _listen_probe() -> str | None:
    try:
        root = sockets_root()
        remove_stale(root)
        path = os.path.join(root, f"{PREFIX}{os.getpid()}")
        temp = f"{path}.new"  # bound and listening before it takes its name: a probe-<pid>
        remove(temp)  # that refuses a connection is surely a dead agent's
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(temp)
        listener.listen(16)
        os.replace(temp, path)
    except (OpError, OSError):
        return None
    on_exit(lambda: remove(path))

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=accept, name="probe-socket", daemon=True).start()
    return path


def remove_stale(root: str) -> list[str]:
    """Remove the probe sockets in ``root`` of agents that are gone: their pid is, or nothing
    listens there any more (that pid is another process now); the names removed."""
    removed = []
    for name in os.listdir(root):
        pid_text, _, suffix = name[len(PREFIX):].partition(".")
        if not name.startswith(PREFIX) or not pid_text.isdigit() or suffix not in ("", "new"):
            continue
        pid = int(pid_text)
        if pid == os.getpid():
            continue
        path = os.path.join(root, name)
        if not pid_alive(pid) or (not suffix and not _listens(path)):
            remove(path)
            removed.append(name)
    return removed


def _listens(path: str) -> bool:
    """Whether something accepts on ``path`` (unsure counts as yes: it is left alone)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            sock.connect(path)
        return True
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError:
        return True
