"""The kernel commands on a real Jupyter Server host (tests/harness/jupyter.py's session
server, token auth): check, kernels, kernel start|interrupt|restart|stop, run, log, and the
token's failures named (a wrong one: the HTTP status and where it came from; an unset
variable: its name). One kernel is shared by the lifecycle test to keep the cost low."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtui.cli.main import main
from rtui.core.config.model import Config, Host
from rtui.core.config.store import HostStore
from rtui.core.jupyter.settings import JupyterSettings
from tests.cli_helpers import cli, rtui_only
from tests.harness.jupyter import JupyterServerInfo
from tests.harness.jupyterhub import HubInfo
from tests.harness.sshd import SSHD
from tests.jupyter_hosts import jupyter_hosts

TOKEN_VAR = "RTUI_TEST_TOKEN"


@pytest.fixture
def lab(jupyter_server: JupyterServerInfo, config_file: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[JupyterServerInfo]:
    """A hosts file with the server as host "lab" (its token in $RTUI_TEST_TOKEN); the
    kernels the test left are shut down after it."""
    HostStore(config_file).update(lambda c: Config(hosts=(Host(
        name="lab", jupyter=JupyterSettings(url=jupyter_server.url, token_env=TOKEN_VAR)),)))
    monkeypatch.setenv(TOKEN_VAR, jupyter_server.token)
    before = set(jupyter_server.kernel_ids())
    yield jupyter_server
    for kernel_id in set(jupyter_server.kernel_ids()) - before:
        jupyter_server.api(f"kernels/{kernel_id}", "DELETE")


def test_check_start_run_interrupt_restart_log_stop(
        capsys: pytest.CaptureFixture[str], lab: JupyterServerInfo) -> None:
    code, out, _ = cli(capsys, "check", "lab")
    assert code == 0, out
    assert out.startswith("lab: ok | tcp ") and " | jupyter 2." in out and " | kernels " in out
    code, out, _ = cli(capsys, "check", "lab", "--json")
    status = json.loads(out)
    assert status["ok"] and status["server_version"].startswith("2.")

    code, out, _ = cli(capsys, "kernel", "start", "lab")
    assert code == 0, out
    assert out.startswith("started kernel ") and "(python3) on lab (via websocket;" in out
    kernel_id = out.split()[2]
    assert kernel_id in lab.kernel_ids()

    code, out, _ = cli(capsys, "kernels", "lab")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith(kernel_id))
    assert row.split()[1:4] == ["alive", "python3", "rtui"]
    code, out, _ = cli(capsys, "kernels", "lab", "--json")
    record = next(r for r in json.loads(out) if r["id"] == kernel_id)
    assert record["route"] == "websocket" and record["server_version"].startswith("2.")
    assert record["alive"] is True and record["kind"] == "python3"

    code, out, _ = cli(capsys, "run", "lab", "-k", kernel_id, "-c",
                       "x = 41\nprint('hello from the server')\nx + 1")
    assert (code, out) == (0, "hello from the server\n42\n")
    assert kernel_id in lab.kernel_ids()  # attached to, not started: it runs on

    # Interrupt a cell that sleeps, run by another rtui (a subprocess: this one interrupts).
    sleeper = subprocess.Popen(
        [sys.executable, "-m", "rtui", "run", "lab", "-k", kernel_id, "-c",
         "import time\nprint('sleeping', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert sleeper.stdout is not None
        assert sleeper.stdout.readline() == "sleeping\n"
        code, out, _ = cli(capsys, "kernel", "interrupt", "lab", kernel_id)
        assert (code, out) == (0, f"interrupted kernel {kernel_id} on lab\n")
        started = time.monotonic()
        _, err = sleeper.communicate(timeout=30)
        assert time.monotonic() - started < 10
        assert sleeper.returncode == 1 and "KeyboardInterrupt" in err
    finally:
        sleeper.kill()
        sleeper.wait()

    # rtui log: the server keeps a session's output only while it is the last to have
    # left; the first log says so, and a later one shows what came meanwhile.
    code, out, _ = cli(capsys, "run", "lab", "-k", kernel_id, "-c",
                       "import threading, time\nthreading.Thread(target=lambda: "
                       "(time.sleep(1), print('printed later', flush=True))).start()")
    assert (code, out) == (0, "")
    code, out, err = cli(capsys, "log", "lab", kernel_id)
    assert code == 0 and "keeps no output" in err, err
    seen, notes = out, 0
    deadline = time.monotonic() + 20
    while "printed later" not in seen and time.monotonic() < deadline:
        time.sleep(1)
        code, out, err = cli(capsys, "log", "lab", kernel_id)
        seen, notes = seen + out, notes + err.count("keeps no output")
    assert seen == "printed later\n" and notes == 0

    code, out, _ = cli(capsys, "kernel", "restart", "lab", kernel_id)
    assert (code, out) == (0, f"restarted kernel {kernel_id} on lab\n")
    code, out, _ = cli(capsys, "run", "lab", "-k", kernel_id, "-c", "'x' in globals()")
    assert (code, out) == (0, "False\n")  # the restart cleared the state

    code, out, _ = cli(capsys, "kernel", "stop", "lab", kernel_id)
    assert (code, out) == (0, f"stopped kernel {kernel_id} on lab\n")
    assert kernel_id not in lab.kernel_ids()
    code, _, err = cli(capsys, "run", "lab", "-k", kernel_id, "-c", "1")
    assert code == 1 and kernel_id in err


def test_run_starts_a_kernel_for_the_code_and_shuts_it_down(
        capsys: pytest.CaptureFixture[str], lab: JupyterServerInfo) -> None:
    before = set(lab.kernel_ids())
    code, out, _ = cli(capsys, "run", "lab", "--kernelspec", "python3", "-c", "1+1")
    assert (code, out) == (0, "2\n")
    assert set(lab.kernel_ids()) == before


def _rtui(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_wrong_token_and_an_unset_variable_are_named(
        capsys: pytest.CaptureFixture[str], lab: JupyterServerInfo, config_file: Path,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_VAR, "not-the-token")
    for command in (["kernels", "lab"], ["run", "lab", "-c", "1+1"]):
        code, out, err = _rtui(capsys, *command)
        assert code == 1 and out == "", err
        assert "403" in rtui_only(err) and f"${TOKEN_VAR}" in err, err
    code, out, _ = _rtui(capsys, "check", "lab")
    assert code == 1 and "lab: FAILED (auth)" in out and "403" in out, out

    monkeypatch.delenv(TOKEN_VAR)
    code, out, err = _rtui(capsys, "kernels", "lab")
    assert code == 1 and out == ""
    assert f"${TOKEN_VAR}, which is not set" in rtui_only(err), err

    # From a command (its first line; stored is the command, never the token) ...
    token_file = tmp_path / "token"
    token_file.write_text(lab.token + "\n")
    token_file.chmod(0o600)
    code, _, err = _rtui(capsys, "hosts", "edit", "lab", "--token-command", f"cat {token_file}")
    assert code == 0, err
    assert lab.token not in config_file.read_text()
    code, out, err = _rtui(capsys, "kernels", "lab")
    assert code == 0, err
    # ... and with no source and no terminal to ask on: said, nothing hangs.
    code, _, err = _rtui(capsys, "hosts", "edit", "lab", "--clear", "token-command")
    assert code == 0, err
    code, out, err = _rtui(capsys, "kernels", "lab")
    assert code == 1 and out == "" and "token" in rtui_only(err), err



HUB_SERVER = "jcli"  # a named server of its own: started by this test, stopped after it


def test_a_hub_host_starts_the_server_with_progress_and_runs_code(
        capsys: pytest.CaptureFixture[str], jupyterhub: HubInfo, config_file: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_VAR, jupyterhub.token)
    code, out, _ = cli(capsys, "hosts", "add", "hub", "--jupyterhub-url", jupyterhub.url,
                       "--server", HUB_SERVER, "--token-env", TOKEN_VAR, "--start-timeout", "120")
    assert code == 0, out
    try:
        code, out, _ = cli(capsys, "check", "hub")
        assert code == 0 and "token accepted; the server is not running" in out, out
        code, out, err = cli(capsys, "run", "hub", "-c", "1+1")
        assert (code, out) == (0, "2\n"), err
        progress = [line for line in err.splitlines() if line.startswith("  hub: ")]
        assert progress and progress[-1].endswith("[100%]"), err  # the hub's own events
        code, out, _ = cli(capsys, "check", "hub")
        assert code == 0 and " | jupyter 2." in out and " | kernels 0" in out, out
    finally:
        jupyterhub.stop_server(HUB_SERVER)


def test_a_server_reached_via_an_ssh_host(
        capsys: pytest.CaptureFixture[str], jupyter_server: JupyterServerInfo, sshd: SSHD,
        isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in jupyter_hosts(isolated_home, jupyter_server, via=sshd).items():
        monkeypatch.setenv(var, value)
    code, out, _ = cli(capsys, "check", "lab")
    assert code == 0 and out.startswith("lab: ok | ") and " | jupyter 2." in out, out
    code, out, _ = cli(capsys, "kernels", "lab")  # the websocket via: test_jupyter_via.py
    assert code == 0, out
    code, out, _ = cli(capsys, "hosts", "list")
    assert f"jupyter {jupyter_server.url} via gate" in out
