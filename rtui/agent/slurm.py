"""Kernels as SLURM jobs, from the login node: submit a batch job whose runner (``slurm_job``)
starts the kernel on a compute node, wait for it (the scheduler's state and reason while it
pends), cancel it; and what ``list``/``resolve``/``signal``/``restart``/``shutdown`` do for
such a kernel (kernels.py hands its records here: they have ``"slurm"``).

The job's files are in ``state_dir/jobs/<kernel id>/`` (0700; the home is the cluster's
shared filesystem): job.sh (the batch script), job.py (the runner's source), boot.py
(``kernel_boot.BOOT``), template.json (0600: the key, never in argv nor job.sh),
kernel.json (0600, the runner's), state.json (the runner's), job.out (the job's output),
ended.json (how the job ended, as the agent first saw it). The
kernel's keeper runs here, on the login node, watching it over TCP (``keeper_job``), so its
kept output outlives the job.
"""

from __future__ import annotations

import os
import pkgutil
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
import uuid

from . import keepers
from . import slurm_sched as sched
from .envs import check_python
from .kernel_boot import BOOT, KERNEL_ID_RE, KERNEL_MODULES, KEY_RE, PORT_NAMES
from .paths import (
    home,
    ipython_dir,
    kernels_dir,
    key_digest,
    new_dirs_private,
    private_dir,
    read_json,
    remove,
    runtime_dir,
    state_dir,
    tail,
    write_json,
)
from .protocol import OpError, arg
from .sockets import remove_kernel_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .protocol import Progress

_NAME_RE = r"[A-Za-z0-9._,-]+"
_TIME_RE = r"\d+(:\d+){0,2}|\d+-\d+(:\d+){0,2}"
# Each setting: (sbatch option, what a value must look like, what is allowed in words).
SETTINGS = {
    "partition": ("--partition", _NAME_RE, "letters, digits, '.', '_', ',' or '-'"),
    "account": ("--account", _NAME_RE, "letters, digits, '.', '_', ',' or '-'"),
    "qos": ("--qos", _NAME_RE, "letters, digits, '.', '_', ',' or '-'"),
    "reservation": ("--reservation", _NAME_RE, "letters, digits, '.', '_', ',' or '-'"),
    "time": ("--time", _TIME_RE, "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"),
    "mem": ("--mem", r"\d+[KMGT]?", "a number with K, M, G or T"),
    "gpus": ("--gpus", r"[A-Za-z0-9._:,-]+", "a count or TYPE:COUNT"),
    "gres": ("--gres", r"[A-Za-z0-9._:,=-]+", "NAME[:TYPE]:COUNT"),
}
POLL_FILE = 0.05  # seconds between looks at the job's kernel.json
POLL_QUEUE = 2.0  # seconds between squeues while the job has no kernel yet


def jobs_dir() -> str:
    return os.path.join(state_dir(), "jobs")


def _sbatch_lines(slurm: dict[str, Any]) -> list[str]:
    """The ``#SBATCH`` lines of the settings, each checked (nothing can end a line)."""
    lines = []
    for name, (option, pattern, allowed) in SETTINGS.items():
        value = slurm.get(name)
        if value is None:
            continue
        value = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            raise OpError("bad_args", f"slurm {name} {value!r}: use {allowed}")
        lines.append(f"#SBATCH {option}={value}")
    cpus = slurm.get("cpus")
    if cpus is not None:
        if not isinstance(cpus, int) or isinstance(cpus, bool) or not 1 <= cpus <= 100000:
            raise OpError("bad_args", f"slurm cpus {cpus!r}: use a whole number 1 to 100000")
        lines.append(f"#SBATCH --cpus-per-task={cpus}")
    for name in ("extra", "setup"):
        items = slurm.get(name) or []
        if not isinstance(items, list) or not all(
                isinstance(i, str) and "\n" not in i and "\r" not in i for i in items):
            raise OpError("bad_args", f"slurm {name} must be a list of one-line strings")
    for option in slurm.get("extra") or []:
        if not option.strip().startswith("-"):
            raise OpError("bad_args", f"slurm extra {option!r}: each is an sbatch option "
                          "(--name=value)")
        lines.append(f"#SBATCH {option.strip()}")
    unknown = set(slurm) - set(SETTINGS) - {"cpus", "extra", "setup"}
    if unknown:
        raise OpError("bad_args", f"unknown slurm settings: {', '.join(sorted(unknown))}")
    return lines


def _job_script(python: str, job_dir: str, slurm: dict[str, Any]) -> str:
    lines = ["#!/bin/sh", *_sbatch_lines(slurm)]
    setup = [line for line in slurm.get("setup") or [] if line.strip()]
    if setup:
        lines += ["# set-up", *setup]
    lines.append("exec " + " ".join(shlex.quote(w) for w in (  # -S: the runner needs no site
        python, "-S", os.path.join(job_dir, "job.py"), job_dir)))
    return "\n".join(lines) + "\n"


def _write_private(path: str, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def runner_source() -> str:
    data = pkgutil.get_data(__package__ or "rtui.agent", "slurm_job.py")
    if data is None:
        raise OpError("internal", "the agent cannot read its job runner's source")
    return data.decode("utf-8")


def op_slurm_submit(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Write the job's files and sbatch it; answers as soon as sbatch did. Refused: its own
    words, and nothing left behind."""
    python = check_python(arg(args, "python", str, sys.executable))
    kind = arg(args, "kind", str, "ipykernel")
    cwd = os.path.abspath(os.path.expanduser(arg(args, "cwd", str, home())))
    env = {str(k): str(v) for k, v in arg(args, "env", dict, {}).items()}
    kid = arg(args, "kernel_id", str, None) or str(uuid.uuid4())
    key = arg(args, "key", str, None) or secrets.token_hex(32)
    buffer_mb = arg(args, "output_buffer_mb", (int, float), 64)
    slurm = arg(args, "slurm", dict, {})
    if kind not in KERNEL_MODULES:
        raise OpError("bad_args", f"kind must be one of {', '.join(KERNEL_MODULES)}, not {kind!r}")
    if not KERNEL_ID_RE.match(kid):
        raise OpError("bad_args", f"kernel_id {kid!r} may only use letters, digits, '.', '_', '-'")
    if not KEY_RE.fullmatch(key):
        raise OpError("bad_args", "key must be 32 to 256 characters of letters, digits, '-' "
                      "or '_'")
    if buffer_mb <= 0:
        raise OpError("bad_args", "output_buffer_mb must be > 0")
    if not os.path.isdir(cwd):
        raise OpError("not_found", f"working directory {cwd} does not exist")
    script = _job_script(python, os.path.join(jobs_dir(), kid), slurm)
    cf = os.path.join(private_dir(runtime_dir()), f"kernel-{kid}.json")
    rec_file = os.path.join(private_dir(kernels_dir()), kid + ".json")
    if os.path.exists(cf) or os.path.exists(rec_file):
        raise OpError("exists", f"a kernel {kid} exists already; pick another kernel_id")
    job_dir = os.path.join(private_dir(jobs_dir()), kid)
    new_dirs_private(ipython_dir(env))  # IPython would make it 0755: every cell's code
    try:
        os.mkdir(job_dir, 0o700)
    except FileExistsError:
        raise OpError("exists", f"{job_dir} exists already; pick another kernel_id") from None
    try:
        write_json(os.path.join(job_dir, "template.json"), {
            "key": key, "signature_scheme": "hmac-sha256", "kernel_name": "python3",
            "module": KERNEL_MODULES[kind], "env": env})
        _write_private(os.path.join(job_dir, "boot.py"), BOOT, 0o600)
        _write_private(os.path.join(job_dir, "job.py"), runner_source(), 0o600)
        _write_private(os.path.join(job_dir, "job.sh"), script, 0o700)
        log_file = os.path.join(job_dir, "job.out")
        out = sched.run(["sbatch", "--parsable", f"--job-name=rtui-{kid}",
                         f"--output={log_file}", f"--chdir={cwd}",
                         os.path.join(job_dir, "job.sh")],
                        "slurm_refused", "sbatch refused the job")
    except BaseException:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
    job_id = out.strip().split(";")[0]
    rec = {"id": kid, "pid": None, "python": python, "kind": kind, "cwd": cwd, "env": env,
           "connection_file": cf, "log_file": log_file, "transport": "tcp",
           "output_buffer_mb": buffer_mb,
           "slurm": {"job_id": job_id, "dir": job_dir, "settings": slurm,
                     "submitted": time.time()}}
    try:
        write_json(rec_file, rec)
    except OSError as e:  # a job rtui cannot find again is not left queued
        try:
            sched.run(["scancel", job_id], "slurm_failed", "scancel failed")
        except OpError:
            pass
        shutil.rmtree(job_dir, ignore_errors=True)
        raise OpError("os_error", f"cannot write {rec_file}: {e.strerror or e}; job {job_id} "
                      "was cancelled") from None
    try:
        job = sched.squeue([job_id]).get(job_id) or {}
    except OpError:
        job = {}
    return {"id": kid, "job_id": job_id, "state": job.get("state") or "PENDING",
            "reason": job.get("reason"), "connection_file": cf, "log_file": log_file,
            "dir": job_dir}


# ----------------------------------------------------------------------------- records

def job_record(kid: str) -> dict[str, Any]:
    """rtui's record of SLURM kernel ``kid`` (an id or a unique prefix of one)."""
    path = os.path.join(kernels_dir(), kid + ".json")
    rec = read_json(path)
    if not (isinstance(rec, dict) and isinstance(rec.get("slurm"), dict)):
        found = []
        for name in os.listdir(kernels_dir()) if os.path.isdir(kernels_dir()) else []:
            if name.startswith(kid) and name.endswith(".json"):
                other = read_json(os.path.join(kernels_dir(), name))
                if isinstance(other, dict) and isinstance(other.get("slurm"), dict):
                    found.append((os.path.join(kernels_dir(), name), other))
        if len(found) != 1:
            raise OpError("ambiguous" if found else "not_found",
                          f"{kid!r} matches {len(found)} SLURM kernels" if found
                          else f"no SLURM kernel {kid!r}")
        path, rec = found[0]
    rec["record_file"] = path
    return rec


def _conn(rec: dict[str, Any]) -> dict[str, Any] | None:
    """The kernel's connection info once its runner wrote it; the agent's 0600 copy made."""
    cf = rec["connection_file"]
    conn = read_json(cf)
    if isinstance(conn, dict):
        return conn
    conn = read_json(os.path.join(rec["slurm"]["dir"], "kernel.json"))
    if not (isinstance(conn, dict) and all(isinstance(conn.get(p), int) for p in PORT_NAMES)
            and conn.get("key") and conn.get("ip")):
        return None
    write_json(cf, conn)
    return conn


def _runner_state(rec: dict[str, Any]) -> dict[str, Any]:
    state = read_json(os.path.join(rec["slurm"]["dir"], "state.json"))
    return state if isinstance(state, dict) else {}


def _job(rec: dict[str, Any], found: dict[str, Any] | None) -> dict[str, Any]:
    """The contract's JOB for a record: the scheduler's word (``found``), the address the
    runner chose; an ended job's reason from scontrol (squeue keeps the last pending one).
    An ended job is remembered in its dir (``ended.json``), for when the controller forgot it
    (MinJobAge) or does not answer."""
    job_id = rec["slurm"]["job_id"]
    job = dict(found) if found else _remembered(rec) or {
        "job_id": job_id, "state": "UNKNOWN", "reason": "the controller no longer knows the job",
        "node": None, "address": None, "start": None, "time_left": None, "time_limit": None,
        "end": None, "partition": rec["slurm"].get("settings", {}).get("partition"),
        "name": f"rtui-{rec['id']}"}
    job.pop("exit_code", None)
    conn = read_json(rec["connection_file"])
    if isinstance(conn, dict) and job["state"] != "PENDING":
        job["address"] = conn.get("ip")
    if job["state"] not in sched.ACTIVE and found:
        try:
            told = sched.scontrol_job(job_id)
        except OpError:
            told = None
        if told:
            job["reason"] = told.get("reason")
        if job.get("reason") in sched.WAITING_REASONS:
            job["reason"] = None  # why it waited, not why it ended (a pending job cancelled)
        ended = os.path.join(rec["slurm"]["dir"], "ended.json")
        if os.path.isdir(rec["slurm"]["dir"]) and not os.path.exists(ended):
            try:
                write_json(ended, dict(job, name=None))
            except OSError:
                pass
    job.pop("name", None)
    return job


# slurmstepd's own line in the job's output when it ends the job.
_STEPD_RE = re.compile(r"\*\*\* JOB \S+ ON (\S+) CANCELLED AT (\S+)"
                       r"(?: DUE TO ([A-Z ]+?))? \*\*\*")
_STEPD_ENDS = {None: ("CANCELLED", None), "TIME LIMIT": ("TIMEOUT", "TimeLimit"),
               "PREEMPTION": ("PREEMPTED", None), "NODE FAILURE": ("NODE_FAIL", "NodeDown")}


def _remembered(rec: dict[str, Any]) -> dict[str, Any] | None:
    """How the job ended when the controller no longer says: as the agent saw it then
    (ended.json), else slurmstepd's line in job.out, else the runner's word (its kernel
    exited with a code)."""
    base: dict[str, Any] = {
        "job_id": rec["slurm"]["job_id"], "reason": None, "node": None, "address": None,
        "start": None, "time_left": None, "time_limit": None, "end": None,
        "partition": rec["slurm"].get("settings", {}).get("partition")}
    seen = read_json(os.path.join(rec["slurm"]["dir"], "ended.json"))
    if isinstance(seen, dict) and seen.get("state"):
        return dict(base, **{k: v for k, v in seen.items() if k in base or k == "state"})
    lines = tail(rec["log_file"], 50).splitlines()
    for line in reversed(lines):
        said = _STEPD_RE.search(line)
        if said and said.group(3) in _STEPD_ENDS:
            state, reason = _STEPD_ENDS[said.group(3)]
            return dict(base, state=state, reason=reason, node=said.group(1),
                        end=sched.instant(said.group(2)))
    runner = _runner_state(rec)
    code = (runner.get("exit") or {}).get("code")
    if runner.get("ended_by") == "kernel" and isinstance(code, int):
        return dict(base, state="COMPLETED" if code == 0 else "FAILED",
                    reason=None if code == 0 else "NonZeroExitCode", node=runner.get("node"))
    return None


def _ended_error(rec: dict[str, Any], job: dict[str, Any], before: str) -> OpError:
    reason = f": {job['reason']}" if job.get("reason") else ""
    return OpError("job_ended", f"job {job['job_id']} ended ({job['state']}{reason}) {before}; "
                   f"last lines of {rec['log_file']}:\n{tail(rec['log_file'])}")


def _spawn_keeper(rec: dict[str, Any]) -> subprocess.Popen[bytes]:
    """A keeper for the kernel, in watch mode with the job dir its witness; started before
    the job runs, it waits for the runner's kernel.json itself (``keeper_job``)."""
    python = keepers.python_for([rec.get("python"), sys.executable])
    return keepers.spawn(python, rec["id"], [
        "--connection-file", rec["connection_file"], "--record", rec["record_file"],
        "--job-dir", rec["slurm"]["dir"],
        "--buffer-mb", repr(float(rec.get("output_buffer_mb") or 64))])


def _start_keeper(rec: dict[str, Any], timeout: float,
                  early: subprocess.Popen[bytes] | None = None) -> tuple[str, dict[str, Any]]:
    """The login node's keeper of the kernel: the one it has, else ``early`` (spawned while
    the job waited) once it answers, else a new one; returns once it answers (not once the
    kernel does)."""
    kid = rec["id"]
    kept = keepers.status_of(kid)
    if kept is not None and kept[1].get("key_digest") == key_digest(read_json(
            rec["connection_file"])):
        return kept
    if kept is not None:
        keepers.retire(kid, kept[1])
    elif early is not None and early.poll() in (None, 3):  # 3: another keeper holds it
        try:
            return keepers.wait_status(kid, early, timeout,
                                       done=("starting", "running", "exited"))
        except OpError:
            pass
    return keepers.wait_status(kid, _spawn_keeper(rec), timeout,
                               done=("starting", "running", "exited"))


def _launched(rec: dict[str, Any], conn: dict[str, Any], keeper: str,
              status: dict[str, Any], job: dict[str, Any], t0: float) -> dict[str, Any]:
    """The launch-shaped answer for a SLURM kernel that answers."""
    return {"id": rec["id"], "pid": None, "python": rec.get("python"), "kind": rec.get("kind"),
            "cwd": rec.get("cwd"), "connection_file": rec["connection_file"],
            "log_file": rec["log_file"], "transport": "tcp", "connection": conn,
            "keeper": keeper, "seq": int(status.get("next") or 1) - 1,
            "ready_ms": round((time.monotonic() - t0) * 1000), "slurm": job}


def _event(job: dict[str, Any]) -> dict[str, Any]:
    return {k: job.get(k) for k in ("job_id", "state", "reason", "start", "node", "time_left",
                                    "end")}


def op_slurm_wait(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Follow the job until its kernel answers (progress each time the job's state, reason,
    start, node... change); its end first is ``job_ended``. Cancelling this request leaves
    the job in the queue."""
    rec = job_record(arg(args, "kernel_id", str))
    timeout = arg(args, "timeout", (int, float), 86400)
    t0 = time.monotonic()
    deadline = t0 + timeout
    job_id = rec["slurm"]["job_id"]
    job: dict[str, Any] = {"job_id": job_id, "state": "PENDING"}
    last: dict[str, Any] | None = None
    next_queue = t0
    kept: tuple[str, dict[str, Any]] | None = None
    conn: dict[str, Any] | None = None
    timings: dict[str, float] = {}
    early = None
    if keepers.status_of(rec["id"]) is None and _conn(rec) is None:
        early = _spawn_keeper(rec)  # its start overlaps the queue
    while True:
        progress.check()
        now = time.monotonic()
        if conn is None:
            conn = _conn(rec)
            if conn is not None:
                timings["kernel_json"] = time.time()
                if job.get("state") == "PENDING":  # the runner wrote it: the job runs
                    job = dict(job, state="RUNNING", reason=None,
                               node=_runner_state(rec).get("node") or job.get("node"))
                    last = _event(job)
                    progress(sched.describe(job), None, job=last)
                kept = _start_keeper(rec, max(5.0, min(30.0, deadline - now)), early)
                timings["keeper"] = time.time()
        if kept is not None:
            try:
                status = keepers.ask(kept[0], {"op": "status"}, 5.0)
            except OpError:
                status = {}
            if status.get("state") == "running":
                timings["answered"] = time.time()
                found = _refresh(job_id, job)
                if found["state"] == "PENDING":
                    found["state"] = "RUNNING"
                done = _launched(rec, conn or {}, kept[0], status, _job(rec, found), t0)
                done["timings"] = dict(timings, submitted=rec["slurm"]["submitted"])
                return done
            if status.get("state") == "exited":
                raise _ended_error(rec, _job(rec, _settled(job_id, job)),
                                   "before its kernel was ready")
        if now >= next_queue:
            next_queue = now + POLL_QUEUE
            try:
                job = _job(rec, sched.job_state(job_id))
            except OpError as e:
                if e.type != "slurm_unreachable":
                    raise
                progress(f"job {job_id}: {e.message}; trying again", None)
                last = None  # the next answer is told even if the job did not change
            else:
                if job["state"] not in sched.ACTIVE:
                    if early is not None and kept is None and early.poll() is None:
                        early.terminate()  # it waits for a kernel that never comes
                    raise _ended_error(rec, job, "before its kernel was ready")
                event = _event(job)
                if event != last:
                    last = event
                    progress(sched.describe(job), None, job=event)
        if now > deadline:
            raise OpError("timeout", f"job {job_id}'s kernel was not ready within "
                          f"{timeout:g} s (the job is still {job['state'].lower()}; "
                          "it keeps its place in the queue)")
        time.sleep(POLL_FILE)


def _refresh(job_id: str, job: dict[str, Any]) -> dict[str, Any]:
    try:
        return sched.job_state(job_id) or job
    except OpError:
        return job


def _settled(job_id: str, job: dict[str, Any], grace: float = 10.0) -> dict[str, Any]:
    """The job once it has ended (its kernel is gone; the scheduler says so a moment later)."""
    deadline = time.monotonic() + grace
    while True:
        job = _refresh(job_id, job)
        if job.get("state") not in sched.ACTIVE or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


# ----------------------------------------------------------------------------- cancel

def cancel(rec: dict[str, Any]) -> dict[str, Any]:
    """scancel the job, wait (30 s at most) until it has ended, stop its keeper and remove
    the record, the connection file and the job directory."""
    job_id = rec["slurm"]["job_id"]
    try:
        sched.run(["scancel", job_id], "slurm_failed", f"scancel of job {job_id} failed")
    except OpError as e:
        if e.type != "slurm_failed" or not any(
                s in e.message for s in ("Invalid job id", "already completing or completed")):
            raise
    deadline = time.monotonic() + sched.BOUND
    job: dict[str, Any] | None = None
    while True:
        job = sched.job_state(job_id)
        if job is None or job["state"] not in sched.ACTIVE:
            break
        if time.monotonic() > deadline:
            if job["state"] in ("PENDING", "RUNNING"):
                raise OpError("slurm_failed", f"job {job_id} is still {job['state']} 30 s "
                              "after scancel; left its files")
            break
        time.sleep(0.1)
    kept = keepers.status_of(rec["id"])
    if kept is not None:
        try:
            keepers.ask(kept[0], {"op": "stop", "timeout": 2}, 15)
        except OpError:
            pass
    remove(rec["connection_file"])
    remove(rec.get("record_file"))
    shutil.rmtree(rec["slurm"]["dir"], ignore_errors=True)
    remove_kernel_dir(rec["id"])
    return {"job_id": job_id, "state": job["state"] if job else "CANCELLED"}


def op_slurm_cancel(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    return cancel(job_record(arg(args, "kernel_id", str)))
