"""Wheels for a host without a package index: downloaded here for the host's Python and
platform (``pip download``), then uploaded over SFTP and installed there by the agent. The
uv wheel (a static binary inside) travels the same way to a host that has no uv."""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import asyncssh

from rtui.core import locations
from rtui.core.errors import RtuiError, SSHError
from rtui.core.private import make_private_dir
from rtui.core.remote.client import Progress
from rtui.core.ssh.connection import HostConnection

__all__ = [
    "WheelsUnavailable",
    "download_uv_wheel",
    "download_wheels",
    "host_platform",
    "upload_wheels",
]

Report = Callable[[Progress], None]


class WheelsUnavailable(RtuiError):
    """``pip download`` here failed; ``missing``: the requirement no index has, when that
    was why (else the index is out of reach here too)."""

    default_title = "No wheels"

    def __init__(self, message: str, *, missing: str | None = None) -> None:
        super().__init__(message)
        self.missing = missing


def host_platform(hello: dict[str, Any], version: str | None = None) -> tuple[str, str]:
    """(py_tag, machine) of the host for wheels: the agent's Python's tag, or that of the
    Python ``version`` ("3.12.1") when the wheels are for another interpreter there."""
    platform = hello.get("platform", {})
    py_tag = str(platform.get("py_tag") or "")
    match = re.match(r"(\d+)\.(\d+)", version or "")
    if match:
        py_tag = f"cp{match.group(1)}{match.group(2)}"
    return py_tag, str(platform.get("machine") or "")


async def download_wheels(
    packages: Sequence[str], py_tag: str, machine: str, report: Report, *,
    requirements: str | None = None, cached_first: bool = True,
) -> list[Path]:
    """Wheels for ``packages`` (and pip, and a requirements file's text) for a remote
    ``cp3XY`` on ``machine``, cached here; the ones this set needs (not the whole cache).

    With ``cached_first`` the set is first resolved among the cached wheels alone (no index
    asked: measured, most of an offline create's time was pip download asking PyPI to
    resolve wheels it already had); only when some are missing is the index asked. An
    upgrade passes False: it wants what is newest, not what is here."""
    if not re.fullmatch(r"cp3\d+", py_tag) or not machine:
        raise RtuiError(f"cannot download wheels for an unknown platform ({py_tag} {machine})")
    target = locations.cache_dir() / "wheels" / f"{py_tag}-{machine}"
    make_private_dir(target)
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
    with _requirements_file(requirements) as listed:
        if listed is not None:
            command += ["-r", str(listed)]
        if cached_first and any(target.glob("*.whl")):
            try:
                found = await _pip_download(
                    [*command, "--no-index", "--find-links", str(target)], target,
                    "wheels for the remote", lambda p: None)
            except WheelsUnavailable:
                pass  # some are not cached: the index is asked below
            else:
                report(Progress(f"all {len(found)} wheels for Python {version} on {machine} "
                                "are cached here (no index asked)"))
                return found
        report(Progress(f"downloading wheels for Python {version} on {machine} (here)"))
        return await _pip_download(command, target, "wheels for the remote", report)


async def download_uv_wheel(machine: str, libc: str | None, report: Report) -> Path:
    """The uv wheel for a Linux host on ``machine`` (musl or glibc), cached here; the cached
    one when the index cannot be reached from here either."""
    if not machine:
        raise RtuiError("cannot download uv for a host whose machine is unknown")
    target = locations.cache_dir() / "uv" / machine
    make_private_dir(target)
    if libc == "musl":
        platforms = [f"musllinux_1_1_{machine}"]
    else:
        platforms = [f"manylinux_2_17_{machine}", f"manylinux2014_{machine}"]
    command = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "uv",
        "--no-deps", "--only-binary=:all:",
        *[arg for p in platforms for arg in ("--platform", p)], "-d", str(target),
    ]
    report(Progress(f"downloading uv for {machine} (here)"))
    try:
        found = await _pip_download(command, target, "uv", report)
    except RtuiError:
        cached = sorted(target.glob("uv-*.whl"))
        if not cached:
            raise
        report(Progress(f"no index here: using the cached {cached[-1].name}"))
        return cached[-1]
    return found[-1]


async def upload_wheels(
    connection: HostConnection, hello: dict[str, Any], wheels: Sequence[Path], report: Report,
    *, folder: str,
) -> str:
    """Put ``wheels`` in ``<state_dir>/wheels/<folder>`` on the host (those already there
    are kept, not sent again); that directory."""
    remote_dir = posixpath.join(str(hello.get("state_dir")), "wheels", folder)
    conn = await connection.connect()
    try:
        async with conn.start_sftp_client() as sftp:
            await sftp.makedirs(remote_dir, exist_ok=True)
            there = set(await sftp.listdir(remote_dir))
            sending = [wheel for wheel in wheels if wheel.name not in there]
            size = sum(wheel.stat().st_size for wheel in sending) / 1e6
            report(Progress(f"uploading {len(sending)} wheels ({size:.1f} MB) to "
                            f"{connection.name} ({len(wheels) - len(sending)} there already)"))
            for n, wheel in enumerate(sending, start=1):
                target = posixpath.join(remote_dir, wheel.name)
                part = f"{target}.part"  # a wheel cut short is never taken for one
                await sftp.put(str(wheel), part)
                await sftp.posix_rename(part, target)
                report(Progress(f"uploaded {wheel.name}", n / len(sending)))
    except (asyncssh.Error, OSError) as exc:
        raise SSHError(f"cannot upload wheels to {connection.name}:{remote_dir}: {exc}") from exc
    return remote_dir


async def _pip_download(command: list[str], target: Path, what: str,
                        report: Report) -> list[Path]:
    """Run ``pip download`` (its steps reported); the files it saved or found in
    ``target``, in its order."""
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL)
    assert process.stdout is not None
    lines: list[str] = []
    got: dict[str, Path] = {}
    try:
        async for raw in process.stdout:
            line = raw.decode(errors="replace").strip()
            lines.append(line)
            if line.startswith(("Collecting", "Saved", "Downloading", "File was already")):
                report(Progress(line))
            for prefix in ("Saved ", "File was already downloaded "):
                if line.startswith(prefix):
                    path = target / Path(line[len(prefix):].strip()).name
                    got[path.name] = path
        code = await process.wait()
    finally:
        if process.returncode is None:  # cancelled: pip stops with us
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    if code != 0:
        tail = "; ".join(line for line in lines[-3:] if line)
        missing = next((m.group(1) for line in lines
                        if (m := re.search(r"No matching distribution found for (\S+)", line))),
                       None)
        raise WheelsUnavailable(f"cannot download {what} here either: {tail}", missing=missing)
    missing = [p.name for p in got.values() if not p.is_file()]
    if missing or not got:
        raise WheelsUnavailable(f"pip download of {what} saved nothing usable here "
                        f"({', '.join(missing) or 'no files'})")
    return list(got.values())


@contextlib.contextmanager
def _requirements_file(text: str | None) -> Iterator[Path | None]:
    """A private temporary file holding ``text`` (None: none)."""
    if text is None:
        yield None
        return
    fd, name = tempfile.mkstemp(prefix="rtui-req-", suffix=".txt")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        yield Path(name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)
