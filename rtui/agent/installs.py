"""Running pip and uv for the host's environments (``setup``'s venv, ``env_*``'s): each child
streamed line by line as progress, cancellable (it runs in its own session and is killed as a
group), and its failure named: no index, no such package, a full disk, or the tool's own.
"""

from __future__ import annotations

import contextlib
import glob
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import deque

from .envs import which
from .paths import state_dir
from .protocol import OpError, on_exit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from .protocol import Progress

NET_RE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Connection refused|"
    r"Max retries exceeded|Temporary failure in name resolution|Name or service not known|"
    r"nodename nor servname|Network is unreachable|No route to host|ConnectTimeoutError|"
    r"ReadTimeoutError|ProxyError|SSLError|Could not fetch URL|timed out|"
    # uv's words for the same
    r"error sending request for url|tcp connect error|dns error|failed to lookup address"
)
_NET_REASONS = ("Connection refused", "Name or service not known",
                "Temporary failure in name resolution", "Network is unreachable",
                "No route to host", "timed out", "invalid peer certificate: UnknownIssuer",
                "CERTIFICATE_VERIFY_FAILED", "SSLError", "ProxyError", "dns error",
                "failed to lookup address")
_DISK_RE = re.compile(r"No space left on device|\[Errno 28\]|os error 28|Disk quota exceeded")
# What pip and uv say of a requirement the index (or the wheels) cannot satisfy.
_MISSING_RES = (
    re.compile(r"No matching distribution found for (\S+)"),                     # pip
    re.compile(r"Because (\S+) was not found in the (?:package registry|provided package)"),
    re.compile(r"there (?:is|are) no versions? of (\S+?)(?: and|,|$)"),          # uv
    re.compile(r"only \S+? is available and you require (\S+?)(?:,|$| and)"),    # uv
)
_KILL_GRACE = 3.0  # seconds between SIGTERM and SIGKILL of a cancelled child's group
# A child silent this long (uv downloading a large wheel prints nothing) is said to be still
# at work, so that a caller bounding a request by silence does not give it up.
HEARTBEAT = 30.0


def uv_version(uv: str) -> str | None:
    """The version ``uv --version`` reports (None: it does not run here)."""
    try:
        said = subprocess.run([uv, "--version"], capture_output=True, timeout=15,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    words = said.stdout.decode("utf-8", "replace").split()
    return words[1] if not said.returncode and len(words) > 1 and words[0] == "uv" else None


def find_uv() -> tuple[str | None, str | None]:
    """(path, version) of the first uv that runs: on PATH, rtui's own, then uv's install dirs."""
    for path in (which("uv"), os.path.join(state_dir(), "bin", "uv"),
                 os.path.expanduser("~/.local/bin/uv"), os.path.expanduser("~/.cargo/bin/uv")):
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            version = uv_version(path)
            if version:
                return path, version
    return None, None


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment pip and uv run in: no prompts, unbuffered, installing into the
    environment named on the command line only, and one package index for both tools (an
    index given to either in the environment serves the other: uv reads no PIP_*)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PIP_NO_INPUT="1", PIP_USER="0")
    for var in ("PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "VIRTUAL_ENV", "UV_SYSTEM_PYTHON"):
        env.pop(var, None)
    uv_index = env.get("UV_DEFAULT_INDEX") or env.get("UV_INDEX_URL")
    if env.get("PIP_INDEX_URL") and not uv_index:
        env["UV_DEFAULT_INDEX"] = env["PIP_INDEX_URL"]
    elif uv_index and not env.get("PIP_INDEX_URL"):
        env["PIP_INDEX_URL"] = uv_index
    if env.get("PIP_EXTRA_INDEX_URL") and not env.get("UV_EXTRA_INDEX_URL"):
        env["UV_EXTRA_INDEX_URL"] = env["PIP_EXTRA_INDEX_URL"]
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")  # the Python asked for, or an error
    env.setdefault("UV_NO_PROGRESS", "1")
    env.update(extra or {})
    return env


_system_certs: dict[tuple[str, float], bool] = {}
_TLS_VARS = ("UV_SYSTEM_CERTS", "UV_NATIVE_TLS", "SSL_CERT_FILE", "SSL_CERT_DIR")


def _says_system_certs(uv: str) -> bool:
    """Whether this uv knows --system-certs (newer; UV_NATIVE_TLS, older, is deprecated)."""
    try:
        key = (uv, os.stat(uv).st_mtime)
    except OSError:
        return False
    if key not in _system_certs:
        try:
            said = subprocess.run([uv, "pip", "install", "--help"], capture_output=True,
                                  timeout=15, stdin=subprocess.DEVNULL).stdout
        except (OSError, subprocess.SubprocessError):
            said = b""
        _system_certs[key] = b"--system-certs" in said
    return _system_certs[key]


def uv_env(uv: str, index_timeout: float) -> dict[str, str]:
    """child_env for ``uv``: the index bounded as pip's is, and the system's certificates
    trusted as pip trusts them (a host behind a proxy with its own CA reaches its index with
    pip; uv's bundled roots alone would not), unless the environment says how already."""
    extra = {"UV_HTTP_TIMEOUT": str(max(1, round(index_timeout))), "UV_HTTP_RETRIES": "1"}
    if not any(os.environ.get(var) for var in _TLS_VARS):
        extra["UV_SYSTEM_CERTS" if _says_system_certs(uv) else "UV_NATIVE_TLS"] = "1"
    return child_env(extra)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """End ``proc`` and everything it started (its session's group): TERM, then KILL."""
    for sig, wait in ((signal.SIGTERM, _KILL_GRACE), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except OSError:
            pass
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


_children: set[subprocess.Popen[bytes]] = set()  # running now, each the head of its group
_children_lock = threading.Lock()


def kill_children() -> None:
    """End every pip/uv still running (the agent is leaving: nobody will hear of them)."""
    with _children_lock:
        running = list(_children)
    for proc in running:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    for proc in running:
        with contextlib.suppress(subprocess.SubprocessError):
            proc.wait(5)


on_exit(kill_children)


def stream(cmd: list[str], progress: Progress, estimate: Callable[[str], float] | None = None,
           env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """Run ``cmd``, sending each output line as progress; (returncode, last lines).

    The caller's cancel kills the child's process group and raises ``cancelled``; the
    flag is looked at every 0.2 s, output or not."""
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env or child_env(),
                                start_new_session=True)
    except OSError as e:
        raise OpError("not_found", f"cannot run {cmd[0]}: {e.strerror}") from None
    with _children_lock:
        _children.add(proc)
    try:
        return _follow(proc, cmd, progress, estimate)
    finally:
        with _children_lock:
            _children.discard(proc)


def _follow(proc: subprocess.Popen[bytes], cmd: list[str], progress: Progress,
            estimate: Callable[[str], float] | None) -> tuple[int, list[str]]:
    """stream's loop: ``proc``'s lines as progress until it ends or is cancelled."""
    lines: deque[str] = deque(maxlen=80)
    out: queue.Queue[bytes | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            out.put(raw)
        out.put(None)

    threading.Thread(target=read, daemon=True).start()
    ended = False
    heard = time.monotonic()
    while True:
        if progress.cancelled():
            _kill_group(proc)
            raise OpError("cancelled", f"cancelled by the caller; {os.path.basename(cmd[0])} "
                          "was stopped")
        if ended:
            try:
                return proc.wait(0.2), list(lines)
            except subprocess.TimeoutExpired:
                continue
        try:
            raw = out.get(timeout=0.2)
        except queue.Empty:
            if time.monotonic() - heard >= HEARTBEAT:
                heard = time.monotonic()
                progress(f"{os.path.basename(cmd[0])} is still at work",
                         estimate("") if estimate else None)
            continue
        if raw is None:
            ended = True
            continue
        heard = time.monotonic()
        line = raw.decode("utf-8", "replace").rstrip()
        if line:
            lines.append(line)
            progress(line, estimate(line) if estimate else None)


class PipProgress:
    """A rough, monotonic fraction from pip's output."""

    def __init__(self) -> None:
        self.seen = 0
        self.fraction = 0.0

    def __call__(self, line: str) -> float:
        s = line.lstrip()
        if s.startswith(("Collecting", "Processing", "Requirement already satisfied")):
            self.seen += 1
            self.fraction = max(self.fraction, 0.6 * self.seen / (self.seen + 8))
        elif s.startswith(("Installing collected packages", "Found existing installation")):
            self.fraction = max(self.fraction, 0.7)
        elif s.startswith(("Successfully installed", "Successfully uninstalled")):
            self.fraction = 1.0
        return round(self.fraction, 3)


class UvProgress:
    """A rough, monotonic fraction from uv's summary lines (it prints no per-file lines)."""

    STEPS = (("Resolved", 0.3), ("Prepared", 0.7), ("Uninstalled", 0.8), ("Installed", 1.0),
             ("Audited", 1.0), ("Checked", 1.0))

    def __init__(self) -> None:
        self.fraction = 0.0

    def __call__(self, line: str) -> float:
        s = line.lstrip()
        for word, fraction in self.STEPS:
            if s.startswith(word):
                self.fraction = max(self.fraction, fraction)
        return self.fraction


def last_error(lines: list[str]) -> str:
    errors = [ln for ln in lines if ln.startswith("ERROR") or "Error" in ln
              or ln.lstrip().startswith(("error:", "cause:"))]
    return (errors or lines or ["no output"])[-1].strip()


def no_index_message(lines: list[str], tool: str = "pip") -> str:
    text = "\n".join(lines)
    reason = next((r for r in _NET_REASONS if r in text), "no connection")
    index = next((ln.split(":", 1)[1].strip() for ln in lines
                  if ln.startswith("Looking in indexes:")), None)
    if index is None:  # uv names the URL it failed to fetch: the index is its head
        urls = re.findall(r"Failed to fetch: [`']?(\S+?)[`']?$", text, re.M)
        index = urls[0].rstrip("/").rsplit("/", 1)[0] if urls else "PyPI"
    return (f"{tool} could not reach the package index {index} ({reason}); "
            "rtui can upload wheels from your machine instead")


def missing_requirement(lines: list[str]) -> str | None:
    """The requirement pip or uv found no package or version for, if that is what failed."""
    text = "\n".join(lines)
    for pattern in _MISSING_RES:
        found = pattern.search(text)
        if found:
            return found.group(1).strip("`'\".,")
    return None


def failure(tool: str, what: str, lines: list[str], offline: bool) -> OpError:
    """The error a failed pip/uv run (``what``: ``pip install six``) is reported as."""
    text = "\n".join(lines)
    if _DISK_RE.search(text):
        return OpError("disk_full", f"the host's disk is full: {what} stopped with "
                       f"'{last_error([ln for ln in lines if _DISK_RE.search(ln)])}'")
    if not offline and NET_RE.search(text):
        return OpError("no_index", no_index_message(lines, tool))
    missing = missing_requirement(lines)
    if missing:
        where = "among the uploaded wheels" if offline else "on the package index"
        return OpError("no_package", f"no package or version {missing} {where} "
                       f"({tool}: {last_error(lines)})")
    return OpError(f"{tool}_failed", f"{what} failed: {last_error(lines)}")


def make_venv(base: str, prefix: str, progress: Progress) -> bool:
    """``base -m venv prefix``, again without pip when that fails (no ensurepip, as on Debian
    without python3-venv); whether the venv came with pip. A venv that cannot be made at all
    raises ``venv_failed`` (``disk_full`` when that was why)."""
    progress(f"creating virtual environment {prefix} with {base} -m venv", 0.0)
    rc, lines = stream([base, "-m", "venv", prefix], progress)
    if not rc:
        return True
    progress("venv with pip failed (ensurepip missing?); retrying without pip", 0.02)
    rc, lines = stream([base, "-m", "venv", "--without-pip", prefix], progress)
    if rc:
        raise failure("venv", f"{base} -m venv {prefix}", lines, offline=True)
    return False


def discard(made: list[str]) -> None:
    """Remove what was made for an environment: the environment (``made[-1]``), then the
    directories made for it while they are empty."""
    shutil.rmtree(made[-1], ignore_errors=True)
    for directory in reversed(made[:-1]):
        try:
            os.rmdir(directory)
        except OSError:
            break


def has_pip(vpy: str) -> bool:
    try:
        return subprocess.run([vpy, "-m", "pip", "--version"], capture_output=True,
                              timeout=60, stdin=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _version_key(path: str) -> tuple[int, ...]:
    m = re.match(r"pip-([0-9.]+)", os.path.basename(path))
    return tuple(int(x) for x in m.group(1).strip(".").split(".") if x.isdigit()) if m else ()


def bootstrap_pip(vpy: str, base: str, wheels: str | None, progress: Progress) -> None:
    """Give a pip-less venv its pip: from a pip wheel in ``wheels``, else ensurepip."""
    found = sorted(glob.glob(os.path.join(wheels, "pip-*.whl")), key=_version_key) if wheels else []
    if found:
        whl = found[-1]
        progress(f"bootstrapping pip from {os.path.basename(whl)}", 0.03)
        rc, lines = stream([vpy, os.path.join(whl, "pip"), "install", "--no-index",
                            "--disable-pip-version-check", whl], progress)
        if rc:
            raise OpError("pip_failed", f"installing pip from {whl} failed: {last_error(lines)}")
        return
    rc, _ = stream([vpy, "-m", "ensurepip", "--default-pip"], progress)
    if rc:
        raise OpError("no_pip", f"{base} has no ensurepip, so the new venv has no pip: install "
                      "python3-venv (e.g. 'sudo apt install python3-venv') or let rtui upload "
                      "wheels from your machine")
