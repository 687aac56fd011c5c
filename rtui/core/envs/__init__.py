"""Remote Python environments: create, list, change, export and remove them on a host (the
agent does the work there), and name one by NAME wherever a Python is asked for."""

from __future__ import annotations

from rtui.core.envs.model import (
    EnvBrokenError,
    EnvCancelledError,
    EnvDiskFullError,
    EnvError,
    EnvExistsError,
    EnvNotFoundError,
    EnvSpec,
    InstallFailedError,
    NeedsUv,
    NoIndexError,
    NoPackageError,
    NotMadeByRtuiError,
    Package,
    valid_name,
)
from rtui.core.envs.resolve import resolve_python
from rtui.core.envs.service import ACTIONS, HostEnvironments, ProgressCallback
from rtui.core.kernels.records import Environment

__all__ = [
    "ACTIONS",
    "EnvBrokenError",
    "EnvCancelledError",
    "EnvDiskFullError",
    "EnvError",
    "EnvExistsError",
    "EnvNotFoundError",
    "EnvSpec",
    "Environment",
    "HostEnvironments",
    "InstallFailedError",
    "NeedsUv",
    "NoIndexError",
    "NoPackageError",
    "NotMadeByRtuiError",
    "Package",
    "ProgressCallback",
    "resolve_python",
    "valid_name",
]
