"""Real Jupyter servers on loopback for tests: started early, waited for at first use.

A jupyter_server takes ~4 s to come up, most of it imports. :func:`start_server` only starts
the process (``python -m jupyter_server``, so the PID we stop is the server's own, not a
``jupyter`` wrapper's); :meth:`PendingServer.wait` polls it until it answers, bounded.
tests/conftest.py starts one per xdist worker as the session begins when a collected test
uses the ``jupyter_server`` fixture, so its start-up overlaps the tests that run first.

The token reaches the server in ``JUPYTER_TOKEN`` (never in argv, where ``ps`` shows it).
The server gets its own HOME, IPython and Jupyter dirs under its work directory, so nothing
of the developer's (config, kernelspecs in ~/.local, history) leaks in.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["JupyterServerInfo", "PendingServer", "start_server"]

START_TIMEOUT = 60.0  # the bound on the wait at first use (the start takes ~4 s here)
_LOG_TAIL = 3000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(url: str, token: str, method: str = "GET", body: Any = None, *,
            ca_file: Path | None = None, timeout: float = 30.0) -> tuple[int, Any]:
    """One REST call with the token header: (status, parsed JSON or None). Errors with a
    status are returned, not raised (tests look at 403s). The bound is generous: a hub busy
    spawning on a loaded machine took over 10 s to answer once."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": f"token {token}",
                                          "Content-Type": "application/json"})
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        with contextlib.suppress(ValueError):
            return exc.code, json.loads(raw) if raw else None
        return exc.code, raw.decode(errors="replace")


@dataclass
class JupyterServerInfo:
    """A running jupyter_server: what tests connect with."""

    url: str  # "http://127.0.0.1:P/" (https for the TLS server)
    token: str
    root_dir: Path
    pid: int
    port: int
    ca_file: Path | None = None  # the TLS server's self-signed certificate

    def api(self, path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
        """A REST call on this server (``path`` without the leading ``api/``)."""
        return request(f"{self.url}api/{path}", self.token, method, body, ca_file=self.ca_file)

    def kernel_ids(self) -> list[str]:
        status, kernels = self.api("kernels")
        if status != 200:
            raise RuntimeError(f"GET /api/kernels answered {status}: {kernels}")
        return [str(k["id"]) for k in kernels]

    def delete_all_kernels(self) -> None:
        """Shut down every kernel of the server (a test's teardown; others' tests run on
        their own worker's server)."""
        for kernel_id in self.kernel_ids():
            self.api(f"kernels/{kernel_id}", "DELETE")


def server_info(described: dict[str, Any]) -> JupyterServerInfo:
    """The :class:`JupyterServerInfo` of :meth:`PendingServer.describe`'s dict."""
    ca_file = described.get("ca_file")
    return JupyterServerInfo(url=described["url"], token=described["token"],
                             root_dir=Path(described["root_dir"]), pid=int(described["pid"]),
                             port=int(described["port"]),
                             ca_file=Path(ca_file) if ca_file else None)


def pid_alive(pid: int) -> bool:
    """True while the process runs (a zombie, not yet reaped by its parent, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def log_tail(log: Path) -> str:
    with contextlib.suppress(OSError):
        return log.read_text(errors="replace")[-_LOG_TAIL:]
    return ""


def wait_answering(info: JupyterServerInfo, alive: Callable[[], bool], log: Path,
                   timeout: float = START_TIMEOUT) -> None:
    """Poll until the server answers ``GET /api/kernels`` with 200, bounded; a server that
    exits or stays silent raises RuntimeError with its log's tail."""
    deadline = time.monotonic() + timeout
    while True:
        if not alive():
            raise RuntimeError(f"jupyter_server exited before it answered:\n{log_tail(log)}")
        with contextlib.suppress(OSError):
            if info.api("kernels")[0] == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"jupyter_server did not answer within {timeout:g} s:\n"
                               f"{log_tail(log)}")
        time.sleep(0.05)


@dataclass
class PendingServer:
    """A server process started, not yet known to answer."""

    info: JupyterServerInfo
    workdir: Path
    proc: subprocess.Popen[bytes]
    ready: bool = False
    started_at: float = field(default_factory=time.monotonic)
    ready_after: float | None = None  # seconds from Popen to the first answer

    def wait(self, timeout: float = START_TIMEOUT) -> JupyterServerInfo:
        """Poll until ``GET /api/kernels`` answers 200 with the token, bounded."""
        if not self.ready:
            try:
                wait_answering(self.info, lambda: self.proc.poll() is None,
                               self.workdir / "server.log", timeout)
            except RuntimeError:
                self.stop()
                raise
            self.ready = True
            self.ready_after = time.monotonic() - self.started_at
        return self.info

    def describe(self) -> dict[str, Any]:
        """What another process needs to use this server (tests/harness/run_wide.py)."""
        return {"url": self.info.url, "token": self.info.token,
                "root_dir": str(self.info.root_dir), "pid": self.info.pid,
                "port": self.info.port, "log": str(self.workdir / "server.log"),
                "ca_file": str(self.info.ca_file) if self.info.ca_file else None}

    def stop(self) -> None:
        """Shut its kernels down (REST, when it answers), then SIGTERM the server by PID
        (it stops the kernels it still has), SIGKILL after 10 s. Removes the work dir."""
        if self.proc.poll() is None:
            if self.ready:
                with contextlib.suppress(OSError, RuntimeError):
                    self.info.delete_all_kernels()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.workdir, ignore_errors=True)


# prctl(PR_SET_PDEATHSIG, SIGTERM), then exec the real command: the process keeps its PID
# (it is the server's own) and gets SIGTERM when the process that started it dies, so a
# pytest run killed before its teardown (a `timeout`, a SIGKILL) leaves no server behind.
_PDEATHSIG = ("import ctypes, os, signal, sys; "
              "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM); "
              "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")


def dies_with_us() -> list[str]:
    """The start of an argv for ``python ARGS...`` that gets SIGTERM when we die (Linux);
    plain ``python`` elsewhere."""
    if sys.platform != "linux":
        return [sys.executable]
    return [sys.executable, "-c", _PDEATHSIG]


def server_env(workdir: Path, token: str) -> dict[str, str]:
    """The server's environment: its own HOME and Jupyter/IPython dirs, the token."""
    env = dict(os.environ)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH"):
        env.pop(var, None)
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), JUPYTER_TOKEN=token,
               JUPYTER_CONFIG_DIR=str(workdir / "config"),
               JUPYTER_DATA_DIR=str(workdir / "data"),
               JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
               IPYTHONDIR=str(workdir / "ipython"))
    return env


def start_server(workdir: Path | None = None, *, cert: tuple[Path, Path] | None = None,
                 extra_args: tuple[str, ...] = ()) -> PendingServer:
    """Start ``python -m jupyter_server`` on a free loopback port with a fresh token; do not
    wait (:meth:`PendingServer.wait`). ``cert`` = (certfile, keyfile) serves https."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="rtj-", dir="/tmp"))
    root = workdir / "root"
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    token = secrets.token_hex(24)
    argv = [*dies_with_us(), "-m", "jupyter_server", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--no-browser",
            "--allow-root", f"--ServerApp.root_dir={root}", *extra_args]
    scheme = "http"
    if cert is not None:
        argv += [f"--certfile={cert[0]}", f"--keyfile={cert[1]}"]
        scheme = "https"
    with open(workdir / "server.log", "ab") as log:
        proc = subprocess.Popen(argv, env=server_env(workdir, token), cwd=workdir,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
    info = JupyterServerInfo(url=f"{scheme}://127.0.0.1:{port}/", token=token, root_dir=root,
                             pid=proc.pid, port=port, ca_file=cert[0] if cert else None)
    return PendingServer(info, workdir, proc)


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (openssl, ~20 ms): (cert, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30)
    key.chmod(0o600)
    return cert, key


def start_tls_server() -> PendingServer:
    """A jupyter_server over https with a fresh self-signed certificate (its ``ca_file``)."""
    workdir = Path(tempfile.mkdtemp(prefix="rtj-tls-", dir="/tmp"))
    return start_server(workdir, cert=make_cert(workdir))


# One per process (per xdist worker): started by :func:`start_early`, waited for by the
# session fixture, stopped by the fixture's teardown or :func:`stop_all` at session end.
_early: dict[str, PendingServer] = {}


def start_early(kind: str, start: Callable[[], PendingServer] = start_server) -> None:
    """Start the server of ``kind`` now (once per process), without waiting for it."""
    if kind not in _early:
        _early[kind] = start()


def pending(kind: str, start: Callable[[], PendingServer] = start_server) -> PendingServer:
    """The server of ``kind`` started early, or started now when nothing started it."""
    start_early(kind, start)
    return _early[kind]


def stop_all() -> None:
    while _early:
        _, server = _early.popitem()
        server.stop()
