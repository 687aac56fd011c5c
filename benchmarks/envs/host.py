"""The envs benchmark's ground: the host (a loopback OpenSSH sshd, online or with its package
index unreachable), uv linked into its home, the OpenSSH command lines, the by-hand paths,
the caches, and checking that a made environment works."""

from __future__ import annotations

import importlib
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.sshd import SSHD

__all__ = [
    "DEAD_INDEX",
    "OFFLINE_SETENV",
    "ONLINE_SETENV",
    "PACKAGES",
    "STEP_TIMEOUT",
    "Host",
    "Made",
    "base_python",
    "check_env",
    "local_uv",
    "uv_version",
]

PACKAGES = ("ipykernel", "numpy")
DEAD_INDEX = "http://127.0.0.1:9/simple"  # nothing listens on port 9: refused at once
# uv on the host trusts the system's certificates, as pip does here (/etc/pip.conf's cert):
# on this machine PyPI is reached through a certificate that uv's own roots lack.
# PIP_COMPILE=1: pip's own default (it compiles bytecode), which the test harness turns off.
ONLINE_SETENV = "SetEnv UV_SYSTEM_CERTS=1 PIP_COMPILE=1"
# sshd honours only the first SetEnv line: every variable on one (the harness merges it with
# its own HOME and XDG_RUNTIME_DIR).
OFFLINE_SETENV = ONLINE_SETENV + "".join(
    f" {var}={DEAD_INDEX}" for var in ("PIP_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX"))
STEP_TIMEOUT = 1800.0  # one create (a cold pip install of numpy on a loaded machine)
CHECK = "import ipykernel, numpy"


def base_python() -> str:
    """The interpreter every path makes its environment from: this Python's base (not a
    venv's), so rtui and the by-hand commands start from the same one."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (Path(sys.base_prefix) / "bin" / version,
                      Path(sys.base_prefix) / "bin" / "python3"):
        if candidate.is_file():
            return str(candidate)
    return sys.executable


def local_uv() -> Path | None:
    """This machine's uv binary (the pip package ``uv``), not a shim in front of it."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return beside.resolve()
    try:
        found = Path(importlib.import_module("uv").find_uv_bin())
    except (ImportError, FileNotFoundError, AttributeError):
        which = shutil.which("uv")
        return Path(which).resolve() if which else None
    return found.resolve()


def uv_version(uv: Path | None) -> str:
    if uv is None:
        return "no uv"
    out = subprocess.run([str(uv), "--version"], capture_output=True, text=True, timeout=30,
                         check=False)
    return out.stdout.strip() or "uv ?"


@dataclass
class Made:
    """One timed create: its seconds, where the environment is, what was uploaded."""

    seconds: float
    prefix: Path
    uploaded: str = ""  # e.g. "31 wheels, 42.1 MB" (offline paths)


@dataclass
class Host:
    """The sshd playing the host, and the client side's throwaway HOME (``env``)."""

    server: SSHD
    offline: bool
    known_hosts: Path
    env: dict[str, str]  # this side's subprocesses: the throwaway HOME and XDG dirs
    scratch: Path  # this side's folder for the by-hand wheel downloads
    base: str = field(default_factory=base_python)
    counter: int = 0

    @property
    def home(self) -> Path:
        return self.server.remote_home

    @property
    def target(self) -> str:
        return f"{self.server.user}@{self.server.host}"

    def openssh(self, tool: str) -> list[str]:
        """``ssh`` or ``scp`` with a hermetic login: our key and known_hosts only."""
        port = "-p" if tool == "ssh" else "-P"
        return [tool, "-q", "-F", "/dev/null", port, str(self.server.port),
                "-i", str(self.server.client_key),
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes",
                "-o", "IdentityAgent=none"]

    def link_uv(self, uv: Path) -> None:
        """The host "has uv": the local binary linked as ``~/.local/bin/uv`` there."""
        bin_dir = self.home / ".local" / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        link = bin_dir / "uv"
        link.unlink(missing_ok=True)
        link.symlink_to(uv)

    def fresh_name(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}-{self.counter}"

    def clear_caches(self) -> None:
        """Cold: the host's pip and uv caches (``~/.cache``) and this side's (pip's, and
        rtui's downloaded wheels) emptied."""
        shutil.rmtree(self.home / ".cache", ignore_errors=True)
        shutil.rmtree(Path(self.env["XDG_CACHE_HOME"]), ignore_errors=True)

    def forget_uploads(self) -> None:
        """rtui keeps the wheels it uploaded on the host (``<state_dir>/wheels``) and sends
        only the missing ones; removed before each of its offline runs, so every run counts
        the whole upload, as ``scp -r`` does by hand."""
        shutil.rmtree(self.home / ".local" / "share" / "rtui" / "wheels", ignore_errors=True)

    # ------------------------------------------------------------------ the by-hand paths

    def _run(self, argv: list[str], what: str) -> None:
        out = subprocess.run(argv, env=self.env, capture_output=True, text=True,
                             timeout=STEP_TIMEOUT, check=False)
        if out.returncode != 0:
            tail = " ".join((out.stderr or out.stdout).strip().splitlines()[-3:])
            raise RuntimeError(f"{what} exited {out.returncode}: {tail}")

    def _ssh(self, command: str, what: str) -> None:
        self._run([*self.openssh("ssh"), self.target, command], what)

    def by_hand_pip(self) -> Made:
        """``ssh host 'python3 -m venv X && X/bin/pip install ipykernel numpy'``."""
        prefix = self.home / "by-hand" / self.fresh_name("pip")
        q = shlex.quote
        command = (f"{q(self.base)} -m venv {q(str(prefix))} && "
                   f"{q(str(prefix / 'bin' / 'pip'))} install {' '.join(PACKAGES)}")
        started = time.perf_counter()
        self._ssh(command, "ssh host 'python3 -m venv X && X/bin/pip install ...'")
        return Made(time.perf_counter() - started, prefix)

    def by_hand_uv(self) -> Made:
        """``ssh host 'uv venv X && uv pip install -p X ipykernel numpy'`` (uv as a person
        runs it: rtui's own overhead over uv is the difference)."""
        prefix = self.home / "by-hand" / self.fresh_name("uv")
        q, uv = shlex.quote, "$HOME/.local/bin/uv"
        command = (f"{uv} venv -q --python {q(self.base)} {q(str(prefix))} && "
                   f"{uv} pip install -q --python {q(str(prefix / 'bin' / 'python'))} "
                   f"{' '.join(PACKAGES)}")
        started = time.perf_counter()
        self._ssh(command, "ssh host 'uv venv X && uv pip install ...'")
        return Made(time.perf_counter() - started, prefix)

    def by_hand_offline(self) -> Made:
        """No index on the host: ``pip download`` here, ``scp -r`` the wheels up, then
        ``ssh host 'python3 -m venv X && X/bin/pip install --no-index --find-links W ...'``."""
        name = self.fresh_name("offline")
        wheels = self.scratch / name
        remote_wheels = self.home / "by-hand-wheels" / name
        remote_wheels.parent.mkdir(parents=True, exist_ok=True)
        prefix = self.home / "by-hand" / name
        q = shlex.quote
        started = time.perf_counter()
        self._run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                   "-d", str(wheels), *PACKAGES], "pip download (here)")
        self._run([*self.openssh("scp"), "-r", str(wheels),
                   f"{self.target}:{remote_wheels}"], "scp -r wheels host:")
        self._ssh(f"{q(self.base)} -m venv {q(str(prefix))} && "
                  f"{q(str(prefix / 'bin' / 'pip'))} install --no-index --find-links "
                  f"{q(str(remote_wheels))} {' '.join(PACKAGES)}",
                  "ssh host 'python3 -m venv X && X/bin/pip install --no-index ...'")
        seconds = time.perf_counter() - started
        files = sorted(wheels.glob("*.whl"))
        size = sum(path.stat().st_size for path in files)
        shutil.rmtree(wheels, ignore_errors=True)
        shutil.rmtree(remote_wheels, ignore_errors=True)
        return Made(seconds, prefix, uploaded=f"{len(files)} wheels, {size / 1e6:.1f} MB")


def check_env(prefix: Path) -> None:
    """The environment imports ipykernel and numpy (else the run's figure is no figure);
    the host is this machine, so its python is run here."""
    python = prefix / "bin" / "python"
    out = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True,
                         timeout=120, check=False)
    if out.returncode != 0:
        tail = " ".join(out.stderr.strip().splitlines()[-2:])
        raise RuntimeError(f"the environment made does not work ({CHECK}): {tail}")
