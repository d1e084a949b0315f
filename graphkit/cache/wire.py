"""Protobuf wire encoding of the ByteStream messages that carry blob bytes.

A ByteStream ReadResponse is a single ``bytes data = 10`` field. Building the message
copies the chunk into it and serializing copies it again; framing the chunk here is
one copy. A WriteRequest is parsed here for the same reason: protobuf would copy each
chunk into the message and again into the ``bytes`` handed out, where a ``memoryview``
of the received buffer can be hashed and written as it is; and the client encodes
its WriteRequests here with one copy of each chunk. Tests hold all three to
protobuf's own encoding.
"""

from __future__ import annotations

from typing import NamedTuple

# Field 10, wire type 2 (length-delimited): (10 << 3) | 2; ``data`` in both messages.
_DATA_TAG = b"\x52"
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


def varint(value: int) -> bytes:
    """Base-128 varint encoding of a non-negative integer."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_response(data: bytes) -> bytes:
    """The serialized ``google.bytestream.ReadResponse(data=data)``."""
    return b"".join((_DATA_TAG, varint(len(data)), data))


def encode_write_request(
    resource_name: str, write_offset: int, data: bytes | memoryview, *, finish_write: bool = False
) -> bytes:
    """The serialized ``WriteRequest``, with the chunk copied once (protobuf copies it
    into the message, then again when serializing). Fields in number order, defaults
    left out: byte for byte what protobuf writes."""
    parts: list[bytes | memoryview] = []
    if resource_name:
        name = resource_name.encode()
        parts += (b"\x0a", varint(len(name)), name)
    if write_offset:
        parts += (b"\x10", varint(write_offset))
    if finish_write:
        parts.append(b"\x18\x01")
    if data:
        parts += (_DATA_TAG, varint(len(data)), data)
    return b"".join(parts)


class WriteRequest(NamedTuple):
    """A ``google.bytestream.WriteRequest`` whose ``data`` is a view of the received bytes."""

    resource_name: str
    write_offset: int
    finish_write: bool
    data: memoryview


def write_request(raw: bytes) -> WriteRequest:
    """Parse a serialized WriteRequest; ValueError if it is not one.

    Fields: ``resource_name = 1`` (string), ``write_offset = 2`` (int64),
    ``finish_write = 3`` (bool), ``data = 10`` (bytes). As protobuf does, a field
    seen twice keeps its last value and unknown fields are skipped.
    """
    view = memoryview(raw)
    name, offset, finish, data = "", 0, False, view[:0]
    pos, end = 0, len(raw)
    while pos < end:
        key, pos = _read_varint(raw, pos)
        field, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            value, pos = _read_varint(raw, pos)
            if field == 2:
                offset = value - (1 << 64) if value >= 1 << 63 else value  # int64
            elif field == 3:
                finish = value != 0
        elif wire_type == _LENGTH_DELIMITED:
            length, pos = _read_varint(raw, pos)
            if pos + length > end:
                raise ValueError("a field runs past the end of the message")
            if field == 1:
                name = str(view[pos : pos + length], "utf-8")
            elif field == 10:
                data = view[pos : pos + length]
            pos += length
        elif wire_type in (_FIXED64, _FIXED32):
            pos += 8 if wire_type == _FIXED64 else 4
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
    if pos != end:
        raise ValueError("the message is truncated")
    return WriteRequest(name, offset, finish, data)


def _read_varint(raw: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while shift < 70:
        if pos >= len(raw):
            raise ValueError("the message is truncated")
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("a varint is longer than 10 bytes")
