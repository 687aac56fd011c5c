"""The output keeper's costs and its catch-up: a kernel under its keeper on a loopback sshd,
read with ``rtui run -k`` (the real CLI) as a person would.

1. A flood (200,000 lines, a flush per line, as fast as the kernel prints): the keeper's RSS
   (peak and at the end, from /proc) and CPU, beside the kernel's, sshd's and rtui's own CPU
   over the same cell; and the same cell read by a drain-only client on the host (the
   keeper's socket read and discarded: no SSH, no parsing), run back to back.
2. Catch-up: a cell printing 2,000 lines/s, the link cut, frozen 8 s, and frozen 30 s (past
   the keepalive) by a relay between rtui and sshd: seconds from the thaw (or the cut) until
   rtui has printed every line the kernel had printed by then, and whether any line is
   missing or doubled.

Figures, not pass/fail: the machine is shared and its speed drifts; compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import describe, machine_line, markdown_table
from rtui.agent.sockets import dir_name
from tests.harness.relay import TCPRelay
from tests.harness.sshd import SSHD, descendant_pids, pids_mentioning, start_sshd
from tests.test_output_kept import flood_code, numbers, start_kernel, stop_kernel, write_config

__all__ = ["main"]

PY = sys.executable
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
FLOOD_LINES, QUICK_FLOOD_LINES = 200_000, 10_000
OUTAGE_S, QUICK_OUTAGE_S = 30.0, 3.0
RATE = 2000  # lines a second in the catch-up cell
AFTER_S = 10.0  # the catch-up cell prints on this long after the thaw
SAMPLE_S = 0.1
# As a person with the defaults would have it, but reconnecting at most 1 s apart: the
# figure is the keeper's catch-up, not the back-off's schedule (60 s at most by default).
OUTAGE_SETTINGS = {"reconnect_max_delay": 1.0}


def fast_flood(tag: str, lines: int) -> str:
    return f"for i in range({lines}):\n    print('{tag}', i, flush=True)\n"


# ------------------------------------------------------------------ /proc


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1e6
    except OSError:
        return 0.0


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def kernel_pids(kid: str) -> tuple[int, int]:
    """(keeper, kernel) pids of the kernel ``kid`` on this (loopback) host."""
    keeper = kernel = 0
    for pid in pids_mentioning(kid):
        line = cmdline(pid)
        if " keeper " in line:
            keeper = pid
        elif "ipykernel" in line:
            kernel = pid
    if not (keeper and kernel):
        raise RuntimeError(f"no keeper ({keeper}) or kernel ({kernel}) process for {kid}")
    return keeper, kernel


def keeper_socket(kid: str, server: SSHD) -> str:
    """Where the keeper of ``kid`` listens: in the socket root of the server's sessions."""
    roots = [f"/tmp/rtui-{os.getuid()}"]
    if server.runtime_dir is not None:  # the harness gives its sessions their own
        roots.insert(0, str(server.runtime_dir / "rtui"))
    for root in roots:
        path = os.path.join(root, "k", dir_name(kid), "keeper")
        if os.path.exists(path):
            return path
    raise RuntimeError(f"no keeper socket for {kid} under {roots}")


def sshd_cpus(server: SSHD | None) -> dict[int, float]:
    """CPU of each of sshd's processes (the listener and the sessions it forked)."""
    root = server.pid if server is not None else None
    if root is None:
        return {}
    return {pid: cpu_s(pid) for pid in {root, *descendant_pids(root)}
            if comm(pid).startswith("sshd")}


class Sampler(threading.Thread):
    """The keeper's RSS every 0.1 s (its peak kept) and sshd's CPU per process (a session
    ends with the client: its CPU is read while it lives)."""

    def __init__(self, pid: int, server: SSHD | None = None) -> None:
        super().__init__(daemon=True)
        self.pid, self.server, self.peak, self.stop = pid, server, 0.0, threading.Event()
        self.sshd_start = sshd_cpus(server)
        self.sshd_last = dict(self.sshd_start)

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            self.sshd_last.update(sshd_cpus(self.server))
            self.stop.wait(SAMPLE_S)

    def sshd_cpu(self) -> float:
        return sum(cpu - self.sshd_start.get(pid, 0.0) for pid, cpu in self.sshd_last.items())


# ------------------------------------------------------------------ the flood


@dataclass
class FloodRow:
    reader: str
    lines: int = 0
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # keeper, kernel, sshd, reader
    rss_peak: float = 0.0
    rss_end: float = 0.0
    rss_before: float = 0.0
    error: str | None = None


def flood_rtui(server: SSHD, env: dict[str, str], kid: str, lines: int, row: FloodRow) -> None:
    keeper, kernel = kernel_pids(kid)
    row.rss_before = rss_mb(keeper)
    sampler = Sampler(keeper, server)
    sampler.start()
    before = {"keeper": cpu_s(keeper), "kernel": cpu_s(kernel)}
    started = time.perf_counter()
    proc = subprocess.Popen([PY, "-m", "rtui", "run", "lab", "-k", kid, "-c",
                             fast_flood("W", lines)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, **env})
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    row.wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    row.cpu = {"keeper": cpu_s(keeper) - before["keeper"],
               "kernel": cpu_s(kernel) - before["kernel"],
               "sshd": sampler.sshd_cpu(),
               "reader": usage.ru_utime + usage.ru_stime}
    row.rss_peak, row.rss_end = sampler.peak, rss_mb(keeper)
    got = numbers(out.decode(), "W")
    row.lines = len(got)
    if proc.returncode != 0 or got != list(range(lines)):
        row.error = (f"exit {proc.returncode}, {len(got)} of {lines} lines in order: "
                     f"{err.decode()[-300:]}")


def flood_drain(server: SSHD, kid: str, lines: int, row: FloodRow) -> None:
    """The same cell run by jupyter_client on the kernel's own sockets, its output read off
    the keeper's socket and discarded (the drain-only reference, no SSH in the way)."""
    from jupyter_client.blocking.client import BlockingKernelClient

    keeper, kernel = kernel_pids(kid)
    cf = next(part for part in cmdline(kernel).split() if part.endswith(".json"))
    kc = BlockingKernelClient()
    kc.load_connection_file(cf)
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=30)
        row.rss_before = rss_mb(keeper)
        sampler = Sampler(keeper)
        sampler.start()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(keeper_socket(kid, server))
            sock.sendall(json.dumps({"op": "follow", "since": None, "tail": 0}).encode()
                         + b"\n")
            data = b""
            while b"\n" not in data:
                data += sock.recv(65536)
            me = cpu_s(os.getpid())
            before = {"keeper": cpu_s(keeper), "kernel": cpu_s(kernel)}
            started = time.perf_counter()
            msg_id = kc.execute(fast_flood("D", lines))
            want = f"D {lines - 1}\\n".encode()  # JSON-escaped in the stream message
            tail = b""
            while True:  # until the last line's message has come through the keeper
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise RuntimeError("the keeper closed the stream")
                if want in tail + chunk:
                    break
                tail = chunk[-64:]
            row.wall = time.perf_counter() - started
            row.cpu = {"keeper": cpu_s(keeper) - before["keeper"],
                       "kernel": cpu_s(kernel) - before["kernel"],
                       "reader": cpu_s(os.getpid()) - me}
        sampler.stop.set()
        sampler.join()
        row.rss_peak, row.rss_end, row.lines = sampler.peak, rss_mb(keeper), lines
        kc.get_shell_msg(timeout=60)  # the reply, so the next cell starts on an idle kernel
        del msg_id
    finally:
        kc.stop_channels()


# ------------------------------------------------------------------ the outage


@dataclass
class OutageRow:
    fault: str  # "freeze" (nothing passes, nothing closes) or "cut" (connections reset)
    outage: float  # seconds frozen (0 for a cut)
    lines_at_thaw: int = 0
    catch_up: float = 0.0  # seconds from the thaw to the kernel's line at the thaw
    total: int = 0
    missing: int = 0
    doubled: int = 0
    replayed: str = ""
    error: str | None = None


async def outage(relay: TCPRelay, env: dict[str, str], kid: str, row: OutageRow) -> None:
    seconds = row.outage
    printing = seconds + AFTER_S + 3
    lines = int(RATE * printing)
    process = await asyncio.create_subprocess_exec(
        PY, "-m", "rtui", "run", "lab", "-k", kid, "-c", flood_code("O", lines),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env})
    assert process.stdout is not None and process.stderr is not None
    out = bytearray()
    arrived: dict[int, float] = {}
    printing_seen = asyncio.Event()

    async def read() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            out.extend(line)
            if line.startswith(b"O "):
                arrived.setdefault(int(line.split()[1]), time.monotonic())
                if len(arrived) > 100:
                    printing_seen.set()

    reading = asyncio.ensure_future(read())
    errors = asyncio.ensure_future(process.stderr.read())
    async with asyncio.timeout(60):
        await printing_seen.wait()
    first = arrived[0]
    await asyncio.sleep(2)
    if row.fault == "cut":
        relay.cut()  # rtui reconnects at once: the relay still accepts
    else:
        relay.freeze()
        await asyncio.sleep(seconds)
        relay.thaw()
    thawed = time.monotonic()
    row.lines_at_thaw = min(lines - 1, int((thawed - first) * RATE))  # the kernel's pace
    async with asyncio.timeout(printing + seconds + 120):
        await reading
        err = (await errors).decode()
        code = await process.wait()
    got = numbers(out.decode(), "O")
    row.total = len(got)
    row.missing = len(set(range(lines)) - set(got))
    row.doubled = len(got) - len(set(got))
    if row.lines_at_thaw in arrived:
        row.catch_up = arrived[row.lines_at_thaw] - thawed
    seam = [line.removeprefix("rtui: ") for line in err.splitlines() if "replayed" in line]
    row.replayed = "; ".join(seam) or "(no seam said)"
    gone = sorted(set(range(lines)) - set(got))
    if code != 0 or got != list(range(lines)):
        row.error = (f"exit {code}; missing {spans(gone)}; "
                     f"{' / '.join(err.strip().splitlines()[-3:])}")


def spans(numbers_: list[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"`` (the first ten spans)."""
    out: list[str] = []
    for n in numbers_:
        if out and int(out[-1].rpartition("-")[2]) == n - 1:
            out[-1] = f"{out[-1].partition('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out[:10]) or "none"


# ------------------------------------------------------------------ the run


def measure(quick: bool, parts: Sequence[str] = ("flood", "outage")
            ) -> tuple[list[FloodRow], list[OutageRow]]:
    lines = QUICK_FLOOD_LINES if quick else FLOOD_LINES
    floods = [FloodRow("`rtui run -k` through sshd"), FloodRow("drain-only on the host")]
    outages = ([OutageRow("freeze", QUICK_OUTAGE_S)] if quick else
               [OutageRow("cut", 0), OutageRow("freeze", 8), OutageRow("freeze", OUTAGE_S)])
    with tempfile.TemporaryDirectory(prefix="rtui-bench-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        server: SSHD | None = None
        kid = ""
        env: dict[str, str] = {}
        try:
            server = start_sshd(root / "sshd")
            (root / "home").mkdir()
            env = write_config(root / "home", server, server.port)
            kid = start_kernel(env)
            # Attached once: the measured runs replay only what came since.
            subprocess.run([PY, "-m", "rtui", "run", "lab", "-k", kid, "-c", "pass"],
                           env={**os.environ, **env}, capture_output=True, timeout=120,
                           check=False)
            if "flood" in parts:
                try:
                    flood_rtui(server, env, kid, lines, floods[0])
                except Exception as exc:
                    floods[0].error = describe(exc)
                try:
                    flood_drain(server, kid, lines, floods[1])
                except Exception as exc:
                    floods[1].error = describe(exc)
            else:
                floods = []
            if "outage" in parts:
                asyncio.run(_outages(server, root, kid, outages))
            else:
                outages = []
        except Exception as exc:
            for flood in floods:
                if flood.error is None and not flood.lines:
                    flood.error = f"set-up failed: {describe(exc)}"
            for gap in outages:
                if gap.error is None and not gap.total:
                    gap.error = f"set-up failed: {describe(exc)}"
        finally:
            if kid:
                stop_kernel(env, kid)
            if server is not None:
                server.close()
    return floods, outages


async def _outages(server: SSHD, root: Path, kid: str, rows: list[OutageRow]) -> None:
    async with TCPRelay("127.0.0.1", server.port) as relay:
        home = root / "home-relay"
        home.mkdir()
        env = write_config(home, server, relay.port, **OUTAGE_SETTINGS)
        # Attached once: the cells' runs then replay only what came since (a new console
        # would first show the kernel's last lines, the flood's).
        await asyncio.to_thread(subprocess.run, [PY, "-m", "rtui", "run", "lab", "-k", kid,
                                                 "-c", "pass"], env={**os.environ, **env},
                                capture_output=True, timeout=120, check=False)
        for row in rows:
            try:
                await outage(relay, env, kid, row)
            except Exception as exc:
                row.error = describe(exc)


def render(floods: list[FloodRow], outages: list[OutageRow], lines: int) -> str:
    flood_table = markdown_table(
        ["reader", "lines", "wall s", "lines/s", "keeper CPU s", "keeper us/line",
         "kernel CPU s", "sshd CPU s", "reader CPU s", "keeper RSS MB before/peak/end",
         "wall vs drain"],
        [[row.reader, row.error or f"{row.lines:,}", f"{row.wall:.2f}",
          f"{row.lines / row.wall:,.0f}" if row.wall else "-",
          f"{row.cpu.get('keeper', 0):.2f}",
          f"{row.cpu.get('keeper', 0) / max(1, row.lines) * 1e6:.0f}",
          f"{row.cpu.get('kernel', 0):.2f}",
          f"{row.cpu['sshd']:.2f}" if "sshd" in row.cpu else "-",
          f"{row.cpu.get('reader', 0):.2f}",
          f"{row.rss_before:.1f} / {row.rss_peak:.1f} / {row.rss_end:.1f}",
          f"{row.wall / floods[1].wall:.2f}x" if floods[1].wall and row.wall else "-"]
         for row in floods], align="lrrrrrrrrrr")
    outage_table = markdown_table(
        ["fault", "kernel's line at the thaw", "catch-up s after the thaw", "lines",
         "missing", "doubled", "the seam rtui said", "problem"],
        [["cut" if row.fault == "cut" else f"frozen {row.outage:.0f} s",
          f"{row.lines_at_thaw:,}",
          f"{row.catch_up:.2f}" if row.catch_up else "-", f"{row.total:,}", str(row.missing),
          str(row.doubled), row.replayed, row.error or ""] for row in outages],
        align="rrrrrrll")
    return (f"Flood: {lines:,} lines, a flush per line, as fast as the kernel prints; CPU over "
            f"the cell (/proc), keeper RSS sampled every {SAMPLE_S} s\n\n{flood_table}\n\n"
            f"Catch-up: {RATE:,} lines/s, the link cut or frozen by a relay between rtui and sshd "
            f"(settings {OUTAGE_SETTINGS}, keepalive default)\n\n{outage_table}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.keeper",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_FLOOD_LINES:,} lines and a {QUICK_OUTAGE_S:.0f} s outage")
    parser.add_argument("--part", choices=("flood", "outage"), action="append",
                        help="only this part (repeatable; default both)")
    args = parser.parse_args(argv)
    print(machine_line(), flush=True)
    started = time.perf_counter()
    floods, outages = measure(args.quick, args.part or ("flood", "outage"))
    lines = QUICK_FLOOD_LINES if args.quick else FLOOD_LINES
    print(f"\n({time.perf_counter() - started:.1f} s)\n", flush=True)
    print(render(floods, outages, lines), flush=True)
    failed = [row.error for row in floods] + [row.error for row in outages]
    return 1 if any(failed) else 0


if __name__ == "__main__":
    sys.exit(main())
