"""Security checks with figures (issue 21): what rtui writes is private on both sides, its
secrets (the kernel's HMAC key, a password, a Jupyter token) appear in no process's argv or
environment, no log, no screenshot, no ``--json`` output and no error message, and a second
local account can read none of it.

One real session through the CLI, as a person would run it, is shared by the checks (a
module fixture): a host on a test sshd, ``check --json``, a detached kernel started, a cell
run from a second ``rtui run`` while the evidence is taken, ``log``, a forced failure, and the
kernel stopped. HOME here and on the host are 0755, as homes often are, so that what keeps
another account out is rtui's own modes, not the test's temporary directories. Whether rtui
or its kernels listen on TCP is checked in tests/test_private_transport.py (each route).
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from textual.widgets import Input

from rtui.core.config.model import Host
from rtui.core.errors import AuthenticationError
from rtui.core.kernels.service import HostKernels
from rtui.tui.app import RtuiApp
from rtui.tui.screens.prompts import TextPromptScreen
from tests import reliability
from tests.harness.accounts import Account
from tests.harness.jupyter import JupyterServerInfo
from tests.harness.sshd import SSHD, start_sshd
from tests.proc_scan import descendants, processes
from tests.ssh_helpers import ScriptedPerson, connection, trust
from tests.tui_helpers import status_of, store_with, until

# The password account's tests share its home: one xdist worker runs them all.
pytestmark = [pytest.mark.reliability, pytest.mark.xdist_group("password_account")]

PY = sys.executable
REPO = Path(__file__).resolve().parent.parent
# The other account runs the system's Python: this one lives under /root, out of its reach.
OTHER_PY = "/usr/bin/python3"
HEX_RUN = re.compile(rb"[0-9a-f]{32,}")  # the shape of an HMAC key or a token


@dataclass(frozen=True)
class Item:
    """One thing rtui wrote: its path, kind (dir, file, socket, other) and modes."""

    path: Path
    kind: str
    mode: int
    parent_mode: int


@dataclass
class Session:
    """What the shared CLI session left to check."""

    home: Path
    runtime: Path
    server: SSHD
    key: str  # the kernel's HMAC key, from its connection file on the host
    kernel_pid: int
    wrong_key: str = ""  # the key of a copy made wrong on purpose (a failure's message)
    items: dict[Path, Item] = field(default_factory=dict)  # running and after the stop
    contents: dict[Path, bytes] = field(default_factory=dict)  # each file's, as last read
    outputs: dict[str, str] = field(default_factory=dict)  # each command's stdout+stderr
    leaks: list[str] = field(default_factory=list)  # argv/environ where the key was seen
    processes_read: int = 0
    other_account: dict[str, str] = field(default_factory=dict)  # path: what it got

    @property
    def roots(self) -> tuple[Path, ...]:
        assert self.server.runtime_dir is not None
        return (self.home, self.runtime, self.server.remote_home, self.server.runtime_dir)


def private_tmp(prefix: str, mode: int) -> Path:
    made = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    made.chmod(mode)
    return made


def walk(root: Path, skip: tuple[str, ...] = ()) -> list[Item]:
    """Everything under ``root`` (not ``root``), except the top-level names in ``skip``."""
    found = []
    for top, dirs, files in os.walk(root):
        if Path(top) == root:
            dirs[:] = [d for d in dirs if d not in skip]
            files = [f for f in files if f not in skip]
        parent_mode = os.lstat(top).st_mode & 0o777
        for name in dirs + files:
            path = Path(top, name)
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                continue  # gone meanwhile (a temp file)
            kind = ("dir" if stat.S_ISDIR(info.st_mode) else "file" if stat.S_ISREG(info.st_mode)
                    else "socket" if stat.S_ISSOCK(info.st_mode) else "other")
            found.append(Item(path, kind, info.st_mode & 0o777, parent_mode))
    return found


def take_stock(session: Session) -> None:
    """Walk what rtui wrote here and on the host; keep each item and each file's bytes.
    Left out: the test's own ~/.ssh (its known_hosts) and what is in the kernel's IPython
    profile (IPython's files, 0644 as IPython makes them): ~/.ipython itself, which the agent
    makes 0700 when it is missing, is kept."""
    local_home, runtime, remote_home, remote_runtime = session.roots
    ipython = remote_home / ".ipython"
    if ipython.exists():
        session.items[ipython] = Item(ipython, "dir", ipython.stat().st_mode & 0o777,
                                      remote_home.stat().st_mode & 0o777)
    for root, skip in ((local_home, (".ssh",)), (runtime, ()), (remote_home, (".ipython",)),
                       (remote_runtime, ())):
        for item in walk(root, skip):
            session.items[item.path] = item
            if item.kind == "file":
                try:
                    session.contents[item.path] = item.path.read_bytes()
                except FileNotFoundError:
                    pass


def cli_env(home: Path, runtime: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XDG_", "SSH_")) and k not in ("RTUI_CONFIG", "NO_COLOR")}
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(runtime), RTUI_DEBUG="1",
               PYTHONPATH=str(REPO))
    return env


# Run as the other account (``runuser``), paths on stdin: what each open, listdir or connect
# got ("ok" or the errno's name).
_TRY_AS_OTHER = """
import errno, json, os, socket, sys
report = {}
for kind, path in json.load(sys.stdin):
    try:
        if kind == "dir":
            os.listdir(path)
        elif kind == "socket":
            probe = socket.socket(socket.AF_UNIX)
            probe.settimeout(2)
            try:
                probe.connect(path)
            finally:
                probe.close()
        else:
            with open(path, "rb") as handle:
                handle.read(1)
        report[path] = "ok"
    except OSError as e:
        report[path] = errno.errorcode.get(e.errno, str(e))
print(json.dumps(report))
"""


def try_as(account: Account, targets: list[tuple[str, str]]) -> dict[str, str]:
    done = subprocess.run(
        [shutil.which("runuser") or "/usr/sbin/runuser", "-u", account.name, "--", OTHER_PY,
         "-c", _TRY_AS_OTHER],
        input=json.dumps(targets), capture_output=True, text=True, timeout=30, cwd="/",
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def wait_for_text(path: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{text!r} never came: {path.read_text()!r}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory,
            password_account: Account) -> Iterator[Session]:
    home, runtime = private_tmp("rts-", 0o755), private_tmp("rtr-", 0o700)
    remote_home = private_tmp("rth-", 0o755)
    server = start_sshd(tmp_path_factory.mktemp("sec_sshd"),
                        extra_config=f"SetEnv HOME={remote_home}")
    env = cli_env(home, runtime)
    outputs: dict[str, str] = {}

    def rtui(name: str, *args: str, ok: bool = True) -> str:
        done = subprocess.run([PY, "-m", "rtui", *args], env=env, capture_output=True,
                              text=True, timeout=60)
        outputs[name] = done.stdout + done.stderr
        assert (done.returncode == 0) == ok, (args, outputs[name])
        return done.stdout

    try:
        trust(server, home)
        rtui("hosts add", "hosts", "add", "lab", "--hostname", "127.0.0.1", "--port",
             str(server.port), "--user", server.user, "--identity", str(server.client_key),
             "--python", PY)
        rtui("check --json", "check", "lab", "--json")
        kernel_id = re.findall(r"started kernel (\S+)", rtui("kernel start", "kernel", "start",
                                                              "lab"))[0]
        listed = json.loads(rtui("kernels --json", "kernels", "lab", "--json"))
        connection_file = Path(listed[0]["connection_file"])
        info = json.loads(connection_file.read_text())
        session = Session(home, runtime, server, str(info["key"]), int(listed[0]["pid"]),
                          outputs=outputs)

        # A cell runs from a second client while the evidence is taken: rtui here, its local
        # sockets, the agent, the keeper and the kernel are all up.
        mark = f"kernel-output-{secrets.token_hex(4)}"
        printed = tmp_path_factory.mktemp("sec_run") / "out"
        with printed.open("w") as out:
            running = subprocess.Popen(
                [PY, "-m", "rtui", "run", "lab", "-k", kernel_id, "-c",
                 f"print({mark!r}, flush=True)\nimport time\ntime.sleep(4)"],
                env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for_text(printed, mark)
            seen = processes()
            session.processes_read = len(seen)
            for process in seen:
                for what, data in (("argv", process.cmdline), ("environ", process.environ)):
                    if data and session.key.encode() in data:
                        session.leaks.append(f"pid {process.pid} {what}: {data[:200]!r}")
            take_stock(session)
            targets = [(item.kind, str(item.path)) for item in session.items.values()]
            history = remote_home / ".ipython" / "profile_default" / "history.sqlite"
            assert history.exists()  # every cell's code, IPython's file in rtui's 0700 dir
            targets.append(("file", str(history)))
            rtui_pids = descendants({running.pid}) | {session.kernel_pid}
            rtui_pids |= {p.pid for p in seen if str(remote_home).encode() in p.cmdline}
            targets += [("file", f"/proc/{pid}/environ") for pid in sorted(rtui_pids)]
            session.other_account = try_as(password_account, targets)
            assert running.wait(30) == 0
        finally:
            if running.poll() is None:
                running.kill()
                running.wait()
        outputs["run -k"] = printed.read_text()
        assert mark in outputs["run -k"]
        rtui("log", "log", "lab", kernel_id)
        rtui("kernels --json", "kernels", "lab", "--json")

        # A failure that has the key at hand: a copy of the connection file with a wrong key.
        copy = tmp_path_factory.mktemp("sec_copy") / "kernel-copy.json"
        session.wrong_key = secrets.token_hex(32)
        copy.write_text(json.dumps({**info, "key": session.wrong_key}))
        rtui("run with a wrong key", "run", "lab", "--connection-file", str(copy), "-c", "1",
             ok=False)
        rtui("kernel stop", "kernel", "stop", "lab", kernel_id)
        take_stock(session)
        yield session
    finally:
        server.close()  # and every process started from its remote home
        for made in (home, runtime, remote_home):
            shutil.rmtree(made, ignore_errors=True)


def key_files(session: Session) -> set[Path]:
    """The files that hold the key by design: the kernel's connection file on the host and
    rtui's note of what attaching needs, here (rtui/core/kernels/remembered.py)."""
    local_state = session.home / ".local" / "state" / "rtui" / "kernels"
    remote_runtime = session.server.remote_home / ".local" / "share" / "jupyter" / "runtime"
    return {path for path in session.contents
            if (path.parent == remote_runtime and path.name.startswith("kernel-"))
            or path.parent == local_state}


def test_every_file_and_directory_rtui_writes_is_private_here_and_on_the_host(
        session: Session) -> None:
    """Directories 0700, files 0600 (hosts.toml too, README: "0600 in a 0700 directory"),
    sockets in a 0700 directory and writable by their owner alone."""
    wrong = []
    for item in session.items.values():
        if item.kind == "dir":
            right = item.mode == 0o700
        elif item.kind == "file":
            right = item.mode == 0o600
        elif item.kind == "socket":
            right = item.mode & 0o022 == 0 and item.parent_mode == 0o700
        else:
            right = False
        if not right:
            wrong.append(f"{item.kind} {oct(item.mode)} {item.path}")
    assert not wrong, "\n".join(wrong)
    names = {item.path.name for item in session.items.values()}
    assert {"hosts.toml", "rtui.log", "keeper", "keeper.log", "k-1", ".ipython"} <= names, names
    kinds = [item.kind for item in session.items.values()]
    reliability.record(
        "security", "modes of what rtui writes, here and on the host",
        tried=len(kinds), leaked=0,
        seen=f"{kinds.count('file')} files 0600, {kinds.count('dir')} directories 0700, "
             f"{kinds.count('socket')} sockets in 0700 directories (a kernel started, a "
             "cell run, stopped)")


def test_the_kernel_key_is_in_no_argv_environment_log_or_output(session: Session) -> None:
    """The HMAC key is in its connection file and rtui's copy of it, nowhere else: no
    process's argv or environment while it runs, no other file (logs: rtui's, the agent's
    kernel log, the keeper's), no command's output, not in the message of a wrong key."""
    assert session.leaks == []
    key = session.key.encode()
    holders = key_files(session)
    assert len(holders) == 2, holders  # the check found the files that hold it
    in_files = [str(path) for path, data in session.contents.items()
                if key in data and path not in holders]
    assert in_files == []
    in_outputs = [name for name, text in session.outputs.items()
                  if session.key in text or session.wrong_key in text]
    assert in_outputs == []
    assert "Traceback" not in session.outputs["run with a wrong key"]
    logs = [path for path in session.contents if path.name.endswith(".log")]
    assert {p.name for p in logs} >= {"rtui.log", "keeper.log"}, logs
    searched = (2 * session.processes_read + len(session.contents) - len(holders)
                + len(session.outputs))
    reliability.record(
        "security", "the kernel's HMAC key outside its connection file", tried=searched,
        leaked=0, seen=f"argv and environment of {session.processes_read} processes, "
                       f"{len(session.contents) - len(holders)} files ({len(logs)} logs), "
                       f"{len(session.outputs)} command outputs (--json, a wrong key's error)")


def test_another_account_reads_no_file_socket_or_environment(session: Session) -> None:
    """The password account tries each file and directory rtui wrote (both sides: here the
    same machine), connects to each socket (rtui's local ends, the kernel's and the keeper's)
    and reads the environment of rtui's processes and the kernel: EACCES everywhere."""
    got = session.other_account
    assert got, "nothing was tried"
    readable = {path: result for path, result in got.items() if result != "EACCES"}
    assert readable == {}
    sockets = sum(1 for item in session.items.values() if item.kind == "socket")
    environs = sum(1 for path in got if path.startswith("/proc/"))
    assert sockets >= 7 and environs >= 3, (sockets, environs)  # keeper, k-1..5 twice, agent
    reliability.record(
        "security", "a second local account reads rtui's files, sockets, kernel environment",
        tried=len(got), leaked=0,
        seen=f"{len(got) - sockets - environs} files and directories, {sockets} sockets, "
             f"{environs} process environments: all EACCES")


def test_the_screenshots_show_no_key_or_token() -> None:
    """The README's screenshots (screenshots/*.svg, made from real sessions): no run of 32
    hex digits or more, the shape of a kernel's key or a Jupyter token."""
    pictures = sorted((REPO / "screenshots").glob("*.svg"))
    assert len(pictures) >= 10
    found = {p.name: HEX_RUN.findall(html.unescape(p.read_text()).encode())
             for p in pictures}
    assert {name: runs for name, runs in found.items() if runs} == {}
    reliability.record(
        "security", "a key or token in the README's screenshots", tried=len(pictures),
        leaked=0, seen="no run of 32 or more hex digits in any SVG")


async def test_a_password_is_in_no_screen_argv_environment_log_or_error(
        password_sshd: SSHD, password_account: Account, isolated_home: Path,
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Password auth: the TUI's dialog, filled in, exported as a screenshot, shows dots; while
    logged in (the agent running as that account) no process of the test or its server has
    the password in its argv or environment; rtui's log at debug level, and a wrong
    password's error, do not name it."""
    import logging

    caplog.set_level(logging.DEBUG)
    password = password_account.password.encode()
    trust(password_sshd, isolated_home)
    host = Host("pw", hostname="127.0.0.1", port=password_sshd.port, user=password_account.name)
    app = RtuiApp(store_with(tmp_path, host), check_on_start=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("c")
        await until(lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*password_account.password)
        await until(lambda: app.screen.query_one(Input).value == password_account.password)
        picture = app.export_screenshot()
        await pilot.press("enter")
        await until(lambda: status_of(app, "pw") == "ok")
    assert password.decode() not in picture and "•" in picture

    person = ScriptedPerson(secrets={"password": password_account.password})
    conn, _ = connection(host, person=person)
    service = HostKernels(conn, python=OTHER_PY)
    try:
        await conn.connect()
        await service.list()  # the agent runs on the host, as the account
        # This test's processes and its server's sessions: the account's password is the
        # same in other runs on this machine (a tmux send-keys of test_cli_prompts has it).
        assert password_sshd.proc is not None
        ours = descendants({os.getpid(), password_sshd.proc.pid})
        seen = [p for p in processes() if p.pid in ours]
        assert len(seen) >= 3, seen  # this one, sshd, the account's session and agent
        leaks = [f"{p.pid}: {p.cmdline[:100]!r}" for p in seen
                 if password in p.cmdline or password in (p.environ or b"")]
        assert leaks == []
    finally:
        await service.close()
        await conn.close()
    assert person.asked

    wrong = f"wrong-{secrets.token_hex(8)}"
    conn, events = connection(host, person=ScriptedPerson(secrets={"password": wrong}))
    with pytest.raises(AuthenticationError) as failed:
        await conn.connect()
    errors = [str(failed.value), *(str(e) for e in events)]
    assert not [e for e in errors if wrong in e or password.decode() in e]
    assert "authentication failed" in str(failed.value)
    assert password.decode() not in caplog.text and wrong not in caplog.text
    assert "asyncssh" in caplog.text  # the debug log was kept
    reliability.record(
        "security", "a login password in screen, argv, environment, log, error",
        tried=2 * len(seen) + 1 + 1 + len(errors), leaked=0,
        seen=f"the filled-in dialog's screenshot (dots), {len(seen)} processes' argv and "
             "environment while logged in, rtui's debug log, a wrong password's errors")


def test_a_jupyter_token_is_in_no_argv_environment_log_output_or_error(
        jupyter_server: JupyterServerInfo, tmp_path: Path) -> None:
    """A Jupyter host whose token comes from an environment variable (``token_env``): while
    ``rtui run`` works on it, no process but the test's server (which holds it by design)
    has the token in argv or environment beyond the variable the person set. Neither that
    host's nor one whose token comes from a command (``token_command``) shows it in
    ``check --json``, ``kernels --json``, rtui's debug log, or a wrong token's error."""
    token = jupyter_server.token
    home, runtime = private_tmp("rts-", 0o755), private_tmp("rtr-", 0o700)
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    env = cli_env(home, runtime)
    given = {"LAB_TOKEN": token}
    outputs: dict[str, str] = {}
    leaks: list[str] = []

    def rtui(name: str, *args: str, ok: bool = True, more: dict[str, str] | None = None) -> str:
        done = subprocess.run([PY, "-m", "rtui", *args], env={**env, **(more or {})},
                              capture_output=True, text=True, timeout=60)
        outputs[name] = done.stdout + done.stderr
        assert (done.returncode == 0) == ok, (args, outputs[name])
        return done.stdout

    try:
        rtui("hosts add env", "hosts", "add", "viaenv", "--jupyter-url", jupyter_server.url,
             "--token-env", "LAB_TOKEN")
        rtui("hosts add command", "hosts", "add", "viacmd", "--jupyter-url",
             jupyter_server.url, "--token-command", f"cat {token_file}")
        rtui("check --json", "check", "viaenv", "--json", more=given)
        printed = tmp_path / "run.out"
        with printed.open("w") as out:
            running = subprocess.Popen(
                [PY, "-m", "rtui", "run", "viaenv", "-c",
                 "print('ran', flush=True)\nimport time\ntime.sleep(1)"],
                env={**env, **given}, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for_text(printed, "ran")
            server_side = descendants({jupyter_server.pid})  # it holds the token by design
            own = f"LAB_TOKEN={token}".encode()  # the person's own variable
            seen = [p for p in processes() if p.pid not in server_side]
            for process in seen:
                environ = (process.environ or b"").replace(own, b"")
                if token.encode() in process.cmdline or token.encode() in environ:
                    leaks.append(f"{process.pid}: {process.cmdline[:100]!r}")
            assert running.wait(30) == 0
        finally:
            if running.poll() is None:
                running.kill()
                running.wait()
        outputs["run"] = printed.read_text()
        rtui("kernels --json (token_env)", "kernels", "viaenv", "--json", more=given)
        rtui("kernels --json (token_command)", "kernels", "viacmd", "--json")
        wrong = secrets.token_hex(24)
        rtui("wrong token", "kernels", "viaenv", "--json", ok=False, more={"LAB_TOKEN": wrong})
        assert leaks == []
        shown = [name for name, text in outputs.items() if token in text or wrong in text]
        assert shown == []
        assert "Traceback" not in outputs["wrong token"]
        files = [item for item in walk(home, (".ssh",)) if item.kind == "file"]
        assert "rtui.log" in {f.path.name for f in files}
        assert [f.path for f in files
                if token.encode() in f.path.read_bytes() or wrong.encode() in f.path.read_bytes()
                ] == []
    finally:
        jupyter_server.delete_all_kernels()
        for made in (home, runtime):
            shutil.rmtree(made, ignore_errors=True)
    reliability.record(
        "security", "a Jupyter token in argv, environment, log, --json output, error",
        tried=2 * len(seen) + len(outputs) + len(files), leaked=0,
        seen=f"argv and environment of {len(seen)} processes (the test's server aside) while "
             f"rtui ran, {len(outputs)} command outputs (--json, a wrong token's error), "
             f"{len(files)} files rtui wrote (its debug log)")


@pytest.mark.parametrize("which", ["wheels", "uv"])
async def test_the_wheel_cache_here_is_made_private(
        which: str, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wheels rtui downloads here for an offline host land in 0700 directories, each
    missing parent too (``mkdir(parents=True)`` had left ~/.cache/rtui/wheels 0755)."""
    from rtui.core import locations
    from rtui.core.kernels import wheels

    async def downloaded(command: list[str], target: Path, what: str,
                         report: object) -> list[Path]:
        return [target / "uv-0.1-py3-none-any.whl"]  # what pip would have saved

    monkeypatch.setattr(wheels, "_pip_download", downloaded)
    if which == "wheels":
        await wheels.download_wheels(["numpy"], "cp311", "x86_64", lambda p: None)
    else:
        await wheels.download_uv_wheel("x86_64", "glibc", lambda p: None)
    made = [p for p in walk(isolated_home) if p.kind == "dir"]
    assert locations.cache_dir() in {p.path for p in made}
    assert [str(p.path) for p in made if p.mode != 0o700] == []
    reliability.record("security", f"modes of the {which} cache rtui makes here",
                       tried=len(made), leaked=0, seen=f"{len(made)} directories 0700")



async def test_the_token_dialog_filled_in_shows_dots(
        jupyter_server: JupyterServerInfo, tmp_path: Path) -> None:
    """A console on a Jupyter host with no token source asks for it: the dialog, the token
    pasted in, exported as a screenshot, shows dots, not the token."""
    from rtui.core.jupyter.settings import JupyterSettings
    from rtui.tui.screens.token_prompt import TokenPromptScreen

    host = Host("lab", jupyter=JupyterSettings(url=jupyter_server.url))
    app = RtuiApp(store_with(tmp_path, host), check_on_start=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, TokenPromptScreen)
                    and bool(app.screen.query(Input)))
        app.screen.query_one(Input).value = jupyter_server.token  # as if pasted
        await pilot.pause()
        picture = app.export_screenshot()
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, TokenPromptScreen))
    assert jupyter_server.token not in picture and "•" in picture
    assert not HEX_RUN.findall(html.unescape(picture).encode())
    reliability.record("security", "a Jupyter token pasted in the TUI's dialog (screenshot)",
                       tried=1, leaked=0, seen="the dialog's SVG export shows dots")


_GOOD_INFO = {"transport": "tcp", "ip": "127.0.0.1", "shell_port": 50001, "iopub_port": 50002,
              "stdin_port": 50003, "control_port": 50004, "hb_port": 50005,
              "signature_scheme": "hmac-sha256", "kernel_name": "python3"}
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=6)
_REMOVED = object()


def test_a_malformed_connection_file_never_shows_its_key() -> None:
    """A connection file with any field wrong, gone or of any type: the message names the
    problem, never the key (a key of a wrong type neither: a number had been quoted)."""
    from rtui.core.kernels.connection_info import ConnectionFileError, parse_connection_text

    refused = 0

    @given(key=st.text("0123456789abcdef-", min_size=16, max_size=64),
           field=st.sampled_from([*_GOOD_INFO, "key"]),
           value=_JSON | st.just(_REMOVED), as_number=st.integers(10**7, 10**30))
    def check(key: str, field: str, value: object, as_number: int) -> None:
        nonlocal refused
        info: dict[str, object] = {**_GOOD_INFO, "key": key}
        secrets_in_it = [key]
        if field == "key" and value is not _REMOVED:
            value = value if isinstance(value, str) else as_number
            secrets_in_it = [str(value)]
        if value is _REMOVED:
            info.pop(field, None)
        else:
            info[field] = value
        try:
            parse_connection_text(json.dumps(info), "kernel-x.json")
        except ConnectionFileError as exc:
            refused += 1
            assert not [s for s in secrets_in_it if s in str(exc)], str(exc)

    check()
    assert refused
    reliability.record("security", "the key in a malformed connection file's message",
                       tried=reliability.examples(), leaked=0,
                       seen=f"{refused} refused with a message, none naming the key")
