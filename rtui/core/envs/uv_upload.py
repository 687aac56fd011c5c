"""Putting uv on a host that has none: its wheel (a static binary inside) is downloaded here
for the host's machine, uploaded like the offline wheels, and unpacked there by the agent."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import TYPE_CHECKING

from rtui.core.envs.model import EnvError, env_error
from rtui.core.kernels.wheels import download_uv_wheel, upload_wheels
from rtui.core.remote.client import AgentError, Progress

if TYPE_CHECKING:
    from rtui.core.kernels.service import HostKernels

__all__ = ["put_uv"]

_INSTALL_TIMEOUT = 120.0  # unpacking ~20 MB and running ``uv --version`` once


async def put_uv(kernels: HostKernels, report: Callable[[Progress], None]) -> dict[str, str]:
    """uv on ``kernels``' host from its wheel: ``{"uv": path, "uv_version": ...}``."""
    hello = await kernels.hello()
    platform = hello.get("platform", {})
    if platform.get("system") != "Linux":
        raise EnvError(f"rtui can put uv only on a Linux host; {kernels.name} runs "
                       f"{platform.get('system') or 'an unknown system'}: use --tool venv, "
                       "or install uv there", type="needs_uv")
    libc = platform.get("libc") or [None]
    wheel = await download_uv_wheel(str(platform.get("machine") or ""), libc[0], report)
    remote_dir = await upload_wheels(kernels.connection, hello, [wheel], report, folder="uv")
    report(Progress(f"installing {wheel.name} on {kernels.name}"))
    try:
        said = await kernels.agent.request(
            "uv_install", {"wheel": posixpath.join(remote_dir, wheel.name)},
            timeout=_INSTALL_TIMEOUT)
    except AgentError as exc:
        raise env_error(exc, kernels.name) from exc
    report(Progress(f"uv {said.get('uv_version') or ''} is at {kernels.name}:{said['uv']}"))
    return {"uv": str(said["uv"]), "uv_version": str(said.get("uv_version") or "")}
