"""The Jupyter fixtures themselves: real servers that answer, with token auth, and stop."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.error
from pathlib import Path

import aiohttp
import pytest

from rtui.core.config.store import HostStore
from rtui.core.jupyter.settings import JupyterSettings
from tests.harness.jupyter import JupyterServerInfo, request
from tests.harness.jupyterhub import CHP_ENV, USER_SCOPES, HubInfo, find_chp
from tests.harness.sshd import SSHD
from tests.jupyter_hosts import TOKEN_ENV, jupyter_hosts
from tests.memory_keyring import FILE_ENV

V1 = "v1.kernel.websocket.jupyter.org"


def test_jupyter_server_answers_with_its_token_only(jupyter_server: JupyterServerInfo) -> None:
    status, about = jupyter_server.api("")
    assert status == 200 and about["version"].count(".") >= 2
    assert jupyter_server.url == f"http://127.0.0.1:{jupyter_server.port}/"
    status, _ = request(f"{jupyter_server.url}api/kernels", "not-the-token")
    assert status == 403  # jupyter_server says 403, not 401, for a wrong token
    # The PID is the server's own (no `jupyter` wrapper), and the token is not in its argv.
    argv = Path(f"/proc/{jupyter_server.pid}/cmdline").read_bytes().split(b"\0")
    assert b"jupyter_server" in argv and not any(jupyter_server.token.encode() in a for a in argv)
    assert jupyter_server.root_dir.is_dir()


def test_jupyter_server_runs_kernels_and_deletes_them(jupyter_server: JupyterServerInfo) -> None:
    status, kernel = jupyter_server.api("kernels", "POST", {"name": "python3"})
    assert status == 201 and kernel["name"] == "python3"
    assert kernel["id"] in jupyter_server.kernel_ids()
    jupyter_server.delete_all_kernels()
    assert jupyter_server.kernel_ids() == []
    status, _ = jupyter_server.api(f"kernels/{kernel['id']}")
    assert status == 404


def test_jupyter_tls_server_is_trusted_through_its_ca_file_only(
        jupyter_tls_server: JupyterServerInfo) -> None:
    assert jupyter_tls_server.url == f"https://127.0.0.1:{jupyter_tls_server.port}/"
    assert jupyter_tls_server.ca_file is not None
    assert jupyter_tls_server.api("kernels") == (200, [])
    with pytest.raises(urllib.error.URLError) as failed:
        request(f"{jupyter_tls_server.url}api/kernels", jupyter_tls_server.token)
    assert isinstance(failed.value.reason, ssl.SSLCertVerificationError)
    assert failed.value.reason.verify_code == 18  # self-signed


async def test_jupyterhub_starts_alices_server_with_202_progress_and_v1_through_npm_chp(
        jupyterhub: HubInfo) -> None:
    """The hub as DESIGN20 §3 describes it: alice's own token (not the service's) starts a
    named server with 202 and its progress events end ready; her server's kernel websocket
    keeps the v1 subprotocol through the proxy; stop_server removes the server."""
    status, me = jupyterhub.api("user", token=jupyterhub.token)
    assert status == 200 and me["name"] == jupyterhub.user == "alice"
    assert set(me["scopes"]) >= set(USER_SCOPES)
    status, _ = jupyterhub.api("users/alice/servers/smoke", "POST", {}, token=jupyterhub.token)
    assert status == 202  # slow_spawn_timeout 0.1: the start is pending, progress follows
    headers = {"Authorization": f"token {jupyterhub.token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        events = []
        async with http.get(f"{jupyterhub.url}hub/api/users/alice/servers/smoke/progress",
                            timeout=aiohttp.ClientTimeout(total=60)) as stream:
            async for line in stream.content:
                if line.startswith(b"data:"):
                    events.append(json.loads(line[5:]))
                    if events[-1].get("ready") or events[-1].get("failed"):
                        break
        assert events[-1].get("ready") and events[-1]["url"] == "/user/alice/smoke/", events
        base = jupyterhub.server_url("smoke")
        async with http.post(f"{base}api/kernels", json={"name": "python3"}) as made:
            assert made.status == 201
            kernel = await made.json()
        ws = await http.ws_connect(
            f"{base.replace('http', 'ws', 1)}api/kernels/{kernel['id']}/channels"
            "?session_id=smoke", protocols=(V1,))
        assert ws.protocol == V1  # the PyPI proxy would have dropped it
        await ws.close()
        async with http.delete(f"{base}api/kernels/{kernel['id']}") as gone:
            assert gone.status == 204
    jupyterhub.stop_server("smoke")
    assert "smoke" not in jupyterhub.servers()


def test_find_chp_takes_npms_proxy_not_the_pypi_port(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """$RTUI_TEST_CHP naming the PyPI port (a Python script) is passed over for PATH's node
    one; with neither, the message says what to install."""
    python_port = tmp_path / "configurable-http-proxy"
    python_port.write_text("#!/usr/bin/python3\nfrom configproxy import main\n")
    monkeypatch.setenv(CHP_ENV, str(python_port))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(RuntimeError, match="npm install --prefix DIR configurable-http-proxy"):
        find_chp()
    node_script = bin_dir / "configurable-http-proxy"
    node_script.write_text("#!/usr/bin/env node\nrequire('../lib/configproxy');\n")
    node_script.chmod(0o755)
    assert find_chp() == node_script


def test_jupyter_hosts_writes_a_host_reached_via_an_ssh_host_with_its_token_in_env(
        jupyter_server: JupyterServerInfo, sshd: SSHD, isolated_home: Path) -> None:
    env = jupyter_hosts(isolated_home, jupyter_server, via=sshd)
    assert env == {TOKEN_ENV: jupyter_server.token}
    written = (isolated_home / ".config" / "rtui" / "hosts.toml").read_text()
    assert jupyter_server.token not in written
    config = HostStore(isolated_home / ".config" / "rtui" / "hosts.toml").load()
    lab, gate = config.get("lab"), config.get("gate")
    assert lab is not None and gate is not None and lab.kind == "jupyter"
    assert lab.jupyter == JupyterSettings(url=jupyter_server.url, via="gate",
                                          token_env=TOKEN_ENV)
    assert gate.kind == "ssh" and gate.port == sshd.port


def test_memory_keyring_is_loaded_from_the_env_and_shared_through_its_file(
        tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "tests.memory_keyring.MemoryKeyring",
           FILE_ENV: str(tmp_path / "keyring.json"),
           "PYTHONPATH": str(Path(__file__).parent.parent)}
    code = ("import keyring, sys; kr = keyring.get_keyring(); "
            "print(type(kr).__name__, keyring.get_password('rtui', 'lab')); "
            "sys.argv[1:] and keyring.set_password('rtui', 'lab', sys.argv[1])")
    first = subprocess.run([sys.executable, "-c", code, "s3cret"], env=env, text=True,
                           capture_output=True, timeout=60, check=True)
    assert first.stdout.split() == ["MemoryKeyring", "None"]
    assert (tmp_path / "keyring.json").stat().st_mode & 0o777 == 0o600
    second = subprocess.run([sys.executable, "-c", code], env=env, text=True,
                            capture_output=True, timeout=60, check=True)
    assert second.stdout.split() == ["MemoryKeyring", "s3cret"]
