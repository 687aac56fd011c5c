"""A Jupyter Server's REST API over aiohttp: kernelspecs, kernels, and the kernel websocket.

aiohttp does REST, the websocket and the hub's event stream with one TLS setup and one
error family (DESIGN20 §2). Every wait is bounded: the connect by aiohttp's ``sock_connect``,
each call by our own bound around it. The token goes in the ``Authorization`` header only,
never in a URL, a log line or a message: those name where it came from.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import aiohttp

from rtui.core.jupyter.errors import (
    KernelNotFound,
    ServerError,
    ServerProtocolError,
    ServerTimeout,
    ServerUnreachable,
    TokenRejected,
)
from rtui.core.jupyter.secrets import TokenSource
from rtui.core.jupyter.tls import tls_problem

__all__ = [
    "HUB_SCOPES", "ConnectorFactory", "JupyterHttp", "KernelSpecs", "ServerClient",
    "ServerKernelInfo", "api_message", "os_reason",
]

log = logging.getLogger(__name__)

HUB_SCOPES = ("servers!user", "access:servers!user", "read:servers!user",
              "read:users:activity!user")
"""The scopes a JupyterHub token needs for rtui (start and stop the user's servers, reach
them, read their state), named when a hub's 403 says a scope is missing."""
CALL_BOUND = 30.0
"""A REST call's bound past the connect: the server answers these in milliseconds."""
START_BOUND = 60.0
"""Starting a kernel: the server launches it before it answers (0.2 s here)."""
RESTART_BOUND = 90.0
"""A restart answers once the new kernel is ready (the server waits up to 60 s for it)."""
WS_OPEN_BOUND = 60.0
"""The first websocket on a booting kernel opens once the kernel answers (0.6 s here)."""
# Bodies of a 401/403 that say nothing beyond "bad token" (jupyter_server, JupyterHub).
_PLAIN_REFUSALS = ("forbidden", "unauthorized", "missing or invalid credentials.")

ConnectorFactory = Callable[[], Awaitable[aiohttp.BaseConnector]]


@dataclass(frozen=True)
class ServerKernelInfo:
    """A kernel as the server's ``api/kernels`` lists it."""

    id: str
    name: str
    execution_state: str
    last_activity: str | None
    connections: int


@dataclass(frozen=True)
class KernelSpecs:
    """The server's kernelspecs: the default one's name and name -> display name."""

    default: str
    specs: dict[str, str]


def os_reason(exc: OSError) -> str:
    """An OS error in a few words: "Connection refused", "Name or service not known"
    (asyncio's own text wraps them as "Connect call failed ('127.0.0.1', 1)")."""
    if exc.errno and exc.errno > 0 and not isinstance(exc, socket.gaierror):
        return os.strerror(exc.errno)
    return exc.strerror or str(exc) or type(exc).__name__


def api_message(body: bytes) -> str:
    """The ``message`` of a Jupyter error body (``{"message": ...}``), else its first line."""
    text = body.decode(errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text.splitlines()[0][:200] if text else ""
    if isinstance(data, dict):  # a hub's 403 may say {"status": 403, "message": null}
        message = data.get("message") or data.get("reason")
        return message if isinstance(message, str) else ""
    return text[:200]


class JupyterHttp:
    """One aiohttp session to a Jupyter Server or JupyterHub: auth, bounds, error mapping.
    ServerClient and HubClient are this plus their API's paths."""

    def __init__(self, name: str, base_url: str, tokens: TokenSource, *,
                 ssl: ssl.SSLContext | None = None, connector: ConnectorFactory | None = None,
                 connect_timeout: float = 15.0) -> None:
        self.name = name
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.tokens = tokens
        self._ssl = ssl
        self._connector = connector
        self.connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None
        self._session_lock = asyncio.Lock()

    def url(self, path: str) -> str:
        """``path`` (relative, as "api/kernels") under the base URL."""
        return urljoin(self.base_url, path)

    async def close(self) -> None:
        """Close the session and its connections (a via route's connector with it)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _http(self) -> aiohttp.ClientSession:
        async with self._session_lock:
            if self._session is None or self._session.closed:
                connector = await self._connector() if self._connector is not None else None
                # sock_connect bounds the TCP connect and the TLS handshake (an https URL
                # on a plain-http port hangs there); the calls have their own bounds.
                timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout)
                self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
            return self._session

    @property
    def ssl_arg(self) -> ssl.SSLContext | bool:
        """What aiohttp's ``ssl=`` gets: the ca_file's context, or the system's CAs.
        Never False."""
        return self._ssl if self._ssl is not None else True

    async def _headers(self) -> dict[str, str]:
        return {"Authorization": f"token {await self.tokens.get()}"}

    @contextlib.asynccontextmanager
    async def _open(self, method: str, path: str, *, body: Any = None,
                    params: dict[str, str] | None = None, what: str | None = None,
                    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The response to one call with the token, past any 401/403 (the token's source
        is asked again once when it can give another); unbounded: callers bound it."""
        url = self.url(path)
        for attempt in range(2):
            headers = await self._headers()
            started = time.perf_counter()
            try:
                async with (await self._http()).request(
                        method, url, json=body, params=params, headers=headers,
                        ssl=self.ssl_arg, allow_redirects=False) as response:
                    log.debug("%s: %s %s -> %d in %.0f ms", self.name, method, path,
                              response.status, (time.perf_counter() - started) * 1000)
                    if response.status in (401, 403):
                        refused = self._refused(response.status, await response.read())
                        if attempt == 0 and self.tokens.can_retry:
                            continue
                        raise refused
                    yield response
                    return
            except aiohttp.ClientError as exc:
                raise self.failure(exc, url) from None
            except OSError as exc:
                raise self.failure(exc, url) from None
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _refused(self, status: int, body: bytes) -> TokenRejected:
        """The error for a 401/403; the token is dropped (when ``tokens.can_retry``, the
        caller tries once more with the one its source gives next)."""
        source = self.tokens.describe()
        self.tokens.rejected()
        return self.token_rejected(status, api_message(body), source)

    def token_rejected(self, status: int, message: str, source: str) -> TokenRejected:
        """"NAME refused the token (HTTP 403); it comes from $VAR", with the server's own
        words when they say more (a hub names a missing scope)."""
        text = f"{self.name} refused the token (HTTP {status}); it comes from {source}"
        if message and message.strip().lower() not in _PLAIN_REFUSALS:
            text += f": {message.strip()}"
            if "scope" in message.lower():
                text += f" (rtui needs the scopes {', '.join(HUB_SCOPES)})"
        return TokenRejected(text)

    async def request(self, method: str, path: str, *, body: Any = None,
                      bound: float | None = None, ok: tuple[int, ...] = (200,),
                      not_found: Callable[[], ServerError] | None = None,
                      ) -> tuple[int, bytes]:
        """One call, bounded (``bound`` past the connect), its status in ``ok``; else the
        server's failure as a ServerError (``not_found`` makes the 404's)."""
        limit = self.connect_timeout + (CALL_BOUND if bound is None else bound)
        try:
            async with asyncio.timeout(limit):
                async with self._open(method, path, body=body) as response:
                    status, data = response.status, await response.read()
                    location = response.headers.get("Location", "")
        except TimeoutError:
            raise ServerTimeout(f"{self.name}: no answer from {self.url(path)} within "
                                f"{limit:g} s") from None
        except aiohttp.ClientError as exc:  # the body's read failed
            raise self.failure(exc, self.url(path)) from None
        if status in ok:
            return status, data
        raise self.status_error(method, path, status, data, location, not_found)

    def status_error(self, method: str, path: str, status: int, data: bytes, location: str,
                     not_found: Callable[[], ServerError] | None = None) -> ServerError:
        """The error for an answer that is not the one expected."""
        if status == 404 and not_found is not None:
            return not_found()
        if status == 404:
            return ServerProtocolError(
                f"{self.name}: {self.url(path)} is not there (HTTP 404): is {self.base_url} "
                f"the address of a Jupyter server?")
        if 300 <= status < 400:
            return ServerProtocolError(
                f"{self.name}: {self.url(path)} redirects to {location or 'elsewhere'}: is "
                f"{self.base_url} the server's own address?")
        message = api_message(data)
        return ServerError(f"{self.name}: {method} {path} failed (HTTP {status})"
                           + (f": {message}" if message else ""))

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        """GET ``path``'s JSON; ServerProtocolError when the body is not JSON."""
        _, data = await self.request("GET", path, **kwargs)
        return self.decode(path, data)

    def decode(self, path: str, data: bytes) -> Any:
        try:
            return json.loads(data)
        except ValueError:
            raise ServerProtocolError(f"{self.name}: {self.url(path)} did not answer with "
                                      f"JSON: is {self.base_url} a Jupyter server?") from None

    def failure(self, exc: BaseException, url: str) -> ServerError:
        """aiohttp's or the OS's exception as a sentence naming the host and the URL."""
        problem = tls_problem(self.name, url, exc)
        if problem is not None:
            return problem
        parts = urlsplit(url)
        where = f"{parts.scheme}://{parts.netloc}/"
        if isinstance(exc, aiohttp.ServerTimeoutError):
            hint = (" (if it serves plain http, the url must start with http://)"
                    if parts.scheme == "https" else "")
            return ServerTimeout(f"{self.name}: no answer from {where} within "
                                 f"{self.connect_timeout:g} s{hint}")
        if isinstance(exc, aiohttp.ClientConnectorError):
            return ServerUnreachable(f"{self.name}: nothing answers at {where} "
                                     f"({os_reason(exc.os_error)})")
        if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
            return ServerUnreachable(f"{self.name}: {where} closed the connection mid-answer")
        if isinstance(exc, OSError):
            return ServerUnreachable(f"{self.name}: talking to {where} failed: "
                                     f"{os_reason(exc)}")
        return ServerError(f"{self.name}: talking to {where} failed: {type(exc).__name__}")


class ServerClient(JupyterHttp):
    """A Jupyter Server's kernels: list, start, interrupt, restart, shut down, and the
    websocket to one (``base_url`` is the server's, a hub's user server included)."""

    async def version(self) -> str:
        """The server's version (``GET api``; asks no token on jupyter_server, but ours
        goes along)."""
        data = await self.get_json("api")
        version = data.get("version") if isinstance(data, dict) else None
        if not isinstance(version, str):
            raise ServerProtocolError(f"{self.name}: {self.url('api')} names no version: is "
                                      f"{self.base_url} a Jupyter server?")
        return version

    async def kernelspecs(self) -> KernelSpecs:
        data = await self.get_json("api/kernelspecs")
        try:
            specs = {str(name): str(entry.get("spec", {}).get("display_name") or name)
                     for name, entry in data["kernelspecs"].items()}
            return KernelSpecs(default=str(data.get("default") or ""), specs=specs)
        except (KeyError, TypeError, AttributeError):
            raise self._odd("api/kernelspecs") from None

    async def kernels(self) -> list[ServerKernelInfo]:
        data = await self.get_json("api/kernels")
        if not isinstance(data, list):
            raise self._odd("api/kernels")
        return [self._kernel_info("api/kernels", item) for item in data]

    async def kernel(self, kernel_id: str) -> ServerKernelInfo:
        """One kernel's model; KernelNotFound when the server has none with that id."""
        path = self._kernel_path(kernel_id)
        data = await self.get_json(path, not_found=lambda: self.gone(kernel_id))
        return self._kernel_info(path, data)

    async def start_kernel(self, name: str | None = None,
                           path: str | None = None) -> ServerKernelInfo:
        """A new kernel of kernelspec ``name`` (the server's default when None), its working
        directory ``path`` relative to the server's root."""
        body: dict[str, str] = {}
        if name:
            body["name"] = name
        if path is not None:
            body["path"] = path
        _, data = await self.request("POST", "api/kernels", body=body, bound=START_BOUND,
                                     ok=(200, 201))
        return self._kernel_info("api/kernels", self.decode("api/kernels", data))

    async def interrupt(self, kernel_id: str) -> None:
        await self.request("POST", self._kernel_path(kernel_id) + "/interrupt", ok=(200, 204),
                           not_found=lambda: self.gone(kernel_id))

    async def restart(self, kernel_id: str) -> None:
        """Restart the kernel; returns once the new one answers (the server waits)."""
        try:
            await self.request("POST", self._kernel_path(kernel_id) + "/restart",
                               ok=(200, 204), bound=RESTART_BOUND,
                               not_found=lambda: self.gone(kernel_id))
        except KernelNotFound:
            raise
        except ServerError:
            # jupyter_server answers a restart of a kernel it does not have with 500
            # "Exception restarting kernel", not 404: ask whether the kernel is there.
            await self.kernel(kernel_id)
            raise

    async def delete(self, kernel_id: str) -> None:
        """Shut the kernel down; KernelNotFound when it was already gone."""
        await self.request("DELETE", self._kernel_path(kernel_id), ok=(200, 204),
                           not_found=lambda: self.gone(kernel_id))

    async def open_websocket(self, kernel_id: str, session_id: str, *,
                             protocols: tuple[str, ...]) -> aiohttp.ClientWebSocketResponse:
        """The kernel's channels websocket for ``session_id`` (the server keeps what it
        could not deliver per session id and replays it on a reconnect). ``protocols``: the
        subprotocols offered; ``ws.protocol`` says which one the server took."""
        path = self._kernel_path(kernel_id) + "/channels"
        url = self.url(path)
        limit = self.connect_timeout + WS_OPEN_BOUND
        for attempt in range(2):
            headers = await self._headers()
            try:
                async with asyncio.timeout(limit):
                    return await (await self._http()).ws_connect(
                        url, params={"session_id": session_id}, protocols=protocols,
                        headers=headers, ssl=self.ssl_arg, max_msg_size=0, autoping=True)
            except TimeoutError:
                raise ServerTimeout(f"{self.name}: the websocket to kernel {kernel_id} did "
                                    f"not open within {limit:g} s") from None
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status in (401, 403):
                    refused = self._refused(exc.status, exc.message.encode())
                    if attempt == 0 and self.tokens.can_retry:
                        continue
                    raise refused from None
                if exc.status == 404:
                    raise self.gone(kernel_id) from None
                raise ServerError(f"{self.name}: the websocket to kernel {kernel_id} was "
                                  f"refused (HTTP {exc.status}): {exc.message}") from None
            except aiohttp.ClientError as exc:
                raise self.failure(exc, url) from None
            except OSError as exc:
                raise self.failure(exc, url) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def gone(self, kernel_id: str) -> KernelNotFound:
        return KernelNotFound(f"{self.name}: kernel {kernel_id} is gone from the server")

    @staticmethod
    def _kernel_path(kernel_id: str) -> str:
        return f"api/kernels/{quote(kernel_id, safe='')}"

    def _kernel_info(self, path: str, data: Any) -> ServerKernelInfo:
        try:
            return ServerKernelInfo(
                id=str(data["id"]), name=str(data.get("name", "")),
                execution_state=str(data.get("execution_state", "unknown")),
                last_activity=data.get("last_activity"),
                connections=int(data.get("connections") or 0))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise self._odd(path) from None

    def _odd(self, path: str) -> ServerProtocolError:
        return ServerProtocolError(f"{self.name}: {self.url(path)} answered with an odd "
                                   f"body: is {self.base_url} a Jupyter server?")
