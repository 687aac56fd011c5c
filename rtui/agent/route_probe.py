"""The agent's probe socket: how the client learns whether the server forwards Unix sockets.

OpenSSH answers a refused streamlocal channel exactly as it answers one to a path where
nothing listens ("open failed", checked on 9.2), so the client's probe (routes.py) needs a
path that surely listens: this one, made when the agent starts, in the private socket root.
"""

from __future__ import annotations

import os
import socket
import threading

from .protocol import OpError
from .sockets import sockets_root

_probe: list[str | None] = []  # this process's probe socket, once made


def probe_socket() -> str | None:
    """A listening socket ``<root>/probe-<pid>`` for this agent's lifetime, or None.

    Connections are accepted and closed at once. Sockets of agents that died are removed.
    """
    if not _probe:
        _probe.append(_listen_probe())
    return _probe[0]


def _listen_probe() -> str | None:
    try:
        root = sockets_root()
        for name in os.listdir(root):
            if name.startswith("probe-") and name[6:].isdigit() and not _alive(int(name[6:])):
                try:
                    os.unlink(os.path.join(root, name))
                except OSError:
                    pass
        path = os.path.join(root, f"probe-{os.getpid()}")
        try:
            os.unlink(path)
        except OSError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(16)
    except (OpError, OSError):
        return None

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=accept, name="probe-socket", daemon=True).start()
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
