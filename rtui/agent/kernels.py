"""Kernels on the host: launch detached (their own session, so they outlive SSH and the agent),
list, resolve, signal, restart and shut down; rtui's records live in ``state_dir/kernels``.

A kernel rtui launches is started by its keeper (``keeper``), which keeps its output, knows
how it ended and restarts it; ``keep`` gives any other kernel a keeper that watches it.
Launch with ``transport`` "ipc" puts its sockets in its private directory (``sockets``), and
its command line (``kernel_boot``) puts ipykernel's fork pipe there too."""

from __future__ import annotations

import glob
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from . import keepers, slurm, slurm_kernels
from .envs import check_python
from .kernel_boot import KERNEL_ID_RE, KERNEL_MODULES, KEY_RE, PORT_NAMES, kernel_argv
from .paths import (
    connection_files,
    home,
    ipython_dir,
    kernel_id,
    kernels_dir,
    key_digest,
    load_json,
    new_dirs_private,
    private_dir,
    read_json,
    real,
    remove,
    runtime_dir,
    tail,
    write_json,
)
from .procs import (
    children,
    cmdline,
    guess_kind,
    locate,
    pid_alive,
    proc_cwd,
    proc_environ,
    proc_started,
    processes,
    send_signal,
    terminate,
)
from .protocol import OpError, arg
from .sockets import ipc_base, kernel_dir, remove_kernel_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .protocol import Progress



def _load_records() -> dict[str, dict[str, Any]]:
    """rtui's kernel records keyed by the realpath of their connection file."""
    out = {}
    for path in glob.glob(os.path.join(kernels_dir(), "*.json")):
        rec = read_json(path)
        if isinstance(rec, dict) and rec.get("connection_file"):
            rec["record_file"] = path
            out[real(rec["connection_file"])] = rec
    return out


def _connect_host(ip: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "*": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(ip, ip)


def _port_open(ip: str, port: Any, timeout: float) -> bool:
    try:
        with socket.create_connection((_connect_host(ip), int(port)), timeout=timeout):
            return True
    except (OSError, ValueError, TypeError):
        return False


def _answers(conn: dict[str, Any], name: str, timeout: float) -> bool:
    """Does the kernel's socket ``name`` accept a connection (tcp port or ipc file)?"""
    port = conn.get(name)
    if not port:
        return False
    if conn.get("transport") != "ipc":
        return _port_open(conn.get("ip") or "127.0.0.1", port, timeout)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(f"{conn.get('ip')}-{int(port)}")
            return True
    except (OSError, ValueError, TypeError):
        return False


def _new_connection(ip: str, key: str) -> dict[str, Any]:
    """Fresh connection info: five free ports (bound together, then released) and ``key``."""
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
    conn.update(ip=ip, key=key, transport="tcp",
                signature_scheme="hmac-sha256", kernel_name="python3")
    return conn


def _ipc_connection(kid: str, key: str) -> dict[str, Any]:
    """Connection info on Unix sockets ``<kernel dir>/k-1`` ... ``k-5`` and ``key``."""
    conn: dict[str, Any] = {name: n for n, name in enumerate(PORT_NAMES, start=1)}
    conn.update(ip=ipc_base(kid), key=key, transport="ipc",
                signature_scheme="hmac-sha256", kernel_name="python3")
    return conn


def _stop_keeper(path: str, timeout: float = 5) -> dict[str, Any]:
    try:
        return keepers.ask(path, {"op": "stop", "timeout": timeout}, timeout + 15)
    except OpError:
        return {}


def _start_kept(rec: dict[str, Any], conn: dict[str, Any], timeout: float,
                buffer_mb: float) -> dict[str, Any]:
    """Start rec's kernel under a new keeper (its parent) and wait until the kernel answers
    and the keeper hears its output; the record the keeper completed."""
    t0 = time.monotonic()
    kid = rec["id"]
    kernel_dir(kid)
    rec_file = os.path.join(kernels_dir(), kid + ".json")
    rec.pop("record_file", None)
    rec.update(pid=None, started=None, exit=None)
    write_json(rec_file, rec)
    proc = keepers.spawn(rec["python"], kid, ["--record", rec_file, "--launch",
                                              "--buffer-mb", repr(float(buffer_mb))])
    try:
        path, st = keepers.wait_status(kid, proc, timeout)
    except OpError:
        terminate(proc.pid, 2)
        pid = (read_json(rec_file) or {}).get("pid")
        if pid:
            terminate(pid, 2)
        raise
    if st.get("state") != "running":
        _stop_keeper(path, 2)
        exit_ = st.get("exit") or {}
        if st.get("state") == "exited":
            how = (f"was killed by signal {exit_.get('signal')}" if exit_.get("signal")
                   else f"exited with code {exit_.get('code')}")
            raise OpError("kernel_died", f"kernel {kid} {how} before it was ready; last lines "
                          f"of {rec['log_file']}:\n{exit_.get('log_tail')}")
        raise OpError("kernel_timeout", f"kernel {kid} did not answer within {timeout:g} s; "
                      f"see {rec['log_file']}")
    done = read_json(rec_file)
    done = done if isinstance(done, dict) else dict(rec, pid=st.get("pid"))
    return dict(done, ready_ms=round((time.monotonic() - t0) * 1000), connection=conn,
                keeper=path, seq=int(st.get("next") or 1) - 1)


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
    children[proc.pid] = proc
    rec.update(pid=proc.pid, started=time.time())
    rec.pop("record_file", None)
    write_json(os.path.join(kernels_dir(), rec["id"] + ".json"), rec)
    pending = list(PORT_NAMES)
    deadline = t0 + timeout
    while pending:
        if proc.poll() is not None:
            raise OpError("kernel_died", f"kernel {rec['id']} exited with code {proc.returncode} "
                          f"before it was ready; last lines of {rec['log_file']}:\n"
                          + tail(rec["log_file"]))
        while pending and _answers(conn, pending[0], 0.2):
            pending.pop(0)
        if pending and time.monotonic() > deadline:
            terminate(proc.pid, 2)
            raise OpError("kernel_timeout", f"kernel {rec['id']} did not open its ports within "
                          f"{timeout:g} s; see {rec['log_file']}")
        if pending:
            time.sleep(0.02)
    return dict(rec, ready_ms=round((time.monotonic() - t0) * 1000), connection=conn)


def op_launch(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    python = check_python(arg(args, "python", str, sys.executable))
    kind = arg(args, "kind", str, "ipykernel")
    cwd = os.path.abspath(os.path.expanduser(arg(args, "cwd", str, home())))
    env = arg(args, "env", dict, {})
    kid = arg(args, "kernel_id", str, None) or str(uuid.uuid4())
    ip = arg(args, "ip", str, "127.0.0.1")
    timeout = arg(args, "timeout", (int, float), 30)
    transport = arg(args, "transport", str, "tcp")
    buffer_mb = arg(args, "output_buffer_mb", (int, float), 64)
    # The client may pick the key (it then knows the whole connection info of an ipc kernel
    # before the answer, and opens its channels while the kernel boots). It comes on the
    # agent's stdin, never in a command line, and is written only to the 0600 file.
    key = arg(args, "key", str, None) or secrets.token_hex(32)
    if not KEY_RE.fullmatch(key):
        raise OpError("bad_args", "key must be 32 to 256 characters of letters, digits, '-' "
                      "or '_'")
    if transport not in ("ipc", "tcp"):
        raise OpError("bad_args", f"transport must be ipc or tcp, not {transport!r}")
    if buffer_mb <= 0:
        raise OpError("bad_args", "output_buffer_mb must be > 0")
    if kind not in KERNEL_MODULES:
        raise OpError("bad_args", f"kind must be one of {', '.join(KERNEL_MODULES)}, not {kind!r}")
    if not KERNEL_ID_RE.match(kid):
        raise OpError("bad_args", f"kernel_id {kid!r} may only use letters, digits, '.', '_', '-'")
    if not os.path.isdir(cwd):
        raise OpError("not_found", f"working directory {cwd} does not exist")
    env = {str(k): str(v) for k, v in env.items()}
    cf = os.path.join(private_dir(runtime_dir()), f"kernel-{kid}.json")
    kdir = private_dir(kernels_dir())
    new_dirs_private(ipython_dir(env))  # IPython would make it 0755: every cell's code
    if os.path.exists(cf):
        raise OpError("exists", f"{cf} already exists; pick another kernel_id")
    kernel_dir(kid)  # the private socket directory is usable, before anything is written
    for attempt in (1, 2):
        conn = _new_connection(ip, key) if transport == "tcp" else _ipc_connection(kid, key)
        try:
            write_json(cf, conn, exclusive=True)
        except FileExistsError:
            raise OpError("exists", f"{cf} already exists; pick another kernel_id") from None
        stale = keepers.status_of(kid)  # the file is ours: a keeper here is an earlier kernel's
        if stale:  # (it lingers after its kernel died, and its file was removed by hand)
            keepers.retire(kid, stale[1])
        rec = {"id": kid, "pid": None, "python": python, "kind": kind, "cwd": cwd,
               "argv": kernel_argv(python, KERNEL_MODULES[kind], cf), "env": env,
               "connection_file": cf, "log_file": os.path.join(kdir, kid + ".log"),
               "transport": transport}
        try:
            return _start_kept(rec, conn, timeout, buffer_mb)
        except OpError as e:
            remove(cf)
            remove(os.path.join(kdir, kid + ".json"))
            remove_kernel_dir(kid)
            if not (attempt == 1 and "Address already in use" in e.message):
                raise
    raise AssertionError("unreachable")


def _target(args: dict[str, Any]) -> dict[str, Any]:
    """Resolve connection_file / kernel_id / pid arguments to {cf, record, pid, running}."""
    cf = arg(args, "connection_file", str, None)
    kid = arg(args, "kernel_id", str, None)
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
    rec = records.get(real(cf))
    pid, running = locate(cf, rec, None)
    return {"connection_file": cf, "record": rec, "pid": pid, "running": running}


def _job_target(args: dict[str, Any]) -> dict[str, Any] | None:
    """rtui's record of the target when it is a SLURM kernel (slurm_kernels serves it)."""
    cf = arg(args, "connection_file", str, None)
    kid = arg(args, "kernel_id", str, None)
    if not (cf or kid):
        return None
    records = _load_records()
    try:
        path = os.path.abspath(os.path.expanduser(cf)) if cf else _resolve(str(kid), records)
    except OpError:
        return None
    rec = records.get(real(path))
    return rec if slurm_kernels.is_job(rec) else None


def _kernel_key(cf: str | None, rec: dict[str, Any] | None) -> str | None:
    """The id a kernel's keeper is found by: rtui's record's, else its file's."""
    return str((rec or {}).get("id") or "") or (kernel_id(cf) if cf else None)


def _kept(cf: str | None, rec: dict[str, Any] | None, conn: Any, running_pid: int | None,
          retire_other: bool = False) -> tuple[str, dict[str, Any]] | None:
    """The keeper of the kernel that ``conn`` (its connection file's content) describes and
    that runs as ``running_pid``, found by its id; not a lingering one of an earlier kernel
    under that id (retired when ``retire_other``): see ``keepers.own_keeper``."""
    key = _kernel_key(cf, rec)
    return keepers.own_keeper(key, conn, running_pid, retire_other) if key else None


def op_restart(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Start the kernel again under the same id and connection info, alive or dead: an rtui
    kernel through its keeper (a new keeper when it has none that can), any other one from
    its command line, its watching keeper told the new pid; a SLURM kernel by its runner."""
    job = _job_target(args)
    if job is not None:
        return slurm_kernels.restart(job, args)
    k = _target(args)
    cf, rec, pid = k["connection_file"], k["record"], k["pid"]
    conn = read_json(cf) if cf else None
    if not isinstance(conn, dict):
        raise OpError("not_found", f"no readable connection file for this kernel ({cf})")
    timeout = arg(args, "timeout", (int, float), 30)
    kept = _kept(cf, rec, conn, pid if k["running"] else None, retire_other=True)
    base_env = None
    if rec and rec.get("argv"):
        if kept and kept[1].get("mode") == "launch":
            reply = keepers.ask(kept[0], {"op": "restart", "timeout": timeout}, timeout + 15)
            if not reply.get("ok"):
                raise OpError("restart_failed", f"kernel {rec['id']}: {reply.get('error')}")
            new = read_json(rec["record_file"])
            new = new if isinstance(new, dict) else rec
            new.pop("record_file", None)
            return dict(new, ready_ms=reply.get("ready_ms"), connection=conn, keeper=kept[0])
        if kept:
            _stop_keeper(kept[0])
        if pid and k["running"]:
            terminate(pid, 5)
            children.pop(pid, None)
        buffer_mb = arg(args, "output_buffer_mb", (int, float), 64)
        fresh = {key: rec[key] for key in ("id", "python", "kind", "cwd", "argv", "env",
                                             "connection_file", "log_file", "transport")
                 if key in rec}
        fresh.setdefault("python", rec["argv"][0])
        fresh.setdefault("log_file", os.path.join(private_dir(kernels_dir()),
                                                  rec["id"] + ".log"))
        return _start_kept(fresh, conn, timeout, buffer_mb)
    if pid and k["running"]:
        argv, cwd = cmdline(pid) or [], proc_cwd(pid) or home()
        base_env = proc_environ(pid)
        if argv and os.sep in argv[0] and not os.path.isabs(argv[0]):
            argv[0] = os.path.join(cwd, argv[0])
    else:
        raise OpError("no_argv", f"cannot tell how the kernel of {cf} was started (no rtui "
                      "record and no running process); launch a new kernel instead")
    terminate(pid, 5)
    children.pop(pid, None)
    kid = kernel_id(cf)
    kdir = private_dir(kernels_dir())
    new = {"id": (rec or {}).get("id") or kid, "pid": None, "python": argv[0],
           "kind": (rec or {}).get("kind") or guess_kind(argv), "cwd": cwd, "argv": argv,
           "env": (rec or {}).get("env") or {}, "connection_file": cf,
           "log_file": (rec or {}).get("log_file") or os.path.join(kdir, kid + ".log")}
    started = _start(new, conn, timeout, base_env)
    if kept:  # its watching keeper follows the new process
        try:
            keepers.ask(kept[0], {"op": "watch", "pid": started["pid"]})
        except OpError:
            pass
        started["keeper"] = kept[0]
    return started


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
    conn = read_json(cf)
    conn = conn if isinstance(conn, dict) else {}
    pid, running = locate(cf, rec, procs)
    responding = _answers(conn, "shell_port", 0.3)
    kept = _kept(cf, rec, conn, pid if running else None)
    argv = (rec or {}).get("argv") or ((cmdline(pid) if running and pid else None) or [])
    ports = {k: conn.get(k) for k in PORT_NAMES}
    ports.update(ip=conn.get("ip"), transport=conn.get("transport"))
    started = (rec or {}).get("started") or (proc_started(pid) if running and pid else None)
    if started is None:
        try:
            started = os.path.getmtime(cf)
        except OSError:
            pass
    return {
        "id": (rec or {}).get("id") or kernel_id(cf), "connection_file": cf,
        "exists": bool(conn), "pid": pid, "alive": running if pid else responding,
        "responding": responding, "rtui": rec is not None,
        "kind": (rec or {}).get("kind") or guess_kind(argv),
        "python": (rec or {}).get("python") or (argv[0] if argv else None),
        "cwd": (proc_cwd(pid) if running and pid else None) or (rec or {}).get("cwd"),
        "started": started, "ports": ports, "argv": argv,
        "log_file": (rec or {}).get("log_file"), "key_digest": key_digest(conn),
        "keeper": kept[0] if kept else None, "exit": _exit_of(kept, rec, running),
    }


def _exit_of(kept: tuple[str, dict[str, Any]] | None, rec: dict[str, Any] | None,
             running: bool) -> dict[str, Any] | None:
    """How the kernel ended, as its keeper or rtui's record says (None while it runs)."""
    if kept:
        exit_ = kept[1].get("exit")
        return exit_ if isinstance(exit_, dict) else None
    exit_ = (rec or {}).get("exit")
    return exit_ if isinstance(exit_, dict) and not running else None


def op_list(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    rdir = runtime_dir()
    records = _load_records()
    jobs = [rec for rec in records.values() if slurm_kernels.is_job(rec)]
    files = {real(p): p for p in connection_files(rdir)}
    for real_cf, rec in records.items():
        files.setdefault(real_cf, rec["connection_file"])
    for rec in jobs:  # described with their jobs, one squeue for all
        files.pop(real(rec["connection_file"]), None)
    kernels = slurm_kernels.describe_all(jobs)
    if not files:
        kernels.sort(key=lambda k: (k["started"] or 0, k["id"]))
        return {"kernels": kernels, "runtime_dir": rdir}
    procs = processes()
    with ThreadPoolExecutor(max_workers=min(32, len(files))) as pool:
        kernels += [dict(k, slurm=None) for k in pool.map(
            lambda item: _describe(item[1], records.get(item[0]), procs), files.items())]
    kernels.sort(key=lambda k: (k["started"] or 0, k["id"]))
    return {"kernels": kernels, "runtime_dir": rdir}


def op_resolve(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    records = _load_records()
    cf = _resolve(arg(args, "id", str), records)
    job = records.get(real(cf))
    if slurm_kernels.is_job(job):
        assert job is not None
        return slurm_kernels.resolve(cf, job)
    if not os.path.exists(cf):
        raise OpError("not_found", f"connection file {cf} no longer exists")
    out: dict[str, Any] = {"connection_file": cf, "id": kernel_id(cf), "connection": None}
    try:
        out["connection"] = load_json(cf)
    except (OSError, ValueError) as e:
        out["connection_error"] = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    rec = records.get(real(cf))
    out.update(_liveness(cf, rec, out["connection"]))
    pid = out["pid"]
    kept = _kept(cf, rec, out["connection"],
                 pid if out["alive"] is True and pid and pid_alive(pid) else None)
    out.update(keeper=kept[0] if kept else None,
               exit=_exit_of(kept, rec, out["alive"] is not False), slurm=None)
    return out


def _liveness(cf: str, rec: dict[str, Any] | None, conn: Any) -> dict[str, Any]:
    """{pid, alive}: alive is False only when that is certain (its process is gone, or its
    shell socket refuses), None when it cannot be told, so a client fails at once only on
    a dead kernel and never refuses a live one it could not see."""
    pid, running = locate(cf, rec, None)
    if running:
        return {"pid": pid, "alive": True}
    answers = _shell_answers(conn) if isinstance(conn, dict) else None
    if answers is not None:
        return {"pid": pid, "alive": answers}
    return {"pid": pid, "alive": False if pid else None}


def _shell_answers(conn: dict[str, Any]) -> bool | None:
    """Whether something accepts on the kernel's shell socket: None when unsure (no answer
    in time, a port of another machine behind a firewall)."""
    port = conn.get("shell_port")
    try:
        if conn.get("transport", "tcp") == "ipc":
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(0.3)
                s.connect(f"{conn.get('ip')}-{port}")
        else:
            address = (_connect_host(str(conn.get("ip", "127.0.0.1"))), port)
            socket.create_connection(address, timeout=0.3).close()
        return True
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except (OSError, ValueError, TypeError, OverflowError):
        return None


def op_keep(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """A keeper for this kernel (idempotent): the one it has, else a new one that watches
    it (its iopub, and its process when found); waits until it hears the kernel."""
    job = _job_target(args)
    if job is not None:
        return slurm_kernels.keep(job, args)
    timeout = arg(args, "timeout", (int, float), 10)
    buffer_mb = arg(args, "output_buffer_mb", (int, float), 64)
    k = _target(args)
    cf, rec, pid = k["connection_file"], k["record"], k["pid"]
    if not cf:
        raise OpError("bad_args", "give connection_file or kernel_id")
    key = _kernel_key(cf, rec)
    assert key is not None
    pid = pid if k["running"] else None
    conn = read_json(cf)
    kept = _kept(cf, rec, conn, pid, retire_other=True)
    if kept:
        return {"keeper": kept[0], "state": kept[1].get("state"), "started": False}
    if not isinstance(conn, dict):
        raise OpError("not_found", f"no readable connection file {cf}")
    exe: str | None = None
    if pid:
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            exe = next(iter(cmdline(pid) or []), None)
    python = keepers.python_for([exe, (rec or {}).get("python"), sys.executable])
    extra = ["--connection-file", cf, "--buffer-mb", repr(float(buffer_mb))]
    if rec:
        extra += ["--record", rec["record_file"]]
    if pid:
        extra += ["--pid", str(pid)]
    proc = keepers.spawn(python, key, extra)
    path, st = keepers.wait_status(key, proc, timeout)
    return {"keeper": path, "state": st.get("state"), "started": True}


def op_signal(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    name = arg(args, "signal", str, "SIGINT").upper()
    name = name if name.startswith("SIG") else "SIG" + name
    if name not in ("SIGINT", "SIGTERM", "SIGKILL", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"):
        raise OpError("bad_args", f"unsupported signal {name}")
    job = _job_target(args)
    if job is not None:
        return slurm_kernels.signal_job(job, name)
    k = _target(args)
    if not k["pid"] or not k["running"]:
        what = k["connection_file"] or f"pid {k['pid']}"
        raise OpError("no_pid", f"cannot find a running process for {what}; "
                      "it may have exited or belong to another user")
    try:
        group = send_signal(k["pid"], getattr(signal, name))
    except ProcessLookupError:
        raise OpError("no_pid", f"process {k['pid']} has exited") from None
    except PermissionError:
        raise OpError("permission", f"not allowed to signal process {k['pid']}") from None
    return {"pid": k["pid"], "group": group, "signal": name}


def _conn_of(cf: str) -> dict[str, Any]:
    conn = read_json(cf)
    return conn if isinstance(conn, dict) else {}


def _still_answers(conn: dict[str, Any], grace: float) -> bool:
    """Whether the kernel's shell socket still accepts after up to ``grace`` seconds: a
    kernel just killed keeps its sockets a moment after its main thread shows as a zombie
    (its other threads are still exiting; a loaded machine makes that moment longer)."""
    deadline = time.monotonic() + grace
    while _answers(conn, "shell_port", 0.3):
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.05)
    return False


def op_shutdown(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    timeout = arg(args, "timeout", (int, float), 5)
    job = _job_target(args)
    if job is not None:  # its job is cancelled
        return dict(slurm.cancel(job), pid=None, killed=True, forced=False)
    k = _target(args)
    cf, rec, pid = k["connection_file"], k["record"], k["pid"]
    killed = forced = False
    kept = _kept(cf, rec, _conn_of(cf) if cf else None, pid if k["running"] else None,
                 retire_other=True)
    if kept:  # its keeper stops it (TERM, then KILL), then leaves
        stopped = _stop_keeper(kept[0], timeout)
        killed, forced = bool(stopped.get("killed")), bool(stopped.get("forced"))
        k["running"] = bool(pid) and pid_alive(pid)
    if pid and k["running"]:
        killed = True
        forced = terminate(pid, timeout)
    elif cf and _still_answers(_conn_of(cf), 2.0 if killed else 0.0):
        raise OpError("no_pid", f"the kernel of {cf} answers but its process cannot be found; "
                      "left it running")
    if cf is None:
        return {"pid": pid, "killed": killed, "forced": forced}
    if rec is None and not os.path.exists(cf):
        raise OpError("not_found", f"no kernel for {cf}")
    remove(cf)
    if rec:
        remove(rec.get("record_file"))
        remove(rec.get("log_file"))
    key = _kernel_key(cf, rec)
    if key and not (pid and pid_alive(pid)):
        remove_kernel_dir(key)
    children.pop(pid or -1, None)
    return {"pid": pid, "killed": killed, "forced": forced}
