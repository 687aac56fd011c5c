"""The check's probe script, run here by /bin/sh as the host would: what it reports, and its
cache of interpreter answers (kept while nothing changed, asked again when something did). It
is the agent's own discovery of Pythons: the same candidates, the same answers."""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import ipykernel
import pytest

from rtui.agent import envs, status
from rtui.agent import probe as agent_probe
from rtui.core.remote.bundle import agent_bundle
from rtui.core.ssh.check import parse_probe, probe_script

OLD_PYTHON = next(iter(sorted(glob.glob(os.path.expanduser(
    "~/.pyenv/versions/3.[0-7].*/bin/python")), reverse=True)), "")


def probe(pythons: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(["/bin/sh", "-c", probe_script(pythons)], capture_output=True,
                            text=True, env=env, timeout=120, check=True)
    return result.stdout


def counting_python(tmp_path: Path) -> tuple[Path, Path]:
    """An interpreter that notes each start in a log, then is this Python."""
    log = tmp_path / "starts.log"
    wrapper = tmp_path / "bin" / "counted-python"
    wrapper.parent.mkdir()
    wrapper.write_text(f"#!/bin/sh\necho start >> {shlex.quote(str(log))}\n"
                       f"exec {shlex.quote(sys.executable)} \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper, log


def test_probe_reports_and_caches_until_something_changes(tmp_path: Path) -> None:
    python, log = counting_python(tmp_path)
    env = dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    os_name, arch, pythons, kernels = parse_probe(probe([str(python)], env))
    assert os_name == os.uname().sysname and arch == os.uname().machine and kernels == 0
    first = pythons[0]
    assert first.path == str(python) and first.ipykernel
    assert first.version == ".".join(map(str, sys.version_info[:3]))
    assert log.read_text().count("start") == 1  # asked once
    cache = json.loads((tmp_path / "cache" / "rtui" / "probe-v2.json").read_text())
    assert cache[str(python)]["ipykernel"] == ipykernel.__version__

    assert parse_probe(probe([str(python)], env))[2][0] == first
    assert log.read_text().count("start") == 1  # nothing changed: not started again

    time.sleep(0.01)
    python.touch()  # the interpreter was replaced (an upgrade): asked again
    assert parse_probe(probe([str(python)], env))[2][0] == first
    assert log.read_text().count("start") == 2


def test_probe_without_ipykernel_and_one_interpreter_under_two_names(tmp_path: Path) -> None:
    """Two names inside one venv are one environment, listed under the first; a link to the
    venv's interpreter from outside it runs the base Python (pyvenv.cfg is looked up beside
    the name it was started by), so it is an environment of its own, with the base's
    packages."""
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    link = tmp_path / "same-python"
    link.symlink_to(venv / "bin" / "python")
    env = dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    names = [str(venv / "bin" / "python"), str(venv / "bin" / "python3"), str(link)]
    _, _, pythons, _ = parse_probe(probe(names, env))
    mine = [p for p in pythons if p.path in names]
    assert [p.path for p in mine] == [str(venv / "bin" / "python"), str(link)]  # first name
    assert mine[0].ipykernel is False
    assert mine[0].given == (str(venv / "bin" / "python"), str(venv / "bin" / "python3"))
    assert mine[1].ipykernel is True


def test_the_check_runs_the_agents_own_discovery() -> None:
    """Enter trusts the check's verdict on the configured Python and skips the agent's probe,
    so both must judge an interpreter on the same grounds: the check's script carries the
    agent's modules themselves (one candidate list, one probe), not a copy."""
    script = probe_script(["~/envs/lab"])
    for module in (agent_probe, envs, status):
        assert Path(module.__file__ or "").read_text() in script

    def packages(code: str) -> list[str]:
        found = re.findall(r'\(\s*"ipykernel",\s*"[^)]*\)', code)
        assert len(found) == 1, found
        return sorted(re.findall(r'"(\w+)"', found[0]))

    assert "zmq" in packages(agent_probe.ASK)
    assert len(probe_script()) < 100_000  # one exec request, far below sshd's limits


def test_the_check_and_the_agent_list_the_same_pythons(tmp_path: Path) -> None:
    """A venv where only the agent looked before (~/.venvs), a configured Python, a missing
    one: the check lists exactly what the agent's ``envs`` does."""
    home = tmp_path / "home"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home / ".venvs" / "x")],
                   check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYENV", "CONDA"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
               XDG_DATA_HOME=str(home / ".local/share"),
               PATH=os.pathsep.join(d for d in env["PATH"].split(os.pathsep) if "pyenv" not in d))
    configured = [sys.executable, str(home / "missing")]
    _, _, pythons, _ = parse_probe(probe(configured, env))

    built = agent_bundle()
    pyz = tmp_path / built.name
    pyz.write_bytes(built.data)
    proc = subprocess.Popen([sys.executable, str(pyz)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert json.loads(proc.stdout.readline())["event"] == "ready"
        proc.stdin.write(json.dumps({"id": 1, "op": "envs", "args": {"extra": configured}})
                         + "\n")
        proc.stdin.flush()
        reply = json.loads(proc.stdout.readline())
    finally:
        proc.stdin.close()
        proc.wait(30)
    listed = [e for e in reply["result"]["envs"] if not e["error"]]
    assert [p.path for p in pythons] == [e["python"] for e in listed]
    assert [p.version for p in pythons] == [e["version"] for e in listed]
    assert [p.ipykernel for p in pythons] == [bool(e["ipykernel"]) for e in listed]
    assert str(home / ".venvs" / "x" / "bin" / "python") in [p.path for p in pythons]
    assert pythons[0].path == sys.executable and pythons[0].given == (sys.executable,)


@pytest.mark.skipif(not OLD_PYTHON, reason="no Python older than 3.8 here")
def test_an_old_python3_gives_way_and_is_still_listed(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(OLD_PYTHON)
    env = dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"),
               PATH=f"{bin_dir}:/usr/bin:/bin")
    env.pop("PYENV_ROOT", None)
    version = subprocess.run([OLD_PYTHON, "-c", "import sys; print('%d.%d.%d' % "
                              "tuple(sys.version_info[:3]))"], capture_output=True, text=True,
                             check=True).stdout.strip()
    # No Python >= 3.8 to run the report: the old one names itself.
    os_name, _, pythons, _ = parse_probe(probe([], dict(env, PATH=f"{bin_dir}:/bin")))
    assert os_name == os.uname().sysname
    assert [(p.version, p.ipykernel) for p in pythons] == [(version, False)]
    # A configured newer one runs it, and lists the old one as the agent does.
    _, _, pythons, _ = parse_probe(probe([sys.executable], env))
    assert pythons[0].path == sys.executable and pythons[0].ipykernel
    old = [p for p in pythons if p.version == version]
    assert len(old) == 1 and not old[0].ipykernel
