"""A tmux control-mode client (``tmux -C attach``), shared by the benchmarks that read a screen.

Commands, screen captures included, go through one pipe, so a capture is a line written, not a
process spawned: the benchmarks time when something is on screen, on a machine that may have 2
cores while the program under test is starting.
"""

from __future__ import annotations

import contextlib
import queue
import subprocess
import threading
import time
from pathlib import Path

__all__ = ["TmuxControl", "screen_tail"]

COMMAND_TIMEOUT = 30.0  # seconds for tmux to answer one command (a loaded machine: the suite
# runs the quick benchmarks at a low CPU priority beside two test workers)
_SYNC = "rtui-bench-sync"


class TmuxControl:
    """One control-mode client attached to session ``target`` of the tmux server on
    ``socket`` (``-L``), its pane output turned off (``watch_output`` turns it on)."""

    def __init__(self, tmux: str, socket: str, target: str, env: dict[str, str],
                 cwd: Path | None = None) -> None:
        self.process = subprocess.Popen(
            [tmux, "-u", "-L", socket, "-C", "attach-session", "-f", "no-output",
             "-t", target],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, cwd=cwd, bufsize=0,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.output = threading.Event()  # set on %output (while watch_output is on)
        threading.Thread(target=self._read, daemon=True).start()
        # The attach's own reply comes first: skip replies until the answer to this one.
        self._write(f"display -p {_SYNC}")
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while self._reply("display", deadline, errors=False) != [_SYNC]:
            pass

    def command(self, line: str, timeout: float = COMMAND_TIMEOUT) -> list[str]:
        """Run one tmux command through the control client; its output lines."""
        self._write(line)
        return self._reply(line.split()[0], time.monotonic() + timeout)

    def watch_output(self, on: bool) -> None:
        """Have tmux report the pane's output to this client (off by default: a flood would
        send every byte through it); ``output`` is then set whenever the pane wrote."""
        self.command("refresh-client -f " + ("!no-output" if on else "no-output"))

    def close(self, timeout: float = 5.0) -> None:
        """Detach (close its input) and wait for the client to exit; killed if it does not."""
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            if raw.startswith((b"%output ", b"%extended-output ")):
                self.output.set()  # the pane wrote something: worth a look
                continue
            self._lines.put(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
        self._lines.put(None)

    def _write(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")

    def _reply(self, what: str, deadline: float, *, errors: bool = True) -> list[str]:
        """The next reply block (``%begin`` … ``%end``); notifications in between skipped."""
        block: list[str] | None = None
        ours = True
        while True:
            try:
                got = self._lines.get(timeout=max(0.001, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"tmux did not answer {what!r}") from None
            if got is None:
                raise RuntimeError("the tmux server went away")
            if block is None:
                if got.startswith("%begin "):
                    block = []
                    ours = got.split()[-1] != "0"  # flags 0: not a command of this client
                continue  # notifications outside a reply
            if got.startswith(("%end ", "%error ")):
                if not ours:
                    block = None
                    continue
                if got.startswith("%error ") and errors:
                    raise RuntimeError(f"tmux {what}: {' '.join(block)}")
                return block
            block.append(got)


def screen_tail(rows: list[str], count: int = 6) -> str:
    """The screen's last ``count`` rows with text, on one line (for an error message)."""
    shown = [row.strip() for row in rows if row.strip()][-count:]
    return " / ".join(row[:100] for row in shown) or "(blank)"
