"""The check's probe script, run here by /bin/sh as the host would: what it reports, and its
cache of interpreter answers (kept while nothing changed, asked again when something did)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from rtui.core.ssh.check import _PROBE, parse_probe


def probe(pythons: list[str], env: dict[str, str]) -> str:
    script = _PROBE.replace("EXTRA_PYTHONS", " ".join(shlex.quote(p) for p in pythons))
    result = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True,
                            env=env, timeout=60, check=True)
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
    cache = json.loads((tmp_path / "cache" / "rtui" / "probe-v1.json").read_text())
    assert cache[str(python)]["ipykernel"] is True

    assert parse_probe(probe([str(python)], env))[2][0] == first
    assert log.read_text().count("start") == 1  # nothing changed: not started again

    time.sleep(0.01)
    python.touch()  # the interpreter was replaced (an upgrade): asked again
    assert parse_probe(probe([str(python)], env))[2][0] == first
    assert log.read_text().count("start") == 2


def test_probe_without_ipykernel_and_one_interpreter_under_two_names(tmp_path: Path) -> None:
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    link = tmp_path / "same-python"
    link.symlink_to(venv / "bin" / "python")
    env = dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    _, _, pythons, _ = parse_probe(probe([str(venv / "bin" / "python"), str(link)], env))
    mine = [p for p in pythons if p.path in (str(venv / "bin" / "python"), str(link))]
    assert [p.path for p in mine] == [str(venv / "bin" / "python")]  # the first name only
    assert mine[0].ipykernel is False


def test_the_check_and_the_agent_look_for_the_same_kernel_packages() -> None:
    """Enter trusts the check's verdict on the configured Python and skips the agent's probe,
    so both must call an interpreter able to run a kernel on the same grounds."""
    from rtui.agent.probe import PROBE_CODE
    from rtui.core.ssh.check import _ASK

    def packages(code: str) -> list[str]:
        found = re.findall(r'\(\s*"ipykernel",\s*"[^)]*\)', code)
        assert len(found) == 1, found
        return sorted(re.findall(r'"(\w+)"', found[0]))

    assert packages(_ASK) == packages(PROBE_CODE)
    assert "zmq" in packages(_ASK)
