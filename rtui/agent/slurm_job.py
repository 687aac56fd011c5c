"""The runner of a SLURM kernel: ``PYTHON job.py DIR`` inside the job, on the compute node.

The agent writes this module's source into the job directory (``job.py``) so the job never
depends on the agent's cached zipapp (which may be replaced while the job waits in the
queue), as ``kernel_boot.BOOT`` is kept as text for a kernel's command line. Standard
library only, Python >= 3.8, nothing of rtui imported.

It picks the node's cluster address (``scontrol show node`` NodeAddr, else the resolved host
name) and five free ports on it, writes ``kernel.json`` (0600, atomically) before the kernel
starts (the login node's keeper connects at once; zmq waits for the binds), starts the kernel
with boot.py's text, and keeps ``state.json`` up to date. Signals, sent by the agent with
``scancel -b -s SIG JOB`` (which reaches this exec'd process of the batch step):
SIGINT -> forwarded to the kernel; SIGUSR1 -> restart the kernel on the same kernel.json;
SIGTERM (scancel, the time limit, a preemption) -> TERM the kernel, KILL after 2 s, exit 143.
A kernel that exits on its own ends the job with its code.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
RESTART_GRACE = 3.0  # seconds between TERM and KILL when restarting the kernel
END_GRACE = 2.0  # the same when the job ends (KillWait leaves a few seconds at most)
# scancel signals every process of the step: the kernel may die of it a moment before this
# runner's own handler runs; a kernel killed by a signal waits this long for the runner's.
SIGNAL_SETTLE = 1.0


def write_private(path: str, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path``, mode 0600, atomically."""
    temp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(temp, path)


def node_address(node: str) -> str:
    """The node's cluster address: its NodeAddr in SLURM, else its name resolved."""
    if node:
        try:
            out = subprocess.run(["scontrol", "show", "node", "-o", node], capture_output=True,
                                 text=True, timeout=10, stdin=subprocess.DEVNULL).stdout
            for token in out.split():
                if token.startswith("NodeAddr="):
                    addr = token.split("=", 1)[1]
                    if addr and addr != node and addr != "(null)":
                        return socket.gethostbyname(addr)
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        return socket.gethostbyname(node or socket.gethostname())
    except OSError:
        return "127.0.0.1"


def free_ports(ip: str) -> list[int]:
    """Five ports free on ``ip`` now (bound together, then released)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    socks = []
    try:
        for _ in PORT_NAMES:
            s = socket.socket(family, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((ip, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Runner:
    """The job's one process: its kernel, its signals, its state file."""

    def __init__(self, job_dir: str) -> None:
        self.dir = job_dir
        with open(os.path.join(job_dir, "template.json")) as f:
            self.template = json.load(f)
        with open(os.path.join(job_dir, "boot.py")) as f:
            self.boot = f.read()
        self.cf = os.path.join(job_dir, "kernel.json")
        self.node = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
        self.proc = None  # type: subprocess.Popen[bytes] | None
        self.wanted = []  # type: list[int]
        self.state = {"runner_pid": os.getpid(), "kernel_pid": None, "node": self.node,
                      "address": None, "started": None, "restarts": 0, "exit": None,
                      "ended_by": None, "kernel": "starting"}  # type: dict[str, Any]

    def save(self, **fields: Any) -> None:
        self.state.update(fields)
        try:
            write_private(os.path.join(self.dir, "state.json"), self.state)
        except OSError:
            pass

    def connection(self) -> dict[str, Any]:
        ip = node_address(self.node)
        ports = free_ports(ip)
        conn = {name: ports[i] for i, name in enumerate(PORT_NAMES)}  # type: dict[str, Any]
        conn.update(ip=ip, transport="tcp", key=self.template["key"],
                    signature_scheme=self.template.get("signature_scheme", "hmac-sha256"),
                    kernel_name=self.template.get("kernel_name", "python3"))
        return conn

    def start_kernel(self) -> None:
        env = dict(os.environ)
        env.update({str(k): str(v) for k, v in (self.template.get("env") or {}).items()})
        # As a kernel manager's child: ipykernel then prints no "ipython kernel" banner (the
        # end of job.out is what a person reads when the job ends), and it leaves if we die.
        env["JPY_PARENT_PID"] = str(os.getpid())
        argv = [sys.executable, "-Xfrozen_modules=off", "-c", self.boot,
                self.template.get("module", "ipykernel_launcher"), "-f", self.cf]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)
        self.save(kernel_pid=self.proc.pid, started=time.time(), kernel="running")

    def stop_kernel(self, grace: float) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except OSError:
                pass
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def on_signal(self, signum: int, frame: Any) -> None:
        self.wanted.append(signum)

    def run(self) -> int:
        for wanted in (signal.SIGINT, signal.SIGUSR1, signal.SIGTERM, signal.SIGHUP):
            signal.signal(wanted, self.on_signal)
        conn = self.connection()
        write_private(self.cf, conn)
        self.save(address=conn["ip"])
        sys.stdout.write(f"rtui: kernel on {self.node} ({conn['ip']})\n")
        sys.stdout.flush()
        self.start_kernel()
        while True:
            while self.wanted:
                signum = int(self.wanted.pop(0))
                if signum == signal.SIGINT and self.proc is not None:
                    try:
                        os.kill(self.proc.pid, signal.SIGINT)
                    except OSError:
                        pass
                elif signum == signal.SIGUSR1:
                    self.save(kernel="restarting")
                    self.stop_kernel(RESTART_GRACE)
                    sys.stdout.write("rtui: restarting the kernel\n")
                    sys.stdout.flush()
                    self.state["restarts"] += 1
                    self.start_kernel()
                elif signum in (signal.SIGTERM, signal.SIGHUP):
                    self.save(kernel="ending")
                    self.stop_kernel(END_GRACE)
                    name = signal.Signals(signum).name
                    sys.stdout.write(f"rtui: the job was ended by {name} (scancel, its time "
                                     "limit or a preemption)\n")
                    sys.stdout.flush()
                    self.save(kernel="ended", ended_by=name, exit={"signal": signum})
                    return 128 + signum
            assert self.proc is not None
            try:
                code = self.proc.wait(0.2)
            except subprocess.TimeoutExpired:
                continue
            if code < 0:
                settle = time.monotonic() + SIGNAL_SETTLE
                while not self.wanted and time.monotonic() < settle:
                    time.sleep(0.05)
            if self.wanted:
                continue  # a restart or the job's end, not an exit of its own
            if code < 0:
                sys.stdout.write(f"rtui: the kernel was killed by signal {-code}"
                                 f"{_signal_name(-code)}\n")
                exit_: dict[str, int] = {"signal": -code}
            else:
                sys.stdout.write(f"rtui: the kernel exited with code {code}\n")
                exit_ = {"code": code}
            sys.stdout.flush()
            self.save(kernel="ended", ended_by="kernel", exit=exit_)
            return code if code >= 0 else 128 - code


def _signal_name(number: int) -> str:
    """" (SIGTERM)", or nothing for a signal without a name."""
    try:
        return f" ({signal.Signals(number).name})"
    except ValueError:
        return ""


def main(argv: list[str]) -> None:
    if len(argv) != 1 or not os.path.isdir(argv[0]):
        sys.stderr.write("usage: job.py JOB_DIR\n")
        raise SystemExit(2)
    raise SystemExit(Runner(os.path.abspath(argv[0])).run())


if __name__ == "__main__":
    main(sys.argv[1:])
