"""One SSH connection per host: open the hop chain, watch it, reconnect with backoff.

Everything that talks to a host (checks, kernels, files) shares its :class:`HostConnection`
and listens to its state changes; a new ``generation`` after a reconnect tells consumers to
re-establish what they had (port forwards).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections.abc import Callable
from pathlib import Path

import asyncssh

from rtui.core import locations
from rtui.core.config.model import AUTH_METHODS, Settings
from rtui.core.errors import (
    AuthenticationError,
    ConnectTimeoutError,
    HostKeyChangedError,
    HostKeyError,
    HostKeyUnknownError,
    SSHError,
    UnreachableError,
)
from rtui.core.ssh.auth import HopClient, Secrets, load_identities, offered_agent_keys
from rtui.core.ssh.deadline import PausableDeadline
from rtui.core.ssh.greeting import greeting_error
from rtui.core.ssh.hostkeys import KnownHosts, KnownKey, host_entry_name
from rtui.core.ssh.prompts import (
    HostKeyDecision,
    HostKeyPrompt,
    KbdIntPrompt,
    NoPrompter,
    Prompter,
    SecretPrompt,
)
from rtui.core.ssh.route import Endpoint, Route
from rtui.core.ssh.state import ConnState, StateChange

__all__ = ["ConnState", "HostConnection", "StateChange", "backoff_delay"]

log = logging.getLogger(__name__)

Listener = Callable[[StateChange], None]

# AES-GCM ahead of asyncssh's default order ("^": put first, the defaults follow): its
# ChaCha20-Poly1305 builds two cipher contexts per packet in Python (~26 us a packet here),
# AES-GCM is one call into OpenSSL (~5 us), and a console cell is dozens of small packets.
# Every cipher this asyncssh and its crypto backend offer stays on offer.
# A whole 32 KiB packet sent (CPU, asyncssh 2.24): aes128-gcm 44 us, aes256-gcm 41,
# aes128-ctr with umac-64-etm 44, with hmac-sha2-256-etm 58, chacha20 77; so the GCM pair
# stays first. Uploads are bound by this: sshd takes 32 KiB packets from a client, and
# asyncssh sends an empty SSH_MSG_IGNORE (~17 us) before each one.
ENCRYPTION_ALGS = "^aes128-gcm@openssh.com,aes256-gcm@openssh.com"
# What the host may send us on a channel before we read it, and its largest packet: file
# transfers (DESIGN16 §0.8). asyncssh's defaults are 2 MiB and 32 KiB.
WINDOW = 16 * 1024 * 1024
MAX_PACKET = 256 * 1024


def backoff_delay(attempt: int, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": the first retry is immediate, then ~1, 2, 4 s..."""
    if attempt <= 1:
        return 0.0
    base = min(cap, 2.0 ** (attempt - 2))
    return base / 2 + (rng or random).uniform(0, base / 2)


def keepalive_options(settings: Settings, hop: Endpoint | None = None) -> tuple[float, int]:
    """asyncssh's ``(interval, count_max)`` so a dead peer is noticed after interval x count.

    asyncssh closes after ``count_max + 1`` silent intervals; rtui's setting counts them all.
    The hop's ServerAliveInterval/CountMax, when its ssh config sets them, are taken as ssh
    takes them (an interval of 0 turns keepalives off).
    """
    dead_after = settings.keepalive_interval * settings.keepalive_count_max
    count_max = max(1, settings.keepalive_count_max - 1)
    interval = dead_after / (count_max + 1)
    if hop is not None and hop.keepalive_interval is not None:
        interval = hop.keepalive_interval
    if hop is not None and hop.keepalive_count_max is not None:
        count_max = max(1, hop.keepalive_count_max)
    return interval, count_max


class _AttemptPrompter:
    """The prompter of one connection attempt: a question goes to the latest caller waiting
    on the attempt who can ask a person, at the moment the question comes. A console opened
    while the start-up check (which asks nobody) is logging in gets the password dialog, and
    the shared attempt goes on."""

    def __init__(self, connection: HostConnection, own: Prompter) -> None:
        self._connection = connection
        self._own = own

    @property
    def current(self) -> Prompter:
        """Who answers now: the newest waiting caller that can ask, else the attempt's own."""
        for prompter in reversed([self._own, *self._connection._askers]):
            if not isinstance(prompter, NoPrompter):
                return prompter
        return self._own

    async def ask_secret(self, request: SecretPrompt) -> str | None:
        return await self.current.ask_secret(request)

    async def ask_kbdint(self, request: KbdIntPrompt) -> list[str] | None:
        return await self.current.ask_kbdint(request)

    async def confirm_host_key(self, request: HostKeyPrompt) -> HostKeyDecision:
        return await self.current.confirm_host_key(request)


class HostConnection:
    """The SSH connection to one host, through its jump hops, with a visible state."""

    def __init__(
        self,
        name: str,
        route: Route,
        *,
        own_known_hosts: Path | None = None,
        settings: Settings | None = None,
        prompter: Prompter | None = None,
        auto_reconnect: bool = True,
    ) -> None:
        self.name = name
        self.route = route
        self.own_known_hosts = own_known_hosts or locations.data_dir() / "known_hosts"
        self.settings = settings or Settings()
        # Asked by attempts whose caller names nobody, until one succeeds; then automatic
        # reconnects and such attempts ask whoever the last successful attempt asked.
        self._default_prompter: Prompter = prompter or NoPrompter()
        self._last_prompter: Prompter | None = None
        self._askers: list[Prompter] = []  # of the callers waiting for an attempt now
        self.auto_reconnect = auto_reconnect
        # Seconds a lost connection is retried before FAILED (None: for ever, as the TUI
        # does); the CLI sets settings.reconnect_give_up.
        self.give_up_after: float | None = None
        self.failure: SSHError | None = None  # why the state is FAILED
        self.state = ConnState.DISCONNECTED
        self.generation = 0
        self.reason: str | None = None
        self._conns: list[asyncssh.SSHClientConnection] = []
        self._secrets: Secrets = {}
        self._accepted: dict[str, list[asyncssh.SSHKey]] = {}
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self._interactive: set[asyncio.Task[None]] = set()  # PTY sessions being asked for
        self._closing = False

    # -- observing ---------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on every state change; returns the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _set(self, state: ConnState, reason: str | None = None, *, attempt: int = 0,
             retry_in: float | None = None) -> None:
        previous, self.state, self.reason = self.state, state, reason
        change = StateChange(self.name, state, previous, reason, attempt, retry_in,
                             self.generation)
        log.debug("%s: %s -> %s (%s)", self.name, previous, state, reason)
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:  # a listener's bug must not break the connection
                log.exception("state listener failed")

    # -- using -------------------------------------------------------------------------------

    @property
    def conn(self) -> asyncssh.SSHClientConnection:
        """The live connection to the host itself; SSHError when there is none."""
        if self.state is not ConnState.CONNECTED or not self._conns:
            raise SSHError(f"{self.name} is not connected ({self.state})")
        return self._conns[-1]

    async def connect(
        self, *, prompter: Prompter | None = None, sock: socket.socket | None = None,
    ) -> asyncssh.SSHClientConnection:
        """Connect if not connected; the same connection is shared by every caller.

        ``prompter``: who this caller's attempt asks (passwords, passphrases, an unknown host
        key); while it waits for an attempt under way, that attempt asks it too, so a person
        who comes while an unattended login runs is asked. None: whoever the last successful
        attempt asked (else the connection's default).
        ``sock``: a TCP connection to the first hop, already open (a check opens it to time
        it); used for the first attempt, closed if the connection is up already."""
        own = prompter or self._last_prompter or self._default_prompter
        self._askers.append(own)
        try:
            async with self._lock:
                if self.state is ConnState.CONNECTED and self._conns:
                    if sock is not None:
                        sock.close()
                    return self._conns[-1]
                self._closing = False
                self._cancel_reconnect()
                self._set(ConnState.CONNECTING)
                attempt = _AttemptPrompter(self, own)
                try:
                    conns = await self._open_chain(attempt, sock)
                except SSHError as exc:
                    self._fail(exc)
                    raise
                except BaseException:
                    self._set(ConnState.DISCONNECTED, "cancelled")
                    raise
                if not isinstance(attempt.current, NoPrompter):
                    # Later attempts that name nobody (the agent, a forward, a reconnect) ask
                    # the person this one asked; an attempt that could ask nobody (the
                    # start-up check) leaves them to the connection's own prompter.
                    self._last_prompter = attempt.current
                self._install(conns)
                return conns[-1]
        finally:
            self._askers.remove(own)

    async def reconnect(self) -> asyncssh.SSHClientConnection:
        """Drop the current connection (if any) and connect again now."""
        self._cancel_reconnect()
        await self._drop()
        return await self.connect()

    async def close(self) -> None:
        """Close for good: no reconnect, and the secrets typed for it are forgotten."""
        self._closing = True
        self._cancel_reconnect()
        await self._drop()
        self._secrets.clear()
        if self.state is not ConnState.DISCONNECTED:
            self._set(ConnState.DISCONNECTED)

    async def run(self, command: str, *, timeout: float) -> asyncssh.SSHCompletedProcess:
        """Run a command on the host; errors become SSHError with the command named."""
        conn = await self.connect()
        try:
            return await asyncio.wait_for(conn.run(command, check=False), timeout)
        except TimeoutError as exc:
            raise ConnectTimeoutError(
                f"timeout after {timeout:g} s running a command on {self.name}") from exc
        except (asyncssh.Error, OSError) as exc:
            raise SSHError(f"running a command on {self.name} failed: {exc}") from exc

    # -- internals ---------------------------------------------------------------------------

    def _install(self, conns: list[asyncssh.SSHClientConnection]) -> None:
        self._conns = conns
        self.failure = None
        self.generation += 1
        self._set(ConnState.CONNECTED)
        self._watcher = asyncio.get_running_loop().create_task(self._watch(conns))

    async def _watch(self, conns: list[asyncssh.SSHClientConnection]) -> None:
        """Wait for any hop to close; an unexpected close starts reconnecting."""
        waits = [asyncio.ensure_future(c.wait_closed()) for c in conns]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        if self._closing or conns is not self._conns:
            return
        reason = self._lost_reason(conns)
        for conn in conns:
            conn.close()
        self._conns = []
        self._set(ConnState.LOST, reason)
        if self.auto_reconnect:
            self._reconnector = asyncio.get_running_loop().create_task(self._reconnect_loop())

    def _lost_reason(self, conns: list[asyncssh.SSHClientConnection]) -> str:
        for hop, conn in zip(self.route.hops, conns, strict=False):
            client = conn.get_extra_info("rtui_client")
            reason = getattr(client, "lost_reason", None)
            if reason:
                return f"{hop.label}: {reason}" if hop is not self.route.target else reason
        return "connection closed"

    async def _reconnect_loop(self) -> None:
        """Retry with backoff; for ever, or until ``give_up_after`` seconds have passed
        (then FAILED, ``failure`` saying so). A refusal retrying cannot fix (a changed host
        key, credentials) ends it at once, its full message in ``failure``."""
        loop = asyncio.get_running_loop()
        give_up_at = None if self.give_up_after is None else loop.time() + self.give_up_after
        attempt = 0
        while not self._closing:
            attempt += 1
            delay = backoff_delay(attempt, self.settings.reconnect_max_delay)
            if give_up_at is not None:
                if loop.time() >= give_up_at:
                    self._fail(UnreachableError(
                        f"cannot reach {self.name} again: gave up after {self.give_up_after:g} "
                        f"s and {attempt - 1} attempt{'s' if attempt != 2 else ''} "
                        f"(last: {self.reason}); settings.reconnect_give_up says how long"))
                    return
                delay = min(delay, give_up_at - loop.time())
            self._set(ConnState.RECONNECTING, self.reason, attempt=attempt, retry_in=delay)
            await asyncio.sleep(delay)
            try:
                async with self._lock:
                    own = self._last_prompter or self._default_prompter
                    conns = await self._open_chain(_AttemptPrompter(self, own))
                    self._install(conns)
                return
            except (AuthenticationError, HostKeyError) as exc:
                self._fail(exc)  # retrying cannot fix these
                return
            except SSHError as exc:
                self.reason = str(exc)

    def _fail(self, exc: SSHError) -> None:
        self.failure = exc
        self._set(ConnState.FAILED, str(exc))

    def _cancel_reconnect(self) -> None:
        task, self._reconnector = self._reconnector, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _drop(self) -> None:
        conns, self._conns = self._conns, []
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
        for task in list(self._interactive):
            task.cancel()
        for conn in reversed(conns):
            conn.close()
        for conn in reversed(conns):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 5)

    async def _open_chain(
        self, prompter: Prompter, sock: socket.socket | None = None
    ) -> list[asyncssh.SSHClientConnection]:
        conns: list[asyncssh.SSHClientConnection] = []
        try:
            for hop in self.route.hops:
                tunnel = conns[-1] if conns else None
                conns.append(await self._open_hop(hop, tunnel, prompter,
                                                  sock if not conns else None))
        except BaseException:
            for conn in reversed(conns):
                conn.close()
            raise
        finally:
            if sock is not None and not conns:
                sock.close()  # the first hop failed before asyncssh took it over
        return conns

    async def _open_hop(
        self, hop: Endpoint, tunnel: asyncssh.SSHClientConnection | None, prompter: Prompter,
        sock: socket.socket | None,
    ) -> asyncssh.SSHClientConnection:
        via = "" if hop is self.route.target else f"jump host {hop.label}: "
        try:
            return await self._open_hop_checked(hop, tunnel, prompter, sock)
        except SSHError as exc:
            if via:
                raise type(exc)(f"{via}{exc}") from exc
            raise

    async def _open_hop_checked(
        self, hop: Endpoint, tunnel: asyncssh.SSHClientConnection | None, prompter: Prompter,
        sock: socket.socket | None,
    ) -> asyncssh.SSHClientConnection:
        """Connect one hop; an unknown key is shown to a person, then the attempt is repeated
        (on a new TCP connection: ``sock`` serves the first attempt only)."""
        ready, encrypted, notes = load_identities(hop)
        for _ in range(2):
            deadline = PausableDeadline(hop.connect_timeout or self.settings.connect_timeout)
            client = HopClient(hop, prompter, self._secrets, encrypted,
                               deadline.paused)
            client.notes.extend(notes)
            try:
                first_sock, sock = sock, None
                conn = await deadline.run(self._connect(hop, tunnel, client, ready, first_sock))
            except asyncssh.HostKeyNotVerifiable as exc:
                if client.presented_key is None:
                    raise HostKeyError(
                        f"the host key of {hop.display} was refused: {exc.reason}") from exc
                if not await self._trust_new_key(hop, client.presented_key, prompter):
                    raise HostKeyUnknownError(self._unknown_key_message(hop, client)) from exc
                continue
            except TimeoutError as exc:
                raise greeting_error(client.greeting, timed_out=deadline.budget) or (
                    ConnectTimeoutError(f"timeout after {deadline.budget:g} s connecting to "
                                        f"{hop.hostname}:{hop.port}")) from exc
            except asyncssh.PermissionDenied as exc:
                raise AuthenticationError(self._auth_message(hop, client)) from exc
            except asyncssh.DisconnectError as exc:
                raise greeting_error(client.greeting) or SSHError(
                    f"{hop.display} closed the connection: {exc.reason}") from exc
            except socket.gaierror as exc:
                raise UnreachableError(f"cannot resolve {hop.hostname}: {exc.strerror}") from exc
            except ConnectionRefusedError as exc:
                raise UnreachableError(
                    f"cannot reach {hop.hostname}:{hop.port}: connection refused") from exc
            except OSError as exc:  # a reset once connected: said as what the server was
                raise greeting_error(client.greeting) or UnreachableError(
                    f"cannot reach {hop.hostname}:{hop.port}: {exc.strerror or exc}") from exc
            except asyncssh.Error as exc:
                raise greeting_error(client.greeting) or SSHError(
                    f"{hop.display}: {exc}") from exc
            conn.set_extra_info(rtui_client=client)
            if hop is self.route.target:
                self._start_interactive(conn)
            return conn
        raise HostKeyError(f"the host key of {hop.display} changed while connecting")

    def _start_interactive(self, conn: asyncssh.SSHClientConnection) -> None:
        """Ask for the PTY session in the background: its three exchanges (channel open,
        pty-req, exec, each waiting for the server's answer) would otherwise come before
        anything else on the connection, 3 round trips on a far link; meanwhile the other
        requests go out alongside them."""
        task = asyncio.get_running_loop().create_task(self._make_interactive(conn))
        self._interactive.add(task)
        task.add_done_callback(self._interactive.discard)

    async def _make_interactive(self, conn: asyncssh.SSHClientConnection) -> None:
        """Hold a PTY session open so sshd sets TCP_NODELAY on the connection.

        Without it Nagle and delayed ACKs add ~40 ms to every small request/reply through
        the connection (see MEASURED.md). A server that refuses PTYs only costs latency.
        """
        try:
            process = await asyncio.wait_for(conn.create_process(
                "exec cat >/dev/null", term_type="dumb", request_pty="force"), 5)
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            log.info("%s: no PTY for low latency: %s", self.name, exc)
            return
        conn.set_extra_info(rtui_pty=process)

    def known_hosts(self, hop: Endpoint) -> KnownHosts:
        """The hop's known_hosts files (read, never written) plus rtui's own (written)."""
        files = [Path(f).expanduser() for f in hop.known_hosts_files]
        return KnownHosts(files, self.own_known_hosts)

    async def _connect(
        self,
        hop: Endpoint,
        tunnel: asyncssh.SSHClientConnection | None,
        client: HopClient,
        keys: list[asyncssh.SSHKey],
        sock: socket.socket | None = None,
    ) -> asyncssh.SSHClientConnection:
        trusted, cas, revoked = self.known_hosts(hop).trusted(hop.hostname, hop.port)
        trusted = [*trusted, *self._accepted.get(host_entry_name(hop.hostname, hop.port), [])]
        interval, count_max = keepalive_options(self.settings, hop)
        agent = _agent_path(hop)
        agent_keys = offered_agent_keys(hop, keys)
        if agent_keys == []:
            agent = None  # IdentitiesOnly without a public key to match: no agent key fits
        return await asyncssh.connect(
            hop.hostname,
            hop.port,
            tunnel=tunnel,
            sock=sock,
            username=hop.user,
            client_factory=lambda: client,
            known_hosts=(trusted, cas, revoked),
            client_keys=keys,
            agent_path=agent,
            agent_identities=agent_keys,
            preferred_auth=",".join(hop.auth_methods or AUTH_METHODS),
            config=None,
            keepalive_interval=interval,
            keepalive_count_max=count_max,
            encryption_algs=ENCRYPTION_ALGS,
            # A wide window and 256 KiB packets: sshd then sends SFTP data in 256 KiB packets
            # rather than 32 KiB ones, and 64 reads of 255 KiB fit in flight (DESIGN16 §0.8).
            window=WINDOW,
            max_pktsize=MAX_PACKET,
            login_timeout=3600,  # the deadline above bounds the machine's part
            x509_trusted_certs=None,
        )

    async def _trust_new_key(
        self, hop: Endpoint, key: asyncssh.SSHKey, prompter: Prompter
    ) -> bool:
        entry = host_entry_name(hop.hostname, hop.port)
        known = [k for k in self.known_hosts(hop).lookup(hop.hostname, hop.port) if not k.marker]
        if known:
            raise HostKeyChangedError(self._changed_key_message(hop, key, known))
        policy = hop.host_key_policy
        if policy == "accept-new":
            decision = HostKeyDecision.ACCEPT_REMEMBER
        elif policy == "strict":
            decision = HostKeyDecision.REFUSE
        else:
            decision = await prompter.confirm_host_key(HostKeyPrompt(
                host=entry,
                key_type=key.get_algorithm(),
                fingerprint=key.get_fingerprint("sha256"),
            ))
        if decision is HostKeyDecision.REFUSE:
            return False
        if decision is HostKeyDecision.ACCEPT_REMEMBER:
            self.known_hosts(hop).remember(hop.hostname, hop.port, key)
        else:
            self._accepted.setdefault(entry, []).append(key)
        return True

    def _changed_key_message(
        self, hop: Endpoint, key: asyncssh.SSHKey, known: list[KnownKey]
    ) -> str:
        entry = host_entry_name(hop.hostname, hop.port)
        records = [k.record() for k in known]
        was = "; ".join(f"{r.key_type} {r.fingerprint} ({r.file} line {r.line})" for r in records)
        first = records[0]
        return (
            f"HOST KEY CHANGED for {entry}: refusing to connect. It now presents "
            f"{key.get_algorithm()} {key.get_fingerprint('sha256')}, but the key on record is "
            f"{was}. This can mean someone is intercepting the connection. If the host was "
            f"reinstalled, confirm the new fingerprint with its admin, then delete line "
            f"{first.line} of {first.file} (ssh-keygen -R '{entry}' -f {first.file})."
        )

    def _unknown_key_message(self, hop: Endpoint, client: HopClient) -> str:
        key = client.presented_key
        assert key is not None
        entry = host_entry_name(hop.hostname, hop.port)
        how = {
            "strict": "the host's policy is strict",
            "accept-new": "it was not accepted",
        }.get(hop.host_key_policy, "it was not accepted")
        return (
            f"unknown host key for {entry} ({key.get_algorithm()} "
            f"{key.get_fingerprint('sha256')}); {how}. To trust it, connect once from a "
            "terminal and accept it, or set host_key_policy = \"accept-new\" for this host."
        )

    def _auth_message(self, hop: Endpoint, client: HopClient) -> str:
        tried = client.tried or ["publickey"]
        message = f"authentication failed for {hop.user}@{hop.hostname} (tried: {', '.join(tried)})"
        if client.cancelled:
            message += "; cancelled at the prompt"
        if client.notes:
            message += "; " + "; ".join(dict.fromkeys(client.notes))
        return message


def _agent_path(hop: Endpoint) -> str | tuple[()] | None:
    """asyncssh's ``agent_path``: ``()`` is $SSH_AUTH_SOCK (a forwarded agent too), None is off."""
    if hop.agent_path == "none":
        return None
    if hop.agent_path and hop.agent_path != "SSH_AUTH_SOCK":
        return os.path.expanduser(hop.agent_path)
    return ()
