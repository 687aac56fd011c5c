"""The shape of every kernel message rtui hands on, checked once where a link decodes it.

Both links (zmq frames, a Jupyter server's websocket) build their message dicts here, so what
reaches a session always has a header object with string ``msg_id`` and ``msg_type``, and
objects for ``parent_header``, ``metadata`` and ``content`` (a part that is no object is taken
as empty: what a message type needs of its content is the decoders' check, see events.py).
Anything else is a ValueError the link counts and drops.
"""

from __future__ import annotations

from typing import Any

from jupyter_client.adapter import adapt

__all__ = ["message"]


def message(header: Any, parent: Any, metadata: Any, content: Any,
            buffers: list[memoryview]) -> dict[str, Any]:
    """A message dict (``msg_id`` and ``msg_type`` lifted from the header, dates unparsed);
    ValueError naming what is wrong when the header is not a message's."""
    if not isinstance(header, dict) or not isinstance(header.get("msg_id"), str) or not (
            isinstance(header.get("msg_type"), str) and header["msg_type"]):
        raise ValueError("a kernel message without a header (msg_id, msg_type)")
    msg: dict[str, Any] = {
        "header": header,
        "msg_id": header["msg_id"],
        "msg_type": header["msg_type"],
        "parent_header": parent if isinstance(parent, dict) else {},
        "metadata": metadata if isinstance(metadata, dict) else {},
        "content": content if isinstance(content, dict) else {},
        "buffers": buffers,
    }
    version = header.get("version", "5")
    if not str(version).startswith("5"):
        msg = _from_protocol_4(msg, version)
    return msg


def _from_protocol_4(msg: dict[str, Any], version: Any) -> dict[str, Any]:
    """A very old kernel's message in today's shape (jupyter_client's adapter, which trusts
    its input: a bad version or content raises anything)."""
    try:
        adapted = adapt(msg)
    except Exception as exc:
        raise ValueError(f"a kernel message of protocol version {str(version)[:20]!r} that "
                         f"could not be read ({type(exc).__name__})") from None
    if not isinstance(adapted, dict) or not isinstance(adapted.get("content"), dict):
        raise ValueError(f"a kernel message of protocol version {str(version)[:20]!r} that "
                         "could not be read")
    return adapted
