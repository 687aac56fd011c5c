"""Faults the other tests do not meet, each with its figure for the README (issue 21): sshd
killed and restarted under a printing cell, the link slowed, the agent killed, the host's home
full or read-only, 200 hosts of which half never answer, and a print flood through the
console (memory bounded, typing answered). Each asserts what the person sees and that no line
is lost, then records the figures (tests/reliability.py). The link cut and frozen, the kernel
killed and a server that never speaks are measured where they are already tested
(test_flood_faults.py, test_tui_reconnect.py, test_output_kept.py, test_ssh_faults.py).

Real sshd, agent, keeper and kernels, all on 127.0.0.1; each test is kept under 25 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.strip import Strip
from textual.widgets import Input

from rtui.core.config.model import Config, Host
from rtui.core.config.store import HostStore
from rtui.core.console.model import ConsoleModel
from rtui.core.errors import RtuiError
from rtui.core.kernels import events as ev
from rtui.core.kernels.service import HostKernels, RemoteKernel
from rtui.core.kernels.session import KernelSession
from rtui.core.remote.bundle import agent_bundle
from rtui.core.remote.client import AgentError
from rtui.tui.widgets.console_view import ConsoleView
from tests import reliability
from tests.conftest import run_rtui
from tests.harness.kernels import connection_info, launch_local_kernel
from tests.harness.relay import BlackHole, TCPRelay
from tests.harness.sshd import SSHD, descendant_pids, kill_leftovers, pid_alive
from tests.ssh_helpers import connection, host_for, trust
from tests.test_output_kept import FAST_KEEPALIVE, _read_all, rtui, write_config
from tests.tui_watch import until

pytestmark = pytest.mark.reliability

PY = sys.executable
SEAM = b"rtui: replayed "  # what `rtui run` says on stderr where kept output joins


def timed_flood(tag: str, lines: int, rate: int) -> str:
    """A cell printing ``lines`` lines ``TAG i T`` at ``rate`` a second, T the moment it
    was printed (this machine's monotonic clock, the one the test reads)."""
    return (
        "import time\n"
        "t0 = time.monotonic()\n"
        f"for i in range({lines}):\n"
        f"    print('{tag}', i, round(time.monotonic(), 3), flush=True)\n"
        f"    ahead = t0 + (i + 1) / {rate} - time.monotonic()\n"
        "    if ahead > 0: time.sleep(ahead)\n"
    )


def stamped(text: str, tag: str) -> list[tuple[int, float]]:
    """The (number, time printed) of each ``timed_flood`` line in ``text``."""
    return [(int(n), float(t)) for n, t in re.findall(rf"^{tag} (\d+) ([\d.]+)$", text, re.M)]


class RunWatch:
    """`rtui run` as a shell runs it, its stdout and stderr gathered as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None and process.stderr is not None
        self.process = process
        self.out, self.err = bytearray(), bytearray()
        self.reading = [asyncio.ensure_future(_read_all(process.stdout, self.out)),
                        asyncio.ensure_future(_read_all(process.stderr, self.err))]

    @classmethod
    async def start(cls, env: dict[str, str], *args: str) -> RunWatch:
        return cls(await rtui(env, "run", "lab", *args))

    def shows(self, line: str) -> bool:
        return f"\n{line}".encode() in b"\n" + self.out

    async def finish(self, timeout: float) -> tuple[str, str, int]:
        await asyncio.wait_for(asyncio.gather(*self.reading), timeout)
        return self.out.decode(), self.err.decode(), await self.process.wait()

    async def close(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()


def kill_sshd(server: SSHD) -> None:
    """SIGKILL the listening sshd and every connection's sshd process, not what their
    sessions started (as ``pkill -9 sshd`` would: the agent's pipes close, the keepers,
    in sessions of their own, live on). The harness's own stop kills the whole tree."""
    assert server.proc is not None
    tree = descendant_pids(server.proc.pid)
    for pid in [server.proc.pid, *(p for p in tree if _command(p).startswith("sshd"))]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.stop(drop_connections=False)  # reaps the listener


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def lost_of(got: list[int], expected: int) -> int:
    """Lines of ``range(expected)`` not shown (each counted once)."""
    return expected - len(set(got) & set(range(expected)))


async def test_sshd_killed_and_restarted_under_a_printing_cell(
        fresh_sshd: SSHD, isolated_home: Path) -> None:
    """sshd and every session it runs are killed while a cell prints, and come back 1 s
    later: `rtui run` reconnects, and shows the lines printed meanwhile (kept by the
    keeper), each once, in order."""
    env = write_config(isolated_home, fresh_sshd, fresh_sshd.port, **FAST_KEEPALIVE)
    lines, rate = 5000, 1000
    run = await RunWatch.start(env, "-c", timed_flood("S", lines, rate))
    try:
        await until(lambda: run.shows("S 500"), 60, "the flood")
        seams = run.err.count(SEAM)
        kill_sshd(fresh_sshd)
        await asyncio.sleep(1)
        fresh_sshd.start()
        back = time.monotonic()
        await until(lambda: run.err.count(SEAM) > seams, 20, "the seam after the reconnect")
        recover_s = time.monotonic() - back
        out, err, code = await run.finish(30)
    finally:
        await run.close()
    assert code == 0, err
    got = [n for n, _ in stamped(out, "S")]
    assert got == list(range(lines)), (len(got), err)
    assert "Traceback" not in err
    said = [line for line in err.splitlines() if line.startswith("rtui: ")]
    assert len(said) == 1 and said[0].startswith("rtui: replayed "), err
    reliability.record("faults", "sshd killed and restarted (1 s down) under a printing cell",
                       tried=lines, seen=" / ".join(said), lost=lost_of(got, lines),
                       recover_s=recover_s)


async def test_a_slowed_link_loses_no_line_and_catches_up(
        sshd: SSHD, isolated_home: Path) -> None:
    """The link gains 0.3 s each way (a far host) for 3 s while a cell prints: no
    keepalive fires, nothing is said, every line comes once; after it the lines shown are
    again those just printed."""
    delay, slowed_for = 0.3, 3.0
    async with TCPRelay("127.0.0.1", sshd.port) as relay:
        env = write_config(isolated_home, sshd, relay.port, **FAST_KEEPALIVE)
        lines, rate = 6000, 1000
        run = await RunWatch.start(env, "-c", timed_flood("D", lines, rate))
        try:
            await until(lambda: run.shows("D 300"), 60, "the flood")
            relay.delay = delay
            await asyncio.sleep(slowed_for)
            relay.delay = 0.0
            fast_again = time.monotonic()

            def caught_up() -> bool:
                shown = stamped(run.out[-400:].decode(errors="replace"), "D")
                return bool(shown) and shown[-1][1] >= fast_again

            await until(caught_up, 20, "lines printed after the delay ended", every=0.01)
            recover_s = time.monotonic() - fast_again
            out, err, code = await run.finish(30)
        finally:
            await run.close()
    assert code == 0, err
    got = [n for n, _ in stamped(out, "D")]
    assert got == list(range(lines)), (len(got), err)
    assert err == "", err  # no seam, no "connection lost": the link held
    reliability.record("faults", f"link slowed ({delay * 1000:.0f} ms each way) for "
                       f"{slowed_for:g} s under a printing cell", tried=lines,
                       seen="nothing: the lines come late, then on time (no message)",
                       lost=lost_of(got, lines), recover_s=recover_s)


async def _flood(kernel: RemoteKernel, code: str, into: list[str]) -> list[ev.KernelEvent]:
    """Run ``code``, its stdout gathered in ``into`` as it comes; the other events."""
    others: list[ev.KernelEvent] = []
    async for event in kernel.session.execute(code):
        if isinstance(event, ev.Stream) and event.name == "stdout":
            into.append(event.text)
        else:
            others.append(event)
    return others


def _agents_of(server: SSHD) -> list[int]:
    """The rtui agents ``server``'s sessions run (not the keepers they started)."""
    assert server.proc is not None
    return [pid for pid in descendant_pids(server.proc.pid)
            if b"need_source" in _cmdline(pid) and agent_bundle().name.encode() in _cmdline(pid)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


async def test_the_agent_killed_under_a_printing_cell(
        fresh_sshd: SSHD, isolated_home: Path) -> None:
    """The host's agent is SIGKILLed while a cell prints: the output (the keeper's, not the
    agent's) goes on, nothing is said, and the next request starts a new agent."""
    trust(fresh_sshd, isolated_home)
    conn, _ = connection(host_for(fresh_sshd, python=PY))
    service = HostKernels(conn, python=PY)
    lines, rate = 3000, 1000
    try:
        kernel = await service.start(python=PY)
        printed: list[str] = []
        flood = asyncio.ensure_future(_flood(kernel, timed_flood("A", lines, rate), printed))
        await until(lambda: len(stamped("".join(printed), "A")) > 500, 30, "the flood")
        agents = _agents_of(fresh_sshd)
        assert len(agents) == 1, agents
        os.kill(agents[0], signal.SIGKILL)
        killed = time.monotonic()
        await until(lambda: not pid_alive(agents[0]), 5, "the agent's end")
        # A read-only request racing the channel's close is asked again of a new agent.
        listed = await asyncio.wait_for(service.list(), 30)
        recover_s = time.monotonic() - killed
        assert kernel.id in {k.id for k in listed if k.alive}
        assert _agents_of(fresh_sshd) not in ([], agents)  # a new one
        others = await asyncio.wait_for(flood, 20)
        await service.shutdown(kernel)
    finally:
        await service.close()
        await conn.close()
    got = [n for n, _ in stamped("".join(printed), "A")]
    assert got == list(range(lines)), len(got)
    said = [e for e in others if not isinstance(e, (ev.Status, ev.ExecuteReply,
                                                    ev.ExecuteInput))]
    assert said == [], said
    reliability.record("faults", "the host's rtui agent killed (SIGKILL) under a printing cell",
                       tried=lines, seen="nothing: the output goes on; a listing asked as it "
                       "dies is asked again of a new agent (a change is not: it fails saying "
                       "'lost the rtui agent on HOST: the agent exited')",
                       lost=lost_of(got, lines), recover_s=recover_s)


@contextlib.contextmanager
def small_home(server: SSHD, size: str = "16m") -> Iterator[Path]:
    """A tmpfs of ``size`` as the host's home (the test's sshd's), unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    home = server.remote_home
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                           str(home)], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield home
    finally:
        kill_leftovers(str(home))
        subprocess.run(["umount", "-l", str(home)], capture_output=True, timeout=30,
                       check=False)


def _fill(home: Path) -> Path:
    """A file that takes every free byte of ``home``'s file system."""
    filler = home / "filler"
    with filler.open("wb") as out:
        with contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * (1 << 20))
                out.flush()
    with contextlib.suppress(OSError), filler.open("ab") as out:  # the last partial block
        while True:
            out.write(b"\0" * 4096)
            out.flush()
    return filler


@pytest.mark.parametrize("fault", ["disk full", "read-only"])
async def test_the_hosts_home_full_or_read_only(
        fault: str, fresh_sshd: SSHD, isolated_home: Path) -> None:
    """The host's home fills up (or is remounted read-only) while a kernel runs: its cell's
    output still comes whole (the keeper holds it in memory); starting another kernel is
    refused with a message naming why; once space is freed (or it is writable again) a
    kernel starts."""
    trust(fresh_sshd, isolated_home)
    lines, rate = 2000, 1000
    with small_home(fresh_sshd) as home:
        conn, _ = connection(host_for(fresh_sshd, python=PY))
        service = HostKernels(conn, python=PY)
        try:
            kernel = await service.start(python=PY)
            filler = _fill(home) if fault == "disk full" else None
            if fault == "read-only":  # the same files, read-only from now on (a bind
                # mount over it: the kernel's open log files keep the one below)
                subprocess.run(["mount", "--bind", "-o", "ro", str(home), str(home)],
                               check=True, timeout=30)
            printed: list[str] = []
            await asyncio.wait_for(_flood(kernel, timed_flood("H", lines, rate), printed), 20)
            with pytest.raises(RtuiError) as refused:
                await service.start(python=PY)
            assert isinstance(refused.value, AgentError)
            said = str(refused.value)
            if fault == "disk full":
                assert said == "the host's disk is full; free some space there", said
            else:
                assert said.startswith("the host's file system is read-only: "
                                       f"{home}/.local/share/jupyter/runtime/kernel-"), said
            if filler is not None:
                filler.unlink()
            else:
                subprocess.run(["umount", str(home)], check=True, timeout=30)
            fixed = time.monotonic()
            again = await service.start(python=PY)
            assert result(await _events(again, "6 * 7")) == "42"
            recover_s = time.monotonic() - fixed
            for started in (kernel, again):
                await service.shutdown(started)
        finally:
            await service.close()
            await conn.close()
    # IPython's own warning may come amid the first line (its history database is on the
    # full disk): it is the kernel's, said once; the line around it is whole.
    text = re.sub(r"The history saving thread hit an unexpected error \(.*?\)\)\.History "
                  r"will not be written to the database\.\n?", "", "".join(printed))
    got = [n for n, _ in stamped(text, "H")]
    assert got == list(range(lines)), (len(got), printed[:3])
    seen = re.sub(r"kernel-[0-9a-f-]+\.json", "kernel-ID.json",
                  f"rtui: {refused.value}".replace(str(home), "~"))
    reliability.record("faults", f"the host's home {fault} while a kernel runs",
                       tried=lines, seen=seen, lost=lost_of(got, lines),
                       recover_s=recover_s)


async def _events(kernel: RemoteKernel, code: str) -> list[ev.KernelEvent]:
    return [event async for event in kernel.session.execute(code)]


def result(events: list[ev.KernelEvent]) -> str | None:
    return next((str(e.data.get("text/plain")) for e in events
                 if isinstance(e, ev.ExecuteResult)), None)


async def test_200_hosts_of_which_half_never_answer(
        sshd: SSHD, isolated_home: Path, config_file: Path) -> None:
    """`rtui check` of 200 hosts: 100 answer (names for the session's sshd), 100 accept and
    never speak (each its own black hole). Every answering host is reported ok, every silent
    one as a timeout naming it, and all within about one timeout, not 100."""
    trust(sshd, isolated_home)
    timeout = 2.0
    holes = [await BlackHole().start() for _ in range(100)]
    try:
        hosts = [host_for(sshd, f"up{i}", python=PY) for i in range(100)]
        hosts += [Host(f"down{i}", hostname="127.0.0.1", port=h.port)
                  for i, h in enumerate(holes)]
        HostStore(config_file).update(lambda _: Config(hosts=tuple(hosts)))
        started = time.monotonic()
        checked = await asyncio.to_thread(run_rtui, "check", "--json", "--timeout",
                                          f"{timeout:g}", timeout=120)
        took = time.monotonic() - started
    finally:
        for hole in holes:
            await hole.close()
    assert checked.returncode == 1, checked.stderr  # some hosts are down
    assert "Traceback" not in checked.stderr
    statuses = {s["name"]: s for s in map(json.loads, checked.stdout.splitlines())}
    assert set(statuses) == {h.name for h in hosts}
    down = [statuses[f"down{i}"] for i in range(100)]
    for i, hole in enumerate(holes):
        assert down[i]["error"] == (
            f"127.0.0.1:{hole.port} accepted the connection but sent no SSH greeting within "
            f"{timeout:g} s (not an SSH server, or one too busy to answer)"), down[i]
    unanswered = [n for n in (f"up{i}" for i in range(100)) if not statuses[n]["ok"]]
    assert unanswered == [], [statuses[n]["error"] for n in unanswered[:3]]
    assert took < 5 * timeout + 10, took  # bounded by a few timeouts, not by the 100 holes
    reliability.record("faults", "rtui check of 200 hosts, 100 of them accept and never "
                       "speak", tried=len(hosts), seen=down[0]["error"].replace(
                           str(holes[0].port), "PORT"), lost=len(unanswered), recover_s=took)


FLOOD_LINES = int(os.environ.get("RTUI_FLOOD_LINES", "300000"))  # 10,000,000: see the README
KEY_EVERY = 0.05  # seconds between typed keys


def _rss_mib() -> float:
    """This process's resident memory now."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


class _FloodView(ConsoleView):
    """The console's view, noting when it paints ``target`` (the flood's last line)."""

    target = ""
    painted_at: float | None = None

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if self.painted_at is None and self.target and strip.text.rstrip() == self.target:
            self.painted_at = time.monotonic()
        return strip


class _FloodApp(App[None]):
    """The console pane's shape: its output above, the input (focused) below."""

    CSS = "_FloodView { height: 1fr; } Input { height: 3; }"

    def __init__(self, model: ConsoleModel) -> None:
        super().__init__()
        self.model = model
        self.echoed_at: list[float] = []

    def compose(self) -> ComposeResult:
        yield _FloodView(self.model)
        yield Input()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.echoed_at.append(time.monotonic())


@pytest.mark.timeout(max(120, FLOOD_LINES // 20_000))
async def test_a_print_flood_keeps_memory_bounded_and_typing_answered(tmp_path: Path) -> None:
    """A kernel prints FLOOD_LINES lines as fast as it can (300,000 in CI; RTUI_FLOOD_LINES
    sets it, 10 million for the README's figure) into the console's model and view while a
    key is typed every 50 ms: every line reaches the model, which keeps the newest
    ``max_lines`` (memory does not grow with the flood), every key shows at once, and the
    last line is painted as the kernel ends."""
    lines = FLOOD_LINES
    (tmp_path / "kernel").mkdir()
    km = launch_local_kernel(tmp_path / "kernel")
    session = KernelSession.over_zmq(connection_info(km), name="flood")
    try:
        await session.start(timeout=60)
        await session.execute("pass").reply()
        model = ConsoleModel()
        app = _FloodApp(model)
        async with app.run_test(size=(120, 36)) as pilot:
            view = app.query_one(_FloodView)
            view.target = f"line {lines - 1}"
            delivered = 0
            rss = [_rss_mib()]

            async def consume() -> None:
                nonlocal delivered
                async for event in session.execute(f"for i in range({lines}): "
                                                   "print('line', i)"):
                    if isinstance(event, ev.Stream):
                        delivered += event.text.count("\n")
                    model.apply(event)
                    view.notify_changed()

            flood = asyncio.ensure_future(consume())
            pressed_at: list[float] = []
            while not flood.done():
                pressed_at.append(time.monotonic())
                await pilot.press("x")
                rss.append(_rss_mib())
                await asyncio.wait({flood}, timeout=KEY_EVERY)
            await flood
            ended = time.monotonic()
            await until(lambda: view.painted_at is not None, 30, "the last line painted")
            assert view.painted_at is not None
            painted_s = max(0.0, view.painted_at - ended)
            await pilot.pause(0.1)
            typed = app.query_one(Input).value
    finally:
        await session.close()
        km.shutdown_kernel(now=True)
    kept = model.plain_lines()
    assert delivered == lines
    assert model.line_count == min(lines, model.max_lines)
    assert kept[-1] == f"line {lines - 1}" and kept[0] == f"line {lines - len(kept)}"
    assert typed == "x" * len(pressed_at)  # every key arrived, in the input
    waits = sorted(b - a for a, b in zip(pressed_at, app.echoed_at, strict=True))
    worst, median = waits[-1], waits[len(waits) // 2]
    grew = max(rss) - rss[0]
    assert median < 0.25 and worst < 1.5, (median, worst)
    assert grew < 400, f"{grew:.0f} MiB more during the flood"
    reliability.record(
        "faults", f"a print flood of {lines:,} lines while typing", tried=lines,
        seen=f"the newest {model.line_count:,} lines kept (max_lines); {len(pressed_at)} keys "
        f"typed, each shown (p50 {median * 1000:.0f} ms, worst {worst * 1000:.0f} ms); "
        f"memory +{grew:.0f} MiB", lost=lines - delivered, recover_s=painted_s)
