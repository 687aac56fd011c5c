"""A host's Python environments: list, create, read packages, change, export and remove them,
through the host's agent (which runs uv or venv + pip there).

Installs go online first; when the host reaches no package index (or ``offline``), wheels
for the host's Python and platform are downloaded here, uploaded, and the step runs again
from them. Long steps have no fixed bound: they stream progress, stop when nothing was heard
for ``IDLE_TIMEOUT`` s, and stop when the awaiting task is cancelled (the agent then removes
a half-made environment, and a create waits, bounded, until it is gone).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import posixpath
from collections.abc import Callable, Sequence
from typing import Any

import asyncssh

from rtui.core.envs.model import (
    TOOLS,
    EnvError,
    EnvNotFoundError,
    EnvSpec,
    NeedsUv,
    NoIndexError,
    NoPackageError,
    Package,
    env_error,
    valid_name,
)
from rtui.core.envs.resolve import find, python_version, unknown
from rtui.core.envs.uv_upload import put_uv
from rtui.core.errors import RtuiError
from rtui.core.kernels.records import Environment
from rtui.core.kernels.service import HostKernels
from rtui.core.kernels.wheels import (
    WheelsUnavailable,
    download_wheels,
    host_platform,
    upload_wheels,
)
from rtui.core.remote.client import AgentError, Progress

__all__ = ["ACTIONS", "IDLE_TIMEOUT", "HostEnvironments", "ProgressCallback"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]
ACTIONS = ("install", "uninstall", "upgrade")
FORMATS = ("requirements", "pylock")
IDLE_TIMEOUT = 600.0  # seconds without a line from a create or change: it is stalled
_INDEX_TIMEOUT = 15  # seconds pip or uv waits for the index on the host
_GONE_TIMEOUT = 30.0  # seconds a cancelled create waits for the agent to remove its env
# The order a version ("3.11") picks among the interpreters of that version.
_BASE_KINDS = ("path", "configured", "rtui", "venv", "conda")


class HostEnvironments:
    """The environments of one host, sharing its kernels service (connection, agent, the
    environment list the consoles' picker reads)."""

    def __init__(self, kernels: HostKernels) -> None:
        self.kernels = kernels
        # The host reached no package index once in this run: its next installs bring
        # wheels at once (an online try costs pip's failure, and a create its venv too).
        self.no_index = False

    @property
    def name(self) -> str:
        return self.kernels.name

    # -- reading -----------------------------------------------------------------------------

    async def list(self, *, refresh: bool = False, sizes: bool = False) -> list[Environment]:
        """The host's environments (kept from the last probe unless ``refresh``); ``sizes``:
        with each one's size on disk (probed again)."""
        return await self.kernels.environments(refresh=refresh, sizes=sizes)

    async def tools(self) -> dict[str, str | None]:
        """``{"uv": path|None, "uv_version": str|None}`` on the host."""
        said = await self._request("env_tools", {}, timeout=30)
        return {"uv": said.get("uv"), "uv_version": said.get("uv_version")}

    async def resolve(self, env: str) -> Environment:
        """The environment ``env`` names (its name, directory or interpreter); listed again
        once when it is not in the kept list; EnvNotFoundError listing the names."""
        ref = env
        if ref.startswith("~"):
            home = str((await self.kernels.hello()).get("home") or "~")
            ref = home + ref[1:]
        envs = await self.list()
        found = find(envs, ref)
        if found is None:
            envs = await self.list(refresh=True)
            found = find(envs, ref)
        if found is None:
            raise unknown(self.name, env, envs)
        return found

    async def packages(self, env: str) -> builtins.list[Package]:
        """What is installed in ``env`` (name, directory or interpreter), by name."""
        found = await self.resolve(env)
        said = await self._request("env_packages", {"python": found.python}, timeout=60)
        return _packages(said)

    async def export(self, env: str, fmt: str = "requirements") -> str:
        """``env``'s packages as a requirements.txt (``name==version`` lines) or, for one
        made by uv, a pylock.toml: the text."""
        if fmt not in FORMATS:
            raise EnvError(f"unknown export format {fmt!r}: {' or '.join(FORMATS)}",
                           type="bad_args")
        found = await self.resolve(env)
        said = await self._request("env_export", {"python": found.python, "format": fmt},
                                   timeout=120)
        return str(said["text"])

    # -- changing ----------------------------------------------------------------------------

    async def create(
        self, spec: EnvSpec, *, on_progress: ProgressCallback | None = None,
        offline: bool = False,
    ) -> Environment:
        """Make the environment ``spec`` names in rtui's envs directory on the host, with
        pip, ipykernel (and spyder-kernels) and ``spec``'s packages; the environment as
        listed. Nothing is left on the host when it fails or is cancelled."""
        report = on_progress or _ignore
        _check_spec(spec)
        hello = await self.kernels.hello()
        base, version = await self._base_python(spec.python, hello)
        tool = await self._tool(spec, report)
        args: dict[str, Any] = {
            "name": spec.name, "base_python": base, "tool": tool,
            "packages": list(spec.packages), "requirements": spec.requirements,
            "spyder": spec.spyder, "wheels_dir": None, "index_timeout": _INDEX_TIMEOUT,
        }
        kernel_packages = ["ipykernel", *(["spyder-kernels"] if spec.spyder else [])]
        started = False  # the agent began making it (a cancel waits for its removal)

        def heard(progress: Progress) -> None:
            nonlocal started
            started = True
            report(progress)

        offline = self._offline(offline, report)
        where = "offline" if offline else "online"
        report(Progress(f"creating {spec.name} on {self.name} with {tool} ({where})"))
        try:
            said = await self._online_then_offline(
                "env_create", args, report=heard, offline=offline, version=version,
                wheels_for=[*spec.packages, *kernel_packages], requirements=spec.requirements)
        except asyncio.CancelledError:
            if started:
                prefix = posixpath.join(str(hello.get("state_dir")), "envs", spec.name)
                await self._wait_removed(prefix)
            raise
        finally:
            self.kernels.forget_environments()
        return Environment.from_agent(said)

    async def change(
        self, env: str, action: str, packages: Sequence[str], *,
        requirements: str | None = None, on_progress: ProgressCallback | None = None,
        offline: bool = False,
    ) -> builtins.list[Package]:
        """Install, uninstall or upgrade ``packages`` (and a requirements file's text) in
        ``env``; its packages after. A cancelled install may have installed some."""
        if action not in ACTIONS:
            raise EnvError(f"unknown action {action!r}: {', '.join(ACTIONS)}", type="bad_args")
        if not packages and not requirements:
            raise EnvError(f"nothing to {action}: name packages or a requirements file",
                           type="bad_args")
        _check_packages(packages)
        report = on_progress or _ignore
        found = await self.resolve(env)
        args: dict[str, Any] = {
            "python": found.python, "action": action, "packages": list(packages),
            "requirements": requirements, "wheels_dir": None, "index_timeout": _INDEX_TIMEOUT,
        }
        report(Progress(f"{action} {' '.join(packages) or 'requirements'} in {found.name} "
                        f"on {self.name}"))
        try:
            if action == "uninstall":  # needs no index
                said = await self._request("env_change", args, report=report)
            else:
                said = await self._online_then_offline(
                    "env_change", args, report=report, offline=self._offline(offline, report),
                    version=found.version, wheels_for=list(packages), requirements=requirements,
                    newest=action == "upgrade")
        finally:
            self.kernels.forget_environments()
        return _packages(said)

    async def remove(self, env: str, *, force: bool = False) -> str:
        """Remove ``env`` (one rtui did not make only with ``force``; never a base
        interpreter); its directory."""
        try:
            found = await self.resolve(env)
            args: dict[str, Any] = {"python": found.python, "force": force}
        except EnvNotFoundError:
            if not valid_name(env):
                raise
            args = {"name": env, "force": force}  # not listed (broken?): the agent knows
        try:
            said = await self._request("env_remove", args, timeout=300)
        finally:
            self.kernels.forget_environments()
        return str(said["removed"])

    # -- internals ---------------------------------------------------------------------------

    async def _request(self, op: str, args: dict[str, Any], *, timeout: float | None = None,
                       report: ProgressCallback | None = None) -> dict[str, Any]:
        """One agent request; its refusal as an EnvError. ``timeout`` None: bounded by
        silence (``IDLE_TIMEOUT`` s without a line), not by its length."""
        try:
            if timeout is not None:
                said = await self.kernels.agent.request(op, args, timeout=timeout,
                                                        on_progress=report)
            else:
                said = await self.kernels.agent.request(
                    op, args, timeout=IDLE_TIMEOUT, idle_timeout=True, on_progress=report)
        except AgentError as exc:
            if exc.type == "timeout" and timeout is None:
                raise EnvError(
                    f"{self.name}: nothing heard from {op} for {IDLE_TIMEOUT:g} s: stopped "
                    "(is pip or uv waiting for the network?)", type="timeout") from exc
            raise env_error(exc, self.name) from exc
        return dict(said)

    async def _online_then_offline(
        self, op: str, args: dict[str, Any], *, report: ProgressCallback, offline: bool,
        version: str | None, wheels_for: builtins.list[str], requirements: str | None,
        newest: bool = False,
    ) -> dict[str, Any]:
        """``op`` with the host's index; when it has none (or ``offline``), again with
        wheels downloaded here and uploaded."""
        if not offline:
            try:
                return await self._request(op, args, report=report)
            except NoIndexError:
                self.no_index = True
                report(Progress(f"{self.name} cannot reach a package index: uploading wheels"))
        hello = await self.kernels.hello()
        py_tag, machine = host_platform(hello, version)
        try:
            wheels = await download_wheels(wheels_for, py_tag, machine, report,
                                           requirements=requirements, cached_first=not newest)
        except WheelsUnavailable as exc:
            if exc.missing is not None:
                raise NoPackageError(
                    f"no package {exc.missing} for Python {py_tag} on {machine} ({self.name} "
                    f"has no index, and none here has it): {exc}") from exc
            raise NoIndexError(f"{self.name} reaches no package index, and the wheels cannot "
                               f"be had here either: {exc}") from exc
        args = dict(args, wheels_dir=await upload_wheels(
            self.kernels.connection, hello, wheels, report, folder=f"{py_tag}-{machine}"))
        return await self._request(op, args, report=report)

    def _offline(self, offline: bool, report: ProgressCallback) -> bool:
        """Whether to bring wheels at once: asked to, or the host had no index before."""
        if not offline and self.no_index:
            report(Progress(f"{self.name} reached no package index before: uploading wheels"))
        return offline or self.no_index

    async def _base_python(self, python: str | None,
                           hello: dict[str, Any]) -> tuple[str, str | None]:
        """The base interpreter a create uses and its version (None: not known here):
        ``python`` as given, the listed one of a version ("3.11"), else the host's
        configured Python, else the agent's."""
        if python is not None and not python_version(python):
            return python, await self._version_of(python)
        if python is None:
            chosen = self.kernels.python or str(hello.get("python"))
            if chosen == hello.get("python"):
                return chosen, hello.get("python_version")
            return chosen, await self._version_of(chosen)
        envs = await self.list()
        fits = [e for e in envs if e.error is None and e.version
                and (e.version == python or e.version.startswith(python + "."))]
        fits.sort(key=lambda e: _BASE_KINDS.index(e.kind) if e.kind in _BASE_KINDS
                  else len(_BASE_KINDS))
        if not fits:
            found = sorted({f"{e.version} ({e.python})" for e in envs
                            if e.error is None and e.version})
            raise EnvNotFoundError(
                f"no Python {python} on {self.name}; it has {', '.join(found) or 'none'}")
        return fits[0].python, fits[0].version

    async def _version_of(self, python: str) -> str | None:
        """The version of a listed interpreter (for the wheels' tag), None when unlisted."""
        with contextlib.suppress(RtuiError):
            found = find(await self.list(), python)
            if found is not None:
                return found.version
        return None

    async def _tool(self, spec: EnvSpec, report: ProgressCallback) -> str:
        """"uv" or "venv" for ``spec``: uv when asked for or found; put there when asked."""
        if spec.tool == "venv":
            return "venv"
        if (await self.tools()).get("uv"):
            return "uv"
        if spec.tool == "auto":
            return "venv"
        if not spec.upload_uv:
            raise NeedsUv(f"{self.name} has no uv: rtui can put it there (its wheel is "
                          "downloaded here and uploaded), or use the tool venv")
        await put_uv(self.kernels, report)
        return "uv"

    async def _wait_removed(self, prefix: str) -> None:
        """Until the agent has removed a cancelled create's directory (its answer went with
        the cancel), for ``_GONE_TIMEOUT`` s at most."""
        try:
            conn = await self.kernels.connection.connect()
            async with conn.start_sftp_client() as sftp:
                for _ in range(int(_GONE_TIMEOUT / 0.2)):
                    if not await sftp.exists(prefix):
                        return
                    await asyncio.sleep(0.2)
        except (asyncssh.Error, OSError, RtuiError) as exc:
            log.warning("cannot tell whether %s:%s is gone: %s", self.name, prefix, exc)
            return
        log.warning("%s:%s is still there %g s after the cancel", self.name, prefix,
                    _GONE_TIMEOUT)


def _ignore(progress: Progress) -> None:
    """No one follows the progress."""


def _check_spec(spec: EnvSpec) -> None:
    """Refuse, before anything is made, what the host would refuse."""
    if not valid_name(spec.name):
        raise EnvError(f"{spec.name!r} cannot name an environment: letters, digits, '.', '_' "
                       "and '-', starting with a letter or digit, 64 at most",
                       type="bad_args")
    if spec.tool not in TOOLS:
        raise EnvError(f"unknown tool {spec.tool!r}: {', '.join(TOOLS)}", type="bad_args")
    _check_packages(spec.packages)


def _check_packages(packages: Sequence[str]) -> None:
    bad = [p for p in packages if not p.strip() or p.lstrip().startswith("-")]
    if bad:
        raise EnvError(f"not a package: {bad[0]!r} (options are not passed to pip or uv)",
                       type="bad_args")


def _packages(said: dict[str, Any]) -> list[Package]:
    return [Package(str(p["name"]), str(p["version"])) for p in said.get("packages", [])]
