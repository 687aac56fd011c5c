"""Module reloading (a host's ``autoreload`` setting) in real kernels over the real sshd: a
module on the host edited between two cells runs its new code, and the console shows one
dim line naming what was reloaded; off, the old code runs and nothing is said."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from rich.text import Text

from rtui.core.console.model import ConsoleModel
from rtui.core.files.runfile import run_code
from rtui.core.kernels import events as ev
from rtui.core.kernels.reloading import Reloading
from rtui.core.kernels.service import HostKernels, RemoteKernel
from tests.harness.sshd import SSHD

PY = sys.executable  # the "remote" Python: this machine's, which has ipykernel


async def cell(kernel: RemoteKernel, code: str) -> list[ev.KernelEvent]:
    events = [e async for e in kernel.session.execute(code)]
    errors = [e for e in events if isinstance(e, ev.Error)]
    assert not errors, errors[0].traceback
    return events


def shown(events: list[ev.KernelEvent]) -> tuple[list[str], list[Text]]:
    """The cell's output as the console shows it: plain lines, and the styled ones."""
    model = ConsoleModel()
    for event in events:
        if isinstance(event, ev.Stream):
            model.apply(event)
    return model.plain_lines(), model.lines()


def write(path: Path, text: str) -> None:
    """Edit a module as an editor on the host would. The sizes of the versions differ:
    Python's bytecode cache tells a stale .pyc by the source's size and whole seconds."""
    path.write_text(text)


@pytest.fixture
def project(sshd: SSHD) -> Path:
    """A folder of modules on the host (the test home is the host's), the kernels' cwd."""
    folder = sshd.remote_home / f"reload-{uuid.uuid4().hex[:8]}"
    (folder / "labpkg").mkdir(parents=True)
    write(folder / "labmod.py", "def value():\n    return 1\n")
    write(folder / "labpkg" / "__init__.py", "")
    write(folder / "labpkg" / "sub.py", "NAME = 'a'\n")
    write(folder / "heavy.py", "def value():\n    return 'kept'\n")
    return folder


IMPORTS = "import labmod, labpkg.sub, heavy; print(labmod.value(), labpkg.sub.NAME, heavy.value())"
EDITED = "print(labmod.value(), labpkg.sub.NAME, heavy.value())"


def edit(project: Path) -> None:
    write(project / "labmod.py", "def value():\n    return 22\n")
    write(project / "labpkg" / "sub.py", "NAME = 'bb'\n")
    write(project / "heavy.py", "def value():\n    return 'changed'\n")


async def test_an_edited_module_runs_its_new_code_and_one_dim_line_names_it(
    kernels: HostKernels, project: Path
) -> None:
    """ipykernel with the default mode (one module excluded), spyder-kernels (``runfile``:
    autoreload names the edit, then its UMR gives the script fresh imports) and a host
    with reloading off, started together: each start costs seconds here."""
    default, kernels.reloading = kernels.reloading, Reloading("2", exclude=("heavy",))
    off = HostKernels(kernels.connection, python=PY, reloading=Reloading("off"))
    script = project / "script.py"
    write(script, IMPORTS.replace("import labmod, labpkg.sub, heavy; ", "import labmod, "
                                  "labpkg.sub, heavy\n"))
    runfile = run_code(str(script), kind="spyder")
    started = await asyncio.gather(
        kernels.start(python=PY, cwd=str(project)),
        kernels.start(python=PY, cwd=str(project), spyder=True),
        off.start(python=PY, cwd=str(project)), return_exceptions=True)
    try:
        kernel, spyder, plain = started
        assert isinstance(kernel, RemoteKernel), kernel
        assert isinstance(spyder, RemoteKernel), spyder
        assert isinstance(plain, RemoteKernel), plain
        for each, code in ((kernel, IMPORTS), (spyder, runfile), (plain, IMPORTS)):
            lines, _ = shown(await cell(each, code))
            assert lines == ["1 a kept"]  # the set-up is silent: nothing before a first cell
        edit(project)

        lines, styled = shown(await cell(kernel, EDITED))
        # One line for every module reloaded, before the cell's output; the excluded one
        # keeps its old code and is not named.
        assert lines == ["Reloaded modules: labmod, labpkg.sub", "22 bb kept"]
        assert {str(span.style) for span in styled[0].spans} == {"dim"}
        assert styled[1].spans == []
        lines, _ = shown(await cell(kernel, EDITED))
        assert lines == ["22 bb kept"]  # nothing changed: nothing said

        # Off: the old code runs, nothing is said, autoreload is not even loaded.
        assert shown(await cell(plain, EDITED))[0] == ["1 a kept"]
        check = "print('autoreload' in get_ipython().extension_manager.loaded)"
        assert shown(await cell(plain, check))[0] == ["False"]

        # Spyder: one line (its UMR's own is off), the new code; its UMR got the switches.
        lines, _ = shown(await cell(spyder, runfile))
        assert lines == ["Reloaded modules: labmod, labpkg.sub", "22 bb kept"]
        umr = "umr = get_ipython().magics_manager.registry['SpyderCodeRunner'].umr\n" \
              "print(umr.enabled, umr.verbose, 'heavy' in umr.namelist)"
        assert shown(await cell(spyder, umr))[0] == ["True False True"]

        # A restart here sets it up again (the kernel's process is new).
        await kernels.restart(kernel)
        assert shown(await cell(kernel, IMPORTS))[0] == ["22 bb changed"]  # imported afresh
        write(project / "labmod.py", "def value():\n    return 333\n")
        lines, _ = shown(await cell(kernel, EDITED))
        assert lines == ["Reloaded modules: labmod", "333 bb changed"]
    finally:
        for service, each in ((kernels, started[0]), (kernels, started[1]), (off, started[2])):
            if isinstance(each, RemoteKernel):
                await service.shutdown(each)
        await off.close()
        kernels.reloading = default


# The set-up's own code in a real IPython (no kernel: a shell in a subprocess), where
# IPython is made to lack what older or stripped installs lack.
SHELL = """
import os, sys
sys.path.insert(0, os.getcwd())
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
{prepare}
for _ in range(2):  # sent twice (a second client, a re-send): set up once
    ip.run_cell({setup!r}, silent=True)
open("shellmod.py", "w").write("def value():\\n    return 1\\n")
ip.run_cell("import shellmod; print(shellmod.value())")
open("shellmod.py", "w").write("def value():\\n    return 22\\n")
ip.run_cell("print(shellmod.value())")
"""
NO_EXTENSION = "sys.modules['IPython.extensions.autoreload'] = None  # it cannot be imported"
BEFORE_8 = """
from IPython.extensions import autoreload  # as in IPython 7, which has no mode 3
del autoreload.ModuleReloader.autoload_obj
init = autoreload.AutoreloadMagics.__init__
def init_7(self, *args, **kwargs):
    init(self, *args, **kwargs)
    del self._reloader.autoload_obj
autoreload.AutoreloadMagics.__init__ = init_7
"""


@pytest.mark.parametrize(("mode", "prepare", "expected"), [
    ("2", NO_EXTENSION, ["\x1b[2mModule reloading is off in this kernel: IPython's autoreload "
                         "could not be set up (RuntimeError: the extension did not load: no "
                         "load function)\x1b[0m", "1", "1"]),
    ("3", BEFORE_8, ["\x1b[2mautoreload 3 needs IPython 8 (this kernel has {version}): modules "
                     "are reloaded as with autoreload 2\x1b[0m", "1",
                     "\x1b[2mReloaded modules: shellmod\x1b[0m", "22"]),
], ids=["no-extension", "ipython-7"])
def test_an_ipython_that_cannot_reload_says_so_on_one_line_at_the_first_cell(
    tmp_path: Path, mode: str, prepare: str, expected: list[str]
) -> None:
    import IPython

    setup = Reloading(mode).setup_code()
    script = SHELL.format(prepare=prepare, setup=setup)
    done = subprocess.run([PY, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no traceback, no warning
    version = IPython.__version__
    assert done.stdout.splitlines() == [line.format(version=version) for line in expected]
