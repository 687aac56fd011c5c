"""The one exception family rtui raises, each with a message a person can act on."""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "ConnectTimeoutError",
    "HostKeyChangedError",
    "HostKeyError",
    "HostKeyUnknownError",
    "KernelDiedError",
    "KernelError",
    "RtuiError",
    "SSHError",
    "UnreachableError",
]


class RtuiError(Exception):
    """A failure the user can understand and act on; ``str()`` is the whole message."""


class ConfigError(RtuiError):
    """The config file (or an ssh config) is unreadable, malformed or invalid."""


class SSHError(RtuiError):
    """Connecting to, or talking with, a host failed."""


class UnreachableError(SSHError):
    """The host could not be reached at all (DNS, refused, no route)."""


class ConnectTimeoutError(SSHError):
    """A step took longer than its timeout."""


class AuthenticationError(SSHError):
    """The server refused every credential offered."""


class HostKeyError(SSHError):
    """The server's host key is not trusted."""


class HostKeyUnknownError(HostKeyError):
    """The host key is not known and was not accepted."""


class HostKeyChangedError(HostKeyError):
    """The host presented a key other than the one on record: refused, always."""


class KernelError(RtuiError):
    """A Jupyter kernel did not answer, or answered with a failure."""


class KernelDiedError(KernelError):
    """The kernel is gone (shut down, restarted or not answering its heartbeat)."""
