"""Remote files edited and run from rtui, against the real sshd and real kernels: an edit's
round trip through a private local copy, a change on the host meanwhile found (by size and
mtime, or by checksum within the same second) and never overwritten unasked, keep both;
the code a console runs for a remote ``.py`` (both kernel kinds, names IPython would
mangle), and the kernel's working directory asked with a silent execute."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from rtui.core.config.model import Config
from rtui.core.files.edit import (
    Conflict,
    EditSession,
    Resolution,
    Unchanged,
    Uploaded,
    keep_both_name,
)
from rtui.core.files.runfile import kernel_cwd, run_code
from rtui.core.files.service import HostFiles
from rtui.core.kernels import events as ev
from rtui.core.kernels.service import HostKernels, RemoteKernel
from rtui.core.workspace import Workspace
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust

PY = sys.executable


@pytest_asyncio.fixture
async def files(sshd: SSHD, isolated_home: Path) -> AsyncIterator[HostFiles]:
    """The files service of a host on the session's sshd, as the TUI gets it."""
    trust(sshd, isolated_home)
    workspace = Workspace(None, config=Config(hosts=(host_for(sshd, "lab", python=PY),)),
                          prefetch=False)
    try:
        await workspace.connect("lab", None)
        yield await workspace.files("lab")
    finally:
        await workspace.close()


def _save(local: Path, text: str) -> None:
    """What an editor's save does: new content, a new mtime."""
    local.write_text(text)
    info = local.stat()
    os.utime(local, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000))


async def test_an_edit_goes_round_trip_through_a_private_copy(
    files: HostFiles, sshd: SSHD
) -> None:
    folder = Path(tempfile.mkdtemp(dir=sshd.remote_home))
    remote = folder / "notes é.txt"
    remote.write_text("one\n")
    remote.chmod(0o640)
    session = EditSession(files, str(remote))
    local = await session.fetch()
    try:
        assert local.name == remote.name and local.read_text() == "one\n"
        assert stat.S_IMODE(local.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(local.stat().st_mode) == 0o600
        assert not session.saved()
        assert await session.sync() == Unchanged()

        _save(local, "one\ntwo\n")
        assert session.saved()
        assert await session.sync() == Uploaded(str(remote))
        assert remote.read_text() == "one\ntwo\n"
        assert stat.S_IMODE(remote.stat().st_mode) == 0o640  # the host's file kept its mode
        assert not [p.name for p in folder.iterdir() if p != remote]  # no temp left there
        _save(local, "one\ntwo\n")  # saved again, unchanged: nothing to send
        assert await session.sync() == Unchanged()
    finally:
        session.close()
    assert not local.parent.exists()


async def test_a_change_on_the_host_is_found_both_ways_and_never_overwritten_unasked(
    files: HostFiles, sshd: SSHD
) -> None:
    folder = Path(tempfile.mkdtemp(dir=sshd.remote_home))
    remote = folder / "run.py"
    remote.write_text("print(1)\n")
    session = EditSession(files, str(remote))
    local = await session.fetch()
    try:
        # Another hand changed it (a new size): the save is refused, then overwritten when
        # the person says so.
        remote.write_text("print('theirs')\n")
        _save(local, "print(2)\n")
        conflict = await session.sync()
        assert isinstance(conflict, Conflict) and "changed on the host" in conflict.reason
        assert remote.read_text() == "print('theirs')\n"
        _save(local, "print(22)\n")  # saved again meanwhile: still held back
        assert await session.sync() == conflict
        assert await session.resolve(conflict, Resolution.OVERWRITE) == Uploaded(str(remote))
        assert remote.read_text() == "print(22)\n"

        # Same size, same second: only the checksum tells; cancel uploads nothing.
        mtime = remote.stat().st_mtime_ns
        remote.write_text("print(33)\n")
        os.utime(remote, ns=(mtime, mtime))
        _save(local, "print(44)\n")
        conflict = await session.sync()
        assert isinstance(conflict, Conflict) and "checksum" in conflict.reason
        assert await session.resolve(conflict, Resolution.CANCEL) == Unchanged()
        assert remote.read_text() == "print(33)\n"

        # Keep both: theirs stays, ours goes beside it, and later saves go there.
        _save(local, "print(55)\n")
        conflict = await session.sync()
        assert isinstance(conflict, Conflict)
        kept = Path(conflict.keep_both)
        assert kept.parent == folder and kept.name.startswith("run (rtui ")
        assert kept.name.endswith(").py")
        assert await session.resolve(conflict, Resolution.KEEP_BOTH) == Uploaded(str(kept))
        assert remote.read_text() == "print(33)\n" and kept.read_text() == "print(55)\n"
        _save(local, "print(66)\n")
        assert await session.sync() == Uploaded(str(kept))
        assert kept.read_text() == "print(66)\n" and remote.read_text() == "print(33)\n"
    finally:
        session.close()


def test_keep_both_names() -> None:
    when = time.struct_time((2026, 12, 7, 10, 15, 2, 0, 341, 0))
    assert keep_both_name("/d/data.tar.gz", when) == "/d/data.tar (rtui 101502).gz"
    assert keep_both_name("/d/.bashrc", when) == "/d/.bashrc (rtui 101502)"
    assert keep_both_name("/d/Makefile", when) == "/d/Makefile (rtui 101502)"


async def _run(kernel: RemoteKernel, code: str) -> str:
    """What ``code`` printed (its errors too) once it ended."""
    events = [e async for e in kernel.session.execute(code)]
    return "".join(e.text for e in events if isinstance(e, ev.Stream)) + "".join(
        f"{e.ename}: {e.evalue}" for e in events if isinstance(e, ev.Error))


async def test_a_remote_py_runs_in_both_kernel_kinds_and_the_cwd_is_asked(
    kernels: HostKernels, sshd: SSHD
) -> None:
    # A folder and a file name with what a magic line would mangle: a space, a quote,
    # IPython's $name and {expr} expansion, a backslash (in the folder: %cd's mangling).
    folder = Path(tempfile.mkdtemp(dir=sshd.remote_home, prefix="it's $HOME {x} \\ "))
    script = folder / "run me $PATH {1+1}.py"
    script.write_text("import os\nRAN = 42\nprint('ran in', os.getcwd())\n")
    other = Path(tempfile.mkdtemp(dir=sshd.remote_home))
    plain = await kernels.start(python=PY, cwd=str(other))
    spyder = await kernels.start(python=PY, spyder=True, cwd=str(other))
    try:
        assert spyder.kind == "spyder"
        assert await kernel_cwd(plain.session) == str(other)

        # %run leaves the cwd where it was; with cd, it moves to the file's folder first.
        assert await _run(plain, run_code(str(script), kind=plain.kind)) == f"ran in {other}\n"
        assert await _run(plain, "print(RAN)") == "42\n"
        assert await _run(plain, run_code(str(script), kind=plain.kind, cd=True)) \
            == f"ran in {folder}\n"
        assert await kernel_cwd(plain.session) == str(folder)

        # Spyder's runfile with wdir, as Spyder sends it: the file runs in its folder.
        assert await _run(spyder, run_code(str(script), kind="spyder")) == f"ran in {folder}\n"
        assert await _run(spyder, "print(RAN)") == "42\n"
        assert await kernel_cwd(spyder.session) == str(folder)
    finally:
        for kernel in (plain, spyder):
            with contextlib.suppress(Exception):
                await kernels.shutdown(kernel)


def test_run_code_reads_as_a_person_would_type_it() -> None:
    assert run_code("/srv/a b.py", kind="ipykernel") == "%run '/srv/a b.py'"
    assert run_code("/srv/x/$a.py", kind="ipykernel", cd=True) == "%cd /srv/x\n%run '/srv/x/$$a.py'"
    assert run_code("/srv/a b.py", kind="spyder") == "runfile('/srv/a b.py', wdir='/srv')"
    # A newline cannot go on a magic's line: the same call, written as Python.
    assert run_code("/srv/a\nb.py", kind="ipykernel") == \
        "get_ipython().run_line_magic('run', \"'/srv/a\\nb.py'\")"
