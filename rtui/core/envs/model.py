"""What the environments service takes and gives: a create's spec, an installed package, and
the errors a person reads (the agent's error types turned into RtuiError subclasses)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from rtui.core.errors import RtuiError
from rtui.core.remote.client import AgentError

__all__ = [
    "TOOLS",
    "EnvBrokenError",
    "EnvCancelledError",
    "EnvDiskFullError",
    "EnvError",
    "EnvExistsError",
    "EnvNotFoundError",
    "EnvSpec",
    "InstallFailedError",
    "NeedsUv",
    "NoIndexError",
    "NoPackageError",
    "NotMadeByRtuiError",
    "Package",
    "env_error",
    "valid_name",
]

TOOLS = ("auto", "uv", "venv")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class EnvSpec:
    """An environment to create: its name, base Python, tool and packages (ipykernel, and
    spyder-kernels with ``spyder``, are added on the host)."""

    name: str
    python: str | None = None  # base interpreter path, or a version like "3.11"
    tool: str = "auto"  # "auto" (uv if the host has it, else venv) | "uv" | "venv"
    packages: tuple[str, ...] = ()
    requirements: str | None = None  # a requirements file's text (read here by the caller)
    spyder: bool = False
    upload_uv: bool = False  # tool "uv" on a host without uv: put uv there


@dataclass(frozen=True)
class Package:
    """A distribution installed in an environment."""

    name: str
    version: str


def valid_name(name: str) -> bool:
    """Whether ``name`` may name an environment rtui makes (a directory under its envs)."""
    return _NAME.fullmatch(name) is not None


class EnvError(RtuiError):
    """An environment could not be made, read, changed or removed; ``type`` is the agent's
    kind of failure (``exists``, ``no_package``...)."""

    default_title = "Environment"
    kind: ClassVar[str] = "env"

    def __init__(self, message: str = "", title: str | None = None, *,
                 type: str | None = None) -> None:
        super().__init__(message, title)
        self.type = type or self.kind


class NeedsUv(EnvError):
    """The tool asked for is uv and the host has none; ``upload_uv`` puts it there."""

    default_title = "uv is not on the host"
    kind = "needs_uv"


class EnvExistsError(EnvError):
    """An environment (or something else) already has that name."""

    kind = "exists"


class EnvNotFoundError(EnvError):
    """No such environment, or its base Python (or uv) is missing on the host."""

    kind = "not_found"


class NoIndexError(EnvError):
    """The host reaches no package index (and wheels could not be brought)."""

    default_title = "No package index"
    kind = "no_index"


class NoPackageError(EnvError):
    """A package or version that the index (or the wheels) does not have."""

    default_title = "No such package"
    kind = "no_package"


class EnvDiskFullError(EnvError):
    """No space left on the host for the environment."""

    default_title = "Disk full"
    kind = "disk_full"


class EnvBrokenError(EnvError):
    """The environment's Python does not run any more (its base interpreter is gone)."""

    default_title = "Broken environment"
    kind = "broken"


class NotMadeByRtuiError(EnvError):
    """rtui did not make this environment: removing it needs ``force``."""

    default_title = "Not made by rtui"
    kind = "not_rtui"


class InstallFailedError(EnvError):
    """pip or uv failed for another reason (its last error line is the message)."""

    default_title = "Install failed"
    kind = "install_failed"


class EnvCancelledError(EnvError):
    """The agent stopped the operation as cancelled (by another request)."""

    default_title = "Cancelled"
    kind = "cancelled"


_BY_TYPE: dict[str, type[EnvError]] = {
    "exists": EnvExistsError, "not_found": EnvNotFoundError, "no_index": NoIndexError,
    "no_package": NoPackageError, "disk_full": EnvDiskFullError, "broken": EnvBrokenError,
    "not_rtui": NotMadeByRtuiError, "pip_failed": InstallFailedError,
    "uv_failed": InstallFailedError, "venv_failed": InstallFailedError,
    "no_pip": InstallFailedError, "probe_failed": InstallFailedError,
    "cancelled": EnvCancelledError, "bad_args": EnvError, "busy": EnvError,
    "remove_failed": EnvError, "os_error": EnvError,
}


def env_error(exc: AgentError, host: str) -> RtuiError:
    """The agent's refusal as the error a person reads (naming the host); a failure that
    is not about environments (a timeout, an unknown op) stays as it is."""
    cls = _BY_TYPE.get(exc.type)
    if cls is None:
        if exc.type == "unknown_op":
            return EnvError(f"the rtui agent on {host} cannot manage environments "
                            f"(it is older than this rtui): {exc}", type=exc.type)
        return exc
    return cls(f"{host}: {exc}", type=exc.type)
