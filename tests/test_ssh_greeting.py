"""Something other than SSH at a host's port (issue 21): a web server, binary garbage, a
port that accepts and never speaks, one that closes at once. `rtui check` and connecting
(`rtui run`, the TUI's consoles: the same HostConnection) name what was found, with the
start of what it sent, instead of "timeout" or "Connection lost"."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtui.cli.main import main
from rtui.core.config.model import Host
from rtui.core.errors import NotSSHServerError
from rtui.core.ssh.greeting import GreetingWatch, said_text
from tests import reliability
from tests.harness.sshd import SSHD
from tests.ssh_helpers import connection, host_for, trust

GARBAGE = bytes(range(256)) * 8
HTTP_REPLY = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class _Handler(socketserver.BaseRequestHandler):
    """One connection, served as the server's ``behaviour`` says."""

    server: _FakeServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(15)
        behaviour = self.server.behaviour
        if behaviour == "closes":
            return  # closed by socketserver at once
        if behaviour == "garbage":
            sock.sendall(GARBAGE)
        elif behaviour == "http":
            sock.recv(4096)  # a web server reads the request (our SSH version line)...
            sock.sendall(HTTP_REPLY)  # ...answers 400 and closes
            return
        while sock.recv(4096):  # garbage, silent: held until the client gives up
            pass


class _FakeServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, behaviour: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour


@pytest.fixture
def fake_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    server = _FakeServer(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield request.param, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


# behaviour: (error_kind, the message after "127.0.0.1:PORT ", the seconds check and run each
# take with a timeout of 1 s: at once, or at the timeout). A web server waits for the client
# to speak: the check, which waits for an SSH server's greeting, asks it at 3/4 of the time.
AT_ONCE, TIMEOUT = (0.0, 0.9), (0.9, 3.0)
CASES = {"garbage": "binary garbage at the SSH port", "http": "a web server at the SSH port",
         "silent": "accepts and never speaks", "closes": "accepts and closes at once"}
EXPECTED = {
    "garbage": ("not-ssh", "is not an SSH server (it sent binary data: 00 01 02 03 04 05 06 "
                           "07 08 09 0a 0b …)", (AT_ONCE, AT_ONCE)),
    "http": ("not-ssh", "is not an SSH server (it said: 'HTTP/1.1 400 Bad Request')",
             ((0.7, 1.5), AT_ONCE)),
    "silent": ("no-greeting", "accepted the connection but sent no SSH greeting within 1 s "
                              "(not an SSH server, or one too busy to answer)", (TIMEOUT, TIMEOUT)),
    "closes": ("no-greeting", "closed the connection without an SSH greeting (not an SSH "
                              "server, or sshd refusing it: too many connections at once, or "
                              "this address not allowed)", (AT_ONCE, AT_ONCE)),
}


@pytest.mark.reliability
@pytest.mark.parametrize("fake_server", list(EXPECTED), indirect=True)
def test_check_and_run_name_a_server_that_is_not_ssh(
    fake_server: tuple[str, int], isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    behaviour, port = fake_server
    kind, said, windows = EXPECTED[behaviour]
    message = f"127.0.0.1:{port} {said}"
    assert main(["hosts", "add", "srv", "--hostname", "127.0.0.1", "--port", str(port)]) == 0
    hosts_toml = isolated_home / ".config" / "rtui" / "hosts.toml"
    with hosts_toml.open("a") as handle:  # rtui run's connect timeout (10 s by default)
        handle.write("\n[settings]\nconnect_timeout = 1.0\n")
    capsys.readouterr()

    started = time.monotonic()
    assert main(["check", "srv", "--json", "--timeout", "1"]) == 1
    check_took = time.monotonic() - started
    status = json.loads(capsys.readouterr().out)
    assert (status["failed_step"], status["error_kind"], status["error"]) == (
        "ssh", kind, message)

    started = time.monotonic()
    assert main(["run", "srv", "-c", "1"]) == 1
    run_took = time.monotonic() - started
    err = capsys.readouterr().err
    assert err == f"rtui: {message}\n"

    for took, (low, high) in zip((check_took, run_took), windows, strict=True):
        assert low <= took < high, (check_took, run_took)
    reliability.record("bad input", f"server: {CASES[behaviour]} (rtui check, rtui run)",
                       tried=2, seen=message.replace(f":{port} ", ":PORT "), tracebacks=0,
                       hangs=0, files_changed=0)


@pytest.mark.parametrize(
    ("chunks", "verdict"),
    [
        ([b"SSH-2.0-OpenSSH_9.6\r\n", b"\x00\x00\x01\x14binary kexinit"], True),
        ([b"S", b"SH", b"-2.0-x\r\n"], True),  # the version line in pieces
        ([b"Welcome to lab\r\n", b"be nice\r\nSSH-2.0-x\r\n"], True),  # RFC 4253's lines
        ([b"HTTP/1.1 400 Bad Request\r\n"], False),
        ([b"HTT", b"P/1.0 200 OK\r\n"], False),
        ([b"hello\r\n", b"\x15\x03\x03\x00\x02"], False),  # text, then TLS's alert
        ([b"* OK IMAP4rev1 ready\r\n"], None),  # text lines: asyncssh's limits decide
    ],
)
def test_the_watch_waits_for_the_version_line_and_refuses_what_cannot_be_ssh(
    chunks: list[bytes], verdict: bool | None
) -> None:
    """Lines before the version are allowed (RFC 4253); an HTTP status line or bytes no
    text line holds end the attempt at once; the version line ends the watching."""
    watch = GreetingWatch("h:22")
    results = [watch.take(chunk) for chunk in chunks]
    final = next((r for r in results if r is not None), None)
    if verdict is True:
        assert final is True and watch.greeted
    elif verdict is False:
        assert isinstance(final, NotSSHServerError), results
    else:
        assert final is None and not watch.greeted


def test_what_the_server_said_is_one_short_printable_line() -> None:
    assert said_text(b"HTTP/1.1 400 Bad Request\r\nServer: x\r\n") == (
        "it said: 'HTTP/1.1 400 Bad Request'")
    assert said_text(b"\x15\x03\x03\x00\x02\x02\x46") == "it sent binary data: 15 03 03 00 02 02 46"
    assert said_text(b"x" * 500).endswith("x…'") and len(said_text(b"x" * 500)) < 80
    assert said_text("é\x1b[2J".encode() + b"\xff\n") == "it said: 'é\\x1b[2J\\xff'"


def test_the_host_list_names_both_kinds_in_its_status_column() -> None:
    """The TUI's status column shows a check's error_kind through BADGES: each has its own
    words, not the fallback "error"."""
    from rtui.core.ssh.check import HostStatus
    from rtui.tui.widgets.hosts import BADGES, badge_for

    for kind, label in (("not-ssh", "not SSH"), ("no-greeting", "no SSH greeting")):
        status = HostStatus("srv", error="…", error_kind=kind)
        assert badge_for(status, checking=False) == kind
        assert BADGES[kind][0] == label


@pytest.mark.parametrize("fake_server", ["http"], indirect=True)
async def test_through_a_jump_host_the_watch_sees_each_hop(
    fake_server: tuple[str, int], jump_sshd: SSHD, sshd: SSHD, isolated_home: Path
) -> None:
    """A tunnelled hop's bytes come through the jump host's channel: an SSH target is seen
    to greet (and the watch unwrapped), a web server behind the jump host is named."""
    trust(sshd, isolated_home)
    trust(jump_sshd, isolated_home)
    jump = host_for(jump_sshd, "bastion")
    conn, _ = connection(jump, host_for(sshd, "inner", jump=("bastion",)))
    await conn.connect()
    for hop in conn._conns:
        assert hop.get_extra_info("rtui_client").greeting.greeted
        assert "data_received" not in vars(hop)  # the class's own again: nothing in the way
    await conn.close()

    _, port = fake_server
    web = Host("web", hostname="127.0.0.1", port=port, jump=("bastion",))
    conn, _ = connection(jump, web, auto_reconnect=False)
    with pytest.raises(NotSSHServerError) as raised:
        await conn.connect()
    assert str(raised.value) == (f"127.0.0.1:{port} is not an SSH server "
                                 "(it said: 'HTTP/1.1 400 Bad Request')")
    await conn.close()
