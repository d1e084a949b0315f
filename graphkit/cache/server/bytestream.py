"""The google.bytestream.ByteStream service: streaming reads and writes of large blobs.

Neither direction holds a whole blob in memory. Reads send the stored file in chunks;
writes go through the store's BlobWriter, which appends each chunk to a staged file
and hashes it on the way, and only a verified blob becomes visible.

What a Bazel 4.2 client needs, and gets: chunks of 16 KiB with the resource name on
the first message only; ``committed_size`` equal to the blob size on success (also
when the blob was already present, which ends the upload early as the spec allows);
QueryWriteStatus may answer UNIMPLEMENTED, after which the client restarts at 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import grpc

from graphkit.cache.deadline import Deadline
from graphkit.cache.digest import Digest, InvalidRequest
from graphkit.cache.names import read_resource, write_resource
from graphkit.cache.protocol import bs_grpc, bs_pb2
from graphkit.cache.server.calls import Refused, deadline_of, streaming, unary
from graphkit.cache.server.metrics import Metrics
from graphkit.cache.store.base import NoRoom, ServedStore, Store
from graphkit.cache.store.verified import DamagedBlob, VerifiedReader
from graphkit.cache.wire import WriteRequest, read_response_from, write_request

# Large enough to amortize per-message cost, far under gRPC's default 4 MiB limit.
# Larger chunks read no faster here but multiply what each concurrent stream holds.
READ_CHUNK = 1024 * 1024


class ByteStreamService(bs_grpc.ByteStreamServicer):
    """ByteStream Read / Write / QueryWriteStatus over a Store per instance name."""

    def __init__(self, stores: Callable[[str, Deadline], ServedStore], metrics: Metrics) -> None:
        self._stores = stores
        self.metrics = metrics

    @streaming("Read")
    def Read(self, request: Any, context: grpc.ServicerContext) -> Iterator[bytes]:
        resource = read_resource(request.resource_name)
        blob = resource.digest
        if request.read_offset < 0 or request.read_limit < 0:
            raise InvalidRequest("read_offset and read_limit must not be negative")
        if request.read_offset > blob.size:
            raise Refused(
                grpc.StatusCode.OUT_OF_RANGE,
                f"read_offset {request.read_offset} is past the end of {blob}",
            )
        reader = self._stores(resource.instance, deadline_of(context)).open(blob)
        if reader is None:
            self.metrics.add("cas_misses")
            raise Refused(grpc.StatusCode.NOT_FOUND, f"blob {blob} is not in the cache")
        self.metrics.add("cas_hits")
        try:
            with reader:
                yield from self._send(reader, blob, request.read_offset, request.read_limit)
        except DamagedBlob as exc:
            # The store hashed what it read and dropped the blob; the final chunk was
            # withheld, so the client never holds a complete wrong blob.
            raise Refused(grpc.StatusCode.DATA_LOSS, str(exc)) from None

    def _send(self, reader: BinaryIO, blob: Digest, offset: int, limit: int) -> Iterator[bytes]:
        reader.seek(offset)
        remaining = blob.size - offset
        if limit:
            remaining = min(remaining, limit)
        while remaining > 0:
            # Read into the message that is sent: no copy of the chunk (see wire).
            frame, got = read_response_from(reader, min(READ_CHUNK, remaining))
            if not got:
                raise Refused(
                    grpc.StatusCode.DATA_LOSS,
                    f"blob {blob} is shorter than its digest says; it was damaged on disk",
                )
            remaining -= got
            self.metrics.add("bytes_out", got)
            yield frame
        if isinstance(reader, VerifiedReader):
            reader.drain()  # A ranged read still verifies the whole blob.

    @unary("Write")
    def Write(self, stream: Iterator[bytes], context: grpc.ServicerContext) -> Any:
        requests = (_parse_write(raw) for raw in stream)
        first = next(requests, None)
        if first is None:
            raise InvalidRequest("Write stream had no messages")
        name = first.resource_name
        resource = write_resource(name)
        blob = resource.digest
        if first.write_offset != 0:
            raise InvalidRequest(
                f"write_offset {first.write_offset}: resumable uploads are not supported, "
                "start at offset 0"
            )
        store = self._stores(resource.instance, deadline_of(context))
        # Already stored (maybe by a concurrent client): end early, as the spec allows.
        # Only where the write lands is asked: a replica asking its bucket would put a
        # round trip to it before every new blob's first byte (bench/RESULTS.md, the
        # interleaved replica runs). Clients ask FindMissingBlobs, which does ask the
        # bucket, before they upload; and the uploader skips a large blob another
        # replica already put in the bucket.
        if not store.find_missing_here([blob]):
            return bs_pb2.WriteResponse(committed_size=blob.size)
        try:
            self._receive(store, blob, name, first, requests)
        except NoRoom as exc:
            raise Refused(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)) from None
        self.metrics.add("bytes_in", blob.size)
        return bs_pb2.WriteResponse(committed_size=blob.size)

    def _receive(
        self,
        store: Store,
        blob: Digest,
        name: str,
        first: WriteRequest,
        requests: Iterator[WriteRequest],
    ) -> None:
        """Stream the requests into a writer and commit; nothing is kept on failure.

        The writer reserves the blob's room before the first byte is written, so an
        oversized or unplaceable blob is refused without reading the stream.
        """
        writer = store.writer(blob)
        try:
            request: WriteRequest | None = first
            while request is not None:
                if request.resource_name and request.resource_name != name:
                    raise InvalidRequest("resource_name changed in the middle of a Write")
                if request.write_offset != writer.committed_size:
                    raise InvalidRequest(
                        f"write_offset {request.write_offset} does not follow the "
                        f"{writer.committed_size} bytes already received"
                    )
                writer.write(request.data)
                if request.finish_write:
                    writer.commit()
                    break
                request = next(requests, None)
            else:
                raise InvalidRequest(
                    f"Write of {blob} ended after {writer.committed_size} bytes "
                    "without finish_write"
                )
        finally:
            writer.abort()  # No-op after a commit; discards partial data otherwise.

    @unary("QueryWriteStatus")
    def QueryWriteStatus(self, request: Any, context: grpc.ServicerContext) -> Any:
        resource = write_resource(request.resource_name)
        store = self._stores(resource.instance, deadline_of(context))
        if not store.find_missing([resource.digest]):
            return bs_pb2.QueryWriteStatusResponse(
                committed_size=resource.digest.size, complete=True
            )
        # Partial uploads are never kept (they are invisible until verified), so the
        # only useful answer for an unfinished blob is "start again at offset 0".
        raise Refused(
            grpc.StatusCode.UNIMPLEMENTED,
            "resumable uploads are not supported; restart the Write at offset 0",
        )


def _parse_write(raw: bytes) -> WriteRequest:
    try:
        return write_request(raw)
    except ValueError as exc:
        raise InvalidRequest(f"malformed WriteRequest: {exc}") from None
