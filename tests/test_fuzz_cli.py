"""Bad command lines (issue 21): argv lists made from the real command tree with odd values.

Every command line ends in an exit code (a return or argparse's SystemExit), never another
exception or a traceback, within a bound; a command that fails leaves hosts.toml as it was.
Numbers are ASCII digits, finite and in a stated range; ids are not blank. The hosts every
command may name point at a closed port on 127.0.0.1: nothing connects anywhere or waits.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtui.cli.main import build_parser, main
from rtui.core.crash import EXIT_INTERNAL
from tests import reliability

# Never generated: the demo starts local kernels and a TUI; a token command is run by a
# shell and the keyring is the machine's own.
_SKIPPED_COMMANDS = {("demo",)}  # by their first word
_SKIPPED_OPTIONS = {"--token-command", "--token-keyring", "--help", "-h", "--version"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # in a message: what a terminal obeys
_BOUND_S = 15.0  # seconds one command line may take (a refused connection is milliseconds)

ODD_TEXT = st.one_of(
    st.sampled_from(["", " ", "\t", "\n", "  \u3000 ", "nan", "NaN", "inf", "-inf", "-1", "0",
                     "1e309", "1_0", "0x10", "٢٢", "²", "\U0001d7da\U0001d7da", "22\n", "\x00",
                     "\x1b[31m",
                     "9" * 5000, "-", "--", "lab", "nb", "lab:/x", "/dev/null", "..", "~"]),
    st.text(max_size=30),
    st.text(alphabet=st.characters(categories=["Nd", "No", "Cc", "Zs"]), max_size=8),
    st.integers(-10**30, 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(min_size=2000, max_size=3000),
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def hosts_file(isolated_home: Path, monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str]) -> Path:
    """hosts.toml with an SSH host and a Jupyter host, both at a closed 127.0.0.1 port; the
    working directory a scratch one (cp and envs export write local files)."""
    port = _free_port()  # closed again once bound: a connection to it is refused
    assert main(["hosts", "add", "lab", "--hostname", "127.0.0.1", "--port", str(port)]) == 0
    monkeypatch.setenv("NB_TOKEN", "not-a-real-token")
    assert main(["hosts", "add", "nb", "--jupyter-url", f"http://127.0.0.1:{port}/",
                 "--token-env", "NB_TOKEN"]) == 0
    capsys.readouterr()
    work = isolated_home / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return isolated_home / ".config" / "rtui" / "hosts.toml"


Chain = tuple[tuple[str, argparse.ArgumentParser], ...]


def _commands(parser: argparse.ArgumentParser, chain: Chain = ()) -> Iterator[Chain]:
    """Every command of the tree that runs something (``kernel stop``, not ``kernel``), as
    the chain of (name, parser) from the top: ``files HOST ls`` has a positional on the way."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
            and isinstance(a.choices, dict)]
    if chain and not subs:
        yield chain
    for action in subs:
        for name, sub in action.choices.items():
            yield from _commands(sub, (*chain, (name, sub)))


COMMANDS = [chain for chain in _commands(build_parser())
            if tuple(name for name, _ in chain)[:1] not in _SKIPPED_COMMANDS]


def _value(draw: st.DrawFn, action: argparse.Action) -> str:
    """A value for ``action``: one of its choices, a host name, or odd text."""
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        return draw(st.one_of(st.sampled_from(sorted(map(str, action.choices))), ODD_TEXT))
    return draw(st.one_of(st.sampled_from(["lab", "nb"]), ODD_TEXT))


def _positionals(draw: st.DrawFn, parser: argparse.ArgumentParser) -> list[str]:
    values: list[str] = []
    for action in parser._actions:
        if action.option_strings or isinstance(action, argparse._SubParsersAction):
            continue
        count = 1 if action.nargs in (None, "?", "+") else 0
        if action.nargs in ("*", "+"):
            count = draw(st.integers(count, 2))
        values += [_value(draw, action) for _ in range(count)]
    return values


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """``rtui COMMAND ...``: each level's name and positionals, then a random few of the
    command's options, each with a value that may be odd; now and then an unknown flag or
    a value too many."""
    chain = draw(st.sampled_from(COMMANDS))
    argv: list[str] = []
    for at, (name, parser) in enumerate(chain):
        argv.append(name)
        if at + 1 < len(chain):
            argv += _positionals(draw, parser)  # a group's own (files HOST ...)
    parser = chain[-1][1]
    argv += _positionals(draw, parser)
    options = [a for a in parser._actions if a.option_strings
               and not set(a.option_strings) & _SKIPPED_OPTIONS]
    for action in draw(st.lists(st.sampled_from(options), max_size=4)) if options else []:
        argv.append(draw(st.sampled_from(action.option_strings)))
        if action.nargs != 0:
            argv.append(_value(draw, action))
    if argv[0] == "check":
        argv += ["--timeout", "0.5"]  # the last --timeout wins: nothing waits long
    extra = draw(st.sampled_from([[]] * 9 + [["--no-such-flag"], ["surplus"], ["-Z", "1"]]))
    at = draw(st.integers(0, len(argv)))
    return argv[:at] + extra + argv[at:]


def _run(argv: list[str]) -> tuple[int, str, str, float]:
    """``rtui ARGV`` in this process: its exit code however it ended, stdout, stderr and
    seconds taken; any exception but SystemExit fails the test with the argv."""
    out, err = _stream(), _stream()  # with .buffer: files cat writes bytes
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: object = main(argv)
        except SystemExit as exc:
            code = exc.code
    took = time.monotonic() - started
    assert isinstance(code, int), (argv, code)
    return code, _text(out), _text(err), took


def _stream() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace",
                            write_through=True)


def _text(stream: io.TextIOWrapper) -> str:
    data = stream.buffer.getvalue()  # type: ignore[attr-defined]
    return str(data.decode("utf-8", "backslashreplace"))


@pytest.mark.reliability
def test_any_command_line_ends_in_an_exit_code_and_changes_nothing_when_it_fails(
    hosts_file: Path,
) -> None:
    tried = 0

    @given(argv=command_lines())
    def one(argv: list[str]) -> None:
        nonlocal tried
        before = hosts_file.read_bytes()
        code, out, err, took = _run(argv)
        assert "Traceback" not in err + out, (argv, err)
        assert code != EXIT_INTERNAL and "internal error" not in err, (argv, err)  # a bug
        assert not _CONTROL.search(err), (argv, err)  # a name echoed is escaped: '\\x1b'
        assert took < _BOUND_S, (argv, took)
        if code != 0:
            assert hosts_file.read_bytes() == before, (argv, err)
            assert (err + out).strip(), argv  # a failure says why (check: on stdout)
        else:
            hosts_file.write_bytes(before)  # an accepted edit is undone for the next example
        tried += 1

    one()
    reliability.record("bad input", "CLI arguments: random command lines from the command "
                       "tree (odd values, unknown flags)", tried=tried,
                       seen="an exit code and one line naming what is wrong",
                       tracebacks=0, hangs=0, files_changed=0)



# (argv before the value, argv after it, the range a refusal names)
NUMERIC_OPTIONS = [
    (["check", "--timeout"], [], "above 0 and at most 3600"),
    (["hosts", "add", "x", "--hostname", "h", "--port"], [], "1-65535"),
    (["hosts", "edit", "lab", "--port"], [], "1-65535"),
    (["hosts", "add", "x", "--jupyter-url", "http://h/", "--start-timeout"], [],
     "above 0 and at most 86400"),
    (["log", "lab", "k", "-n"], [], "0-100000000"),
    (["run", "lab", "-c", "1", "--slurm", "--cpus"], [], "1-100000"),
]


def _is_number_in(text: str, low: float, high: float, *, whole: bool) -> bool:
    stripped = text.strip()
    if not stripped.isascii() or not stripped:
        return False
    allowed = set("0123456789" if whole else "0123456789.")
    if set(stripped) - allowed or stripped.count(".") > 1 or stripped == ".":
        return False
    return low <= float(stripped) <= high if whole else low < float(stripped) <= high


_RANGES = {"3600": (0, 3600, False), "1-65535": (1, 65535, True),
           "86400": (0, 86400, False), "0-100000000": (0, 10**8, True),
           "1-100000": (1, 100_000, True)}


@pytest.mark.reliability
def test_numeric_options_take_ascii_digits_in_range_only() -> None:
    """Parsed only (nothing runs): a value is taken exactly when it is a number written in
    0-9 within the option's range; a refusal is exit 2 naming that range."""
    tried = 0

    @given(which=st.sampled_from(NUMERIC_OPTIONS), text=ODD_TEXT)
    def one(which: tuple[list[str], list[str], str], text: str) -> None:
        nonlocal tried
        _number_refused_or_taken(which, text)
        tried += 1

    one()
    reliability.record("bad input", "CLI arguments: numbers (nan, inf, 0, huge, '٢٢', '²')",
                       tried=tried,
                       seen="rtui check: argument --timeout: must be a number of seconds "
                       "above 0 and at most 3600, got 'nan'",
                       tracebacks=0, hangs=0, files_changed=0)


def _number_refused_or_taken(which: tuple[list[str], list[str], str], text: str) -> None:
    before, after, named = which
    if text == "--":
        return  # argparse drops a '--' value (--timeout=-- is no --timeout): not ours to check
    low, high, whole = next(r for key, r in _RANGES.items() if named.endswith(key))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            # --flag=VALUE: argparse takes '-1e+16' after a flag for another flag
            build_parser().parse_args([*before[:-1], f"{before[-1]}={text}", *after])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    said = err.getvalue()
    assert "Traceback" not in said
    if _is_number_in(text, low, high, whole=whole):
        assert code == 0, (before, text, said)
    else:
        assert code == 2, (before, text)
        assert named in said, (before, text, said)


KERNEL_ID_COMMANDS = [
    (["run", "lab", "-c", "1", "-k"], []),
    (["run", "lab", "-c", "1", "--connection-file"], []),
    (["kernel", "stop", "lab"], []),
    (["kernel", "interrupt", "lab"], []),
    (["kernel", "restart", "lab"], []),
    (["log", "lab"], []),
    (["envs", "packages", "lab"], []),
]


@pytest.mark.reliability
def test_blank_kernel_ids_are_refused_before_anything_connects(hosts_file: Path) -> None:
    tried = 0

    @given(which=st.sampled_from(KERNEL_ID_COMMANDS),
           blank=st.text(alphabet=" \t\n\r\x0b\x0c\u3000\u00a0", max_size=5))
    def one(which: tuple[list[str], list[str]], blank: str) -> None:
        nonlocal tried
        before, after = which
        code, _, err, took = _run([*before, blank, *after])
        assert code == 2, (before, blank, err)
        assert "must not be empty" in err or "control characters" in err, err
        assert took < 2.0, took
        tried += 1

    one()
    reliability.record("bad input", "CLI arguments: blank kernel ids (run -k '', log, "
                       "kernel stop)", tried=tried,
                       seen="rtui run: argument -k/--kernel: must not be empty: give a "
                       "kernel id (see `rtui kernels HOST`) or a remote path",
                       tracebacks=0, hangs=0, files_changed=0)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["check", "--timeout", "nan"],
         "argument --timeout: must be a number of seconds above 0 and at most 3600, got 'nan'"),
        (["check", "--timeout", "inf"], "got 'inf'"),
        (["check", "--timeout", "-1"], "got '-1'"),
        (["check", "--timeout", "0"], "got '0'"),
        (["check", "--timeout", "1e9"], "got '1e9'"),
        (["hosts", "add", "x", "--hostname", "h", "--port", "٢٢"],
         "argument --port: must be 1-65535 (a whole number in digits 0-9), got '٢٢'"),
        (["hosts", "add", "x", "--hostname", "h", "--port", "9" * 5000], "got '99999"),
        (["hosts", "add", "x", "--hostname", "h", "--jump", "gw:٢٢"], "bad port '٢٢'"),
        (["run", "lab", "-k", "", "-c", "1"],
         "argument -k/--kernel: must not be empty: give a kernel id (see `rtui kernels HOST`) "
         "or a remote path"),
        (["log", "lab", " "], "argument id: must not be empty"),
        (["kernel", "stop", "lab", "a\nb"], "must not contain control characters, got 'a\\nb'"),
        (["run", "lab", "-c", "1", "--slurm", "--cpus", "٢"], "must be a whole number"),
        (["run", "lab", "-c", "1", "--slurm", "--time", "٢٠"], "is not a time"),
    ],
)
def test_each_defect_found_on_main_is_a_one_line_refusal(
    hosts_file: Path, argv: list[str], said: str
) -> None:
    before = hosts_file.read_bytes()
    code, out, err, _ = _run(argv)
    assert code in (1, 2), (argv, err)
    assert said in err, err
    assert "Traceback" not in err + out
    assert hosts_file.read_bytes() == before
