"""Attaching on what this machine remembers of a kernel (rtui/core/kernels/remembered.py):
the kernel's channels open while the agent resolves the id, and a stale memory (a new key,
a kernel gone) costs time, never a false error. Real sshd, real kernels."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from rtui.core.errors import KernelDiedError, KernelError
from rtui.core.kernels import events as ev
from rtui.core.kernels.remembered import (
    KEPT_FIELDS,
    RememberedKernel,
    RememberedKernels,
    RouteKinds,
)
from rtui.core.kernels.service import HostKernels, LocatedKernel, RemoteKernel
from rtui.core.ssh.connection import HostConnection
from tests.harness.sshd import SSHD
from tests.ssh_helpers import connection, host_for, trust

PY = sys.executable


@pytest_asyncio.fixture
async def services(sshd: SSHD, isolated_home: Path
                   ) -> AsyncIterator[Callable[[], HostKernels]]:
    """New HostKernels on new connections to the host, as a new `rtui run` makes."""
    trust(sshd, isolated_home)
    made: list[tuple[HostKernels, HostConnection]] = []

    def new() -> HostKernels:
        conn, _ = connection(host_for(sshd, python=PY))
        made.append((HostKernels(conn, python=PY), conn))
        return made[-1][0]

    try:
        yield new
    finally:
        for service, conn in made:
            await service.close()
            await conn.close()


def slow_agent(service: HostKernels, seconds: float,
               seen: list[int] | None = None) -> None:
    """The agent's answer to `locate` is held ``seconds`` (a slow host); with ``seen``, held
    until a session is attached (at most ``seconds``), and ``seen`` gets how many were."""
    real = service.locate

    async def locate(spec: str, *, alive: bool = True) -> LocatedKernel:
        found = await real(spec, alive=alive)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not (seen is not None and service._attached):
            await asyncio.sleep(0.05)
        if seen is not None:
            seen.append(len(service._attached))
        return found

    service.locate = locate  # type: ignore[method-assign]


async def printed(kernel: RemoteKernel, code: str | None = None) -> str:
    execution = kernel.first if code is None else kernel.session.execute(code)
    assert execution is not None
    return "".join([e.text async for e in execution if isinstance(e, ev.Stream)])


async def bounded(work: Awaitable[Any], seconds: float = 30) -> Any:
    return await asyncio.wait_for(work, seconds)


async def test_the_next_attach_opens_the_kernel_on_what_is_remembered_before_the_agent_answers(
    services: Callable[[], HostKernels], isolated_home: Path,
) -> None:
    launcher = services()
    kernel = await launcher.start(python=PY)
    try:
        store = isolated_home / ".local/state/rtui/kernels"
        path = store / "t.json"
        assert stat.S_IMODE(store.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        saved = json.loads(path.read_text())
        assert saved["routes"] == {"unix": True, "tcp": True}
        entry = saved["kernels"][kernel.id]
        assert entry == {"info": {k: kernel.remote_info[k] for k in KEPT_FIELDS},
                         "connection_file": kernel.connection_file, "keeper": kernel.keeper}

        # The kernel answers, and runs the code once, before the (held) agent's answer.
        service = services()
        attached_when_answered: list[int] = []
        slow_agent(service, 20, attached_when_answered)
        attached = await bounded(service.attach(kernel.id, code="print('once')"))
        assert attached_when_answered == [1]
        assert await bounded(printed(attached)) == "once\n"
        assert attached.connection_file == kernel.connection_file

        # Restarted under the same id with a new key: the memory is stale. With the agent
        # answering first, and with the stale session failing first: it attaches, runs the
        # code once, names no signature mismatch, and remembers the new key.
        true_key = entry["info"]["key"]
        for delay in (0, 3):
            saved["kernels"][kernel.id]["info"]["key"] = "0" * 64
            path.write_text(json.dumps(saved))
            service = services()
            slow_agent(service, delay)
            attached = await bounded(service.attach(kernel.id, code=f"print('late {delay}')"))
            assert await bounded(printed(attached)) == f"late {delay}\n"
            remembered = RememberedKernels(store).get("t", kernel.id)
            assert remembered is not None and remembered.info["key"] == true_key
        assert await bounded(printed(attached, "print('still one')")) == "still one\n"
    finally:
        await launcher.shutdown(kernel)
    assert RememberedKernels(store).get("t", kernel.id) is None  # stopped: forgotten


async def test_a_remembered_kernel_that_is_gone_is_said_to_be_gone(
    services: Callable[[], HostKernels], isolated_home: Path,
) -> None:
    launcher = services()
    kernel = await launcher.start(python=PY)
    store = RememberedKernels(isolated_home / ".local/state/rtui/kernels")
    try:
        known = store.get("t", kernel.id)
        assert known is not None
        gone_info = {**known.info, "ip": f"{known.info['ip']}-gone"}  # its sockets went too
        store.put("t", "no-such-kernel", RememberedKernel(gone_info, None, known.keeper))
        with pytest.raises(KernelError) as caught:
            await bounded(services().attach("no-such-kernel", code="print(1)"), 15)
        assert "no kernel 'no-such-kernel'" in str(caught.value)
        assert store.get("t", "no-such-kernel") is None

        # The kernel takes the code, then dies before the (slow) agent answers, which then
        # says it is gone: the code ran, so what it printed and how it ended are shown.
        service = services()
        real = service.locate

        async def late_locate(spec: str, *, alive: bool = True) -> LocatedKernel:
            deadline = time.monotonic() + 20
            while not service._attached and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(1)
            return await real(spec, alive=alive)

        service.locate = late_locate  # type: ignore[method-assign]
        code = "import os, time\nprint('going', flush=True)\ntime.sleep(0.5)\nos._exit(3)"
        attached = await bounded(service.attach(kernel.id, code=code))
        assert attached.first is not None
        shown: list[str] = []
        with pytest.raises(KernelDiedError) as died:
            async for event in attached.first:
                if isinstance(event, ev.Stream):
                    shown.append(event.text)
        assert shown == ["going\n"] and "exited with code 3" in str(died.value), died.value

        t0 = time.monotonic()  # attached again: gone, said at once (no signature mismatch)
        with pytest.raises(KernelDiedError) as gone:
            await bounded(services().attach(kernel.id, code="print(1)"), 15)
        assert time.monotonic() - t0 < 10
        assert str(gone.value).startswith(f"kernel {kernel.id} on t is not running"), gone.value
    finally:
        await launcher.shutdown(kernel, dead=True)


def test_the_memory_is_private_and_holds_only_what_attaching_needs(tmp_path: Path) -> None:
    directory = tmp_path / "state" / "kernels"
    store = RememberedKernels(directory)
    info: dict[str, Any] = {
        "transport": "ipc", "ip": "/run/user/1/rtui/k/abc/k", "shell_port": 1,
        "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5, "key": "secret",
        "signature_scheme": "hmac-sha256", "kernel_name": "python3", "extra": "x"}
    store.put("lab/odd name", "abc", RememberedKernel(info, "/r/kernel-abc.json", "/k/keeper"))
    store.put_routes("lab/odd name", RouteKinds(unix=False, tcp=True))
    (path,) = directory.iterdir()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert set(saved["kernels"]["abc"]["info"]) == set(KEPT_FIELDS)
    got = store.get("lab/odd name", "abc")
    assert got is not None and got.keeper == "/k/keeper" and "kernel_name" not in got.info
    assert store.routes("lab/odd name") == RouteKinds(unix=False, tcp=True)
    assert store.get("other", "abc") is None
    path.write_text("{not json")  # a damaged file costs the memory, nothing else
    assert store.get("lab/odd name", "abc") is None and store.routes("lab/odd name") is None
    os.chmod(directory, 0o755)
    store.put("lab/odd name", "abc", RememberedKernel(info, None, None))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    store.forget("lab/odd name", "abc")
    assert store.get("lab/odd name", "abc") is None
