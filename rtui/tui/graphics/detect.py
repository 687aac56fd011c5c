"""Which terminal graphics images are drawn with, decided once before the app starts.

Textual reads the terminal's input in a thread of its own once it runs, so the terminal can
only be asked here, before ``App.run``. The order: ``--images`` or the ``images`` setting
when not ``auto``; then the environment (kitty, iTerm2, WezTerm, ghostty say who they are);
inside tmux, kitty's Unicode placeholders when tmux lets them through (``allow-passthrough``)
to a kitty-graphics terminal, else half-blocks; then, on a terminal, one device-attributes
query (DA1: attribute 4 is sixel) bounded to ~100 ms; else half-blocks. Asking tmux is a
local process, bounded to 300 ms (tens of ms usually). Stdlib only: the
CLI imports this before Textual, and textual-image's own query (``import
textual_image.renderable``) costs ~480 ms of imports (numpy among them) and two round trips.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import struct
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "DEFAULT_CELL_PX",
    "MODES",
    "GraphicsSupport",
    "cell_size",
    "detect",
    "device_attributes",
    "tmux_passthrough",
]

MODES = ("kitty", "sixel", "iterm", "blocks", "off")
DEFAULT_CELL_PX = (10, 20)  # a VT340's cell, what textual-image assumes too
_QUERY_TIMEOUT = 0.1  # seconds the terminal has to answer (start-up waits at most this)
# Seconds tmux has to say (a local process: 5-60 ms here, on a loaded machine more).
_TMUX_TIMEOUT = 0.3
_DA1_REPLY = re.compile(rb"\x1b\[\?([0-9;]*)c")
_KITTY_TERMS = ("kitty", "ghostty")  # terminals with kitty graphics and Unicode placeholders


@dataclass(frozen=True)
class GraphicsSupport:
    """How this run draws images: ``mode`` (one of ``MODES``), the terminal's cell size in
    pixels, whether it runs inside tmux (kitty commands then go through its passthrough),
    and why (for the log)."""

    mode: str = "blocks"
    cell_px: tuple[int, int] = DEFAULT_CELL_PX
    tmux: bool = False
    reason: str = "default"


TmuxQuery = Callable[[], "tuple[str, str] | None"]


def detect(requested: str = "auto", *, env: Mapping[str, str] | None = None,
           tty: tuple[int, int] | None = None, tmux_query: TmuxQuery | None = None,
           timeout: float = _QUERY_TIMEOUT) -> GraphicsSupport:
    """The graphics for ``requested`` (``auto`` or one of ``MODES``). ``tty`` is (input fd,
    output fd) of the terminal; by default stdin and stdout when both are terminals, else
    none is asked. ``tmux_query`` answers (allow-passthrough, client terminal name)."""
    env = os.environ if env is None else env
    if tty is None:
        tty = _std_tty()
    cell_px = cell_size(tty[1]) if tty is not None else DEFAULT_CELL_PX
    in_tmux = bool(env.get("TMUX"))
    if requested != "auto":
        if requested not in MODES:
            raise ValueError(f"images: {requested!r} is not one of auto, {', '.join(MODES)}")
        return GraphicsSupport(requested, cell_px, in_tmux, "asked for")
    mode, reason = _choose(env, in_tmux, tty, tmux_query or tmux_passthrough, timeout)
    if mode == "blocks" and "NO_COLOR" in env:
        mode, reason = "off", "NO_COLOR: half-blocks would be grey"
    return GraphicsSupport(mode, cell_px, in_tmux, reason)


def _choose(env: Mapping[str, str], in_tmux: bool, tty: tuple[int, int] | None,
            tmux_query: TmuxQuery, timeout: float) -> tuple[str, str]:
    term = env.get("TERM", "")
    program = env.get("TERM_PROGRAM", "")
    if in_tmux:
        answer = tmux_query()
        if answer is None:
            return "blocks", "tmux: could not ask it about allow-passthrough"
        passthrough, client_term = answer
        if passthrough not in ("on", "all"):
            return "blocks", f"tmux: allow-passthrough is {passthrough or 'off'}"
        if any(name in client_term for name in _KITTY_TERMS):
            return "kitty", f"tmux (allow-passthrough {passthrough}) in {client_term}"
        if env.get("KITTY_WINDOW_ID"):
            return "kitty", f"tmux (allow-passthrough {passthrough}), KITTY_WINDOW_ID"
        return "blocks", f"tmux: its terminal ({client_term or 'unknown'}) has no kitty graphics"
    if any(name in term for name in _KITTY_TERMS) or env.get("KITTY_WINDOW_ID") \
            or program == "ghostty":
        return "kitty", f"TERM={term}" if term else "KITTY_WINDOW_ID"
    if program in ("iTerm.app", "WezTerm"):
        return "iterm", f"TERM_PROGRAM={program}"
    if tty is not None:
        attributes = device_attributes(*tty, timeout=timeout)
        if attributes is None:
            return "blocks", "the terminal did not answer DA1"
        if 4 in attributes:
            return "sixel", "DA1 attribute 4"
        return "blocks", "no graphics in DA1"
    return "blocks", "not a terminal"


def _std_tty() -> tuple[int, int] | None:
    """(stdin, stdout) when both are terminals."""
    try:
        if os.isatty(0) and os.isatty(1):
            return 0, 1
    except OSError:
        pass
    return None


def cell_size(fd: int) -> tuple[int, int]:
    """A cell's (width, height) in pixels from the terminal's window size (TIOCGWINSZ);
    10x20 where it does not say (many terminals and tmux before 3.3 report no pixels)."""
    try:
        import fcntl
        import termios

        packed = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
        rows, cols, width, height = struct.unpack("HHHH", packed)
    except (OSError, ImportError):
        return DEFAULT_CELL_PX
    if not (rows and cols and width and height):
        return DEFAULT_CELL_PX
    return max(1, width // cols), max(1, height // rows)


def device_attributes(in_fd: int, out_fd: int, *, timeout: float = _QUERY_TIMEOUT
                      ) -> tuple[int, ...] | None:
    """The terminal's primary device attributes (``ESC [ c``), or None when it did not
    answer within ``timeout``. Keys typed in that instant are lost, as with every query."""
    try:
        import termios
        import tty as tty_mode
    except ImportError:
        return None
    try:
        saved = termios.tcgetattr(in_fd)
    except termios.error:
        return None
    received = b""
    try:
        tty_mode.setcbreak(in_fd, termios.TCSANOW)  # no echo, bytes as they come
        os.write(out_fd, b"\x1b[c")
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([in_fd], [], [], left)[0]:
                return None
            chunk = os.read(in_fd, 256)
            if not chunk:
                return None
            received += chunk
            found = _DA1_REPLY.search(received)
            if found:
                return tuple(int(p) for p in found.group(1).split(b";") if p)
    except OSError:
        return None
    finally:
        with contextlib.suppress(termios.error):
            termios.tcsetattr(in_fd, termios.TCSANOW, saved)


def tmux_passthrough(timeout: float = _TMUX_TIMEOUT) -> tuple[str, str] | None:
    """tmux's ``allow-passthrough`` (off, on, all) and the terminal its client runs in
    (``client_termname``), from the tmux server of this pane; None if tmux did not say."""
    try:
        done = subprocess.run(
            ["tmux", "show-options", "-gv", "allow-passthrough", ";",
             "display-message", "-p", "#{client_termname}"],
            capture_output=True, text=True, timeout=timeout, check=False,
            stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    lines = done.stdout.splitlines()
    if not lines:
        return None
    return lines[0].strip(), (lines[1].strip() if len(lines) > 1 else "")

