"""The kernel ops for a SLURM kernel (kernels.py hands its records here when they have
``"slurm"``): listed with its job (one squeue for all), resolved (``alive`` False once the
job ended, with how), interrupted and restarted through its runner (``scancel -b -s``), kept
by a keeper on the login node; and the scheduler's view: ``slurm_jobs``, ``slurm_info``."""

from __future__ import annotations

import os
import shutil
import socket
import time

from . import keepers
from . import slurm_sched as sched
from .kernel_boot import PORT_NAMES
from .paths import key_digest, tail
from .protocol import OpError, arg
from .slurm import _conn, _job, _launched, _runner_state, _start_keeper, job_record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .protocol import Progress


def _shell_answers(conn: dict[str, Any] | None, timeout: float = 0.3) -> bool | None:
    """Whether the kernel's shell port accepts: None when it cannot be told (no answer)."""
    if not conn:
        return None
    try:
        socket.create_connection((str(conn.get("ip")), int(conn["shell_port"])),
                                 timeout=timeout).close()
        return True
    except ConnectionRefusedError:
        return False
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _jobs_of(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The scheduler's word on these records' jobs, by job id ({} when it does not answer)."""
    if not records:
        return {}
    try:
        return sched.squeue([r["slurm"]["job_id"] for r in records])
    except OpError:
        return {}


def _exit_of(rec: dict[str, Any], job: dict[str, Any], kept: Any) -> dict[str, Any] | None:
    """How the job ended (None while it is queued or runs)."""
    if job["state"] in sched.ACTIVE or (job["state"] == "UNKNOWN" and not kept):
        return None
    runner = _runner_state(rec)
    code = (runner.get("exit") or {}).get("code") if runner.get("ended_by") == "kernel" else None
    return {"slurm_state": job["state"], "reason": job.get("reason"),
            "log_tail": tail(rec["log_file"]), "code": code if isinstance(code, int) else None}


def describe(rec: dict[str, Any], found: dict[str, Any] | None) -> dict[str, Any]:
    """A SLURM kernel as ``list`` shows a kernel, plus ``"slurm": JOB``."""
    job = _job(rec, found)
    conn = _conn(rec) if job["state"] != "PENDING" else None
    responding = bool(_shell_answers(conn)) if conn and job["state"] == "RUNNING" else False
    kept = keepers.status_of(rec["id"])
    ports: dict[str, Any] = {k: (conn or {}).get(k) for k in PORT_NAMES}
    ports.update(ip=(conn or {}).get("ip"), transport="tcp")
    exit_ = _exit_of(rec, job, kept)
    return {
        "id": rec["id"], "connection_file": rec["connection_file"], "exists": bool(conn),
        "pid": None, "alive": job["state"] in sched.ACTIVE and exit_ is None,
        "responding": responding, "rtui": True, "kind": rec.get("kind"),
        "python": rec.get("python"), "cwd": rec.get("cwd"),
        "started": _runner_state(rec).get("started") or rec["slurm"].get("submitted"),
        "ports": ports, "argv": [], "log_file": rec["log_file"],
        "key_digest": key_digest(conn), "keeper": kept[0] if kept else None,
        "exit": exit_, "slurm": job,
    }


def describe_all(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = _jobs_of(records)
    return [describe(rec, found.get(rec["slurm"]["job_id"])) for rec in records]


def resolve(cf: str, rec: dict[str, Any]) -> dict[str, Any]:
    """``resolve`` for a SLURM kernel: its connection (None while pending), ``alive`` (None
    while pending or when the controller does not answer, False once the job ended) and
    ``slurm``."""
    try:
        found = sched.job_state(rec["slurm"]["job_id"])
        told = True
    except OpError:
        found, told = None, False
    job = _job(rec, found)
    conn = _conn(rec)
    kept = keepers.status_of(rec["id"])
    exit_ = _exit_of(rec, job, kept) if told else None
    alive: bool | None = None
    if exit_ is not None:
        alive = False
    elif job["state"] == "RUNNING" and conn:  # refused: restarting, or just ended (unsure)
        alive = True if _shell_answers(conn) is not False else None
    return {"connection_file": cf, "id": rec["id"], "connection": conn, "pid": None,
            "alive": alive, "keeper": kept[0] if kept else None, "exit": exit_, "slurm": job}


def signal_job(rec: dict[str, Any], name: str) -> dict[str, Any]:
    """SIGINT (and SIGUSR2) to the runner, which passes it to the kernel; TERM, KILL, HUP,
    QUIT to the whole job (it ends)."""
    job_id = rec["slurm"]["job_id"]
    short = name[3:]
    if name in ("SIGINT", "SIGUSR2"):
        argv = ["scancel", "-b", "-s", short, job_id]
    elif name == "SIGUSR1":
        raise OpError("bad_args", "SIGUSR1 restarts a SLURM kernel: use restart")
    else:
        argv = ["scancel", "-s", short, job_id]
    sched.run(argv, "slurm_failed", f"scancel -s {short} of job {job_id} failed")
    return {"pid": None, "group": False, "signal": name, "job_id": job_id}


def restart(rec: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """The runner starts the kernel again (SIGUSR1) on the same ports and key; answers once
    it did and the kernel answers (launch-shaped)."""
    timeout = arg(args, "timeout", (int, float), 30)
    t0 = time.monotonic()
    job_id = rec["slurm"]["job_id"]
    conn = _conn(rec)
    if conn is None:
        raise OpError("not_ready", f"job {job_id} has no kernel yet (wait for it first)")
    kept = _start_keeper(rec, 10)
    before = int(_runner_state(rec).get("restarts") or 0)
    sched.run(["scancel", "-b", "-s", "USR1", job_id], "restart_failed",
              f"scancel -s USR1 of job {job_id} failed")
    deadline = t0 + timeout
    while True:
        status = keepers.ask(kept[0], {"op": "status"}, 5.0)
        if (status.get("restarts") or 0) > before and status.get("state") == "running":
            return _launched(rec, conn, kept[0], status, _job(rec, sched.job_state(job_id)), t0)
        if status.get("state") == "exited":
            raise OpError("restart_failed", f"job {job_id}'s kernel ended; last lines of "
                          f"{rec['log_file']}:\n{tail(rec['log_file'])}")
        if time.monotonic() > deadline:
            raise OpError("restart_failed", f"job {job_id}'s kernel did not answer within "
                          f"{timeout:g} s of its restart; see {rec['log_file']}")
        time.sleep(0.05)


def keep(rec: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """``keep`` for a SLURM kernel: its login node keeper (once the job has its kernel)."""
    if _conn(rec) is None:
        raise OpError("not_ready", f"job {rec['slurm']['job_id']} has no kernel yet")
    had = keepers.status_of(rec["id"])
    path, status = _start_keeper(rec, arg(args, "timeout", (int, float), 10))
    return {"keeper": path, "state": status.get("state"), "started": had is None}


def op_slurm_jobs(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The user's queued and running jobs, and rtui's ended ones the controller remembers."""
    jobs = sched.squeue()
    out = []
    for job_id, job in sorted(jobs.items(), key=lambda item: int(item[0].split("_")[0])
                              if item[0].split("_")[0].isdigit() else 0):
        name = job.get("name") or ""
        rec = None
        if name.startswith("rtui-"):  # rtui names a job after its kernel
            try:
                rec = job_record(name[len("rtui-"):])
            except OpError:
                rec = None
            if rec is not None and rec["slurm"]["job_id"] != job_id:
                rec = None
        if rec is None and job["state"] not in sched.ACTIVE:
            continue  # another program's ended job, or one rtui no longer keeps
        full = _job(rec, job) if rec is not None else dict(job)
        full.pop("name", None)
        full.pop("exit_code", None)
        out.append(dict(full, name=name, kernel_id=rec["id"] if rec is not None else None,
                        rtui=rec is not None))
    return {"jobs": out}


def op_slurm_info(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The scheduler's version, the user, and each partition: default, state, time limit,
    nodes and idle ones."""
    if shutil.which("sbatch") is None:
        raise OpError("no_slurm", "sbatch is not on this host's PATH: is it a SLURM login node?")
    version = sched.run(["sinfo", "--version"], "slurm_failed", "sinfo failed").split()
    out = sched.run(["sinfo", "-h", "-o", "%P|%a|%l|%F"], "slurm_failed", "sinfo failed")
    partitions = []
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 4:
            continue
        name, state, limit, counts = parts
        nums = [int(n) if n.isdigit() else 0 for n in counts.split("/")] + [0] * 4
        partitions.append({"name": name.rstrip("*"), "default": name.endswith("*"),
                           "state": state, "time_limit": sched.seconds(limit),
                           "nodes": nums[3], "idle": nums[1]})
    return {"version": version[-1] if version else None, "user": sched.user(),
            "partitions": partitions}


def is_job(rec: dict[str, Any] | None) -> bool:
    return bool(rec) and isinstance((rec or {}).get("slurm"), dict) and os.path.isabs(
        str((rec or {}).get("slurm", {}).get("dir") or ""))

