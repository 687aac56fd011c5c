"""``rtui log``: a kernel's kept output (an SSH host's keeper's, or what a Jupyter server
buffered), and with -f what comes after, until ctrl+c (the kernel runs on)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING, Any

from rtui.cli import slurm as slurm_cmd
from rtui.cli.common import with_kernels, write_out
from rtui.core.config.model import Host

if TYPE_CHECKING:  # the handler imports these: `rtui hosts ...` must stay light
    from rtui.core.kernels.host_api import KernelHost
    from rtui.core.workspace import Workspace

__all__ = ["log"]

_LOG_WAIT = 30.0  # seconds for the host's keeper to send what it kept


def log(args: argparse.Namespace) -> int:
    """Print what the kernel's host kept of its output (-n: the last lines), then with -f
    its live output; a kernel that ended is said on stderr, with how it ended."""
    async def body(_ws: Workspace, host: Host, kernels: KernelHost) -> int:
        from rtui.core.errors import KernelError
        from rtui.core.kernels import events as ev
        from rtui.core.kernels.host_api import ssh_kernels
        from rtui.core.kernels.kept_output import follow_output

        lines: int | None = args.lines
        backlog: list[str] | None = [] if lines is not None else None
        stop = asyncio.Event()
        exited: list[ev.KernelExited] = []

        def on_event(event: ev.KernelEvent) -> None:
            nonlocal backlog
            if isinstance(event, ev.OutputReplayed):
                if backlog is not None and lines is not None:
                    kept = "".join(backlog).splitlines(keepends=True)
                    write_out(sys.stdout, "".join(kept[-lines:] if lines > 0 else []))
                    backlog = None
                if event.dropped:
                    print(f"rtui: {event.dropped:,} earlier messages were dropped: the host's "
                          "output buffer was full", file=sys.stderr, flush=True)
                if not args.follow:
                    stop.set()
            elif isinstance(event, ev.KernelExited):
                exited.append(event)  # said once the job's end is known (see below)
                stop.set()
            elif isinstance(event, (ev.OutputDropped, ev.MessageDropped)):
                print(f"rtui: {event.describe()}", file=sys.stderr, flush=True)
            else:
                text = _log_text(event)
                if backlog is not None:
                    backlog.append(text)
                elif text:
                    write_out(sys.stdout, text)

        tail = None if lines is None else max(4 * lines, 100)  # messages: most are status
        try:
            feed = await follow_output(kernels, args.id, on_event, tail=tail)
        except KernelError as exc:
            ssh = ssh_kernels(kernels)
            if ssh is None:
                raise
            await slurm_cmd.not_while_pending(ssh, host.name, args.id, exc,
                                              "so it printed nothing yet")
        note = getattr(feed, "note", None)  # a server's: what it did not keep
        if note:
            print(f"rtui: {note}", file=sys.stderr, flush=True)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, stop.set)  # stop following; the kernel runs on
        try:
            try:
                await feed.wait_replayed(_LOG_WAIT)
            except TimeoutError:
                raise KernelError(f"the output keeper of kernel {args.id} on {host.name} sent "
                                  f"nothing within {_LOG_WAIT:g} s") from None
            await stop.wait()
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            await feed.close()
        if exited:
            print(f"rtui: the kernel {await _how_it_ended(kernels, args.id, exited[0])}",
                  file=sys.stderr, flush=True)
            for line in exited[0].log_tail.rstrip().splitlines():
                print(f"rtui:   {line}", file=sys.stderr)
        return 0

    return with_kernels(args, args.host, body)


async def _how_it_ended(kernels: KernelHost, kernel_id: str, exited: Any) -> str:
    """"was killed by signal 15 (SIGTERM)", or for a kernel in a SLURM job what the
    scheduler says of the job: "was killed with its job 5 at its time limit (TIMEOUT)"."""
    from rtui.core.errors import RtuiError
    from rtui.core.slurm.jobs import how_ended

    said = str(exited.describe())
    try:
        located = await asyncio.wait_for(kernels.locate(kernel_id, alive=False), _LOG_WAIT)
    except (RtuiError, TimeoutError):
        return said  # the keeper's words are all there is
    job = located.slurm
    if job is None or not job.ended:
        return said
    return f"ended with its job {job.job_id}, {how_ended(job.state)} ({job.state}); it {said}"


def _log_text(event: Any) -> str:
    """What ``rtui log`` prints of an event: stream text, tracebacks, text/plain results."""
    from rtui.core.kernels import events as ev

    if isinstance(event, ev.Stream):
        return event.text
    if isinstance(event, (ev.ExecuteResult, ev.DisplayData)):
        text = str(event.data.get("text/plain", ""))
        return text + "\n" if text else ""
    if isinstance(event, ev.Error):
        return "\n".join(event.traceback) + "\n"
    return ""
