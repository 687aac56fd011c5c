"""rtui/core/jupyter/wire.py: the kernel websocket's v1 and legacy framings, checked against
jupyter_server's own (de)serializers, with round trips over generated messages."""

from __future__ import annotations

import datetime
import json
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jupyter_client.session import Session

from rtui.core.jupyter import wire

server_base = pytest.importorskip("jupyter_server.services.kernels.connection.base")

CHANNELS = st.sampled_from(["shell", "control", "stdin", "iopub"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
CONTENTS = st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5)
BUFFERS = st.lists(st.binary(max_size=64), max_size=3)


def _msg(content: dict[str, Any], buffers: list[bytes] | None = None) -> dict[str, Any]:
    session = Session(key=b"", session="sid-1", username="rtui")
    msg: dict[str, Any] = session.msg("execute_request", content,
                                      parent={"header": {"msg_id": "p-1"}})
    msg["buffers"] = buffers or []
    return msg


def test_pack_v1_is_what_jupyter_server_reads_and_writes() -> None:
    parts = [b'{"msg_id":"a","msg_type":"t"}', b"{}", b"{}", b'{"x":1}', b"\x00\x01buf"]
    frame = wire.pack_v1("iopub", parts)
    assert frame == server_base.serialize_msg_to_ws_v1(parts, "iopub")
    assert server_base.deserialize_msg_from_ws_v1(frame) == ("iopub", parts)
    assert wire.unpack_v1(frame) == ("iopub", parts)


def test_v1_message_keeps_dates_unparsed_and_buffers() -> None:
    msg = _msg({"code": "1+1"}, [b"\xff\x00raw"])
    channel, decoded = wire.decode_v1(wire.encode_v1("shell", msg))
    assert channel == "shell"
    assert decoded["msg_id"] == msg["header"]["msg_id"]
    assert decoded["msg_type"] == "execute_request"
    assert isinstance(decoded["header"]["date"], str)  # ISO text, not a datetime
    assert decoded["header"]["date"].endswith("Z")
    assert decoded["content"] == {"code": "1+1"}
    assert decoded["parent_header"] == {"msg_id": "p-1"}
    assert [bytes(b) for b in decoded["buffers"]] == [b"\xff\x00raw"]
    assert all(isinstance(b, memoryview) for b in decoded["buffers"])


@settings(max_examples=30, deadline=None)
@given(CHANNELS, CONTENTS, BUFFERS)
def test_v1_round_trip(channel: str, content: dict[str, Any], buffers: list[bytes]) -> None:
    msg = _msg(content, buffers)
    got_channel, got = wire.decode_v1(wire.encode_v1(channel, msg))
    assert got_channel == channel
    assert got["content"] == content
    assert got["header"]["msg_id"] == msg["header"]["msg_id"]
    assert [bytes(b) for b in got["buffers"]] == buffers


@settings(max_examples=30, deadline=None)
@given(CHANNELS, st.lists(st.binary(max_size=40), max_size=7))
def test_unpack_v1_round_trip_of_any_parts(channel: str, parts: list[bytes]) -> None:
    assert wire.unpack_v1(wire.pack_v1(channel, parts)) == (channel, parts)


def test_legacy_text_is_what_jupyter_server_reads() -> None:
    msg = _msg({"code": "print(1)", "when": datetime.datetime(2026, 12, 7, 20, 0,
                                                              tzinfo=datetime.UTC)})
    text = wire.to_legacy("shell", msg)
    assert isinstance(text, str)
    body = json.loads(text)
    assert body["channel"] == "shell"
    assert body["content"]["when"] == "2026-12-07T20:00:00Z"  # json_default for datetimes
    channel, decoded = wire.from_legacy(text)
    assert channel == "shell"
    assert decoded["msg_id"] == msg["header"]["msg_id"]
    assert isinstance(decoded["header"]["date"], str)
    assert decoded["buffers"] == []


def test_legacy_binary_with_buffers_matches_jupyter_server() -> None:
    msg = _msg({"data": {}}, [b"one", b"\x00two"])
    blob = wire.to_legacy("iopub", msg)
    assert isinstance(blob, bytes)
    theirs = server_base.deserialize_binary_message(blob)
    assert theirs["channel"] == "iopub"
    assert [bytes(b) for b in theirs["buffers"]] == [b"one", b"\x00two"]
    # And what the server writes for a message with buffers, we read.
    server_msg = {**msg, "channel": "iopub"}
    channel, decoded = wire.from_legacy(server_base.serialize_binary_message(server_msg))
    assert channel == "iopub"
    assert decoded["content"] == {"data": {}}
    assert [bytes(b) for b in decoded["buffers"]] == [b"one", b"\x00two"]


@settings(max_examples=30, deadline=None)
@given(CHANNELS, CONTENTS, BUFFERS)
def test_legacy_round_trip(channel: str, content: dict[str, Any], buffers: list[bytes]) -> None:
    got_channel, got = wire.from_legacy(wire.to_legacy(channel, _msg(content, buffers)))
    assert got_channel == channel
    assert got["content"] == content
    assert [bytes(b) for b in got["buffers"]] == buffers


@pytest.mark.parametrize("frame", [
    b"",
    b"\x01\x00\x00\x00\x00\x00\x00\x00",
    struct.pack("<3Q", 2, 24, 99),  # offset past the end
    struct.pack("<4Q", 3, 40, 20, 32),  # first offset is not after the table
    struct.pack("<4Q", 3, 32, 40, 34) + b"x" * 10,  # offsets go backwards
    struct.pack("<3Q", 2, 24, 26) + b"\xff\xfe",  # channel is not UTF-8
])
def test_unpack_v1_rejects_what_is_not_a_frame(frame: bytes) -> None:
    with pytest.raises(ValueError):
        wire.unpack_v1(frame)


@pytest.mark.parametrize("parts", [
    [b"{}", b"{}", b"{}"],  # too few parts
    [b"not json", b"{}", b"{}", b"{}"],
    [b'{"msg_id": "a"}', b"{}", b"{}", b"{}"],  # no msg_type
])
def test_message_from_parts_rejects_what_is_not_a_message(parts: list[bytes]) -> None:
    with pytest.raises(ValueError):
        wire.message_from_parts(parts)


@pytest.mark.parametrize("data", [
    "[]", '{"header": {"msg_id": "a", "msg_type": "t"}}',  # not an object / no channel
    b"\x00\x00\x00\x05", struct.pack("!2I", 1, 4) + b"{}",
])
def test_from_legacy_rejects_what_is_not_a_message(data: str | bytes) -> None:
    with pytest.raises(ValueError):
        wire.from_legacy(data)
