"""Wheels for a host without a package index: downloaded here for the host's Python and
platform (``pip download``), then uploaded and installed there by the agent."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable
from pathlib import Path

from rtui.core import locations
from rtui.core.errors import RtuiError
from rtui.core.remote.client import Progress

__all__ = ["download_wheels"]


async def download_wheels(
    packages: list[str], py_tag: str, machine: str, report: Callable[[Progress], None]
) -> list[Path]:
    """Wheels for ``packages`` (and pip) for a remote ``cp3XY`` on ``machine``, cached here."""
    if not re.fullmatch(r"cp3\d+", py_tag) or not machine:
        raise RtuiError(f"cannot download wheels for an unknown platform ({py_tag} {machine})")
    target = locations.cache_dir() / "wheels" / f"{py_tag}-{machine}"
    target.mkdir(parents=True, exist_ok=True)
    version = py_tag[2] + "." + py_tag[3:]
    platforms = [f"manylinux_2_{n}_{machine}" for n in (28, 17, 12, 5)]
    platforms += [f"manylinux2014_{machine}", f"manylinux1_{machine}", f"linux_{machine}"]
    command = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
        "--only-binary=:all:", "--python-version", version, "--implementation", "cp",
        "--abi", py_tag, "--abi", "abi3", "--abi", "none",
        *[arg for p in platforms for arg in ("--platform", p)],
        "-d", str(target), "pip", *packages,
    ]
    report(Progress(f"downloading wheels for Python {version} on {machine} (here)"))
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert process.stdout is not None
    lines: list[str] = []
    async for raw in process.stdout:
        line = raw.decode(errors="replace").rstrip()
        lines.append(line)
        if line.startswith(("Collecting", "Saved", "Downloading", "File was already")):
            report(Progress(line))
    if await process.wait() != 0:
        tail = "; ".join(lines[-3:])
        raise RtuiError(f"cannot download wheels for the remote here either: {tail}")
    return sorted(target.glob("*.whl"))
