"""Setting up a kernel environment on a host that has none, through the real sshd.

The host cannot reach a package index (PIP_INDEX_URL points at a closed port on the remote
side only), so rtui falls back to downloading wheels here and uploading them over SFTP. A
set-up that fails leaves no venv behind; a Python older than the agent's minimum is refused by
name before anything is uploaded to it.
"""

from __future__ import annotations

import glob
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rtui.core.errors import RtuiError
from rtui.core.kernels import events as ev
from rtui.core.kernels.service import HostKernels
from rtui.core.remote.client import AgentError, Progress
from tests.conftest import run_rtui
from tests.harness.sshd import SSHD
from tests.ssh_helpers import connection, host_for, trust
from tests.test_agent import seed_wheel_cache, wheels  # noqa: F401 (the session's)


async def test_setup_offline_from_uploaded_wheels_then_run_a_kernel(
    sshd_factory: Callable[..., SSHD], isolated_home: Path, wheels: Path  # noqa: F811
) -> None:
    server = sshd_factory(extra_config="SetEnv PIP_INDEX_URL=http://127.0.0.1:9/simple")
    seed_wheel_cache(wheels)  # downloading them here is tests/test_envs_remote.py's
    trust(server, isolated_home)
    conn, _ = connection(host_for(server))
    kernels = HostKernels(conn)  # the remote's own python3: no ipykernel there
    lines: list[Progress] = []
    try:
        before = await kernels.environments()
        assert not any(e.ipykernel for e in before if e.kind == "rtui")
        env = await kernels.setup(on_progress=lines.append)
        assert env.python == str(server.remote_home / ".local/share/rtui/venv/bin/python")
        assert env.ipykernel
        text = "\n".join(p.line for p in lines)
        assert "cannot reach a package index: uploading wheels" in text
        assert "are cached here (no index asked)" in text
        assert "uploaded ipykernel-" in text
        assert any(p.fraction is not None for p in lines)  # a bar where the length is known
        # Only rtui's own env was touched, and it now runs kernels.
        after = {e.python: e for e in await kernels.environments()}
        assert after[env.python].ipykernel
        kernel = await kernels.start(python=env.python)
        out = [e async for e in kernel.session.execute("import sys; print(sys.prefix)")]
        printed = "".join(e.text for e in out if isinstance(e, ev.Stream))
        assert printed.strip() == str(server.remote_home / ".local/share/rtui/venv")
        await kernels.shutdown(kernel)
    finally:
        await kernels.close()
        await conn.close()


def _old_pythons() -> list[str]:
    """Real interpreters older than 3.8 here (pyenv's, not its shims)."""
    found = [*glob.glob(os.path.expanduser("~/.pyenv/versions/2.*/bin/python")),
             *glob.glob(os.path.expanduser("~/.pyenv/versions/3.[0-7].*/bin/python")),
             *glob.glob("/usr/bin/python2.[0-9]"), *glob.glob("/usr/bin/python3.[0-7]")]
    return sorted(found, reverse=True)  # the newest first: 3.7 where there is one


def _stub_python37(directory: Path) -> Path:
    """A ``python3`` that reports 3.7.9 (this Python with a patched ``sys.version_info``), so
    the refusal is tried on every machine, with or without a real old Python."""
    stub = directory / "python3"
    directory.mkdir(parents=True, exist_ok=True)
    patched = ("import sys; sys.version_info = (3, 7, 9, 'final', 0); "
               "code = sys.argv.pop(1); exec(compile(code, '<string>', 'exec'))")
    stub.write_text(f"""#!/bin/sh
[ "$1" = -u ] && shift
[ "$1" = -S ] && shift
[ "$1" = -c ] || exec {shlex.quote(sys.executable)} "$@"
shift
exec {shlex.quote(sys.executable)} -u -c {shlex.quote(patched)} "$@"
""")
    stub.chmod(0o755)
    return stub


@pytest.mark.parametrize("python", ["stub-3.7", *_old_pythons()])
async def test_a_python_older_than_38_is_refused_by_name(
    python: str, sshd: SSHD, isolated_home: Path
) -> None:
    if python == "stub-3.7":
        python = str(_stub_python37(sshd.remote_home / "old" / "bin"))
    trust(sshd, isolated_home)
    cache = sshd.remote_home / ".cache" / "rtui"
    cached = set(cache.glob("agent-*"))  # the sshd is shared: other tests' agents
    conn, _ = connection(host_for(sshd, python=python))
    kernels = HostKernels(conn, python=python)
    try:
        with pytest.raises(AgentError) as refused:
            await kernels.environments()
    finally:
        await kernels.close()
        await conn.close()
    said = refused.value
    assert said.type == "old_python"
    assert "too old" in str(said) and python in str(said) and "3.8 or newer" in str(said)
    assert set(cache.glob("agent-*")) == cached  # nothing uploaded to it


async def test_an_old_python3_gives_way_to_python_as_in_the_check(
    sshd_factory: Callable[..., SSHD], tmp_path: Path, isolated_home: Path
) -> None:
    """With no python configured, a python3 older than 3.8 on PATH gives way to ``python``,
    as the check lets it: a host that checks fine opens consoles too."""
    bin_dir = tmp_path / "pybin"
    _stub_python37(bin_dir)
    (bin_dir / "python").symlink_to(sys.executable)
    server = sshd_factory(extra_config=f"SetEnv PATH={bin_dir}:/usr/bin:/bin\n")
    trust(server, isolated_home)
    conn, _ = connection(host_for(server))
    kernels = HostKernels(conn)
    try:
        hello = await kernels.hello()
    finally:
        await kernels.close()
        await conn.close()
    assert hello["python"] in (str(bin_dir / "python"), sys.executable), hello


def test_the_cli_says_the_python_is_too_old(sshd: SSHD, isolated_home: Path) -> None:
    old = _old_pythons()
    python = old[0] if old else str(_stub_python37(sshd.remote_home / "old" / "bin"))
    version = [3, 7, 9] if not old else json.loads(subprocess.run(
        [python, "-c", "import json, sys; print(json.dumps(list(sys.version_info[:3])))"],
        capture_output=True, text=True, timeout=30, check=True).stdout)
    trust(sshd, isolated_home)
    add = run_rtui("hosts", "add", "old", "--hostname", "127.0.0.1", "--port", str(sshd.port),
                   "--user", sshd.user, "--identity", str(sshd.client_key), "--python", python)
    assert add.returncode == 0, add.stderr
    envs = run_rtui("envs", "old")
    assert envs.returncode != 0 and not envs.stdout
    assert "too old" in envs.stderr and python in envs.stderr
    assert "Python " + ".".join(map(str, version)) in envs.stderr


async def test_a_failed_setup_leaves_no_venv_behind(
    sshd_factory: Callable[..., SSHD], isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No index on the host and none here either: the set-up fails, and the venv the agent
    made (and kept for the wheels that never came) is gone."""
    server = sshd_factory(extra_config="SetEnv PIP_INDEX_URL=http://127.0.0.1:9/simple")
    for var, value in (("PIP_INDEX_URL", "http://127.0.0.1:9/simple"), ("PIP_RETRIES", "0"),
                       ("PIP_TIMEOUT", "2"), ("PIP_FIND_LINKS", ""), ("PIP_NO_CACHE_DIR", "1")):
        monkeypatch.setenv(var, value)
    trust(server, isolated_home)
    conn, _ = connection(host_for(server))
    kernels = HostKernels(conn)
    lines: list[Progress] = []
    venv = server.remote_home / ".local/share/rtui/venv"
    try:
        with pytest.raises(RtuiError, match="cannot download wheels"):
            await kernels.setup(on_progress=lines.append)
        text = "\n".join(p.line for p in lines)
        assert "creating virtual environment" in text  # it was made...
        assert "cannot reach a package index: uploading wheels" in text
        assert not venv.exists()  # ...and removed
        assert not any(e.kind == "rtui" for e in await kernels.environments(refresh=True))
    finally:
        await kernels.close()
        await conn.close()
