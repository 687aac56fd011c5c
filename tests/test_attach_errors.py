"""Attaching goes wrong in named ways, quickly: a malformed connection file (here or on the
host), a kernel that is gone, a key that is not the kernel's. Real sshd, real kernels, the
real ``rtui`` command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

from rtui.core.errors import KernelDiedError, KernelError, SignatureMismatchError
from rtui.core.kernels.liveness import PROBE_AFTER, shell_listens, start_session
from rtui.core.kernels.service import HostKernels
from rtui.core.kernels.session import KernelSession
from rtui.core.kernels.tunnel import KernelTunnel
from tests.conftest import run_rtui
from tests.harness.kernels import connection_info as kernel_info
from tests.harness.kernels import launch_local_kernel
from tests.harness.sshd import SSHD, free_port, pid_alive
from tests.ssh_helpers import trust

PY = sys.executable

GOOD = {"shell_port": 50001, "iopub_port": 50002, "stdin_port": 50003, "control_port": 50004,
        "hb_port": 50005, "ip": "127.0.0.1", "key": "k", "transport": "tcp",
        "signature_scheme": "hmac-sha256"}


def add_host(sshd: SSHD, home: Path, name: str = "lab") -> None:
    trust(sshd, home)
    add = run_rtui("hosts", "add", name, "--hostname", "127.0.0.1", "--port", str(sshd.port),
                   "--user", sshd.user, "--identity", str(sshd.client_key), "--python", PY)
    assert add.returncode == 0, add.stderr


def test_cli_names_each_problem_of_a_local_connection_file(
    sshd: SSHD, isolated_home: Path, tmp_path: Path,
) -> None:
    add_host(sshd, isolated_home)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    files = {
        "list.json": (json.dumps([GOOD]).encode(), "it holds a list of 1 item"),
        "binary.json": (bytes(range(256)) * 4, "it is binary"),
        "deep.json": (b"[" * 100_000 + b"]" * 100_000, "its JSON is nested too deeply"),
        "huge.json": (b" " * (2 << 20), "it is over 1024 KiB"),
        "fields.json": (json.dumps({**GOOD, "shell_port": "x", "key": 1,
                                    "signature_scheme": "hmac-nope"}).encode(),
                        "shell_port: must be a number, got the string 'x'\n"
                        "rtui:   key: must be a string, got a number\n"
                        "rtui:   signature_scheme: unknown hash 'nope'"),
    }
    for name, (data, _) in files.items():
        (tmp_path / name).write_bytes(data)
    cases = {**{name: expected for name, (_, expected) in files.items()},
             "fifo.json": "it is a FIFO (named pipe), not a file"}
    for name, expected in cases.items():
        path = str(tmp_path / name)
        started = time.monotonic()
        ran = run_rtui("run", "lab", "-k", path, "-c", "1", timeout=30)
        assert ran.returncode == 1, (name, ran.stderr)
        assert ran.stderr.startswith(
            f"rtui: {path} is not a usable kernel connection file:\nrtui:   "), ran.stderr
        assert expected in ran.stderr, ran.stderr
        assert "Traceback" not in ran.stderr and ran.stdout == ""
        assert time.monotonic() - started < 10, name


def test_a_malformed_connection_file_on_the_host_is_named(
    sshd: SSHD, isolated_home: Path,
) -> None:
    add_host(sshd, isolated_home)
    runtime = sshd.remote_home / ".local/share/jupyter/runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    bad = runtime / "kernel-badports.json"
    fifo = runtime / "kernel-fifo.json"
    bad.write_text(json.dumps({**GOOD, "hb_port": 70000, "transport": "udp"}))
    os.mkfifo(fifo)
    try:
        ran = run_rtui("run", "lab", "-k", "badports", "-c", "1", timeout=60)
        assert ran.returncode == 1, ran.stderr
        assert ran.stderr.splitlines()[1:] == [
            "rtui:   transport: must be \"tcp\" or \"ipc\", got 'udp'",
            "rtui:   hb_port: must be between 1 and 65535, got 70000"], ran.stderr
        started = time.monotonic()
        ran = run_rtui("run", "lab", "-k", "fifo", "-c", "1", timeout=60)
        assert ran.returncode == 1, ran.stderr
        assert f"lab:{fifo} is not a usable kernel connection file" in ran.stderr
        assert "it is not a regular file" in ran.stderr and "Traceback" not in ran.stderr
        assert time.monotonic() - started < 15
        listed = run_rtui("kernels", "lab", timeout=60)  # a FIFO does not hang the list
        assert listed.returncode == 0 and "badports  DEAD" in listed.stdout, listed.stderr
    finally:
        bad.unlink()
        fifo.unlink()


def test_cli_attach_to_a_dead_kernel_says_so_at_once_and_restart_revives_it(
    sshd: SSHD, isolated_home: Path, tmp_path: Path,
) -> None:
    add_host(sshd, isolated_home)
    started = run_rtui("kernel", "start", "lab")
    assert started.returncode == 0, started.stderr
    kid = started.stdout.split()[2]
    try:
        record = next(k for k in json.loads(run_rtui("kernels", "lab", "--json").stdout)
                      if k["id"] == kid)
        local = tmp_path / "copy.json"
        local.write_text(Path(record["connection_file"]).read_text())
        os.kill(record["pid"], signal.SIGKILL)
        wait_until(lambda: not pid_alive(record["pid"]), 10)
        for spec in (kid, str(local)):
            t0 = time.monotonic()
            ran = run_rtui("run", "lab", "-k", spec, "-c", "1", timeout=60)
            elapsed = time.monotonic() - t0
            assert ran.returncode == 1, ran.stderr
            assert ran.stderr.startswith(
                f"rtui: kernel {kid} on lab is not running (its process {record['pid']} has "
                "exited"), ran.stderr
            assert f"rtui kernel restart lab {kid}" in ran.stderr
            assert "Traceback" not in ran.stderr and elapsed < 10, elapsed
        restarted = run_rtui("kernel", "restart", "lab", kid, timeout=90)
        assert restarted.returncode == 0, restarted.stderr
        assert restarted.stdout == f"restarted kernel {kid} on lab\n"
        ran = run_rtui("run", "lab", "-k", kid, "-c", "print(6*7)")
        assert (ran.returncode, ran.stdout) == (0, "42\n"), ran.stderr
    finally:
        run_rtui("kernel", "stop", "lab", kid)


def test_cli_names_a_wrong_key_in_a_local_copy_within_two_seconds(
    sshd: SSHD, isolated_home: Path, tmp_path: Path,
) -> None:
    add_host(sshd, isolated_home)
    started = run_rtui("kernel", "start", "lab")
    assert started.returncode == 0, started.stderr
    kid = started.stdout.split()[2]
    try:
        record = next(k for k in json.loads(run_rtui("kernels", "lab", "--json").stdout)
                      if k["id"] == kid)
        info = json.loads(Path(record["connection_file"]).read_text())
        local = tmp_path / "wrong.json"
        local.write_text(json.dumps({**info, "key": "0" * 64}))
        t0 = time.monotonic()
        ran = run_rtui("run", "lab", "-k", str(local), "-c", "1", timeout=60)
        assert ran.returncode == 1
        assert ran.stderr.startswith(
            f"rtui: signature mismatch: the key in {local} is not this kernel's key"), ran.stderr
        assert ran.stderr.count("\n") == 1 and "Traceback" not in ran.stderr
        # no 30 s wait (the 2 s bound is measured in-process below: here Python's start
        # and the login are counted too, and they vary with the machine's load)
        assert time.monotonic() - t0 < 10
    finally:
        run_rtui("kernel", "stop", "lab", kid)


@pytest.fixture
def unlisted_kernel(tmp_path: Path) -> Iterator[KernelManager]:
    """A kernel whose connection file the host does not list (not in its runtime dir)."""
    km = launch_local_kernel(tmp_path / "unlisted")
    try:
        yield km
    finally:
        km.shutdown_kernel(now=True)


async def test_a_wrong_key_is_named_once_within_two_seconds_while_another_client_works(
    kernels: HostKernels, unlisted_kernel: KernelManager, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    other = unlisted_kernel.client()
    other.start_channels()
    try:
        other.wait_for_ready(30)
        other.execute("import time\nfor i in range(400):\n print(i, flush=True)\n"
                      " time.sleep(0.05)")
        local = tmp_path / "wrong.json"
        local.write_text(json.dumps({**kernel_info(unlisted_kernel), "key": "0" * 64}))
        await kernels.connection.connect()
        t0 = time.monotonic()
        with pytest.raises(SignatureMismatchError) as caught:
            await kernels.attach(str(local))
        assert time.monotonic() - t0 < 2
        assert str(caught.value).startswith(
            f"signature mismatch: the key in {local} is not this kernel's key")
        said = [r for r in caplog.records if "signature" in r.getMessage()]
        assert len(said) == 1 and said[0].exc_info is None, said
    finally:
        other.stop_channels()


async def test_a_gone_kernel_nobody_lists_is_named_within_two_seconds(
    kernels: HostKernels, unlisted_kernel: KernelManager, tmp_path: Path,
) -> None:
    local = tmp_path / "gone.json"
    local.write_text(json.dumps(kernel_info(unlisted_kernel)))
    unlisted_kernel.shutdown_kernel(now=True)
    await kernels.connection.connect()
    t0 = time.monotonic()
    with pytest.raises(KernelDiedError) as caught:
        await kernels.attach(str(local))
    assert time.monotonic() - t0 < 1 + PROBE_AFTER
    assert str(caught.value) == (
        f"the kernel of {local} is not running: nothing answers on its shell socket on t")


def wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_cli_run_reports_a_kernel_that_dies_mid_cell(
    sshd: SSHD, isolated_home: Path,
) -> None:
    add_host(sshd, isolated_home)
    started = run_rtui("kernel", "start", "lab")
    assert started.returncode == 0, started.stderr
    kid = started.stdout.split()[2]
    try:
        t0 = time.monotonic()
        ran = run_rtui("run", "lab", "-k", kid, "-c",
                       "import os, time\nprint('going', flush=True)\ntime.sleep(0.5)\n"
                       "os._exit(3)", timeout=60)
        elapsed = time.monotonic() - t0
        assert ran.returncode == 1, ran.stderr
        assert ran.stdout == "going\n"
        # Said by the kernel's keeper (its exit code, at once) or, without one, by the
        # heartbeat and the agent's process check; either names the kernel and its host.
        by_keeper = f"rtui: lab:{kid}: the kernel exited with code 3" in ran.stderr
        assert by_keeper or f"kernel {kid} on lab" in ran.stderr, ran.stderr
        assert "Traceback" not in ran.stderr
        assert "exit" in ran.stderr or "not running" in ran.stderr, ran.stderr
        assert elapsed < 5 + 3, elapsed  # reported within 5 s (+ starting rtui, attaching)
        restarted = run_rtui("kernel", "restart", "lab", kid, timeout=90)
        assert restarted.returncode == 0, restarted.stderr
        assert run_rtui("run", "lab", "-k", kid, "-c", "print(1)").stdout == "1\n"
    finally:
        run_rtui("kernel", "stop", "lab", kid)


async def test_the_shell_probe_and_a_silent_kernel_that_listens(
    kernels: HostKernels, unlisted_kernel: KernelManager,
) -> None:
    """A kernel that listens but never answers (idle, so nothing of its fails our check):
    the probe sees it listening, and the timeout says the key may be the cause."""
    client = unlisted_kernel.client()
    client.start_channels()
    try:
        await asyncio.to_thread(client.wait_for_ready, 30)
    finally:
        client.stop_channels()
    info = kernel_info(unlisted_kernel)
    await kernels.connection.connect()
    assert await shell_listens(kernels.routes, info) is True
    assert await shell_listens(kernels.routes, {**info, "shell_port": free_port()}) is False
    wrong = {**info, "key": "0" * 64}
    tunnel = KernelTunnel(kernels.routes, wrong)
    session = KernelSession.over_zmq(await tunnel.open(), name="t:silent")
    try:
        with pytest.raises(KernelError) as caught:
            await start_session(session, where="wrong.json", host="t", kernel_id="silent",
                                routes=kernels.routes, remote_info=wrong, known=False,
                                timeout=PROBE_AFTER + 2)
        assert type(caught.value) is KernelError
        assert str(caught.value).endswith(
            "; something listens on the kernel's shell socket, so the key in wrong.json may "
            "not be this kernel's (a kernel ignores requests signed with another key)")
    finally:
        await session.close()
        await tunnel.close()


async def test_a_wrong_key_in_a_copy_of_a_listed_kernel_is_named_within_two_seconds(
    kernels: HostKernels, tmp_path: Path,
) -> None:
    kernel = await kernels.start(python=PY)
    try:
        assert kernel.connection_file
        info = json.loads(Path(kernel.connection_file).read_text())
        local = tmp_path / "wrong.json"
        local.write_text(json.dumps({**info, "key": "0" * 64}))
        t0 = time.monotonic()
        with pytest.raises(SignatureMismatchError) as caught:
            await kernels.attach(str(local))
        assert time.monotonic() - t0 < 2
        assert str(caught.value) == (
            f"signature mismatch: the key in {local} is not this kernel's key (the kernel on "
            f"these ports is t:{kernel.connection_file})")
    finally:
        await kernels.shutdown(kernel)


async def test_a_local_ipc_file_is_matched_by_its_socket_path_not_only_its_ports(
    kernels: HostKernels, sshd: SSHD, tmp_path: Path,
) -> None:
    """Every ipc kernel's "ports" are 1-5: a local copy is the host's kernel with the same
    socket path (here both are gone: the message names the right one)."""
    runtime = sshd.remote_home / ".local/share/jupyter/runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    ipc = {"transport": "ipc", "shell_port": 1, "iopub_port": 2, "stdin_port": 3,
           "control_port": 4, "hb_port": 5, "signature_scheme": "hmac-sha256"}
    files = []
    for name in ("ipc-a", "ipc-b"):
        path = runtime / f"kernel-{name}.json"
        path.write_text(json.dumps({**ipc, "ip": str(tmp_path / name / "k"), "key": name}))
        files.append(path)
        os.utime(path, (1_000_000 * len(files),) * 2)  # a is listed first (older)
    local = tmp_path / "copy-of-b.json"
    local.write_text(files[1].read_text())
    try:
        with pytest.raises(KernelDiedError) as caught:
            await kernels.attach(str(local))
        assert str(caught.value).startswith("kernel ipc-b on t is not running"), caught.value
    finally:
        for path in files:
            path.unlink()


def test_cli_run_reports_a_kernel_it_started_that_is_killed_mid_cell(
    sshd: SSHD, isolated_home: Path,
) -> None:
    add_host(sshd, isolated_home)
    before = {k["id"] for k in json.loads(run_rtui("kernels", "lab", "--json").stdout)}
    t0 = time.monotonic()
    ran = run_rtui("run", "lab", "-c", "import os, signal, time\nprint('going', flush=True)\n"
                   "time.sleep(0.5)\nos.kill(os.getpid(), signal.SIGKILL)", timeout=60)
    elapsed = time.monotonic() - t0
    assert ran.returncode == 1, ran.stderr
    assert ran.stdout == "going\n" and "Traceback" not in ran.stderr
    assert "on lab is not running" in ran.stderr or "killed" in ran.stderr, ran.stderr
    assert elapsed < 20, elapsed  # starting a kernel, then reported within seconds
    after = {k["id"] for k in json.loads(run_rtui("kernels", "lab", "--json").stdout)}
    assert after <= before  # the dead kernel it started was removed
