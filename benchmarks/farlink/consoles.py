"""The operations in a terminal (tmux, driven as in ``benchmarks.consoles``): a console's
launch, ``N+1`` Enter -> result on screen, a typed character's echo; for rtui (Enter on the
checked host), ``ssh -t host python -m IPython`` and ``jupyter console --existing`` over an
``ssh -N -L`` forward."""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import free_ports, listening_ports, remote_host, ssh_options
from benchmarks.consoles.contender import Figures, Spec
from benchmarks.consoles.drive import launch, results
from benchmarks.consoles.jupyter_console import jupyter_input, jupyter_prompt, jupyter_ready
from benchmarks.consoles.rtui_console import rtui_spec
from benchmarks.consoles.terminal import STEP_TIMEOUT, Terminal, pane_env
from benchmarks.farlink.host import FarHost

__all__ = ["IPYTHON", "JUPYTER", "RTUI", "Contender", "Session", "contenders", "peer_kernel",
           "run_session"]

RTUI, IPYTHON, JUPYTER = "rtui", "ssh -t host ipython", "jupyter console --existing, ssh -L"
PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
FORWARD_TIMEOUT = 30.0


@dataclass
class Session:
    """What one console's session gave at one delay."""

    launch: float
    results: list[float]
    echoes: list[float]


@dataclass
class Contender:
    name: str
    ours: bool
    # Everything the console needs around it for one session (a forward), yielding its spec.
    prepare: Callable[[FarHost], contextlib.AbstractContextManager[Spec]]


def contenders(jupyter_console: Path | None, kernel_file: Path | None) -> list[Contender]:
    """rtui, then the peers (``jupyter_console`` None: that one is not measured)."""
    found = [Contender(RTUI, True, _rtui), Contender(IPYTHON, False, _ipython)]
    if jupyter_console is not None and kernel_file is not None:
        found.append(Contender(JUPYTER, False,
                               lambda host: _jupyter(host, jupyter_console, kernel_file)))
    return found


def run_session(host: FarHost, contender: Contender, *, runs: int, keys: str,
                home: Path) -> Session:
    """Launch the console in a fresh terminal, time ``N+1`` ``runs`` times (after a warm-up)
    and each of ``keys`` typed into its input; everything in the pane stopped after."""
    with contender.prepare(host) as spec:
        fig = Figures(spec, spec.name)
        term = Terminal(spec.name.split()[0], pane_env(home), home)
        try:
            term.start()
            term.wait_shell()
            (spec.launch or launch)(term, spec, fig)
            term.track()
            results(term, spec, fig, runs)
            echoes = echo_times(term, spec, keys)
        finally:
            term.close()
    if fig.launch is None:
        raise RuntimeError("no launch figure")
    return Session(fig.launch, fig.results, echoes)


def echo_times(term: Terminal, spec: Spec, keys: str) -> list[float]:
    """Seconds from each key pressed until the input line shows it (the screen read every
    5 ms); the input is erased afterwards."""
    term.wait(spec.ready, STEP_TIMEOUT, "prompt back")
    times: list[float] = []
    typed = ""
    for char in keys:
        typed += char
        started = time.perf_counter()
        term.key(char)

        def echoed(rows: list[str], text: str = typed) -> bool:
            return (spec.input_text(rows) or "").endswith(text)

        shown, _ = term.wait(echoed, STEP_TIMEOUT, f"`{char}` echoed in the input")
        times.append(shown - started)
    term.erase(len(typed))
    term.wait(lambda rows: not (spec.input_text(rows) or ""), STEP_TIMEOUT, "input erased")
    return times


# ---------------------------------------------------------------------------- contenders


@contextlib.contextmanager
def _rtui(_host: FarHost) -> Iterator[Spec]:
    yield rtui_spec()  # its launch: Enter on the host once checked ok (benchmarks.consoles)


@contextlib.contextmanager
def _ipython(host: FarHost) -> Iterator[Spec]:
    """``ssh -t`` and IPython on the host, typed as one short command (a script): a command
    line wider than the pane wraps where the screen cannot show it was typed whole."""
    argv = [_ssh(), "-t", *ssh_options(key=host.server.client_key, known_hosts=host.known_hosts,
                                       port=host.link.port),
            host.ssh_target(), sys.executable, "-m", "IPython"]
    script = host.root / "ssh-ipython"
    script.write_text(f"#!/bin/sh\nexec {shlex.join(argv)}\n")
    script.chmod(0o755)
    yield Spec(IPYTHON, [str(script)], sys.executable, jupyter_prompt, jupyter_ready,
               jupyter_input)


@contextlib.contextmanager
def _jupyter(host: FarHost, console: Path, kernel_file: Path) -> Iterator[Spec]:
    """An ``ssh -N -L`` forward of the kernel's five ports through the link (up before the
    console starts, as a host is checked before Enter), and a connection file for it."""
    info = json.loads(kernel_file.read_text())
    local = free_ports(len(PORT_NAMES))
    command = [_ssh(), "-N", "-o", "ExitOnForwardFailure=yes",
               *ssh_options(key=host.server.client_key, known_hosts=host.known_hosts,
                            port=host.link.port)]
    target = remote_host(info)
    for name, port in zip(PORT_NAMES, local, strict=True):
        command += ["-L", f"127.0.0.1:{port}:{target}:{int(info[name])}"]
    command.append(host.ssh_target())
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + FORWARD_TIMEOUT
        while not set(local) <= listening_ports(owner=process.pid):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ssh -L did not come up")
            time.sleep(0.02)
        forwarded = host.root / f"forwarded-{local[0]}.json"
        forwarded.write_text(json.dumps(dict(info, ip="127.0.0.1",
                                             **dict(zip(PORT_NAMES, local, strict=True)))))
        yield Spec(JUPYTER, [str(console), "--existing", str(forwarded)], sys.executable,
                   jupyter_prompt, jupyter_ready, jupyter_input)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def _ssh() -> str:
    ssh = shutil.which("ssh")
    if ssh is None:
        raise RuntimeError("no `ssh` client on PATH (apt-get install -y openssh-client)")
    return ssh


@contextlib.contextmanager
def peer_kernel(root: Path) -> Iterator[Path]:
    """A kernel on the host (this Python's ipykernel, TCP on 127.0.0.1) for jupyter console;
    its connection file."""
    from jupyter_client.manager import KernelManager

    root.mkdir(parents=True, exist_ok=True)
    manager = KernelManager(connection_file=str(root / "kernel.json"), ip="127.0.0.1",
                            transport="tcp")
    with (root / "kernel.log").open("wb") as log:
        manager.start_kernel(env=pane_env(root / "home"), cwd=str(root), stdout=log,
                             stderr=subprocess.STDOUT)
    try:
        yield Path(manager.connection_file)
    finally:
        manager.shutdown_kernel(now=True)
