"""``rtui files HOST ls|stat|cat|mkdir|rm|mv``: a host's files from a shell, with the habits
of the shell's own tools (each failure said, the rest goes on, exit 1 at the end)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from rtui.cli.common import usage_handler, with_host
from rtui.cli.file_output import entry_json, listing_rows, stat_line
from rtui.core.config.model import Host
from rtui.core.errors import FilesError, RtuiError, WrongKindError
from rtui.core.files.model import DIR, LINK, Entry, filter_entries
from rtui.core.files.paths import printable

if TYPE_CHECKING:  # they load asyncssh: `rtui hosts ...` must stay light
    from rtui.core.files.service import HostFiles
    from rtui.core.kernels.service import HostKernels
    from rtui.core.workspace import Workspace

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "register", "say"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(commands: Any) -> None:
    files = commands.add_parser(
        "files", help="list, show, make, remove and move files on a host")
    files.add_argument("host", metavar="HOST", help="an rtui host (rtui hosts list)")
    files.set_defaults(handler=usage_handler(files))
    sub = files.add_subparsers(dest="files_command", metavar="ACTION")

    p = sub.add_parser("ls", help="list a directory (default: the home directory)")
    p.add_argument("path", nargs="?", default=".")
    p.add_argument("-a", "--all", action="store_true", help="hidden names too")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(handler=_ls)

    p = sub.add_parser("stat", help="kind, size, mode and time of paths (links followed)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(handler=_stat)

    p = sub.add_parser("cat", help="write files to stdout, as they are")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(handler=_cat)

    p = sub.add_parser("mkdir", help="make directories")
    p.add_argument("-p", "--parents", action="store_true",
                   help="make missing parents too; an existing directory is no error")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(handler=_mkdir)

    p = sub.add_parser("rm", help="remove files (-r: and directories, with all they hold)")
    p.add_argument("-r", "--recursive", action="store_true", help="directories too")
    p.add_argument("-f", "--force", action="store_true", help="a missing path is no error")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(handler=_rm)

    p = sub.add_parser("mv", help="rename or move (several sources: into a directory)")
    p.add_argument("sources", nargs="+", metavar="SRC")
    p.add_argument("dest", metavar="DST")
    p.set_defaults(handler=_mv)


# -- rtui files HOST ... ---------------------------------------------------------------------


def say(exc: RtuiError) -> None:
    for line in str(exc).splitlines() or ["error"]:
        print(f"rtui: {line}", file=sys.stderr, flush=True)


async def _each(paths: Sequence[str], action: Callable[[str], Awaitable[None]]) -> int:
    """``action`` on every path; a failure is said and the rest goes on (exit 1 at the end),
    as cat, mkdir and mv do."""
    status = EXIT_OK
    for path in paths:
        try:
            await action(path)
        except FilesError as exc:
            say(exc)
            status = EXIT_FAILED
    return status


def _files_command(args: argparse.Namespace,
                   body: Callable[[HostFiles, Host], Awaitable[int]]) -> int:
    async def run(workspace: Workspace, host: Host, _kernels: HostKernels) -> int:
        return await body(await workspace.files(host.name), host)

    return with_host(args, args.host, run)


def _ls(args: argparse.Namespace) -> int:
    async def body(files: HostFiles, host: Host) -> int:
        entries: list[Entry] = []
        try:
            async for batch in files.list(args.path):
                entries.extend(batch)
        except WrongKindError:  # a file: ls shows that one, under the name given
            entry = await files.lstat(args.path)
            entries = [_named(entry, args.path)]
        else:
            entries = filter_entries(entries, show_hidden=args.all)
        entries.sort(key=lambda e: e.name)
        if args.json:
            _print_json([entry_json(e) for e in entries])
        else:
            for row in listing_rows(entries):
                print(row)
        return EXIT_OK

    return _files_command(args, body)


def _named(entry: Entry, name: str) -> Entry:
    return Entry(name, entry.kind, entry.size, entry.mtime, entry.mode, entry.target,
                 entry.target_kind)


def _print_json(items: list[dict[str, Any]]) -> None:
    """A JSON array, one object a line (a long listing stays readable and streamable)."""
    if not items:
        print("[]")
        return
    print("[\n" + ",\n".join(json.dumps(item) for item in items) + "\n]")


def _stat(args: argparse.Namespace) -> int:
    async def body(files: HostFiles, host: Host) -> int:
        shown: list[dict[str, Any]] = []

        async def one(path: str) -> None:
            lstat, followed = await asyncio.gather(files.lstat(path), files.stat(path),
                                                   return_exceptions=True)
            for result in (lstat, followed):
                if isinstance(result, BaseException):
                    raise result
            assert isinstance(lstat, Entry) and isinstance(followed, Entry)
            target = lstat.target if lstat.kind == LINK else None
            if args.json:
                shown.append(entry_json(followed, path) | {"link": target})
            else:
                print(stat_line(path, followed, target=target))

        status = await _each(args.paths, one)
        if args.json:
            _print_json(shown)
        return status

    return _files_command(args, body)


def _cat(args: argparse.Namespace) -> int:
    async def body(files: HostFiles, host: Host) -> int:
        out = sys.stdout.buffer

        async def one(path: str) -> None:
            async for chunk in files.read_chunks(path):
                await asyncio.to_thread(out.write, chunk)  # a slow reader holds no loop
            await asyncio.to_thread(out.flush)

        return await _each(args.paths, one)

    return _files_command(args, body)


def _mkdir(args: argparse.Namespace) -> int:
    async def body(files: HostFiles, host: Host) -> int:
        async def one(path: str) -> None:
            await files.mkdir(path, parents=args.parents)

        return await _each(args.paths, one)

    return _files_command(args, body)


def _rm(args: argparse.Namespace) -> int:
    async def body(files: HostFiles, host: Host) -> int:
        paths, status = list(args.paths), EXIT_OK
        if not args.recursive:  # rm's habit: a directory, even an empty one, needs -r
            found = await asyncio.gather(*(files.lstat(p) for p in paths),
                                         return_exceptions=True)
            folders = [p for p, e in zip(paths, found, strict=True)
                       if isinstance(e, Entry) and e.kind == DIR]
            for path in folders:
                say(WrongKindError(f"{host.name}:{printable(path)}: is a directory (-r "
                                   "removes it with all it holds)"))
                status = EXIT_FAILED
            paths = [p for p in paths if p not in folders]
        try:  # one request: each path that fails is named, the others go
            await files.remove(paths, recursive=args.recursive, missing_ok=args.force)
        except FilesError as exc:
            say(exc)
            status = EXIT_FAILED
        return status

    return _files_command(args, body)


def _mv(args: argparse.Namespace) -> int:
    sources, dest = args.sources, args.dest

    async def body(files: HostFiles, host: Host) -> int:
        if len(sources) > 1 and not (await files.stat(dest)).is_dir:
            raise WrongKindError(f"{host.name}:{printable(dest)}: not a directory (the "
                                 "destination of several sources must be one)")

        async def one(src: str) -> None:
            await files.rename(src, dest, overwrite=True)

        return await _each(sources, one)

    return _files_command(args, body)
