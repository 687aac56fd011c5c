"""Nothing lost, nothing twice, every failure said: `rtui run -k` and `rtui log` against the
real sshd, the real agent and its output keeper, and real kernels (a flood through link
faults and a stopped client: tests/test_flood_faults.py).

One kernel serves the flood tests (each reads only its own cell's lines); the tests that
kill a kernel start their own.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.sshd import SSHD

PY = sys.executable
RATE = 2000  # lines a second, a flush for each
SECONDS = 10


def flood_code(tag: str, lines: int = RATE * SECONDS, rate: int = RATE) -> str:
    """A cell printing ``lines`` numbered lines at ``rate`` a second, a flush per line."""
    return (
        "import time\n"
        "t0 = time.monotonic()\n"
        f"for i in range({lines}):\n"
        f"    print('{tag}', i, flush=True)\n"
        f"    ahead = t0 + i / {rate} - time.monotonic()\n"
        "    if ahead > 0: time.sleep(ahead)\n"
    )


def numbers(stdout: str, tag: str) -> list[int]:
    return [int(m) for m in re.findall(rf"^{tag} (\d+)$", stdout, re.M)]


def write_config(home: Path, sshd: SSHD, port: int, **settings: float) -> dict[str, str]:
    """A hosts file naming host ``lab`` at ``port`` (the relay's), its key trusted there;
    the environment that makes ``rtui`` use ``home``."""
    config = home / ".config" / "rtui"
    config.mkdir(parents=True, exist_ok=True)
    lines = ["[settings]", *(f"{k} = {v}" for k, v in settings.items()), "",
             "[[hosts]]", 'name = "lab"', 'hostname = "127.0.0.1"', f"port = {port}",
             f'user = "{sshd.user}"', f'identity_files = ["{sshd.client_key}"]',
             f'python = "{PY}"', ""]
    (config / "hosts.toml").write_text("\n".join(lines))
    ssh = home / ".ssh"
    ssh.mkdir(exist_ok=True)
    key_type, key_data = sshd.host_key_pub.read_text().split()[:2]
    (ssh / "known_hosts").write_text(f"[127.0.0.1]:{port} {key_type} {key_data}\n")
    env = {"HOME": str(home)}
    for var, sub in (("XDG_CONFIG_HOME", ".config"), ("XDG_DATA_HOME", ".local/share"),
                     ("XDG_STATE_HOME", ".local/state"), ("XDG_CACHE_HOME", ".cache")):
        env[var] = str(home / sub)
    return env


async def rtui(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        PY, "-m", "rtui", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, **env})


async def finish(process: asyncio.subprocess.Process, timeout: float) -> tuple[str, str]:
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return out.decode(), err.decode()


def start_kernel(env: dict[str, str]) -> str:
    import subprocess

    started = subprocess.run([PY, "-m", "rtui", "kernel", "start", "lab"], env={
        **os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    return started.stdout.split()[2]


def stop_kernel(env: dict[str, str], kid: str) -> None:
    import subprocess

    subprocess.run([PY, "-m", "rtui", "kernel", "stop", "lab", kid], env={
        **os.environ, **env}, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def shared_kernel(sshd: SSHD, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A kernel for the flood tests, started straight through the sshd."""
    env = write_config(tmp_path_factory.mktemp("starter"), sshd, sshd.port)
    kid = start_kernel(env)
    try:
        yield kid
    finally:
        stop_kernel(env, kid)


# A keepalive that gives up after ~3 s of silence (tests/test_flood_faults.py).
FAST_KEEPALIVE = {"keepalive_interval": 1.0, "keepalive_count_max": 3,
                  "reconnect_max_delay": 0.5, "connect_timeout": 5.0}


async def _read_all(stream: asyncio.StreamReader, into: bytearray) -> None:
    while chunk := await stream.read(1 << 16):
        into += chunk


async def test_quitting_while_a_cell_prints_loses_nothing(
        sshd: SSHD, shared_kernel: str, isolated_home: Path) -> None:
    env = write_config(isolated_home, sshd, sshd.port)
    lines = 6000  # 3 s at 2,000 lines/s
    process = await rtui(env, "run", "lab", "-k", shared_kernel, "-c",
                         flood_code("Q", lines))
    assert process.stdout is not None
    printed = bytearray()
    reading = asyncio.ensure_future(_read_all(process.stdout, printed))
    async with asyncio.timeout(60):
        while b"Q 1000\n" not in printed:
            await asyncio.sleep(0.05)
    process.send_signal(signal.SIGINT)  # the person quits: the cell runs on
    await asyncio.wait_for(reading, 30)
    await finish(process, 30)
    seen = numbers(printed.decode(), "Q")
    assert seen == list(range(len(seen))) and len(seen) < lines, len(seen)
    await asyncio.sleep(4)  # the cell has ended meanwhile
    log = await rtui(env, "log", "lab", shared_kernel)
    out, err = await finish(log, 60)
    assert log.returncode == 0, err
    assert numbers(out, "Q") == list(range(lines))  # rtui log shows what was printed
    tail = await rtui(env, "log", "lab", shared_kernel, "-n", "3")
    out, err = await finish(tail, 60)
    assert out.splitlines() == [f"Q {n}" for n in range(lines - 3, lines)], err
    # Attaching again shows what was printed since this console left, then runs the code.
    again = await rtui(env, "run", "lab", "-k", shared_kernel, "-c", "print('after')")
    out, err = await finish(again, 60)
    assert again.returncode == 0, err
    # What this run shows starts where the first one stopped: together they hold every line
    # once. (A line may straddle the two: print() writes "Q", " ", "1137", "\n" one by one,
    # and ipykernel's timed flush can send them in two stream messages, the quit falling
    # between them: the first run ends in "Q", this one starts with " 1137".)
    both = numbers(printed.decode() + out, "Q")
    assert both == list(range(lines)), (len(seen), both[len(seen) - 2:len(seen) + 2])
    assert numbers(out, "Q")[-1] == lines - 1
    assert out.rstrip().endswith("after")
    assert "rtui: replayed" in err


async def test_rtui_log_follows_until_ctrl_c(
        sshd: SSHD, shared_kernel: str, isolated_home: Path) -> None:
    env = write_config(isolated_home, sshd, sshd.port)
    follower = await rtui(env, "log", "lab", shared_kernel, "-n", "0", "-f")
    await asyncio.sleep(3)
    run = await rtui(env, "run", "lab", "-k", shared_kernel, "-c",
                     "for i in range(5): print('F', i, flush=True)")
    await finish(run, 60)
    await asyncio.sleep(1)
    assert follower.returncode is None  # still following
    follower.send_signal(signal.SIGINT)
    out, err = await finish(follower, 15)
    assert follower.returncode == 0, err
    assert numbers(out, "F") == list(range(5))
    assert "Traceback" not in err


async def test_rtui_run_asks_what_a_cell_asked_while_nobody_was_attached(
        sshd: SSHD, shared_kernel: str, isolated_home: Path) -> None:
    env = write_config(isolated_home, sshd, sshd.port)

    async def run(code: str) -> asyncio.subprocess.Process:
        pipe = asyncio.subprocess.PIPE
        return await asyncio.create_subprocess_exec(
            PY, "-m", "rtui", "run", "lab", "-k", shared_kernel, "-c", code, stdin=pipe,
            stdout=pipe, stderr=pipe, env={**os.environ, **env})

    first = await run("answer = input('name? ')\nprint('hello', answer)")
    assert first.stdout is not None
    asked = b""
    async with asyncio.timeout(60):
        while b"name? " not in asked:
            asked += await first.stdout.read(100)
    first.send_signal(signal.SIGINT)  # the person quits without answering
    await finish(first, 10)  # at once: no thread left reading the terminal holds it up
    again = await run("print('then', answer)")
    out, err = await asyncio.wait_for(again.communicate(b"ada\n"), 60)
    assert again.returncode == 0, err.decode()
    text = out.decode()
    assert text.index("name? ") < text.index("hello ada") < text.index("then ada"), text
    assert "Traceback" not in err.decode()


@pytest.mark.parametrize("death", ["os._exit(1)", "SIGKILL"])
async def test_a_kernel_dying_mid_cell_is_said_within_5_s(
        death: str, sshd: SSHD, isolated_home: Path) -> None:
    env = write_config(isolated_home, sshd, sshd.port)
    kid = await asyncio.to_thread(start_kernel, env)
    try:
        kill = ("import os; os._exit(1)" if death == "os._exit(1)" else
                "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
        code = ("import sys, time\nprint('working', flush=True)\n"
                "print('about to die', file=sys.stderr, flush=True)\ntime.sleep(1)\n" + kill)
        process = await rtui(env, "run", "lab", "-k", kid, "-c", code)
        out = b""
        assert process.stdout is not None
        while b"working" not in out:
            out += await asyncio.wait_for(process.stdout.read(100), 30)
        printed = time.monotonic()
        _, err = await finish(process, 30)
        took = time.monotonic() - printed - 1  # the cell slept 1 s before dying
        assert process.returncode not in (0, None), err
        assert took < 5, took
        if death == "SIGKILL":
            assert "killed by signal 9 (SIGKILL)" in err, err
        else:
            assert "exited with code 1" in err, err
        assert not re.search(r"^(rtui: )?Traceback", err, re.M)  # the log's are indented
        # Attaching to the dead kernel says so at once.
        started = time.monotonic()
        dead = await rtui(env, "run", "lab", "-k", kid, "-c", "1")
        _, err = await finish(dead, 30)
        assert dead.returncode != 0 and time.monotonic() - started < 10, err
    finally:
        await asyncio.to_thread(stop_kernel, env, kid)
