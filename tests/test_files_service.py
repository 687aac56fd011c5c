"""HostFiles, the per-host files service, against the real sshd: each operation, odd names,
the vague SFTP v3 failures told apart (missing, symlink loop, permission, disk full), and a
reconnect between two calls."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from rtui.core.config.model import Config, Host
from rtui.core.errors import (
    AlreadyExistsError,
    DiskFullError,
    FilesError,
    LinkLoopError,
    RemoteNotFoundError,
    RemotePermissionError,
    WrongKindError,
)
from rtui.core.files.diagnose import local_error
from rtui.core.files.model import Entry
from rtui.core.files.paths import printable
from rtui.core.files.service import HostFiles
from rtui.core.kernels.service import HostKernels
from rtui.core.workspace import Workspace
from tests.harness.accounts import Account
from tests.harness.sshd import SSHD
from tests.ssh_helpers import ScriptedPerson, connection, host_for, trust

ODD = ["a b\nc é漢.txt", os.fsdecode(b"bad-\xff.bin"), " lead and trail ", "-dash"]


@pytest.fixture
def place(sshd: SSHD) -> Iterator[Path]:
    """A folder of this test's own in the session sshd's remote home (the host's files are
    this machine's, so the test looks at them directly)."""
    path = sshd.remote_home / f"files-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest_asyncio.fixture
async def files(sshd: SSHD, isolated_home: Path) -> AsyncIterator[HostFiles]:
    """The files service of a host on the session's sshd, as the Workspace gives it."""
    trust(sshd, isolated_home)
    workspace = Workspace(None, config=Config(hosts=(host_for(sshd, "t", python=sys.executable),)))
    try:
        service = await workspace.files("t")
        assert service is await workspace.files("t")  # one per host
        assert service.agent is (await workspace.kernels("t")).agent  # no second agent
        yield service
    finally:
        await workspace.close()


async def listing(files: HostFiles, path: str | Path, batch: int = 1000) -> dict[str, Entry]:
    return {e.name: e async for rows in files.list(str(path), batch=batch) for e in rows}


async def test_look_list_and_odd_names(files: HostFiles, place: Path, sshd: SSHD) -> None:
    for name in ODD:
        (place / name).write_bytes(name.encode("utf-8", "surrogateescape"))
    (place / "sub").mkdir()
    (place / ".hidden").write_text("h")
    (place / "to-sub").symlink_to("sub")
    (place / "dangling").symlink_to("nowhere")
    (place / "loop").symlink_to("loop")
    (place / "ping").symlink_to("pong")
    (place / "pong").symlink_to("ping")

    assert await files.home() == str(sshd.remote_home)
    assert await files.absolute("~/x") == await files.absolute("x") == f"{sshd.remote_home}/x"
    assert await files.resolve(f"{place.name}/sub/..") == str(place)

    entries = await listing(files, f"~/{place.name}")
    assert set(entries) == {*ODD, "sub", ".hidden", "to-sub", "dangling", "loop", "ping",
                            "pong"}
    bad = entries[os.fsdecode(b"bad-\xff.bin")]
    assert (bad.kind, bad.size) == ("file", len(b"bad-\xff.bin"))
    assert entries["sub"].kind == "dir" and entries[".hidden"].hidden
    assert (entries["to-sub"].kind, entries["to-sub"].target,
            entries["to-sub"].target_kind) == ("link", "sub", "dir")
    assert entries["to-sub"].is_dir
    for name in ("dangling", "loop", "ping"):
        assert entries[name].kind == "link" and entries[name].target_kind is None

    odd = await files.stat(str(place / ODD[0]))
    assert (odd.name, odd.kind, odd.size) == (ODD[0], "file", len(ODD[0].encode()))
    assert (await files.stat(str(place / "to-sub"))).kind == "dir"
    link = await files.lstat(str(place / "to-sub"))
    assert (link.kind, link.target, link.target_kind) == ("link", "sub", "dir")
    assert await files.exists(str(place / "dangling"))
    assert not await files.exists(str(place / "missing"))

    for name in ("loop", "ping"):
        with pytest.raises(LinkLoopError) as loop:
            await files.stat(str(place / name))
        assert str(loop.value) == f"t:{place / name}: symlink loop"
    with pytest.raises(RemoteNotFoundError) as dangling:
        await files.read_range(str(place / "dangling"), 0, 10)
    assert "symlink to a missing target" in str(dangling.value)
    with pytest.raises(RemoteNotFoundError) as missing:
        await files.stat(str(place / "missing\nname"))
    assert str(missing.value) == f"t:{place}/missing\\nname: no such file or directory"
    with pytest.raises(RemoteNotFoundError):
        await listing(files, place / "missing")
    with pytest.raises(WrongKindError, match="not a directory"):
        await listing(files, place / ODD[1])
    with pytest.raises(LinkLoopError):
        await listing(files, place / "loop")
    with pytest.raises(LinkLoopError) as on_the_way:
        await files.write_small(str(place / "ping" / "x"), b"x")
    assert str(on_the_way.value) == f"t:{place}/ping/x: symlink loop at {place}/ping"
    with pytest.raises(RemoteNotFoundError, match=r"symlink at .*/dangling to a missing target"):
        await files.stat(str(place / "dangling" / "x"))
    with pytest.raises(WrongKindError, match=r"/x: .*/-dash is not a directory$"):
        await files.read_range(str(place / "-dash" / "x"), 0, 1)


async def test_a_listing_comes_in_batches(files: HostFiles, place: Path) -> None:
    for i in range(250):
        (place / f"f{i:03}").touch()
    sizes = [len(rows) async for rows in files.list(str(place), batch=120)]
    assert sum(sizes) == 250
    assert sizes[0] <= 100 and max(sizes) <= 120  # the first batch small, to draw at once
    async with contextlib.aclosing(files.list(str(place), batch=10)) as batches:
        async for _ in batches:
            break  # a reader that stops: the listing is cancelled on the host
    assert (await files.stat(str(place / "f000"))).kind == "file"


async def test_mkdir_rename_and_remove(files: HostFiles, place: Path) -> None:
    deep = place / "a" / "b c" / ODD[1]
    await files.mkdir(str(deep), parents=True)
    assert deep.is_dir()
    await files.mkdir(str(deep), parents=True)  # there already: fine with parents
    with pytest.raises(AlreadyExistsError, match=r"already exists$"):
        await files.mkdir(str(deep))
    (place / "file").write_text("old")
    with pytest.raises(WrongKindError, match=r"/file/x: .*/file is not a directory$"):
        await files.mkdir(str(place / "file" / "x"), parents=True)
    with pytest.raises(RemoteNotFoundError, match=r"/nope: no such directory"):
        await files.mkdir(str(place / "nope" / "x"))

    (place / "new").write_text("new")
    with pytest.raises(AlreadyExistsError) as exists:
        await files.rename(str(place / "new"), str(place / "file"))
    assert str(exists.value) == f"t:{place}/file: already exists"
    assert (place / "file").read_text() == "old" and (place / "new").read_text() == "new"
    await files.rename(str(place / "new"), str(place / "file"), overwrite=True)
    assert (place / "file").read_text() == "new" and not (place / "new").exists()
    await files.rename(str(place / "file"), str(place / "a"))  # into a folder: mv's habit
    assert (place / "a" / "file").read_text() == "new"
    await files.rename(str(place / "a" / "file"), str(place / ODD[0]))
    assert (place / ODD[0]).read_text() == "new"
    with pytest.raises(RemoteNotFoundError):
        await files.rename(str(place / "gone"), str(place / "elsewhere"))
    with pytest.raises(FilesError, match=r"/a: cannot move it into itself \(.*/a/b c/a\)"):
        await files.rename(str(place / "a"), str(place / "a" / "b c"))
    await files.rename(str(place / "a"), str(place / "a"))  # already there: nothing to do
    assert (place / "a" / "b c").is_dir()
    # a missing or wrong target folder is named, not the source (which is there)
    with pytest.raises(RemoteNotFoundError) as no_folder:
        await files.rename(str(place / ODD[0]), str(place / "nope" / "x"))
    assert str(no_folder.value) == f"t:{place}/nope: no such directory"
    with pytest.raises(WrongKindError) as not_dir:
        await files.rename(str(place / ODD[0]), str(place / ODD[0] / "x"))
    assert str(not_dir.value).endswith(f"{printable(str(place / ODD[0]))} is not a directory")
    assert (place / ODD[0]).read_text() == "new"

    with pytest.raises(FilesError, match="/a: directory not empty"):
        await files.remove([str(place / "a")])
    (place / "empty").mkdir()
    (place / "link").symlink_to(place / "a")
    await files.remove([str(place / "empty"), str(place / "link"), str(place / ODD[0])])
    assert sorted(p.name for p in place.iterdir()) == ["a"]  # the link's target stays
    with pytest.raises(RemoteNotFoundError):
        await files.remove([str(place / "gone")])
    (place / "f1").write_text("1")
    (place / "f2").write_text("2")
    with pytest.raises(FilesError) as partly:  # each path tried; every failure named
        await files.remove([str(place / "gone"), str(place / "f1"), str(place / "a"),
                            str(place / "f2")])
    assert str(partly.value).splitlines() == [
        f"t:{place}/gone: no such file or directory", f"t:{place}/a: directory not empty"]
    assert sorted(p.name for p in place.iterdir()) == ["a"]
    await files.remove([str(place / "gone"), str(place / "a")], recursive=True,
                       missing_ok=True)
    assert list(place.iterdir()) == []


async def test_a_move_to_another_file_system(files: HostFiles, place: Path) -> None:
    """rename(2) cannot cross file systems (SFTP says only "Failure"): the folder is copied
    there on the host, then removed here, as mv does."""
    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == place.stat().st_dev:
        pytest.skip("no second file system (/dev/shm) here")
    (place / "tree" / "sub").mkdir(parents=True)
    (place / "tree" / "sub" / ODD[1]).write_bytes(b"data")
    there = other / f"rtui-move-{uuid.uuid4().hex[:8]}"
    there.mkdir()
    try:
        await files.rename(str(place / "tree"), str(there))
        assert (there / "tree" / "sub" / ODD[1]).read_bytes() == b"data"
        assert list(place.iterdir()) == []
        (place / "back").write_text("old")
        with pytest.raises(AlreadyExistsError, match="/back: already exists"):
            (there / "back").write_text("new")
            await files.rename(str(there / "back"), str(place / "back"))
        await files.rename(str(there / "back"), str(place / "back"), overwrite=True)
        assert (place / "back").read_text() == "new" and not (there / "back").exists()
    finally:
        shutil.rmtree(there, ignore_errors=True)


async def test_read_and_write(files: HostFiles, place: Path) -> None:
    data = os.urandom(600 * 1024 + 7)
    target = place / ODD[0]
    await files.write_small(str(target), data)
    assert target.read_bytes() == data
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert await files.read_range(str(target), 1000, 5000) == data[1000:6000]
    assert await files.read_range(str(target), len(data) - 3, 100) == data[-3:]
    chunks = [c async for c in files.read_chunks(str(target), chunk=256 * 1024)]
    assert b"".join(chunks) == data and max(map(len, chunks)) <= 256 * 1024

    target.chmod(0o600)
    (place / "via-link").symlink_to(target.name)
    await files.write_small(str(place / "via-link"), b"edited")  # the file behind the link
    assert target.read_bytes() == b"edited" and (place / "via-link").is_symlink()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # kept its mode
    assert sorted(p.name for p in place.iterdir()) == sorted([ODD[0], "via-link"])  # no part

    with pytest.raises(WrongKindError, match="is a directory"):
        await files.read_range(str(place), 0, 10)
    os.mkfifo(place / "fifo")  # no writer: sftp-server's open() would never return
    with pytest.raises(WrongKindError, match=r"/fifo: not a regular file \(a FIFO\)$"):
        await files.read_range(str(place / "fifo"), 0, 10)
    with pytest.raises(WrongKindError, match="a FIFO"):
        await anext(files.read_chunks(str(place / "fifo")))
    (place / "fifo").unlink()
    with pytest.raises(WrongKindError, match="is a directory"):
        await files.write_small(str(place), b"x")
    with pytest.raises(RemoteNotFoundError, match="no such file"):
        await files.read_range(str(place / "missing"), 0, 10)
    with pytest.raises(RemoteNotFoundError, match="/missing: no such directory"):
        await files.write_small(str(place / "missing" / "x"), b"x")
    with pytest.raises(WrongKindError, match=r"\\nc é漢.txt is not a directory$"):
        await files.write_small(str(target / "x"), b"x")
    free = await files.free_space(str(place / "not-yet"))
    assert free is not None and free > 0


async def test_copy_remove_du_and_checksum_on_the_host(files: HostFiles, place: Path) -> None:
    """What SFTP has no request for, done by the host's agent."""
    tree = place / "tree"
    (tree / "sub").mkdir(parents=True)
    data = os.urandom(3 * 1024 * 1024 + 5)
    (tree / ODD[1]).write_bytes(data)
    (tree / "sub" / ODD[0]).write_text("x" * 5000)
    (tree / "link").symlink_to("sub")

    fractions: list[float] = []
    await files.copy([str(tree)], str(place / "copy"), on_progress=fractions.append)
    assert (place / "copy" / ODD[1]).read_bytes() == data
    assert (place / "copy" / "link").readlink() == Path("sub")  # a link stays a link
    assert fractions and fractions[-1] == 1.0 and fractions == sorted(fractions)
    (place / "into").mkdir()
    await files.copy([str(tree / ODD[1]), str(tree / "sub")], str(place / "into"))
    assert sorted(p.name for p in (place / "into").iterdir()) == sorted([ODD[1], "sub"])
    with pytest.raises(AlreadyExistsError) as exists:
        await files.copy([str(tree / ODD[1])], str(place / "into"))
    assert str(exists.value) == f"t:{place}/into/bad-\\xff.bin: already exists"
    with pytest.raises(FilesError, match="into itself"):
        await files.copy([str(tree)], str(tree / "sub"))
    with pytest.raises(RemoteNotFoundError, match="/gone: no such file"):
        await files.copy([str(place / "gone")], str(place / "into"))

    usage = await files.du([str(tree), str(place / "into")])
    assert (usage.files, usage.dirs, usage.complete) == (5, 4, True)
    assert usage.bytes >= 2 * len(data)
    expected = hashlib.sha256(data).hexdigest()
    assert await files.checksum(str(tree / ODD[1])) == expected
    with pytest.raises(WrongKindError, match="is a directory"):
        await files.checksum(str(tree))
    os.mkfifo(tree / "sub" / "fifo")  # no writer: an open() would wait for good
    with pytest.raises(WrongKindError) as fifo:
        await files.checksum(str(tree / "sub" / "fifo"))
    assert str(fifo.value) == f"t:{tree}/sub/fifo: not a regular file (a FIFO)"
    assert await files.copy([str(tree / "sub")], str(place / "sub-copy")) == [
        str(tree / "sub" / "fifo")]  # left out of a folder, and said
    assert sorted(p.name for p in (place / "sub-copy").iterdir()) == [ODD[0]]
    shutil.rmtree(place / "sub-copy")

    await files.remove([str(tree), str(place / "copy"), str(place / "gone")], recursive=True,
                       missing_ok=True)
    assert sorted(p.name for p in place.iterdir()) == ["into"]
    with pytest.raises(RemoteNotFoundError, match="/gone: no such file"):
        await files.remove([str(place / "gone")], recursive=True)


async def test_without_the_agent_sftp_stands_in(
    sshd: SSHD, isolated_home: Path, files: HostFiles, place: Path,
) -> None:
    """A host where the agent cannot run (no such Python): the listing, ``du`` and ``rm -r``
    come by SFTP, alike; what only the agent can do says why it cannot."""
    for name in ODD:
        (place / name).write_text(name[:1])
    (place / "sub" / "deeper").mkdir(parents=True)
    (place / "sub" / "deeper" / "f").write_text("f")
    (place / "to-sub").symlink_to("sub")
    (place / "loop").symlink_to("loop")
    conn, _ = connection(host_for(sshd))
    kernels = HostKernels(conn, python="/nonexistent/python3")
    plain = HostFiles(conn, kernels.agent)
    try:
        by_agent = await listing(files, place)
        whole_seconds = {n: dataclasses.replace(e, mtime=float(int(e.mtime)))  # SFTP v3's
                         for n, e in by_agent.items()}
        assert await listing(plain, place) == whole_seconds
        (place / "big").write_bytes(data := os.urandom(3 * 1024 * 1024 + 1))
        fractions: list[float] = []
        assert await plain.checksum(str(place / "big"), on_progress=fractions.append) == (
            hashlib.sha256(data).hexdigest())  # read here by SFTP
        assert fractions[-1] == 1.0 and fractions == sorted(fractions)
        (place / "big").unlink()
        with pytest.raises(FilesError, match="needs rtui's agent, which cannot run on t: "
                                             "no Python found"):
            await plain.copy([str(place / ODD[0])], str(place / "copy"))
        usage, by_agent_usage = await plain.du([str(place)]), await files.du([str(place)])
        assert (usage.files, usage.dirs, usage.complete) == (7, 3, True)
        assert (by_agent_usage.files, by_agent_usage.dirs) == (7, 3)
        assert usage.bytes == sum(len(name[:1].encode()) for name in ODD) + 1
        await plain.remove([str(place / "sub"), str(place / "to-sub")], recursive=True)
        assert sorted(p.name for p in place.iterdir()) == sorted([*ODD, "loop"])
    finally:
        await plain.close()
        await kernels.close()
        await conn.close()


async def test_permission_denied_as_a_plain_account(
    password_sshd: SSHD, password_account: Account, isolated_home: Path,
) -> None:
    """As the non-root ``rtuitest``, a root-owned folder can be read but not written, and a
    root-only one not listed; each failure says "permission denied" and leaves nothing."""
    trust(password_sshd, isolated_home)
    host = Host("pw", hostname="127.0.0.1", port=password_sshd.port,
                user=password_account.name)
    person = ScriptedPerson(secrets={"password": password_account.password})
    conn, _ = connection(host, person=person)
    kernels = HostKernels(conn)
    files = HostFiles(conn, kernels.agent)
    root_dir = password_account.home / f"root-{uuid.uuid4().hex[:8]}"
    closed = root_dir / "closed"
    closed.mkdir(parents=True)
    (root_dir / "readme").write_text("root's")
    root_dir.chmod(0o755)
    closed.chmod(0o700)
    mine = password_account.home / f"mine-{uuid.uuid4().hex[:8]}"
    (mine / "roots").mkdir(parents=True)
    (mine / "roots" / "f").write_text("root's")
    (mine / "ok").write_text("mine")
    os.chown(mine, password_account.uid, password_account.gid)
    os.chown(mine / "ok", password_account.uid, password_account.gid)
    try:
        assert await files.read_range(str(root_dir / "readme"), 0, 100) == b"root's"
        with pytest.raises(RemotePermissionError) as denied:
            await files.write_small(str(root_dir / "readme"), b"mine")
        assert str(denied.value) == f"pw:{root_dir}/readme: permission denied"
        with pytest.raises(RemotePermissionError):
            await files.mkdir(str(root_dir / "sub"))
        with pytest.raises(RemotePermissionError, match="closed: permission denied"):
            await listing(files, closed)
        with pytest.raises(RemotePermissionError):
            await files.remove([str(root_dir / "readme")])
        assert sorted(p.name for p in root_dir.iterdir()) == ["closed", "readme"]
        assert (root_dir / "readme").read_text() == "root's"
        with pytest.raises(RemotePermissionError) as partly:  # the rest goes
            await files.remove([str(mine)], recursive=True)
        assert str(partly.value) == f"pw:{mine}/roots/f: permission denied"
        assert [p.name for p in mine.iterdir()] == ["roots"]
    finally:
        await files.close()
        await kernels.close()
        await conn.close()
        shutil.rmtree(root_dir, ignore_errors=True)
        shutil.rmtree(mine, ignore_errors=True)


@pytest.fixture
def small_disk(place: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted in the test's folder (skipped where mount is not allowed)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = place / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, timeout=30, check=False)


async def test_disk_full(files: HostFiles, small_disk: Path) -> None:
    (small_disk / "old").write_bytes(b"kept")
    with pytest.raises(DiskFullError) as full:
        await files.write_small(str(small_disk / "old"), os.urandom(2 * 1024 * 1024))
    assert str(full.value).startswith(f"t:{small_disk}/old: disk full (")
    assert f"free on {small_disk})" in str(full.value)
    assert (small_disk / "old").read_bytes() == b"kept"  # untouched, and no part left
    assert [p.name for p in small_disk.iterdir()] == ["old"]
    with pytest.raises(OSError):  # the rest filled up, then a new file that cannot fit
        (small_disk / "filler").write_bytes(b"x" * (1024 * 1024))
    with pytest.raises(DiskFullError, match=r"/new: disk full \(0 B free"):
        await files.write_small(str(small_disk / "new"), b"y" * 100_000)
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "old"]
    (small_disk / "filler").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True, timeout=30)
    with pytest.raises(RemotePermissionError, match=r"/new: read-only file system$"):
        await files.write_small(str(small_disk / "new"), b"y")


def test_this_machines_errors_name_the_path_and_here() -> None:
    full = local_error(OSError(errno.ENOSPC, "No space left on device"), "/tmp/a\nb")
    assert isinstance(full, DiskFullError) and str(full) == "/tmp/a\\nb (here): disk full"
    loop = local_error(OSError(errno.ELOOP, "Too many levels of symbolic links"), "/l")
    assert isinstance(loop, LinkLoopError) and str(loop) == "/l (here): symlink loop"
    odd = local_error(OSError(errno.EIO, "Input/output error"), "/x")
    assert type(odd) is FilesError and str(odd) == "/x (here): input/output error"


async def test_a_reconnect_between_two_calls(fresh_sshd: SSHD, isolated_home: Path) -> None:
    """The SFTP client dies with its connection; the next call starts another on the new
    connection, and nothing of the break shows."""
    trust(fresh_sshd, isolated_home)
    conn, _ = connection(host_for(fresh_sshd, python=sys.executable))
    kernels = HostKernels(conn, python=sys.executable)
    files = HostFiles(conn, kernels.agent)
    (fresh_sshd.remote_home / "f").write_text("before")
    try:
        assert (await files.stat("f")).size == len("before")
        first = await files.sftp()
        fresh_sshd.restart()  # drops the connection
        (fresh_sshd.remote_home / "f").write_text("after the break")
        assert await files.read_range("f", 0, 100) == b"after the break"
        assert await files.sftp() is not first and conn.generation == 2
        assert "f" in await listing(files, "~")
    finally:
        await files.close()
        await kernels.close()
        await conn.close()
