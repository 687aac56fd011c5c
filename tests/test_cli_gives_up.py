"""``rtui run`` ends, with the reason, when its host does not come back: gone for good
(given up after ``settings.reconnect_give_up``), or back with another host key (the refusal
shown in full). Real sshd, a relay to make the host vanish, the real ``rtui`` command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

from tests.conftest import run_rtui
from tests.harness.relay import TCPRelay
from tests.harness.sshd import SSHD
from tests.ssh_helpers import trust

PY = sys.executable
SLOW_CELL = "import time\nprint('running', flush=True)\ntime.sleep(120)"


def write_config(config_file: Path, sshd: SSHD, port: int, **settings: float) -> None:
    config_file.parent.mkdir(parents=True, exist_ok=True)
    table = "".join(f"{k} = {v}\n" for k, v in settings.items())
    config_file.write_text(
        f"[settings]\n{table}\n[[hosts]]\nname = \"lab\"\nhostname = \"127.0.0.1\"\n"
        f"port = {port}\nuser = \"{sshd.user}\"\nidentity_files = [\"{sshd.client_key}\"]\n"
        f"python = \"{PY}\"\n")


async def start_run(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rtui", "run", "lab", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=dict(os.environ))


async def until_running(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    assert line == b"running\n", line


async def ends(process: asyncio.subprocess.Process, within: float) -> tuple[int, str]:
    try:
        _, err = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"rtui run did not end within {within:g} s") from None
    assert process.returncode is not None
    # notes (a kernel on TCP that others can read) are not what is tested here
    said = [line for line in err.decode().splitlines(keepends=True)
            if not line.startswith("rtui: note: ")]
    return process.returncode, "".join(said)


async def test_run_gives_up_on_a_host_gone_for_good(
    sshd: SSHD, isolated_home: Path, config_file: Path,
) -> None:
    async with TCPRelay("127.0.0.1", sshd.port) as relay:
        (isolated_home / ".ssh").mkdir(exist_ok=True)
        (isolated_home / ".ssh" / "known_hosts").write_text(
            relay.known_hosts_line(sshd.host_key_pub) + "\n")
        write_config(config_file, sshd, relay.port, keepalive_interval=1,
                     keepalive_count_max=2, connect_timeout=2, reconnect_give_up=3)
        process = await start_run("-c", SLOW_CELL)
        await until_running(process)
        relay.freeze()  # silent: no FIN, no RST, new connections hang (a host powered off)
        t0 = time.monotonic()
        code, err = await ends(process, 30)
        elapsed = time.monotonic() - t0
    assert code == 1, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "rtui: cannot reach lab again: gave up after 3 s and "), err
    assert lines[0].endswith("; settings.reconnect_give_up says how long"), err
    # noticed after 2 s of silence, given up 3 s later (+ an attempt's 2 s connect timeout)
    assert 4 < elapsed < 12, elapsed


async def test_run_shows_a_host_key_changed_on_reconnect_in_full(
    fresh_sshd: SSHD, isolated_home: Path, config_file: Path,
) -> None:
    trust(fresh_sshd, isolated_home)
    write_config(config_file, fresh_sshd, fresh_sshd.port, reconnect_give_up=30)
    started = await asyncio.to_thread(run_rtui, "kernel", "start", "lab")
    assert started.returncode == 0, started.stderr
    kid = started.stdout.split()[2]
    listed = await asyncio.to_thread(run_rtui, "kernels", "lab", "--json")
    pid = next(k["pid"] for k in json.loads(listed.stdout) if k["id"] == kid)
    try:
        process = await start_run("-k", kid, "-c", SLOW_CELL)
        await until_running(process)
        await asyncio.to_thread(fresh_sshd.restart, new_host_key=True)
        code, err = await ends(process, 30)
    finally:
        os.kill(pid, signal.SIGKILL)
    assert code == 1, err
    entry = f"[127.0.0.1]:{fresh_sshd.port}"
    assert err.startswith(f"rtui: HOST KEY CHANGED for {entry}: refusing to connect. It now "
                          "presents ssh-ed25519 SHA256:"), err
    assert "but the key on record is ssh-ed25519 SHA256:" in err
    assert f"(ssh-keygen -R '{entry}' -f ~/.ssh/known_hosts)." in err
    assert len(err.splitlines()) == 1, err


async def test_run_ends_when_its_cell_ended_during_an_outage(
    sshd: SSHD, isolated_home: Path, config_file: Path,
) -> None:
    """The kernel's execute_reply, sent while the link was down, is lost for good: once the
    link is back, rtui run ends (with the output kept meanwhile, when there is a keeper)
    instead of waiting for that reply for ever."""
    async with TCPRelay("127.0.0.1", sshd.port) as relay:
        (isolated_home / ".ssh").mkdir(exist_ok=True)
        (isolated_home / ".ssh" / "known_hosts").write_text(
            relay.known_hosts_line(sshd.host_key_pub) + "\n")
        write_config(config_file, sshd, relay.port, reconnect_max_delay=1)
        process = await start_run(
            "-c", "import time\nprint('running', flush=True)\ntime.sleep(1)\nprint('done')")
        await until_running(process)
        relay.refuse_new = True
        relay.cut()
        await asyncio.sleep(3)  # the cell ends meanwhile
        relay.refuse_new = False
        code, err = await ends(process, 30)
    assert "Traceback" not in err
    if code != 0:  # the reply was lost: said so, not waited for
        assert code == 1 and "this execution's reply was lost" in err, err
