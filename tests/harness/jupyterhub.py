"""A real JupyterHub on loopback for tests (DESIGN20 §3's recipe, checked on this machine).

Dummy authenticator, simple spawner (user servers are ``python -m jupyterhub.singleuser``
of this Python), named servers on, and npm's configurable-http-proxy in front: the PyPI
port of it drops the websocket's ``Sec-WebSocket-Protocol`` answer, so a v1 client would
hang (DESIGN20 §13); :func:`find_chp` refuses it. ``slow_spawn_timeout`` is 0.1 s (a tornado
setting: ``c.JupyterHub.slow_spawn_timeout`` does nothing), so a start answers 202 and the
client reads the progress stream.

The hub is one per run (tests/harness/run_wide.py); the user ``alice`` exists from the start
and her token (made through the service API, with the scopes rtui needs) is made at first
use by the fixture.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.jupyter import dies_with_us, free_port, log_tail, request

__all__ = ["CHP_ENV", "HubInfo", "PendingHub", "find_chp", "start_hub"]

CHP_ENV = "RTUI_TEST_CHP"  # .ci/run: the npm configurable-http-proxy it installed
START_TIMEOUT = 60.0
USER = "alice"
# What rtui needs of a user's token (DESIGN20 §3): start/stop and progress of her servers,
# reach them, read her model.
USER_SCOPES = [f"servers!user={USER}", f"access:servers!user={USER}",
               f"read:servers!user={USER}", f"read:users:activity!user={USER}"]
CHP_MISSING = ("npm's configurable-http-proxy is missing: `npm install --prefix DIR "
               f"configurable-http-proxy` and set {CHP_ENV}=DIR/node_modules/.bin/"
               "configurable-http-proxy (.ci/run does this); the PyPI port will not do "
               "(it drops the websocket subprotocol)")


def _is_node_script(path: Path) -> bool:
    with contextlib.suppress(OSError), path.open("rb") as handle:
        return b"node" in handle.readline()
    return False


def find_chp() -> Path:
    """npm's configurable-http-proxy: $RTUI_TEST_CHP's or PATH's, when it is the node one
    (the PyPI port installs a Python script of the same name)."""
    candidates = [os.environ.get(CHP_ENV, ""), shutil.which("configurable-http-proxy") or ""]
    for candidate in candidates:
        if candidate and _is_node_script(Path(candidate)):
            return Path(candidate)
    raise RuntimeError(CHP_MISSING)


@dataclass
class HubInfo:
    """A running hub, and alice's token on it."""

    url: str  # "http://127.0.0.1:P/" (the proxy's public side)
    user: str
    token: str  # alice's, with USER_SCOPES
    service_token: str  # the test service's: admin of users and servers
    pid: int

    def api(self, path: str, method: str = "GET", body: Any = None, *,
            token: str | None = None) -> tuple[int, Any]:
        """A hub REST call (``path`` after ``hub/api/``), as the service unless ``token``."""
        return request(f"{self.url}hub/api/{path}", token or self.service_token, method, body)

    def servers(self) -> dict[str, Any]:
        """alice's servers as the hub models them, by name ("" the default)."""
        status, model = self.api(f"users/{self.user}")
        if status != 200:
            raise RuntimeError(f"GET users/{self.user} answered {status}: {model}")
        return dict(model.get("servers") or {})

    def server_url(self, name: str = "") -> str:
        """The base URL of alice's running server ``name`` (through the proxy)."""
        return self.url + str(self.servers()[name]["url"]).lstrip("/")

    def stop_server(self, name: str = "", timeout: float = 30.0) -> None:
        """Stop alice's server ``name`` (if it runs) and wait until the hub forgets it."""
        path = f"users/{self.user}/servers/{name}" if name else f"users/{self.user}/server"
        status, body = self.api(path, "DELETE")
        if status not in (202, 204, 400, 404):
            raise RuntimeError(f"DELETE {path} answered {status}: {body}")
        deadline = time.monotonic() + timeout
        while name in self.servers():
            if time.monotonic() > deadline:
                raise RuntimeError(f"alice's server {name!r} still there after {timeout:g} s")
            time.sleep(0.1)

    def make_user_token(self, scopes: list[str] | None = None, note: str = "rtui") -> str:
        """A new token of alice's (her default: USER_SCOPES), made by the service."""
        status, body = self.api(f"users/{self.user}/tokens", "POST",
                                {"note": note, "expires_in": 3600,
                                 "scopes": USER_SCOPES if scopes is None else scopes})
        if status != 201:
            raise RuntimeError(f"the hub made no token for {self.user}: {status} {body}")
        return str(body["token"])


def _config(workdir: Path, port: int, chp: Path, service_token: str) -> str:
    hub_port, api_port = free_port(), free_port()
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    lines = {
        "c.JupyterHub.ip": "127.0.0.1",
        "c.JupyterHub.port": port,
        "c.JupyterHub.hub_ip": "127.0.0.1",
        "c.JupyterHub.hub_port": hub_port,
        "c.ConfigurableHTTPProxy.api_url": f"http://127.0.0.1:{api_port}",
        "c.ConfigurableHTTPProxy.command": [str(chp)],
        "c.JupyterHub.authenticator_class": "dummy",
        "c.JupyterHub.spawner_class": "simple",
        "c.Spawner.cmd": [sys.executable, "-m", "jupyterhub.singleuser"],
        "c.Spawner.args": ["--ServerApp.allow_root=True"],
        "c.Spawner.ip": "127.0.0.1",
        # A user server is a full jupyter_server start (~5 s); on a loaded machine (a load of
        # 15 on 2 cores here) the hub's defaults (60 s start, 30 s first answer) fail it.
        "c.Spawner.start_timeout": 180,
        "c.Spawner.http_timeout": 180,
        "c.Spawner.notebook_dir": str(home),
        "c.SimpleLocalProcessSpawner.home_dir_template": str(home / "{username}"),
        "c.JupyterHub.db_url": f"sqlite:///{workdir}/jupyterhub.sqlite",
        "c.JupyterHub.cookie_secret_file": str(workdir / "cookie_secret"),
        "c.JupyterHub.pid_file": str(workdir / "hub.pid"),
        "c.JupyterHub.services": [{"name": "rtui-test", "api_token": service_token}],
        "c.JupyterHub.load_roles": [{"name": "rtui-test", "services": ["rtui-test"], "scopes": [
            "admin:users", "admin:servers", "access:servers", "list:users", "read:users",
            "tokens"]}],
        "c.Authenticator.allowed_users": {USER},
        "c.JupyterHub.allow_named_servers": True,
        "c.JupyterHub.tornado_settings": {"slow_spawn_timeout": 0.1},
    }
    return "".join(f"{key} = {value!r}\n" for key, value in lines.items())


@dataclass
class PendingHub:
    """A hub process started, not yet known to answer."""

    url: str
    service_token: str
    workdir: Path
    proc: subprocess.Popen[bytes]

    def describe(self) -> dict[str, Any]:
        """What another process needs to use this hub (tests/harness/run_wide.py)."""
        return {"url": self.url, "service_token": self.service_token, "pid": self.proc.pid,
                "log": str(self.workdir / "hub.log")}

    def stop(self) -> None:
        """SIGTERM the hub by PID: it stops the user servers and the proxy it started."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_hub() -> PendingHub:
    """Write the config (0600: it holds the service token) and start ``python -m
    jupyterhub`` in its work dir (it writes the proxy's pid file in its cwd); do not wait."""
    chp = find_chp()
    workdir = Path(tempfile.mkdtemp(prefix="rtj-hub-", dir="/tmp"))
    port, service_token = free_port(), secrets.token_hex(24)
    config = workdir / "jupyterhub_config.py"
    config.touch(0o600)
    config.write_text(_config(workdir, port, chp, service_token))
    env = {**os.environ, "HOME": str(workdir / "home")}
    with open(workdir / "hub.log", "ab") as log:
        proc = subprocess.Popen([*dies_with_us(), "-m", "jupyterhub", "-f", str(config)],
                                cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log, start_new_session=True)
    return PendingHub(f"http://127.0.0.1:{port}/", service_token, workdir, proc)


def wait_hub(described: dict[str, Any], alive: Callable[[], bool],
             timeout: float = START_TIMEOUT) -> HubInfo:
    """Poll until the hub answers through its proxy and knows alice, bounded; then make
    alice's token. A hub that exits or stays silent raises RuntimeError with its log."""
    log = Path(described["log"])
    info = HubInfo(url=described["url"], user=USER, token="",
                   service_token=described["service_token"], pid=int(described["pid"]))
    deadline = time.monotonic() + timeout
    while True:
        if not alive():
            raise RuntimeError(f"jupyterhub exited before it answered:\n{log_tail(log)}")
        with contextlib.suppress(OSError):
            if info.api(f"users/{USER}")[0] == 200:
                break
        if time.monotonic() > deadline:
            raise RuntimeError(f"jupyterhub did not answer within {timeout:g} s:\n"
                               f"{log_tail(log)}")
        time.sleep(0.1)
    info.token = info.make_user_token()
    return info
