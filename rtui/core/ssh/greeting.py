"""What a server sent before its SSH identification line ("SSH-2.0-..."), so a port where
something else listens is named for what it is rather than as a timeout or a lost
connection.

asyncssh, as a client, skips lines that are not a version (RFC 4253 lets a server send
some first) until 1,024 of them or a line of 8 KiB: a web server's "HTTP/1.1 400 Bad
Request" then ends as "Connection lost" when it closes, and binary garbage, or a server that
accepts and never speaks, as the connect timeout. :class:`GreetingWatch` sees those bytes
first: a reply that cannot be SSH (an HTTP status line, control bytes that no text line
holds: TLS, a database's handshake) ends the attempt at once, and the rest is said when the
attempt ends otherwise (:func:`greeting_error`).
"""

from __future__ import annotations

import asyncio
import re
import socket
from typing import TYPE_CHECKING, Any

from rtui.core.errors import NoGreetingError, NotSSHServerError, SSHError

if TYPE_CHECKING:
    import asyncssh

__all__ = ["GreetingWatch", "greeting_error", "no_greeting_message", "said_text",
           "wait_for_greeting"]

_KEEP = 16 * 1024  # bytes kept before the version line (asyncssh's own limit is 8 KiB a line)
_SHOWN = 60  # characters of what the server said, quoted back
_ASK_AT_MOST = 1.0  # seconds of a silent server's wait left for it to answer our version line
PROBE_LINE = b"SSH-2.0-rtui_check\r\n"
# Bytes no banner line holds: controls but tab, CR and LF (UTF-8's are all >= 0x80).
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class GreetingWatch:
    """The first bytes one connection attempt's server sends, until its SSH version line.

    :meth:`install` wraps the connection's ``data_received`` (asyncssh has no hook for the
    version exchange) and unwraps it once the version line came: the bulk of a session pays
    nothing."""

    def __init__(self, address: str) -> None:
        self.address = address  # "host:port", as messages name it
        self.connected = False  # the TCP connection (or the tunnel's channel) was made
        self.greeted = False  # a line starting "SSH-" came
        self.received = bytearray()  # what came before it (at most _KEEP bytes)

    def install(self, conn: asyncssh.SSHClientConnection) -> None:
        self.connected = True
        original = conn.data_received

        def data_received(data: bytes, datatype: Any = None) -> None:
            verdict = self.take(data)
            if verdict is not None:
                del conn.data_received  # the class's own again
                if isinstance(verdict, SSHError):
                    conn.connection_lost(verdict)  # the attempt fails with it, at once
                    return
            original(data, datatype)

        conn.data_received = data_received  # type: ignore[method-assign]

    def take(self, data: bytes) -> SSHError | bool | None:
        """``None``: still waiting; ``True``: the version line came; an error: not SSH."""
        if len(self.received) >= _KEEP:
            return True  # asyncssh's own limits end it
        self.received += data[:_KEEP - len(self.received)]
        start = 0
        while start < len(self.received):
            end = self.received.find(b"\n", start)
            line = bytes(self.received[start:] if end < 0 else self.received[start:end + 1])
            if line.startswith(b"SSH-"):
                self.greeted = True
                del self.received[start:]
                return True
            if end < 0 and b"SSH-".startswith(line):
                return None  # "SS" so far: the next bytes say
            if _BINARY.search(line) or (start == 0 and line.startswith(b"HTTP/")):
                return NotSSHServerError(not_ssh_message(self.address, bytes(self.received)))
            if end < 0:
                return None
            start = end + 1
        return None


def said_text(data: bytes) -> str:
    """What a server sent, as a message quotes it: its first line as text (control bytes as
    ``\\xNN``, cut at ``_SHOWN`` characters), or, when it is mostly not text, its first
    bytes in hex."""
    first = data.split(b"\n", 1)[0].rstrip(b"\r") or data
    head = first[:_SHOWN]
    if len(_BINARY.findall(head)) * 4 > len(head):
        shown = " ".join(f"{b:02x}" for b in data[:12])
        return f"it sent binary data: {shown}{' …' if len(data) > 12 else ''}"
    text = first.decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    text = text[:_SHOWN] + "…" if len(text) > _SHOWN else text
    return f"it said: '{text}'"


def not_ssh_message(address: str, data: bytes) -> str:
    return f"{address} is not an SSH server ({said_text(data)})"


def no_greeting_message(address: str, seconds: float) -> str:
    return (f"{address} accepted the connection but sent no SSH greeting within {seconds:g} s "
            "(not an SSH server, or one too busy to answer)")


def greeting_error(watch: GreetingWatch, *, timed_out: float | None = None) -> SSHError | None:
    """The error an attempt that ended without an SSH session is said as, when its server
    never sent a version line (``None`` otherwise: the caller's own message stands).
    ``timed_out``: the seconds allowed, when the attempt ran out of them."""
    if not watch.connected or watch.greeted:
        return None
    if watch.received:
        return NotSSHServerError(not_ssh_message(watch.address, bytes(watch.received)))
    if timed_out is not None:
        return NoGreetingError(no_greeting_message(watch.address, timed_out))
    return NoGreetingError(
        f"{watch.address} closed the connection without an SSH greeting (not an SSH server, "
        "or sshd refusing it: too many connections at once, or this address not allowed)")


async def wait_for_greeting(sock: socket.socket, address: str, timeout: float) -> bool:
    """Wait until the server at ``sock`` sends something, reading nothing: an SSH server
    greets first. ``True``: it did, and the socket is untouched, for the handshake.

    A server still silent near the end of ``timeout`` is sent a client's version line, as
    ssh sends it at once: a web server then answers with its error, and is named as not an
    SSH server. ``False``: the server greeted only after that line, so the handshake needs a
    connection of its own. Otherwise raises :class:`NoGreetingError` (silent throughout, or
    closed) or :class:`NotSSHServerError` (what it said)."""
    ask_for = min(_ASK_AT_MOST, timeout / 4)
    if await _readable(sock, timeout - ask_for):
        return True
    try:
        sock.send(PROBE_LINE)
        answered = await _readable(sock, ask_for)
        data = sock.recv(_KEEP) if answered else b""
    except OSError:  # reset: it closed on us
        answered, data = True, b""
    if not answered:
        raise NoGreetingError(no_greeting_message(address, timeout))
    watch = GreetingWatch(address)
    watch.connected = True
    if data and watch.take(data) is True:
        return False
    raise greeting_error(watch) or NotSSHServerError(not_ssh_message(address, data))


async def _readable(sock: socket.socket, timeout: float) -> bool:
    """Whether ``sock`` has something to read (or its end: EOF) within ``timeout``."""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(sock.fileno(), ready)
    try:
        await asyncio.wait_for(readable, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(sock.fileno())
