"""A folder's small files as one tar stream between two sides (DESIGN16 §0.6): the agent's
``tar-out``/``tar-in`` sub-commands on a host (each on its own exec channel), and the same
``pack``/``unpack`` here, in a thread (tarfile is blocking), fed from and to the channel.

Every file lands under a part name and is renamed when whole (tar-in and ``unpack`` do it);
a file that changes while it is read is not sent. Per-member failures are collected and
given back; the caller says them at the end of the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncssh

from rtui.agent.tarstream import drain, pack, unpack
from rtui.core.errors import FilesError, RtuiError, SSHError
from rtui.core.files.progress import ProgressMeter
from rtui.core.files.remote_side import RemoteSide
from rtui.core.files.sides import Side, connection_lost
from rtui.core.remote.client import AgentError

__all__ = ["StreamOutcome", "StreamUnavailable", "tar_stream"]

CHUNK = 1 << 20
_CLOSE_TIMEOUT = 10.0


NO_AGENT = frozenset({"no_python", "old_python", "start"})  # the agent cannot run there


class StreamUnavailable(Exception):
    """The host's agent cannot run (no Python, too old): no stream; one file at a time."""


@dataclass
class StreamOutcome:
    """What a stream did: files placed and their bytes, members that failed
    (``(rel, type, message)``, types as the agent's) and files that changed while read."""

    files: int = 0
    bytes: int = 0
    errors: list[tuple[str, str, str]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    failures: list[RtuiError] = field(default_factory=list)  # of files copied one by one

    def note(self, event: dict[str, Any], meter: ProgressMeter | None) -> None:
        """One report line of tar-in, tar-out or their local twins."""
        if "file" in event:
            size = int(event["file"][1])
            self.files += 1
            self.bytes += size
            if meter is not None:
                meter.add(size)
                meter.file_done()
        elif "error" in event:
            rel, kind, message = [*event["error"], "", "io", ""][:3]
            self.errors.append((str(rel), str(kind), str(message)))
        elif "changed" in event:
            self.changed.append(str(event["changed"]))


class _FromLoop(io.RawIOBase):
    """A thread's file object over an asyncssh stream: each read or write runs on the loop
    (and waits there for the channel), so the thread's tarfile sees a plain file."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 reader: asyncssh.SSHReader[bytes] | None = None,
                 writer: asyncssh.SSHWriter[bytes] | None = None) -> None:
        super().__init__()
        self.loop, self.reader, self.writer = loop, reader, writer

    def _call(self, work: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result()

    def readable(self) -> bool:
        return self.reader is not None

    def writable(self) -> bool:
        return self.writer is not None

    def read(self, size: int = -1) -> bytes:
        assert self.reader is not None
        data: bytes = self._call(self.reader.read(size if size > 0 else CHUNK))
        return data

    def write(self, data: Any) -> int:
        assert self.writer is not None
        chunk = bytes(data)
        self._call(self._send(chunk))
        return len(chunk)

    async def _send(self, chunk: bytes) -> None:
        assert self.writer is not None
        self.writer.write(chunk)
        await self.writer.drain()


class _Batch:
    """What threads report, handed to the loop in batches: one wake-up of the loop for
    all that came meanwhile, not one per file."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 handle: Callable[[tuple[str, Any]], None]) -> None:
        self.loop, self.handle = loop, handle
        self.items: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        self.scheduled = False

    def put(self, item: tuple[str, Any]) -> None:
        with self.lock:
            self.items.append(item)
            if self.scheduled:
                return
            self.scheduled = True
        self.loop.call_soon_threadsafe(self.run)

    def run(self) -> None:
        with self.lock:
            items, self.items, self.scheduled = self.items, [], False
        for item in items:
            self.handle(item)


async def _open(side: RemoteSide, name: str, header: dict[str, Any]
                ) -> asyncssh.SSHClientProcess[bytes]:
    """The agent's sub-command ``name`` on its own channel, its header line sent."""
    where = str(header.get("root", "."))
    try:
        command = await side.files.agent.subcommand(name)
    except AgentError as exc:
        if exc.type in NO_AGENT:
            raise StreamUnavailable(str(exc)) from exc
        raise await side.failure(exc, where) from exc
    try:
        conn = await side.files.connection.connect()
        process = await conn.create_process(command, encoding=None)
        process.stdin.write(json.dumps(header).encode("ascii") + b"\n")
    except (asyncssh.Error, OSError) as exc:
        raise await side.failure(exc, where) from exc
    return process


async def _lines(stream: asyncssh.SSHReader[bytes], outcome: StreamOutcome,
                 meter: ProgressMeter | None) -> None:
    """Read JSON report lines until EOF (a line that is not one is an error's words)."""
    while line := await stream.readline():
        text = line.decode("utf-8", "surrogateescape").strip()
        if not text:
            continue
        try:
            event = json.loads(text)
        except ValueError:
            outcome.errors.append(("", "io", text))
            continue
        if isinstance(event, dict):
            outcome.note(event, meter)


async def tar_stream(src: Side, src_root: str, dst: Side, dst_root: str, rels: Sequence[str],
                     *, follow: bool, preserve: bool, meter: ProgressMeter) -> StreamOutcome:
    """Copy ``rels`` (files and links under ``src_root``) to the same names under
    ``dst_root``, whose folders exist, as one stream."""
    outcome = StreamOutcome()
    if not rels:
        return outcome
    loop = asyncio.get_running_loop()
    out_header = {"root": src_root, "paths": list(rels), "follow": follow}
    in_header = {"root": dst_root, "preserve": preserve}
    processes: list[asyncssh.SSHClientProcess[bytes]] = []
    threads: list[asyncio.Future[Any]] = []

    def on_loop(item: tuple[str, Any]) -> None:
        kind, value = item
        if kind == "bytes":
            meter.add(value)
        else:
            outcome.note(value, None)
            if kind == "placed" and "file" in value:
                meter.file_done()

    batch = _Batch(loop, on_loop)  # from the threads: handled on the loop, in batches

    def report(event: dict[str, Any]) -> None:
        batch.put(("event", event))

    def counted(nbytes: int) -> None:
        batch.put(("bytes", nbytes))

    def local_file(event: dict[str, Any]) -> None:
        batch.put(("placed", event))

    def in_thread(work: Callable[[], Any]) -> asyncio.Future[Any]:
        future = loop.run_in_executor(None, work)
        threads.append(future)
        return future

    try:
        if isinstance(src, RemoteSide) and isinstance(dst, RemoteSide):
            out = await _open(src, "tar-out", out_header)
            processes.append(out)
            into = await _open(dst, "tar-in", in_header)
            processes.append(into)
            out.stdin.write_eof()
            await asyncio.gather(_pump(out.stdout, into.stdin),
                                 _lines(out.stderr, outcome, None),
                                 _lines(into.stdout, outcome, meter))
        elif isinstance(src, RemoteSide):
            out = await _open(src, "tar-out", out_header)
            processes.append(out)
            out.stdin.write_eof()
            source = _FromLoop(loop, reader=out.stdout)

            def consume_stream() -> None:
                unpack(dst_root, source, local_file,  # type: ignore[arg-type]
                       preserve=preserve, on_bytes=counted)
                drain(source)  # type: ignore[arg-type]

            await asyncio.gather(in_thread(consume_stream), _lines(out.stderr, outcome, None))
        elif isinstance(dst, RemoteSide):
            into = await _open(dst, "tar-in", in_header)
            processes.append(into)
            sink = _FromLoop(loop, writer=into.stdin)

            async def send() -> None:
                await in_thread(lambda: pack(src_root, rels, sink,  # type: ignore[arg-type]
                                             report, follow=follow))
                into.stdin.write_eof()

            await asyncio.gather(send(), _lines(into.stdout, outcome, meter))
        else:
            await _local_to_local(src_root, dst_root, rels, follow, preserve, report,
                                  local_file, counted, in_thread)
    except (asyncssh.Error, OSError, EOFError, ValueError) as exc:
        raise _stream_error(src, src_root, dst, dst_root, exc) from exc
    except Exception as exc:  # tarfile's errors: the stream ended in the middle
        if isinstance(exc, RtuiError | StreamUnavailable):
            raise
        raise _stream_error(src, src_root, dst, dst_root, exc) from exc
    finally:
        for process in processes:
            process.close()
        for thread in threads:  # never leave a thread writing to a closed channel
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(thread), _CLOSE_TIMEOUT)
        for process in processes:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(process.wait_closed(), _CLOSE_TIMEOUT)
    batch.run()  # the threads' last reports
    return outcome


async def _pump(reader: asyncssh.SSHReader[bytes], writer: asyncssh.SSHWriter[bytes]) -> None:
    while chunk := await reader.read(CHUNK):
        writer.write(chunk)
        await writer.drain()
    writer.write_eof()


async def _local_to_local(src_root: str, dst_root: str, rels: Sequence[str], follow: bool,
                          preserve: bool, report: Callable[[dict[str, Any]], None],
                          local_file: Callable[[dict[str, Any]], None],
                          counted: Callable[[int], None],
                          in_thread: Callable[[Callable[[], Any]], asyncio.Future[Any]]
                          ) -> None:
    """Both ends here: a pipe between a packing and an unpacking thread."""
    read_fd, write_fd = os.pipe()
    reading, writing = os.fdopen(read_fd, "rb"), os.fdopen(write_fd, "wb")

    def produce() -> None:
        with writing:
            pack(src_root, rels, writing, report, follow=follow)

    def consume() -> None:
        with reading:
            unpack(dst_root, reading, local_file, preserve=preserve, on_bytes=counted)
            drain(reading)

    await asyncio.gather(in_thread(produce), in_thread(consume))


def _stream_error(src: Side, src_root: str, dst: Side, dst_root: str,
                  exc: BaseException) -> RtuiError:
    if connection_lost(exc):
        side = src if isinstance(src, RemoteSide) else dst
        assert isinstance(side, RemoteSide)
        return SSHError(f"lost the connection to {side.host} while copying "
                        f"{src.where(src_root)} to {dst.where(dst_root)}: {exc}")
    return FilesError(f"the stream of small files from {src.where(src_root)} to "
                      f"{dst.where(dst_root)} ended early: {exc}")

