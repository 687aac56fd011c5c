"""The Jupyter clients without a real server: the token's sources and their order, the
REST errors as sentences (401/403 with the token's source, 404, not a Jupyter server,
refused, no answer), and each TLS failure named, against aiohttp.web servers on loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from rtui.core.errors import KernelDiedError
from rtui.core.jupyter import http as jhttp
from rtui.core.jupyter import secrets
from rtui.core.jupyter.errors import (
    KernelNotFound,
    ServerProtocolError,
    ServerTimeout,
    ServerUnreachable,
    TLSProblem,
    TokenRejected,
    TokenUnavailable,
)
from rtui.core.jupyter.http import ServerClient, api_message
from rtui.core.jupyter.secrets import TokenSource
from rtui.core.jupyter.settings import JupyterSettings
from rtui.core.jupyter.tls import ssl_context
from tests.jupyter_fakes import serve
from tests.tls_certs import make_cert

GOOD = "good-token-5f3a"
URL = "http://127.0.0.1:1/"


def settings(**kwargs: object) -> JupyterSettings:
    return JupyterSettings(url=str(kwargs.pop("url", URL)), **kwargs)  # type: ignore[arg-type]


def py(code: str) -> str:
    """A token_command running ``code`` in this Python (no shell: shlex-split)."""
    return f"{sys.executable} -c '{code}'"


class Asker:
    """The person at the prompt: answers in turn, counting the questions."""

    def __init__(self, *answers: str | None) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    async def __call__(self, prompt: str) -> str | None:
        self.prompts.append(prompt)
        return self.answers.pop(0)


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """keyring's backend from PYTHON_KEYRING_BACKEND (tests/memory_keyring.py), as rtui's
    processes would load it; the previous backend back afterwards."""
    import keyring
    import keyring.core

    from tests import memory_keyring as memory

    before = keyring.get_keyring()
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.memory_keyring.MemoryKeyring")
    keyring.core.init_backend()
    memory.clear()
    yield
    memory.clear()
    keyring.set_keyring(before)


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import keyring
    import keyring.core

    before = keyring.get_keyring()
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    keyring.core.init_backend()
    yield
    keyring.set_keyring(before)


# --- the token's sources -------------------------------------------------------------------

async def test_env_first_then_cached_and_a_missing_variable_named(
        monkeypatch: pytest.MonkeyPatch, memory_keyring: None) -> None:
    secrets.save_token("lab", "from-keyring")
    monkeypatch.setenv("LAB_TOKEN", " from-env \n")
    source = TokenSource("lab", settings(token_env="LAB_TOKEN", token_keyring=True))
    assert source.describe() == "$LAB_TOKEN"
    assert await source.get() == "from-env"
    monkeypatch.setenv("LAB_TOKEN", "changed")
    assert await source.get() == "from-env"  # kept for the run
    source.rejected()
    assert not source.can_retry  # the variable would give the same one again
    monkeypatch.delenv("LAB_TOKEN")
    with pytest.raises(TokenUnavailable, match=r"\$LAB_TOKEN, which is not set") as caught:
        await TokenSource("lab", settings(token_env="LAB_TOKEN"), ask=Asker("x")).get()
    assert caught.value.error_kind == "token"


async def test_command_gives_its_first_line_before_the_keyring(memory_keyring: None) -> None:
    secrets.save_token("lab", "from-keyring")
    source = TokenSource("lab", settings(
        token_command=py('print("tok-1"); print("second line")'), token_keyring=True))
    assert await source.get() == "tok-1"
    assert source.describe().startswith("the command '")


async def test_a_failed_command_names_its_exit_and_last_stderr_line_never_stdout(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    command = py('import sys; print("SEC" + "RET-OUT"); print("first", file=sys.stderr); '
                 'print("gpg: decryption failed", file=sys.stderr); sys.exit(3)')
    with pytest.raises(TokenUnavailable) as caught:
        await TokenSource("lab", settings(token_command=command)).get()
    assert "failed (exit 3): gpg: decryption failed" in str(caught.value)
    assert "SECRET-OUT" not in str(caught.value) and "SECRET-OUT" not in caplog.text
    with pytest.raises(TokenUnavailable, match="printed nothing"):
        await TokenSource("lab", settings(token_command=py("pass"))).get()
    with pytest.raises(TokenUnavailable, match="cannot run"):
        await TokenSource("lab", settings(token_command="/nonexistent/pass show x")).get()


async def test_a_command_that_hangs_is_bounded() -> None:
    source = TokenSource("lab", settings(token_command=py("import time; time.sleep(30)")),
                         command_timeout=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TokenUnavailable, match=r"gave no token within 0.5 s"):
        await source.get()
    assert loop.time() - started < 5


async def test_keyring_then_asked_and_a_rejected_keyring_token_asks(
        memory_keyring: None) -> None:
    secrets.save_token("lab", "stale")
    asker = Asker("typed-1", "typed-2")
    source = TokenSource("lab", settings(token_keyring=True), ask=asker)
    assert source.describe() == "the keyring"
    assert await source.get() == "stale" and asker.prompts == []
    source.rejected()
    assert source.can_retry
    assert await source.get() == "typed-1"
    assert source.describe() == "what you typed"
    assert asker.prompts == [f"Token for {URL}"]
    source.rejected()
    assert await source.get() == "typed-2"
    # Nothing stored for this host: asked at once.
    assert await TokenSource("other", settings(token_keyring=True), ask=Asker("t")).get() == "t"


async def test_no_keyring_is_one_clear_sentence(no_keyring: None) -> None:
    assert not secrets.keyring_works()
    with pytest.raises(TokenUnavailable, match="no OS keyring on this machine"):
        await TokenSource("lab", settings(token_keyring=True)).get()
    with pytest.raises(TokenUnavailable, match="no OS keyring on this machine"):
        secrets.save_token("lab", "x")
    # With someone to ask, they are asked instead.
    assert await TokenSource("lab", settings(token_keyring=True), ask=Asker("t")).get() == "t"


async def test_nobody_to_ask_or_nothing_typed(memory_keyring: None) -> None:
    assert secrets.keyring_works()
    with pytest.raises(TokenUnavailable, match="set token_env, token_command or token_keyring"):
        await TokenSource("lab", settings()).get()
    with pytest.raises(TokenUnavailable, match="no token given"):
        await TokenSource("lab", settings(), ask=Asker(None)).get()
    with pytest.raises(TokenUnavailable, match="the keyring holds no token for it"):
        await TokenSource("lab", settings(token_keyring=True)).get()


# --- REST against a fake server -------------------------------------------------------------

def fake_server() -> web.Application:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"token {GOOD}":
            return web.json_response({"message": "Forbidden"}, status=403)
        if request.path == "/api/kernels":
            return web.json_response([{"id": "k1", "name": "python3", "connections": 1,
                                       "execution_state": "idle", "last_activity": None}])
        if request.path == "/api/kernels/k1/channels":
            return web.json_response({"message": "Forbidden"}, status=403)
        return web.json_response({"message": f"Kernel does not exist: {request.path[13:]}"},
                                 status=404)

    async def version(_: web.Request) -> web.StreamResponse:
        return web.json_response({"version": "9.9.9"})

    async def html(_: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>hi</html>", content_type="text/html")

    async def login(_: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/hub/login?next=x")

    app = web.Application()
    app.router.add_get("/api", version)
    app.router.add_get("/html/api", html)
    app.router.add_get("/login/api", login)
    app.router.add_route("*", "/api/kernels{tail:.*}", guarded)
    return app


async def test_a_refused_token_is_named_with_its_source(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("LAB_TOKEN", "wrong-token-9d1")
    async with serve(fake_server()) as url:
        client = ServerClient("lab", url, TokenSource("lab", settings(url=url,
                                                                      token_env="LAB_TOKEN")))
        try:
            assert await client.version() == "9.9.9"
            with pytest.raises(TokenRejected) as caught:
                await client.kernels()
        finally:
            await client.close()
    assert str(caught.value) == "lab refused the token (HTTP 403); it comes from $LAB_TOKEN"
    assert caught.value.error_kind == "token"
    assert "wrong-token-9d1" not in caplog.text


async def test_a_typed_token_refused_is_asked_again_once() -> None:
    async with serve(fake_server()) as url:
        asker = Asker("bad", GOOD)
        client = ServerClient("lab", url, TokenSource("lab", settings(url=url), ask=asker))
        try:
            assert [k.id for k in await client.kernels()] == ["k1"]
            assert len(asker.prompts) == 2
            twice_bad = ServerClient("lab", url, TokenSource("lab", settings(url=url),
                                                             ask=Asker("bad", "worse", GOOD)))
            with pytest.raises(TokenRejected, match="it comes from what you typed"):
                await twice_bad.kernels()
            await twice_bad.close()
        finally:
            await client.close()


async def test_not_found_and_not_a_jupyter_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_TOKEN", GOOD)
    async with serve(fake_server()) as url:
        tokens = TokenSource("lab", settings(url=url, token_env="LAB_TOKEN"))
        client = ServerClient("lab", url, tokens)
        try:
            with pytest.raises(KernelNotFound, match="lab: kernel nope is gone from the server"
                               ) as gone:
                await client.kernel("nope")
            assert isinstance(gone.value, KernelDiedError) and gone.value.error_kind == "gone"
            with pytest.raises(KernelNotFound):
                await client.delete("nope")
            with pytest.raises(TokenRejected):  # the ws handshake's 403
                await client.open_websocket("k1", "s1", protocols=("v1",))
        finally:
            await client.close()
        for base, words in ((url + "nothing/", r"is not there \(HTTP 404\)"),
                            (url + "html/", "did not answer with JSON"),
                            (url + "login/", "redirects to /hub/login")):
            other = ServerClient("lab", base, tokens)
            with pytest.raises(ServerProtocolError, match=words) as caught:
                await other.version()
            assert caught.value.error_kind == "protocol"
            await other.close()
    assert api_message(b'{"status": 400, "message": "alice is already running"}') == \
        "alice is already running"


async def test_nothing_answers_and_no_answer_are_bounded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_TOKEN", GOOD)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    client = ServerClient("lab", url, TokenSource("lab", settings(url=url,
                                                                  token_env="LAB_TOKEN")))
    with pytest.raises(ServerUnreachable, match=fr"^lab: nothing answers at {url} \(Connection "
                                                fr"refused\)$") as caught:
        await client.kernels()
    assert caught.value.error_kind == "unreachable"
    await client.close()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        await asyncio.sleep(30)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    monkeypatch.setattr(jhttp, "CALL_BOUND", 0.3)
    client = ServerClient("lab", url, TokenSource("lab", settings(url=url,
                                                                  token_env="LAB_TOKEN")),
                          connect_timeout=0.2)
    try:
        with pytest.raises(ServerTimeout, match=r"no answer from .* within 0.5 s"):
            await client.kernels()
    finally:
        await client.close()
        server.close()


# --- TLS ----------------------------------------------------------------------------------

def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def version_over(url: str, ca_file: Path | None) -> str:
    client = ServerClient("lab", url, TokenSource("lab", settings(url=url, token_env="T")),
                          ssl=ssl_context(str(ca_file) if ca_file else None),
                          connect_timeout=5)
    try:
        return await client.version()
    finally:
        await client.close()


@pytest.mark.parametrize("case,words", [
    ("self-signed", "lab's certificate is self-signed: set ca_file to a file that holds it"),
    ("expired", "lab's certificate has expired"),
    ("other-name", "lab's certificate is not for '127.0.0.1'"),
    ("unknown-ca", "issued by a CA rtui does not know: set ca_file to that CA's certificate"),
    ("chain", "chain ends in a self-signed CA rtui does not trust"),
])
async def test_each_certificate_problem_is_a_sentence(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, words: str) -> None:
    monkeypatch.setenv("T", GOOD)
    made = {
        "self-signed": lambda: make_cert(tmp_path, case),
        "expired": lambda: make_cert(tmp_path, case, expired=True),
        "other-name": lambda: make_cert(tmp_path, case, names=("lab.example.test",)),
        "unknown-ca": lambda: make_cert(tmp_path, case, signed_by_ca=True),
        "chain": lambda: make_cert(tmp_path, case, signed_by_ca=True, send_chain=True),
    }[case]()
    # The ones a ca_file could fix are tried without it; the others with the cert trusted.
    trusted = made.cert if case in ("expired", "other-name") else None
    async with serve(fake_server(), tls=server_tls(made.cert, made.key)) as url:
        with pytest.raises(TLSProblem) as caught:
            await version_over(url, trusted)
        if case == "self-signed":
            assert await version_over(url, made.cert) == "9.9.9"  # ca_file trusts it
        if case == "chain":
            assert await version_over(url, made.ca) == "9.9.9"
    assert words in str(caught.value)
    assert "rtui never turns verification off" in str(caught.value)
    assert caught.value.error_kind == "tls"


async def test_http_and_https_confused_are_named(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T", GOOD)
    made = make_cert(tmp_path, "srv")
    async with serve(fake_server(), tls=server_tls(made.cert, made.key)) as url:
        with pytest.raises(TLSProblem, match="if it serves https, the url must start with "
                                             "https://"):
            await version_over(url.replace("https://", "http://"), None)
    async with serve(fake_server()) as url:
        with pytest.raises((TLSProblem, ServerTimeout),
                           match="if it serves plain http, the url must start with http://"):
            await version_over(url.replace("http://", "https://"), made.cert)


def test_a_ca_file_that_is_missing_or_not_pem(tmp_path: Path) -> None:
    with pytest.raises(TLSProblem, match="no such file"):
        ssl_context(str(tmp_path / "nope.pem"))
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    with pytest.raises(TLSProblem, match="holds no PEM certificate"):
        ssl_context(str(tmp_path / "junk.pem"))
    assert ssl_context(None) is None
