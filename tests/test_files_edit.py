"""Remote files edited and run from rtui, against the real sshd and real kernels: the code a
console runs for a remote ``.py`` (both kernel kinds, names IPython would mangle), and the
kernel's working directory asked with a silent execute."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

from rtui.core.files.runfile import kernel_cwd, run_code
from rtui.core.kernels import events as ev
from rtui.core.kernels.service import HostKernels, RemoteKernel
from tests.harness.sshd import SSHD

PY = sys.executable


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
