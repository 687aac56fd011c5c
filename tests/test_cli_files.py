"""``rtui files`` and ``rtui cp``: what they print (pure shapes), then the real command in a
subprocess against the real sshd."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import io
import json
import os
import pty
import shutil
import signal
import stat
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rtui.cli.file_output import (
    ProgressLine,
    entry_json,
    listing_rows,
    progress_line,
    stat_line,
)
from rtui.core.files.model import Entry
from rtui.core.units import byte_size, clock
from tests.conftest import run_rtui
from tests.harness.relay import TCPRelay
from tests.harness.sshd import SSHD
from tests.ssh_helpers import trust

# -- pure shapes -----------------------------------------------------------------------------

NOON = 1796646896.0  # 2026-12-07 12:34:56 UTC


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@dataclass(frozen=True)
class Progress:
    file: str
    done: int
    total: int
    files_done: int = 0
    files_total: int = 1
    rate: float = 0.0
    eta: float | None = None


def test_sizes_and_durations_read_like_scp() -> None:
    assert [byte_size(n) for n in (0, 1023, 1536, 120 * 2**20, 5 * 2**40, 2**60)] == [
        "0 B", "1023 B", "1.5 KiB", "120 MiB", "5.0 TiB", "1024 PiB"]
    assert [clock(s) for s in (0, 2.6, 725, 3723)] == ["0:00", "0:03", "12:05", "1:02:03"]


def test_listing_rows_escape_names_and_align_sizes(utc: None) -> None:
    entries = [
        Entry("data", "dir", 4096, NOON, stat.S_IFDIR | 0o755),
        Entry("a b\nc é漢.txt", "file", 7, NOON, stat.S_IFREG | 0o644),
        Entry("bad-\udcff.bin", "file", 123456, NOON, stat.S_IFREG | 0o600),
        Entry("loop", "link", 4, NOON, stat.S_IFLNK | 0o777, "lo\top", None),
    ]
    rows = listing_rows(entries)
    assert rows == [
        "drwxr-xr-x    4096  2026-12-07 12:34  data",
        "-rw-r--r--       7  2026-12-07 12:34  a b\\nc é漢.txt",
        "-rw-------  123456  2026-12-07 12:34  bad-\\xff.bin",
        "lrwxrwxrwx       4  2026-12-07 12:34  loop -> lo\\top",
    ]
    assert listing_rows([]) == []


def test_stat_line_and_json_keep_what_the_terminal_cannot_show(utc: None) -> None:
    entry = Entry("x\ny", "file", 10, NOON, stat.S_IFREG | 0o640)
    assert stat_line("dir/x\ny", entry, target="t\x1b") == (
        "dir/x\\ny -> t\\x1b: file, 10 bytes, mode 0640 (-rw-r-----), "
        "modified 2026-12-07 12:34:56")
    odd = Entry("bad-\udcff\n", "file", 1, NOON, stat.S_IFREG | 0o644)
    back = json.loads(json.dumps(entry_json(odd, path="p")))
    assert back == {"path": "p", "name": "bad-\udcff\n", "kind": "file", "size": 1,
                    "mtime": NOON, "mode": stat.S_IFREG | 0o644, "target": None,
                    "target_kind": None}


def test_progress_line_fits_its_width_and_cuts_the_name_on_the_left() -> None:
    p = Progress("dir/results.csv", 45 * 2**20, 100 * 2**20, rate=85 * 2**20, eta=2.7)
    line = progress_line(p, 60)
    assert line.split() == ["results.csv", "45%", "45", "MiB", "85", "MiB/s", "ETA", "0:03"]
    assert len(line) == 59
    long = Progress("/x/" + "n" * 100 + "-end.bin", 0, 0, files_done=3, files_total=10)
    line = progress_line(long, 70)
    assert len(line) == 69 and line.startswith("…") and "-end.bin  3/10  100%" in line
    assert line.split()[-5:] == ["B", "0", "B/s", "ETA", "--:--"]
    assert progress_line(p, 60, elapsed=65).rstrip().endswith("85 MiB/s  1:05")
    folder = progress_line(long, 70, elapsed=1, name="~/runs/out/")
    assert folder.startswith("out  ") and "3/10" in folder  # a folder ends under its name
    narrow = progress_line(long, 30)
    assert len(narrow) == 29 and narrow.startswith("…")  # the end is what goes
    assert "\\n" in progress_line(Progress("a\nb", 1, 2), 40)  # still one line


def test_progress_is_redrawn_at_most_ten_times_a_second_and_ended_once() -> None:
    now = [0.0]
    out = io.StringIO()
    line = ProgressLine(out, width=lambda: 40, clock=lambda: now[0])
    line.finish(complete=True)
    assert out.getvalue() == ""  # nothing came: nothing to end
    for t, done in ((0.0, 1), (0.05, 2), (0.09, 3), (0.11, 4), (0.15, 5)):
        now[0] = t
        line.update(Progress("f", done * 1000, 10_000))
    draws = out.getvalue().split("\r")[1:]
    assert [d.split()[1] for d in draws] == ["10%", "40%"]  # at 0.0 and 0.11 only
    assert "3.9 KiB" in draws[1] and "\n" not in out.getvalue()
    now[0] = 2.0
    line.update(Progress("f", 10_000, 10_000))
    line.finish(complete=True)
    final = out.getvalue().split("\r")[-1]
    assert final.endswith("\n") and final.rstrip().endswith("0:02") and "100%" in final
    assert len(final) == len(draws[1]) + 1  # padded over the longer line before it
    assert all(len(d.rstrip("\n")) <= 39 for d in out.getvalue().split("\r"))


# -- the real command against the real sshd --------------------------------------------------

ODD = "a b\nc é漢.txt"
BAD = os.fsdecode(b"bad-\xff.bin")  # not UTF-8: a lone surrogate here
BIG = 8 * 2**20


@pytest.fixture(scope="module")
def tree(sshd: SSHD) -> Iterator[Path]:
    """``~/clifiles`` on the host (this machine's disk: the tests look at it directly): a
    ``data`` folder with odd names, a hidden file, a link loop and a folder, and a big file.
    Each test that changes things does so in a folder of its own."""
    root = sshd.remote_home / "clifiles"
    data = root / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("alpha\n")
    (data / "b b.bin").write_bytes(bytes(range(256)) * 4)
    (data / ".hidden").write_text("h")
    (data / ODD).write_text("odd\n")
    (data / BAD).write_bytes(b"\xff")
    (data / "sub" / "inner.txt").write_text("inner\n")
    (data / "loop").symlink_to("loop")
    (root / "big.bin").write_bytes(os.urandom(BIG))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def write_hosts(config_file: Path, sshd: SSHD, **ports: int) -> None:
    """Hosts ``lab`` and ``lab2`` (both the session's sshd: host to host) and any named in
    ``ports`` (a relay in front of it)."""
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text("".join(
        f"[[hosts]]\nname = \"{name}\"\nhostname = \"127.0.0.1\"\nport = {port}\n"
        f"user = \"{sshd.user}\"\nidentity_files = [\"{sshd.client_key}\"]\n"
        for name, port in {"lab": sshd.port, "lab2": sshd.port, **ports}.items()))


@pytest.fixture
def lab(sshd: SSHD, tree: Path, isolated_home: Path, config_file: Path) -> Path:
    """The hosts file and known_hosts of this test's HOME; the tree on the host."""
    trust(sshd, isolated_home)
    write_hosts(config_file, sshd)
    return tree


def rtui_bytes(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "rtui", *args], capture_output=True,
                          timeout=60, env=dict(os.environ))


def ok(*args: str) -> str:
    result = run_rtui(*args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # piped: no progress, nothing else either
    return result.stdout


def test_ls_stat_cat(lab: Path) -> None:
    rows = ok("files", "lab", "ls", "clifiles/data").splitlines()
    assert [r.split("  ")[-1] for r in rows] == [
        "a b\\nc é漢.txt", "a.txt", "b b.bin", "bad-\\xff.bin", "loop -> loop", "sub"]
    assert rows[2].startswith("-rw-") and " 1024  " in rows[2]
    assert rows[5].startswith("drwx") and rows[4].startswith("lrwx")

    listed = json.loads(ok("files", "lab", "ls", "-a", "--json", "clifiles/data"))
    by_name = {e["name"]: e for e in listed}
    assert set(by_name) == {".hidden", ODD, "a.txt", "b b.bin", BAD, "loop", "sub"}
    assert by_name["loop"]["kind"] == "link" and by_name["loop"]["target"] == "loop"
    assert by_name["sub"]["kind"] == "dir" and by_name["a.txt"]["size"] == 6

    one = ok("files", "lab", "ls", "clifiles/data/a.txt").splitlines()
    assert len(one) == 1 and one[0].endswith("  clifiles/data/a.txt")

    result = run_rtui("files", "lab", "stat", "--json", "clifiles/data/a.txt",
                      "clifiles/data/loop", "clifiles/data/nope")
    assert result.returncode == 1
    assert [(e["path"], e["kind"], e["size"]) for e in json.loads(result.stdout)] == [
        ("clifiles/data/a.txt", "file", 6)]
    said = result.stderr.splitlines()
    assert len(said) == 2 and all(line.startswith("rtui: lab:") for line in said), said
    assert "clifiles/data/loop: symlink loop" in said[0]
    assert "clifiles/data/nope" in said[1] and "no such" in said[1].lower()
    assert ok("files", "lab", "stat", "clifiles/data/sub").startswith(
        "clifiles/data/sub: dir, ")

    raw = rtui_bytes("files", "lab", "cat", "clifiles/data/b b.bin", "clifiles/nope",
                     f"clifiles/data/{BAD}")
    assert raw.returncode == 1
    assert raw.stdout == bytes(range(256)) * 4 + b"\xff"  # both, as they are
    assert b"clifiles/nope" in raw.stderr

    result = run_rtui("files", "lab", "ls", "clifiles/nothing-here")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("rtui: lab:") and "clifiles/nothing-here" in result.stderr


def test_mkdir_mv_rm(lab: Path) -> None:
    work = lab / "work"
    ok("files", "lab", "mkdir", "-p", "clifiles/work/x/y", "clifiles/work/z")
    assert (work / "x" / "y").is_dir() and (work / "z").is_dir()
    result = run_rtui("files", "lab", "mkdir", "clifiles/work/x", "clifiles/work/w")
    assert result.returncode == 1 and "clifiles/work/x" in result.stderr  # exists: said
    assert (work / "w").is_dir()  # and the rest goes on

    for name in ("f1", ODD):
        (work / name).write_text(name)
    ok("files", "lab", "mv", "clifiles/work/f1", f"clifiles/work/{ODD}", "clifiles/work/z")
    assert sorted(p.name for p in (work / "z").iterdir()) == sorted(["f1", ODD])
    ok("files", "lab", "mv", "clifiles/work/z/f1", "clifiles/work/renamed")
    assert (work / "renamed").read_text() == "f1"
    result = run_rtui("files", "lab", "mv", "clifiles/work/renamed", "clifiles/work/w",
                      "clifiles/work/z/" + ODD)  # several sources into a file: refused
    assert result.returncode == 1 and "not a directory" in result.stderr
    assert (work / "renamed").exists()

    (work / "f2").write_text("f2")
    (work / "f3").write_text("f3")
    result = run_rtui("files", "lab", "rm", "clifiles/work/w", "clifiles/work/f2",
                      "clifiles/work/gone", "clifiles/work/f3", "clifiles/work/gone2")
    assert result.returncode == 1 and "clifiles/work/w: is a directory" in result.stderr
    assert (work / "w").is_dir() and not (work / "f2").exists()  # rm's habit: -r for any dir
    assert not (work / "f3").exists()  # after a missing path: the rest went too
    said = result.stderr.splitlines()  # a line each, in order
    assert len(said) == 3 and [("gone" in s, "gone2" in s) for s in said[1:]] == [
        (True, False), (True, True)]
    result = run_rtui("files", "lab", "rm", "-r", "clifiles/work/gone", "clifiles/work/x")
    assert result.returncode == 1 and "clifiles/work/gone" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and not (work / "x").exists()  # went on
    ok("files", "lab", "rm", "-rf", "clifiles/work/gone", "clifiles/work/z",
       "clifiles/work/renamed")
    assert sorted(p.name for p in work.iterdir()) == ["w"]


def test_cp_up_down_host_to_host(lab: Path, tmp_path: Path) -> None:
    here = tmp_path / "here"
    (here / "folder" / "deep").mkdir(parents=True)
    (here / "folder" / "deep" / ODD).write_text("deep")
    (here / "x:y").write_text("a local name with a colon")
    (lab / "up").mkdir()
    ok("cp", str(here / "x:y"), f"lab:clifiles/up/{ODD}")  # a local name, then renamed
    assert (lab / "up" / ODD).read_text() == "a local name with a colon"
    ok("cp", "-r", str(here / "folder"), "lab:clifiles/up/")
    assert (lab / "up" / "folder" / "deep" / ODD).read_text() == "deep"
    os.mkfifo(here / "folder" / "fifo")  # never opened, left out, and said
    result = run_rtui("cp", "-r", str(here / "folder"), "lab:clifiles/up/again")
    assert result.returncode == 0 and result.stderr == (
        f"rtui: {here}/folder/fifo: not a regular file (FIFO, socket or device): not copied\n")
    assert not (lab / "up" / "again" / "fifo").exists()
    (here / "folder" / "fifo").unlink()

    down = tmp_path / "down"
    down.mkdir()
    ok("cp", "-r", "lab:clifiles/data/sub", f"lab:clifiles/data/{BAD}", "lab:~/clifiles/big.bin",
       str(down))
    assert (down / "sub" / "inner.txt").read_text() == "inner\n"
    assert (down / BAD).read_bytes() == b"\xff"
    assert digest(down / "big.bin") == digest(lab / "big.bin")

    ok("cp", "--checksum", "lab:clifiles/big.bin", "lab2:clifiles/up/copy.bin")  # via here
    assert digest(lab / "up" / "copy.bin") == digest(lab / "big.bin")

    # scp's habits: each failure said, the rest goes on, 1 at the end
    result = run_rtui("cp", "lab:clifiles/nope", "lab:clifiles/data/a.txt", str(down))
    assert result.returncode == 1 and "clifiles/nope" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and (down / "a.txt").read_text() == "alpha\n"
    result = run_rtui("cp", "lab:clifiles/data/sub", str(tmp_path / "nosub"))
    assert result.returncode == 2 and "-r" in result.stderr  # a directory needs -r: usage
    assert not (tmp_path / "nosub").exists()
    leftovers = [p for p in (*down.rglob("*"), *(lab / "up").rglob("*")) if ".rtui-" in p.name]
    assert leftovers == []


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("args", "message"), [
    (("cp", "lab:x"), "the following arguments are required"),
    (("cp", "a", "b"), "no HOST:PATH among the paths"),
    (("cp", "nohost:x", "lab:y"), "no host named 'nohost' (known: lab, lab2)"),
    (("files", "lab"), "usage:"),
    (("files", "lab", "mv", "x"), "the following arguments are required"),
])
def test_usage_errors_exit_2(lab: Path, args: tuple[str, ...], message: str) -> None:
    result = run_rtui(*args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


async def test_progress_on_a_terminal_and_ctrl_c_keeps_the_part_for_resume(
    lab: Path, sshd: SSHD, tmp_path: Path, isolated_home: Path, config_file: Path,
) -> None:
    """On a pty the progress line is drawn (at most 10 times a second); ctrl+c ends with
    130 and leaves the part, not the final name; --resume then finishes the copy."""
    down = tmp_path / "down"
    down.mkdir()
    async with TCPRelay("127.0.0.1", sshd.port) as relay:
        relay.bandwidth = 3e6  # the 8 MiB take ~3 s: time to see progress and stop it
        write_hosts(config_file, sshd, slow=relay.port)
        with (isolated_home / ".ssh" / "known_hosts").open("a") as known:
            known.write(relay.known_hosts_line(sshd.host_key_pub) + "\n")
        drawn, code, seconds = await cp_on_a_pty("slow:clifiles/big.bin", str(down))
        assert code == 130, drawn
        assert "\r" in drawn and "big.bin" in drawn and "%" in drawn and "MiB/s" in drawn
        assert drawn.count("\r") <= 10 * seconds + 3  # redrawn at most 10 times a second
        assert "--resume" in drawn
        kept = list(down.iterdir())
        assert len(kept) == 1 and kept[0].name.startswith(".big.bin.rtui-"), kept
        assert 0 < kept[0].stat().st_size <= BIG

        # The link cut mid-copy: said, exit 1, the part kept, and --resume named.
        cut, code, _ = await cp_on_a_pty("--resume", "slow:clifiles/big.bin", str(down),
                                         stop=relay.cut)
        assert code == 1, cut
        assert "lost the connection to slow" in cut and "with --resume goes on" in cut, cut
        assert [p.name for p in down.iterdir()] == [kept[0].name]

        relay.bandwidth = None
        resumed = await asyncio.to_thread(
            run_rtui, "cp", "--resume", "slow:clifiles/big.bin", str(down))
    assert resumed.returncode == 0 and resumed.stderr == "", resumed.stderr
    assert [p.name for p in down.iterdir()] == ["big.bin"]
    assert digest(down / "big.bin") == digest(lab / "big.bin")


async def cp_on_a_pty(*args: str, stop: Callable[[], None] | None = None
                      ) -> tuple[str, int, float]:
    """``rtui cp ARGS`` with stderr on a pty, stopped by SIGINT (or ``stop``) once its
    progress says 10-90 %; what it drew, its exit code and how long it ran."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rtui", "cp", *args, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=slave, env=dict(os.environ))
    os.close(slave)
    os.set_blocking(master, False)
    drawn = bytearray()
    got = asyncio.Event()
    loop = asyncio.get_running_loop()

    def read() -> None:
        try:
            drawn.extend(os.read(master, 65536))
        except OSError:  # the other end closed
            loop.remove_reader(master)
        got.set()

    loop.add_reader(master, read)
    try:
        deadline = started + 30
        while not any(f" {p}%" in drawn.decode(errors="replace") for p in range(10, 90)):
            assert process.returncode is None, drawn
            got.clear()
            try:
                await asyncio.wait_for(got.wait(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                raise AssertionError(f"no progress between 10 and 90 %: {drawn!r}") from None
        if stop is None:
            process.send_signal(signal.SIGINT)
        else:
            stop()
        code = await asyncio.wait_for(process.wait(), 30)
        await asyncio.sleep(0.1)  # the last of what it wrote
    finally:
        loop.remove_reader(master)
        with contextlib.suppress(OSError):
            drawn.extend(os.read(master, 65536))
        os.close(master)
        if process.returncode is None:
            process.kill()
            await process.wait()
    return drawn.decode(errors="replace"), code, time.monotonic() - started
