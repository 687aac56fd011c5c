"""rtui's remote agent: uploaded to the remote host and run as ``python -u agent_script.py``.

Standard library only, Python >= 3.8, never imports rtui. Speaks JSON lines on stdin/stdout:

- request  ``{"id": N, "op": "name", "args": {...}}``
- reply    ``{"id": N, "ok": true, "result": {...}}`` or
           ``{"id": N, "ok": false, "error": {"type": "snake_case", "message": "..."}}``
- progress ``{"id": N, "event": "progress", "data": {"line": "...", "fraction": 0.0-1.0|null}}``
- on start ``{"event": "ready", "data": <hello result>}``; EOF on stdin exits 0.

Each request runs in its own thread. Kernels are started in their own session so they outlive
the SSH connection and the agent; rtui's records of them live in ``state_dir/kernels``.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

AGENT_VERSION = "1"

KERNEL_MODULES = {"ipykernel": "ipykernel_launcher", "spyder": "spyder_kernels.console"}
PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
VENV_GLOBS = (
    "~/.venvs/*", "~/venvs/*", "~/.virtualenvs/*", "~/.local/share/virtualenvs/*", "~/envs/*",
    "~/.pyenv/versions/*", "~/.pyenv/versions/*/envs/*", "~/.venv",
)
CONDA_ROOTS = (
    "~/miniconda3", "~/anaconda3", "~/miniforge3", "~/mambaforge", "~/micromamba",
    "/opt/conda", "/opt/miniconda3", "/opt/anaconda3", "/opt/miniforge3",
)
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_NET_RE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Connection refused|"
    r"Max retries exceeded|Temporary failure in name resolution|Name or service not known|"
    r"nodename nor servname|Network is unreachable|No route to host|ConnectTimeoutError|"
    r"ReadTimeoutError|ProxyError|SSLError|Could not fetch URL|timed out"
)
# Run in each candidate interpreter (any Python, even 2.7): version and kernel packages.
# Found by find_spec of the package and of each package it imports at start (not imported:
# a real import of ipykernel costs ~0.2 s of CPU per interpreter, and a probe runs on every
# check and before every console); a broken install is still caught, with its traceback,
# when the kernel is launched.
PROBE_CODE = r"""
import json, sys
def v(dist, mods):
    try:
        from importlib.util import find_spec
        for m in mods:
            if find_spec(m) is None:
                return None
    except BaseException:
        return None
    try:
        from importlib.metadata import version
        return str(version(dist))
    except BaseException:
        return "unknown"
K = ("ipykernel", "IPython", "zmq", "jupyter_client", "traitlets", "tornado")
print("RTUI-PROBE " + json.dumps({"version": "%d.%d.%d" % tuple(sys.version_info[:3]),
    "executable": sys.executable, "prefix": sys.prefix,
    "ipykernel": v("ipykernel", K),
    "spyder_kernels": v("spyder-kernels", ("spyder_kernels",) + K)}))
"""


class OpError(Exception):
    """An expected failure, reported to the caller as ``{"type", "message"}``."""

    def __init__(self, type_: str, message: str) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message


# ---------------------------------------------------------------- output and dispatch

_out_lock = threading.Lock()
_REQUIRED = object()


def _send(obj: dict[str, Any]) -> None:
    line = json.dumps(obj, default=str) + "\n"
    with _out_lock:
        try:
            sys.stdout.write(line)
            sys.stdout.flush()
        except (OSError, ValueError):  # the SSH channel is gone
            os._exit(0)


def _arg(args: dict[str, Any], name: str, kind: Any, default: Any = _REQUIRED) -> Any:
    """Argument ``name`` of type ``kind``; ``bad_args`` when missing (and required) or wrong."""
    value = args.get(name)
    if value is None:
        if default is _REQUIRED:
            raise OpError("bad_args", f"missing argument {name!r}")
        return default
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = {str: "a string", list: "a list", dict: "an object", bool: "a boolean"}
        raise OpError("bad_args", f"argument {name!r} must be {names.get(kind, 'a number')}")
    return value


def _handle(raw: bytes) -> None:
    rid = None
    try:
        try:
            req = json.loads(raw.decode("utf-8", "replace"))
        except ValueError as e:
            raise OpError("bad_request", f"not a JSON line: {e}") from None
        if not isinstance(req, dict):
            raise OpError("bad_request", "a request must be a JSON object")
        rid = req.get("id")
        op = req.get("op")
        args = req.get("args") or {}
        if not isinstance(args, dict):
            raise OpError("bad_args", "args must be a JSON object")
        fn = OPS.get(op) if isinstance(op, str) else None
        if fn is None:
            raise OpError("unknown_op", f"unknown op {op!r}; known: {', '.join(sorted(OPS))}")

        def progress(line: str, fraction: float | None = None) -> None:
            _send({"id": rid, "event": "progress", "data": {"line": line, "fraction": fraction}})

        _send({"id": rid, "ok": True, "result": fn(args, progress)})
    except OpError as e:
        _send({"id": rid, "ok": False, "error": {"type": e.type, "message": e.message}})
    except Exception as e:
        msg = f"{type(e).__name__}: {e}".replace("\n", " ")
        _send({"id": rid, "ok": False, "error": {"type": "internal", "message": msg}})


def main() -> None:
    _send({"event": "ready", "data": op_hello({}, None)})
    stdin = sys.stdin.buffer
    while True:
        raw = stdin.readline()
        if not raw:
            break
        if raw.strip():
            threading.Thread(target=_handle, args=(raw,), daemon=True).start()
    with _out_lock:
        sys.stdout.flush()
    os._exit(0)  # do not wait for running requests; kernels are detached anyway


# ---------------------------------------------------------------- paths and files

def _home() -> str:
    return os.path.expanduser("~")


def _data_home() -> str:
    return os.environ.get("XDG_DATA_HOME") or os.path.join(_home(), ".local", "share")


def state_dir() -> str:
    return os.path.join(_data_home(), "rtui")


def runtime_dir() -> str:
    """Jupyter's runtime dir, computed as jupyter_core does."""
    if os.environ.get("JUPYTER_RUNTIME_DIR"):
        return os.environ["JUPYTER_RUNTIME_DIR"]
    data = os.environ.get("JUPYTER_DATA_DIR")
    if not data:
        if sys.platform == "darwin":
            data = os.path.join(_home(), "Library", "Jupyter")
        else:
            data = os.path.join(_data_home(), "jupyter")
    return os.path.join(data, "runtime")


def _kernels_dir() -> str:
    return os.path.join(state_dir(), "kernels")


def _private_dir(path: str) -> str:
    """Create ``path`` mode 0700; tighten it if it is ours and looser."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.stat(path)
    if st.st_uid == os.getuid() and st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def _write_json(path: str, obj: Any, exclusive: bool = False) -> None:
    """Write ``obj`` to ``path`` mode 0600 (atomically unless ``exclusive``)."""
    target = path if exclusive else f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(target, flags, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1)
    if not exclusive:
        os.replace(target, path)


def _read_json(path: str) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _remove(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def _tail(path: str, n: int = 20) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()[-16384:].decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(data.splitlines()[-n:]) or "(empty log)"


def _kernel_id(cf: str) -> str:
    name = os.path.basename(cf)
    name = name[len("kernel-"):] if name.startswith("kernel-") else name
    return name[:-len(".json")] if name.endswith(".json") else name


def _real(path: str) -> str:
    return os.path.realpath(path)


def _load_records() -> dict[str, dict[str, Any]]:
    """rtui's kernel records keyed by the realpath of their connection file."""
    out = {}
    for path in glob.glob(os.path.join(_kernels_dir(), "*.json")):
        rec = _read_json(path)
        if isinstance(rec, dict) and rec.get("connection_file"):
            rec["record_file"] = path
            out[_real(rec["connection_file"])] = rec
    return out


# ---------------------------------------------------------------- processes

_children: dict[int, subprocess.Popen[bytes]] = {}  # kernels this agent started: poll() reaps them


def _proc(pid: int, name: str) -> bytes | None:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:
        return None


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/pid/stat after the command name (state first), or None."""
    data = _proc(pid, "stat")
    return data[data.rfind(b")") + 2:].decode("ascii", "replace").split() if data else None


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs (zombies count as dead)."""
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    st = _proc_stat(pid)
    return not (st and st[0] in ("Z", "X"))


def _proc_strings(pid: int, name: str) -> list[str] | None:
    data = _proc(pid, name)
    return None if data is None else [
        a.decode("utf-8", "surrogateescape") for a in data.split(b"\0")[:-1]]


def _cmdline(pid: int) -> list[str] | None:
    return _proc_strings(pid, "cmdline")


def _proc_environ(pid: int) -> dict[str, str] | None:
    items = _proc_strings(pid, "environ")
    return None if items is None else dict(i.split("=", 1) for i in items if "=" in i)


def _proc_cwd(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def _proc_started(pid: int) -> float | None:
    st = _proc_stat(pid)
    try:
        with open("/proc/stat") as f:
            btime = next(int(ln.split()[1]) for ln in f if ln.startswith("btime"))
        return btime + int(st[19]) / os.sysconf("SC_CLK_TCK")  # type: ignore[index]
    except (OSError, StopIteration, TypeError, IndexError, ValueError):
        return None


def _processes() -> list[tuple[int, list[str]]]:
    """(pid, argv) of every process we can see: /proc, else ``ps`` (argv split on spaces)."""
    if os.path.isdir("/proc/self"):
        out = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                argv = _cmdline(int(name))
                if argv:
                    out.append((int(name), argv))
        return out
    try:
        text = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "args="], capture_output=True,
                              text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = (line.split() for line in text.splitlines())
    return [(int(r[0]), r[1:]) for r in rows if len(r) > 1 and r[0].isdigit()]


def _mentions(argv: list[str], pid: int, cf: str) -> bool:
    """Does ``argv`` name connection file ``cf`` (``-f cf``, ``--f=cf``, relative paths)?"""
    base, real = os.path.basename(cf), None
    for arg in argv[1:]:
        if arg.startswith("-") and "=" in arg:
            arg = arg.split("=", 1)[1]
        if arg == cf:
            return True
        if os.path.basename(arg) == base:
            real = real or _real(cf)
            path = arg if os.path.isabs(arg) else os.path.join(_proc_cwd(pid) or "/", arg)
            if _real(path) == real:
                return True
    return False


def _guess_kind(argv: list[str] | None) -> str:
    text = " ".join(argv or ())
    if "spyder_kernels" in text:
        return "spyder"
    return "ipykernel" if "ipykernel" in text else "unknown"


def _find_pid(cf: str, procs: list[tuple[int, list[str]]]) -> int | None:
    """The kernel process whose argv names ``cf``: kernel-like first, then the topmost."""
    hits = [(pid, argv) for pid, argv in procs
            if pid != os.getpid() and "--existing" not in argv and _mentions(argv, pid, cf)]
    hits = [h for h in hits if pid_alive(h[0])]
    if not hits:
        return None
    best = max(_guess_kind(argv) != "unknown" for _, argv in hits)
    pids = {pid for pid, argv in hits if (_guess_kind(argv) != "unknown") == best}
    tops = [p for p in pids if _ppid(p) not in pids]  # not a forked child of another hit
    return min(tops or pids)


def _ppid(pid: int) -> int:
    st = _proc_stat(pid)
    return int(st[1]) if st and len(st) > 1 and st[1].isdigit() else 0


def _locate(cf: str, rec: dict[str, Any] | None,
            procs: list[tuple[int, list[str]]] | None) -> tuple[int | None, bool]:
    """(pid, running) of the kernel behind ``cf``; pid may be a dead recorded one."""
    rpid = rec.get("pid") if rec else None
    if rpid and pid_alive(rpid):
        argv = _cmdline(rpid)
        if argv is None or _mentions(argv, rpid, cf):
            return rpid, True
    pid = _find_pid(cf, _processes() if procs is None else procs)
    if pid:
        return pid, True
    kid = _kernel_id(cf)
    if kid.isdigit() and pid_alive(int(kid)):
        argv = _cmdline(int(kid)) or []
        if any("python" in a or "kernel" in a for a in argv[:3]):
            return int(kid), True
    return rpid, False


def _signal(pid: int, sig: int) -> bool:
    """Send ``sig`` to pid's process group when pid leads it, else to pid. True: group."""
    try:
        group = os.getpgid(pid) == pid
    except OSError:
        group = False
    if group:
        os.killpg(pid, sig)
    else:
        os.kill(pid, sig)
    return group


def _wait_dead(pid: int, timeout: float) -> bool:
    child = _children.get(pid)
    if child is not None:
        try:
            child.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _terminate(pid: int, timeout: float) -> bool:
    """SIGTERM (group), wait, then SIGKILL. True when SIGKILL was needed."""
    try:
        _signal(pid, signal.SIGTERM)
        if _wait_dead(pid, timeout):
            return False
        _signal(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    except PermissionError:
        raise OpError("permission", f"not allowed to signal process {pid}") from None
    _wait_dead(pid, 2)
    return True


# ---------------------------------------------------------------- hello

def _libc() -> list[str] | None:
    name, version = platform.libc_ver()
    if name:
        return [name, version]
    for loader in glob.glob("/lib/ld-musl-*.so.1"):
        try:
            err = subprocess.run([loader], capture_output=True, text=True, timeout=5).stderr
        except (OSError, subprocess.SubprocessError):
            err = ""
        m = re.search(r"Version\s+(\S+)", err)
        return ["musl", m.group(1) if m else ""]
    return None


def op_hello(args: dict[str, Any], progress: Any) -> dict[str, Any]:
    impl = sys.implementation.name
    major, minor = sys.version_info[:2]
    py_tag = {"cpython": "cp", "pypy": "pp"}.get(impl, impl[:2]) + f"{major}{minor}"
    soabi = sysconfig.get_config_var("SOABI") or ""
    abi = py_tag + getattr(sys, "abiflags", "") if impl == "cpython" else soabi.replace("-", "_")
    return {
        "version": AGENT_VERSION,
        "pid": os.getpid(),
        "python": sys.executable,
        "python_version": ".".join(str(n) for n in sys.version_info[:3]),
        "platform": {
            "system": platform.system(), "machine": platform.machine(), "libc": _libc(),
            "py_tag": py_tag, "abi_tag": abi, "implementation": impl,
            "sysconfig_platform": sysconfig.get_platform(),
        },
        "home": _home(),
        "runtime_dir": runtime_dir(),
        "state_dir": state_dir(),
        "default_venv": os.path.join(state_dir(), "venv"),
    }


# ---------------------------------------------------------------- envs

def _probe(python: str, timeout: float) -> dict[str, Any]:
    """Run PROBE_CODE in ``python``; raise OpError(probe_failed) with a readable reason."""
    try:
        proc = subprocess.run([python, "-c", PROBE_CODE], capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd="/")
    except subprocess.TimeoutExpired:
        raise OpError("probe_failed", f"{python} did not answer within {timeout:g} s") from None
    except OSError as e:
        raise OpError("probe_failed", f"cannot run {python}: {e.strerror}") from None
    for line in reversed(proc.stdout.decode("utf-8", "replace").splitlines()):
        if line.startswith("RTUI-PROBE "):
            return json.loads(line[len("RTUI-PROBE "):])  # type: ignore[no-any-return]
    err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    raise OpError("probe_failed", f"{python} exited {proc.returncode}: "
                  + (err[-1] if err else "no output"))


def _interpreter_in(prefix: str) -> str | None:
    for rel in ("bin/python", "bin/python3"):
        path = os.path.join(prefix, rel)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _env_key(python: str) -> tuple[str, str]:
    """A venv is its own env even when bin/python links to the base interpreter."""
    prefix = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    if os.path.exists(os.path.join(prefix, "pyvenv.cfg")):
        return ("venv", _real(prefix))
    return ("exe", _real(python))


def _conda_envs() -> list[tuple[str, str]]:
    """(prefix, name) of conda/mamba/micromamba envs; nothing when none is installed."""
    exes = [shutil.which(n) for n in ("conda", "mamba", "micromamba")]
    exes += [os.environ.get("CONDA_EXE"), os.environ.get("MAMBA_EXE")]
    prefixes = []
    for root in CONDA_ROOTS:
        root = os.path.expanduser(root)
        exes += [os.path.join(root, "bin", n) for n in ("conda", "mamba", "micromamba")]
        if os.path.isdir(os.path.join(root, "conda-meta")):
            prefixes.append(root)
        prefixes += sorted(glob.glob(os.path.join(root, "envs", "*")))
    exes = list({_real(e): e for e in exes if e and os.access(e, os.X_OK)}.values())

    def env_list(exe: str) -> list[str]:
        try:
            out = subprocess.run([exe, "env", "list", "--json"], capture_output=True, text=True,
                                 timeout=10, stdin=subprocess.DEVNULL).stdout
            return [str(p) for p in json.loads(out).get("envs", [])]
        except (OSError, ValueError, AttributeError, subprocess.SubprocessError):
            return []

    if exes:
        with ThreadPoolExecutor(max_workers=len(exes)) as pool:
            for found in pool.map(env_list, exes):
                prefixes += found
    try:
        with open(os.path.expanduser("~/.conda/environments.txt")) as f:
            prefixes += [ln.strip() for ln in f if ln.strip()]
    except OSError:
        pass
    out, seen = [], set()
    for p in prefixes:
        if _real(p) not in seen and os.path.isdir(p):
            seen.add(_real(p))
            base = os.path.isdir(os.path.join(p, "envs")) and os.path.isdir(
                os.path.join(p, "conda-meta"))
            out.append((p, "base" if base else os.path.basename(p.rstrip("/"))))
    return out


def _candidates(extra: list[Any]) -> list[dict[str, Any]]:
    """Interpreters to probe, most specific kind first, deduplicated."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()

    # pyenv's shims are shell scripts in front of the interpreters listed on their own
    # (PYENV_ROOT/versions/*): each costs a slow probe and shows a duplicate. (Other shims,
    # asdf's or mise's, are kept: their installs are not searched.)
    pyenv_shims = os.path.join(
        os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv"), "shims")

    def add(python: str | None, kind: str, name: str, error: str | None = None) -> None:
        if python and kind != "configured" and os.path.dirname(python) == pyenv_shims:
            return
        if python:
            key = ("missing", python) if error else _env_key(python)
            if key not in seen:
                seen.add(key)
                out.append({"python": python, "kind": kind, "name": name, "error": error})

    for item in extra:
        path = os.path.abspath(os.path.expanduser(str(item)))
        py = _interpreter_in(path) if os.path.isdir(path) else path
        if py and os.path.isfile(py):
            add(py, "configured", _env_name(py))
        else:
            add(path, "configured", str(item), f"{path}: no Python interpreter there")
    add(_interpreter_in(os.path.join(state_dir(), "venv")), "rtui", "rtui")
    for prefix, name in _conda_envs():
        add(_interpreter_in(prefix), "conda", name)
    patterns = list(VENV_GLOBS)
    if os.environ.get("WORKON_HOME"):
        patterns.append(os.path.join(os.environ["WORKON_HOME"], "*"))
    if os.environ.get("PYENV_ROOT"):
        patterns.append(os.path.join(os.environ["PYENV_ROOT"], "versions", "*"))
    for pattern in patterns:
        for prefix in sorted(glob.glob(os.path.expanduser(pattern))):
            add(_interpreter_in(prefix), "venv", os.path.basename(prefix))
    for name in ("python3", "python"):
        add(shutil.which(name), "path", name)
    for d in os.environ.get("PATH", "").split(os.pathsep):
        for py in sorted(glob.glob(os.path.join(d or ".", "python3.[0-9]*"))):
            if re.search(r"python3\.\d+$", py) and os.access(py, os.X_OK):
                add(py, "path", os.path.basename(py))
    return out


def _env_name(python: str) -> str:
    bindir = os.path.dirname(os.path.abspath(python))
    if os.path.basename(bindir) == "bin" and os.path.dirname(bindir) not in ("/usr", "/"):
        return os.path.basename(os.path.dirname(bindir))
    return python


def op_envs(args: dict[str, Any], progress: Any) -> dict[str, Any]:
    extra = _arg(args, "extra", list, [])
    timeout = _arg(args, "timeout", (int, float), 20)
    cands = _candidates(extra)

    def probe(c: dict[str, Any]) -> dict[str, Any]:
        entry = dict(c, version=None, ipykernel=None, spyder_kernels=None, prefix=None)
        if not c["error"]:
            try:
                info = _probe(c["python"], timeout)
                for key in ("version", "ipykernel", "spyder_kernels", "prefix", "executable"):
                    entry[key] = info.get(key)
            except OpError as e:
                entry["error"] = e.message
        return entry

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(cands)))) as pool:
        probed = list(pool.map(probe, cands))
    envs, seen = [], set()
    for e in probed:  # two spellings of one interpreter (wrappers, links): keep the first
        key = (_real(e.pop("executable", None) or e["python"]), e["prefix"] or "")
        if e["error"] or key not in seen:
            seen.add(key)
            envs.append(e)
    return {"envs": envs}


# ---------------------------------------------------------------- setup

_venv_locks: dict[str, threading.Lock] = {}
_venv_locks_guard = threading.Lock()


def _stream(cmd: list[str], progress: Any, estimate: Any = None) -> tuple[int, list[str]]:
    """Run ``cmd``, sending each output line as progress; (returncode, last lines)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PIP_NO_INPUT="1", PIP_USER="0")
    for var in ("PIP_TARGET", "PIP_PREFIX", "PIP_ROOT"):  # install into the venv, nowhere else
        env.pop(var, None)
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
    except OSError as e:
        raise OpError("not_found", f"cannot run {cmd[0]}: {e.strerror}") from None
    lines: deque[str] = deque(maxlen=80)
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace").rstrip()
        if line:
            lines.append(line)
            progress(line, estimate(line) if estimate else None)
    return proc.wait(), list(lines)


class _PipProgress:
    """A rough, monotonic fraction from pip's output."""

    def __init__(self) -> None:
        self.seen = 0
        self.fraction = 0.0

    def __call__(self, line: str) -> float:
        s = line.lstrip()
        if s.startswith(("Collecting", "Processing", "Requirement already satisfied")):
            self.seen += 1
            self.fraction = max(self.fraction, 0.6 * self.seen / (self.seen + 8))
        elif s.startswith("Installing collected packages"):
            self.fraction = max(self.fraction, 0.7)
        elif s.startswith("Successfully installed"):
            self.fraction = 1.0
        return round(self.fraction, 3)


def _last_error(lines: list[str]) -> str:
    errors = [ln for ln in lines if ln.startswith("ERROR") or "Error" in ln]
    return (errors or lines or ["no output"])[-1].strip()


def _no_index_message(lines: list[str]) -> str:
    text = "\n".join(lines)
    reason = next((r for r in ("Connection refused", "Name or service not known",
                               "Temporary failure in name resolution", "Network is unreachable",
                               "No route to host", "timed out", "SSLError", "ProxyError")
                   if r in text), "no connection")
    index = next((ln.split(":", 1)[1].strip() for ln in lines
                  if ln.startswith("Looking in indexes:")), "PyPI")
    return (f"pip could not reach the package index {index} ({reason}); "
            "rtui can upload wheels from your machine instead")


def _create_venv(base: str, venv: str, progress: Any) -> None:
    if os.path.isdir(venv) and os.listdir(venv) and not os.path.exists(
            os.path.join(venv, "pyvenv.cfg")):
        raise OpError("bad_args", f"{venv} exists and is not a virtual environment; "
                      "choose another path")
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    progress(f"creating virtual environment {venv} with {base}", 0.0)
    rc, _ = _stream([base, "-m", "venv", venv], progress)
    if rc == 0:
        return
    progress("venv with pip failed (ensurepip missing?); retrying without pip", 0.02)
    rc, lines = _stream([base, "-m", "venv", "--without-pip", venv], progress)
    if rc:
        raise OpError("venv_failed", f"{base} -m venv {venv} failed: {_last_error(lines)}")


def _has_pip(vpy: str) -> bool:
    try:
        return subprocess.run([vpy, "-m", "pip", "--version"], capture_output=True,
                              timeout=60, stdin=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _version_key(path: str) -> tuple[int, ...]:
    m = re.match(r"pip-([0-9.]+)", os.path.basename(path))
    return tuple(int(x) for x in m.group(1).strip(".").split(".") if x.isdigit()) if m else ()


def _bootstrap_pip(vpy: str, base: str, wheels: str | None, progress: Any) -> None:
    """Give a pip-less venv its pip: from a pip wheel in ``wheels``, else ensurepip."""
    found = sorted(glob.glob(os.path.join(wheels, "pip-*.whl")), key=_version_key) if wheels else []
    if found:
        whl = found[-1]
        progress(f"bootstrapping pip from {os.path.basename(whl)}", 0.03)
        rc, lines = _stream([vpy, os.path.join(whl, "pip"), "install", "--no-index",
                             "--disable-pip-version-check", whl], progress)
        if rc:
            raise OpError("pip_failed", f"installing pip from {whl} failed: {_last_error(lines)}")
        return
    rc, _ = _stream([vpy, "-m", "ensurepip", "--default-pip"], progress)
    if rc:
        raise OpError("no_pip", f"{base} has no ensurepip, so the new venv has no pip: install "
                      "python3-venv (e.g. 'sudo apt install python3-venv') or let rtui upload "
                      "wheels from your machine")


def op_setup(args: dict[str, Any], progress: Any) -> dict[str, Any]:
    base = _check_python(_arg(args, "base_python", str, sys.executable))
    venv = os.path.abspath(os.path.expanduser(
        _arg(args, "venv", str, os.path.join(state_dir(), "venv"))))
    packages = _arg(args, "packages", list, ["ipykernel"])
    wheels = _arg(args, "wheels_dir", str, None)
    index_timeout = _arg(args, "index_timeout", (int, float), 15)
    if not packages or not all(isinstance(p, str) and p for p in packages):
        raise OpError("bad_args", "packages must be a non-empty list of requirement strings")
    if wheels is not None:
        wheels = os.path.expanduser(wheels)
        if not os.path.isdir(wheels):
            raise OpError("bad_args", f"wheels_dir {wheels} is not a directory")
    with _venv_locks_guard:
        lock = _venv_locks.setdefault(venv, threading.Lock())
    with lock:
        vpy = os.path.join(venv, "bin", "python")
        if not os.path.exists(vpy):
            _create_venv(base, venv, progress)
        if not _has_pip(vpy):
            _bootstrap_pip(vpy, base, wheels, progress)
        cmd = [vpy, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar",
               "off"]
        if args.get("upgrade"):
            cmd.append("--upgrade")
        if wheels:
            cmd += ["--no-index", "--find-links", wheels]
        else:
            cmd += ["--timeout", str(index_timeout), "--retries", "1"]
        rc, lines = _stream(cmd + packages, progress, _PipProgress())
        if rc:
            if not wheels and _NET_RE.search("\n".join(lines)):
                raise OpError("no_index", _no_index_message(lines))
            raise OpError("pip_failed", f"pip install {' '.join(packages)} failed: "
                          f"{_last_error(lines)}")
        info = _probe(vpy, 60)
    return {"python": vpy, "venv": venv, "version": info.get("version"),
            "ipykernel": info.get("ipykernel"), "spyder_kernels": info.get("spyder_kernels")}


# ---------------------------------------------------------------- launch / restart

def _connect_host(ip: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "*": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(ip, ip)


def _port_open(ip: str, port: Any, timeout: float) -> bool:
    try:
        with socket.create_connection((_connect_host(ip), int(port)), timeout=timeout):
            return True
    except (OSError, ValueError, TypeError):
        return False


def _new_connection(ip: str) -> dict[str, Any]:
    """Fresh connection info: five free ports (bound together, then released) and a new key."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    socks = []
    try:
        for _ in PORT_NAMES:
            s = socket.socket(family, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((_connect_host(ip) if ip in ("*", "") else ip, 0))
        ports = [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
    conn: dict[str, Any] = {name: ports[i] for i, name in enumerate(PORT_NAMES)}
    conn.update(ip=ip, key=secrets.token_hex(32), transport="tcp",
                signature_scheme="hmac-sha256", kernel_name="python3")
    return conn


def _start(rec: dict[str, Any], conn: dict[str, Any], timeout: float,
           base_env: dict[str, str] | None = None) -> dict[str, Any]:
    """Start rec["argv"] detached, record it, and wait until every port answers."""
    env = dict(os.environ if base_env is None else base_env)
    env.update(rec.get("env") or {})
    log = os.open(rec["log_file"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(rec["argv"], cwd=rec["cwd"], env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True)
    except OSError as e:
        raise OpError("launch_failed", f"cannot start {rec['argv'][0]}: {e.strerror}") from None
    finally:
        os.close(log)
    _children[proc.pid] = proc
    rec.update(pid=proc.pid, started=time.time())
    rec.pop("record_file", None)
    _write_json(os.path.join(_kernels_dir(), rec["id"] + ".json"), rec)
    pending = [conn[name] for name in PORT_NAMES]
    deadline = t0 + timeout
    while pending:
        if proc.poll() is not None:
            raise OpError("kernel_died", f"kernel {rec['id']} exited with code {proc.returncode} "
                          f"before it was ready; last lines of {rec['log_file']}:\n"
                          + _tail(rec["log_file"]))
        while pending and _port_open(conn["ip"], pending[0], 0.2):
            pending.pop(0)
        if pending and time.monotonic() > deadline:
            _terminate(proc.pid, 2)
            raise OpError("kernel_timeout", f"kernel {rec['id']} did not open its ports within "
                          f"{timeout:g} s; see {rec['log_file']}")
        if pending:
            time.sleep(0.02)
    return dict(rec, ready_ms=round((time.monotonic() - t0) * 1000), connection=conn)


def _check_python(python: str) -> str:
    python = os.path.expanduser(python)
    if os.path.isdir(python):  # an environment named by its directory
        python = _interpreter_in(python) or python
    if os.sep in python:
        if not (os.path.isfile(python) and os.access(python, os.X_OK)):
            raise OpError("not_found", f"python {python} does not exist or is not executable")
        return python
    found = shutil.which(python)
    if not found:
        raise OpError("not_found", f"{python} is not on PATH")
    return found


def op_launch(args: dict[str, Any], progress: Any) -> dict[str, Any]:
    python = _check_python(_arg(args, "python", str, sys.executable))
    kind = _arg(args, "kind", str, "ipykernel")
    cwd = os.path.abspath(os.path.expanduser(_arg(args, "cwd", str, _home())))
    env = _arg(args, "env", dict, {})
    kid = _arg(args, "kernel_id", str, None) or str(uuid.uuid4())
    ip = _arg(args, "ip", str, "127.0.0.1")
    timeout = _arg(args, "timeout", (int, float), 30)
    if kind not in KERNEL_MODULES:
        raise OpError("bad_args", f"kind must be one of {', '.join(KERNEL_MODULES)}, not {kind!r}")
    if not _ID_RE.match(kid):
        raise OpError("bad_args", f"kernel_id {kid!r} may only use letters, digits, '.', '_', '-'")
    if not os.path.isdir(cwd):
        raise OpError("not_found", f"working directory {cwd} does not exist")
    env = {str(k): str(v) for k, v in env.items()}
    cf = os.path.join(_private_dir(runtime_dir()), f"kernel-{kid}.json")
    kdir = _private_dir(_kernels_dir())
    for attempt in (1, 2):
        conn = _new_connection(ip)
        try:
            _write_json(cf, conn, exclusive=True)
        except FileExistsError:
            raise OpError("exists", f"{cf} already exists; pick another kernel_id") from None
        rec = {"id": kid, "pid": None, "python": python, "kind": kind, "cwd": cwd,
               "argv": [python, "-m", KERNEL_MODULES[kind], "-f", cf], "env": env,
               "connection_file": cf, "log_file": os.path.join(kdir, kid + ".log")}
        try:
            return _start(rec, conn, timeout)
        except OpError as e:
            _remove(cf)
            _remove(os.path.join(kdir, kid + ".json"))
            if not (attempt == 1 and "Address already in use" in e.message):
                raise
    raise AssertionError("unreachable")


def _target(args: dict[str, Any]) -> dict[str, Any]:
    """Resolve connection_file / kernel_id / pid arguments to {cf, record, pid, running}."""
    cf = _arg(args, "connection_file", str, None)
    kid = _arg(args, "kernel_id", str, None)
    pid = args.get("pid")
    records = _load_records()
    if cf:
        cf = os.path.abspath(os.path.expanduser(cf))
    elif kid:
        cf = _resolve(kid, records)
    elif isinstance(pid, int) and not isinstance(pid, bool):
        return {"connection_file": None, "record": None, "pid": pid, "running": pid_alive(pid)}
    else:
        raise OpError("bad_args", "give connection_file, kernel_id or pid")
    rec = records.get(_real(cf))
    pid, running = _locate(cf, rec, None)
    return {"connection_file": cf, "record": rec, "pid": pid, "running": running}


def op_restart(args: dict[str, Any], progress: Any) -> dict[str, Any]:
    k = _target(args)
    cf, rec, pid = k["connection_file"], k["record"], k["pid"]
    conn = _read_json(cf) if cf else None
    if not isinstance(conn, dict):
        raise OpError("not_found", f"no readable connection file for this kernel ({cf})")
    base_env = None
    if rec and rec.get("argv"):
        argv, cwd = rec["argv"], rec.get("cwd") or _home()
    elif pid and k["running"]:
        argv, cwd = _cmdline(pid) or [], _proc_cwd(pid) or _home()
        base_env = _proc_environ(pid)
        if argv and os.sep in argv[0] and not os.path.isabs(argv[0]):
            argv[0] = os.path.join(cwd, argv[0])
    else:
        raise OpError("no_argv", f"cannot tell how the kernel of {cf} was started (no rtui "
                      "record and no running process); launch a new kernel instead")
    if pid and k["running"]:
        _terminate(pid, 5)
        _children.pop(pid, None)
    kid = _kernel_id(cf)
    kdir = _private_dir(_kernels_dir())
    new = {"id": (rec or {}).get("id") or kid, "pid": None, "python": argv[0],
           "kind": (rec or {}).get("kind") or _guess_kind(argv), "cwd": cwd, "argv": argv,
           "env": (rec or {}).get("env") or {}, "connection_file": cf,
           "log_file": (rec or {}).get("log_file") or os.path.join(kdir, kid + ".log")}
    return _start(new, conn, _arg(args, "timeout", (int, float), 30), base_env)


# ---------------------------------------------------------------- list / resolve / signal / stop

def _resolve(kid: str, records: dict[str, dict[str, Any]]) -> str:
    """Connection file for an id, a file name or a path; unique prefixes of ids work too."""
    rdir = runtime_dir()
    if os.sep in kid or kid.startswith("~"):
        path = os.path.abspath(os.path.expanduser(kid))
        if os.path.exists(path):
            return path
        raise OpError("not_found", f"connection file {path} does not exist")
    name = kid if kid.endswith(".json") else f"kernel-{kid}.json"
    if os.path.exists(os.path.join(rdir, name)):
        return os.path.join(rdir, name)
    for rec in records.values():
        if rec.get("id") == kid:
            return str(rec["connection_file"])
    found = glob.glob(os.path.join(glob.escape(rdir), f"kernel-{glob.escape(kid)}*.json"))
    if len(found) == 1:
        return found[0]
    if found:
        raise OpError("ambiguous", f"{kid!r} matches {len(found)} kernels in {rdir}; give more")
    raise OpError("not_found", f"no kernel {kid!r}: {name} is not in {rdir}")


def _describe(cf: str, rec: dict[str, Any] | None,
              procs: list[tuple[int, list[str]]]) -> dict[str, Any]:
    conn = _read_json(cf)
    conn = conn if isinstance(conn, dict) else {}
    pid, running = _locate(cf, rec, procs)
    responding = bool(conn.get("shell_port")) and _port_open(
        conn.get("ip", "127.0.0.1"), conn["shell_port"], 0.3)
    argv = (rec or {}).get("argv") or ((_cmdline(pid) if running and pid else None) or [])
    ports = {k: conn.get(k) for k in PORT_NAMES}
    ports.update(ip=conn.get("ip"), transport=conn.get("transport"))
    started = (rec or {}).get("started") or (_proc_started(pid) if running and pid else None)
    if started is None:
        try:
            started = os.path.getmtime(cf)
        except OSError:
            pass
    return {
        "id": (rec or {}).get("id") or _kernel_id(cf), "connection_file": cf,
        "exists": bool(conn), "pid": pid, "alive": running if pid else responding,
        "responding": responding, "rtui": rec is not None,
        "kind": (rec or {}).get("kind") or _guess_kind(argv),
        "python": (rec or {}).get("python") or (argv[0] if argv else None),
        "cwd": (_proc_cwd(pid) if running and pid else None) or (rec or {}).get("cwd"),
        "started": started, "ports": ports, "argv": argv,
        "log_file": (rec or {}).get("log_file"),
    }


def op_list(args: dict[str, Any], progress: Any) -> dict[str, Any]:
    rdir = runtime_dir()
    records = _load_records()
    files = {_real(p): p for p in glob.glob(os.path.join(glob.escape(rdir), "kernel-*.json"))}
    for real, rec in records.items():
        files.setdefault(real, rec["connection_file"])
    if not files:
        return {"kernels": [], "runtime_dir": rdir}
    procs = _processes()
    with ThreadPoolExecutor(max_workers=min(32, len(files))) as pool:
        kernels = list(pool.map(lambda item: _describe(item[1], records.get(item[0]), procs),
                                files.items()))
    kernels.sort(key=lambda k: (k["started"] or 0, k["id"]))
    return {"kernels": kernels, "runtime_dir": rdir}


def op_resolve(args: dict[str, Any], progress: Any) -> dict[str, Any]:
    cf = _resolve(_arg(args, "id", str), _load_records())
    if not os.path.exists(cf):
        raise OpError("not_found", f"connection file {cf} no longer exists")
    return {"connection_file": cf, "id": _kernel_id(cf), "connection": _read_json(cf)}


def op_signal(args: dict[str, Any], progress: Any) -> dict[str, Any]:
    name = _arg(args, "signal", str, "SIGINT").upper()
    name = name if name.startswith("SIG") else "SIG" + name
    if name not in ("SIGINT", "SIGTERM", "SIGKILL", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"):
        raise OpError("bad_args", f"unsupported signal {name}")
    k = _target(args)
    if not k["pid"] or not k["running"]:
        what = k["connection_file"] or f"pid {k['pid']}"
        raise OpError("no_pid", f"cannot find a running process for {what}; "
                      "it may have exited or belong to another user")
    try:
        group = _signal(k["pid"], getattr(signal, name))
    except ProcessLookupError:
        raise OpError("no_pid", f"process {k['pid']} has exited") from None
    except PermissionError:
        raise OpError("permission", f"not allowed to signal process {k['pid']}") from None
    return {"pid": k["pid"], "group": group, "signal": name}


def _shell_address(cf: str) -> tuple[str, Any]:
    conn = _read_json(cf)
    conn = conn if isinstance(conn, dict) else {}
    return conn.get("ip", "127.0.0.1"), conn.get("shell_port")


def op_shutdown(args: dict[str, Any], progress: Any) -> dict[str, Any]:
    timeout = _arg(args, "timeout", (int, float), 5)
    k = _target(args)
    cf, rec, pid = k["connection_file"], k["record"], k["pid"]
    killed = forced = False
    if pid and k["running"]:
        killed = True
        forced = _terminate(pid, timeout)
    elif cf and _port_open(*_shell_address(cf), 0.3):
        raise OpError("no_pid", f"the kernel of {cf} answers but its process cannot be found; "
                      "left it running")
    if cf is None:
        return {"pid": pid, "killed": killed, "forced": forced}
    if rec is None and not os.path.exists(cf):
        raise OpError("not_found", f"no kernel for {cf}")
    _remove(cf)
    if rec:
        _remove(rec.get("record_file"))
        _remove(rec.get("log_file"))
    _children.pop(pid or -1, None)
    return {"pid": pid, "killed": killed, "forced": forced}


OPS = {
    "hello": op_hello, "envs": op_envs, "setup": op_setup, "launch": op_launch, "list": op_list,
    "resolve": op_resolve, "signal": op_signal, "restart": op_restart, "shutdown": op_shutdown,
}

if __name__ == "__main__":
    main()
