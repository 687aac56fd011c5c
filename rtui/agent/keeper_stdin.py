"""The keeper's hold on its kernel's stdin, so an ``input()`` asked while nobody is attached
is asked of whoever attaches next instead of being lost.

ipykernel sends ``input_request`` on its stdin ROUTER to the routing identity of the client
whose cell asks (its shell identity; jupyter_client, and rtui, use the same one for stdin).
When that client is gone, zmq drops the question, the kernel waits for ever, and a client
that attaches later never learns a question is pending.

So a client that follows the keeper names its shell identity (``follow`` with ``"stdin"``)
and does not connect stdin itself: a ROUTER without ROUTER_HANDOVER ignores a second peer
with an identity already connected, so only one of the two may hold it. The keeper connects
a DEALER with that identity and keeps it after the client leaves (at most ``MAX_HELD``, the
oldest let go first). It records the pending question, and answers it for the first client
that replies (op ``input_reply``); ipykernel takes a reply from any identity. The question
is cleared by that answer, when its cell ends (its idle status: an interrupt), or when the
kernel exits or restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import OrderedDict
from dataclasses import dataclass

from .keeper_buffer import event_record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .keeper_buffer import OutputBuffer
    from .keeper_clients import Client, ClientTable

MAX_HELD = 32  # identities held at once; the oldest is let go first
DELIM = b"<IDS|MSG>"


def sign(conn: dict[str, Any], parts: list[bytes]) -> bytes:
    """The HMAC of a message's four JSON parts with the kernel's key (b"" without one)."""
    key = str(conn.get("key") or "").encode()
    scheme = str(conn.get("signature_scheme") or "hmac-sha256")
    digest = scheme.split("-", 1)[-1]
    if not key or digest not in hashlib.algorithms_available:
        return b""
    mac = hmac.new(key, digestmod=digest)
    for part in parts:
        mac.update(part)
    return mac.hexdigest().encode()


def message(conn: dict[str, Any], session: str, msg_type: str, content: dict[str, Any],
            parent: dict[str, Any] | None = None) -> list[bytes]:
    """A signed message, from the delimiter on (what a DEALER sends)."""
    import uuid

    header = json.dumps({
        "msg_id": uuid.uuid4().hex, "session": session, "username": "rtui-keeper",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "msg_type": msg_type, "version": "5.3"}).encode()
    parts = [header, json.dumps(parent or {}).encode(), b"{}", json.dumps(content).encode()]
    return [DELIM, sign(conn, parts), *parts]


@dataclass
class Question:
    """A pending ``input()``: what to show, and what the answer's parent is."""

    msg_id: str  # the input_request's own id (a client answers this one)
    parent_id: str | None  # the cell that asks
    prompt: str
    password: bool
    identity: bytes  # whose cell asks (the shell identity it was sent to)
    header: dict[str, Any]  # the input_request's header: the reply's parent
    at: float

    def public(self) -> dict[str, Any]:
        return {"msg_id": self.msg_id, "parent_id": self.parent_id, "prompt": self.prompt,
                "password": self.password, "at": self.at}

    def ended_by(self, frames: list[bytes]) -> bool:
        """Is this iopub message its cell's idle status (the cell ended: interrupted)?"""
        if self.parent_id is None or b"idle" not in frames[-1]:
            return False
        try:
            at = frames.index(DELIM)
            header, parent, content = (json.loads(frames[at + i]) for i in (2, 3, 5))
        except (ValueError, IndexError):
            return False
        return (isinstance(header, dict) and header.get("msg_type") == "status"
                and isinstance(parent, dict) and parent.get("msg_id") == self.parent_id
                and isinstance(content, dict) and content.get("execution_state") == "idle")


def valid_identity(value: Any) -> bytes | None:
    """A shell identity a client named: 1..255 bytes, not starting with a zero byte (zmq
    keeps those for the identities it makes up)."""
    if not isinstance(value, str):
        return None
    raw = value.encode()
    return raw if 0 < len(raw) <= 255 and not raw.startswith(b"\0") else None


class StdinHolder:
    """The DEALERs holding clients' identities on the kernel's stdin, its question, and who
    is asked it: the client whose cell asks, while it follows; else every follower (the
    next one to attach, too). Events go between the messages, as the keeper's do."""

    def __init__(self, zmq: Any, context: Any, poller: Any, conn: dict[str, Any],
                 endpoint: str, session: str, clients: ClientTable,
                 buffer: OutputBuffer) -> None:
        self.zmq = zmq
        self.context = context
        self.poller = poller
        self.conn = conn
        self.endpoint = endpoint
        self.session = session
        self.held: OrderedDict[bytes, Any] = OrderedDict()
        self.question: Question | None = None
        self.clients = clients
        self.buffer = buffer
        clients.on_close = self._left

    def pending(self) -> dict[str, Any] | None:
        return None if self.question is None else self.question.public()

    def _askable(self) -> list[Client]:
        if self.question is None:
            return []
        followers = self.clients.followers()
        own = [c for c in followers if c.identity == self.question.identity]
        return own or followers

    def _tell(self, clients: list[Client], event: str, **fields: Any) -> None:
        record = event_record(event, **fields)
        for client in clients:
            assert client.follower is not None
            client.follower.notify(self.buffer.next, record)

    def _ask(self, clients: list[Client]) -> None:
        if self.question is not None:
            self._tell(clients, "input_request", **self.question.public())

    def joined(self, client: Client) -> None:
        """A client follows now: asked the pending question if it is one to ask."""
        if client in self._askable():
            self._ask([client])

    def _left(self, client: Client) -> None:
        """The client whose cell asks left without answering: ask the others."""
        question = self.question
        if question is not None and client.identity == question.identity and not any(
                c.identity == question.identity for c in self.clients.followers()):
            self._ask(self.clients.followers())

    def clear(self, reason: str) -> None:
        """The question is no longer pending (``reason``: ended, exited, restarted)."""
        question, self.question = self.question, None
        if question is not None:
            self._tell(self.clients.followers(), "input_cleared", msg_id=question.msg_id,
                       reason=reason)

    def reply(self, client: Client, msg_id: Any, value: Any) -> None:
        """The op ``input_reply``: answer the question for ``client``."""
        error = self.answer(msg_id, value)
        if error is not None:
            return client.reply({"ok": False, "error": error})
        self._tell(self.clients.followers(), "input_cleared", msg_id=msg_id,
                   reason="answered")
        return client.reply({"ok": True})

    def hold(self, identity: bytes) -> None:
        """Connect a DEALER as ``identity`` (kept until MAX_HELD newer ones are held)."""
        if identity in self.held:
            self.held.move_to_end(identity)
            return
        zmq = self.zmq
        sock = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IDENTITY, identity)
        sock.connect(self.endpoint)
        self.poller.register(sock, zmq.POLLIN)
        self.held[identity] = sock
        asking = self.question.identity if self.question is not None else None
        for old in list(self.held):
            if len(self.held) <= MAX_HELD:
                break
            if old != asking and old != identity:
                self._let_go(old)

    def _let_go(self, identity: bytes) -> None:
        sock = self.held.pop(identity)
        self.poller.unregister(sock)
        sock.close(linger=0)

    def sockets(self) -> list[Any]:
        return list(self.held.values())

    def read(self, ready: list[Any]) -> None:
        """What the kernel sent to held identities: a question is asked of the followers."""
        zmq = self.zmq
        for sock in ready:
            identity = sock.getsockopt(zmq.IDENTITY)
            while True:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                question = self._parse(frames, identity)
                if question is not None:
                    self.question = question
                    self._ask(self._askable())

    def _parse(self, frames: list[bytes], identity: bytes) -> Question | None:
        try:
            at = frames.index(DELIM)
            signature, parts = frames[at + 1], frames[at + 2:at + 6]
            if len(parts) != 4 or not hmac.compare_digest(signature, sign(self.conn, parts)):
                return None
            header, parent, content = (json.loads(parts[i]) for i in (0, 1, 3))
        except (ValueError, IndexError):
            return None
        if not (isinstance(header, dict) and header.get("msg_type") == "input_request"
                and isinstance(content, dict)):
            return None
        parent_id = parent.get("msg_id") if isinstance(parent, dict) else None
        return Question(str(header.get("msg_id") or ""), parent_id if isinstance(
            parent_id, str) else None, str(content.get("prompt") or ""),
            bool(content.get("password")), identity, header, time.time())

    def answer(self, msg_id: Any, value: Any) -> str | None:
        """Send the reply to the pending question ``msg_id``; an error message, or None."""
        question = self.question
        if not isinstance(value, str):
            return "value must be a string"
        if question is None or msg_id != question.msg_id:
            return "that question is not pending (answered already, or its cell ended)"
        sock = self.held.get(question.identity)
        if sock is None:
            return "the identity that was asked is no longer held"
        try:
            sock.send_multipart(message(self.conn, self.session, "input_reply",
                                        {"value": value}, question.header), self.zmq.NOBLOCK)
        except self.zmq.ZMQError as e:
            return f"cannot send the answer to the kernel: {e}"
        self.question = None
        return None

    def close(self) -> None:
        for identity in list(self.held):
            self._let_go(identity)
