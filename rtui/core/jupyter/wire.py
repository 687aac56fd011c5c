"""Kernel messages on a Jupyter Server's kernel websocket: the v1 binary framing and the
legacy JSON one, as pure functions.

v1 (``v1.kernel.websocket.jupyter.org``): little-endian 64-bit offsets, then the channel
name, then the message's parts as the kernel sent them (header, parent header, metadata,
content, buffers). The server passes them on unparsed and signs toward the kernel itself,
so no signature travels here. Legacy: one JSON text per message with a ``channel`` key, or,
when it has buffers, a binary blob of big-endian 32-bit offsets, that JSON and the buffers.

Decoding leaves header dates as the ISO strings they arrive as (as rtui's zmq decoding does:
parsing them was most of jupyter_client's cost and nothing reads them); encoding writes
datetimes with jupyter_client's ``json_default``.
"""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Sequence
from typing import Any

from jupyter_client.jsonutil import json_default
from jupyter_client.session import json_packer

from rtui.core.kernels import envelope

__all__ = [
    "V1_PROTOCOL",
    "decode_v1",
    "encode_v1",
    "from_legacy",
    "message_from_parts",
    "message_parts",
    "pack_v1",
    "to_legacy",
    "unpack_v1",
]

V1_PROTOCOL = "v1.kernel.websocket.jupyter.org"

Bytes = bytes | bytearray | memoryview

_U64 = 8
_MESSAGE_KEYS = ("header", "parent_header", "metadata", "content")


def pack_v1(channel: str, parts: Sequence[Bytes]) -> bytes:
    """One v1 frame: ``parts`` are header, parent header, metadata, content, *buffers."""
    name = channel.encode()
    offsets = [_U64 * (len(parts) + 3)]  # the count, then len(parts) + 2 offsets
    offsets.append(offsets[-1] + len(name))
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    head = struct.pack(f"<{len(offsets) + 1}Q", len(offsets), *offsets)
    return b"".join([head, name, *parts])


def unpack_v1(data: Bytes) -> tuple[str, list[bytes]]:
    """The channel and the parts of one v1 frame (ValueError when it is not one).

    The last offset is the end of the last part (as jupyter_server writes it); anything
    after it is ignored, as jupyter_server does.
    """
    view = memoryview(data)
    size = len(view)
    if size < _U64:
        raise ValueError(f"a v1 frame of {size} bytes")
    (count,) = struct.unpack_from("<Q", view)
    if count < 2 or _U64 * (count + 1) > size:
        raise ValueError(f"a v1 frame with {count} offsets in {size} bytes")
    offsets = struct.unpack_from(f"<{count}Q", view, _U64)
    if offsets[0] != _U64 * (count + 1) or offsets[-1] > size or any(
        a > b for a, b in itertools.pairwise(offsets)
    ):
        raise ValueError(f"a v1 frame with bad offsets {list(offsets)} in {size} bytes")
    try:
        channel = bytes(view[offsets[0]:offsets[1]]).decode()
    except UnicodeDecodeError as exc:
        raise ValueError(f"a v1 frame whose channel is not text: {exc}") from exc
    parts = [bytes(view[offsets[i]:offsets[i + 1]]) for i in range(1, count - 1)]
    return channel, parts


def message_parts(msg: dict[str, Any]) -> list[bytes]:
    """A message dict (as ``Session.msg`` makes it) as packed parts: header, parent header,
    metadata, content, then its buffers as bytes."""
    parts = [json_packer(msg.get(key) or {}) for key in _MESSAGE_KEYS]
    parts.extend(bytes(buffer) for buffer in msg.get("buffers") or ())
    return parts


def message_from_parts(parts: Sequence[Bytes]) -> dict[str, Any]:
    """A message dict from its parts, shaped as rtui's zmq decoding makes it (``msg_id``
    and ``msg_type`` lifted from the header, buffers as memoryviews, dates unparsed)."""
    if len(parts) < 4:
        raise ValueError(f"a kernel message of {len(parts)} parts")
    header, parent, metadata, content = (_json(part) for part in parts[:4])
    return envelope.message(header, parent, metadata, content, [memoryview(p) for p in parts[4:]])


def encode_v1(channel: str, msg: dict[str, Any]) -> bytes:
    """A message dict as one v1 frame."""
    return pack_v1(channel, message_parts(msg))


def decode_v1(data: Bytes) -> tuple[str, dict[str, Any]]:
    """The channel and message dict of one v1 frame (ValueError when it is not one)."""
    channel, parts = unpack_v1(data)
    return channel, message_from_parts(parts)


def to_legacy(channel: str, msg: dict[str, Any]) -> str | bytes:
    """A message dict in the legacy framing: JSON text, or the binary blob when it has
    buffers (as jupyter_server's ``serialize_binary_message`` reads it)."""
    body = {key: msg.get(key) or {} for key in _MESSAGE_KEYS}
    body["channel"] = channel
    text = json.dumps(body, default=json_default, ensure_ascii=False, allow_nan=False)
    buffers = [bytes(b) for b in msg.get("buffers") or ()]
    if not buffers:
        return text
    blobs = [text.encode(), *buffers]
    offsets = [4 * (len(blobs) + 1)]
    for blob in blobs[:-1]:
        offsets.append(offsets[-1] + len(blob))
    return b"".join([struct.pack(f"!{len(blobs) + 1}I", len(blobs), *offsets), *blobs])


def from_legacy(data: str | Bytes) -> tuple[str, dict[str, Any]]:
    """The channel and message dict of one legacy websocket message (ValueError when it
    is not one)."""
    buffers: list[memoryview] = []
    if isinstance(data, str):
        body = _json(data)
    else:
        view = memoryview(data)
        if len(view) < 4:
            raise ValueError(f"a legacy binary message of {len(view)} bytes")
        (count,) = struct.unpack_from("!I", view)
        if count < 1 or 4 * (count + 1) > len(view):
            raise ValueError(f"a legacy binary message with {count} parts in {len(view)} bytes")
        offsets = [*struct.unpack_from(f"!{count}I", view, 4), len(view)]
        if offsets[0] != 4 * (count + 1) or any(
            a > b for a, b in itertools.pairwise(offsets)
        ):
            raise ValueError(f"a legacy binary message with bad offsets {offsets[:-1]}")
        body = _json(view[offsets[0]:offsets[1]])
        buffers = [view[offsets[i]:offsets[i + 1]] for i in range(1, count)]
    if not isinstance(body, dict):
        raise ValueError("a legacy message that is not a JSON object")
    channel = body.get("channel")
    if not isinstance(channel, str):
        raise ValueError("a legacy message without a channel")
    return channel, envelope.message(body.get("header"), body.get("parent_header"),
                             body.get("metadata"), body.get("content"), buffers)


def _json(data: str | Bytes) -> Any:
    try:
        return json.loads(data if isinstance(data, str) else bytes(data))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"a message part that is not JSON: {exc}") from exc
    except RecursionError:  # not a ValueError: it escaped the reader, which died
        raise ValueError("a message part nested too deep to read") from None
