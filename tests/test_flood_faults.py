"""Every line once, in order, whatever the link or the client meets: one kernel is asked to
print 2,000 lines a second, a flush per line, for 20 s (it says how many it managed: fewer on
a loaded machine), while eight clients watch it, each meeting one fault. `rtui run -k` and a
TUI console (its model, the console driven by Textual's pilot) each through a relay that is
cut, one frozen 8 s (within the keepalive: what would drop is the kernel's high-water mark),
one frozen 30 s (past the keepalive: a reconnect), and each process stopped (SIGSTOP) for
60 s then continued. The faults run at once, so the whole costs one 60 s stop, not the sum.
Real sshd, agent, keeper and kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from rtui.core.config.model import Settings
from rtui.core.config.store import HostStore
from rtui.tui.app import RtuiApp
from rtui.tui.widgets.console import ConsolePane
from tests import reliability
from tests.harness.relay import TCPRelay
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for
from tests.test_output_kept import (
    FAST_KEEPALIVE,
    _read_all,
    numbers,
    rtui,
    start_kernel,
    stop_kernel,
    write_config,
)
from tests.tui_watch import attach_with_k, ended, latest, shows, until

PY = sys.executable
RATE = 2000  # lines a second, a flush for each
SECONDS = 20  # of flood
FREEZE, LONG_FREEZE, STOP = 8, 30, 60  # seconds
TAG = "Z"
FAULTS = ("cut", "freeze", "freeze past keepalive", "sigstop")
# The keepalive as shipped (5 s x 3): an 8 s freeze is within it, a 30 s one past it.
LINK = {"reconnect_max_delay": 0.5, "connect_timeout": 5.0}
SUMMARY = re.compile(rf"^{TAG} printed (\d+) lines in ([\d.]+) s$", re.M)


def timed_flood(go: Path) -> str:
    """A cell that says it is ready, waits for ``go`` to exist, prints numbered lines at
    RATE a second for SECONDS (as many as the kernel manages), then how many it printed."""
    return (
        "import os, time\n"
        f"print('{TAG} ready', flush=True)\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
        "i, t0 = 0, time.monotonic()\n"
        "while True:\n"
        f"    ahead = t0 + i / {RATE} - time.monotonic()\n"
        "    if ahead > 0: time.sleep(ahead)\n"
        f"    if time.monotonic() >= t0 + {SECONDS}: break\n"
        f"    print('{TAG}', i, flush=True)\n"
        "    i += 1\n"
        f"print('{TAG} printed', i, 'lines in', round(time.monotonic() - t0, 2), 's', "
        "flush=True)\n"
    )


@dataclasses.dataclass
class RunClient:
    """`rtui run -k` as a shell runs it, its output and messages gathered as they come."""

    fault: str
    env: dict[str, str]
    out: bytearray = dataclasses.field(default_factory=bytearray)
    err: bytearray = dataclasses.field(default_factory=bytearray)
    process: asyncio.subprocess.Process | None = None
    reading: list[asyncio.Future[None]] = dataclasses.field(default_factory=list)
    seams_before: int = 0  # seams said when its fault came
    err_before: int = 0  # bytes of stderr when its fault came

    async def start(self, kernel_id: str, code: str) -> None:
        self.process = await rtui(self.env, "run", "lab", "-k", kernel_id, "-c", code)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.reading = [asyncio.ensure_future(_read_all(self.process.stdout, self.out)),
                        asyncio.ensure_future(_read_all(self.process.stderr, self.err))]

    def shows(self, line: str) -> bool:
        return f"\n{line}\n".encode() in b"\n" + self.out

    def seams(self) -> int:
        """How many seams it said ("rtui: replayed ..."): one after the backlog at attach
        when that showed anything, one after each reconnect."""
        return self.err.count(b"rtui: replayed ")

    async def finish(self) -> tuple[str, str, int]:
        assert self.process and self.reading
        await asyncio.gather(*self.reading)
        return self.out.decode(), self.err.decode(), await self.process.wait()


@dataclasses.dataclass
class StoppedConsole:
    """A TUI console in a process of its own (tests/tui_watch.py), which can be stopped."""

    process: asyncio.subprocess.Process
    said: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    async def start(cls, env: dict[str, str], stderr: Path) -> StoppedConsole:
        """Its process, started; it attaches once told the kernel's id (:meth:`attach`)."""
        hosts = Path(env["XDG_CONFIG_HOME"]) / "rtui" / "hosts.toml"
        with stderr.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                PY, "-m", "tests.tui_watch", str(hosts), "lab", TAG,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
                env={**os.environ, **env}, cwd=Path(__file__).parents[1], limit=1 << 26)
        return cls(process)

    def attach(self, kernel_id: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{kernel_id}\n".encode())

    async def says(self, word: str) -> None:
        assert self.process.stdout is not None
        while word not in self.said:
            line = await self.process.stdout.readline()
            assert line, f"the console's process ended before '{word}' (said {self.said})"
            self.said.append(line.decode().strip())

    async def holds(self) -> dict[str, Any]:
        """What its console holds, once the flood ended there; then it quits."""
        assert self.process.stdin is not None and self.process.stdout is not None
        await self.says("ended")
        self.process.stdin.write(b"dump\n")
        held: dict[str, Any] = json.loads(await self.process.stdout.readline())
        await self.process.wait()
        return held


@contextlib.asynccontextmanager
async def _relays(sshd: SSHD, count: int) -> AsyncIterator[list[TCPRelay]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(TCPRelay("127.0.0.1", sshd.port))
               for _ in range(count)]


def _console_store(path: Path, home: Path, sshd: SSHD,
                   relays: dict[str, TCPRelay]) -> HostStore:
    """A hosts file with a host per link fault (each its relay), and their keys trusted."""
    store = HostStore(path)
    for name, relay in relays.items():
        host = host_for(sshd, name, port=relay.port, python=PY)
        store.update(lambda c, h=host: c.with_host(h))  # type: ignore[misc]
    settings = Settings(reconnect_max_delay=LINK["reconnect_max_delay"],
                        connect_timeout=LINK["connect_timeout"])
    store.update(lambda c: dataclasses.replace(c, settings=settings))
    (home / ".ssh").mkdir(exist_ok=True)
    (home / ".ssh" / "known_hosts").write_text("".join(
        relay.known_hosts_line(sshd.host_key_pub) + "\n" for relay in relays.values()))
    return store


def _reconnected(lines: list[str]) -> bool:
    """Whether the console said the link was lost, then the seam of the output kept
    meanwhile, and that it is back (the seam after attaching does not count)."""
    lost = next((i for i, line in enumerate(lines) if line.startswith("Connection lost")), -1)
    return lost >= 0 and any(line.startswith("── replayed ") for line in lines[lost:]) and \
        any(line.startswith("Reconnected") for line in lines[lost:])


def _done(fault: str, pane: ConsolePane) -> bool:
    """A console is done once it shows the flood's end, and after a reconnect that it is
    back (its seam and note may follow the end of the kept output)."""
    return ended(pane, TAG) and (fault not in ("cut", "freeze past keepalive")
                                 or _reconnected(pane.model.plain_lines()))


async def _reach(app: RtuiApp, host: str) -> None:
    kernels = await app.workspace.connect(host, app.prompter)
    await kernels.list()


def _host(fault: str) -> str:
    return "lab-" + fault.replace(" ", "-")


def _check(fault: str, client: str, lines: list[str], printed: int) -> None:
    got = numbers("\n".join(lines), TAG)
    assert got == list(range(printed)), (
        f"{fault}, {client}: {len(got)} lines of {printed}, {len(set(got))} distinct; first "
        f"gap at {next((i for i, n in enumerate(got) if n != i), None)}")


@dataclasses.dataclass
class Watchers:
    """The eight clients of the flooding kernel, by fault: `rtui run -k` processes, consoles
    in this test's app, and the console in a process of its own (the one stopped)."""

    runs: dict[str, RunClient]
    relays: dict[str, list[TCPRelay]]  # by link fault: the run's relay, the console's
    stopped: StoppedConsole
    panes: dict[str, ConsolePane] = dataclasses.field(default_factory=dict)
    recover_s: dict[str, float] = dataclasses.field(default_factory=dict)

    def waits(self, fault: str, run: Callable[[RunClient], bool],
              pane: Callable[[ConsolePane], bool], said: str) -> list[Awaitable[None]]:
        """Until the clients meeting ``fault`` show what is asked."""
        waits: list[Awaitable[None]] = [
            until(lambda: run(self.runs[fault]), 120, f"{fault}, rtui run -k: {said}")]
        if fault in self.panes:
            waits.append(until(lambda: pane(self.panes[fault]), 120,
                               f"{fault}, the console: {said}"))
        else:
            waits.append(self.stopped.says(said))
        return waits

    async def meet(self, fault: str) -> None:
        """``fault``, once its two clients show the flood: both meet it at once."""
        await asyncio.gather(*self.waits(fault, lambda r: r.shows(f"{TAG} 100"),
                                         lambda p: latest(p, TAG) >= 100, "flowing"))
        process = self.runs[fault].process
        assert process is not None and process.returncode is None, f"{fault}: run ended"
        self.runs[fault].seams_before = self.runs[fault].seams()
        self.runs[fault].err_before = len(self.runs[fault].err)
        relays = self.relays.get(fault, [])
        if fault == "cut":
            for relay in relays:
                relay.cut()
        elif fault in ("freeze", "freeze past keepalive"):
            for relay in relays:
                relay.freeze()
            try:
                await asyncio.sleep(FREEZE if fault == "freeze" else LONG_FREEZE)
            finally:
                for relay in relays:
                    relay.thaw()
        else:
            pids = [process.pid, self.stopped.process.pid]
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            try:
                await asyncio.sleep(STOP)
            finally:
                for pid in pids:
                    os.kill(pid, signal.SIGCONT)
        await self._back(fault)

    async def _back(self, fault: str) -> None:
        """Until the run meeting ``fault`` works again (a reconnect's seam said, or more
        output shown): the seconds from the fault's end, for the README's figures."""
        run, ended, shown = self.runs[fault], time.monotonic(), len(self.runs[fault].out)
        seam = fault in ("cut", "freeze past keepalive")
        await until(lambda: run.seams() > run.seams_before if seam else len(run.out) > shown,
                    120, f"{fault}, rtui run -k: working again")
        self.recover_s[fault] = time.monotonic() - ended

    async def collect(self) -> tuple[dict[str, tuple[str, str, int]], dict[str, Any]]:
        """What each run printed (stdout, stderr, exit status), and what the stopped
        console held, once every client shows the flood's end."""
        waits: dict[str, asyncio.Future[Any]] = {
            f"{f} run": asyncio.ensure_future(r.finish()) for f, r in self.runs.items()}
        waits |= {f"{f} console": asyncio.ensure_future(
            until(functools.partial(_done, f, p), 180, f"{f} console", every=0.1))
            for f, p in self.panes.items()}
        waits["sigstop console"] = asyncio.ensure_future(self.stopped.holds())
        await asyncio.wait(waits.values(), timeout=180)
        late = {name: self._tail(name) for name, wait in waits.items() if not wait.done()}
        assert not late, f"not done within 180 s: {late}"
        return ({f: waits[f"{f} run"].result() for f in self.runs},
                waits["sigstop console"].result())

    def _tail(self, name: str) -> str:
        """What a client that did not finish shows last."""
        fault, _, kind = name.rpartition(" ")
        if kind == "run":
            return self.runs[fault].out[-300:].decode(errors="replace")
        if fault in self.panes:
            return "\n".join(self.panes[fault].model.plain_lines()[-8:])
        return "(its own process)"

    async def close(self) -> None:
        """Whatever still runs (a failed test) continued and ended."""
        for process in [r.process for r in self.runs.values()] + [self.stopped.process]:
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGCONT)
                    process.kill()
                await process.wait()


@pytest.mark.reliability
@pytest.mark.timeout(STOP + 240)
async def test_every_line_once_in_order_through_four_faults(
        sshd: SSHD, tmp_path: Path, isolated_home: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    go = tmp_path / "go"
    starter = write_config(tmp_path / "starter", sshd, sshd.port)
    started = time.monotonic()
    async with _relays(sshd, 6) as relays:
        runs = {fault: RunClient(fault, write_config(
            tmp_path / f"run-{fault.replace(' ', '-')}", sshd,
            relays[i].port if fault != "sigstop" else sshd.port,
            **(FAST_KEEPALIVE if fault in ("freeze past keepalive", "sigstop") else LINK)))
            for i, fault in enumerate(FAULTS)}
        store = _console_store(tmp_path / "hosts.toml", isolated_home, sshd,
                               {_host(f): relays[3 + i] for i, f in enumerate(FAULTS[:3])})
        # The stopped console's process starts (imports) while the kernel does.
        clients = Watchers(runs, {f: [relays[i], relays[3 + i]] for i, f in
                                  enumerate(FAULTS[:3])}, await StoppedConsole.start(
            write_config(tmp_path / "tui-sigstop", sshd, sshd.port),
            tmp_path / "tui-sigstop.err"))
        app = RtuiApp(store, check_on_start=False)
        kid = ""
        try:
            async with app.run_test(size=(100, 30)) as pilot:
                # The consoles' hosts are reached (connection, agent) while the kernel
                # starts, as checked hosts are: `k` then only lists and attaches.
                reached = asyncio.gather(*(_reach(app, _host(f)) for f in FAULTS[:3]))
                kid = await asyncio.to_thread(start_kernel, starter)
                await reached
                clients.stopped.attach(kid)

                async def consoles() -> None:
                    for fault in FAULTS[:3]:
                        clients.panes[fault] = await attach_with_k(app, pilot, _host(fault),
                                                                   kid)

                attaching = asyncio.ensure_future(consoles())
                # The run past the keepalive runs the flood: its reply is sent while its
                # link is down. The others attach behind it (their cells wait for it) and
                # see it as another's output; none is new to it when it starts printing.
                submitter = runs["freeze past keepalive"]
                await submitter.start(kid, timed_flood(go))
                await until(lambda: submitter.shows(f"{TAG} ready"), 60, "the flood's cell")
                for run in runs.values():
                    if run is not submitter:
                        await run.start(kid, f"print('{TAG} end')")
                await attaching
                await asyncio.gather(*(wait for fault in FAULTS for wait in clients.waits(
                    fault, lambda r: r.shows(f"{TAG} ready"),
                    lambda p: shows(p, f"{TAG} ready"), "attached")))
                go.touch()
                flooding = time.monotonic()
                await asyncio.gather(*(clients.meet(fault) for fault in FAULTS))
                finished, held = await clients.collect()
                consoles_held = {f: p.model.plain_lines() for f, p in clients.panes.items()}
                consoles_held["sigstop"] = held["lines"]
                states = {f: p.state for f, p in clients.panes.items()}
                states["sigstop"] = held["state"]
                for pane in clients.panes.values():
                    await pane.detach()
        finally:
            await clients.close()
            if kid:
                await asyncio.to_thread(stop_kernel, starter, kid)

    summary = SUMMARY.search(finished["freeze past keepalive"][0])
    assert summary is not None, finished["freeze past keepalive"][0][-2000:]
    printed, took = int(summary[1]), float(summary[2])
    with capsys.disabled():
        print(f"\nthe kernel printed {printed:,} lines in {took:g} s: {printed / took:,.0f} "
              f"lines/s (asked {RATE:,}); set up {flooding - started:.0f} s, flood and "
              f"faults {time.monotonic() - flooding:.0f} s")
    for fault, (out, err, code) in finished.items():
        assert code == 0, f"{fault}: {err}"
        _check(fault, "rtui run -k", out.splitlines(), printed)
        if fault in ("cut", "freeze past keepalive"):  # the seam is said, after the fault
            assert "rtui: replayed" in err, f"{fault}: {err}"
            assert runs[fault].seams() > runs[fault].seams_before, f"{fault}: {err}"
        assert "Traceback" not in err, f"{fault}: {err}"
    for fault, lines in consoles_held.items():
        _check(fault, "the console's model", lines, printed)
        text = "\n".join(lines)
        assert "dropped" not in text, (fault, text[-3000:])
        assert states[fault] != "disconnected", (fault, states[fault])
        if fault in ("cut", "freeze past keepalive"):  # a reconnect, the seam marked
            assert _reconnected(lines), (fault, text[-3000:])
        if fault == "freeze":  # within the keepalive: the link held
            assert "Connection lost" not in text, text[-3000:]
    # Not a vacuous flood: a loaded machine prints fewer (the rate is shown above).
    assert printed >= RATE * SECONDS // 8, f"{printed} lines in {SECONDS} s: not a flood"
    for fault in FAULTS:
        shown = [finished[fault][0].splitlines(), consoles_held[fault]]
        reliability.record(
            "faults", f"{_CASES[fault]} under a {SECONDS} s flood ({RATE:,} lines/s asked), "
            "rtui run -k and a console", tried=printed,
            seen=_seen(runs[fault], consoles_held[fault]),
            lost=max(printed - len(set(numbers("\n".join(h), TAG)) & set(range(printed)))
                     for h in shown),
            recover_s=clients.recover_s[fault])


_CASES = {"cut": "the link cut (RST both ways)",
          "freeze": f"the link frozen {FREEZE} s (within the keepalive)",
          "freeze past keepalive": f"the link frozen {LONG_FREEZE} s (past the keepalive)",
          "sigstop": f"the client stopped (SIGSTOP) {STOP} s"}


def _seen(run: RunClient, console: list[str]) -> str:
    """What the person was told after the fault: `rtui run`'s notes, the console's."""
    said = [line for line in run.err[run.err_before:].decode().splitlines()
            if line.startswith("rtui: ")]
    lost = next((i for i, line in enumerate(console) if line.startswith("Connection lost")),
                len(console))  # the seam after attaching is not the fault's
    told = [line for line in console[lost:] if line.startswith((
        "Connection lost", "Reconnected", "── replayed "))]
    return (f"rtui run -k: {' / '.join(said) or 'nothing'}; "
            f"console: {' / '.join(told) or 'nothing'}")
