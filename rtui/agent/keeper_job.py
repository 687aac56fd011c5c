"""What the login node's keeper of a SLURM kernel knows of it: the runner's ``state.json`` in
the job directory (the shared home), since the kernel's process is on another machine.

The runner (``slurm_job``) writes there when it restarts the kernel (``restarts`` goes up)
and when the job ends (``kernel`` "ended": its kernel exited, or scancel, the time limit or a
preemption sent SIGTERM). A job killed without a word (SIGKILL after KillWait, a node gone)
leaves it "running": then the kernel's shell port refusing for a while, with nothing written
meanwhile, says it is gone.
"""

from __future__ import annotations

import os
import socket
import time

from .paths import read_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
SILENT_GONE = 20.0  # seconds of refused connections, state.json unchanged, before "ended"
PORT_CHECK_EVERY = 1.0


class JobWatch:
    """Polled by the keeper's loop: "running", "restarted" (once per restart) or "ended"."""

    def __init__(self, job_dir: str, conn: dict[str, Any]) -> None:
        self.dir = job_dir
        self.conn = conn
        self.restarts: int | None = None
        self.state: dict[str, Any] = {}
        self.mtime: float | None = None
        self.changed = time.monotonic()
        self.refused_since: float | None = None
        self.port_checked = 0.0

    def _refuses(self) -> bool:
        try:
            address = (str(self.conn.get("ip")), int(self.conn["shell_port"]))
            socket.create_connection(address, timeout=0.2).close()
        except ConnectionRefusedError:
            return True
        except (OSError, ValueError, TypeError, KeyError):
            return False
        return False

    def poll(self, now: float) -> str:
        path = os.path.join(self.dir, "state.json")
        try:
            mtime: float | None = os.stat(path).st_mtime
        except OSError:
            mtime = None
        if mtime is None and not os.path.exists(os.path.join(self.dir, "kernel.json")):
            return "ended"  # the job directory is gone (the job was cancelled)
        if mtime != self.mtime:
            state = read_json(path)
            if isinstance(state, dict):
                self.state, self.mtime, self.changed = state, mtime, now
        if self.state.get("kernel") == "ended":
            return "ended"
        restarts = self.state.get("restarts") or 0
        if self.restarts is None:
            self.restarts = restarts
        elif restarts > self.restarts:
            self.restarts = restarts
            self.refused_since = None
            return "restarted"
        if self.state.get("kernel") == "running" and now - self.port_checked >= PORT_CHECK_EVERY:
            self.port_checked = now
            if not self._refuses():
                self.refused_since = None
            elif self.refused_since is None:
                self.refused_since = now
            elif now - max(self.refused_since, self.changed) >= SILENT_GONE:
                return "ended"
        return "running"

    def exit(self) -> tuple[int | None, int | None, str | None]:
        """(code, signal, why) of the job's end as the runner wrote it."""
        exit_ = self.state.get("exit")
        exit_ = exit_ if isinstance(exit_, dict) else {}
        code, sig = exit_.get("code"), exit_.get("signal")
        by = self.state.get("ended_by")
        why = None if by in (None, "kernel") else f"the job ended ({by} to its runner)"
        if not self.state.get("ended_by"):
            why = "the job's kernel no longer answers (the job was killed)"
        return (code if isinstance(code, int) else None, sig if isinstance(sig, int) else None,
                why)


def wait_for_kernel(job_dir: str, limit: float) -> dict[str, Any]:
    """The kernel's connection info once the job's runner wrote it: the keeper of a job just
    submitted starts while the job waits (its Python and pyzmq start overlap the queue, not
    the kernel's boot). Leaves quietly when the job directory goes (the job was cancelled),
    or after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    path = os.path.join(job_dir, "kernel.json")
    while True:
        conn = read_json(path)
        if isinstance(conn, dict) and conn.get("key") and conn.get("ip") and all(
                isinstance(conn.get(name), int) for name in PORT_NAMES):
            return conn
        if not os.path.isdir(job_dir) or time.monotonic() > deadline:
            raise SystemExit(0)
        time.sleep(0.05)
