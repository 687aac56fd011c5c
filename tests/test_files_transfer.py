"""The transfer engine against the real sshd: files up, down and from host to host
(byte-identical, mode and mtime kept, no part left), folders both ways, progress, memory."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import tracemalloc
from pathlib import Path

import pytest

from rtui.core.errors import FilesError, RemoteNotFoundError, WrongKindError
from rtui.core.files.paths import Local, Remote
from rtui.core.files.progress import TransferProgress
from rtui.core.files.sides import _open_regular
from rtui.core.files.transfer import TransferSpec, transfer
from rtui.core.workspace import Workspace
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust
from tests.transfer_helpers import (
    check_progress,
    make_tree,
    parts_in,
    random_file,
    sha256,
    snapshot,
    workspace,  # noqa: F401 (fixture)
    workspace_of,
)

MIB = 1 << 20


async def test_a_file_goes_up_down_and_host_to_host_byte_identical(
    workspace: Workspace, tmp_path: Path  # noqa: F811
) -> None:
    here, there, back = tmp_path / "here", tmp_path / "there", tmp_path / "back"
    for folder in (here, there, back):
        folder.mkdir()
    size = 3 * MIB + 12345  # not a whole number of blocks
    digest = random_file(here / "data.bin", size)
    os.chmod(here / "data.bin", 0o640)
    os.utime(here / "data.bin", (1_700_000_000, 1_700_000_000))

    events: list[TransferProgress] = []
    up = await transfer(workspace, TransferSpec((Local(str(here / "data.bin")),),
                                                Remote("a", str(there))),
                        on_progress=events.append)
    assert (up.files, up.bytes, up.resumed_from) == (1, size, 0)
    check_progress(events, size)
    assert events[-1].files_done == events[-1].files_total == 1
    assert sha256(there / "data.bin") == digest

    down = await transfer(workspace, TransferSpec((Remote("a", str(there / "data.bin")),),
                                                  Local(str(back / "copy.bin"))))
    assert down.bytes == size and sha256(back / "copy.bin") == digest

    events.clear()
    across = await transfer(workspace, TransferSpec((Remote("a", str(there / "data.bin")),),
                                                    Remote("b", str(back / "across.bin"))),
                            on_progress=events.append)
    assert across.bytes == size and sha256(back / "across.bin") == digest
    check_progress(events, size)
    for copy in (there / "data.bin", back / "copy.bin", back / "across.bin"):
        st = copy.stat()
        assert (st.st_mode & 0o777, int(st.st_mtime)) == (0o640, 1_700_000_000), copy
    assert parts_in(here, there, back) == []


async def test_several_sources_need_a_directory_and_folders_need_recursive(
    workspace: Workspace, tmp_path: Path  # noqa: F811
) -> None:
    (tmp_path / "one").write_text("1")
    (tmp_path / "two").write_text("2")
    (tmp_path / "dir").mkdir()
    sources = (Local(str(tmp_path / "one")), Local(str(tmp_path / "two")))
    with pytest.raises(WrongKindError, match="needs an existing directory"):
        await transfer(workspace, TransferSpec(sources, Remote("a", str(tmp_path / "nope"))))
    with pytest.raises(WrongKindError, match=r"is a directory: copy it recursively"):
        await transfer(workspace, TransferSpec((Remote("a", str(tmp_path / "dir")),),
                                               Local(str(tmp_path / "x"))))
    with pytest.raises(RemoteNotFoundError, match=r"a:.*/missing"):
        await transfer(workspace, TransferSpec((Remote("a", str(tmp_path / "missing")),),
                                               Local(str(tmp_path / "x"))))
    # Both into an existing directory, and an empty file too.
    (tmp_path / "empty").write_bytes(b"")
    result = await transfer(workspace, TransferSpec(
        (*sources, Local(str(tmp_path / "empty"))), Remote("a", str(tmp_path / "dir"))))
    assert result.files == 3
    assert sorted(os.listdir(tmp_path / "dir")) == ["empty", "one", "two"]
    assert (tmp_path / "dir" / "two").read_text() == "2"
    assert isinstance(WrongKindError(""), FilesError)


async def test_memory_stays_bounded_on_a_large_file(
    workspace: Workspace, tmp_path: Path  # noqa: F811
) -> None:
    """The file never sits whole in memory: the peak is bounded by the window (64 requests
    of one 255 KiB block in flight, held by the requests and by the channel's send buffer),
    under DESIGN16's 64 MiB, whatever the file's size."""
    size = 96 * MIB
    digest = random_file(tmp_path / "big", size)
    (tmp_path / "tiny").write_bytes(b"x")  # the connection and SFTP up before measuring
    await transfer(workspace, TransferSpec((Local(str(tmp_path / "tiny")),),
                                           Remote("a", str(tmp_path / "tiny2"))))
    tracemalloc.start()
    try:
        await transfer(workspace, TransferSpec((Local(str(tmp_path / "big")),),
                                               Remote("a", str(tmp_path / "up"))))
        _, peak_up = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        await transfer(workspace, TransferSpec((Remote("a", str(tmp_path / "up")),),
                                               Local(str(tmp_path / "down"))))
        _, peak_down = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sha256(tmp_path / "down") == digest
    assert peak_up < 64 * MIB and peak_down < 64 * MIB, (peak_up / MIB, peak_down / MIB)


async def test_a_folder_goes_up_down_and_host_to_host_whole(
    workspace: Workspace, tmp_path: Path  # noqa: F811
) -> None:
    """Nested and empty folders, 1 MiB ± 1 files (the stream's threshold: both paths),
    links copied as links, odd names, modes and mtimes: identical after each trip."""
    source = tmp_path / "src"
    make_tree(source)
    want = snapshot(source)
    (tmp_path / "up").mkdir()
    total = sum(p.stat().st_size for p in source.rglob("*") if p.is_file() and
                not p.is_symlink())

    events: list[TransferProgress] = []
    up = await transfer(workspace, TransferSpec((Local(str(source)),), Remote("a", str(
        tmp_path / "up")), recursive=True), on_progress=events.append)
    assert snapshot(tmp_path / "up" / "src") == want
    assert up.files == 8 and up.bytes == total
    check_progress(events, total)
    assert events[-1].files_done == events[-1].files_total == 8

    down = await transfer(workspace, TransferSpec((Remote("a", str(tmp_path / "up" / "src")),),
                                                  Local(str(tmp_path / "down")),
                                                  recursive=True))
    assert snapshot(tmp_path / "down") == want  # a new name: the folder is made as it
    assert down.files == 8

    await transfer(workspace, TransferSpec((Remote("a", str(source)),),
                                           Remote("b", str(tmp_path / "across")),
                                           recursive=True))
    assert snapshot(tmp_path / "across") == want
    assert parts_in(tmp_path) == []
    for copy in ("up/src", "down", "across"):
        os.chmod(tmp_path / copy / "ro", 0o755)  # so pytest can remove it
    os.chmod(source / "ro", 0o755)


ODD = ["a b\nc é漢.txt", os.fsdecode(b"bad-\xff.bin"), " lead and trail ", "-dash"]


async def test_odd_names_go_both_ways_alone_and_in_a_folder(
    workspace: Workspace, tmp_path: Path  # noqa: F811
) -> None:
    """Spaces, a newline, unicode and a byte that is not UTF-8 (a lone surrogate here)."""
    folder = tmp_path / "odd"
    folder.mkdir()
    for i, name in enumerate(ODD):
        (folder / name).write_bytes(f"file {i}\n".encode())
    (tmp_path / "out").mkdir()
    for name in ODD:  # each alone, up then down again, checksummed on both sides
        await transfer(workspace, TransferSpec((Local(str(folder / name)),),
                                               Remote("a", str(tmp_path / "out")),
                                               checksum=True))
        await transfer(workspace, TransferSpec((Remote("a", str(tmp_path / "out" / name)),),
                                               Local(str(tmp_path / "out" / f"{name}.back"))))
        assert (tmp_path / "out" / f"{name}.back").read_bytes() == (folder / name).read_bytes()
    await transfer(workspace, TransferSpec((Local(str(folder)),), Remote("a", str(
        tmp_path / "up")), recursive=True))
    await transfer(workspace, TransferSpec((Remote("a", str(tmp_path / "up")),),
                                           Remote("b", str(tmp_path / "across")),
                                           recursive=True))
    assert snapshot(tmp_path / "across") == snapshot(tmp_path / "up") == snapshot(folder)


async def test_a_folder_goes_file_by_file_where_the_agent_cannot_run(
    sshd: SSHD, isolated_home: Path, tmp_path: Path
) -> None:
    """No Python for the agent on the host: no tar stream and no fs_walk, SFTP alone
    (walked by listings, small files and links one by one), the same copy both ways."""
    trust(sshd, isolated_home)
    ws = workspace_of(host_for(sshd, "nopy", python="/nonexistent/python3"))
    source = tmp_path / "src"
    make_tree(source)
    try:
        await transfer(ws, TransferSpec((Local(str(source)),), Remote("nopy", str(
            tmp_path / "up")), recursive=True))
        await transfer(ws, TransferSpec((Remote("nopy", str(tmp_path / "up")),),
                                        Local(str(tmp_path / "down")), recursive=True))
    finally:
        await ws.close()
    assert snapshot(tmp_path / "up") == snapshot(tmp_path / "down") == snapshot(source)
    for copy in (source, tmp_path / "up", tmp_path / "down"):
        os.chmod(copy / "ro", 0o755)


async def test_dot_and_a_trailing_slash_are_read_as_scp_reads_them(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """``.`` is copied under its folder's name; a target ending in ``/`` must be a folder."""
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "main.py").write_text("print(1)\n")
    (tmp_path / "dest").mkdir()
    monkeypatch.chdir(tmp_path / "proj")
    await transfer(workspace, TransferSpec((Local("."),), Remote("a", str(tmp_path / "dest")),
                                           recursive=True))
    assert (tmp_path / "dest" / "proj" / "main.py").read_text() == "print(1)\n"
    with pytest.raises(WrongKindError, match="not a directory"):
        await transfer(workspace, TransferSpec((Local("main.py"),),
                                               Remote("a", str(tmp_path / "nodir") + "/")))


async def test_special_files_are_refused_as_sources_and_left_out_of_folders(
    workspace: Workspace, tmp_path: Path  # noqa: F811
) -> None:
    """A FIFO with no writer blocks whoever opens it (on a host, OpenSSH's one-threaded
    sftp-server and every later request with it): as a source, here or there, it is
    refused by name and never opened; in a folder it is left out (a socket too), counted
    in the result, and the rest is copied."""
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("f")
    os.mkfifo(tree / "sub" / "fifo")
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(tree / "sock"))
        for source in (Local(str(tree / "sub" / "fifo")),
                       Remote("a", str(tree / "sub" / "fifo"))):
            with pytest.raises(WrongKindError) as refused:
                await asyncio.wait_for(transfer(workspace, TransferSpec(
                    (source,), Local(str(tmp_path / "x")))), 30)
            assert str(refused.value).endswith(
                "sub/fifo: not a regular file (a FIFO): not copied"), refused.value
        up = await asyncio.wait_for(transfer(workspace, TransferSpec(
            (Local(str(tree)),), Remote("a", str(tmp_path / "up")), recursive=True)), 30)
        down = await asyncio.wait_for(transfer(workspace, TransferSpec(
            (Remote("a", str(tree)),), Local(str(tmp_path / "down")), recursive=True)), 30)
    for result, copy, where in ((up, tmp_path / "up", ""), (down, tmp_path / "down", "a:")):
        assert result.files == 1
        assert sorted(result.special) == [f"{where}{tree}/sock", f"{where}{tree}/sub/fifo"]
        assert sorted(str(p.relative_to(copy)) for p in copy.rglob("*")) == ["sub", "sub/f"]
    # Queued (as the Files tab does), the job ends done, its row saying what was left out.
    job = workspace.transfers.submit(TransferSpec(
        (Local(str(tree)),), Remote("a", str(tmp_path / "queued")), recursive=True))
    deadline = time.monotonic() + 30
    while job.state not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.05)
    assert job.state == "done", job.error
    assert job.note.startswith("done, but 2 special file(s) (FIFO, socket, device) not copied")
    files = await workspace.files("a")  # the host's SFTP session still answers
    assert (await asyncio.wait_for(files.stat(str(tree / "sub" / "f")), 30)).size == 1
    with pytest.raises(WrongKindError, match=r"fifo \(here\): not a regular file \(a FIFO\)"):
        await asyncio.wait_for(asyncio.to_thread(_open_regular, str(tree / "sub" / "fifo")), 30)
