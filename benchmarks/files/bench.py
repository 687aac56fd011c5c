"""The files benchmark's ground: its sizes, goals and rows, the sshd's two ends and the
OpenSSH command lines, timing a command, and this process's RSS over a transfer."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.farlink.link import FarLink
from tests.harness.sshd import SSHD

MiB = 1 << 20
GiB = 1 << 30
CIPHER = "aes128-gcm@openssh.com"
HOST, FAR = "bench", "far"
DELAY, BANDWIDTH = 0.05, 10e6  # the far link: seconds each way, bytes per second
STEP_TIMEOUT = 1800.0  # one transfer or listing (1 GiB through the far link: ~110 s)
RSS_EVERY = 0.05
SLOPE_FROM = 128 * MiB  # the smallest transfer whose RSS slope is shown
GOAL_BIG, GOAL_FOLDER, GOAL_LINK = 0.9, 1.0, 0.9  # x OpenSSH's best, x scp -r, x the link
GOAL_FIRST, GOAL_LIST = 0.2, 2.0  # s to the first rows; x `ls -la` for the whole
MISSING = "not there yet"

ENGINE, CLI, SFTP, SCP = "rtui (engine, in process)", "`rtui cp`", "`sftp -b`", "`scp`"
SCP_R, SFTP_R = "`scp -r`", "`sftp -b put/get -r`"
LS, SERVICE, AGENT, SCANDIR = ("`ssh host ls -la`", "rtui `HostFiles.list`",
                               "agent `fs_list` alone", "SFTP `scandir` alone")
TAB = "rtui Files tab (pilot, 80x24)"


@dataclass(frozen=True)
class Sizes:
    mib: int
    files: int
    entries: int
    relay_mib: int
    runs: int
    logins: int = 3  # tries of a login alone, the best taken off the timed commands


FULL = Sizes(mib=1024, files=10_000, entries=100_000, relay_mib=1024, runs=3)
QUICK = Sizes(mib=8, files=100, entries=2_000, relay_mib=1, runs=1, logins=1)


@dataclass
class Row:
    """One path's times (seconds) by direction ("up", "down", or "first"/"all" for a
    listing); why it has none."""

    label: str
    times: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None
    missing: bool = False

    def add(self, key: str, seconds: float) -> None:
        self.times.setdefault(key, []).append(seconds)

    def p50(self, key: str) -> float | None:
        values = self.times.get(key)
        return statistics.median(values) if values else None


@dataclass
class Rss:
    """The engine's RSS during one transfer: at its start, its peak, and its slope."""

    direction: str
    start_mib: float
    peak_mib: float
    slope: float | None  # MiB per GiB sent, over the last three quarters


@dataclass
class Bench:
    """The sshd, both ends' folders, the OpenSSH command lines and rtui's workspace."""

    root: Path
    server: SSHD
    home: Path
    known_hosts: Path
    workspace: Any = None  # rtui.core.workspace.Workspace
    env: dict[str, str] = field(default_factory=dict)
    link: FarLink | None = None

    @property
    def local(self) -> Path:
        return self.root / "local"

    @property
    def remote(self) -> Path:
        return self.root / "remote"

    def openssh(self, tool: str) -> list[str]:
        """``tool`` (ssh, sftp, scp) with a hermetic login: our key and known_hosts only."""
        port = "-p" if tool == "ssh" else "-P"
        return [tool, "-q", "-F", "/dev/null", port, str(self.server.port),
                "-i", str(self.server.client_key), "-c", CIPHER,
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes",
                "-o", "IdentityAgent=none"]

    @property
    def target(self) -> str:
        return f"{self.server.user}@127.0.0.1"


def there(module: str) -> bool:
    """rtui's ``module`` is written (the issue's parts land one by one)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def rtui_has(command: str) -> bool:
    """The ``rtui`` command line has the sub-command ``command`` (``cp`` came after ``files``)."""
    from benchmarks.common import rtui_command

    done = subprocess.run([*rtui_command(), command, "--help"], capture_output=True,
                          timeout=60, check=False)
    return done.returncode == 0


def timed(command: list[str], *, stdin: str | None = None,
          env: dict[str, str] | None = None) -> float:
    """Seconds for ``command`` to run to a zero exit (its failure raised with its words)."""
    started = time.perf_counter()
    done = subprocess.run(command, input=stdin, text=True, capture_output=True, env=env,
                          timeout=STEP_TIMEOUT, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{' '.join(command[:2])}... exited {done.returncode}: {said[0]}")
    return elapsed


def net(seconds: float, login: float) -> float:
    """``seconds`` without the login in it (at least 1 ms: a tiny run is mostly login)."""
    return max(seconds - login, 0.001)


def turn(rows: list[Row], index: int) -> list[Row]:
    """The rows still to measure, in round ``index``'s order (another each round, so the
    machine's drift hits every path alike)."""
    live = [row for row in rows if not row.missing and row.error is None]
    shift = index % len(live) if live else 0
    return live[shift:] + live[:shift]


def best_of(times: int, command: list[str], **kwargs: Any) -> float:
    return min(timed(command, **kwargs) for _ in range(times))


def clear(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(4 * MiB):
            sha.update(chunk)
    return sha.hexdigest()


class RssSampler:
    """This process's VmRSS every RSS_EVERY seconds in a thread, with the time."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self.samples.append((time.perf_counter(), rss_mib()))
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter(), rss_mib()))

    def _run(self) -> None:
        while not self._stop.wait(RSS_EVERY):
            self.samples.append((time.perf_counter(), rss_mib()))

    def result(self, direction: str, size: int) -> Rss:
        """The slope over the last three quarters of the time, bytes taken as even in time
        (a steady transfer): a least-squares line through (bytes sent, RSS). None below
        SLOPE_FROM: a few MiB's worth of samples extrapolated to a GiB say nothing."""
        (t0, start), (t1, _) = self.samples[0], self.samples[-1]
        span = max(t1 - t0, 1e-9)
        points = [((t - t0) / span * size / GiB, mib) for t, mib in self.samples
                  if (t - t0) / span >= 0.25]
        slope = None
        if len(points) >= 3 and size >= SLOPE_FROM:
            mean_x = statistics.fmean(x for x, _ in points)
            mean_y = statistics.fmean(y for _, y in points)
            var = sum((x - mean_x) ** 2 for x, _ in points)
            if var > 0:
                slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var
        return Rss(direction, start, max(mib for _, mib in self.samples), slope)


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
