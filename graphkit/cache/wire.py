"""Protobuf wire encoding of the messages that carry blob bytes.

A ByteStream ReadResponse is a single ``bytes data = 10`` field. Building the message
copies the chunk into it and serializing copies it again; framing the chunk here is
one copy. A WriteRequest is parsed here for the same reason: protobuf would copy each
chunk into the message and again into the ``bytes`` handed out, where a ``memoryview``
of the received buffer can be hashed and written as it is; and the client encodes
its WriteRequests here with one copy of each chunk. A BatchReadBlobsResponse is
encoded here too: building thousands of sub-messages through protobuf's Python API
cost the server more CPU than everything else it does for a batch read. Tests hold
all four to protobuf's own encoding.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import operator
import sys
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO, NamedTuple

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


def _varint(value: int) -> bytes:
    # The sizes of 1 KiB blobs and of batch entries take one or two bytes: skip the loop.
    if value < 0x80:
        return bytes((value,))
    if value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    return varint(value)


class BatchEntry(NamedTuple):
    """One blob of a BatchReadBlobs answer: its bytes, or None and why not (a status)."""

    hash: str
    size: int
    data: bytes | None
    code: int = 0
    message: str = ""


def batch_read_response(entries: Sequence[BatchEntry]) -> bytes:
    """The serialized ``BatchReadBlobsResponse`` with one response per entry, in order.

    Each response is ``digest = 1`` (``hash = 1``, ``size_bytes = 2``), ``data = 2`` and
    ``status = 3`` (``code = 1``, ``message = 2``; present, if empty, when OK), fields
    in number order and defaults left out, byte for byte what protobuf writes for
    the same message built field by field.
    """
    parts: list[bytes] = []
    append = parts.append
    # A found blob's framing depends on its size alone (hashes all have 64 digits):
    # built once per distinct size, it leaves the hash and the bytes to append.
    framing: dict[int, tuple[bytes, bytes]] = {}
    for entry in entries:
        data = entry.data
        if data is not None and not entry.code and len(entry.hash) == 64 and entry.hash.isascii():
            size = len(data)
            around = framing.get(size)
            if around is None:
                around = framing[size] = _found_framing(size)
            append(around[0])
            append(entry.hash.encode("ascii"))
            append(around[1])
            append(data)
            append(b"\x1a\x00")  # An OK status: present, every field at its default.
        else:
            append(_response(entry))
    return b"".join(parts)


def found_blobs_response(hashes: Sequence[str], blobs: Sequence[bytes]) -> bytes:
    """``batch_read_response`` for a batch whose every blob was found, faster.

    ``hashes`` must be 64 ASCII characters each (validated digests). The same bytes as
    ``batch_read_response``, assembled by map() and zip() instead of a loop: per blob,
    the framing that depends on its size alone, its hash, the rest of the framing, its
    bytes and an OK status, joined once.
    """
    sizes = list(map(len, blobs))
    framing = {size: _found_framing(size) for size in set(sizes)}
    around = list(map(framing.__getitem__, sizes))
    pieces = zip(
        map(_FIRST, around),
        map(str.encode, hashes),
        map(_SECOND, around),
        blobs,
        itertools.repeat(b"\x1a\x00"),  # An OK status: present, every field at its default.
        strict=False,  # repeat() never ends; the others are as long as the batch.
    )
    return b"".join(itertools.chain.from_iterable(pieces))


_FIRST, _SECOND = operator.itemgetter(0), operator.itemgetter(1)


def _found_framing(size: int) -> tuple[bytes, bytes]:
    """What goes before a 64-digit hash, and between it and the data, for ``size``."""
    digest_tail = b"\x10" + varint(size) if size else b""
    digest_len = 2 + 64 + len(digest_tail)
    data_head = b"\x12" + varint(size) if size else b""
    body_len = 1 + len(_varint(digest_len)) + digest_len + len(data_head) + size + 2
    before = b"\x0a" + varint(body_len) + b"\x0a" + _varint(digest_len) + b"\x0a\x40"
    return before, digest_tail + data_head


def _response(entry: BatchEntry) -> bytes:
    """One ``Response`` field, built field by field (not-found entries and odd hashes)."""
    name = entry.hash.encode()
    digest = b"\x0a" + _varint(len(name)) + name if name else b""
    if entry.size:
        digest += b"\x10" + varint(entry.size)
    body = b"\x0a" + _varint(len(digest)) + digest
    if entry.data:
        body += b"\x12" + varint(len(entry.data)) + entry.data
    if entry.data is None or entry.code:
        status = b"\x08" + varint(entry.code) if entry.code else b""
        if entry.message:
            message = entry.message.encode()
            status += b"\x12" + _varint(len(message)) + message
        body += b"\x1a" + _varint(len(status)) + status
    else:
        body += b"\x1a\x00"
    return b"\x0a" + varint(len(body)) + body


def read_response(data: bytes) -> bytes:
    """The serialized ``google.bytestream.ReadResponse(data=data)``."""
    return b"".join((_DATA_TAG, varint(len(data)), data))


def read_response_from(file: BinaryIO, size: int) -> tuple[bytes, int]:
    """The serialized ReadResponse of the next ``size`` bytes of ``file``, and their count.

    The bytes are read straight into the ``bytes`` object that is sent, behind the
    framing, so a chunk costs the file read and no copy (``read_response`` of a read
    chunk copies each MiB once more). Fewer than ``size`` bytes (the file ends early)
    are framed as they are, with a copy; none give ``(b"", 0)``. A file without
    ``readinto`` is read and framed with the copy.
    """
    header = _DATA_TAG + varint(size)
    readinto: Callable[[memoryview], int | None] | None = getattr(file, "readinto", None)
    frame, view = unfilled_bytes(len(header) + size) if readinto else (b"", None)
    if readinto is None or view is None:
        data = file.read(size)
        return (read_response(data) if data else b""), len(data)
    view[: len(header)] = header
    got = readinto(view[len(header) :]) or 0
    if got == size:
        return frame, got
    # The frame's header says ``size``: the few bytes there are go into a new one.
    return (read_response(bytes(view[len(header) : len(header) + got])) if got else b""), got


# CPython keeps a bytes object's contents inline, at a fixed offset from its address
# (``PyBytesObject.ob_sval``); PyBytes_FromStringAndSize(NULL, n) makes one whose n
# bytes are to be filled in before anyone else sees it, as C extensions do. The offset
# is checked on a known object before it is ever written through.
_SVAL_OFFSET = bytes.__basicsize__ - 1
_KNOWN = b"graphkit: where a bytes object keeps its contents"
_new_bytes: Any = None
if sys.implementation.name == "cpython":
    with contextlib.suppress(AttributeError, OSError, ValueError):
        if ctypes.string_at(id(_KNOWN) + _SVAL_OFFSET, len(_KNOWN)) == _KNOWN:
            _new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
            _new_bytes.restype = ctypes.py_object
            _new_bytes.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t)


def unfilled_bytes(size: int) -> tuple[bytes, memoryview | None]:
    """A new ``bytes`` of ``size`` and a writable view of its contents (None: no view).

    The caller must fill every byte through the view and drop the view before the
    object is used or shared: a bytes object is immutable to everyone else.
    """
    if _new_bytes is None:
        return b"", None
    frame: bytes = _new_bytes(None, size)
    contents = (ctypes.c_char * size).from_address(id(frame) + _SVAL_OFFSET)
    return frame, memoryview(contents).cast("B")


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
