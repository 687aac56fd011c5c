"""``rtui kernels``, ``rtui kernel ...``, ``rtui run`` and ``rtui log``: kernels from a shell
(``rtui envs``: rtui.cli.envs)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from rtui.cli import kernel_log
from rtui.cli import slurm as slurm_cmd
from rtui.cli.arg_types import not_blank, whole_number
from rtui.cli.common import print_progress, usage_handler, with_host, with_kernels, write_out
from rtui.cli.prompts import ask_line
from rtui.core.config.model import Host

if TYPE_CHECKING:  # the handlers import these: `rtui hosts ...` must stay light
    from rtui.core.kernels.ask_exit import AskExit
    from rtui.core.kernels.host_api import KernelHost
    from rtui.core.kernels.service import HostKernels, RemoteKernel
    from rtui.core.workspace import Workspace

__all__ = ["register"]

# An empty -k was a new kernel started silently; a blank id names none.
KERNEL_ID = not_blank("a kernel id (see `rtui kernels HOST`) or a remote path")
MAX_LINES = 100_000_000  # rtui log -n: more than any host keeps
_RESYNC_TIMEOUT = 30.0  # seconds for a kernel to answer again after a reconnect
_T = TypeVar("_T")


def register(commands: Any) -> None:
    p = commands.add_parser("kernels", help="list a host's kernels (rtui's and any other)")
    p.add_argument("host")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(handler=_kernels)

    kernel = commands.add_parser("kernel", help="start, stop, interrupt, restart a kernel")
    kernel.set_defaults(handler=usage_handler(kernel))
    sub = kernel.add_subparsers(dest="kernel_command", metavar="ACTION")
    p = sub.add_parser("start", help="start a detached kernel (it outlives rtui), or one "
                       "as a SLURM job (--slurm)")
    p.add_argument("host")
    _env_options(p)
    _kernelspec_option(p)
    slurm_cmd.add_slurm_options(p)
    p.set_defaults(handler=_start)
    for action, text in (("stop", "shut a kernel down"), ("interrupt", "interrupt a kernel"),
                         ("restart", "restart a kernel in place (state is cleared)")):
        p = sub.add_parser(action, help=text)
        p.add_argument("host")
        p.add_argument("id", type=KERNEL_ID,
                       help="kernel id (see `rtui kernels HOST`) or remote path")
        p.set_defaults(handler=_lifecycle, action=action)
    p = sub.add_parser("setup", help="create rtui's own kernel env on the host")
    p.add_argument("host")
    p.add_argument("--spyder", action="store_true", help="also install spyder-kernels")
    p.add_argument("--offline", action="store_true",
                   help="download wheels here and upload them (the remote has no index)")
    p.set_defaults(handler=_setup)

    p = commands.add_parser("run", help="run code on a host's kernel, output to this terminal")
    p.add_argument("host")
    group = p.add_mutually_exclusive_group()
    group.add_argument("-k", "--kernel", metavar="ID", type=KERNEL_ID,
                       help="attach to this running kernel")
    group.add_argument("--connection-file", metavar="PATH",
                       type=not_blank("a connection file's path, local or on the host"),
                       help="attach by connection file (local, else remote path)")
    p.add_argument("-c", "--code", required=True, help="code to execute")
    p.add_argument("--keep", action="store_true",
                   help="leave a kernel started for this run running")
    _env_options(p)
    _kernelspec_option(p)
    slurm_cmd.add_slurm_options(p)
    p.set_defaults(handler=_run)

    p = commands.add_parser("log", help="print a kernel's kept output (-f: and follow it)")
    p.add_argument("host")
    p.add_argument("id", type=KERNEL_ID,
                   help="kernel id (see `rtui kernels HOST`) or remote path")
    p.add_argument("-n", "--lines", type=whole_number(0, MAX_LINES), metavar="N",
                   help="only the last N lines (default: all the host keeps)")
    p.add_argument("-f", "--follow", action="store_true",
                   help="then print new output as it comes (ctrl+c stops; the kernel runs on)")
    p.set_defaults(handler=kernel_log.log)


def _env_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", metavar="PYTHON|NAME",
                   type=not_blank("an interpreter or an environment's name (rtui envs HOST)"),
                   help="remote interpreter, or an environment's name (see `rtui envs HOST`) "
                   "(default: best found; none: set one up)")
    p.add_argument("--spyder", action="store_true", help="a spyder-kernels kernel")
    p.add_argument("--cwd", metavar="DIR", help="remote working directory (default: home)")


def _kernelspec_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernelspec", metavar="NAME",
                   type=not_blank("a kernelspec's name, as the server lists them"),
                   help="a Jupyter server's kernelspec to start (default: the server's "
                   "default; SSH hosts: --env)")


async def _python(workspace: Workspace, host: Host, kernels: HostKernels,
                  args: argparse.Namespace) -> str:
    """The environment choice as flags: ``--env`` names it (an interpreter, or a listed
    environment's name); else the workspace's decision, its first (best) option when it
    would ask, rtui's own env set up when there is none."""
    from rtui.core.kernels.choice import Ask, Run

    if args.env:
        from rtui.core.envs import resolve_python

        return await resolve_python(kernels, str(args.env))
    decision = await workspace.environment_decision(host.name, spyder=args.spyder)
    if isinstance(decision, Run):
        return decision.python
    if isinstance(decision, Ask):
        return decision.options[0].python
    env = await workspace.set_up(host.name, spyder=args.spyder, on_progress=print_progress)
    return env.python


def _kernels(args: argparse.Namespace) -> int:
    async def body(_ws: Workspace, host: Host, kernels: KernelHost) -> int:
        from rtui.cli import jupyter

        records = await kernels.list()
        if args.json:
            version = await jupyter.server_version(kernels, host)
            print(json.dumps([jupyter.record_json(r, host, version) for r in records],
                             indent=2))
            return 0
        if not records:
            print(f"no kernels on {host.name}")
        if host.jupyter is not None:
            for line in jupyter.kernel_rows(records):
                print(line)
            return 0
        for r in records:
            age = f"{(time.time() - r.started) / 60:.0f} min" if r.started else "?"
            state = slurm_cmd.kernel_state(r)
            owner = "rtui" if r.rtui else "other"
            process = slurm_cmd.job_cell(r.slurm) if r.slurm else f"pid {r.pid or '?'}"
            print(f"{r.id}  {state}  {r.kind}  {process}  {owner}  up {age}  "
                  f"{r.cwd or ''}".rstrip())
        return 0

    return with_kernels(args, args.host, body)


def _start(args: argparse.Namespace) -> int:
    slurm = slurm_cmd.slurm_flags(args)  # a usage error before anything connects

    async def body(workspace: Workspace, host: Host, any_kernels: KernelHost) -> int:
        from rtui.core.kernels.host_api import ssh_kernels

        kernels = ssh_kernels(any_kernels)
        if kernels is None:  # a Jupyter server's: a kernelspec, no Python to choose
            kernel = await any_kernels.start(python=args.kernelspec or "", cwd=args.cwd)
            print(f"started kernel {kernel.id} ({kernel.kind}) on {host.name} (via "
                  f"{kernel.route}; attach: rtui run {host.name} -k {kernel.id} -c ...)")
            await any_kernels.detach(kernel)
            return 0
        kernels.routes.prepare()  # decided while the agent finds the Python
        python = await _python(workspace, host, kernels, args)
        if slurm is not None:
            kernel = await slurm_cmd.start_job(kernels, host, slurm, python=python,
                                               spyder=args.spyder, cwd=args.cwd)
            print(slurm_cmd.started_line(kernel, host.name))
        else:
            kernel = await kernels.start(python=python, spyder=args.spyder, cwd=args.cwd)
            print(f"started kernel {kernel.id} on {host.name} (sockets via {kernel.route}; "
                  f"attach: rtui run {host.name} -k {kernel.id} -c ...)")
        _note_exposure(kernel)
        await kernels.detach(kernel)
        return 0

    return with_kernels(args, args.host, body)


def _setup(args: argparse.Namespace) -> int:
    async def body(workspace: Workspace, host: Host, kernels: HostKernels) -> int:
        env = await workspace.set_up(host.name, spyder=args.spyder, offline=args.offline,
                                     on_progress=print_progress)
        print(f"ready on {host.name}: {env.python} (ipykernel {env.ipykernel})")
        return 0

    return with_host(args, args.host, body)


def _lifecycle(args: argparse.Namespace) -> int:
    async def body(_ws: Workspace, host: Host, kernels: KernelHost) -> int:
        from rtui.core.errors import KernelError
        from rtui.core.kernels.host_api import ssh_kernels

        if args.action == "stop":
            await kernels.shutdown_by_id(args.id)
            print(f"stopped kernel {args.id} on {host.name}")
            return 0
        if args.action == "restart":  # no session first: a dead kernel answers none
            await kernels.detach(await kernels.restart_by_id(args.id))
            print(f"restarted kernel {args.id} on {host.name}")
            return 0
        ssh = ssh_kernels(kernels)
        if ssh is None:  # a Jupyter server's: by REST, the kernel busy or not
            from rtui.cli import jupyter

            await jupyter.interrupt(kernels, args.id)
            print(f"interrupted kernel {args.id} on {host.name}")
            return 0
        try:
            kernel = await kernels.attach(args.id, console=False)
        except KernelError as exc:
            await slurm_cmd.not_while_pending(ssh, host.name, args.id, exc,
                                              "so there is nothing to interrupt")
        try:
            await kernels.interrupt(kernel)
        finally:
            await kernels.detach(kernel)
        print(f"interrupted kernel {args.id} on {host.name}")
        return 0

    return with_kernels(args, args.host, body)


def _run(args: argparse.Namespace) -> int:
    slurm = slurm_cmd.slurm_flags(args)  # a usage error before anything connects

    async def body(workspace: Workspace, host: Host, any_kernels: KernelHost) -> int:
        from rtui.core.kernels.host_api import ssh_kernels

        kernels = ssh_kernels(any_kernels)
        if kernels is None:  # a Jupyter server's
            return await _run_on_server(host, any_kernels, args)
        spec = args.kernel or args.connection_file
        if spec:
            kernel = await slurm_cmd.attach_or_wait(kernels, host.name, spec, code=args.code)
        else:
            kernels.routes.prepare()  # decided while the agent finds the Python
            python = await _python(workspace, host, kernels, args)
            if slurm is not None:
                kernel = await slurm_cmd.start_job(kernels, host, slurm, python=python,
                                                   spyder=args.spyder, cwd=args.cwd,
                                                   code=args.code)
            else:
                kernel = await kernels.start(python=python, spyder=args.spyder,
                                             cwd=args.cwd, code=args.code)
        _note_exposure(kernel)
        return await _run_kernel(host, kernels, kernel, args)

    return with_kernels(args, args.host, body)


async def _run_on_server(host: Host, kernels: KernelHost, args: argparse.Namespace) -> int:
    """``rtui run`` on a Jupyter host: attach by id or start a kernel of a kernelspec; one
    started for the run is shut down after it (unless --keep)."""
    if args.kernel:
        kernel = await kernels.attach(args.kernel, code=args.code)
    else:
        kernel = await kernels.start(python=args.kernelspec or "", cwd=args.cwd, code=args.code)
    return await _run_kernel(host, kernels, kernel, args)


async def _run_kernel(host: Host, kernels: KernelHost, kernel: RemoteKernel,
                      args: argparse.Namespace) -> int:
    """Run ``args.code`` on ``kernel`` to the end, then leave it as the run should: left
    running on a host given up on, or when --keep or attached; exit() honoured; a run's own
    kernel shut down (its own SLURM job cancelled)."""
    from rtui.core.errors import KernelDiedError
    from rtui.core.kernels.ask_exit import honour_exit
    from rtui.core.kernels.host_api import ssh_kernels

    ssh = ssh_kernels(kernels)
    dead = False
    asked: AskExit | None = None
    try:
        status, asked = await _unless_gone(kernels, kernel, _execute(kernel, args.code))
        return status
    except KernelDiedError:
        dead = True
        raise
    finally:
        if ssh is not None and ssh.connection.failure is not None:
            await kernels.detach(kernel)  # a host given up on: the kernel runs on there
        elif asked is not None:  # exit() or quit() in the code: as jupyter console does
            await honour_exit(kernels, kernel, asked)
            again = f"rtui run {host.name} -k {kernel.id} attaches again"
            print(f"rtui: {asked.note(host.name, kernel.id, attach=again)}",
                  file=sys.stderr, flush=True)
        elif (ssh is not None and kernel.slurm is not None and kernel.launched
              and not args.keep):
            await kernels.detach(kernel)  # a run's own job: cancelled, as a kernel stops
            await slurm_cmd.cancel_job(ssh, host.name, kernel.id, kernel.slurm.job_id,
                                       quiet=True)
        elif kernel.launched and not args.keep:
            await kernels.shutdown(kernel, dead=dead)
        else:
            await kernels.detach(kernel)


def _note_exposure(kernel: RemoteKernel) -> None:
    """Say once (on stderr: stdout is the kernel's) who else can read a kernel on TCP."""
    if kernel.exposure_note:
        print(f"rtui: {kernel.exposure_note}", file=sys.stderr, flush=True)


async def _unless_gone(kernels: KernelHost, kernel: RemoteKernel,
                       work: Coroutine[Any, Any, _T]) -> _T:
    """``work``'s result, unless the kernel dies first: when its heartbeat stops, the agent
    is asked whether its process lives, and a dead one ends ``work`` with the error that
    says so (a kernel the keeper watches is reported by the session itself, sooner).
    After a reconnect the session is brought in step again (lost replies fail their cell)."""
    from rtui.core.errors import RtuiError
    from rtui.core.kernels import events as ev

    checks: set[asyncio.Task[None]] = set()
    died: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    async def check() -> None:
        error = await kernels.gone(kernel)
        if error is not None and not died.done():
            died.set_result(error)

    def on_event(event: ev.KernelEvent) -> None:
        if isinstance(event, ev.KernelAlive) and not event.alive:
            task = asyncio.ensure_future(check())
            checks.add(task)
            task.add_done_callback(checks.discard)

    async def resync() -> None:
        # After a reconnect, as the console does: replies the kernel sent while the link
        # was down are lost for good, and wait_ready fails the cell whose reply that was
        # (with a message) instead of leaving it waiting for ever.
        with contextlib.suppress(RtuiError):
            await kernel.session.wait_ready(_RESYNC_TIMEOUT)

    def restored() -> None:
        task = asyncio.ensure_future(resync())
        checks.add(task)
        task.add_done_callback(checks.discard)

    unsubscribe = kernel.session.subscribe(on_event, held=False)  # the output is work's
    if kernel.tunnel is not None:  # a server kernel's websocket resyncs by itself
        kernel.tunnel.on_restored(restored)
    task = asyncio.ensure_future(work)
    try:
        waits: set[asyncio.Future[Any]] = {task, died}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if task.done() or not died.done():
            return await task
        raise died.result()
    finally:
        unsubscribe()
        died.cancel()
        for pending in (task, *checks):
            pending.cancel()
        await asyncio.gather(task, *checks, return_exceptions=True)


async def _execute(kernel: RemoteKernel, code: str) -> tuple[int, AskExit | None]:
    """Stream one execution to this terminal; 1 if the code raised; and whether it asked
    the client to end (exit(), quit(): see rtui.core.kernels.ask_exit).

    What is not this execution's also shows: output kept since this machine last saw the
    kernel (replayed at attach), other clients' output, and a note on stderr at every seam
    (output replayed after a reconnect, or dropped). A kernel that dies fails the execution
    with KernelDiedError (its exit and log tail), which ends the run non-zero.
    """
    from rtui.core.errors import RtuiError
    from rtui.core.kernels import events as ev
    from rtui.core.kernels.ask_exit import asked_exit

    terminal = _Terminal()
    asking: set[asyncio.Task[None]] = set()

    async def ask_and_answer(event: ev.InputRequest) -> None:
        value = await ask_line(event.prompt, event.password)
        try:
            await kernel.session.input_reply(value)
        except RtuiError as exc:  # answered meanwhile by another client, or its cell ended
            print(f"rtui: {exc}", file=sys.stderr, flush=True)

    def other(event: ev.KernelEvent) -> None:
        """What is not this run's execution's: the kept backlog, other clients' output, and
        a question a cell asked while nobody was attached (asked here)."""
        if isinstance(event, ev.InputRequest):
            task = asyncio.ensure_future(ask_and_answer(event))
            asking.add(task)
            task.add_done_callback(asking.discard)
        else:
            terminal.show(event)

    unsubscribe = kernel.session.subscribe(other)
    status = 0
    asked = None
    # Sent during the attach, right behind its kernel_info (a round trip sooner).
    execution = kernel.first or kernel.session.execute(code)
    try:
        async for event in execution:
            if isinstance(event, ev.InputRequest):
                answer = await ask_line(event.prompt, event.password)
                await kernel.session.input_reply(answer)
            elif terminal.show(event) or (
                    isinstance(event, ev.ExecuteReply) and event.status != "ok"):
                status = 1
            if isinstance(event, ev.ExecuteReply):
                asked = asked_exit(event)
    except asyncio.CancelledError:
        # Stopped (ctrl+c) while the cell runs on: show all that was handed on, so the
        # place remembered for the next attach is where this terminal's output ends.
        await kernel.session.stop_output()
        for event in execution.drain():
            terminal.show(event)
        raise
    finally:
        unsubscribe()
        for task in asking:
            task.cancel()
    return status, asked


class _Terminal:
    """Where ``rtui run`` writes events; it knows whether output was shown since the last
    seam note, so a replay that showed nothing (a new kernel's statuses) is not noted."""

    def __init__(self) -> None:
        self.shown = False

    def show(self, event: Any) -> bool:
        """Write an output event where it belongs; True if it was an error."""
        from rtui.core.kernels import events as ev

        if isinstance(event, (ev.OutputReplayed, ev.OutputDropped)):
            note = event.describe()
            lost = isinstance(event, ev.OutputDropped) or event.dropped
            if note and (self.shown or lost):
                print(f"rtui: {note}", file=sys.stderr, flush=True)
            self.shown = False
            return False
        if isinstance(event, ev.MessageDropped):
            print(f"rtui: {event.describe()}", file=sys.stderr, flush=True)
            return False
        if isinstance(event, ev.Stream):
            write_out(sys.stdout if event.name == "stdout" else sys.stderr, event.text)
        elif isinstance(event, (ev.ExecuteResult, ev.DisplayData)):
            text = str(event.data.get("text/plain", ""))
            if text:
                write_out(sys.stdout, text + "\n")
        elif isinstance(event, ev.Error):
            write_out(sys.stderr, "\n".join(event.traceback) + "\n")
            self.shown = True
            return True
        else:
            return False
        self.shown = True
        return False
