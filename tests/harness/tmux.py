"""Drive a program in a real terminal (tmux), as a person would: type keys, read the screen."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping

__all__ = ["TmuxSession"]


class TmuxSession:
    """One detached tmux session on its own server socket, killed on ``close()``."""

    def __init__(self, command: str, *, env: Mapping[str, str], width: int = 120,
                 height: int = 36) -> None:
        if shutil.which("tmux") is None:
            raise RuntimeError(
                "tmux is not installed: `apt-get install -y tmux`, or `bash .ci/run`")
        self.socket = f"rtui-test-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # Keep the pane after the program exits so its last words can still be read.
        script = f"env {exports} {command}; echo \"[exit $?]\"; sleep 600"
        self._tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), script)

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                                text=True, timeout=10, check=True)
        return result.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, text: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen after {timeout} s:\n{screen}")
            time.sleep(0.05)

    def type(self, text: str, *, enter: bool = True) -> None:
        self._tmux("send-keys", "-t", "t", "-l", text)
        if enter:
            self._tmux("send-keys", "-t", "t", "Enter")

    def press(self, *keys: str) -> None:
        """Keys by tmux's names (``C-q``, ``F1``, ``Enter``)."""
        self._tmux("send-keys", "-t", "t", *keys)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=10, check=False)
