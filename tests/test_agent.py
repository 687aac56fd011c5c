"""The remote agent, run locally as a subprocess speaking JSON lines, with real kernels.

The agent runs as it ships: the zipapp ``rtui.core.remote.bundle`` builds from ``rtui/agent``.

Every agent gets a throwaway HOME / XDG_DATA_HOME / JUPYTER_RUNTIME_DIR under tmp_path, and every
process whose command line mentions tmp_path is killed at teardown, pass or fail.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import platform
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from jupyter_client import BlockingKernelClient

from rtui.agent.setup import UNFINISHED
from rtui.core.remote.bundle import agent_bundle


def _find_python38() -> str:
    """A real Python 3.8 (not a pyenv shim, which breaks under a throwaway HOME), or ''."""
    found = [shutil.which("python3.8") or "", *glob.glob(
        os.path.expanduser("~/.pyenv/versions/3.8*/bin/python3.8"))]
    return next((p for p in found if p and "shims" not in p), "")


PY38 = _find_python38()


class AgentError(Exception):
    def __init__(self, error: dict[str, str]) -> None:
        super().__init__(f"{error['type']}: {error['message']}")
        self.type = error["type"]
        self.message = error["message"]


class Agent:
    """A tiny threaded client: one reader thread files replies and events by request id."""

    def __init__(self, env: dict[str, str], bundle: Path, python: str = sys.executable) -> None:
        self.proc = subprocess.Popen(
            [python, "-u", str(bundle)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env, cwd=env["HOME"])
        self.ready: dict[str, Any] | None = None
        self.replies: dict[Any, dict[str, Any]] = {}
        self.events: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        self.cond = threading.Condition()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            msg = json.loads(line)
            with self.cond:
                if msg.get("event") == "ready":
                    self.ready = msg["data"]
                elif "event" in msg:
                    self.events[msg["id"]].append(msg)
                else:
                    self.replies[msg["id"]] = msg
                self.cond.notify_all()

    def _wait(self, pred: Any, timeout: float) -> None:
        with self.cond:
            assert self.cond.wait_for(pred, timeout), "no answer from the agent in time"

    def send_raw(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()

    def call(self, op: str, timeout: float = 60, **args: Any) -> dict[str, Any]:
        with self.cond:
            self.next_id += 1
            rid = self.next_id
        self.send_raw(json.dumps({"id": rid, "op": op, "args": args}).encode())
        self._wait(lambda: rid in self.replies, timeout)
        reply = self.replies.pop(rid)
        reply["events"] = self.events.pop(rid, [])
        return reply

    def request(self, op: str, timeout: float = 60, **args: Any) -> Any:
        reply = self.call(op, timeout, **args)
        if not reply["ok"]:
            raise AgentError(reply["error"])
        return reply["result"]

    def error(self, op: str, **args: Any) -> AgentError:
        with pytest.raises(AgentError) as info:
            self.request(op, **args)
        return info.value

    def close(self) -> int:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


# ---------------------------------------------------------------- helpers and fixtures

def alive(pid: int) -> bool:
    """True when pid runs; zombies (possible: PID 1 here may not reap) count as dead."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_for(pred: Any, timeout: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def write_connection_file(path: Path) -> dict[str, Any]:
    names = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
    info: dict[str, Any] = dict(zip(names, free_ports(5), strict=True))
    info.update(ip="127.0.0.1", key=os.urandom(16).hex(), transport="tcp",
                signature_scheme="hmac-sha256", kernel_name="python3")
    path.write_text(json.dumps(info))
    return info


def client(cf: str) -> BlockingKernelClient:
    kc = BlockingKernelClient()
    kc.load_connection_file(cf)
    kc.start_channels()
    kc.wait_for_ready(timeout=30)
    return kc


def run_code(cf: str, code: str) -> tuple[dict[str, Any], str | None]:
    """Execute ``code``; (reply content, text/plain of its execute_result)."""
    kc = client(cf)
    outputs: list[dict[str, Any]] = []
    try:
        reply = kc.execute_interactive(code, output_hook=outputs.append, timeout=30)
    finally:
        kc.stop_channels()
    results = [m["content"]["data"]["text/plain"] for m in outputs
               if m["msg_type"] == "execute_result"]
    return reply["content"], (results[-1] if results else None)


def kill_mentioning(text: str) -> None:
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if text.encode() not in f.read():
                    continue
            os.kill(int(name), signal.SIGKILL)
        except OSError:
            pass


def agent_env(home: Path, **extra: str) -> dict[str, str]:
    drop = ("JUPYTER_", "PIP_", "IPYTHONDIR", "VIRTUAL_ENV", "CONDA_", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"),
               JUPYTER_RUNTIME_DIR=str(home / ".local" / "share" / "jupyter" / "runtime"),
               PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_COMPILE="0")  # as the harness's sshd hosts (tests/harness/sshd.py)
    env.update(extra)
    return env


@pytest.fixture
def home(tmp_path: Path) -> Any:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    yield home
    kill_mentioning(str(tmp_path))


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The agent as it ships, in a file."""
    built = agent_bundle()
    path = tmp_path_factory.mktemp("bundle") / built.name
    path.write_bytes(built.data)
    return path


@pytest.fixture
def start_agent(home: Path, bundle: Path) -> Any:
    agents: list[Agent] = []

    def start(python: str = sys.executable, **extra: str) -> Agent:
        agent = Agent(agent_env(home, **extra), bundle, python)
        agents.append(agent)
        agent._wait(lambda: agent.ready is not None, 30)
        return agent

    yield start
    for agent in agents:
        agent.close()


@pytest.fixture
def agent(start_agent: Any) -> Agent:
    return start_agent()  # type: ignore[no-any-return]


def runtime(home: Path) -> Path:
    return home / ".local" / "share" / "jupyter" / "runtime"


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# ---------------------------------------------------------------- protocol, hello, envs

def test_hello_and_errors(agent: Agent, home: Path) -> None:
    hello = agent.request("hello")
    assert hello == dict(agent.ready or {}, pid=hello["pid"])
    assert hello["version"] == "1" and hello["pid"] == agent.proc.pid
    assert hello["python"] == sys.executable
    assert hello["python_version"] == platform.python_version()
    plat = hello["platform"]
    assert plat["system"] == "Linux"
    assert plat["py_tag"] == f"cp{sys.version_info[0]}{sys.version_info[1]}"
    assert plat["libc"][0] == "glibc" and plat["abi_tag"].startswith(plat["py_tag"])
    assert hello["home"] == str(home)
    assert hello["runtime_dir"] == str(runtime(home))
    assert hello["state_dir"] == str(home / ".local" / "share" / "rtui")
    assert hello["default_venv"] == str(home / ".local" / "share" / "rtui" / "venv")
    # Where kernels' sockets go (a client that picks a kernel's id knows its paths).
    root = Path(hello["sockets_root"])
    assert root == Path(hello["probe_socket"]).parent
    assert root.is_dir() and root.stat().st_mode & 0o777 == 0o700

    assert agent.error("frobnicate").type == "unknown_op"
    assert agent.error("launch", kind="nope").type == "bad_args"
    assert agent.error("launch", python=5).type == "bad_args"
    assert agent.error("launch", python="/no/such/python").type == "not_found"
    assert agent.error("launch", kernel_id="../evil").type == "bad_args"
    for key in ("short", "k" * 40 + "\n", "k" * 257, "k" * 40 + " -c"):
        err = agent.error("launch", key=key)
        assert err.type == "bad_args" and key not in err.message  # a key is never echoed
    assert agent.error("signal").type == "bad_args"
    err = agent.error("resolve", id="nope")
    assert err.type == "not_found" and str(runtime(home)) in err.message
    agent.send_raw(b"{not json")
    agent.send_raw(b'{"id": 99, "op": "hello", "args": [1]}')
    agent._wait(lambda: None in agent.replies and 99 in agent.replies, 10)
    assert agent.replies[None]["error"]["type"] == "bad_request"
    assert agent.replies[99]["error"]["type"] == "bad_args"
    assert agent.request("hello")["pid"] == agent.proc.pid  # still alive
    assert agent.close() == 0  # EOF: clean exit


def test_runtime_dir_follows_jupyter_rules(start_agent: Any, home: Path) -> None:
    a = start_agent(JUPYTER_RUNTIME_DIR="", XDG_DATA_HOME=str(home / "xdg"))
    assert a.ready["runtime_dir"] == str(home / "xdg" / "jupyter" / "runtime")
    assert a.ready["state_dir"] == str(home / "xdg" / "rtui")
    b = start_agent(JUPYTER_RUNTIME_DIR="", JUPYTER_DATA_DIR=str(home / "jd"))
    assert b.ready["runtime_dir"] == str(home / "jd" / "runtime")


def test_envs_finds_interpreters_and_venvs(agent: Agent, home: Path) -> None:
    venv = home / ".venvs" / "x"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    envs = agent.request("envs", extra=[sys.executable, str(home / "missing")], timeout=30)["envs"]
    by_python = {e["python"]: e for e in envs}
    import ipykernel

    try:
        import spyder_kernels
    except ImportError:  # not part of the test extra
        spyder_kernels = None
    me = by_python[sys.executable]
    assert me["kind"] == "configured" and me["error"] is None
    assert me["version"] == platform.python_version()
    assert me["ipykernel"] == ipykernel.__version__
    assert me["spyder_kernels"] == getattr(spyder_kernels, "__version__", None)
    mine = by_python[str(venv / "bin" / "python")]
    assert (mine["kind"], mine["name"], mine["ipykernel"], mine["error"]) == ("venv", "x", None,
                                                                           None)
    assert mine["version"] == me["version"]
    missing = by_python[str(home / "missing")]
    assert missing["error"] and missing["version"] is None
    assert len({e["python"] for e in envs}) == len(envs)

    # Answers are cached: asked again, an unchanged interpreter is not started.
    again = agent.request("envs", extra=[sys.executable, str(home / "missing")])["envs"]
    assert again == envs

    # Requests run concurrently: a quick hello overtakes a slow envs (an interpreter not
    # asked before, which takes a second to answer).
    slow = home / "slow-python"
    slow.write_text(f"#!/bin/sh\nsleep 1\nexec {sys.executable} \"$@\"\n")
    slow.chmod(0o755)
    agent.send_raw(json.dumps({"id": 500, "op": "envs", "args": {"extra": [str(slow)]}})
                   .encode())
    agent.send_raw(b'{"id": 501, "op": "hello"}')
    agent._wait(lambda: 501 in agent.replies, 10)
    assert 500 not in agent.replies
    agent._wait(lambda: 500 in agent.replies, 30)


@pytest.mark.skipif(not PY38, reason="no Python 3.8 here")
def test_agent_runs_on_python38(start_agent: Any, home: Path) -> None:
    agent = start_agent(python=PY38)
    assert agent.ready["python_version"].startswith("3.8.")
    envs = agent.request("envs", extra=[sys.executable])["envs"]
    assert any(e["python"] == sys.executable and e["ipykernel"] for e in envs)
    k = agent.request("launch", python=sys.executable)
    assert {k["id"]} <= {x["id"] for x in agent.request("list")["kernels"] if x["alive"]}
    assert agent.request("shutdown", kernel_id=k["id"])["killed"] is True
    assert not alive(k["pid"])


# ---------------------------------------------------------------- kernels

def test_launch_runs_code_and_survives_the_agent(start_agent: Any, home: Path) -> None:
    agent = start_agent()
    k1 = agent.request("launch", python=sys.executable, cwd=str(home), env={"RTUI_T": "1"})
    k2 = agent.request("launch", python=sys.executable, kernel_id="second")
    assert k2["id"] == "second" and k2["kind"] == "ipykernel"
    cf = k1["connection_file"]
    assert cf == str(runtime(home) / f"kernel-{k1['id']}.json")
    assert mode(cf) == 0o600 and mode(runtime(home)) == 0o700
    info = json.loads(Path(cf).read_text())
    assert info == k1["connection"]
    assert len(info["key"]) == 64 and int(info["key"], 16) >= 0
    assert info["key"] != k2["connection"]["key"]
    assert info["transport"] == "tcp" and info["signature_scheme"] == "hmac-sha256"
    rec_file = home / ".local" / "share" / "rtui" / "kernels" / f"{k1['id']}.json"
    rec = json.loads(rec_file.read_text())
    assert mode(rec_file) == 0o600 and rec["pid"] == k1["pid"] and rec["argv"][-1] == cf
    assert k1["ready_ms"] < 30000
    assert agent.error("launch", kernel_id="second").type == "exists"

    reply, text = run_code(cf, "import os; x = 41; print(os.environ['RTUI_T']); x + 1")
    assert reply["status"] == "ok" and text == "42"

    assert agent.close() == 0
    time.sleep(0.2)
    assert alive(k1["pid"]) and alive(k2["pid"])
    assert run_code(cf, "x")[1] == "41"

    again = start_agent()
    listed = {k["id"]: k for k in again.request("list")["kernels"]}
    assert listed[k1["id"]]["alive"] and listed[k1["id"]]["rtui"]
    assert listed[k1["id"]]["pid"] == k1["pid"] and listed[k1["id"]]["cwd"] == str(home)
    for k in (k1, k2):
        done = again.request("shutdown", kernel_id=k["id"])
        assert done["pid"] == k["pid"] and done["killed"] is True
        wait_for(lambda k=k: not alive(k["pid"]), 5, "kernel exit")
        assert not os.path.exists(k["connection_file"]) and not os.path.exists(k["log_file"])
    assert not list((home / ".local" / "share" / "rtui" / "kernels").iterdir())
    assert again.request("list")["kernels"] == []


def test_spyder_kernel(agent: Agent) -> None:
    pytest.importorskip("spyder_kernels")
    k = agent.request("launch", python=sys.executable, kind="spyder")
    assert k["argv"][1:3] == ["-Xfrozen_modules=off", "-c"]  # kernel_boot's code, then:
    assert k["argv"][4:] == ["spyder_kernels.console", "-f", k["connection_file"]]
    reply, text = run_code(k["connection_file"], "x = 41; x + 1")
    assert reply["status"] == "ok" and text == "42"
    # spyder-kernels honours the given connection file: same ports as rtui wrote.
    assert all(port_open(k["connection"][p]) for p in ("shell_port", "hb_port"))
    listed = agent.request("list")["kernels"]
    assert [(x["kind"], x["alive"]) for x in listed] == [("spyder", True)]
    agent.request("shutdown", kernel_id=k["id"])


def test_list_resolve_and_hand_started_kernels(agent: Agent, home: Path) -> None:
    mine = agent.request("launch", python=sys.executable)
    rdir = runtime(home)
    hand_cf = rdir / "kernel-hand.json"
    hand_info = write_connection_file(hand_cf)
    hand = subprocess.Popen([sys.executable, "-m", "ipykernel_launcher", "-f", str(hand_cf)],
                            start_new_session=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(rdir))
    for i in range(18):
        write_connection_file(rdir / f"kernel-stale{i}.json")
    wait_for(lambda: port_open(hand_info["shell_port"]) and port_open(hand_info["hb_port"]),
             30, "hand-started kernel")

    t0 = time.monotonic()
    listed = agent.request("list")
    elapsed = time.monotonic() - t0
    kernels = {k["id"]: k for k in listed["kernels"]}
    print(f"list of 20 kernels took {elapsed * 1000:.0f} ms")
    assert len(kernels) == 20 and elapsed < 0.5, elapsed
    assert kernels[mine["id"]]["rtui"] and kernels[mine["id"]]["alive"]
    assert kernels[mine["id"]]["pid"] == mine["pid"]
    h = kernels["hand"]
    assert (h["pid"], h["alive"], h["rtui"], h["kind"]) == (hand.pid, True, False, "ipykernel")
    assert h["cwd"] == str(rdir) and h["ports"]["shell_port"] == hand_info["shell_port"]
    assert h["python"] == sys.executable and h["started"] > time.time() - 120
    stale = kernels["stale0"]
    assert (stale["pid"], stale["alive"], stale["rtui"]) == (None, False, False)

    for spelling in ("hand", "kernel-hand.json", str(hand_cf)):
        assert agent.request("resolve", id=spelling)["connection_file"] == str(hand_cf)
    assert agent.request("resolve", id="hand")["connection"] == hand_info
    assert agent.error("resolve", id="stale").type == "ambiguous"
    assert agent.error("signal", kernel_id="stale0").type == "no_pid"
    assert agent.request("shutdown", kernel_id="stale0")["killed"] is False
    assert not (rdir / "kernel-stale0.json").exists()

    # A hand-started kernel restarts from its /proc command line, on the same file.
    new = agent.request("restart", kernel_id="hand")
    hand.wait(5)
    assert new["pid"] != hand.pid and new["argv"][-1] == str(hand_cf)
    assert json.loads(hand_cf.read_text()) == hand_info
    assert run_code(str(hand_cf), "1 + 1")[1] == "2"
    done = agent.request("shutdown", kernel_id="hand")
    assert done["killed"] and not alive(new["pid"]) and not hand_cf.exists()


def test_signal_interrupts(agent: Agent) -> None:
    k = agent.request("launch", python=sys.executable)
    kc = client(k["connection_file"])
    try:
        msg_id = kc.execute("import time; time.sleep(60)")
        while True:  # execute_input comes once the kernel runs the code with SIGINT armed
            msg = kc.get_iopub_msg(timeout=10)
            if (msg["parent_header"].get("msg_id") == msg_id
                    and msg["msg_type"] == "execute_input"):
                break
        time.sleep(0.1)
        t0 = time.monotonic()
        assert agent.request("signal", kernel_id=k["id"], signal="SIGINT")["pid"] == k["pid"]
        reply = kc.get_shell_msg(timeout=2)
        assert time.monotonic() - t0 < 2
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
    finally:
        kc.stop_channels()
    assert alive(k["pid"])
    assert run_code(k["connection_file"], "2 + 3")[1] == "5"


def test_restart_keeps_ports_and_key(agent: Agent, home: Path) -> None:
    k = agent.request("launch", python=sys.executable)
    cf = k["connection_file"]
    before = Path(cf).read_text()
    assert run_code(cf, "y = 5")[0]["status"] == "ok"
    new = agent.request("restart", connection_file=cf)
    assert new["pid"] != k["pid"] and new["id"] == k["id"] and new["connection"] == k["connection"]
    assert not alive(k["pid"]) and alive(new["pid"])
    assert Path(cf).read_text() == before
    rec = json.loads((home / ".local" / "share" / "rtui" / "kernels" / f"{k['id']}.json")
                     .read_text())
    assert rec["pid"] == new["pid"]
    reply, _ = run_code(cf, "y")
    assert reply["status"] == "error" and reply["ename"] == "NameError"
    agent.request("shutdown", kernel_id=k["id"])
    assert not alive(new["pid"])


# ---------------------------------------------------------------- setup (slow: real pip, ~30 s)

def _download_once(run_dir: Path, name: str, *pip_args: str) -> Path:
    """``pip download`` of ``pip_args`` into ``run_dir / name``, once per run: the first
    worker that asks downloads them, another waits for them."""
    d, done, log_path = run_dir / name, run_dir / f"{name}.done", run_dir / f"{name}.log"
    with open(run_dir / f"{name}.lock", "wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(d, ignore_errors=True)
            with open(log_path, "wb") as log:
                rc = subprocess.run([sys.executable, "-m", "pip", "download", "--only-binary",
                                     ":all:", "-d", str(d), *pip_args], stdout=log,
                                    stderr=log, timeout=600).returncode
            assert rc == 0, f"pip download failed, see {log_path}"
            done.touch()
    return d


# The platforms rtui's own download asks for (rtui/core/kernels/wheels.py): wheels it finds
# in its cache for this machine's Python resolve without asking the index (seed_wheel_cache).
_RTUI_PLATFORMS = [f"manylinux_2_{n}_{platform.machine()}" for n in (28, 17, 12, 5)] + [
    f"manylinux2014_{platform.machine()}", f"manylinux1_{platform.machine()}",
    f"linux_{platform.machine()}"]
_PY_TAG = "cp{}{}".format(*sys.version_info[:2])


@pytest.fixture(scope="session")
def wheels(run_dir: Path) -> Path:
    """ipykernel, its dependencies and pip as wheels, downloaded once per run (each worker,
    and each module that imports this fixture, downloaded its own before: ~10 s each), for
    the platforms rtui asks for: tests of rtui's offline set-ups seed its cache with them."""
    return _download_once(
        run_dir, "wheels", "--python-version", "{}.{}".format(*sys.version_info[:2]),
        "--implementation", "cp", "--abi", _PY_TAG, "--abi", "abi3", "--abi", "none",
        *[arg for p in _RTUI_PLATFORMS for arg in ("--platform", p)], "ipykernel", "pip")


@pytest.fixture(scope="session")
def more_wheels(run_dir: Path) -> Path:
    """six and iniconfig (pure Python, no dependencies): with ``wheels``, all an offline
    create of tests/test_envs_remote.py needs (kept apart: tests/test_agent_envs.py needs
    iniconfig missing from ``wheels``)."""
    return _download_once(run_dir, "more-wheels", "--no-deps", "six", "iniconfig")


def seed_wheel_cache(*sources: Path) -> Path:
    """rtui's cache of wheels for a remote Python like this one (under the test's HOME)
    holding the session's: an offline set-up then resolves among them with no index asked
    instead of downloading them again (~15 s each time); what is not among them still comes
    from the index (rtui/core/kernels/wheels.py's cached_first)."""
    from rtui.core import locations

    target = locations.cache_dir() / "wheels" / f"{_PY_TAG}-{platform.machine()}"
    target.mkdir(parents=True, exist_ok=True)
    for source in sources:
        for wheel in source.glob("*.whl"):
            shutil.copyfile(wheel, target / wheel.name)
    return target


@pytest.mark.timeout(300)
def test_setup_offline_bootstraps_pip_from_wheels(start_agent: Any, home: Path, tmp_path: Path,
                                                  wheels: Path) -> None:
    # A base Python without ensurepip, as on Debian without python3-venv: its "-m venv" fails
    # unless given --without-pip, and "-m ensurepip" fails (PYTHONPATH shadows ensurepip).
    fake = tmp_path / "fake"
    (fake / "ensurepip").mkdir(parents=True)
    (fake / "ensurepip" / "__init__.py").write_text("raise ImportError('no ensurepip here')\n")
    base = tmp_path / "python-without-ensurepip"
    base.write_text(f"""#!/bin/sh
exec {sys.executable} -c '
import subprocess, sys, venv
def no_pip(self, context):
    raise subprocess.CalledProcessError(1, ["ensurepip"], b"No module named ensurepip")
venv.EnvBuilder._setup_pip = no_pip
sys.exit(venv.main(sys.argv[3:]))' "$@"
""")
    base.chmod(0o755)
    agent = start_agent(PYTHONPATH=str(fake))
    venv = home / "kvenv"
    err = agent.error("setup", base_python=str(base), venv=str(venv))
    assert err.type == "no_pip" and "python3-venv" in err.message
    assert not venv.exists()  # the failed set-up removed the venv it had made

    reply = agent.call("setup", timeout=240, base_python=str(base), venv=str(venv),
                       wheels_dir=str(wheels))
    assert reply["ok"], reply["error"]
    result = reply["result"]
    assert result["python"] == str(venv / "bin" / "python") and result["ipykernel"]
    lines = [e["data"]["line"] for e in reply["events"]]
    assert any("bootstrapping pip" in ln for ln in lines)
    assert any(ln.startswith("Successfully installed") for ln in lines)
    fractions = [e["data"]["fraction"] for e in reply["events"] if e["data"]["fraction"]]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0

    k = agent.request("launch", python=result["python"])
    assert run_code(k["connection_file"], "6 * 7")[1] == "42"
    agent.request("shutdown", kernel_id=k["id"])


@pytest.mark.timeout(120)
def test_setup_reports_no_index(start_agent: Any, home: Path) -> None:
    agent = start_agent(PIP_INDEX_URL="http://127.0.0.1:9/simple")
    reply = agent.call("setup", timeout=100, base_python=sys.executable,
                       packages=["rtui-no-such-package"], index_timeout=2)
    assert not reply["ok"] and reply["error"]["type"] == "no_index", reply["error"]
    assert "127.0.0.1:9" in reply["error"]["message"]
    venv = home / ".local" / "share" / "rtui" / "venv"
    assert (venv / "bin" / "python").exists()  # kept for the wheels rtui brings next...
    assert (venv / UNFINISHED).exists()  # ...as unfinished
    assert agent.request("discard_setup") == {"venv": str(venv), "removed": True}  # gave up
    assert not venv.exists()
    assert agent.request("discard_setup")["removed"] is False


@pytest.mark.timeout(300)
def test_a_failed_setup_removes_what_it_made(start_agent: Any, home: Path,
                                             tmp_path: Path) -> None:
    agent = start_agent(PIP_NO_INDEX="1")  # pip finds no ipykernel: not a network error
    venv = home / "made" / "for" / "venv"
    reply = agent.call("setup", timeout=240, base_python=sys.executable, venv=str(venv))
    assert not reply["ok"] and reply["error"]["type"] == "pip_failed", reply["error"]
    assert any(e["data"]["line"].startswith("creating virtual environment")
               for e in reply["events"])
    assert not (home / "made").exists()  # the venv, and the directories made for it
    assert home.exists()

    # A venv that was there before is the person's: a failed set-up leaves it.
    kept = home / "kept"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(kept)], check=True)
    fake = tmp_path / "fake"
    (fake / "ensurepip").mkdir(parents=True)
    (fake / "ensurepip" / "__init__.py").write_text("raise ImportError('no ensurepip here')\n")
    agent = start_agent(PYTHONPATH=str(fake))
    err = agent.error("setup", base_python=sys.executable, venv=str(kept))
    assert err.type == "no_pip"
    assert (kept / "bin" / "python").exists() and not (kept / UNFINISHED).exists()


def test_env_remove_never_removes_the_agents_own_environment(
    start_agent: Any, tmp_path: Path
) -> None:
    """An agent running in a venv refuses to remove that venv, forced or not (a test once
    removed CI's own .venv by asking the agent to remove sys.executable's environment)."""
    own = tmp_path / "own"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(own)], check=True,
                   timeout=60)
    agent = start_agent(python=str(own / "bin" / "python"))
    err = agent.error("env_remove", python=str(own / "bin" / "python"), force=True)
    assert err.type == "bad_args" and "agent runs in" in err.message
    assert (own / "pyvenv.cfg").exists()
