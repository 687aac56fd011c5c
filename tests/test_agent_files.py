"""The agent's file operations (``fs_*``), its ``rows`` events and ``cancel``: run as it ships
(the zipapp, as a subprocess speaking JSON lines), then through AgentClient over the real sshd.

One agent serves the module's direct tests (each works in a directory of its own); the
unreadable-directory case runs another as the harness's non-root account (root reads any
directory)."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rtui.core.remote.bundle import agent_bundle
from rtui.core.remote.client import AgentClient, AgentError, Progress
from tests.harness.accounts import Account
from tests.harness.sshd import SSHD
from tests.ssh_helpers import connection, host_for, trust
from tests.test_agent import Agent, agent_env, kill_mentioning

ODD_NAMES = ["a b", "new\nline", "é漢.txt", os.fsdecode(b"bad-\xff.bin"), " lead", "x" * 200]
BIG = 10_000


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("agentfs")
    (path / "home").mkdir()
    yield path
    kill_mentioning(str(path))


@pytest.fixture(scope="module")
def agent(base: Path) -> Iterator[Agent]:
    bundle = base / agent_bundle().name
    bundle.write_bytes(agent_bundle().data)
    started = Agent(agent_env(base / "home"), bundle)
    started._wait(lambda: started.ready is not None, 30)
    yield started
    started.close()


@pytest.fixture
def work(base: Path, request: pytest.FixtureRequest) -> Path:
    """A directory of the test's own under the agent's home."""
    path: Path = base / "home" / request.node.name[:60]
    path.mkdir()
    return path


def begin(agent: Agent, op: str, **args: Any) -> int:
    """Send a request without waiting for it; its id."""
    with agent.cond:
        agent.next_id += 1
        rid = agent.next_id
    agent.send_raw(json.dumps({"id": rid, "op": op, "args": args}).encode())
    return rid


def finish(agent: Agent, rid: int, timeout: float = 30) -> dict[str, Any]:
    agent._wait(lambda: rid in agent.replies, timeout)
    reply = agent.replies.pop(rid)
    reply["events"] = agent.events.pop(rid, [])
    return reply


def rows_of(reply: dict[str, Any]) -> list[list[Any]]:
    return [e["data"] for e in reply["events"] if e["event"] == "rows"]


def listing(agent: Agent, path: str, **args: Any) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    reply = agent.call("fs_list", path=path, **args)
    assert reply["ok"], reply
    by_name = {row[0]: row for batch in rows_of(reply) for row in batch}
    return reply["result"], by_name


# ---------------------------------------------------------------------------- fs_list


def test_fs_list_odd_names_links_and_errors(agent: Agent, work: Path) -> None:
    """Every name round-trips (a \\xff byte as a lone surrogate); links say what they say
    and what they lead to, None for a dangling one and for a loop."""
    for name in ODD_NAMES:
        (work / name).write_bytes(name.encode("utf-8", "surrogateescape"))
    (work / "sub").mkdir()
    (work / "to-file").symlink_to("a b")
    (work / "to-dir").symlink_to("sub")
    (work / "dangling").symlink_to("no-such")
    (work / "loop1").symlink_to("loop2")
    (work / "loop2").symlink_to("loop1")

    result, rows = listing(agent, str(work))
    assert result == {"path": str(work.resolve()), "count": len(ODD_NAMES) + 6}
    assert set(rows) == {*ODD_NAMES, "sub", "to-file", "to-dir", "dangling", "loop1", "loop2"}
    assert os.fsencode(rows[os.fsdecode(b"bad-\xff.bin")][0]) == b"bad-\xff.bin"
    name, kind, size, mtime, mode, target, target_kind = rows["new\nline"]
    st = os.lstat(work / "new\nline")
    assert (kind, size, mtime, mode, target, target_kind) == (
        "file", st.st_size, st.st_mtime, st.st_mode, None, None)
    assert rows["sub"][1:2] == ["dir"] and stat.S_ISDIR(rows["sub"][4])
    assert rows["to-file"][1:] == ["link", 3, os.lstat(work / "to-file").st_mtime,
                                   os.lstat(work / "to-file").st_mode, "a b", "file"]
    assert rows["to-dir"][5:] == ["sub", "dir"]
    assert rows["dangling"][5:] == ["no-such", None]
    assert rows["loop1"][5:] == ["loop2", None]

    # "~" and relative paths are from the home directory
    relative = str(work.relative_to(work.parent))
    assert listing(agent, relative)[0]["path"] == str(work.resolve())
    assert listing(agent, "~/" + relative)[1].keys() == rows.keys()

    for path, kind in ((work / "missing", "not_found"), (work / "a b", "not_a_directory"),
                       (work / "loop1", "link_loop")):
        error = agent.error("fs_list", path=str(path))
        assert error.type == kind and str(path) in error.message, error


def test_fs_list_streams_a_big_directory(agent: Agent, work: Path) -> None:
    """10,000 names: a first small batch (a screen's worth, sent before the rest is read),
    then batches of the asked size, every name once."""
    for i in range(BIG):
        (work / f"f{i:05}").touch()
    reply = agent.call("fs_list", path=str(work), batch=1000)
    assert reply["ok"], reply
    assert reply["events"][-1]["event"] == "rows"  # the reply came after every row
    batches = rows_of(reply)
    assert len(batches[0]) <= 100 < BIG
    assert all(len(b) <= 1000 for b in batches) and len(batches) >= BIG // 1000
    names = [row[0] for b in batches for row in b]
    assert len(names) == BIG == reply["result"]["count"]
    assert set(names) == {f"f{i:05}" for i in range(BIG)}


# ---------------------------------------------------------------------------- fs_walk


def test_fs_walk_is_top_down_and_never_follows_links(agent: Agent, work: Path) -> None:
    (work / "d" / "e").mkdir(parents=True)
    (work / "d" / "e" / "f.bin").write_bytes(b"x" * 5000)
    (work / "d" / "g").write_bytes(b"y" * 10)
    (work / "d" / "empty").mkdir()
    (work / "d" / "up").symlink_to("..")  # a loop if it were followed
    (work / "d" / "me").symlink_to("me")
    (work / "d" / os.fsdecode(b"n\xff\nl")).write_bytes(b"")

    reply = agent.call("fs_walk", path=str(work / "d"))
    assert reply["ok"], reply
    rows = [row for batch in rows_of(reply) for row in batch]
    paths = [row[0] for row in rows]
    assert sorted(paths) == sorted(["e", "e/f.bin", "g", "empty", "up", "me",
                                    os.fsdecode(b"n\xff\nl")])
    assert paths.index("e") < paths.index("e/f.bin")
    by_path = {row[0]: row for row in rows}
    assert by_path["up"][1] == "link" and by_path["up"][5] == ".."
    assert by_path["e/f.bin"][1:3] == ["file", 5000]
    assert reply["result"] == {"files": 5, "dirs": 2, "bytes": 5010, "errors": []}
    assert agent.error("fs_walk", path=str(work / "d" / "g")).type == "not_a_directory"
    assert agent.error("fs_walk", path=str(work / "nope")).type == "not_found"


# ---------------------------------------------------------------------------- fs_copy


def test_fs_copy_files_and_trees_on_the_host(agent: Agent, work: Path) -> None:
    src = work / "src"
    (src / "in").mkdir(parents=True)
    (src / "in" / "a b.txt").write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    (src / "link").symlink_to("in/a b.txt")
    (src / "dangling").symlink_to("nowhere")
    os.utime(src / "in" / "a b.txt", (1_000_000_000, 1_000_000_000))
    dest = work / "dest"
    dest.mkdir()

    reply = agent.call("fs_copy", sources=[str(src)], dest=str(dest))  # into a directory
    assert reply["ok"] and reply["result"] == {"copied": 1}, reply
    copied = dest / "src" / "in" / "a b.txt"
    assert copied.read_bytes() == (src / "in" / "a b.txt").read_bytes()
    assert copied.stat().st_mtime == 1_000_000_000
    assert os.readlink(dest / "src" / "link") == "in/a b.txt"
    assert os.readlink(dest / "src" / "dangling") == "nowhere"
    fractions = [e["data"]["fraction"] for e in reply["events"] if e["event"] == "progress"]
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)

    # to a new name; then onto it again: refused, unless overwrite
    single = agent.request("fs_copy", sources=[str(src / "in" / "a b.txt")],
                           dest=str(work / "one"))
    assert single == {"copied": 1} and (work / "one").stat().st_size == 3 * 1024 * 1024 + 7
    assert agent.error("fs_copy", sources=[str(src)], dest=str(dest)).type == "exists"
    (src / "new").write_text("n")
    agent.request("fs_copy", sources=[str(src)], dest=str(dest), overwrite=True)
    assert (dest / "src" / "new").read_text() == "n"
    agent.request("fs_copy", sources=[str(src / "link")], dest=str(work / "link2"))
    assert os.readlink(work / "link2") == "in/a b.txt"  # a link is copied as a link

    # a directory into itself, or under itself, is refused, and nothing is left behind
    for into in (src, src / "in"):
        error = agent.error("fs_copy", sources=[str(src)], dest=str(into))
        assert error.type == "invalid" and "into itself" in error.message, error
    error = agent.error("fs_copy", sources=[str(src), str(work / "one")],
                        dest=str(work / "not-a-dir"))
    assert error.type == "not_a_directory"
    assert agent.error("fs_copy", sources=[str(work / "gone")], dest=str(dest)).type \
        == "not_found"
    leftovers = [p for p in work.rglob("*") if ".rtui-" in p.name]
    assert leftovers == []


# ---------------------------------------------------------------------------- fs_remove


def test_fs_remove(agent: Agent, work: Path) -> None:
    """Recursive delete never follows a link; missing paths and directories without
    ``recursive`` are reported by path."""
    keep = work / "keep"
    keep.mkdir()
    (keep / "precious").write_text("p")
    tree = work / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "new\nline").write_text("x")
    (tree / "to-keep").symlink_to(keep)
    (tree / "loop").symlink_to("loop")
    (work / "file").write_text("f")
    (work / "dir-link").symlink_to(keep)
    (work / "empty").mkdir()

    result = agent.request("fs_remove", paths=[str(tree), str(work / "file"),
                                               str(work / "dir-link")], recursive=True)
    assert result == {"removed": 3, "failed": []}
    assert not tree.exists() and not (work / "file").exists()
    assert (keep / "precious").read_text() == "p"  # behind two links, untouched

    result = agent.request("fs_remove", paths=[str(work / "empty"), str(work / "gone")])
    assert result["removed"] == 0 and (work / "empty").is_dir()
    (empty, why_dir), (gone, why_gone) = result["failed"]
    assert (empty, gone) == (str(work / "empty"), str(work / "gone"))
    assert "Is a directory" in why_dir and "No such file" in why_gone
    result = agent.request("fs_remove", paths=[str(work / "gone")], missing_ok=True)
    assert result == {"removed": 0, "failed": []}


@pytest.fixture
def unprivileged_agent(password_account: Account) -> Iterator[tuple[Agent, Path]]:
    """An agent run as the non-root account (its Python: the system's, which it can reach),
    and a home of its own."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    if os.geteuid() != 0 or python is None:
        pytest.skip("needs root (to run as another account) and a system python3")
    top = Path(tempfile.mkdtemp(prefix="rtui-agentfs-"))
    try:
        top.chmod(0o755)
        bundle = top / agent_bundle().name
        bundle.write_bytes(agent_bundle().data)
        bundle.chmod(0o644)
        wrapper = top / "python-as-account"
        wrapper.write_text(f'#!/bin/sh\nexec setpriv --reuid={password_account.uid} '
                           f'--regid={password_account.gid} --clear-groups {python} "$@"\n')
        wrapper.chmod(0o755)
        home = top / "home"
        home.mkdir()
        os.chown(home, password_account.uid, password_account.gid)
        started = Agent(agent_env(home), bundle, str(wrapper))
        try:
            started._wait(lambda: started.ready is not None, 30)
            yield started, home
        finally:
            started.close()
    finally:
        for path in top.rglob("*"):  # give back what the account made unreadable
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(top, ignore_errors=True)


def test_fs_remove_reports_an_unreadable_directory(
        unprivileged_agent: tuple[Agent, Path]) -> None:
    """As a non-root account: what can go goes, the unreadable directory is named (by the
    agent's own words), and its parents stay without a failure of their own."""
    agent, home = unprivileged_agent
    tree = home / "tree"
    for rel in ("a/locked/inner", "a/open", "b"):
        (tree / rel).mkdir(parents=True)
    for rel in ("a/locked/inner/f", "a/open/f", "b/f", "top"):
        (tree / rel).write_text("x")
    for path in [tree, *tree.rglob("*")]:
        os.chown(path, home.stat().st_uid, home.stat().st_gid)  # the account's
    (tree / "a" / "locked").chmod(0)

    result = agent.request("fs_remove", paths=[str(tree)], recursive=True)
    locked = str(tree / "a" / "locked")
    assert result["removed"] == 0
    assert len(result["failed"]) == 1, result
    assert result["failed"][0][0] == locked and "Permission denied" in result["failed"][0][1]
    assert sorted(p.name for p in tree.iterdir()) == ["a"]  # b and top went
    assert sorted(p.name for p in (tree / "a").iterdir()) == ["locked"]
    du = agent.request("fs_du", paths=[str(tree)])
    assert du["dirs"] == 3 and du["complete"] is True  # tree, a, locked: what it could see


# ---------------------------------------------------------------------------- fs_du


def test_fs_du_counts_blocks_once_and_stops_at_its_time_limit(
        agent: Agent, work: Path) -> None:
    (work / "d" / "e").mkdir(parents=True)
    data = os.urandom(100_000)
    (work / "d" / "f").write_bytes(data)
    os.link(work / "d" / "f", work / "d" / "e" / "hard")  # the same blocks, counted once
    (work / "d" / "link").symlink_to("/")  # not followed
    (work / "g").write_bytes(data)
    du = agent.request("fs_du", paths=[str(work / "d"), str(work / "g")])
    blocks = sum(os.lstat(p).st_blocks * 512 for p in
                 (work / "d", work / "d" / "e", work / "d" / "f", work / "d" / "link",
                  work / "g"))
    assert du == {"files": 4, "dirs": 2, "bytes": blocks, "complete": True}

    for i in range(300):
        (work / "d" / "e" / f"n{i}").touch()
    cut = agent.request("fs_du", paths=[str(work / "d")], time_limit=1e-9)
    assert cut["complete"] is False and cut["files"] < 300
    assert agent.error("fs_du", paths=[str(work / "nope")]).type == "not_found"


# ---------------------------------------------------------------------------- fs_checksum


def test_fs_checksum_matches_hashlib(agent: Agent, work: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 123)
    path = work / "é data"
    path.write_bytes(data)
    assert agent.request("fs_checksum", path=str(path)) == {
        "hex": hashlib.sha256(data).hexdigest(), "size": len(data)}
    part = agent.request("fs_checksum", path=str(path), algo="md5", offset=1000,
                         length=1_500_000)
    assert part == {"hex": hashlib.md5(data[1000:1_501_000]).hexdigest(), "size": 1_500_000}
    assert agent.request("fs_checksum", path=str(path), offset=len(data) - 5)["hex"] == \
        hashlib.sha256(data[-5:]).hexdigest()
    (work / "empty").touch()
    assert agent.request("fs_checksum", path=str(work / "empty"))["hex"] == \
        hashlib.sha256(b"").hexdigest()
    assert agent.error("fs_checksum", path=str(work)).type == "is_a_directory"
    assert agent.error("fs_checksum", path=str(work / "nope")).type == "not_found"
    assert agent.error("fs_checksum", path=str(path), algo="nope").type == "bad_args"


def sparse_terabyte(folder: Path) -> Path:
    """A regular file of 1 TiB of holes (nothing on disk; read as fast as /dev/zero, which
    is a device and so refused)."""
    path = folder / "terabyte"
    with open(path, "wb") as f:
        f.truncate(1 << 40)
    return path


def test_special_files_are_refused_unopened(agent: Agent, work: Path) -> None:
    """fs_checksum and fs_copy look at the type before they open: a FIFO with no writer
    (open() would block for good, where no cancel reaches), a socket or a device is refused
    by name; inside a copied folder it is left out and listed."""
    os.mkfifo(work / "fifo")
    (work / "to-fifo").symlink_to("fifo")
    for path, kind in ((work / "fifo", "a FIFO"), (work / "to-fifo", "a FIFO"),
                       (Path("/dev/null"), "a character device")):
        error = agent.error("fs_checksum", path=str(path))
        assert error.type == "not_a_file", error
        assert error.message == f"Not a regular file ({kind}): {path}"
        if not path.is_symlink():  # (a link is copied as a link)
            error = agent.error("fs_copy", sources=[str(path)], dest=str(work / "copy"))
            assert error.type == "not_a_file" and kind in error.message, error
    tree = work / "tree"
    tree.mkdir()
    (tree / "f").write_text("f")
    os.mkfifo(tree / "fifo")
    result = agent.request("fs_copy", sources=[str(tree)], dest=str(work / "copy"))
    assert result == {"copied": 1, "skipped": [str(tree / "fifo")]}
    assert sorted(p.name for p in (work / "copy").iterdir()) == ["f"]
    assert agent.ready is not None and agent.request("fs_home")  # nothing hangs


def test_a_folder_not_empty_is_said_so() -> None:
    """ENOTEMPTY has its own type (it is no "already exists"), said in words here."""
    from rtui.agent.files import error_of
    from rtui.core.files.diagnose import _agent_error
    from rtui.core.remote.client import AgentError as ClientAgentError

    typed = error_of(OSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY), "/x/d"))
    assert (typed.type, typed.message) == ("not_empty", "Directory not empty: /x/d")
    said = _agent_error("h", ClientAgentError(typed.message, typed.type), "/x")
    assert str(said) == "h:/x/d: directory not empty"


def test_cancel_stops_a_checksum_midway(agent: Agent, base: Path) -> None:
    """A checksum of a terabyte reports progress until ``cancel`` reaches it; it then
    answers ``cancelled``. A cancel for a request that is over changes nothing."""
    rid = begin(agent, "fs_checksum", path=str(sparse_terabyte(base)), length=1 << 40)
    agent._wait(lambda: any(e["event"] == "progress" for e in agent.events.get(rid, [])), 30)
    assert agent.request("cancel", target=rid) == {"running": True}
    reply = finish(agent, rid)
    assert reply["ok"] is False and reply["error"]["type"] == "cancelled", reply
    fraction = reply["events"][-1]["data"]["fraction"]
    assert 0 < fraction < 0.01
    assert agent.request("cancel", target=rid) == {"running": False}
    assert agent.ready is not None
    assert agent.request("fs_home") == {"home": agent.ready["home"]}


# ---------------------------------------------------------------------------- AgentClient


async def test_agent_client_streams_rows(sshd: SSHD, isolated_home: Path,
                                         tmp_path: Path) -> None:
    """Rows reach ``on_rows`` batch by batch before the result; a callback that fails fails
    its own request only."""
    trust(sshd, isolated_home)
    conn, _ = connection(host_for(sshd, python=sys.executable))
    agent = AgentClient(conn, python=sys.executable)
    big = tmp_path / "big"
    big.mkdir()
    for i in range(2000):
        (big / f"n{i}").touch()
    (big / "new\nline é").touch()
    batches: list[list[Any]] = []
    done_when_first: list[bool] = []

    def rows_came(rows: list[Any]) -> None:
        batches.append(rows)
        done_when_first.append(request.done())

    try:
        request = asyncio.ensure_future(agent.request(
            "fs_list", {"path": str(big), "batch": 500}, timeout=30, idle_timeout=True,
            on_rows=rows_came))
        result = await asyncio.wait_for(request, 60)
        assert result["count"] == 2001
        assert len(batches) >= 5 and len(batches[0]) <= 100 and not any(done_when_first)
        names = {row[0] for rows in batches for row in rows}
        assert len(names) == 2001 and "new\nline é" in names

        def refuse(rows: list[Any]) -> None:
            raise ValueError("the view is gone")

        with pytest.raises(ValueError, match="view is gone"):
            await asyncio.wait_for(agent.request("fs_list", {"path": str(big)},
                                                 on_rows=refuse), 60)
        assert (await agent.request("fs_home", timeout=30))["home"] == str(sshd.remote_home)
    finally:
        await agent.close()
        await conn.close()


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


async def test_agent_client_cancels_and_bounds_silence(
        sshd: SSHD, isolated_home: Path, tmp_path: Path) -> None:
    """A cancelled request is cancelled on the agent too (its thread ends); ``idle_timeout``
    lets a request run past ``timeout`` while it reports, and a plain timeout cancels."""
    trust(sshd, isolated_home)
    conn, _ = connection(host_for(sshd, python=sys.executable))
    agent = AgentClient(conn, python=sys.executable)
    try:
        hello = await asyncio.wait_for(agent.start(), 60)
        pid = int(hello["pid"])  # the sshd is on this machine: so is the agent
        idle = _threads(pid)
        progressed = asyncio.Event()

        def seen(_: Progress) -> None:
            progressed.set()

        terabyte = str(sparse_terabyte(tmp_path))
        task = asyncio.ensure_future(agent.request(
            "fs_checksum", {"path": terabyte, "length": 1 << 40}, timeout=600,
            on_progress=seen))
        await asyncio.wait_for(progressed.wait(), 30)
        assert _threads(pid) == idle + 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        deadline = time.monotonic() + 10
        while _threads(pid) > idle:
            assert time.monotonic() < deadline, "the agent still hashes after the cancel"
            await asyncio.sleep(0.02)

        # A checksum long enough for ~1.2 s at this machine's speed (a progress event
        # every 0.1 s): never 0.4 s without a word, but 0.4 s is far from the whole.
        began = time.monotonic()
        await agent.request("fs_checksum", {"path": terabyte, "length": 64 << 20},
                            timeout=60)
        length = (64 << 20) * max(1, round(1.2 / max(time.monotonic() - began, 1e-3)))
        for idle_timeout in (True, False):
            request = agent.request("fs_checksum", {"path": terabyte, "length": length},
                                    timeout=0.4, idle_timeout=idle_timeout)
            if idle_timeout:
                result = await asyncio.wait_for(request, 60)
                assert result == {"hex": _zeros_sha256(length), "size": length}
            else:
                with pytest.raises(AgentError) as late:
                    await asyncio.wait_for(request, 30)
                assert late.value.type == "timeout" and "0.4 s" in str(late.value)
        deadline = time.monotonic() + 10
        while _threads(pid) > idle:  # the timed-out one was cancelled on the agent too
            assert time.monotonic() < deadline, "a timed-out request still runs"
            await asyncio.sleep(0.02)
    finally:
        await agent.close()
        await conn.close()


def _zeros_sha256(length: int) -> str:
    digest, block = hashlib.sha256(), bytes(1 << 20)
    for _ in range(length >> 20):
        digest.update(block)
    digest.update(bytes(length & ((1 << 20) - 1)))
    return digest.hexdigest()
