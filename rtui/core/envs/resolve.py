"""Naming an environment: by its name, its directory or its interpreter, among the ones a
host lists (``--env NAME`` wherever a Python path is taken)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rtui.core.envs.model import EnvNotFoundError

if TYPE_CHECKING:
    from rtui.core.envs.service import HostEnvironments
    from rtui.core.kernels.records import Environment
    from rtui.core.kernels.service import HostKernels

__all__ = ["find", "python_version", "resolve_python", "unknown"]

_VERSION = re.compile(r"\d+(\.\d+){0,2}")


def python_version(ref: str) -> bool:
    """Whether ``ref`` is a Python version ("3.11"), not a path or a name."""
    return _VERSION.fullmatch(ref) is not None


def find(envs: Sequence[Environment], ref: str) -> Environment | None:
    """The environment ``ref`` names: its interpreter, its directory, else its name (rtui's
    own environments first, then the first listed of that name). None when none."""
    if "/" in ref or ref.startswith("~"):
        path = posixpath.normpath(ref)
        for env in envs:
            prefix = posixpath.normpath(env.prefix) if env.prefix else None
            if path == env.python or path == prefix:
                return env
        for env in envs:  # another name of its interpreter (bin/python3.12)
            if env.prefix and posixpath.dirname(posixpath.dirname(path)) == env.prefix \
                    and posixpath.basename(posixpath.dirname(path)) == "bin":
                return env
        return None
    named = [env for env in envs if env.name == ref]
    named.sort(key=lambda env: not env.managed)
    return named[0] if named else None


def unknown(host: str, ref: str, envs: Sequence[Environment]) -> EnvNotFoundError:
    """The error for a ref that names none of ``envs``, listing their names."""
    names = sorted({env.name for env in envs if "/" not in env.name})
    listed = ", ".join(names) if names else "none by name"
    return EnvNotFoundError(
        f"no environment {ref} on {host}; its environments: {listed} "
        f"(`rtui envs {host}` lists them with their paths)")


async def resolve_python(service: HostKernels | HostEnvironments, ref: str) -> str:
    """The interpreter for ``--env REF``: a ref with no ``/`` that names a listed
    environment gives its python; anything else (a path, ``python3.11`` on PATH) is
    returned as given."""
    if "/" in ref or ref.startswith("~"):
        return ref
    from rtui.core.envs.service import HostEnvironments

    kernels = service.kernels if isinstance(service, HostEnvironments) else service
    env = find(await kernels.environments(), ref)
    return env.python if env is not None else ref
