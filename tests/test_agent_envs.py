"""The agent's environments (env_* ops), run as it ships, locally, with real uv and real pip.

The host's home is shared by the module (so are its uv and pip caches): one environment made
with uv online serves the package changes (pip's too, with uv out of the way); uv offline uses
the wheels tests/test_agent.py downloads once a session; venv + pip runs as far as pip missing
a package among them (a whole venv + pip create, ~40 s here, is tests/test_envs_remote.py's).
"The host has uv" is ~/.local/bin/uv, a link to the test extra's uv, with no uv on PATH; "no
index" is PIP_INDEX_URL and uv's index variables at a closed port.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rtui.agent import installs
from rtui.agent.envs import tree_size
from rtui.agent.installs import failure
from rtui.agent.protocol import OpError
from tests.test_agent import (  # noqa: F401 (wheels: the session's, shared)
    PY38,
    Agent,
    agent_env,
    alive,
    kill_mentioning,
    mode,
    wait_for,
    wheels,
)

NO_INDEX = "http://127.0.0.1:9/simple"
OFFLINE = {"PIP_INDEX_URL": NO_INDEX, "UV_INDEX_URL": NO_INDEX, "UV_DEFAULT_INDEX": NO_INDEX}


def _uv_binary() -> str:
    import uv

    return str(uv.find_uv_bin())


def _path_without_uv() -> str:
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(d for d in dirs if not os.path.exists(os.path.join(d, "uv")))


class Host:
    """A host's home with uv in ~/.local/bin, and agents started on it."""

    def __init__(self, home: Path, bundle: Path) -> None:
        self.home = home
        self.bundle = bundle
        self.agents: list[Agent] = []
        self.envs = home / ".local" / "share" / "rtui" / "envs"
        (home / ".local" / "bin").mkdir(parents=True)
        (home / ".local" / "bin" / "uv").symlink_to(_uv_binary())
        self.agent = self.start()

    def start(self, home: Path | None = None, python: str = sys.executable,
              **extra: str) -> Agent:
        home = home or self.home
        env = agent_env(home, PATH=_path_without_uv(), XDG_CACHE_HOME=str(home / ".cache"),
                        XDG_CONFIG_HOME=str(home / ".config"), **extra)
        for var in ("SSL_CERT_FILE", "SSL_CERT_DIR"):  # as over ssh: uv trusts the system's
            env.pop(var, None)                         # certificates because rtui says so
        agent = Agent(env, self.bundle, python)
        self.agents.append(agent)
        agent._wait(lambda: agent.ready is not None, 30)
        return agent


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, bundle: Path) -> Iterator[Host]:
    home = tmp_path_factory.mktemp("envhost")
    made = Host(home, bundle)
    yield made
    for agent in made.agents:
        agent.close()
    kill_mentioning(str(home))


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rtui.core.remote.bundle import agent_bundle

    built = agent_bundle()
    path = tmp_path_factory.mktemp("envbundle") / built.name
    path.write_bytes(built.data)
    return path


@pytest.fixture(scope="module")
def shared(host: Host) -> dict[str, Any]:
    """One environment made by uv online (six asked for), for the tests that change it."""
    reply = host.agent.call("env_create", timeout=240, name="shared", base_python=sys.executable,
                            tool="uv", packages=["six"], spyder=True)
    assert reply["ok"], reply["error"]
    return reply


def names(packages: list[dict[str, str]]) -> dict[str, str]:
    return {p["name"].lower(): p["version"] for p in packages}


def listing(agent: Agent, **args: Any) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in agent.request("envs", timeout=60, **args)["envs"]}


# ---------------------------------------------------------------- tools, uv

def test_env_tools_finds_uv_where_it_is(host: Host, tmp_path: Path) -> None:
    found = host.agent.request("env_tools")
    assert found["uv"] == str(host.home / ".local" / "bin" / "uv")
    version = subprocess.run([_uv_binary(), "--version"], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    assert found["uv_version"] == version
    bare = tmp_path / "bare"
    bare.mkdir()
    assert host.start(bare).request("env_tools") == {"uv": None, "uv_version": None}


def test_uv_install_from_a_wheel(host: Host, tmp_path: Path) -> None:
    home = tmp_path / "nouv"
    home.mkdir()
    agent = host.start(home)
    wheel = tmp_path / "uv-0.0.0-py3-none-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as archive:  # the wheel's layout
        archive.writestr("uv-0.0.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        archive.write(_uv_binary(), "uv-0.0.0.data/scripts/uv")
    got = agent.request("uv_install", wheel=str(wheel))
    dest = home / ".local" / "share" / "rtui" / "bin" / "uv"
    assert got["uv"] == str(dest) and mode(dest) == 0o755
    assert got == agent.request("env_tools")  # found there from now on
    assert [p.name for p in dest.parent.iterdir()] == ["uv"]  # no temporary left

    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("uv-0.0.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    assert agent.error("uv_install", wheel=str(empty)).type == "bad_args"
    (tmp_path / "not.whl").write_text("no zip")
    assert agent.error("uv_install", wheel=str(tmp_path / "not.whl")).type == "bad_args"
    assert agent.error("uv_install", wheel=str(tmp_path / "gone.whl")).type == "not_found"


# ---------------------------------------------------------------- create with uv, change

def test_create_with_uv(host: Host, shared: dict[str, Any]) -> None:
    env = shared["result"]
    prefix = host.envs / "shared"
    assert env["name"] == "shared" and env["kind"] == "venv" and env["error"] is None
    assert env["python"] == str(prefix / "bin" / "python") and env["prefix"] == str(prefix)
    assert env["managed"] is True and env["tool"] == "uv" and env["ipykernel"]
    assert env["spyder_kernels"]  # asked for
    marker = prefix / ".rtui-env.json"
    assert mode(marker) == 0o600 and not (prefix / ".rtui-unfinished").exists()
    assert json.loads(marker.read_text()) == {
        "name": "shared", "tool": "uv", "base_python": sys.executable,
        "created": pytest.approx(time.time(), abs=600), "packages": ["six"],
        "requirements": False}
    lines = [e["data"]["line"] for e in shared["events"]]
    assert any(ln.startswith("Installed") for ln in lines), lines
    fractions = [e["data"]["fraction"] for e in shared["events"]
                 if e["data"]["fraction"] is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0

    listed = listing(host.agent, sizes=True)["shared"]
    assert {k: listed[k] for k in ("python", "prefix", "managed", "tool", "error")} == {
        k: env[k] for k in ("python", "prefix", "managed", "tool", "error")}
    assert listed["size"] > 1_000_000 and listed["ipykernel"] == env["ipykernel"]
    assert "size" not in listing(host.agent)["shared"]  # sizes only when asked

    got = host.agent.request("env_packages", python=env["python"])
    assert got["python"] == env["python"]
    have = names(got["packages"])
    assert {"pip", "ipykernel", "six"} <= set(have)  # pip always: %pip works in consoles
    assert [p["name"].lower() for p in got["packages"]] == sorted(have)
    by_prefix = host.agent.request("env_packages", python=env["prefix"])
    assert by_prefix["packages"] == got["packages"]


def test_install_upgrade_uninstall_and_export(host: Host, shared: dict[str, Any]) -> None:
    python = shared["result"]["python"]
    a = host.agent
    reply = a.call("env_change", timeout=120, python=python, action="install",
                   packages=["iniconfig==2.0.0"])
    assert reply["ok"], reply["error"]
    assert names(reply["result"]["packages"])["iniconfig"] == "2.0.0"
    assert any("iniconfig" in e["data"]["line"] for e in reply["events"])
    got = a.request("env_change", timeout=120, python=python, action="upgrade",
                    packages=["iniconfig"])
    upgraded = names(got["packages"])["iniconfig"]
    assert upgraded != "2.0.0"
    got = a.request("env_change", timeout=120, python=python, action="uninstall",
                    packages=["six"])
    assert "six" not in names(got["packages"])
    got = a.request("env_change", timeout=120, python=python, action="install",
                    requirements="# a file's text\nsix\n")
    assert "six" in names(got["packages"])

    text = a.request("env_export", python=python)["text"]
    lines = text.splitlines()
    assert f"iniconfig=={upgraded}" in lines and any(ln.startswith("ipykernel==") for ln in lines)
    assert not any(ln.startswith("pip==") for ln in lines)  # as pip freeze
    lock = a.request("env_export", timeout=120, python=python, format="pylock")
    assert lock["format"] == "pylock" and 'name = "iniconfig"' in lock["text"]
    assert f'version = "{upgraded}"' in lock["text"]

    # Without uv on the host, pip changes a uv-made environment (uv gave it pip).
    link = host.home / ".local" / "bin" / "uv"
    link.rename(link.with_name("uv.away"))
    try:
        reply = a.call("env_change", timeout=120, python=python, action="install",
                       packages=["six==1.16.0"])
        assert reply["ok"], reply["error"]
        assert names(reply["result"]["packages"])["six"] == "1.16.0"
        assert any(e["data"]["line"].startswith("Successfully installed six-1.16.0")
                   for e in reply["events"])  # pip's words
        got = a.request("env_change", timeout=120, python=python, action="uninstall",
                        packages=["six"])
        assert "six" not in names(got["packages"])
    finally:
        link.with_name("uv.away").rename(link)

    assert a.error("env_change", python=python, action="install",
                   packages=["--index-url=http://evil/"]).type == "bad_args"
    assert a.error("env_change", python=python, action="frob", packages=["six"]).type == \
        "bad_args"
    assert a.error("env_export", python=python, format="conda").type == "bad_args"
    err = a.error("env_change", python=python, action="install", packages=["six==99.1"])
    assert err.type == "no_package" and "six==99.1" in err.message


# ---------------------------------------------------------------- bad input

def test_bad_names_taken_names_and_missing_pythons(host: Host, shared: dict[str, Any]) -> None:
    a = host.agent
    for name in ("../up", ".hidden", "-x", "a" * 65, "sp ace", ""):
        assert a.error("env_create", name=name, base_python=sys.executable).type == "bad_args"
    err = a.error("env_create", name="shared", base_python=sys.executable, tool="uv")
    assert err.type == "exists" and "shared" in err.message
    (host.envs / "notenv").mkdir()
    err = a.error("env_create", name="notenv", base_python=sys.executable)
    assert err.type == "exists" and "not an environment" in err.message
    assert (host.envs / "notenv").is_dir()  # someone's: left alone
    assert a.error("env_create", name="x", base_python="/no/python").type == "not_found"
    assert a.error("env_create", name="x", base_python=sys.executable,
                   packages=["-e."]).type == "bad_args"
    assert a.error("env_create", name="x", base_python=sys.executable, tool="conda"
                   ).type == "bad_args"
    assert a.error("env_packages", python="/no/python").type == "not_found"
    assert not (host.envs / "x").exists()


def test_unknown_package_leaves_nothing(host: Host) -> None:
    reply = host.agent.call("env_create", timeout=120, name="unknown",
                            base_python=sys.executable, tool="uv",
                            packages=["rtui-no-such-package-xyz"])
    assert reply["error"]["type"] == "no_package", reply["error"]
    assert "rtui-no-such-package-xyz" in reply["error"]["message"]
    assert not (host.envs / "unknown").exists()


def test_no_index_leaves_nothing(host: Host) -> None:
    # (pip's no_index: its real output below, and tests/test_agent.py's set-up)
    reply = host.start(**OFFLINE).call("env_create", timeout=120, name="noidx",
                                       base_python=sys.executable, tool="uv",
                                       packages=["six"], index_timeout=2)
    assert reply["error"]["type"] == "no_index", reply["error"]
    assert "127.0.0.1:9" in reply["error"]["message"], reply["error"]
    assert not (host.envs / "noidx").exists()


def test_cancel_in_the_middle_of_an_install_leaves_nothing(host: Host) -> None:
    # An index that takes the connection and never answers: uv waits in its install, there
    # to be cancelled (its index timeout is far off).
    index = socket.socket()
    index.bind(("127.0.0.1", 0))
    index.listen(8)
    url = f"http://127.0.0.1:{index.getsockname()[1]}/simple"
    a = host.start(PIP_INDEX_URL=url)  # (uv takes the index pip is given)
    with a.cond:
        a.next_id += 1
        rid = a.next_id
    a.send_raw(json.dumps({"id": rid, "op": "env_create", "args": {
        "name": "cancelled", "base_python": sys.executable, "tool": "uv",
        "packages": ["six"], "index_timeout": 120}}).encode())
    index.settimeout(60)
    asked, _ = index.accept()  # uv pip install is asking the index now
    prefix = host.envs / "cancelled"
    assert (prefix / ".rtui-unfinished").exists() and (prefix / "pyvenv.cfg").exists()
    assert listing(a)["cancelled"]["error"].startswith("unfinished")
    assert a.error("env_create", name="cancelled", base_python=sys.executable).type == "exists"
    assert a.error("env_remove", name="cancelled", force=True).type == "busy"
    started = time.monotonic()
    assert a.request("cancel", target=rid)["running"] is True
    a._wait(lambda: rid in a.replies, 30)
    assert time.monotonic() - started < 10
    error = a.replies.pop(rid)["error"]
    assert error["type"] == "cancelled" and "nothing is left" in error["message"]
    assert not prefix.exists()
    stray = subprocess.run(["pgrep", "-f", str(prefix)], capture_output=True, text=True)
    assert stray.stdout == ""  # uv was killed with it
    asked.close()

    # The agent leaving mid-create (rtui quit, the link dropped) does the same.
    a.send_raw(json.dumps({"id": rid + 100, "op": "env_create", "args": {
        "name": "left", "base_python": sys.executable, "tool": "uv",
        "index_timeout": 120}}).encode())
    left = host.envs / "left"

    def installing() -> bool:
        return bool(subprocess.run(["pgrep", "-f", f"pip install --python {left}"],
                                   capture_output=True).stdout)

    wait_for(installing, 60, "uv pip install to run")
    assert (left / ".rtui-unfinished").exists()
    assert a.close() == 0
    assert not left.exists()
    assert subprocess.run(["pgrep", "-f", str(left)], capture_output=True).stdout == b""
    index.close()


# ---------------------------------------------------------------- offline, venv + pip

def test_create_offline_from_wheels(host: Host, wheels: Path) -> None:  # noqa: F811
    agent = host.start(**OFFLINE)
    # An interrupted create left "offuv" unfinished: a new create replaces it.
    stale = host.envs / "offuv"
    stale.mkdir(parents=True)
    (stale / ".rtui-unfinished").write_text("{}")
    (stale / "junk").write_text("half made")
    reply = agent.call("env_create", timeout=240, name="offuv", base_python=sys.executable,
                       tool="uv", requirements="packaging\n", wheels_dir=str(wheels))
    assert reply["ok"], reply["error"]
    env = reply["result"]
    assert env["tool"] == "uv" and env["managed"] and env["ipykernel"]
    have = names(agent.request("env_packages", python=env["python"])["packages"])
    assert {"pip", "ipykernel", "packaging"} <= set(have)
    assert not (stale / "junk").exists()
    marker = json.loads((stale / ".rtui-env.json").read_text())
    assert marker["packages"] == [] and marker["requirements"] is True
    lines = [e["data"]["line"] for e in reply["events"]]
    assert any("removing an unfinished offuv" in ln for ln in lines)
    err = agent.error("env_change", python=env["python"], action="install",
                      packages=["iniconfig"], wheels_dir=str(wheels))
    assert err.type == "no_package" and "iniconfig" in err.message
    assert "uploaded wheels" in err.message and (stale / ".rtui-env.json").exists()
    err = agent.error("env_export", python=env["python"], format="pylock")
    assert err.type == "no_index" and "127.0.0.1:9" in err.message, err.message
    assert err.message.endswith("export requirements instead")
    text = agent.request("env_export", python=env["python"])["text"]
    assert any(line.startswith("packaging==") for line in text.splitlines())

    # venv + pip, as far as pip finding a package missing from the wheels (a whole venv +
    # pip create, ~40 s here, is tests/test_envs_remote.py's): nothing is left.
    reply = agent.call("env_create", timeout=240, name="offvenv", base_python=sys.executable,
                       tool="venv", packages=["rtui-no-such-package"], wheels_dir=str(wheels))
    assert reply["error"]["type"] == "no_package", reply["error"]
    assert "rtui-no-such-package" in reply["error"]["message"]
    lines = [e["data"]["line"] for e in reply["events"]]
    assert any("-m venv" in ln for ln in lines) and any("Processing" in ln for ln in lines)
    assert not (host.envs / "offvenv").exists()


@pytest.mark.skipif(not PY38, reason="no Python 3.8 here")
def test_the_agent_on_python38(host: Host, shared: dict[str, Any]) -> None:
    old = host.start(python=PY38)
    assert old.ready is not None and old.ready["python_version"].startswith("3.8")
    assert old.request("env_tools")["uv"] == str(host.home / ".local" / "bin" / "uv")
    listed = {e["name"]: e for e in old.request("envs", sizes=True)["envs"]}
    assert listed["shared"]["managed"] and listed["shared"]["size"]
    python = shared["result"]["python"]
    assert old.request("env_packages", python=python)["packages"]
    reply = old.call("env_create", timeout=120, name="old", base_python=sys.executable,
                     tool="uv", packages=["rtui-no-such-package-xyz"])
    assert reply["error"]["type"] == "no_package", reply["error"]
    assert not (host.envs / "old").exists()


def test_sizes_are_bounded(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_bytes(b"x" * 10_000)
    os.link(root / "d" / "f", root / "d" / "g")  # counted once
    size = tree_size(str(root), time.monotonic() + 10)
    assert size is not None and 10_000 <= size < 20_000
    assert tree_size(str(root), time.monotonic() - 1) is None  # past its time: unknown


# ---------------------------------------------------------------- remove, broken

def test_remove(host: Host, tmp_path: Path) -> None:
    a = host.agent
    plain = host.home / "plain"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(plain)], check=True)
    err = a.error("env_remove", python=str(plain / "bin" / "python"))
    assert err.type == "not_rtui" and str(plain) in err.message
    assert plain.exists()
    assert a.request("env_remove", python=str(plain / "bin" / "python"), force=True) == {
        "removed": str(plain)}
    assert not plain.exists()
    # A base interpreter: the one behind the tests' (in CI a venv, .ci/run's own: removing
    # that, as a first version of this test did, took the suite's venv away mid-run).
    base = os.path.realpath(sys.executable)
    assert not (Path(base).parent.parent / "pyvenv.cfg").exists()
    err = a.error("env_remove", python=base, force=True)
    assert err.type == "bad_args" and "base Python" in err.message
    conda = tmp_path / "condaenv"
    (conda / "conda-meta").mkdir(parents=True)
    (conda / "bin").mkdir()
    err = a.error("env_remove", python=str(conda), force=True)
    assert err.type == "bad_args" and "conda" in err.message
    assert a.error("env_remove", name="never-made").type == "not_found"

    made = host.envs / "tobegone"
    made.mkdir(parents=True)
    (made / ".rtui-unfinished").write_text("{}")  # an interrupted create's: rtui's own
    assert a.request("env_remove", name="tobegone") == {"removed": str(made)}
    assert not made.exists()


def test_broken_environment(host: Host) -> None:
    a = host.agent
    broken = host.envs / "broken"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(broken)], check=True)
    gone = host.home / "gone" / "python3"
    for link in (broken / "bin").glob("python*"):
        link.unlink()
        link.symlink_to(gone)  # its base Python was removed
    err = a.error("env_packages", python=str(broken / "bin" / "python"))
    assert err.type == "broken" and str(gone) in err.message and "gone" in err.message
    err = a.error("env_change", python=str(broken), action="install", packages=["six"])
    assert err.type == "broken"
    listed = listing(a)["broken"]
    assert listed["error"].startswith("broken:") and listed["prefix"] == str(broken)
    assert listed["managed"] is False and listed["tool"] == "venv"
    assert a.request("env_remove", name="broken", force=True)["removed"] == str(broken)
    shutil.rmtree(broken, ignore_errors=True)


# ---------------------------------------------------------------- failures, named

@pytest.mark.parametrize(("tool", "lines", "kind", "named"), [
    ("pip", ["ERROR: Could not find a version that satisfies the requirement six==99.1 "
             "(from versions: 1.16.0, 1.17.0)",
             "ERROR: No matching distribution found for six==99.1"], "no_package", "six==99.1"),
    ("uv", ["error: No solution found when resolving dependencies",
            "  cause: Because rtui-nope was not found in the package registry and you require "
            "rtui-nope, we can conclude that your requirements are unsatisfiable."],
     "no_package", "rtui-nope"),
    ("uv", ["  cause: Because there is no version of six==99.1 and you require six==99.1, we "
            "can conclude that your requirements are unsatisfiable."], "no_package", "six==99.1"),
    ("uv", ["  cause: Because only six<=1.17.0 is available and you require six>=99, we can "
            "conclude that your requirements are unsatisfiable."], "no_package", "six>=99"),
    ("pip", ["Looking in indexes: http://10.0.0.1/simple",
             "WARNING: Retrying (Retry(total=0)) after connection broken by "
             "'NewConnectionError(...: Failed to establish a new connection: [Errno 111] "
             "Connection refused')': /simple/six/",
             "ERROR: No matching distribution found for six"], "no_index", "10.0.0.1"),
    ("uv", ["error: Failed to fetch: `http://10.0.0.1/simple/six/`",
            "  cause: error sending request for url (http://10.0.0.1/simple/six/)",
            "  cause: dns error"], "no_index", "http://10.0.0.1/simple"),
    ("uv", ["error: Request failed after 3 retries",
            "  cause: Failed to fetch: `https://pypi.org/simple/six/`",
            "  cause: error sending request for url (https://pypi.org/simple/six/)",
            "  cause: client error (Connect)",
            "  cause: invalid peer certificate: UnknownIssuer"], "no_index", "UnknownIssuer"),
    ("pip", ["ERROR: Could not install packages due to an OSError: [Errno 28] No space left "
             "on device"], "disk_full", "No space left"),
    ("uv", ["error: Failed to install: numpy", "  cause: failed to write to file: "
            "No space left on device (os error 28)"], "disk_full", "No space left"),
    ("uv", ["error: the build backend exploded"], "uv_failed", "exploded"),
])
def test_failures_are_named(tool: str, lines: list[str], kind: str, named: str) -> None:
    err = failure(tool, f"{tool} install", lines, offline=False)
    assert err.type == kind and named in err.message, err.message


class Recorder:
    """A request's progress, in process: the lines it was sent, and a cancel flag."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, float | None]] = []
        self.flag = threading.Event()

    def __call__(self, line: str, fraction: float | None = None) -> None:
        self.lines.append((line, fraction))

    def rows(self, batch: list[Any]) -> None:
        raise AssertionError("no rows here")

    def cancelled(self) -> bool:
        return self.flag.is_set()

    def check(self) -> None:
        if self.flag.is_set():
            raise OpError("cancelled", "cancelled")


def test_a_child_is_heard_of_when_silent_and_cancelled_with_its_group(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(installs, "HEARTBEAT", 0.3)
    said = Recorder()
    rc, lines = installs.stream(["sh", "-c", "echo start; sleep 1; echo end"], said,
                                installs.PipProgress())
    assert rc == 0 and lines == ["start", "end"]
    assert ("sh is still at work", 0.0) in said.lines

    pidfile = tmp_path / "sleeper"
    said = Recorder()
    threading.Timer(0.5, said.flag.set).start()
    started = time.monotonic()
    with pytest.raises(OpError) as info:
        installs.stream(["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], said)
    assert info.value.type == "cancelled" and time.monotonic() - started < 5
    wait_for(lambda: not alive(int(pidfile.read_text())), 5, "the grandchild to end")
