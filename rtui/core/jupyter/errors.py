"""What can go wrong talking to a Jupyter Server or a JupyterHub, each with a sentence.

Every error carries ``error_kind``, the short name a host's status (``HostStatus``) and
``rtui check --json`` show. No message ever holds a token: they name where it came from.
"""

from __future__ import annotations

from typing import ClassVar

from rtui.core.errors import KernelDiedError, RtuiError

__all__ = [
    "KernelNotFound",
    "ServerError",
    "ServerProtocolError",
    "ServerStartTimeout",
    "ServerTimeout",
    "ServerUnreachable",
    "SpawnFailed",
    "TLSProblem",
    "TokenRejected",
    "TokenUnavailable",
]


class ServerError(RtuiError):
    """A Jupyter Server or a JupyterHub answered with a failure, or could not be asked."""

    default_title = "Jupyter server"
    error_kind: ClassVar[str] = "error"


class ServerUnreachable(ServerError):
    """Nothing answers at the URL (refused, no route, no such name)."""

    default_title = "Connection"
    error_kind = "unreachable"


class ServerTimeout(ServerError):
    """A request got no answer within its bound."""

    default_title = "Connection"
    error_kind = "timeout"


class TokenRejected(ServerError):
    """The server or hub said 401/403 to the token; the message names where it came from."""

    default_title = "Token refused"
    error_kind = "token"


class TokenUnavailable(ServerError):
    """No token could be had: its variable is unset, its command failed, no keyring, or
    nobody was there to ask."""

    default_title = "No token"
    error_kind = "token"


class TLSProblem(ServerError):
    """The TLS handshake failed (an untrusted certificate, http/https confused); rtui never
    turns verification off, so the message says what setting trusts the server."""

    default_title = "TLS"
    error_kind = "tls"
    # False for a guess from a reset connection ("is it https?"): on a link that worked a
    # moment ago the same reset is a drop (a proxy restarting), worth trying again.
    certain = True


class ServerStartTimeout(ServerTimeout):
    """The hub did not have the user's server ready within the start bound (it is left
    starting; the hub's own timeout decides its fate)."""

    default_title = "Server start"


class SpawnFailed(ServerError):
    """The hub reported that the user's server failed to start."""

    default_title = "Server start"
    error_kind = "spawn"


class KernelNotFound(ServerError, KernelDiedError):
    """The server has no kernel with that id (404): it was shut down or it died. A
    KernelDiedError too, so the console treats it as any kernel that is gone."""

    default_title = "Kernel"
    error_kind = "gone"


class ServerProtocolError(ServerError):
    """Something answered, but not as a Jupyter Server (or hub) does: a 404 on its API, a
    redirect to a login page, or a body that is not the JSON expected."""

    error_kind = "protocol"
