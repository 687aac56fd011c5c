"""The rtui contender: its console's screen, a host on a loopback sshd, and its launch
through the host list (Enter on the host once its status is ``ok``)."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from benchmarks.common import bench_host, rtui_command, trust, version
from benchmarks.consoles.contender import Figures, Spec
from benchmarks.consoles.terminal import LAUNCH_TIMEOUT, Terminal
from tests.harness.sshd import SSHD, start_sshd

__all__ = ["EDITOR_SIDE", "RTUI", "command", "on_demo", "rtui_host", "rtui_spec"]

RTUI = "rtui"
RTUI_HOST = "bench"  # rtui's host on the benchmark's sshd
RTUI_HOSTS = "(?:bench|demo)"  # its row in the host list (``--demo``: the demo host)
EDITOR_TOP = "\u258a\u2594"  # rtui's editor: the top border row starts with these
EDITOR_SIDE = "\u258a"


def rtui_spec(*, demo: bool = False) -> Spec:
    """rtui as installed next to this Python; ``demo``: ``rtui demo``."""
    return Spec(RTUI, [*rtui_command(), *(["demo"] if demo else [])], sys.executable,
                _prompt, _ready, _input, root_only=True, version=version("rtui"),
                launch=_launch)


def rtui_host(workdir: Path, home: Path) -> SSHD:
    """A loopback OpenSSH sshd and a HOME whose hosts.toml has one host on it, trusted,
    with this Python as its ``python`` (ipykernel is there): Enter goes straight to a kernel."""
    from rtui.core.config.store import HostStore

    server = start_sshd(workdir)
    try:
        home.mkdir(parents=True, exist_ok=True)
        trust(server, home)
        host = bench_host(server, name=RTUI_HOST)
        store = HostStore(home / ".config" / "rtui" / "hosts.toml")
        store.update(lambda config: config.with_host(host))
    except BaseException:
        server.close()
        raise
    return server


def on_demo(fig: Figures) -> bool:
    return fig.spec is not None and fig.spec.argv[-1] == "demo"


def command(fig: Figures) -> str:
    return "rtui demo" if on_demo(fig) else "rtui"


def _launch(term: Terminal, spec: Spec, fig: Figures) -> None:
    started = term.enter_command(spec.argv)
    painted, _ = term.wait(_hosts_painted, LAUNCH_TIMEOUT, "host list")
    fig.hosts_painted = painted - started
    ok, _ = term.wait(_host_ok, LAUNCH_TIMEOUT, "host ok")
    fig.host_ok = ok - started
    pressed = time.perf_counter()
    term.key("Enter")  # the cursor is on the (only) host
    shown, rows = term.wait(spec.prompt, LAUNCH_TIMEOUT, "console editor")
    fig.launch = shown - pressed
    status = _status(rows).strip()
    if " · idle · " not in status:
        fig.notes.append(
            "the console's status line was "
            + (f"`{status}`" if status else "blank")
            + " when the console opened (it shows `idle` only after the first run)"
        )


# ---------------------------------------------------------------------------- the screen


def _editor_row(rows: list[str]) -> str | None:
    for index, row in enumerate(rows[:-1]):
        if row.startswith(EDITOR_TOP):
            return rows[index + 1]
    return None


def _input(rows: list[str]) -> str | None:
    row = _editor_row(rows)
    if row is None:
        return None
    return row.strip().strip(EDITOR_SIDE + "\u258e").strip()


def _status(rows: list[str]) -> str:
    return next((row for row in rows if re.search(r" · \S+ · In \[\d+\]", row)), "")


def _prompt(rows: list[str]) -> bool:
    return _editor_row(rows) is not None and any("Connected to kernel" in r for r in rows)


def _ready(rows: list[str]) -> bool:
    """The editor is shown and the status line says idle (it is blank until the first run)."""
    status = _status(rows)
    return _editor_row(rows) is not None and (not status or " · idle · " in status)


def _hosts_painted(rows: list[str]) -> bool:
    header = any(re.match(r"\s*Host\s+Status\b", row) for row in rows)
    return header and any(re.match(rf"\s*{RTUI_HOSTS}\s+\S", row) for row in rows)


def _host_ok(rows: list[str]) -> bool:
    return any(re.match(rf"\s*{RTUI_HOSTS}\s+ok\b", row) for row in rows)
