"""The far link: the test harness's TCPRelay in front of the benchmark's sshd, run in its own
process (so the benchmark's polling of tmux never delays a chunk), its one-way delay set
between runs through a pipe."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from types import TracebackType

__all__ = ["FarLink"]

START_TIMEOUT = 15.0
COMMAND_TIMEOUT = 5.0


class FarLink:
    """``python -m benchmarks.farlink.relay_process HOST PORT``: a relay to HOST:PORT listening on a
    loopback port (``port``); ``set_delay(seconds)`` changes the one-way delay of chunks
    read from then on (both directions, pipelined: see tests/harness/relay.py)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.farlink.relay_process", target_host,
             str(target_port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )
        self.port = int(self._answer(START_TIMEOUT))
        self.delay = 0.0

    def set_delay(self, seconds: float) -> None:
        self._send(f"delay {seconds!r}")
        self.delay = seconds

    def set_bandwidth(self, bytes_per_second: float | None) -> None:
        """Pace each direction as on a link of this speed (None: unlimited)."""
        self._send(f"bandwidth {bytes_per_second or 0!r}")

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._send("quit")
        try:
            self._process.wait(COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> FarLink:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _send(self, line: str) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()
        answer = self._answer(COMMAND_TIMEOUT)
        if answer != "ok":
            raise RuntimeError(f"the relay answered {answer!r} to {line!r}")

    def _answer(self, timeout: float) -> str:
        assert self._process.stdout is not None
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise TimeoutError(f"the relay did not answer within {timeout:g} s")
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the relay exited (status {self._process.poll()})")
        return line.strip()
