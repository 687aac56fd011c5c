"""The transfer engine's faults against the real sshd: a link cut mid-transfer (the relay)
keeps the part and a resume finishes with fewer bytes sent; a source that changes during
the copy; a cancel removes the part. Nothing is ever half-written under a final name."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from rtui.agent.tarstream import pack
from rtui.core.config.model import Config, Host
from rtui.core.errors import (
    ChangedDuringTransferError,
    DiskFullError,
    FilesError,
    LinkLoopError,
    RemotePermissionError,
    SSHError,
)
from rtui.core.files.parts import Tuning
from rtui.core.files.paths import Local, Remote
from rtui.core.files.progress import TransferProgress
from rtui.core.files.queue import CANCELLED, DONE, FAILED, RUNNING, Job
from rtui.core.files.transfer import TransferSpec, transfer
from rtui.core.workspace import Workspace
from tests.harness.accounts import Account
from tests.harness.relay import TCPRelay
from tests.harness.sshd import SSHD
from tests.ssh_helpers import ScriptedPerson, host_for, trust
from tests.transfer_helpers import (
    parts_in,
    random_file,
    sha256,
    snapshot,
    workspace,  # noqa: F401 (fixture)
    workspace_of,
)

MIB = 1 << 20
# A narrow window, so a part's resume point (a window below its end) comes early in a
# small file; the rule is the same at the default 64 requests.
NARROW = Tuning(max_requests=8)


@pytest_asyncio.fixture
async def relayed(sshd: SSHD, isolated_home: Path) -> AsyncIterator[tuple[Workspace, TCPRelay]]:
    """Host ``r``: the session's sshd through a relay that can slow or cut the link."""
    relay = await TCPRelay(sshd.host, sshd.port).start()
    trust(sshd, isolated_home)
    with (isolated_home / ".ssh" / "known_hosts").open("a") as known:
        known.write(relay.known_hosts_line(sshd.host_key_pub) + "\n")
    ws = workspace_of(host_for(sshd, "r", port=relay.port, python=sys.executable))
    try:
        yield ws, relay
    finally:
        await ws.close()
        await relay.close()


def when_past(fraction: float, action: Callable[[], object]
              ) -> tuple[list[TransferProgress], Callable[[TransferProgress], None]]:
    """An on_progress that calls ``action()`` once, when the job is past ``fraction``."""
    events: list[TransferProgress] = []
    fired: list[bool] = []

    def on_progress(event: TransferProgress) -> None:
        events.append(event)
        if not fired and event.done >= fraction * event.total:
            fired.append(True)
            action()

    return events, on_progress


@pytest.mark.parametrize("direction", ["up", "down"])
async def test_a_cut_link_keeps_the_part_and_a_resume_sends_less(
    relayed: tuple[Workspace, TCPRelay], tmp_path: Path, direction: str
) -> None:
    ws, relay = relayed
    size = 12 * MIB
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    source_dir, target_dir = (here, there) if direction == "up" else (there, here)
    digest = random_file(source_dir / "data.bin", size)

    def spec(resume: bool) -> TransferSpec:
        src = source_dir / "data.bin"
        if direction == "up":
            return TransferSpec((Local(str(src)),), Remote("r", str(target_dir)), resume=resume)
        return TransferSpec((Remote("r", str(src)),), Local(str(target_dir)), resume=resume)

    relay.bandwidth = 24e6  # slow enough to cut it half-way
    _, on_progress = when_past(0.5, relay.cut)
    with pytest.raises(SSHError, match=r"kept in .*\.data\.bin\.rtui-\w+\.part: resume"):
        await transfer(ws, spec(False), on_progress=on_progress, tuning=NARROW)
    assert not (target_dir / "data.bin").exists()
    [part] = parts_in(target_dir)
    kept = (target_dir / part).stat().st_size
    assert 0 < kept < size

    relay.bandwidth = None
    before = relay.bytes_forwarded
    result = await transfer(ws, spec(True), tuning=NARROW)
    assert sha256(target_dir / "data.bin") == digest
    assert parts_in(target_dir) == []
    assert result.resumed_from > 0 and result.bytes == size - result.resumed_from
    assert relay.bytes_forwarded - before < size - result.resumed_from // 2


async def test_a_source_that_changes_during_the_copy_is_not_renamed_into_place(
    relayed: tuple[Workspace, TCPRelay], tmp_path: Path
) -> None:
    ws, relay = relayed
    relay.bandwidth = 16e6  # slow enough to change the source half-way
    source = tmp_path / "growing.log"
    random_file(source, 8 * MIB)
    (tmp_path / "out").mkdir()

    def append() -> None:
        with source.open("ab") as f:
            f.write(b"one more line\n")

    _, on_progress = when_past(0.3, append)
    with pytest.raises(ChangedDuringTransferError, match=r"r:.*growing\.log changed while"):
        await transfer(ws, TransferSpec((Remote("r", str(source)),),
                                        Local(str(tmp_path / "out"))), on_progress=on_progress)
    assert not (tmp_path / "out" / "growing.log").exists()
    assert len(parts_in(tmp_path / "out")) == 1  # kept, under its part name only

    def shrink() -> None:
        with source.open("r+b") as f:
            f.truncate(2 * MIB)

    random_file(source, 8 * MIB, seed=1)
    _, on_progress = when_past(0.1, shrink)
    with pytest.raises(ChangedDuringTransferError, match=r"growing\.log changed while .*"
                       r"ended at \d+ bytes, not 8388608"):
        await transfer(ws, TransferSpec((Local(str(source)),), Remote("r", str(tmp_path / "out"))),
                       on_progress=on_progress, tuning=NARROW)
    assert not (tmp_path / "out" / "growing.log").exists()


async def test_a_cancel_removes_the_part_unless_asked_to_keep_it(
    relayed: tuple[Workspace, TCPRelay], tmp_path: Path
) -> None:
    ws, relay = relayed
    relay.bandwidth = 32e6
    random_file(tmp_path / "big", 8 * MIB)
    (tmp_path / "out").mkdir()
    spec = TransferSpec((Local(str(tmp_path / "big")),), Remote("r", str(tmp_path / "out")))
    for keep in (False, True):
        tasks: list[asyncio.Task[object]] = []
        _, on_progress = when_past(0.3, lambda: tasks[0].cancel())  # noqa: B023
        task = asyncio.ensure_future(transfer(ws, spec, on_progress=on_progress,
                                              keep_part_on_cancel=keep, tuning=NARROW))
        tasks.append(task)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not (tmp_path / "out" / "big").exists()
        assert len(parts_in(tmp_path / "out")) == (1 if keep else 0)
    # A folder: its big file's part goes, its stream stops, nothing half-written stays.
    folder = tmp_path / "folder"
    folder.mkdir()
    (tmp_path / "big").rename(folder / "big")
    for i in range(20):
        (folder / f"small{i}").write_bytes(os.urandom(30_000))
    tasks: list[asyncio.Task[object]] = []
    _, on_progress = when_past(0.3, lambda: tasks[0].cancel())
    tasks.append(asyncio.ensure_future(transfer(
        ws, TransferSpec((Local(str(folder)),), Remote("r", str(tmp_path / "copy")),
                         recursive=True), on_progress=on_progress, tuning=NARROW)))
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    assert parts_in(tmp_path / "copy") == [] and not (tmp_path / "copy" / "big").exists()
    for copied in (tmp_path / "copy").iterdir():  # the small files that came are whole
        assert copied.read_bytes() == (folder / copied.name).read_bytes()


async def test_the_queue_runs_two_at_a_time_and_retries_after_a_cut_by_itself_and_on_demand(
    relayed: tuple[Workspace, TCPRelay], tmp_path: Path
) -> None:
    ws, relay = relayed
    relay.bandwidth = 24e6
    queue = ws.transfers
    queue.tuning = NARROW
    (tmp_path / "out").mkdir()
    digests = [random_file(tmp_path / f"f{i}", 8 * MIB, seed=i) for i in range(4)]
    changed = asyncio.Event()
    running_at_once: list[int] = []
    cuts: list[int] = []

    def on_change(job: Job) -> None:
        running_at_once.append(sum(1 for j in queue.jobs if j.state == RUNNING))
        progress = job.progress
        if (job.id == 1 and not cuts and progress is not None
                and progress.done >= progress.total * 0.7):
            cuts.append(progress.done)
            relay.cut()  # jobs 1 and 2 run on that connection: both lose it
        changed.set()

    async def until(done: Callable[[], bool]) -> None:
        async with asyncio.timeout(60):
            while not done():
                changed.clear()
                await changed.wait()

    queue.subscribe(on_change)
    jobs = [queue.submit(TransferSpec((Local(str(tmp_path / f"f{i}")),),
                                      Remote("r", str(tmp_path / "out")))) for i in range(3)]
    await until(lambda: all(j.finished for j in jobs))
    assert [j.state for j in jobs] == [DONE] * 3, [j.error for j in jobs]
    assert max(running_at_once) == 2 and cuts
    assert jobs[0].retried_by_itself and jobs[0].result is not None
    assert jobs[0].result.resumed_from > 0
    for i in range(3):
        assert sha256(tmp_path / "out" / f"f{i}") == digests[i]

    # A cut while the host cannot be reached again: failed, part kept; retry finishes it.
    cuts.clear()
    last = queue.submit(TransferSpec((Local(str(tmp_path / "f3")),),
                                     Remote("r", str(tmp_path / "out"))))
    last.retried_by_itself = True  # no retry by itself this time
    await until(lambda: last.progress is not None and last.progress.done > 0)
    relay.refuse_new = True
    relay.cut()
    await until(lambda: last.finished)
    assert last.state == FAILED and "r" in last.error and last.error_title
    assert len(parts_in(tmp_path / "out")) == 1
    relay.refuse_new = False
    assert queue.retry(last.id) is last and last.spec.resume
    await until(lambda: last.finished)
    assert last.state == DONE and sha256(tmp_path / "out" / "f3") == digests[3]
    assert parts_in(tmp_path / "out") == []

    # A person's cancel: the part goes; a retry copies it again.
    (tmp_path / "out" / "f3").unlink()
    again = queue.submit(TransferSpec((Local(str(tmp_path / "f3")),),
                                      Remote("r", str(tmp_path / "out"))))
    await until(lambda: again.progress is not None and again.progress.done > 0)
    queue.cancel(again.id)
    await until(lambda: again.finished)
    assert again.state == CANCELLED and parts_in(tmp_path / "out") == []
    queue.retry(again.id)
    await until(lambda: again.finished)
    assert again.state == DONE and sha256(tmp_path / "out" / "f3") == digests[3]


async def test_a_folder_cut_half_way_resumes_with_what_is_missing(
    relayed: tuple[Workspace, TCPRelay], tmp_path: Path
) -> None:
    """Files already whole are skipped and a big file goes on from its part."""
    ws, relay = relayed
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    for i in range(40):
        (source / "sub" / f"small{i}").write_bytes(bytes([i]) * 40_000)
    for i in range(2):
        random_file(source / f"big{i}", 6 * MIB, seed=i)
    total = 40 * 40_000 + 12 * MIB
    spec = TransferSpec((Local(str(source)),), Remote("r", str(tmp_path / "copy")),
                        recursive=True)
    relay.bandwidth = 12e6
    copy = tmp_path / "copy"

    async def cut_once_some_are_whole() -> None:
        """Cut when one big file is whole and the other's part is past the window."""
        while True:
            sizes = [(copy / p).stat().st_size for p in parts_in(copy) if "big1" in p]
            if (copy / "big0").exists() and sizes and sizes[0] > 3 * MIB:
                relay.cut()
                return
            await asyncio.sleep(0.02)

    one_by_one = dataclasses.replace(NARROW, parallel_files=1)
    watcher = asyncio.ensure_future(cut_once_some_are_whole())
    with pytest.raises(SSHError):
        await transfer(ws, spec, tuning=one_by_one)
    assert watcher.done()
    assert parts_in(copy)  # the big files' parts are kept

    relay.bandwidth = None
    before = relay.bytes_forwarded
    result = await transfer(ws, dataclasses.replace(spec, resume=True), tuning=one_by_one)
    assert snapshot(copy) == snapshot(source)
    assert parts_in(copy) == []
    assert result.skipped + result.files == 42 and result.skipped > 0
    assert result.resumed_from > 0
    assert result.bytes < total and relay.bytes_forwarded - before < total


async def test_a_full_disk_on_either_side_says_so_and_leaves_no_part(
    workspace: Workspace, tmp_path: Path  # noqa: F811
) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    small = tmp_path / "small"
    small.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)],
                          capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        random_file(tmp_path / "two", 2 * MIB)
        with pytest.raises(DiskFullError, match=rf"a:{small}/.*disk full.*was removed"):
            await transfer(workspace, TransferSpec((Local(str(tmp_path / "two")),),
                                                   Remote("a", str(small))))
        with pytest.raises(DiskFullError, match=r"\(here\): disk full.*was removed"):
            await transfer(workspace, TransferSpec((Remote("a", str(tmp_path / "two")),),
                                                   Local(str(small))))
        assert list(small.iterdir()) == []
        folder = tmp_path / "many"  # small files: the tar stream says it
        folder.mkdir()
        for i in range(8):
            (folder / f"f{i}").write_bytes(os.urandom(200_000))
        with pytest.raises(DiskFullError, match=r"not copied: .*disk full"):
            await transfer(workspace, TransferSpec((Local(str(folder)),),
                                                   Remote("a", str(small)), recursive=True))
        assert parts_in(small) == []
    finally:
        subprocess.run(["umount", str(small)], capture_output=True, timeout=30, check=False)


async def test_permission_denied_as_a_plain_account(
    password_sshd: SSHD, password_account: Account, isolated_home: Path, tmp_path: Path
) -> None:
    trust(password_sshd, isolated_home)
    host = Host("pw", hostname="127.0.0.1", port=password_sshd.port,
                user=password_account.name)
    ws = Workspace(None, config=Config(hosts=(host,)), prefetch=False, auto_reconnect=False,
                   prompter=ScriptedPerson(secrets={"password": password_account.password}))
    roots = password_account.home / f"roots-{uuid.uuid4().hex[:8]}"
    roots.mkdir()
    roots.chmod(0o755)
    (roots / "secret").write_text("root only")
    (roots / "secret").chmod(0o600)
    (tmp_path / "f").write_text("mine")
    try:
        # Named by the file asked for (pw:ROOTS/f), not by the part it would have been
        # written to first.
        with pytest.raises(RemotePermissionError, match=rf"^pw:{roots}/f: permission"):
            await transfer(ws, TransferSpec((Local(str(tmp_path / "f")),),
                                            Remote("pw", str(roots))))
        with pytest.raises(RemotePermissionError, match=rf"pw:{roots}/secret: permission"):
            await transfer(ws, TransferSpec((Remote("pw", str(roots / "secret")),),
                                            Local(str(tmp_path / "got"))))
        assert sorted(p.name for p in roots.iterdir()) == ["secret"]
        assert not (tmp_path / "got").exists() and parts_in(tmp_path) == []
        # In a folder: the rest comes, the one that cannot be read is named.
        (roots / "open").write_text("anyone")
        with pytest.raises(RemotePermissionError, match=r"1 item\(s\) under pw:.*not copied: "
                                                        r"secret: permission denied"):
            await transfer(ws, TransferSpec((Remote("pw", str(roots)),),
                                            Local(str(tmp_path / "folder")), recursive=True))
        assert os.listdir(tmp_path / "folder") == ["open"]
    finally:
        await ws.close()
        shutil.rmtree(roots, ignore_errors=True)


async def test_symlink_loops_are_named_and_never_followed_round(
    workspace: Workspace, tmp_path: Path  # noqa: F811
) -> None:
    (tmp_path / "loop").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop")
    with pytest.raises(LinkLoopError, match=r"a:.*/loop: symlink loop"):
        await transfer(workspace, TransferSpec((Remote("a", str(tmp_path / "loop")),),
                                               Local(str(tmp_path / "x"))))
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "data").write_text("data\n")
    (tree / "sub" / "up").symlink_to("..")  # a folder met again when links are followed
    (tree / "sub" / "alias").symlink_to("data")
    (tree / "self").symlink_to("self")
    # Without -L links are links: the copy is whole.
    await transfer(workspace, TransferSpec((Local(str(tree)),), Remote("a", str(
        tmp_path / "plain")), recursive=True))
    assert snapshot(tmp_path / "plain") == snapshot(tree)
    # With -L each side's walk cuts the loops, says them, and copies the rest.
    for name, src in (("here", Local(str(tree))), ("there", Remote("a", str(tree)))):
        with pytest.raises(FilesError, match=r"not copied: .*(up: symlink loop.*self|self"
                                             r".*up: symlink loop)"):
            await transfer(workspace, TransferSpec((src,), Local(str(tmp_path / name)),
                                                   recursive=True, follow_links=True))
        copied = tmp_path / name
        assert not (copied / "sub" / "alias").is_symlink()
        assert (copied / "sub" / "alias").read_text() == "data\n"
        assert sorted(os.listdir(copied)) == ["sub"]


def test_a_tar_stream_cut_mid_way_leaves_whole_files_and_no_part(tmp_path: Path) -> None:
    """tar-in (the agent's sub-command, run as the host runs it) fed a stream that stops
    inside a member: the members before it are in place, whole; that one is not, nor its
    part; the stream's end is said."""
    source, target = tmp_path / "src", tmp_path / "dst"
    source.mkdir()
    target.mkdir()
    (source / "one").write_bytes(b"1" * 1000)
    (source / "two").write_bytes(b"2" * 2000)
    random_file(source / "three", 300_000)
    stream = io.BytesIO()
    pack(str(source), ["one", "two", "three"], stream, lambda _: None)
    whole = stream.getvalue()
    cut = whole.index(source.joinpath("three").read_bytes()[:64]) + 100_000
    header = json.dumps({"root": str(target)}).encode() + b"\n"
    done = subprocess.run(
        [sys.executable, "-c", "from rtui.agent.tarstream import main; main(['tar-in'])"],
        input=header + whole[:cut], capture_output=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 1, done.stderr
    assert {"file": ["one", 1000]} in lines and {"file": ["two", 2000]} in lines
    assert lines[-1]["error"][:2] == ["", "cut"]
    assert sorted(os.listdir(target)) == ["one", "two"]  # no part, no half file
    assert (target / "two").read_bytes() == b"2" * 2000
