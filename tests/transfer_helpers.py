"""Helpers for the transfer engine's tests: a workspace whose hosts ``a`` and ``b`` are the
session's sshd (two names, two connections: host to host goes through this machine),
files of random bytes, and their digests."""

from __future__ import annotations

import hashlib
import os
import random
import sys
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest_asyncio

from rtui.core.config.model import Config, Host
from rtui.core.files.parts import is_part_name
from rtui.core.files.progress import TransferProgress
from rtui.core.workspace import Workspace
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust


def workspace_of(*hosts: Host) -> Workspace:
    return Workspace(None, config=Config(hosts=hosts), prefetch=False, auto_reconnect=False)


@pytest_asyncio.fixture
async def workspace(sshd: SSHD, isolated_home: Path) -> AsyncIterator[Workspace]:
    """Hosts ``a`` and ``b`` on the session's sshd (whose files are this machine's)."""
    trust(sshd, isolated_home)
    ws = workspace_of(host_for(sshd, "a", python=sys.executable),
                      host_for(sshd, "b", python=sys.executable))
    try:
        yield ws
    finally:
        await ws.close()


def random_file(path: Path, size: int, seed: int = 0) -> str:
    """``size`` pseudo-random bytes at ``path`` (no block repeats another, so a block
    written at the wrong offset shows); their sha256."""
    digest = hashlib.sha256()
    rng = random.Random(seed)
    with path.open("wb") as out:
        left = size
        while left:
            chunk = rng.randbytes(min(left, 1 << 20))
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def parts_in(*folders: Path) -> list[str]:
    """Part files left anywhere under ``folders``."""
    found = []
    for folder in folders:
        for _, _, names in os.walk(folder):
            found += [n for n in names if is_part_name(n)]
    return found


def check_progress(events: Iterable[TransferProgress], total: int) -> None:
    """Monotonic, within the total, the last one at it."""
    seen = list(events)
    assert seen, "no progress reported"
    done = [e.done for e in seen]
    assert done == sorted(done), done
    assert all(0 <= e.done <= e.total for e in seen)
    assert seen[-1].done == seen[-1].total == total


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """What a tree holds, to compare two: for each relative path its kind and content
    (sha256 of a file, a link's target), permission bits and (files, folders) mtime."""
    seen: dict[str, tuple[object, ...]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            st = path.lstat()
            if path.is_symlink():
                seen[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                seen[rel] = ("dir", st.st_mode & 0o7777, int(st.st_mtime))
            else:
                seen[rel] = ("file", sha256(path), st.st_mode & 0o7777, int(st.st_mtime))
    return seen


def make_tree(root: Path) -> None:
    """A folder with what a copy must get right: nested and empty folders, files on each
    side of the 1 MiB stream threshold, an empty file, links (to a file, to a folder,
    dangling), odd names, a read-only folder and a kept mtime."""
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "ro").mkdir()
    for i, size in enumerate(((1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20))):
        random_file(root / "a" / f"f{i}.bin", size, seed=i)
    random_file(root / "a" / "b" / "c" / "deep.txt", 4096, seed=9)
    (root / "zero").write_bytes(b"")
    (root / "a b\nc é漢.txt").write_text("odd name\n")
    (root / "ro" / "inside").write_text("read-only folder\n")
    (root / "to-file").symlink_to("a/f0.bin")
    (root / "to-dir").symlink_to("a/b")
    (root / "dangling").symlink_to("nowhere")
    os.chmod(root / "a" / "f1.bin", 0o600)
    os.utime(root / "zero", (1_600_000_000, 1_600_000_000))
    os.chmod(root / "ro", 0o555)
    os.utime(root / "a" / "b", (1_650_000_000, 1_650_000_000))
