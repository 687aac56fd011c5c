"""Remote kernels through the real sshd: launch, run, input, interrupt, restart, shutdown,
attach to hand-started kernels, reattach after the connection drops."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from rtui.core.config.model import Settings
from rtui.core.kernels import events as ev
from rtui.core.kernels.service import HostKernels, RemoteKernel
from rtui.core.ssh.connection import ConnState
from tests.conftest import run_rtui
from tests.harness.relay import TCPRelay
from tests.harness.sshd import SSHD, pid_alive
from tests.ssh_helpers import connection, host_for, trust

PY = sys.executable  # the "remote" Python: this machine's, which has ipykernel


async def run(
    kernel: RemoteKernel, code: str, *, answer: str | None = None
) -> list[ev.KernelEvent]:
    got: list[ev.KernelEvent] = []
    async for event in kernel.session.execute(code):
        got.append(event)
        if isinstance(event, ev.InputRequest) and answer is not None:
            await kernel.session.input_reply(answer)
    return got


def stdout(events: list[ev.KernelEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, ev.Stream) and e.name == "stdout")


def result(events: list[ev.KernelEvent]) -> str | None:
    for e in events:
        if isinstance(e, ev.ExecuteResult):
            return str(e.data.get("text/plain"))
    return None


@pytest.fixture
def runtime_dir(sshd: SSHD) -> Path:
    return sshd.remote_home / ".local/share/jupyter/runtime"


@pytest_asyncio.fixture
async def kernel(kernels: HostKernels) -> AsyncIterator[RemoteKernel]:
    started = await kernels.start(python=PY)
    try:
        yield started
    finally:
        with __import__("contextlib").suppress(Exception):
            await kernels.shutdown(started)


async def test_launch_and_run_print_result_traceback(
    kernels: HostKernels, kernel: RemoteKernel, runtime_dir: Path
) -> None:
    assert kernel.launched and kernel.connection_file
    remote_file = Path(kernel.connection_file)
    assert remote_file.parent == runtime_dir
    assert remote_file.stat().st_mode & 0o777 == 0o600
    assert runtime_dir.stat().st_mode & 0o777 == 0o700
    # The local ends are Unix sockets in a private directory: no TCP listener here.
    local = kernel.tunnel.local_info
    assert local["transport"] == "ipc" and kernel.tunnel.directory is not None
    assert local["ip"] == str(kernel.tunnel.directory / "k")
    assert kernel.tunnel.directory.stat().st_mode & 0o777 == 0o700
    assert kernel.route == "streamlocal"

    out = await run(kernel, "print('hello from remote')")
    assert stdout(out) == "hello from remote\n"
    out = await run(kernel, "x = 20\nx * 2 + 2")
    assert result(out) == "42"
    out = await run(kernel, "1/0")
    errors = [e for e in out if isinstance(e, ev.Error)]
    assert errors and errors[0].ename == "ZeroDivisionError"
    assert any("\x1b[" in line for line in errors[0].traceback)  # colours kept
    assert isinstance(out[-1], ev.ExecuteReply) and out[-1].status == "error"


async def test_input_is_answered(kernel: RemoteKernel) -> None:
    out = await run(kernel, "name = input('who? ')\nprint('hi', name)", answer="ada")
    prompts = [e for e in out if isinstance(e, ev.InputRequest)]
    assert prompts and prompts[0].prompt == "who? " and not prompts[0].password
    assert stdout(out).endswith("hi ada\n")


async def test_interrupt_sleep_within_two_seconds(
    kernels: HostKernels, kernel: RemoteKernel
) -> None:
    execution = kernel.session.execute("import time; time.sleep(60)")
    events: list[ev.KernelEvent] = []

    async def collect() -> None:
        async for event in execution:
            events.append(event)

    task = asyncio.ensure_future(collect())
    await asyncio.sleep(0.5)
    started = time.monotonic()
    await kernels.interrupt(kernel)
    await asyncio.wait_for(task, 10)
    assert time.monotonic() - started < 2.0
    assert any(isinstance(e, ev.Error) and e.ename == "KeyboardInterrupt" for e in events)


async def test_restart_clears_state_and_session_continues(
    kernels: HostKernels, kernel: RemoteKernel
) -> None:
    await run(kernel, "marker = 'still here'")
    ports = {k: kernel.tunnel.local_info[k] for k in ("shell_port", "hb_port")}
    await kernels.restart(kernel)
    out = await run(kernel, "print('marker' in dir())")
    assert stdout(out) == "False\n"
    assert {k: kernel.tunnel.local_info[k] for k in ports} == ports  # same forwards


async def test_shutdown_leaves_no_process_and_no_files(kernels: HostKernels) -> None:
    kernel = await kernels.start(python=PY)
    records = {r.id: r for r in await kernels.list()}
    pid = records[kernel.id].pid
    assert pid and pid_alive(pid)
    await kernels.shutdown(kernel)
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not pid_alive(pid)
    assert kernel.connection_file and not Path(kernel.connection_file).exists()
    assert kernel.id not in {r.id for r in await kernels.list()}


@pytest.fixture
def hand_started(runtime_dir: Path, sshd: SSHD) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Kernels a person started on the remote by hand, not through rtui."""
    runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {**os.environ, "HOME": str(sshd.remote_home)}
    procs = {
        "hand-ipy": subprocess.Popen(
            [PY, "-m", "ipykernel_launcher", "-f", str(runtime_dir / "kernel-hand-ipy.json")],
            env=env, start_new_session=True, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL),
        "hand-spyder": subprocess.Popen(
            [PY, "-m", "spyder_kernels.console", "-f",
             str(runtime_dir / "kernel-hand-spyder.json")],
            env=env, start_new_session=True, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL),
    }
    deadline = time.monotonic() + 30
    for kid in procs:
        while not (runtime_dir / f"kernel-{kid}.json").exists():
            assert time.monotonic() < deadline, f"{kid} did not write its connection file"
            time.sleep(0.05)
    yield procs
    for proc in procs.values():
        proc.kill()
        proc.wait()
    for kid in procs:
        (runtime_dir / f"kernel-{kid}.json").unlink(missing_ok=True)


async def test_check_counts_live_kernels(kernels: HostKernels, kernel: RemoteKernel) -> None:
    from rtui.core.ssh.check import check_host

    status = await check_host(kernels.connection, timeout=10)
    live = sum(1 for r in await kernels.list() if r.alive)
    assert status.ok and status.kernels == live >= 1


async def test_attach_by_id_to_hand_started_kernels_and_list_them(
    kernels: HostKernels, hand_started: dict[str, subprocess.Popen[bytes]], runtime_dir: Path
) -> None:
    stale = runtime_dir / "kernel-stale.json"
    stale.write_text(json.dumps({
        "shell_port": 9, "iopub_port": 9, "stdin_port": 9, "control_port": 9, "hb_port": 9,
        "ip": "127.0.0.1", "key": "x", "transport": "tcp", "signature_scheme": "hmac-sha256",
    }))
    try:
        records = {r.id: r for r in await kernels.list()}
        for kid, proc in hand_started.items():
            assert records[kid].alive and not records[kid].rtui
            assert records[kid].pid == proc.pid
        assert records["hand-spyder"].kind == "spyder"
        assert not records["stale"].alive
        for kid in hand_started:
            kernel = await kernels.attach(kid)
            assert not kernel.launched
            out = await run(kernel, "import os; print(os.getpid())")
            assert stdout(out).strip() == str(hand_started[kid].pid)
            await kernels.interrupt(kernel)  # by signal: the pid is known
            await kernels.detach(kernel)
            assert hand_started[kid].poll() is None  # detaching leaves it running
    finally:
        stale.unlink()


async def test_code_given_to_attach_and_start_goes_out_during_the_start(
    kernels: HostKernels, kernel: RemoteKernel
) -> None:
    """`rtui run`'s code is sent right behind the start's kernel_info (a round trip sooner
    on a far link): it is under way when attach/start return, and all it prints arrives,
    even live-only (console=False: no replay of the past), its result with it."""
    code = "for i in range(300): print(i, flush=True)\n6*7"
    by_id = await kernels.attach(kernel.id, code=code, console=False)
    try:
        assert by_id.first is not None
        got = [event async for event in by_id.first]
        assert stdout(got).split() == [str(i) for i in range(300)]
        assert result(got) == "42"
        assert result(await run(by_id, "6*8")) == "48"  # the session goes on as usual
    finally:
        await kernels.detach(by_id)
    started = await kernels.start(python=PY, code="print('hi'); 6*7")
    try:
        assert started.first is not None
        got = [event async for event in started.first]
        assert stdout(got) == "hi\n" and result(got) == "42"
    finally:
        await kernels.shutdown(started)


async def test_attach_by_remote_path_and_local_file(
    kernels: HostKernels, kernel: RemoteKernel, tmp_path: Path, sshd: SSHD
) -> None:
    assert kernel.connection_file
    await run(kernel, "shared = 'yes'")
    # "~" is the remote home: this path does not exist here, only on the host.
    remote = "~/" + str(Path(kernel.connection_file).relative_to(sshd.remote_home))
    by_path = await kernels.attach(remote)
    assert by_path.connection_file == kernel.connection_file
    assert result(await run(by_path, "shared")) == "'yes'"
    await kernels.detach(by_path)
    local = tmp_path / "copy.json"
    local.write_text(Path(kernel.connection_file).read_text())
    by_file = await kernels.attach(str(local))
    assert by_file.connection_file == kernel.connection_file  # found by its ports
    assert result(await run(by_file, "shared")) == "'yes'"
    await kernels.detach(by_file)


async def test_reattach_after_the_connection_drops(sshd: SSHD, isolated_home: Path) -> None:
    async with TCPRelay("127.0.0.1", sshd.port) as relay:
        (isolated_home / ".ssh").mkdir(exist_ok=True)
        (isolated_home / ".ssh" / "known_hosts").write_text(
            relay.known_hosts_line(sshd.host_key_pub) + "\n")
        settings = Settings(reconnect_max_delay=0.5, connect_timeout=5)
        conn, events = connection(host_for(sshd, port=relay.port, python=PY), settings=settings)
        service = HostKernels(conn, python=PY)
        kernel = await service.start(python=PY)
        restored = asyncio.Event()
        kernel.tunnel.on_restored(restored.set)
        try:
            await run(kernel, "survivor = 'alive'")
            relay.cut()  # the network drops every connection
            dropped = time.monotonic()
            await events.until(lambda e: e.state is ConnState.LOST, timeout=10)
            await asyncio.wait_for(restored.wait(), 15)
            # As the console does: wait until shell answers and iopub is subscribed again
            # (a zmq SUB reconnects on its own, a moment after the forward is back).
            await kernel.session.wait_ready(10)
            reattached = time.monotonic() - dropped
            assert result(await run(kernel, "survivor")) == "'alive'"
            assert reattached < 5, reattached
            for drop in range(3):  # drop after drop, the session goes on
                restored.clear()
                relay.cut()
                await asyncio.wait_for(restored.wait(), 15)
                await kernel.session.wait_ready(10)
                assert result(await run(kernel, f"'after drop {drop}'")) == f"'after drop {drop}'"
        finally:
            await service.shutdown(kernel)
            await service.close()
            await conn.close()


async def test_a_configured_python_given_with_tilde_or_as_its_environment(
        sshd: SSHD, lab_env: Path, isolated_home: Path) -> None:
    """``python = "~/envs/lab/bin/python"`` or ``"~/envs/lab"`` (what people write): the
    check finds it, the agent starts on it, and a kernel runs in it."""
    from rtui.core.ssh.check import check_host

    interpreter = lab_env
    trust(sshd, isolated_home)
    for configured in ("~/envs/lab/bin/python", "~/envs/lab", str(interpreter.parent.parent)):
        conn, _ = connection(host_for(sshd, python=configured))
        service = HostKernels(conn, python=configured)
        kernel = None
        try:
            status = await check_host(conn, timeout=20, extra_pythons=[configured])
            found = [p for p in status.pythons if configured in p.given]
            assert found and found[0].path == str(interpreter) and found[0].ipykernel, status
            kernel = await service.start(python=found[0].path)  # Enter: straight to it
            assert result(await run(kernel, "import sys; sys.executable")) == repr(
                str(interpreter))
            envs = await service.environments()  # the agent itself runs on it
            assert any(e.kind == "configured" and e.python == str(interpreter) for e in envs)
            await service.shutdown(kernel)
            kernel = await service.start(python=configured)  # `kernel start --env` as written
            assert result(await run(kernel, "import sys; sys.executable")) == repr(
                str(interpreter))
        finally:
            if kernel is not None:
                await service.shutdown(kernel)
            await service.close()
            await conn.close()


def test_cli_envs_kernels_run_and_stop(sshd: SSHD, isolated_home: Path) -> None:
    trust(sshd, isolated_home)
    add = run_rtui("hosts", "add", "lab", "--hostname", "127.0.0.1", "--port", str(sshd.port),
                   "--user", sshd.user, "--identity", str(sshd.client_key), "--python", PY)
    assert add.returncode == 0, add.stderr
    envs = run_rtui("envs", "lab", "--json")
    assert envs.returncode == 0, envs.stderr
    assert any(e["python"] == PY and e["ipykernel"] for e in json.loads(envs.stdout))

    ran = run_rtui("run", "lab", "-c", "import sys\nprint('out')\nprint('err', file=sys.stderr)"
                   "\nname = input('name? ')\nprint('hi', name)\n6*7", input="ada\n")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[0] == "out"
    assert "hi ada" in ran.stdout and "42" in ran.stdout
    assert "err" in ran.stderr

    failed = run_rtui("run", "lab", "-c", "raise ValueError('boom')")
    assert failed.returncode == 1
    assert "ValueError" in failed.stderr and "boom" in failed.stderr
    assert "\x1b[" not in failed.stderr  # no colour codes when not a terminal

    started = run_rtui("kernel", "start", "lab")
    assert started.returncode == 0, started.stderr
    kid = started.stdout.split()[2]
    listed = json.loads(run_rtui("kernels", "lab", "--json").stdout)
    assert any(k["id"] == kid and k["alive"] and k["rtui"] for k in listed)
    attached = run_rtui("run", "lab", "-k", kid, "-c", "v = 5")
    assert attached.returncode == 0
    assert run_rtui("run", "lab", "-k", kid, "-c", "print(v)").stdout == "5\n"  # kept running
    assert run_rtui("kernel", "interrupt", "lab", kid).returncode == 0
    assert run_rtui("kernel", "restart", "lab", kid).returncode == 0
    assert run_rtui("run", "lab", "-k", kid, "-c", "print('v' in dir())").stdout == "False\n"
    stopped = run_rtui("kernel", "stop", "lab", kid)
    assert stopped.returncode == 0, stopped.stderr
    listed = json.loads(run_rtui("kernels", "lab", "--json").stdout)
    assert all(k["id"] != kid for k in listed)
    missing = run_rtui("run", "lab", "-k", "nope", "-c", "1")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
