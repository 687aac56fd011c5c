"""The one exception family rtui raises, each with a message a person can act on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:  # the model raises ConfigError: only its type is needed here
    from rtui.core.config.model import Problem

__all__ = [
    "AlreadyExistsError",
    "AuthenticationError",
    "ChangedDuringTransferError",
    "ChecksumMismatchError",
    "ConfigError",
    "ConnectTimeoutError",
    "DiskFullError",
    "FilesError",
    "HostKeyChangedError",
    "HostKeyError",
    "HostKeyUnknownError",
    "KernelDiedError",
    "KernelError",
    "LinkLoopError",
    "NoGreetingError",
    "NotSSHServerError",
    "RemoteNotFoundError",
    "RemotePermissionError",
    "RtuiError",
    "SSHError",
    "SignatureMismatchError",
    "TransferCancelledError",
    "UnreachableError",
    "WrongKindError",
    "describe_value",
]


class RtuiError(Exception):
    """A failure the user can understand and act on; ``str()`` is the whole message and
    ``title`` a few words for a dialog's or a notification's heading."""

    default_title: ClassVar[str] = "Error"

    def __init__(self, message: str = "", title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.title = title or self.default_title


class ConfigError(RtuiError):
    """The config file (or an ssh config) is unreadable, malformed or invalid; ``problems``
    are the single things wrong with it (host, field, what), when it could be read."""

    default_title = "Configuration"

    def __init__(self, message: str = "", title: str | None = None, *,
                 problems: Sequence[Problem] = ()) -> None:
        super().__init__(message, title)
        self.problems: tuple[Problem, ...] = tuple(problems)


class SSHError(RtuiError):
    """Connecting to, or talking with, a host failed."""

    default_title = "Connection"


class UnreachableError(SSHError):
    """The host could not be reached at all (DNS, refused, no route)."""


class ConnectTimeoutError(SSHError):
    """A step took longer than its timeout."""


class NotSSHServerError(SSHError):
    """Something answers at the host's port, but not SSH: a web server, TLS, garbage. The
    message quotes the start of what it sent."""


class NoGreetingError(SSHError):
    """The host's port accepted the connection, then sent no SSH greeting: it stayed silent
    for the whole connect timeout, or closed at once."""


class TargetUnreachableError(SSHError):
    """The host is reachable, but nothing answers at a socket on it (a kernel or keeper that
    stopped), or the server refused a channel to it."""


class AuthenticationError(SSHError):
    """The server refused every credential offered."""

    default_title = "Authentication failed"


class HostKeyError(SSHError):
    """The server's host key is not trusted."""

    default_title = "Host key"


class HostKeyUnknownError(HostKeyError):
    """The host key is not known and was not accepted."""


class HostKeyChangedError(HostKeyError):
    """The host presented a key other than the one on record: refused, always."""

    default_title = "Host key changed"


class KernelError(RtuiError):
    """A Jupyter kernel did not answer, or answered with a failure."""

    default_title = "Kernel"


class KernelDiedError(KernelError):
    """The kernel is gone (shut down, restarted or not answering its heartbeat)."""


class SignatureMismatchError(KernelError):
    """The kernel's messages fail the HMAC check: our key is not the kernel's."""

    default_title = "Wrong kernel key"


class FilesError(RtuiError):
    """A file operation failed; the message names the host (or "here") and the path."""

    default_title = "Files"


class RemoteNotFoundError(FilesError):
    """No such file or directory."""


class RemotePermissionError(FilesError):
    """The account may not read or write there."""

    default_title = "Permission denied"


class DiskFullError(FilesError):
    """No space left on the target's file system."""

    default_title = "Disk full"


class WrongKindError(FilesError):
    """A directory was needed (a listing, a target of several sources) and this is not one;
    or a directory was given where a file is needed (``cp`` without ``-r``)."""


class AlreadyExistsError(FilesError):
    """The target exists and the operation does not replace it."""


class LinkLoopError(FilesError):
    """A symbolic link that points, directly or not, at itself."""


class ChangedDuringTransferError(FilesError):
    """The source's size or mtime changed while it was copied: the copy is not a snapshot
    of anything, so it is kept under its part name and the final name is untouched."""


class ChecksumMismatchError(FilesError):
    """The copy's checksum differs from the source's."""


class TransferCancelledError(FilesError):
    """The person cancelled the transfer (its part file is removed)."""

    default_title = "Cancelled"


def describe_value(value: object) -> str:
    """A value of a config file as a message names it: "text 'x'", "true/false (true)",
    "a list", "a table", "float nan" (hosts.toml's and its slurm table's checks share it)."""
    if isinstance(value, bool):
        return f"true/false ({str(value).lower()})"
    if isinstance(value, str):
        return f"text '{value}'"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a table"
    return f"{type(value).__name__} {value!r}"
