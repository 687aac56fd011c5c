"""The output keeper: one process per kernel on the host that receives every iopub message,
numbers it, keeps it (``keeper_buffer``) and serves it to clients on a Unix socket, whatever
happens to SSH or to rtui.

Run as ``<kernel python> <agent .pyz> keeper ...`` (that Python has pyzmq: ipykernel needs
it; this is the only agent module that imports zmq, and only in this process), detached in
its own session. Two modes:

- launch: the keeper starts the kernel as its child (own session, output to the log), so it
  knows its exit code or signal the moment it ends, writes that into rtui's kernel record
  with the log's tail, and can start it again under the same id and connection info;
- watch: for kernels rtui did not start; it subscribes and watches the pid when known.

One thread, one poll loop over the iopub SUB socket, the control socket (its
``kernel_info_request`` tells when the kernel answers and the subscription is live), the
listening socket, every client and a self-pipe for SIGCHLD/SIGTERM. Clients are written
without blocking, each at its own pace. Protocol: /work/wt/DESIGN15.md and ``serve_request``.

stdin (``keeper_stdin``): ``follow`` may carry ``"stdin": <the client's shell identity>``;
the keeper then holds that identity on the kernel's stdin (the client must not connect stdin
with it) and says ``"stdin": true`` in the header. A question the kernel asks (``input()``)
is the event ``input_request`` {msg_id, parent_id, prompt, password, at}, sent after the
output before it: to the client whose cell asks while it follows, else to every follower,
and to each that follows later until it is answered (``status`` and the header carry it as
``input``). ``{"op": "input_reply", "msg_id", "value"}`` answers it (first answer wins) ->
``{"ok": true}``; the event ``input_cleared`` {msg_id, reason: answered | ended | exited |
restarted} says it is no longer pending.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

from .keeper_buffer import Follower, OutputBuffer, event_record
from .keeper_clients import POLLERR, POLLIN, POLLOUT, Client, ClientTable
from .keeper_job import JobWatch, wait_for_kernel
from .keeper_stdin import StdinHolder, sign, valid_identity
from .paths import key_digest, read_json, remove, tail, write_json
from .sockets import KEEPER_NAME, kernel_dir, remove_kernel_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

LINGER = 3600.0  # seconds a keeper stays after its kernel died, unless stopped or restarted
READ_BATCH = 2000  # iopub messages read per wake-up: a flood costs one poll per batch
FLOOD_GATHER = 0.002  # seconds to wait for more output before polling, in a flood
FLOOD_RATE = 500  # messages a second from which output is a flood
PROBE_EVERY = 0.1  # while starting: the first answer ends it
DELIM = b"<IDS|MSG>"


def endpoint(conn: dict[str, Any], name: str) -> str:
    """The zmq address of one of the kernel's sockets."""
    if conn.get("transport") == "ipc":
        return f"ipc://{conn['ip']}-{conn[name]}"
    ip = conn.get("ip") or "127.0.0.1"
    ip = {"0.0.0.0": "127.0.0.1", "*": "127.0.0.1", "::": "::1"}.get(ip, ip)
    return f"tcp://[{ip}]:{conn[name]}" if ":" in ip else f"tcp://{ip}:{conn[name]}"


class Keeper:
    """The whole keeper: its kernel, its buffer, its clients, its loop."""

    def __init__(self, opts: argparse.Namespace) -> None:
        import zmq  # here: only the keeper's own process needs pyzmq

        self.zmq = zmq
        assert (zmq.POLLIN, zmq.POLLOUT, zmq.POLLERR) == (POLLIN, POLLOUT, POLLERR)
        self.kernel_id: str = opts.kernel_id
        self.lock_fd: int | None = None
        self.record_file: str | None = opts.record
        self.launch: bool = opts.launch
        self.linger: float = opts.linger
        record = read_json(self.record_file) if self.record_file else None
        self.record: dict[str, Any] = record if isinstance(record, dict) else {}
        self.cf: str = opts.connection_file or self.record.get("connection_file") or ""
        conn = read_json(self.cf)
        if opts.job_dir and not opts.launch and not isinstance(conn, dict):
            self._lock(kernel_dir(self.kernel_id))  # one keeper waits for the job's kernel
            conn = wait_for_kernel(opts.job_dir, opts.wait_for)
        if not isinstance(conn, dict):
            raise SystemExit(f"rtui keeper: no readable connection file {self.cf}")
        self.conn: dict[str, Any] = conn
        self.log_file: str | None = self.record.get("log_file")
        # A SLURM kernel, on another machine: its runner's state file says how it is.
        self.job = JobWatch(opts.job_dir, conn) if opts.job_dir and not opts.launch else None
        self.job_says = "running"
        self.buffer = OutputBuffer(int(opts.buffer_mb * 1024 * 1024))
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = opts.pid
        self.state = "starting"
        self.exit: dict[str, Any] | None = None
        self.started_at = time.monotonic()
        self.linger_until: float | None = None
        self.answered = self.subscribed = False
        self.probes: dict[bytes, float] = {}
        self.last_probe = 0.0
        self.session_id = uuid.uuid4().hex
        self.restart_waiters: list[Client] = []
        self.restart_t0 = self.restart_deadline = 0.0
        self.stop_waiters: list[Client] = []
        self.stop_deadline: float | None = None  # SIGKILL after this
        self.stop_forced = False
        self.stop_was_running = False
        self.ending = False
        self.terminated = False
        self.dir = kernel_dir(self.kernel_id)
        self.path = os.path.join(self.dir, KEEPER_NAME)
        self.context = zmq.Context()
        self.poller = zmq.Poller()
        self.sub: Any = None
        self.control: Any = None
        self.clients = ClientTable(self.poller)
        self.stdin = StdinHolder(zmq, self.context, self.poller, self.conn,
                                 endpoint(self.conn, "stdin_port"), self.session_id,
                                 self.clients, self.buffer)
        self.listener = self._listen()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.poller.register(self.wake_r, zmq.POLLIN)
        self.poller.register(self.listener.fileno(), zmq.POLLIN)

    # -- setup ----------------------------------------------------------------------------

    def _lock(self, directory: str) -> None:
        self.lock_fd = os.open(os.path.join(directory, "keeper.lock"),
                               os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SystemExit(3) from None  # another keeper serves this kernel

    def _listen(self) -> socket.socket:
        """Hold the kernel's lock (one keeper per kernel), then listen on ``keeper``: bound
        under a temporary name and renamed, so a client never finds a dead socket file."""
        if self.lock_fd is None:
            self._lock(self.dir)
        temp = f"{self.path}.{os.getpid()}"
        remove(temp)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listener.bind(temp)
        finally:
            os.umask(old)
        listener.listen(64)
        listener.setblocking(False)
        os.replace(temp, self.path)
        return listener

    def _subscribe(self) -> None:
        """A fresh SUB (it never drops: RCVHWM 0) and control DEALER to the kernel."""
        zmq = self.zmq
        for sock in (self.sub, self.control):
            if sock is not None:
                self.poller.unregister(sock)
                sock.close(linger=0)
        self.sub = self.context.socket(zmq.SUB)
        self.sub.setsockopt(zmq.RCVHWM, 0)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        # A kernel we start binds iopub after this connect: zmq retries every 100 ms by
        # default, long enough to miss the kernel's first messages ("starting") at times.
        self.sub.setsockopt(zmq.RECONNECT_IVL, 5)
        self.sub.connect(endpoint(self.conn, "iopub_port"))
        # A kernel we start is asked on shell (as jupyter_client's wait_for_ready does: a
        # control message before ipykernel has set up its control lock logs a traceback);
        # a kernel that runs already, on control (answered even while a cell runs).
        self.control = self.context.socket(zmq.DEALER)
        self.control.setsockopt(zmq.LINGER, 0)
        # A SLURM kernel's keeper starts (or restarts) with it: it too asks on shell.
        self.control.connect(endpoint(self.conn, "shell_port" if self.launch or self.job
                                      else "control_port"))
        self.poller.register(self.sub, zmq.POLLIN)
        self.poller.register(self.control, zmq.POLLIN)
        self.answered = self.subscribed = False
        self.last_probe = 0.0

    def _spawn(self) -> None:
        """Start the kernel as our child from rtui's record; note it in the record."""
        rec = self.record
        env = dict(os.environ)
        env.pop("JPY_PARENT_PID", None)  # the kernel must not die with its keeper
        env.update({str(k): str(v) for k, v in (rec.get("env") or {}).items()})
        self.log_file = rec.get("log_file") or os.path.join(self.dir, "kernel.log")
        log = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self.proc = subprocess.Popen(
                rec["argv"], cwd=rec.get("cwd") or None, env=env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        except (OSError, KeyError, TypeError) as e:
            self.proc = None
            self._exited(None, None, f"cannot start the kernel: {e}")
            return
        finally:
            os.close(log)
        self.pid = self.proc.pid
        self.state = "starting"
        self.stdin.clear("restarted")
        self.exit = None
        self.started_at = time.monotonic()
        self.linger_until = None
        self._subscribe()
        self._write_record(pid=self.pid, started=time.time(), exit=None)

    def _write_record(self, **fields: Any) -> None:
        if not self.record_file or self.ending:
            return
        self.record.update(fields, keeper=self.path)
        self.record.pop("record_file", None)
        try:
            write_json(self.record_file, self.record)
        except OSError:
            pass

    # -- the kernel -----------------------------------------------------------------------

    def _probe(self, now: float) -> None:
        """Ask the kernel for kernel_info: its reply says it answers, the status messages it
        causes on iopub say our subscription is live (they are not kept)."""
        if now - self.last_probe < PROBE_EVERY:
            return
        self.last_probe = now
        msg_id = uuid.uuid4().hex
        header = json.dumps({
            "msg_id": msg_id, "session": self.session_id, "username": "rtui-keeper",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "msg_type": "kernel_info_request", "version": "5.3"}).encode()
        parts = [header, b"{}", b"{}", b"{}"]
        signature = sign(self.conn, parts)
        self.probes[msg_id.encode()] = now
        try:
            self.control.send_multipart([DELIM, signature, *parts], self.zmq.NOBLOCK)
        except self.zmq.ZMQError:
            pass

    def _read_iopub(self) -> int:
        """Number and keep what the kernel published, a batch at a time."""
        zmq, got, now = self.zmq, 0, time.time()
        while got < READ_BATCH:
            try:
                frames = self.sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            got += 1
            if self.probes and self._is_probe(frames):
                self.subscribed = True
                continue
            self.buffer.add(frames, now)
            if self.stdin.question is not None and self.stdin.question.ended_by(frames):
                self.stdin.clear("ended")
        return got

    def _is_probe(self, frames: list[bytes]) -> bool:
        try:
            parent = frames[frames.index(DELIM) + 3]
        except (ValueError, IndexError):
            return False
        return any(msg_id in parent for msg_id in self.probes)

    def _read_control(self) -> None:
        zmq = self.zmq
        while True:
            try:
                self.control.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.answered = True

    def _alive(self) -> bool:
        """Is the kernel process there (our child: reaped; else: not gone nor a zombie)?"""
        if self.proc is not None:
            return self.proc.poll() is None
        if self.job is not None:
            return self.job_says != "ended"
        if self.pid is None:
            return bool(self.cf) and os.path.exists(self.cf)
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as f:
                return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
        except (OSError, IndexError):
            return True

    def _check_kernel(self, now: float) -> None:
        if self.state == "exited":
            return
        if self.job is not None:
            self.job_says = self.job.poll(now)
            if self.job_says == "restarted":  # same ports and key, a new kernel behind them
                self.state, self.exit, self.linger_until = "starting", None, None
                self.stdin.clear("restarted")
                self._subscribe()
                self._lifecycle("restarted", at=time.time())
                return
        if not self._alive():
            if self.sub is not None:
                self._read_iopub()  # what it printed before it died comes first
            code = sig = None
            if self.proc is not None and self.proc.returncode is not None:
                rc = self.proc.returncode
                code, sig = (rc, None) if rc >= 0 else (None, -rc)
            why = None
            if self.job is not None:
                code, sig, why = self.job.exit()
            if self.restart_waiters and self.launch and self.stop_deadline is not None:
                self.stop_deadline = None
                self._spawn()
                self._lifecycle("restarted", at=time.time())
                return
            self._exited(code, sig, why)
            return
        if self.state == "starting":
            if self.answered and self.subscribed:
                self.state = "running"
                self._answer_restart({"ok": True, "ready_ms": round(
                    (time.monotonic() - self.restart_t0) * 1000)} if self.restart_waiters else None)
            else:
                self._probe(now)
        for msg_id, sent in list(self.probes.items()):
            if now - sent > 60:
                del self.probes[msg_id]

    def _exited(self, code: int | None, sig: int | None, why: str | None) -> None:
        log_tail = tail(self.log_file) if self.log_file else None
        if why:
            log_tail = why + ("\n" + log_tail if log_tail else "")
        self.state = "exited"
        self.exit = {"code": code, "signal": sig, "at": time.time(), "log_tail": log_tail}
        self.linger_until = time.monotonic() + self.linger
        self.stdin.clear("exited")
        self._write_record(exit=self.exit)
        self._lifecycle("exited", **self.exit)
        if self.restart_waiters and not self.stop_deadline:
            self._answer_restart({"ok": False, "error": "the kernel exited before it was "
                                  f"ready (code {code}, signal {sig}); last lines of its "
                                  f"log:\n{log_tail}"})

    def _lifecycle(self, event: str, **fields: Any) -> None:
        record = event_record(event, **fields)
        position = self.buffer.next
        for client in self.clients.followers():
            assert client.follower is not None
            client.follower.notify(position, record)

    def _read_stdin(self, ready: list[Any]) -> None:
        if self.sub is not None:
            self._read_iopub()  # what the cell printed before it asked comes first
        self.stdin.read(ready)

    def _signal_kernel(self, sig: int) -> None:
        pid = self.pid
        if pid is None:
            return
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except OSError:
            pass

    # -- requests -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        buf = self.buffer
        return {"ok": True, "kernel_id": self.kernel_id, "pid": self.pid, "state": self.state,
                "exit": self.exit, "first": buf.first, "next": buf.next, "dropped": buf.dropped,
                "bytes": buf.bytes, "mode": "launch" if self.launch else "watch",
                "keeper_pid": os.getpid(), "key_digest": key_digest(self.conn),
                "restarts": self.job.restarts if self.job is not None else None,
                "input": self.stdin.pending()}

    def serve_request(self, client: Client, request: Any) -> None:
        """Answer one client's request line (already parsed JSON)."""
        if not isinstance(request, dict):
            return client.reply({"ok": False, "error": "a request must be a JSON object"})
        op = request.get("op")
        if op == "status":
            return client.reply(self.status())
        if op == "follow":
            since, tail_n = request.get("since"), request.get("tail", 0)
            if since is not None and (not isinstance(since, int) or isinstance(since, bool)
                                      or since < 0):
                return client.reply({"ok": False, "error": "since must be a seq >= 0 or null"})
            if not isinstance(tail_n, int) or isinstance(tail_n, bool) or tail_n < 0:
                return client.reply({"ok": False, "error": "tail must be a count >= 0"})
            identity = None
            if request.get("stdin") is not None:
                identity = valid_identity(request["stdin"])
                if identity is None:
                    return client.reply({"ok": False, "error": "stdin must be the client's "
                                         "shell identity (a string of 1 to 255 bytes)"})
                self.stdin.hold(identity)  # before the header: the client's cells wait for it
            client.identity = identity
            follower = Follower(self.buffer, since, tail_n)
            client.follow(dict(self.status(), stdin=identity is not None), follower)
            self.stdin.joined(client)  # a question pending: asked after the backlog
            return None
        if op == "input_reply":
            return self.stdin.reply(client, request.get("msg_id"), request.get("value"))
        timeout = request.get("timeout")
        if op in ("restart", "stop") and not (timeout is None or (isinstance(
                timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0)):
            return client.reply({"ok": False, "error": "timeout must be a number > 0"})
        if op == "restart":
            return self._restart(client, float(timeout or 30))
        if op == "stop":
            return self._stop(client, float(timeout or 5))
        if op == "watch":
            return self._watch(client, request.get("pid"))
        known = "status, follow, input_reply, restart, stop, watch"
        return client.reply({"ok": False, "error": f"unknown op {op!r}; known: {known}"})

    def _restart(self, client: Client, timeout: float) -> None:
        if not self.launch:
            return client.reply({"ok": False, "error": "this keeper only watches a kernel rtui "
                                 "did not start; restart it through the agent"})
        if self.ending:
            return client.reply({"ok": False, "error": "the keeper is stopping"})
        self.restart_waiters.append(client)
        if len(self.restart_waiters) > 1:
            return None
        now = time.monotonic()
        self.restart_t0, self.restart_deadline = now, now + timeout
        if self._alive():
            self._signal_kernel(signal.SIGTERM)
            self.stop_deadline = now + min(5.0, timeout / 2)
        else:
            self._spawn()
            self._lifecycle("restarted", at=time.time())
        return None

    def _answer_restart(self, answer: dict[str, Any] | None) -> None:
        if answer is None:
            return
        for waiter in self.restart_waiters:
            waiter.reply(answer)
        self.restart_waiters = []

    def _stop(self, client: Client, timeout: float) -> None:
        self.stop_waiters.append(client)
        if self.ending:
            return
        self.ending = True
        can_kill = self.proc is not None or self.pid is not None
        self.stop_was_running = can_kill and self.state != "exited" and self._alive()
        if self.stop_was_running:
            self._signal_kernel(signal.SIGTERM)
            self.stop_deadline = time.monotonic() + timeout
        self._answer_restart({"ok": False, "error": "the kernel was stopped"})

    def _watch(self, client: Client, pid: Any) -> None:
        """Watch mode: the agent started the kernel again (new pid, same connection)."""
        if self.launch or not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            return client.reply({"ok": False, "error": "watch needs a pid, in watch mode"})
        self.pid = pid
        self.state, self.exit, self.linger_until = "starting", None, None
        self.stdin.clear("restarted")
        self._subscribe()
        self._lifecycle("restarted", at=time.time())
        return client.reply({"ok": True})

    # -- the loop -------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGTERM:
            self.terminated = True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGCHLD, self._on_signal)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.set_wakeup_fd(self.wake_w)
        if self.launch:
            self._spawn()
        else:
            self._subscribe()
        zmq = self.zmq
        checked = 0.0
        signalled = True
        flooding = False  # output has been coming fast (FLOOD_RATE messages a second)
        window, in_window = time.monotonic(), 0
        while not self.terminated:
            now = time.monotonic()
            busy = self.state == "starting" or self.stop_deadline is not None
            watching = self.proc is None and self.state == "running"  # no SIGCHLD for it
            if signalled or busy or now - checked >= 0.1:  # not once per message in a flood
                checked, signalled = now, False
                self._check_kernel(now)
                if self._ending_done(now) or self._lingered(now):
                    break
                self.clients.expire(now)
                self.clients.flush_followers()  # what the checks above told them, too
            if flooding:  # let a flood gather: one wake-up per batch, not per message
                time.sleep(FLOOD_GATHER)
            try:
                events = dict(self.poller.poll(100 if busy else 200 if watching else 1000))
            except zmq.ZMQError as e:
                if e.errno == errno.EINTR:
                    continue
                raise
            if events.pop(self.wake_r, 0):
                signalled = True
                try:
                    while os.read(self.wake_r, 4096):
                        pass
                except OSError:
                    pass
            if self.sub is not None and events.pop(self.sub, 0):
                in_window += self._read_iopub()
            if now - window >= 0.05:  # no delay for a cell's few messages, only in floods
                flooding = in_window >= FLOOD_RATE * (now - window)
                window, in_window = now, 0
            if self.control is not None and events.pop(self.control, 0):
                self._read_control()
            if events.pop(self.listener.fileno(), 0):
                self.clients.accept(self.listener)
            held = [sock for sock in events if not isinstance(sock, int)]
            if held:  # only the stdin DEALERs are left that are not file descriptors
                self._read_stdin(held)
            for fd, flags in events.items():
                if isinstance(fd, int):
                    self.clients.on_event(fd, flags, self.serve_request)
            self.clients.flush_followers()
        self._close()

    def _ending_done(self, now: float) -> bool:
        """Stop in progress: KILL after the timeout; done once the kernel is gone."""
        if self.restart_waiters and now > self.restart_deadline and not self.ending:
            self._answer_restart({"ok": False, "error": "the kernel did not answer within "
                                  f"{self.restart_deadline - self.restart_t0:g} s"})
        if self.stop_deadline is not None and now > self.stop_deadline:
            self._signal_kernel(signal.SIGKILL)
            self.stop_forced = True
            self.stop_deadline = now + 5
        if not self.ending or (self.stop_was_running and self._alive()):
            return False
        code = sig = None
        if self.proc is not None and self.proc.returncode is not None:
            rc = self.proc.returncode
            code, sig = (rc, None) if rc >= 0 else (None, -rc)
        if self.state != "exited":
            self.state = "exited"
            self.exit = {"code": code, "signal": sig, "at": time.time(), "log_tail": None}
            self._lifecycle("exited", **self.exit)
        self.clients.flush_followers()
        for waiter in self.stop_waiters:
            waiter.reply({"ok": True, "killed": self.stop_was_running,
                          "forced": self.stop_forced, "code": code, "signal": sig})
        self.clients.drain(1.0)
        remove_kernel_dir(self.kernel_id)
        return True

    def _lingered(self, now: float) -> bool:
        if self.linger_until is None or now < self.linger_until:
            return False
        remove_kernel_dir(self.kernel_id)
        return True

    def _close(self) -> None:
        """Leave: close clients and sockets; a kernel still running keeps running."""
        if self.terminated:
            self.clients.drain(0.5)
            remove(self.path)  # ours: we hold the kernel's keeper lock
            if self.state == "exited":
                remove_kernel_dir(self.kernel_id)
        self.clients.close_all()
        self.listener.close()
        self.stdin.close()
        for sock in (self.sub, self.control):
            if sock is not None:
                sock.close(linger=0)
        self.context.term()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="keeper")
    parser.add_argument("--kernel-id", required=True)
    parser.add_argument("--connection-file")
    parser.add_argument("--record")
    parser.add_argument("--launch", action="store_true")
    parser.add_argument("--pid", type=int)
    parser.add_argument("--job-dir")  # a SLURM kernel's job directory (watch mode)
    parser.add_argument("--wait-for", type=float, default=7 * 86400)  # its kernel.json
    parser.add_argument("--buffer-mb", type=float, default=64.0)
    parser.add_argument("--linger", type=float, default=LINGER)
    opts = parser.parse_args(argv)
    if not opts.connection_file and not opts.record:
        parser.error("give --connection-file or --record")
    try:
        keeper = Keeper(opts)
    except Exception as e:  # an OpError from the socket directory, a bad file
        sys.stderr.write(f"rtui keeper: {getattr(e, 'message', None) or e}\n")
        raise SystemExit(2) from None
    keeper.run()
