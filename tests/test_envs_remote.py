"""Environments on a host through the core (HostEnvironments) and the real agent, over the
real sshd: venv + pip online and offline (the index unreachable from the host, wheels
downloaded here and uploaded), uv found on the host and uv put there, every change, export,
remove, a cancel in the middle of a create, and ``--env NAME``.

Cost: four creates with ipykernel (pip online, uv found, uv uploaded, pip offline; the uv
ones share uv's cache in this module's host home). Measured here under load 5-7 on two
cores: the two pip tests 90-150 s each (a venv's ensurepip and pip installing ipykernel's
~25 packages), the uv ones 15-25 s, the rest ~1 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import uv

from rtui.core.config.model import Config
from rtui.core.envs import (
    EnvBrokenError,
    EnvDiskFullError,
    EnvError,
    EnvExistsError,
    EnvNotFoundError,
    EnvSpec,
    HostEnvironments,
    NeedsUv,
    NoIndexError,
    NoPackageError,
    NotMadeByRtuiError,
    resolve_python,
)
from rtui.core.envs.model import env_error
from rtui.core.envs.resolve import find, unknown
from rtui.core.kernels.records import Environment
from rtui.core.kernels.service import HostKernels
from rtui.core.remote.client import AgentError, Progress
from rtui.core.workspace import Workspace
from tests.harness.sshd import SSHD, start_sshd
from tests.ssh_helpers import connection, host_for, trust
from tests.test_agent import (  # noqa: F401 (the session's wheels)
    more_wheels,
    seed_wheel_cache,
    wheels,
)

# No xdist group: the two venv + pip creates (the slowest tests) may run on both workers.
pytestmark = [pytest.mark.timeout(300)]

# This machine reaches PyPI through a certificate only its system store has (pip reads it
# from /etc/pip.conf); uv needs to be told to use that store (or it finds no index).
_UV_TLS = "UV_SYSTEM_CERTS=1"
_NO_INDEX = " ".join(f"{var}=http://127.0.0.1:9/simple"
                     for var in ("PIP_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX"))


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHD]:
    """This module's own server: tests link uv into its home and put uv there (the
    session's sshd is shared with tests that expect neither)."""
    server = start_sshd(tmp_path_factory.mktemp("envs_sshd"),
                        extra_config=f"SetEnv {_UV_TLS}")
    try:
        yield server
    finally:
        server.close()


@contextlib.asynccontextmanager
async def envs_on(server: SSHD, home: Path) -> AsyncIterator[HostEnvironments]:
    """The environments of ``server``'s host, whose agent runs this machine's Python."""
    trust(server, home)
    conn, _ = connection(host_for(server, python=sys.executable))
    kernels = HostKernels(conn, python=sys.executable)
    try:
        yield HostEnvironments(kernels)
    finally:
        await kernels.close()
        await conn.close()


def env_dir(server: SSHD, name: str) -> Path:
    return server.remote_home / ".local/share/rtui/envs" / name


def names(packages: list[object]) -> set[str]:
    return {str(getattr(p, "name", "")).lower() for p in packages}


def said(lines: list[Progress]) -> str:
    return "\n".join(p.line for p in lines)


async def test_venv_pip_online_create_change_export_remove(host: SSHD, isolated_home: Path
                                                           ) -> None:
    async with envs_on(host, isolated_home) as envs:
        lines: list[Progress] = []
        with pytest.raises(EnvError, match="cannot name an environment"):
            await envs.create(EnvSpec("../up"))
        with pytest.raises(EnvError, match="not a package"):
            await envs.create(EnvSpec("fine", packages=("--index-url=http://x",)))
        assert not env_dir(host, "fine").exists()
        env = await envs.create(
            EnvSpec("pipenv", python=sys.executable, tool="venv", packages=("six",)),
            on_progress=lines.append)
        prefix = env_dir(host, "pipenv")
        assert (env.name, env.managed, env.tool) == ("pipenv", True, "venv")
        assert env.prefix == str(prefix) and env.python.startswith(str(prefix) + "/")
        assert env.ipykernel and env.error is None
        assert "with venv (online)" in said(lines) and "six" in said(lines)
        assert not (prefix / ".rtui-unfinished").exists()
        # The console's picker (the kernels service's list) sees it at once.
        listed = {e.python: e for e in await envs.kernels.environments()}
        assert listed[env.python].managed and listed[env.python].name == "pipenv"

        assert {"six", "ipykernel", "pip"} <= names(await envs.packages("pipenv"))
        after = await envs.change("pipenv", "install", ["iniconfig"], on_progress=lines.append)
        assert "iniconfig" in names(after)
        after = await envs.change(str(prefix), "uninstall", ["six"])
        assert "six" not in names(after) and "iniconfig" in names(after)
        text = await envs.export("pipenv")
        assert "iniconfig==" in text and "six==" not in text

        with pytest.raises(NoPackageError, match="rtui-no-such-package-q7"):
            await envs.change("pipenv", "install", ["rtui-no-such-package-q7"])
        with pytest.raises(EnvExistsError, match="pipenv"):
            await envs.create(EnvSpec("pipenv", python=sys.executable, tool="venv"))
        assert (prefix / "pyvenv.cfg").exists()  # the one there is untouched

        # --env NAME, and naming an environment by its directory or interpreter.
        assert (await envs.resolve(str(prefix))).python == env.python
        assert (await envs.resolve(env.python)).name == "pipenv"
        assert await resolve_python(envs.kernels, "pipenv") == env.python
        assert await resolve_python(envs, "no-such-python") == "no-such-python"
        assert await resolve_python(envs, "/usr/bin/python3") == "/usr/bin/python3"
        with pytest.raises(EnvNotFoundError) as unknown:
            await envs.resolve("nosuchenv")
        assert "nosuchenv" in str(unknown.value) and "pipenv" in str(unknown.value)

        # One rtui did not make is removed only when forced.
        plain = host.remote_home / "envs" / "plain"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(plain)],
                       check=True, timeout=60)
        with pytest.raises(NotMadeByRtuiError):
            await envs.remove("plain")
        assert plain.exists()
        assert await envs.remove("plain", force=True) == str(plain)
        assert not plain.exists()

        assert await envs.remove("pipenv") == str(prefix)
        assert not prefix.exists()
        assert "pipenv" not in {e.name for e in await envs.list()}


def link_uv(server: SSHD) -> Path:
    """The host "has uv": this machine's uv binary as ``~/.local/bin/uv`` there."""
    link = server.remote_home / ".local" / "bin" / "uv"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(uv.find_uv_bin())
    return link


async def test_uv_on_the_host_is_used(host: SSHD, isolated_home: Path) -> None:
    link = link_uv(host)
    try:
        async with envs_on(host, isolated_home) as envs:
            tools = await envs.tools()
            assert tools["uv"] == str(link) and tools["uv_version"]
            version = "{}.{}".format(*sys.version_info[:2])  # among the host's Pythons
            lines: list[Progress] = []
            env = await envs.create(EnvSpec("uvenv", python=version, packages=("six",)),
                                    on_progress=lines.append)
            assert env.tool == "uv" and env.managed and env.ipykernel
            assert env.version and env.version.startswith(version + ".")
            assert "with uv (online)" in said(lines)
            assert "cannot reach a package index" not in said(lines)  # no wheels needed
            assert {"six", "ipykernel", "pip"} <= names(await envs.packages("uvenv"))
            assert "six==" in await envs.export("uvenv")
            assert 'name = "six"' in await envs.export("uvenv", "pylock")
            home_relative = "~/.local/share/rtui/envs/uvenv"
            assert (await envs.resolve(home_relative)).python == env.python
            sized = {e.python: e for e in await envs.list(sizes=True)}
            assert (sized[env.python].size or 0) > 1_000_000  # ipykernel and its deps
            assert await envs.remove("uvenv") == str(env_dir(host, "uvenv"))
    finally:
        link.unlink()


async def test_uv_is_put_on_a_host_without_it_when_asked(host: SSHD, isolated_home: Path
                                                         ) -> None:
    put = host.remote_home / ".local/share/rtui/bin/uv"
    try:
        async with envs_on(host, isolated_home) as envs:
            assert (await envs.tools())["uv"] is None
            with pytest.raises(NeedsUv, match="has no uv"):
                await envs.create(EnvSpec("uvup", tool="uv", packages=("six",)))
            assert not env_dir(host, "uvup").exists()
            lines: list[Progress] = []
            env = await envs.create(EnvSpec("uvup", tool="uv", packages=("six",),
                                            upload_uv=True), on_progress=lines.append)
            assert "uploaded uv-" in said(lines)
            assert "cannot reach a package index" not in said(lines)
            assert put.is_file() and os.access(put, os.X_OK)
            assert (await envs.tools())["uv"] == str(put)
            assert env.tool == "uv" and env.ipykernel
            assert "six" in names(await envs.packages("uvup"))
            await envs.remove("uvup")
    finally:
        put.unlink(missing_ok=True)


async def test_offline_create_and_install_from_uploaded_wheels(
    sshd_factory: Callable[..., SSHD], isolated_home: Path,
    wheels: Path, more_wheels: Path,  # noqa: F811
) -> None:
    """The host reaches no index: an install finds that out and brings wheels; a create
    asked to be offline brings them at once (an online try would make its venv twice). The
    create's wheels are in the cache here already (the session's): the install's and the
    upgrade's come from the index."""
    server = sshd_factory(extra_config=f"SetEnv {_NO_INDEX}")
    seed_wheel_cache(wheels, more_wheels)
    wheels = server.remote_home / ".local/share/rtui/wheels"
    async with envs_on(server, isolated_home) as envs:
        lines: list[Progress] = []
        env = await envs.create(EnvSpec("far", python=sys.executable, tool="venv",
                                        packages=("six",), requirements="iniconfig\n"),
                                on_progress=lines.append, offline=True)
        assert env.ipykernel and env.managed and env.tool == "venv"
        text = said(lines)
        assert "with venv (offline)" in text
        uploaded = [p.line for p in lines if p.line.startswith("uploaded ")]
        on_host = sorted(p.name for p in wheels.glob("*/*.whl"))
        assert len(uploaded) == len(on_host) >= 4, (uploaded, on_host)
        assert f"uploading {len(on_host)} wheels" in text
        assert "are cached here (no index asked)" in text
        for wanted in ("pip-", "six-", "iniconfig-", "ipykernel-"):
            assert any(n.startswith(wanted) for n in on_host), (wanted, on_host)
        assert {"six", "iniconfig", "ipykernel"} <= names(await envs.packages("far"))
        lines.clear()
        after = await envs.change("far", "install", ["pluggy"], on_progress=lines.append)
        assert "pluggy" in names(after)
        text = said(lines)
        assert "far cannot reach a package index: uploading wheels" not in text
        assert "t cannot reach a package index: uploading wheels" in text  # tried online first
        assert "uploaded pluggy-" in text
        assert "uploaded six-" not in text  # what is there already is not sent again
        lines.clear()  # the host had no index: the next install brings wheels at once
        after = await envs.change("far", "upgrade", ["iniconfig"], on_progress=lines.append)
        assert "iniconfig" in names(after)
        text = said(lines)
        assert "t reached no package index before: uploading wheels" in text
        assert "cannot reach a package index" not in text and "uploading 0 wheels" in text
        await envs.remove("far")


async def test_cancel_in_the_middle_of_a_create_leaves_nothing(host: SSHD, isolated_home: Path
                                                               ) -> None:
    prefix = env_dir(host, "halfway")
    trust(host, isolated_home)
    workspace = Workspace(None, config=Config(hosts=(host_for(host, python=sys.executable),)))
    try:
        envs = await workspace.environments("t")
        assert envs.kernels is await workspace.kernels("t")  # one agent, one list
        making = asyncio.Event()  # the agent makes its venv (the packages come next)
        creating = asyncio.ensure_future(envs.create(
            EnvSpec("halfway", python=sys.executable, tool="venv", packages=("six",)),
            on_progress=lambda p: making.set() if "-m venv" in p.line else None))
        await asyncio.wait_for(making.wait(), 60)
        assert prefix.exists()
        creating.cancel()
        with pytest.raises(asyncio.CancelledError):
            await creating
        assert not prefix.exists()  # the cancelled create returns once the agent removed it
        assert "halfway" not in {e.name for e in await envs.list(refresh=True)}
    finally:
        await workspace.close()


def test_an_env_is_named_by_name_directory_or_interpreter() -> None:
    """Which listed environment a ref names (no host needed): rtui's own first by name."""
    theirs = Environment("/h/envs/lab/bin/python", "venv", "lab", "3.12.1", "6.29", None,
                         prefix="/h/envs/lab")
    ours = Environment("/h/.local/share/rtui/envs/lab/bin/python", "venv", "lab", "3.12.1",
                       "6.29", None, prefix="/h/.local/share/rtui/envs/lab", managed=True)
    base = Environment("/usr/bin/python3", "path", "python3", "3.11.2", None, None,
                       prefix="/usr")
    envs = [theirs, ours, base]
    assert find(envs, "lab") is ours
    assert find(envs, "/h/envs/lab") is theirs and find(envs, "/h/envs/lab/") is theirs
    assert find(envs, "/h/envs/lab/bin/python3.12") is theirs
    assert find(envs, "/usr/bin/python3") is base
    assert find(envs, "/usr/lib/python3") is None and find(envs, "nosuch") is None
    said = str(unknown("h", "nosuch", envs))
    assert "no environment nosuch on h" in said and "lab, python3" in said


def test_the_agents_refusals_read_as_environment_errors() -> None:
    for kind, cls in (("exists", EnvExistsError), ("no_package", NoPackageError),
                      ("not_rtui", NotMadeByRtuiError), ("not_found", EnvNotFoundError),
                      ("broken", EnvBrokenError), ("disk_full", EnvDiskFullError),
                      ("no_index", NoIndexError), ("bad_args", EnvError)):
        error = env_error(AgentError("what the agent said", kind), "h")
        assert type(error) is cls and error.type == kind
        assert str(error) == "h: what the agent said"
    timeout = AgentError("did not answer", "timeout")  # not about environments: as it is
    assert env_error(timeout, "h") is timeout
