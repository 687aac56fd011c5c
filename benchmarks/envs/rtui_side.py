"""rtui's paths: a create through the core API (``HostEnvironments.create``), its
connection and agent already up, as in the TUI or a long-lived CLI workspace."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import time
from pathlib import Path
from typing import Any

from benchmarks.envs.host import PACKAGES, STEP_TIMEOUT, Host, Made

__all__ = ["MISSING", "connect", "rtui_create", "there"]

MISSING = "not there yet"
# what the core's progress says it uploaded: "uploading 31 wheels (42.1 MB) to HOST (...)"
_UPLOADED = re.compile(r"uploading (\d+) wheels? \(([^)]*)\)")


def there() -> bool:
    """The core's environments (rtui.core.envs) are written (issue 18 lands in parts)."""
    return importlib.util.find_spec("rtui.core.envs") is not None


async def connect(workspace: Any, name: str) -> Any:
    """The host's environments service, its connection and agent up (not measured)."""
    envs = await workspace.environments(name)
    await envs.tools()
    return envs


async def rtui_create(envs: Any, host: Host, tool: str, *, offline: bool = False) -> Made:
    """Seconds for ``HostEnvironments.create`` of ipykernel + numpy with ``tool``; on the
    offline host rtui finds no index, downloads the wheels here and uploads them (all
    counted); ``offline``: told so up front, the index not tried."""
    from rtui.core.envs import EnvSpec

    lines: list[str] = []
    spec = EnvSpec(name=host.fresh_name(f"rtui-{tool}"), python=host.base, tool=tool,
                   packages=PACKAGES)
    started = time.perf_counter()
    env = await asyncio.wait_for(
        envs.create(spec, on_progress=lambda progress: lines.append(progress.line),
                    offline=offline),
        STEP_TIMEOUT)
    seconds = time.perf_counter() - started
    prefix = Path(env.prefix) if env.prefix else Path(env.python).parents[1]
    return Made(seconds, prefix, uploaded=_uploaded(lines))


def _uploaded(lines: list[str]) -> str:
    """What the progress lines say was uploaded ("" when nothing was)."""
    said = [found for line in lines if (found := _UPLOADED.search(line))]
    return ", ".join(f"{found.group(1)} wheels, {found.group(2)}" for found in said)
