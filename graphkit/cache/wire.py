"""Protobuf wire encoding of the one response that carries blob bytes in a stream.

A ByteStream ReadResponse is a single ``bytes data = 10`` field. Building the message
copies the chunk into it and serializing copies it again; framing the chunk here is
one copy. Tests hold the result to protobuf's own serialization.
"""

from __future__ import annotations

# Field 10, wire type 2 (length-delimited): (10 << 3) | 2.
_READ_RESPONSE_DATA_TAG = b"\x52"


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
    return b"".join((_READ_RESPONSE_DATA_TAG, varint(len(data)), data))
