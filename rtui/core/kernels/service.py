"""Kernels on one host: environments, set-up, launch, attach, interrupt, restart, shutdown.

The agent does the remote work (find Pythons, start detached kernels, signal them); this
module fetches connection files over SFTP, forwards the ports and opens a KernelSession.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import logging
import posixpath
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtui.core.errors import (
    KernelDiedError,
    KernelError,
    RtuiError,
    SignatureMismatchError,
)
from rtui.core.kernels.connection_info import (
    ConnectionFileError,
    check_connection_info,
    read_connection_file,
)
from rtui.core.kernels.first_code import FirstCode, ran_first, send_quietly
from rtui.core.kernels.keeper_link import keeper_opener
from rtui.core.kernels.liveness import gone_error, known_dead, start_session
from rtui.core.kernels.prelaunch import (
    AFTER_LAUNCH,
    LaunchPlan,
    PlanMismatch,
    alongside,
    plan_launch,
    same_place,
)
from rtui.core.kernels.records import (
    Environment,
    KernelRecord,
    LocatedKernel,
    RemoteKernel,
    job_of,
)
from rtui.core.kernels.reloading import Reloading
from rtui.core.kernels.remembered import RememberedKernel, RememberedKernels
from rtui.core.kernels.routes import HostRoutes
from rtui.core.kernels.seen import SeenStore
from rtui.core.kernels.session import KeeperSource, KernelSession
from rtui.core.kernels.tunnel import PORT_NAMES, KernelTunnel
from rtui.core.kernels.wheels import download_wheels, host_platform, upload_wheels
from rtui.core.remote.client import AgentClient, AgentError, Progress
from rtui.core.slurm import service as slurm
from rtui.core.slurm.jobs import JobInfo
from rtui.core.slurm.service import JobCallback, SubmittedJob
from rtui.core.slurm.settings import SlurmSettings
from rtui.core.ssh.connection import ConnState, HostConnection

__all__ = [
    "Environment",
    "HostKernels",
    "KernelRecord",
    "LocatedKernel",
    "ProgressCallback",
    "RemoteKernel",
]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]
_SETUP_TIMEOUT = 900.0
_GONE_TIMEOUT = 10.0  # seconds for the agent to say whether a silent kernel's process lives
_LAUNCH_TIMEOUT = 60.0  # seconds for the agent's launch (its kernel's own bound is 30 s)
TAIL = 200
"""Messages of kept output a console shows when it has never seen the kernel."""


class HostKernels:
    """The kernel side of one host, sharing the host's connection (a KernelHost, with
    what only SSH hosts have: files, environments, SLURM jobs)."""

    supports_files = True
    supports_environments = True
    supports_slurm = True

    def __init__(
        self, connection: HostConnection, *, python: str | None = None,
        state_dir: Path | None = None, reloading: Reloading | None = None,
    ) -> None:
        self.connection = connection
        self.python = python if python not in (None, "", "auto") else None
        # Module reloading in the kernels this starts or restarts (the host's setting).
        self.reloading = reloading or Reloading()
        self.agent = AgentClient(connection, python=self.python)
        self.routes = HostRoutes(connection, self.agent)  # how kernel sockets are reached
        self._envs: asyncio.Future[list[Environment]] | None = None
        self._attached: list[RemoteKernel] = []  # detached on close
        # How far consoles read each kernel's kept output (the demo's host: in its temp dir).
        self.seen = SeenStore(None if state_dir is None else state_dir / "seen.json")
        # What the next attach needs of each kernel, and the host's routes (see attach).
        self.remembered = RememberedKernels(None if state_dir is None else state_dir / "kernels")

    @property
    def name(self) -> str:
        return self.connection.name

    async def close(self) -> None:
        """Detach from every kernel still attached (they keep running) and stop the agent."""
        if self._envs is not None and not self._envs.done():
            self._envs.cancel()
        for kernel in list(self._attached):
            with contextlib.suppress(Exception):
                await self.detach(kernel)
        await self.routes.close()
        await self.agent.close()

    # -- environments and set-up -------------------------------------------------------------

    def set_python(self, python: str | None) -> None:
        """The host's configured interpreter changed (its agent keeps running): the next
        environment list includes and prefers the new one."""
        python = python if python not in (None, "", "auto") else None
        if python != self.python:
            self.python, self._envs = python, None

    async def environments(self, *, refresh: bool = False,
                           sizes: bool = False) -> list[Environment]:
        """The host's Pythons; probed once (each interpreter is started, which takes a
        moment) and kept, unless ``refresh``. Concurrent callers share one probe. ``sizes``:
        probed again with each environment's size on disk (kept for the next callers)."""
        if (refresh or sizes or self._envs is None
                or (self._envs.done() and self._envs.exception())):
            self._envs = asyncio.ensure_future(self._probe_environments(sizes=sizes))
        return list(await asyncio.shield(self._envs))

    def forget_environments(self) -> None:
        """An environment was made, changed or removed: the next listing probes again."""
        self._envs = None

    async def _probe_environments(self, *, sizes: bool = False) -> list[Environment]:
        args: dict[str, Any] = {"extra": [self.python] if self.python else []}
        if sizes:
            args["sizes"] = True
        result = await self.agent.request("envs", args, timeout=60)
        return [Environment.from_agent(e) for e in result.get("envs", [])]

    async def setup(
        self, *, spyder: bool = False, on_progress: ProgressCallback | None = None,
        offline: bool = False,
    ) -> Environment:
        """Create rtui's own env (``~/.local/share/rtui/venv``) with the kernel packages.

        Online first; when the remote cannot reach a package index, wheels for its Python and
        platform are downloaded here and uploaded. A set-up that fails leaves no venv behind
        (the agent removes what it made; the venv it kept for the wheels is discarded when
        they cannot be had).
        """
        report = on_progress or (lambda p: None)
        packages = ["ipykernel", *(["spyder-kernels"] if spyder else [])]
        hello = await self.hello()
        args: dict[str, Any] = {
            "base_python": self.python or hello.get("python"),
            "packages": packages,
        }
        if not offline:
            report(Progress(f"installing {', '.join(packages)} on {self.name} (pip, online)"))
            try:
                result = await self.agent.request(
                    "setup", args, timeout=_SETUP_TIMEOUT, on_progress=report)
                return self._env_from_setup(result)
            except AgentError as exc:
                if exc.type != "no_index":
                    raise
                report(Progress(f"{self.name} cannot reach a package index: uploading wheels"))
        try:
            args["wheels_dir"] = await self._upload_wheels(hello, packages, report)
        except BaseException:
            if not offline:  # the agent kept the venv it made for this second step
                with contextlib.suppress(RtuiError):
                    await self.agent.request("discard_setup", timeout=60)
            raise
        result = await self.agent.request(
            "setup", args, timeout=_SETUP_TIMEOUT, on_progress=report)
        return self._env_from_setup(result)

    def _env_from_setup(self, result: dict[str, Any]) -> Environment:
        self._envs = None  # a new env exists: probe again next time
        return Environment(
            python=str(result["python"]), kind="rtui", name="rtui", version=result.get("version"),
            ipykernel=result.get("ipykernel"), spyder_kernels=result.get("spyder_kernels"),
        )

    async def hello(self) -> dict[str, Any]:
        """The agent's greeting (home, platform, Python); starts the agent if it is not up."""
        return await self.agent.start()

    async def _upload_wheels(
        self, hello: dict[str, Any], packages: list[str], report: ProgressCallback
    ) -> str:
        py_tag, machine = host_platform(hello)
        wheels = await download_wheels(packages, py_tag, machine, report)
        return await upload_wheels(self.connection, hello, wheels, report,
                                   folder=f"{py_tag}-{machine}")

    # -- kernels -----------------------------------------------------------------------------

    async def list(self) -> list[KernelRecord]:
        result = await self.agent.request("list", timeout=30)
        return [KernelRecord.from_agent(k) for k in result.get("kernels", [])]

    async def start(
        self, *, python: str, spyder: bool = False, cwd: str | None = None,
        transport: str | None = None, code: str | None = None,
    ) -> RemoteKernel:
        """Launch a detached kernel in ``python`` (it outlives the connection) and connect
        to it. Which Python: see :mod:`rtui.core.kernels.choice`. ``code``: see
        :meth:`attach`.

        It listens on Unix sockets in a private directory on the host, or on 127.0.0.1
        where the server forwards TCP and not Unix sockets (see routes.py); ``transport``
        ("tcp"/"ipc") overrides that (a benchmark's peers reach its ports with ``ssh -L``)."""
        mode = self.routes.mode or await self.routes.ready()
        args: dict[str, Any] = {
            "python": python, "kind": "spyder" if spyder else "ipykernel", "cwd": cwd,
            "transport": transport or ("tcp" if mode == "tcp" else "ipc"),
            "output_buffer_mb": self.connection.settings.output_buffer_mb,
        }
        env = self.reloading.launch_env(str(args["kind"]))
        if env:  # spyder-kernels' UMR reads it at start; a restart keeps it
            args["env"] = env
        plan = plan_launch(self.agent.hello, args["transport"])
        if plan is not None:  # reached while it boots: see prelaunch
            try:
                return await self._start_planned(plan, args, code)
            except PlanMismatch as exc:  # not where planned (it runs): reach it where it is
                return await self._connect_launched(exc.record, python, code)
        record = await self.agent.request("launch", args, timeout=_LAUNCH_TIMEOUT)
        return await self._connect_launched(record, python, code)

    async def _connect_launched(self, record: dict[str, Any], python: str,
                                code: str | None) -> RemoteKernel:
        """Connect to a kernel the agent launched, from its answer."""
        # The agent read the connection file for us: its answer carries it.
        remote_info = _check_connection(record, f"{self.name}:{record['connection_file']}")
        keeper = record.get("keeper")
        return await self._connect(
            str(record["id"]), str(record["connection_file"]), remote_info, launched=True,
            kind=str(record.get("kind", "ipykernel")), python=python,
            keeper=keeper if isinstance(keeper, str) else None, running=True,
            since=int(record.get("seq") or 0),  # what it printed once ready: not its boot
            code=code)

    # -- kernels as SLURM jobs (the use cases: rtui/core/slurm/service.py) -------------------

    async def submit_slurm(self, *, python: str, spyder: bool = False, cwd: str | None = None,
                           settings: SlurmSettings) -> SubmittedJob:
        """Submit a batch job that starts a kernel on a compute node (this host is the
        login node); answered as soon as sbatch took it."""
        return await slurm.submit(self, python=python, spyder=spyder, cwd=cwd,
                                  settings=settings)

    async def wait_slurm(self, kernel_id: str, *, on_update: JobCallback | None = None,
                         code: str | None = None, timeout: float | None = None) -> RemoteKernel:
        """Follow a submitted job until its kernel is ready (``on_update`` hears each
        change), then connect to it through this host. Ending early leaves the job queued."""
        record = await slurm.wait_record(self, kernel_id, on_update=on_update, timeout=timeout)
        kernel = await self._connect_launched(record, str(record.get("python") or ""), code)
        kernel.slurm = job_of(record)
        return kernel

    async def start_slurm(
        self, *, python: str, spyder: bool = False, cwd: str | None = None,
        settings: SlurmSettings, on_update: JobCallback | None = None, code: str | None = None,
        timeout: float | None = None,
    ) -> RemoteKernel:
        """Submit and wait; given up before the kernel is reached, the job is cancelled."""
        return await slurm.start(self, python=python, spyder=spyder, cwd=cwd,
                                 settings=settings, on_update=on_update, code=code,
                                 timeout=timeout)

    async def cancel_slurm(self, kernel_id: str) -> JobInfo:
        """Cancel the job of kernel ``kernel_id`` (detached first) and remove its files."""
        for kernel in [k for k in self._attached if k.id == kernel_id]:
            await self.detach(kernel)
        job = await slurm.cancel(self, kernel_id)
        self.remembered.forget(self.name, kernel_id)
        return job

    async def slurm_jobs(self) -> builtins.list[JobInfo]:
        """The user's jobs on this login node's cluster, and rtui's recently ended ones."""
        return await slurm.jobs(self)

    async def job_status(self, kernel: RemoteKernel) -> JobInfo | None:
        """The job ``kernel`` runs in, as it is now (None: it runs in none)."""
        return await slurm.status(self, kernel)

    async def _start_planned(self, plan: LaunchPlan, args: dict[str, Any],
                             code: str | None) -> RemoteKernel:
        """Launch the kernel with the id and key of ``plan`` and open its session alongside:
        its channels connect while it boots. Its keeper numbers everything from the
        kernel's start, and the session follows it from the first message."""
        launching = asyncio.ensure_future(self.agent.request(
            "launch", {**args, "kernel_id": plan.kernel_id, "key": plan.key},
            timeout=_LAUNCH_TIMEOUT))
        try:
            return await self._connect(
                plan.kernel_id, None, plan.info, launched=True, kind=str(args["kind"]),
                python=str(args["python"]), keeper=plan.keeper, running=True, since=0,
                code=code, launching=(launching, plan))
        finally:
            if not launching.done():
                launching.cancel()
            elif not launching.cancelled():
                launching.exception()  # told by _connect when it mattered

    async def attach(self, spec: str, *, console: bool = True,
                     code: str | None = None) -> RemoteKernel:
        """Attach to a running kernel: a local connection file, a remote path, or a bare id.

        A path that exists here is a local file; any other path is on the host (``~`` is the
        remote home); anything without a ``/`` is a kernel id. ``console``: the caller shows
        output, so the session replays what was printed since this machine's console last
        saw the kernel (its last lines, for a new one); else only live output. ``code``:
        executed as ``kernel.first``, sent right behind the start's kernel_info (a round
        trip sooner) when a keeper keeps the output (so none of it can be missed), else
        once the session is up.

        A kernel this machine launched or attached to before is reached at once, on what was
        remembered of it (its channels, its keeper's stream and kernel_info go out while the
        agent starts and resolves the id), and the host's routes as they were decided last
        time. The code waits until the agent's answer or the kernel's own (signed with the
        key) vouches for that info. When the agent's answer differs (the kernel was
        restarted with a new key, say) or says it is gone, an early session the kernel has
        not answered is dropped unused (none of its failures is shown: a stale key is no
        signature mismatch) and the attach goes on with what the agent said, or says why it
        cannot.
        """
        self.routes.assume(self.remembered.routes(self.name))  # till the probe says
        self.routes.prepare()  # decided while the agent finds the kernel
        first = FirstCode(code, vouched=False)  # till the agent or the kernel vouches
        known = self._remembered(spec)
        early = None if known is None else asyncio.ensure_future(
            self._attach_early(spec, known, console=console, first=first))
        try:
            found = await self.locate(spec)
        except RtuiError as exc:
            ran = ran_first(early, first)
            if ran is not None:  # its output is the code's: the session tells what follows
                log.info("%s: kernel %s had answered and taken the code when the agent said: "
                         "%s", self.name, spec, exc)
                return ran
            if early is not None:
                await self._drop(early)
            cause = exc.__cause__
            if isinstance(cause, AgentError) and cause.type == "not_found":
                self.remembered.forget(self.name, spec)
            raise
        except BaseException:
            if early is not None:
                await self._drop(early)
            raise
        if early is not None and known is not None:
            kernel = await self._vouch(early, known, found, first)
            if kernel is not None:
                kernel.slurm = found.slurm
                return kernel
        kernel = await self._connect(
            found.id, found.connection_file, found.info, launched=False, keeper=found.keeper,
            console=console, where=found.where, running=found.running, code=code)
        kernel.slurm = found.slurm
        return kernel

    def _remembered(self, spec: str) -> RememberedKernel | None:
        """What is remembered of the kernel ``spec`` names, when it is a bare id (a path is
        the agent's to resolve, or a local file)."""
        if "/" in spec or spec.startswith("~") or spec.endswith(".json"):
            return None
        return self.remembered.get(self.name, spec)

    async def _attach_early(self, kernel_id: str, known: RememberedKernel, *, console: bool,
                            first: FirstCode) -> RemoteKernel:
        """A session on what is remembered of the kernel (see :meth:`attach`). It waits for
        the agent to say whether the kernel runs (``running``): a socket not there yet is
        not taken for a kernel gone, which is the agent's to tell."""
        await self.connection.connect()
        return await self._connect(
            kernel_id, known.connection_file, known.info, launched=False,
            keeper=known.keeper, console=console, running=True, first=first, remember=False)

    async def _vouch(self, early: asyncio.Future[RemoteKernel], known: RememberedKernel,
                     found: LocatedKernel, first: FirstCode) -> RemoteKernel | None:
        """The early session, once the agent has answered: kept when the kernel already
        answered it with the key (the code may have gone: it is the kernel), or when the
        agent's answer is what it was opened on; else None (dropped, never shown): the
        answer differs, the session failed before it (a stale key fails it for nothing), or
        the agent cannot tell whether the kernel runs while the session still waits (the
        usual attach then tells a kernel gone at once)."""
        failed = early.done() and (early.cancelled() or early.exception() is not None)
        answered = early.done() and not failed and first.vouched
        same = not found.new_keeper and known.same(found.info, found.connection_file,
                                                   found.keeper)
        if failed or not (answered or same) or not (found.running or early.done()):
            log.info("%s: kernel %s is not as remembered (or the agent cannot tell that it "
                     "runs): attaching with what the agent says (a signature check failed "
                     "just before was the key remembered)", self.name, found.id)
            await self._drop(early)
            return None
        first.vouch()
        kernel = await early  # its failures from here on are the kernel's
        kernel.first = first.execution
        if not same:  # the kernel answered on what was remembered: the agent may know more
            log.info("%s: kernel %s answered on what was remembered; the agent says %s "
                     "(keeper %s)", self.name, found.id, found.where, found.keeper)
            kernel.connection_file = found.connection_file
        self._remember(kernel)
        return kernel

    async def _drop(self, early: asyncio.Future[RemoteKernel]) -> None:
        """Close an early session unused (no place in the kept output is remembered)."""
        early.cancel()
        for result in await asyncio.gather(early, return_exceptions=True):
            if isinstance(result, RemoteKernel):
                with contextlib.suppress(ValueError):
                    self._attached.remove(result)
                with contextlib.suppress(Exception):
                    await result.session.close()
                if result.tunnel is not None:
                    await result.tunnel.close()

    async def locate(self, spec: str, *, alive: bool = True) -> LocatedKernel:
        """Find a kernel by local connection file, remote path or id (see :meth:`attach`),
        with its checked connection info and its keeper (started if it had none).
        ``alive``: a kernel the agent knows has exited is an error (KernelDiedError)."""
        info = await asyncio.to_thread(_read_local, spec)
        if info is not None:
            kernel_id = _kernel_id(Path(spec).name)
            listed = await self._find_by_ports(info)
            if listed is not None:
                if alive and known_dead(listed):
                    raise gone_error(self.name, str(listed.get("id") or kernel_id), listed)
                digest = listed.get("key_digest")
                if digest and digest != hashlib.sha256(info["key"].encode()).hexdigest()[:16]:
                    raise SignatureMismatchError(
                        f"signature mismatch: the key in {spec} is not this kernel's key "
                        f"(the kernel on these ports is {self.name}:"
                        f"{listed.get('connection_file')})")
            remote_path = str(listed["connection_file"]) if listed else None
            keeper = listed.get("keeper") if listed else None
            if not isinstance(keeper, str):
                keeper = await self._keep(remote_path) if remote_path else None
            return LocatedKernel(kernel_id, remote_path, info, keeper, where=spec,
                                 running=bool(listed and listed.get("alive") is True),
                                 slurm=job_of(listed) if listed else None)
        try:  # the agent resolves ids and paths (``~`` too) and reads the file in one go
            resolved = await self.agent.request("resolve", {"id": spec})
        except AgentError as exc:
            if exc.type != "not_found":
                raise
            raise KernelError(f"{exc} on {self.name}: is the kernel running? "
                              f"(`rtui kernels {self.name}` lists them)") from exc
        remote_path = str(resolved["connection_file"])
        where = f"{self.name}:{remote_path}"
        info = _check_connection(resolved, where)
        kernel_id = _kernel_id(posixpath.basename(remote_path))
        if alive and known_dead(resolved):  # the agent is sure: say so now, not in 30 s
            raise gone_error(self.name, kernel_id, resolved)
        keeper = resolved.get("keeper")
        new_keeper = not isinstance(keeper, str)
        if not isinstance(keeper, str):
            keeper = await self._keep(remote_path)
        return LocatedKernel(kernel_id, remote_path, info, keeper, where=where,
                             running=resolved.get("alive") is True, new_keeper=new_keeper,
                             slurm=job_of({**resolved, "id": kernel_id}))

    async def gone(self, kernel: RemoteKernel) -> KernelDiedError | None:
        """Whether the agent knows this kernel's process has ended (its heartbeat stopped,
        say): the error that says so, else None (alive, or it cannot be told: the link is
        down, the agent did not answer in time)."""
        if self.connection.state is not ConnState.CONNECTED:
            return None  # a link that is down also silences the heartbeat
        try:
            answer = await self.agent.request(
                "resolve", {"id": kernel.connection_file or kernel.id}, timeout=_GONE_TIMEOUT)
        except AgentError as exc:
            if exc.type != "not_found":
                return None
            answer = {"alive": False}  # its connection file is gone with it
        except RtuiError:
            return None
        return gone_error(self.name, kernel.id, answer) if known_dead(answer) else None

    async def interrupt(self, kernel: RemoteKernel) -> None:
        """SIGINT through the agent where the process is known, else an interrupt_request."""
        if kernel.connection_file is not None:
            try:
                await self.agent.request(
                    "signal", {"connection_file": kernel.connection_file, "signal": "SIGINT"})
                return
            except AgentError as exc:
                if exc.type != "no_pid":
                    raise
        await kernel.session.interrupt_request()

    async def restart(self, kernel: RemoteKernel, *, timeout: float = 60) -> None:
        """Restart in place: same ports and key, so forwards and session carry on; state cleared."""
        if kernel.connection_file is None:
            raise KernelError(
                f"cannot restart kernel {kernel.id}: its remote connection file is unknown")
        await self.agent.request(
            "restart", {"connection_file": kernel.connection_file}, timeout=timeout)
        await kernel.session.wait_ready(timeout)
        self._set_up_reloading(kernel)

    async def restart_by_id(self, kernel_id: str, *, timeout: float = 60) -> RemoteKernel:
        """Restart a kernel by id or remote path through the agent, running or dead (no
        session first: a dead kernel has nobody to answer one), then attach to it: it
        answers again under the same id, or this says why not."""
        await self.agent.request("restart", {"kernel_id": kernel_id, "timeout": timeout / 2},
                                 timeout=timeout)
        kernel = await self.attach(kernel_id, console=False)
        self._set_up_reloading(kernel)
        return kernel

    async def shutdown(self, kernel: RemoteKernel, *, timeout: float = 5,
                       dead: bool = False) -> None:
        """Ask the kernel to stop, then make sure: terminate, kill, remove its files.
        ``dead``: it is known to be gone, so it is not asked."""
        if kernel.session.exited is None and not dead:  # a dead kernel answers nobody
            with contextlib.suppress(RtuiError):
                await kernel.session.shutdown_request(timeout=timeout)
        try:
            if kernel.connection_file is not None:
                await self.agent.request(
                    "shutdown", {"connection_file": kernel.connection_file, "timeout": timeout},
                    timeout=timeout + 15)
            self.remembered.forget(self.name, kernel.id)
        finally:
            await self.detach(kernel)

    async def shutdown_by_id(self, kernel_id: str, *, timeout: float = 5) -> None:
        """Stop a kernel by id through the agent (no session needed, so a hung kernel or a
        stale file is handled too); one whose process cannot be found is asked over its
        channels instead."""
        try:
            await self.agent.request("shutdown", {"kernel_id": kernel_id, "timeout": timeout},
                                     timeout=timeout + 15)
            self.remembered.forget(self.name, kernel_id)
        except AgentError as exc:
            if exc.type != "no_pid":
                raise
            await self.shutdown(await self.attach(kernel_id), timeout=timeout)

    async def detach(self, kernel: RemoteKernel) -> None:
        """Stop talking to the kernel and close its forwards; the kernel keeps running.

        A console's place in the kernel's kept output is remembered for its next attach."""
        with contextlib.suppress(ValueError):
            self._attached.remove(kernel)
        with contextlib.suppress(Exception):
            await kernel.session.close()  # first: no output is handed on after this
        self.remember_seen(kernel)
        if kernel.tunnel is not None:
            await kernel.tunnel.close()

    def remember_seen(self, kernel: RemoteKernel) -> None:
        """Save how far a console read the kernel's kept output (see SeenStore)."""
        seq = kernel.session.last_seq
        if kernel.console and seq is not None:
            self.seen.put(self.name, kernel.id, seq)

    # -- internals ---------------------------------------------------------------------------

    def _set_up_reloading(self, kernel: RemoteKernel) -> None:
        """Module reloading in a kernel restarted here (its first code went with its start);
        a kernel only attached to keeps what it has (see reloading.py)."""
        code = self.reloading.setup_code()
        if code is not None:
            send_quietly(kernel.session, code)

    async def _keep(self, connection_file: str) -> str | None:
        """The keeper of a kernel rtui did not start (started now if it has none); None
        where the agent has no keepers (an older agent: iopub is then read over zmq)."""
        try:
            answer = await self.agent.request("keep", {
                "connection_file": connection_file,
                "output_buffer_mb": self.connection.settings.output_buffer_mb,
            }, timeout=30)
        except AgentError as exc:
            if exc.type != "unknown_op":
                raise
            return None
        keeper = answer.get("keeper")
        return keeper if isinstance(keeper, str) else None

    async def _find_by_ports(self, info: dict[str, Any]) -> dict[str, Any] | None:
        """The host's record of the kernel on these ports (None when none is listed).
        ipc "ports" are 1-5 for every kernel: there the socket path must match too."""
        ipc = info.get("transport") == "ipc"
        with contextlib.suppress(RtuiError):
            listed = await self.agent.request("list", timeout=30)
            for record in listed.get("kernels", []):
                ports = record.get("ports") or {}
                if (all(ports.get(n) == info.get(n) for n in PORT_NAMES)
                        and (ports.get("transport") or "tcp") == info.get("transport")
                        and (not ipc or ports.get("ip") == info.get("ip"))):
                    return dict(record)
        return None

    async def _connect(
        self, kernel_id: str, remote_path: str | None, remote_info: dict[str, Any], *,
        launched: bool, kind: str = "ipykernel", python: str | None = None,
        where: str | None = None, keeper: str | None = None, console: bool = True,
        since: int | None = None, running: bool = False, code: str | None = None,
        launching: tuple[asyncio.Future[dict[str, Any]], LaunchPlan] | None = None,
        first: FirstCode | None = None, remember: bool = True,
    ) -> RemoteKernel:
        """A session to the kernel over a new tunnel. ``launching``: the agent is launching
        it now, where the plan says (see prelaunch): the session starts alongside, and the
        launch's answer gives its connection file (and its failure is the one told)."""
        # A kernel started here gets module reloading first (none is set up on attach).
        first = first or FirstCode(
            code, prelude=self.reloading.setup_code() if launched else None)
        tunnel = KernelTunnel(self.routes, remote_info)
        local_info = await tunnel.open()
        source = None
        if keeper is not None:
            if since is None and console:
                since = self.seen.get(self.name, kernel_id)
            starting = launching[0] if launching is not None else None
            source = KeeperSource(keeper_opener(self.routes, keeper, starting=starting),
                                  since=since, tail=TAIL if console else 0,
                                  buffer_mb=self.connection.settings.output_buffer_mb)
        session = KernelSession.over_zmq(local_info, name=f"{self.name}:{kernel_id}", keeper=source)
        first.session = session
        try:
            if launching is None:
                await start_session(
                    session, where=where or f"{self.name}:{remote_path}", host=self.name,
                    kernel_id=kernel_id, routes=self.routes, remote_info=remote_info,
                    known=remote_path is not None, running=running,
                    then=first.nudged if source is not None else None)
                if remote_info.get("key"):  # it answered, signed with the key: the kernel
                    first.vouch()
            else:
                future, plan = launching

                async def launched_here(record: dict[str, Any]) -> None:
                    # Its code goes once the launch is answered (its keeper then hears the
                    # kernel's output: before, a cell could print ahead of its subscription)
                    # and the keeper holds our stdin (an input() at once reaches us).
                    if not same_place(plan, record.get("connection") or {}):
                        raise PlanMismatch(record)
                    if code is not None:
                        await session.wait_stdin_held(AFTER_LAUNCH)
                        first.nudged()

                record = await alongside(future, start_session(
                    session, where=f"{self.name}:{kernel_id}", host=self.name,
                    kernel_id=kernel_id, routes=self.routes, remote_info=remote_info,
                    known=True, running=True, booting=True,
                    timeout=_LAUNCH_TIMEOUT + AFTER_LAUNCH),
                    on_launched=launched_here, what=f"{self.name}:{kernel_id}")
                remote_path = str(record["connection_file"])
                kind = str(record.get("kind") or kind)
            first.nudged()
        except BaseException:
            with contextlib.suppress(Exception):
                await session.close()
            await tunnel.close()
            raise
        kernel = RemoteKernel(
            host=self.name, id=kernel_id, connection_file=remote_path, session=session,
            tunnel=tunnel, launched=launched, kind=kind, python=python,
            remote_info=remote_info, keeper=keeper, console=console, first=first.execution,
        )
        self._attached.append(kernel)
        if remember:  # it answered on what the agent said: the next attach may start on it
            self._remember(kernel)
        return kernel

    def _remember(self, kernel: RemoteKernel) -> None:
        """Remember what the next attach to ``kernel`` needs, and the host's routes."""
        self.remembered.put(self.name, kernel.id, RememberedKernel(
            kernel.remote_info, kernel.connection_file, kernel.keeper))
        kinds = self.routes.kinds
        if kinds is not None:
            self.remembered.put_routes(self.name, kinds)


def _read_local(spec: str) -> dict[str, Any] | None:
    """The checked connection info of a local file named by ``spec``, None when nothing
    (or a directory) by that name is here. A FIFO, a device, a huge file... is refused
    (ConnectionFileError), never blocked on."""
    path = Path(spec).expanduser()
    try:
        if path.is_dir() or not (path.exists() or path.is_symlink()):
            return None
    except (OSError, ValueError):
        return None
    return read_connection_file(path, spec)


def _kernel_id(file_name: str) -> str:
    match = re.fullmatch(r"kernel-(.+)\.json", file_name)
    return match.group(1) if match else file_name


def _check_connection(answer: dict[str, Any], where: str) -> dict[str, Any]:
    """The connection info in an agent's answer, checked (ConnectionFileError naming
    ``where`` and every problem); the agent says why when it could not read the file."""
    info = answer.get("connection")
    if info is None:
        why = answer.get("connection_error") or "the agent could not read it as JSON"
        raise ConnectionFileError(where, [str(why)])
    return check_connection_info(info, where)
