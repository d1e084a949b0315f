"""The ContentAddressableStorage service: FindMissingBlobs, batch reads and writes, GetTree."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any, cast

import grpc
from google.protobuf.message import DecodeError

from graphkit.cache.deadline import Deadline
from graphkit.cache.digest import Digest, InvalidRequest, digest, digests
from graphkit.cache.names import decimal, instance_name
from graphkit.cache.protocol import re_grpc, re_pb2
from graphkit.cache.server.calls import Refused, deadline_of, streaming, unary
from graphkit.cache.server.metrics import Metrics
from graphkit.cache.store.base import NoRoom, ServedStore, Store
from graphkit.cache.wire import BatchEntry, batch_read_response, found_blobs_response

# Directories per GetTree response when the client sets no page size; with the byte
# budget below it keeps each message far under gRPC's default 4 MiB limit.
TREE_PAGE = 1000
TREE_PAGE_BYTES = 2 * 1024 * 1024
# A directory offset; 12 digits outnumber the directories any store can hold.
PAGE_TOKEN_DIGITS = 12
_INVALID = grpc.StatusCode.INVALID_ARGUMENT.value[0]
_NOT_FOUND = grpc.StatusCode.NOT_FOUND.value[0]
# Batch reads go over thousands of digests; attrgetter in map() runs in C.
_HASH = operator.attrgetter("hash")
_SIZE = operator.attrgetter("size")
_SIZE_BYTES = operator.attrgetter("size_bytes")
_SHA256_OR_UNSET = (re_pb2.DigestFunction.UNKNOWN, re_pb2.DigestFunction.SHA256)


def check_digest_function(value: int) -> None:
    """Bazel 4.2 leaves digest_function unset, which means SHA-256 for 64-hex hashes."""
    if value not in _SHA256_OR_UNSET:
        name = (
            re_pb2.DigestFunction.Value.Name(value)
            if value in (re_pb2.DigestFunction.Value.values())
            else str(value)
        )
        raise InvalidRequest(f"digest function {name} is not supported; this cache uses SHA256")


def to_proto(d: Digest) -> re_pb2.Digest:
    """A Digest as its REAPI message."""
    return re_pb2.Digest(hash=d.hash, size_bytes=d.size)


class CasService(re_grpc.ContentAddressableStorageServicer):
    """REAPI ContentAddressableStorage over a Store per instance name."""

    def __init__(
        self, stores: Callable[[str, Deadline], ServedStore], metrics: Metrics, max_batch: int
    ) -> None:
        self._stores = stores
        self.metrics = metrics
        self._max_batch = max_batch

    @unary("FindMissingBlobs")
    def FindMissingBlobs(self, request: Any, context: grpc.ServicerContext) -> Any:
        check_digest_function(request.digest_function)
        store = self._stores(instance_name(request.instance_name), deadline_of(context))
        wanted = digests([(d.hash, d.size_bytes) for d in request.blob_digests])
        missing = store.find_missing(wanted)
        return re_pb2.FindMissingBlobsResponse(missing_blob_digests=[to_proto(d) for d in missing])

    @unary("BatchUpdateBlobs")
    def BatchUpdateBlobs(self, request: Any, context: grpc.ServicerContext) -> Any:
        check_digest_function(request.digest_function)
        store = self._stores(instance_name(request.instance_name), deadline_of(context))
        total = sum(len(r.data) for r in request.requests)
        if total > self._max_batch:
            raise InvalidRequest(
                f"batch of {total} bytes exceeds max_batch_total_size_bytes {self._max_batch}; "
                "split it or upload large blobs with ByteStream.Write"
            )
        errors: list[str | None] = []
        valid: list[tuple[Digest, bytes]] = []
        for r in request.requests:
            try:
                if r.compressor != re_pb2.Compressor.IDENTITY:
                    raise InvalidRequest("compressed batch uploads are not supported")
                valid.append((digest(r.digest.hash, r.digest.size_bytes), r.data))
                errors.append(None)
            except InvalidRequest as exc:
                errors.append(str(exc))
        try:
            verdicts = iter(store.put_many(valid))
        except NoRoom as exc:
            raise Refused(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)) from None
        response = re_pb2.BatchUpdateBlobsResponse()
        stored_bytes = 0
        for r, error in zip(request.requests, errors, strict=True):
            entry = response.responses.add()
            entry.digest.CopyFrom(r.digest)
            if error is None:
                error = next(verdicts)
                if error is None:
                    stored_bytes += len(r.data)
            if error is None:
                entry.status.SetInParent()
            else:
                entry.status.code = _INVALID
                entry.status.message = error
        self.metrics.add("bytes_in", stored_bytes)
        return response

    @unary("BatchReadBlobs")
    def BatchReadBlobs(self, request: Any, context: grpc.ServicerContext) -> Any:
        check_digest_function(request.digest_function)
        store = self._stores(instance_name(request.instance_name), deadline_of(context))
        asked = request.digests
        wanted = digests(list(zip(map(_HASH, asked), map(_SIZE_BYTES, asked), strict=True)))
        total = sum(map(_SIZE, wanted))
        if total > self._max_batch:
            raise InvalidRequest(
                f"batch of {total} bytes exceeds max_batch_total_size_bytes {self._max_batch}; "
                "split it or read large blobs with ByteStream.Read"
            )
        values = store.read_batch(wanted)
        misses = values.count(None)
        self.metrics.add("cas_hits", len(values) - misses)
        self.metrics.add("cas_misses", misses)
        # Encoded here rather than through protobuf's API (see wire).
        if not misses:
            found = cast(list[bytes], values)
            self.metrics.add("bytes_out", sum(map(len, found)))
            return found_blobs_response(list(map(_HASH, wanted)), found)
        entries = [
            BatchEntry(d.hash, d.size, data)
            if data is not None
            else BatchEntry(d.hash, d.size, None, _NOT_FOUND, f"blob {d} is not in the cache")
            for d, data in zip(wanted, values, strict=True)
        ]
        self.metrics.add("bytes_out", sum(len(e.data) for e in entries if e.data))
        return batch_read_response(entries)

    @streaming("GetTree")
    def GetTree(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        check_digest_function(request.digest_function)
        store = self._stores(instance_name(request.instance_name), deadline_of(context))
        root = digest(request.root_digest.hash, request.root_digest.size_bytes)
        if request.page_size < 0:
            raise InvalidRequest("page_size must not be negative")
        # Tokens this server issues are directory offsets, so anything else (another
        # server's token, '²', a megabyte of digits) is refused before any work.
        token = request.page_token
        skip = decimal(token, max_digits=PAGE_TOKEN_DIGITS) if token else 0
        if skip is None:
            raise InvalidRequest(
                f"page_token {request.page_token[:40]!r} is not one this server issued "
                f"(at most {PAGE_TOKEN_DIGITS} ASCII digits)"
            )
        page_size = request.page_size or TREE_PAGE
        directories = _walk(store, root)
        page = re_pb2.GetTreeResponse()
        page_bytes = 0
        for index, directory in enumerate(directories):
            if index < skip:
                continue
            if len(page.directories) >= page_size or page_bytes >= TREE_PAGE_BYTES:
                page.next_page_token = str(index)
                yield page
                page, page_bytes = re_pb2.GetTreeResponse(), 0
            page.directories.append(directory)
            page_bytes += directory.ByteSize()
        yield page


def _walk(store: Store, root: Digest) -> Iterator[Any]:
    """Directories of the tree at ``root``, breadth first, each distinct one once.

    The order is deterministic for the same contents, which is what lets a page token
    be a plain offset. Missing subdirectories are left out, as the spec asks.
    """
    seen = {root}
    level = [root]
    first = True
    while level:
        found = store.get_many(level)
        if first and root not in found:
            raise Refused(grpc.StatusCode.NOT_FOUND, f"tree root {root} is not in the cache")
        first = False
        next_level: list[Digest] = []
        for d in level:
            data = found.get(d)
            if data is None:
                continue
            directory = re_pb2.Directory()
            try:
                directory.ParseFromString(data)
            except DecodeError:
                raise InvalidRequest(f"blob {d} is not a Directory message") from None
            yield directory
            for child in directory.directories:
                c = digest(child.digest.hash, child.digest.size_bytes)
                if c not in seen:
                    seen.add(c)
                    next_level.append(c)
        level = next_level


__all__ = ["CasService", "check_digest_function", "to_proto"]
