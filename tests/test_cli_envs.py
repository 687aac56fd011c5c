"""``rtui envs``: list, create, packages, install/uninstall/upgrade, export, default and rm,
and ``--env NAME``, against a real sshd whose host has uv.

One environment (``six`` + what rtui adds: ipykernel, pip) is made per module by
``rtui envs create`` in a subprocess, and the other commands run on it; the last test removes
it. What a command did on the host is read back from its files (the host is this machine),
not by more commands: each costs a connection. Commands that succeed run in this process
(``main``: no interpreter start); failures, the terminal's question and ctrl+c run as a shell
runs them, so their stderr is all there is. Cost: about 40 s on a quiet machine."""

from __future__ import annotations

import json
import os
import pty
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
import uv

from rtui.cli.main import build_parser, main
from rtui.core.config.model import Config
from rtui.core.config.store import HostStore
from tests.cli_helpers import cli, rtui_only
from tests.conftest import run_rtui
from tests.harness.sshd import SSHD, start_sshd
from tests.ssh_helpers import host_for, trust

# One worker makes the module's env, once; the first test's bound holds that create (uv
# downloads ipykernel's ~30 wheels into the host's empty cache).
pytestmark = [pytest.mark.xdist_group("cli_envs"), pytest.mark.timeout(300)]

PY = sys.executable
NAME = "cli-six"


@dataclass(frozen=True)
class Lab:
    """The module's host (``lab`` in each test's hosts file) and its environment's create."""

    server: SSHD
    made: subprocess.CompletedProcess[str]

    def prefix(self, name: str = NAME) -> Path:
        return self.server.remote_home / ".local" / "share" / "rtui" / "envs" / name

    def installed(self, name: str = NAME) -> dict[str, str]:
        """The distributions in an environment's site-packages: name -> version."""
        site = next((self.prefix(name) / "lib").glob("python3*/site-packages"))
        found = (d.name.removesuffix(".dist-info").partition("-")
                 for d in site.glob("*.dist-info"))
        return {key(n): version for n, _, version in found}


def key(name: str) -> str:
    """A distribution's name as PEP 503 compares them (jupyter_client is jupyter-client)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def add_lab(server: SSHD, home: Path) -> Path:
    """``lab`` in ``home``'s hosts file, its key trusted; the hosts file."""
    trust(server, home)
    path = home / ".config" / "rtui" / "hosts.toml"
    HostStore(path).update(partial(Config.with_host, host=host_for(server, "lab", python=PY)))
    return path


@pytest.fixture(scope="module")
def module_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A host of the module's own (uv on it: the local one, linked into its ~/.local/bin)
    and ``cli-six`` made on it by ``rtui envs create``, from a home of the module's own."""
    server = start_sshd(tmp_path_factory.mktemp("envs_sshd"))
    runtime = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    try:
        bin_dir = server.remote_home / ".local" / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "uv").symlink_to(uv.find_uv_bin())
        home = tmp_path_factory.mktemp("envs_home")
        add_lab(server, home)
        env = {"HOME": str(home), "XDG_RUNTIME_DIR": runtime,
               **{var: str(home / sub) for var, sub in (
                   ("XDG_CONFIG_HOME", ".config"), ("XDG_DATA_HOME", ".local/share"),
                   ("XDG_STATE_HOME", ".local/state"), ("XDG_CACHE_HOME", ".cache"))}}
        made = run_rtui("envs", "create", "lab", NAME, "six", "--tool", "uv", "--python", PY,
                        env=env, timeout=300)
        yield Lab(server, made)
    finally:
        server.close()
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def lab(module_lab: Lab, isolated_home: Path) -> Lab:
    """The module's host in this test's own hosts file."""
    add_lab(module_lab.server, isolated_home)
    return module_lab


def test_a_first_word_that_is_no_action_is_the_host_to_list() -> None:
    parse = build_parser().parse_args
    for argv, host, as_json in ((["envs", "lab"], "lab", False),
                                (["envs", "--json", "lab"], "lab", True),
                                (["envs", "lab", "--json"], "lab", True),
                                (["envs", "list", "create"], "create", False),  # named so
                                (["envs", "list", "list", "--json"], "list", True)):
        args = parse(argv)
        assert (args.envs_command, args.host, args.json) == ("list", host, as_json), argv
    args = parse(["envs", "create", "lab", "ml", "--tool", "uv", "six", "-r", "r.txt", "pip"])
    assert (args.envs_command, args.host, args.name, args.tool, args.requirements,
            args.packages) == ("create", "lab", "ml", "uv", "r.txt", ["six", "pip"])
    args = parse(["envs", "--json", "packages", "lab", "ml"])
    assert (args.envs_command, args.env, args.json) == ("packages", "ml", True)


def test_usage_errors_exit_2_before_any_connection(capsys: pytest.CaptureFixture[str]) -> None:
    for args, said in ((("create", "lab", "b@d"), "a name is letters, digits"),
                       (("install", "lab", NAME), "nothing to install"),
                       (("export", "lab", NAME, "--format", "zip"), "invalid choice"),
                       (("lab", "--bogus"), "unrecognized arguments: --bogus")):
        with pytest.raises(SystemExit) as ended:
            main(["envs", *args])
        assert ended.value.code == 2, args
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err, (args, err)
    assert main(["envs"]) == 2  # no host, no action: the help
    assert "rtui envs HOST" in capsys.readouterr().err


def test_create_then_list_and_read_its_packages(lab: Lab,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    made = lab.made
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"created {NAME} on lab with uv: {lab.prefix()}/bin/python")
    assert "ipykernel " in made.stdout
    assert "creating cli-six on lab with uv" in rtui_only(made.stderr)  # progress

    code, out, _ = cli(capsys, "envs", "list", "lab", "--sizes")  # `list`: a host so named
    assert code == 0
    line = next(ln for ln in out.splitlines() if ln.startswith(f"{lab.prefix()}/bin/python"))
    assert f"(venv, {NAME})" in line and "ipykernel" in line, line
    assert "made by rtui with uv" in line and "iB]" in line, line

    code, out, _ = cli(capsys, "envs", "packages", "lab", NAME)
    assert code == 0
    rows = [ln.split() for ln in out.splitlines()]
    assert {key(name): version for name, version in rows} == lab.installed()
    assert {"six", "ipykernel", "pip"} <= lab.installed().keys()


def test_install_upgrade_uninstall_from_a_file_and_names(
        lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# what the project needs\niniconfig==1.1.1\n")
    code, out, err = cli(capsys, "envs", "install", "lab", NAME, "-r", str(requirements))
    assert code == 0 and lab.installed()["iniconfig"] == "1.1.1"
    assert out == f"installed in {NAME} on lab: the file's packages\n"
    assert "  install requirements in cli-six on lab" in err  # the progress lines

    code, out, _ = cli(capsys, "envs", "upgrade", "lab", NAME, "iniconfig")
    newer = lab.installed()["iniconfig"]
    assert code == 0 and newer != "1.1.1"
    assert out == f"upgraded in {NAME} on lab: iniconfig {newer}\n"

    code, out, _ = cli(capsys, "envs", "uninstall", "lab", NAME, "iniconfig")
    assert code == 0 and "iniconfig" not in lab.installed()
    assert out.startswith(f"uninstalled from {NAME} on lab: iniconfig (")

    code, out, _ = cli(capsys, "envs", "packages", "lab", NAME, "--json")
    assert code == 0
    assert {key(p["name"]): p["version"] for p in json.loads(out)} == lab.installed()


def test_export_writes_a_file_and_never_replaces_one_unasked(
        lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "requirements.txt"
    code, out, _ = cli(capsys, "envs", "export", "lab", NAME, "-o", str(target))
    assert code == 0 and out.startswith(f"exported {NAME} on lab to {target} (requirements")
    lines = target.read_text().splitlines()
    assert f"six=={lab.installed()['six']}" in lines, lines
    assert [p.name for p in out_dir.iterdir()] == ["requirements.txt"]  # no temporary left
    assert target.stat().st_mode & 0o777 == 0o666 & ~current_umask()

    target.write_text("mine\n")
    code, out, err = cli(capsys, "envs", "export", "lab", NAME, "-o", str(target))
    assert code == 1 and not out and err == f"rtui: {target} exists: --force replaces it\n"
    assert target.read_text() == "mine\n"

    code, out, _ = cli(capsys, "envs", "export", "lab", NAME, "-o", str(target), "--force")
    assert code == 0 and target.read_text().splitlines() == lines


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_default_writes_the_envs_python_into_hosts_toml(
        lab: Lab, config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "envs", "default", "lab", NAME)
    python = str(lab.prefix() / "bin" / "python")
    assert code == 0 and out == f"lab's Python is now {python} ({NAME})\n"
    assert HostStore(config_file).load().require("lab").python == python


def test_run_takes_an_environments_name(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "run", "lab", "--env", NAME, "-c",
                       "import sys, six\nprint(sys.prefix)")
    assert code == 0 and out.splitlines()[-1] == str(lab.prefix())


def test_bad_input_is_said_in_one_line_with_its_exit_code(
        lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exists = run_rtui("envs", "create", "lab", NAME, "--python", PY)  # as a shell runs it
    assert exists.returncode == 1, exists.stderr
    said = [ln for ln in rtui_only(exists.stderr).splitlines() if ln.startswith("rtui: ")]
    assert len(said) == 1 and NAME in said[0] and "exists" in said[0], exists.stderr
    assert (lab.prefix() / "pyvenv.cfg").is_file()  # the one there is left alone

    code, out, err = cli(capsys, "envs", "packages", "lab", "nosuch")
    assert code == 1 and not out and len(err.splitlines()) == 1
    assert err.startswith("rtui: no environment nosuch on lab") and NAME in err

    code, out, err = cli(capsys, "envs", "create", "lab", "other", "-r",
                         str(tmp_path / "nope.txt"))
    assert code == 1 and not out
    assert err == f"rtui: requirements file {tmp_path / 'nope.txt'}: no such file\n"
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x89PNG\0\0\xff")
    for path, why in ((binary, "not a text file"), (tmp_path, "a directory, not a file")):
        code, out, err = cli(capsys, "envs", "install", "lab", NAME, "-r", str(path))
        assert code == 1 and err == f"rtui: requirements file {path}: {why}\n"
    assert not lab.prefix("other").exists()


def test_ctrl_c_during_create_leaves_nothing(lab: Lab) -> None:
    """venv + pip (slow enough to be cut): the agent removes what it made, then rtui says so."""
    proc = subprocess.Popen([sys.executable, "-m", "rtui", "envs", "create", "lab", "cli-cut",
                             "--tool", "venv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stderr or ()],
                     daemon=True).start()
    try:
        said = [lines.get(timeout=60)]  # rtui's first progress line
        deadline = time.monotonic() + 60
        while not (lab.prefix("cli-cut") / "pyvenv.cfg").exists():  # the agent is at work
            assert time.monotonic() < deadline and proc.poll() is None, said
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.2)  # the reader's last lines
    while not lines.empty():
        said.append(lines.get())
    stderr = "".join(said)
    assert code == 130, stderr
    assert "rtui: cancelled: nothing left on lab\n" in rtui_only(stderr)
    assert not (proc.stdout and proc.stdout.read())
    assert not lab.prefix("cli-cut").exists()


def test_rm_asks_refuses_without_a_terminal_and_forces_an_unmarked_env(
        lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """The last test: it removes the module's environment."""
    refused = run_rtui("envs", "rm", "lab", NAME, input="")  # no terminal, no --yes
    assert refused.returncode == 1 and lab.prefix().is_dir()
    assert "no terminal to ask on (--yes removes it without asking)" in rtui_only(
        refused.stderr)
    kept = rm_on_a_terminal(NAME, "n\n")  # on a terminal it asks
    assert kept.returncode == 1 and not rtui_only(kept.stderr)
    assert kept.stdout == (f"Remove {NAME} ({lab.prefix()}, made by rtui) on lab? [y/N] "
                           f"kept {NAME} on lab\n")
    assert lab.prefix().is_dir()
    code, out, _ = cli(capsys, "envs", "rm", "lab", NAME, "--yes")
    assert code == 0 and out == f"removed {NAME} on lab: {lab.prefix()}\n"
    assert not lab.prefix().exists()

    plain = lab.server.remote_home / ".venvs" / "plain"  # a venv rtui did not make
    subprocess.run([PY, "-m", "venv", "--without-pip", str(plain)], check=True, timeout=60)
    try:
        code, _, err = cli(capsys, "envs", "rm", "lab", "plain", "--yes")
        assert code == 1 and plain.is_dir()
        assert err == (
            f"rtui: plain on lab ({plain}) was not made by rtui: --force removes it anyway\n")
        code, out, _ = cli(capsys, "envs", "rm", "lab", "plain", "--yes", "--force")
        assert code == 0 and out == f"removed plain on lab: {plain}\n"
        assert not plain.exists()
    finally:
        shutil.rmtree(plain, ignore_errors=True)


def rm_on_a_terminal(name: str, answer: str) -> subprocess.CompletedProcess[str]:
    """``rtui envs rm lab NAME`` with stdin on a pty, where ``answer`` is typed."""
    master, slave = pty.openpty()
    try:
        os.write(master, answer.encode())
        return subprocess.run([sys.executable, "-m", "rtui", "envs", "rm", "lab", name],
                              stdin=slave, capture_output=True, text=True, timeout=60)
    finally:
        os.close(slave)
        os.close(master)
