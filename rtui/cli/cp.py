"""``rtui cp``: copy files and folders between hosts and this machine with scp's habits
(either side may be ``HOST:PATH``; host to host goes through this machine)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

from rtui.cli.common import load_config, unless_given_up
from rtui.cli.file_output import ProgressLine
from rtui.cli.files import EXIT_FAILED, EXIT_OK, EXIT_USAGE, say
from rtui.core.errors import FilesError, SSHError, WrongKindError
from rtui.core.files.paths import Local, Location, Remote, parse_location, printable

if TYPE_CHECKING:  # it loads asyncssh: `rtui hosts ...` must stay light
    from rtui.core.files.progress import TransferProgress
    from rtui.core.workspace import Workspace

__all__ = ["register"]


def register(commands: Any) -> None:
    p = commands.add_parser(
        "cp", help="copy files and folders between hosts and here (either side HOST:PATH)",
        description="Copy as scp does: SRC… DST, where a HOST:PATH side is on that rtui host "
        "(host to host goes through this machine). A copy is written under a part name and "
        "renamed when whole; a broken one is finished by the same command with --resume.")
    p.add_argument("sources", nargs="+", metavar="SRC")
    p.add_argument("dest", metavar="DST")
    p.add_argument("-r", "--recursive", action="store_true", help="copy directories too")
    p.add_argument("--resume", action="store_true",
                   help="go on from what an interrupted copy left (its part)")
    p.add_argument("--checksum", action="store_true",
                   help="compare a sha256 of both sides at the end")
    p.add_argument("-p", "--preserve", action="store_true",
                   help="keep modification times (modes are always kept)")
    p.add_argument("-L", "--dereference", action="store_true",
                   help="follow symbolic links (default: copy them as links)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    p.set_defaults(handler=_cp, usage_error=p.error)


def _locations(args: argparse.Namespace, hosts: Sequence[str]) -> list[Location]:
    """SRC… DST read with scp's rule, against the configured hosts; usage errors (exit 2)
    for what cannot be a copy."""
    texts = [*args.sources, args.dest]
    known = set(hosts)
    places = [parse_location(text, known) for text in texts]
    for text, place in zip(texts, places, strict=True):
        guess = parse_location(text)
        if isinstance(place, Local) and isinstance(guess, Remote) and not os.path.lexists(text):
            args.usage_error(f"no host named '{guess.host}' (known: "
                             f"{', '.join(hosts) or 'none'}), and no local file '{text}'")
    if not any(isinstance(place, Remote) for place in places):
        args.usage_error("no HOST:PATH among the paths: for a copy on this machine, use cp")
    return places


def _cp(args: argparse.Namespace) -> int:
    config = load_config(args)
    places = _locations(args, [h.name for h in config.hosts])
    *sources, dest = places
    names = list(dict.fromkeys(p.host for p in places if isinstance(p, Remote)))
    show_progress = not args.quiet and sys.stderr.isatty()

    async def run() -> int:
        from rtui.cli.prompts import terminal_prompter
        from rtui.core.workspace import Workspace

        workspace = Workspace(None, config=config, prompter=terminal_prompter())
        try:
            work: Awaitable[int] = _copy_all(workspace, args, sources, dest, show_progress)
            for name in names:
                connection = workspace.connection(name)
                connection.give_up_after = config.settings.reconnect_give_up
                work = unless_given_up(connection, work)
            return await work
        finally:
            await workspace.close()

    return asyncio.run(run())


async def _copy_all(workspace: Workspace, args: argparse.Namespace,
                    sources: Sequence[Location], dest: Location, show_progress: bool) -> int:
    """Each source on its own, as scp does: a failure is said and the next one goes; 1 at
    the end when any failed, 2 when the only failures were directories given without -r
    (a usage error)."""
    from rtui.core.files.transfer import TransferSpec, transfer

    if len(sources) > 1:
        await _require_directory(workspace, dest)
    status = EXIT_OK
    for source in sources:
        spec = TransferSpec(sources=(source,), dest=dest, recursive=args.recursive,
                            resume=args.resume, checksum=args.checksum,
                            preserve=args.preserve, follow_links=args.dereference)
        line = ProgressLine(sys.stderr, width=_stderr_width) if show_progress else None
        moved = False  # bytes went: a broken copy left something for --resume

        def progress(report: TransferProgress, line: ProgressLine | None = line) -> None:
            nonlocal moved
            moved = moved or report.done > 0
            if line is not None:
                line.update(report)

        try:
            # ctrl+c cancels this, and keeps the part (as a broken link would) for --resume:
            # the TUI's cancel is the one that removes it.
            result = await transfer(workspace, spec, on_progress=progress,
                                    keep_part_on_cancel=True)
        except asyncio.CancelledError:
            if line is not None:
                line.finish(complete=False)
            print(f"rtui: the copy of {printable(str(source))} stopped; what was copied is "
                  "kept under a part name, and the same command with --resume goes on from "
                  "there", file=sys.stderr, flush=True)
            raise
        except FilesError as exc:
            if line is not None:
                line.finish(complete=False)
            say(exc)
            usage = (isinstance(exc, WrongKindError) and not args.recursive
                     and await _is_directory(workspace, source))
            status = EXIT_USAGE if usage and status != EXIT_FAILED else EXIT_FAILED
        except SSHError as exc:  # the link went mid-copy: the next sources would fail too
            if line is not None:
                line.finish(complete=False)
            say(exc)
            if moved:
                print("rtui: what was copied is kept; the same command with --resume goes on "
                      "from where it stopped", file=sys.stderr, flush=True)
            return EXIT_FAILED
        else:
            if line is not None:
                # a folder's line ends with its own name, not its last file's
                line.finish(complete=True, name=source.path)
            if result.special:  # FIFOs, sockets, devices: never opened, said (as scp does)
                shown = ", ".join(result.special[:3])
                more = f" and {len(result.special) - 3} more" if len(result.special) > 3 else ""
                print(f"rtui: {shown}{more}: not a regular file (FIFO, socket or device): "
                      "not copied", file=sys.stderr, flush=True)
    return status


async def _is_directory(workspace: Workspace, place: Location) -> bool:
    """Whether ``place`` is a directory (a link to one too); False when that cannot be said."""
    try:
        if isinstance(place, Remote):
            return (await (await workspace.files(place.host)).stat(place.path)).is_dir
    except FilesError:
        return False
    return await asyncio.to_thread(_local_dir, place.path)


async def _require_directory(workspace: Workspace, dest: Location) -> None:
    """Several sources need a directory to go into (scp's rule)."""
    if isinstance(dest, Remote):
        files = await workspace.files(dest.host)
        is_dir = (await files.stat(dest.path)).is_dir
        where = f"{dest.host}:{printable(dest.path)}"
    else:
        is_dir = await asyncio.to_thread(_local_dir, dest.path)
        where = printable(dest.path)
    if not is_dir:
        raise WrongKindError(f"{where}: not a directory (the destination of several sources "
                             "must be one)")


def _local_dir(path: str) -> bool:
    return os.path.isdir(os.path.expanduser(path))


def _stderr_width() -> int:
    """The terminal's width; 80 when it says none (a pty nobody sized says 0)."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns or 80
    except OSError:
        return 80

