"""Which graphics a run uses: the flag, the setting, the environment, tmux and the terminal's
answer (a real pty; a real tmux with allow-passthrough for kitty's placeholders)."""

from __future__ import annotations

import fcntl
import os
import select
import shlex
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtui.cli.main import build_parser
from rtui.core.config.model import config_from_data
from rtui.core.config.store import HostStore
from rtui.core.errors import ConfigError
from rtui.tui.app import detect_graphics
from rtui.tui.graphics import GraphicsSupport, detect, library
from rtui.tui.graphics.detect import cell_size, device_attributes
from rtui.tui.render import compat
from tests.harness.tmux import TmuxSession

REPO = Path(__file__).resolve().parent.parent


def never_asked() -> tuple[str, str] | None:
    raise AssertionError("tmux was asked outside tmux")


@pytest.mark.parametrize(("env", "mode"), [
    ({"TERM": "xterm-kitty"}, "kitty"),
    ({"TERM": "xterm-256color", "KITTY_WINDOW_ID": "3"}, "kitty"),
    ({"TERM": "xterm-ghostty"}, "kitty"),
    ({"TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"}, "iterm"),
    ({"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"}, "iterm"),
    ({"TERM": "xterm-256color"}, "blocks"),  # not a terminal: nobody is asked
    ({"TERM": "xterm-256color", "NO_COLOR": "1"}, "off"),
])
def test_auto_from_the_environment(env: dict[str, str], mode: str) -> None:
    found = detect("auto", env=env, tty=None, tmux_query=never_asked)
    assert (found.mode, found.tmux, found.cell_px) == (mode, False, (10, 20))


@pytest.mark.parametrize(("answer", "env", "mode"), [
    (("on", "xterm-kitty"), {}, "kitty"),
    (("all", "xterm-256color"), {"KITTY_WINDOW_ID": "1"}, "kitty"),
    (("off", "xterm-kitty"), {"KITTY_WINDOW_ID": "1"}, "blocks"),  # no passthrough
    (("on", "xterm-256color"), {}, "blocks"),  # tmux's terminal has no kitty graphics
    (None, {"KITTY_WINDOW_ID": "1"}, "blocks"),  # tmux did not answer
])
def test_inside_tmux_only_kitty_placeholders_through_passthrough(
        answer: tuple[str, str] | None, env: dict[str, str], mode: str) -> None:
    env = {"TMUX": "/tmp/tmux-0/default,1,0", "TERM": "tmux-256color", **env}
    found = detect("auto", env=env, tty=None, tmux_query=lambda: answer)
    assert (found.mode, found.tmux) == (mode, True)


def test_a_mode_asked_for_wins_and_nothing_is_asked() -> None:
    env = {"TMUX": "x", "TERM": "xterm-kitty"}
    assert detect("sixel", env=env, tty=None, tmux_query=never_asked) == \
        GraphicsSupport("sixel", (10, 20), True, "asked for")
    with pytest.raises(ValueError, match="not one of auto"):
        detect("svg", env=env, tty=None)


@pytest.fixture
def pty() -> Iterator[tuple[int, int]]:
    """(terminal side, program side) of a pseudo-terminal."""
    terminal, program = os.openpty()
    yield terminal, program
    os.close(terminal)
    os.close(program)


def answer_da1(terminal: int, reply: bytes) -> threading.Thread:
    """The terminal: waits for ESC [ c and answers ``reply``."""
    def run() -> None:
        asked = b""
        while b"\x1b[c" not in asked and select.select([terminal], [], [], 2)[0]:
            asked += os.read(terminal, 64)
        os.write(terminal, reply)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_terminal_that_answers_sixel_in_da1(pty: tuple[int, int]) -> None:
    terminal, program = pty
    answer_da1(terminal, b"\x1b[?62;4;22c")
    found = detect("auto", env={"TERM": "xterm-256color"}, tty=(program, program))
    assert (found.mode, found.reason) == ("sixel", "DA1 attribute 4")


def test_a_silent_terminal_costs_at_most_the_bound(pty: tuple[int, int]) -> None:
    terminal, program = pty
    started = time.monotonic()
    assert device_attributes(program, program, timeout=0.1) is None
    assert time.monotonic() - started < 0.3
    assert os.read(terminal, 64) == b"\x1b[c"  # asked once; no echo of anything
    answer_da1(terminal, b"\x1b[?62;22c")
    found = detect("auto", env={"TERM": "xterm"}, tty=(program, program))
    assert found.mode == "blocks" and found.reason == "no graphics in DA1"


def test_cell_size_from_the_window_size(pty: tuple[int, int]) -> None:
    _, program = pty
    for size, cell in (((24, 80, 640, 384), (8, 16)), ((24, 80, 0, 0), (10, 20))):
        fcntl.ioctl(program, termios.TIOCSWINSZ, struct.pack("HHHH", *size))
        assert cell_size(program) == cell


def test_the_setting_and_the_flag(tmp_path: Path) -> None:
    assert config_from_data({"settings": {"images": "kitty"}}).settings.images == "kitty"
    with pytest.raises(ConfigError, match="must be one of auto, kitty, sixel, iterm, blocks"):
        config_from_data({"settings": {"images": "png"}})
    store = HostStore(tmp_path / "hosts.toml")
    store.path.write_text('[settings]\nimages = "iterm"\n', encoding="utf-8")
    assert detect_graphics(store, None).mode == "iterm"  # the setting
    assert detect_graphics(store, "off").mode == "off"  # --images wins
    store.path.write_text("[settings\n", encoding="utf-8")  # broken: auto (not a tty here)
    assert detect_graphics(store, None).mode in ("blocks", "off")
    parser = build_parser()
    assert parser.parse_args(["--images", "sixel"]).images == "sixel"
    assert parser.parse_args(["demo", "--images", "blocks"]).demo_images == "blocks"
    with pytest.raises(SystemExit):
        parser.parse_args(["--images", "png"])


def test_textual_image_and_textual_pieces_are_there_as_expected() -> None:
    """textual-image's private pieces (loaded without its terminal query) and Textual's
    driver, each checked against the installed versions."""
    assert library.problems() == []
    assert compat.problems() == []
    probe = ("import sys; from rtui.tui.graphics import library; library.tgp(); "
             "print(sorted(m for m in sys.modules if m.startswith('textual_image.renderable')"
             " or m == 'numpy'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=REPO, timeout=60, check=True).stdout
    assert out.strip() == "[]"  # no renderable package (its query), no numpy


def test_kitty_placeholders_through_a_real_tmux(tmp_path: Path) -> None:
    """tmux with allow-passthrough on, a client attached: rtui's detection inside the pane
    picks kitty; the upload reaches the client's terminal unwrapped, and the placeholders
    are in tmux's own grid (so they scroll and redraw with the text)."""
    go, found = tmp_path / "go", tmp_path / "found"
    env = {"PYTHONPATH": str(REPO), "KITTY_WINDOW_ID": "1", "TERM": "xterm-256color",
           "HOME": os.environ["HOME"]}
    command = "sh -c " + shlex.quote(f"cd {REPO}; while [ ! -e {go} ]; do sleep 0.05; done; "
                                     f"{sys.executable} -m tests.graphics_app auto {found}")
    session = TmuxSession(command, env=env, width=40, height=8)
    terminal, program = os.openpty()
    fcntl.ioctl(program, termios.TIOCSWINSZ, struct.pack("HHHH", 8, 40, 0, 0))
    client = subprocess.Popen(["tmux", "-L", session.socket, "attach", "-t", "t"],
                              stdin=program, stdout=program, stderr=program,
                              env={**os.environ, "TERM": "xterm-256color"},
                              start_new_session=True)
    received = b""
    try:
        session._tmux("set-option", "-g", "allow-passthrough", "on")
        go.touch()
        deadline = time.monotonic() + 20
        while b"a=p,U=1" not in received and time.monotonic() < deadline:
            if select.select([terminal], [], [], 0.2)[0]:
                received += os.read(terminal, 65536)
        screen = ""
        while screen.count("\U0010eeee") < 16 and time.monotonic() < deadline:
            time.sleep(0.05)  # the frame with the placeholders follows the upload
            screen = session._tmux("capture-pane", "-p", "-e", "-t", "t")
    finally:
        session.close()
        client.wait(timeout=10)
        os.close(terminal)
        os.close(program)
    assert found.read_text() == "kitty (tmux (allow-passthrough on), KITTY_WINDOW_ID)"
    text = received.decode("utf-8", "replace")
    upload = text.find("\x1b_Ga=t,f=100,i=")
    assert upload >= 0 and "\x1b\x1b_G" not in text, text[-500:]
    image_id = int(text[upload:].split("i=", 1)[1].split(",", 1)[0])
    assert f"\x1b_Ga=p,U=1,i={image_id},c=8,r=2,q=2\x1b\\" in text
    # TERM=xterm-256color in the pane: the id is a palette index, 38;5;N in tmux's grid.
    rows = [line for line in screen.splitlines() if "\U0010eeee" in line]
    assert len(rows) == 2, screen
    assert all(f"38;5;{image_id & 255}m" in row for row in rows)
    assert all(row.count("\U0010eeee") == 8 for row in rows)
