"""A Store backed by a remote REAPI v2 cache (graphkit's own server, or any other).

- Small blobs travel in BatchReadBlobs / BatchUpdateBlobs calls sized to the server's
  ``max_batch_total_size_bytes``; larger ones through ByteStream in 1 MiB chunks.
- Calls that fail with UNAVAILABLE, or RESOURCE_EXHAUSTED (a server at its limit of
  concurrent calls), are retried with exponential backoff and jitter.
- Every downloaded blob is hashed; one whose bytes do not match its digest raises
  CacheError and is never handed to the caller.
- Failures are CacheError with a message naming the call and the status, never a
  credential.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar

import grpc

from graphkit.cache.digest import EMPTY, Digest, mismatch
from graphkit.cache.protocol import bs_grpc, bs_pb2, re_grpc, re_pb2
from graphkit.cache.wire import encode_write_request
from graphkit.errors import CacheError, InputError

T = TypeVar("T")
CHUNK = 1024 * 1024
# Per-blob framing in a batch message (digest, status, tags), counted against the limit.
BATCH_OVERHEAD = 128
FIND_MISSING_PAGE = 10_000
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}
_SPOOL_IN_MEMORY = 8 * 1024 * 1024


@dataclass(frozen=True)
class RemoteOptions:
    """How to reach a remote cache: ``grpc://host:port`` (plaintext) or ``grpcs://...``."""

    url: str
    instance: str = ""
    token: str | None = None
    tls_ca: Path | None = None
    tls_client_cert: Path | None = None
    tls_client_key: Path | None = None
    timeout_seconds: float = 60.0
    attempts: int = 5
    backoff_seconds: float = 0.2
    max_backoff_seconds: float = 5.0


def _channel(options: RemoteOptions) -> grpc.Channel:
    scheme, sep, target = options.url.partition("://")
    if not sep:
        scheme, target = "grpc", options.url
    channel_options = [
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        # gRPC's own reconnect backoff (1 s, growing) would make our retries fail fast
        # against a channel still backing off; keep it shorter than our retry delays.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 2000),
    ]
    if scheme not in ("grpc", "grpcs"):
        raise InputError(f"remote cache URL {options.url!r} must start with grpc:// or grpcs://")
    tls_files = (options.tls_ca, options.tls_client_cert, options.tls_client_key)
    if scheme == "grpc":
        if any(tls_files):
            raise InputError(
                f"TLS files need a grpcs:// URL, not {options.url!r}",
                hint="the cache speaks TLS only at grpcs://",
            )
        return grpc.insecure_channel(target, options=channel_options)
    if (options.tls_client_cert is None) != (options.tls_client_key is None):
        raise InputError("a TLS client certificate and its key go together")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_pem(options.tls_ca),
        private_key=_pem(options.tls_client_key),
        certificate_chain=_pem(options.tls_client_cert),
    )
    return grpc.secure_channel(target, credentials, options=channel_options)


def _pem(path: Path | None) -> bytes | None:
    """A PEM file's bytes, read now: a missing or garbled file is an input error here,
    not a failed TLS handshake later that names neither the file nor the cause."""
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=str(path)) from None
    if b"-----BEGIN " not in data:
        raise InputError(
            "not a PEM file", path=str(path), hint="expected '-----BEGIN ...-----' blocks"
        )
    return data


def _proto(d: Digest) -> re_pb2.Digest:
    return re_pb2.Digest(hash=d.hash, size_bytes=d.size)


class RemoteStore:
    """The Store protocol over REAPI v2 gRPC calls."""

    def __init__(
        self, options: RemoteOptions, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.options = options
        self._sleep = sleep
        self._channel = _channel(options)
        self._cas = re_grpc.ContentAddressableStorageStub(self._channel)  # type: ignore[no-untyped-call]
        self._ac = re_grpc.ActionCacheStub(self._channel)  # type: ignore[no-untyped-call]
        self._caps = re_grpc.CapabilitiesStub(self._channel)  # type: ignore[no-untyped-call]
        self._bytestream = bs_grpc.ByteStreamStub(self._channel)  # type: ignore[no-untyped-call]
        # Write requests are encoded by ``wire`` (one copy of each chunk), so unserialized.
        self._write = self._channel.stream_unary(
            "/google.bytestream.ByteStream/Write",
            request_serializer=None,
            response_deserializer=bs_pb2.WriteResponse.FromString,
        )
        self._metadata = (("authorization", f"Bearer {options.token}"),) if options.token else ()
        self._max_batch: int | None = None

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    # --- calls with retries -----------------------------------------------------------

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """Run ``call``, retrying UNAVAILABLE and RESOURCE_EXHAUSTED with backoff; other
        failures are CacheError."""
        o = self.options
        for attempt in range(1, o.attempts + 1):
            try:
                return call()
            except grpc.RpcError as exc:
                code = exc.code()
                if code not in _RETRYABLE or attempt == o.attempts:
                    raise CacheError(
                        f"remote cache {o.url}: {what} failed: {code.name}: {exc.details()}"
                    ) from None
                delay = min(o.max_backoff_seconds, o.backoff_seconds * 2 ** (attempt - 1))
                self._sleep(delay * random.uniform(0.5, 1.0))  # Jitter spreads retries out.
        raise AssertionError("unreachable")  # pragma: no cover

    def _kwargs(self) -> dict[str, Any]:
        return {"metadata": self._metadata, "timeout": self.options.timeout_seconds}

    @property
    def max_batch(self) -> int:
        """Bytes per batch call: the server's limit, or gRPC's default message size."""
        if self._max_batch is None:
            caps = self._call(
                "GetCapabilities",
                lambda: self._caps.GetCapabilities(
                    re_pb2.GetCapabilitiesRequest(instance_name=self.options.instance),
                    **self._kwargs(),
                ),
            )
            limit = caps.cache_capabilities.max_batch_total_size_bytes
            self._max_batch = min(limit, 4 * 1024 * 1024) if limit > 0 else 4 * 1024 * 1024
        return self._max_batch

    # --- Store protocol ---------------------------------------------------------------

    def find_missing(self, digests: Iterable[Digest]) -> list[Digest]:
        """See Store.find_missing."""
        wanted = [d for d in digests if d != EMPTY]
        missing: list[Digest] = []
        for start in range(0, len(wanted), FIND_MISSING_PAGE):
            page = wanted[start : start + FIND_MISSING_PAGE]
            request = re_pb2.FindMissingBlobsRequest(
                instance_name=self.options.instance, blob_digests=[_proto(d) for d in page]
            )
            response = self._call(
                "FindMissingBlobs", partial(self._cas.FindMissingBlobs, request, **self._kwargs())
            )
            absent = {(d.hash, d.size_bytes) for d in response.missing_blob_digests}
            missing.extend(d for d in page if (d.hash, d.size) in absent)
        return missing

    def _batches(self, digests: Sequence[Digest]) -> Iterator[list[Digest]]:
        """Group small blobs so each batch stays within the server's limit."""
        batch: list[Digest] = []
        used = 0
        for d in digests:
            cost = d.size + BATCH_OVERHEAD
            if batch and used + cost > self.max_batch:
                yield batch
                batch, used = [], 0
            batch.append(d)
            used += cost
        if batch:
            yield batch

    def _is_small(self, d: Digest) -> bool:
        return d.size + BATCH_OVERHEAD <= self.max_batch

    def get_many(self, digests: Sequence[Digest]) -> dict[Digest, bytes]:
        """See Store.get_many. Every blob is verified against its digest."""
        unique = list(dict.fromkeys(digests))
        found: dict[Digest, bytes] = {d: b"" for d in unique if d == EMPTY}
        small = [d for d in unique if d != EMPTY and self._is_small(d)]
        for batch in self._batches(small):
            request = re_pb2.BatchReadBlobsRequest(
                instance_name=self.options.instance, digests=[_proto(d) for d in batch]
            )
            response = self._call(
                "BatchReadBlobs", partial(self._cas.BatchReadBlobs, request, **self._kwargs())
            )
            for d, entry in zip(batch, response.responses, strict=False):
                if entry.status.code == grpc.StatusCode.OK.value[0]:
                    found[d] = self._verified(d, entry.data)
        for d in unique:
            if d != EMPTY and not self._is_small(d):
                handle = self.open(d)
                if handle is not None:
                    with handle:
                        found[d] = handle.read()
        return found

    def _verified(self, d: Digest, data: bytes) -> bytes:
        reason = mismatch(d, data)
        if reason is not None:
            raise CacheError(f"remote cache {self.options.url} sent a corrupt blob: {reason}")
        return data

    def put_many(self, blobs: Sequence[tuple[Digest, bytes]]) -> list[str | None]:
        """See Store.put_many. Blobs already on the server are not sent again."""
        verdicts = [mismatch(d, data) for d, data in blobs]
        good = {d: data for (d, data), v in zip(blobs, verdicts, strict=True) if v is None}
        absent = set(self.find_missing(list(good)))
        small = [d for d in good if d in absent and self._is_small(d)]
        errors: dict[Digest, str] = {}
        for batch in self._batches(small):
            request = re_pb2.BatchUpdateBlobsRequest(
                instance_name=self.options.instance,
                requests=[
                    re_pb2.BatchUpdateBlobsRequest.Request(digest=_proto(d), data=good[d])
                    for d in batch
                ],
            )
            response = self._call(
                "BatchUpdateBlobs", partial(self._cas.BatchUpdateBlobs, request, **self._kwargs())
            )
            for d, entry in zip(batch, response.responses, strict=False):
                if entry.status.code != grpc.StatusCode.OK.value[0]:
                    errors[d] = f"remote cache refused {d}: {entry.status.message}"
        for d in good:
            if d in absent and not self._is_small(d):
                self._upload(d, partial(_chunks_of, good[d]))
        return [
            v if v is not None else errors.get(d) for (d, _), v in zip(blobs, verdicts, strict=True)
        ]

    def _upload(self, d: Digest, chunks: Callable[[], Iterator[bytes]]) -> None:
        """ByteStream.Write of one blob; ``chunks`` restarts the data for each attempt."""
        prefix = f"{self.options.instance}/" if self.options.instance else ""

        def requests() -> Iterator[bytes]:
            name = f"{prefix}uploads/{uuid.uuid4()}/blobs/{d.hash}/{d.size}"
            offset = 0
            for chunk in chunks():
                yield encode_write_request(name if offset == 0 else "", offset, chunk)
                offset += len(chunk)
            yield encode_write_request(name if offset == 0 else "", offset, b"", finish_write=True)

        response = self._call("ByteStream.Write", lambda: self._write(requests(), **self._kwargs()))
        if response.committed_size != d.size:
            raise CacheError(
                f"remote cache {self.options.url} committed {response.committed_size} bytes of {d}"
            )

    def open(self, digest: Digest) -> BinaryIO | None:
        """See Store.open. Spools to a temporary file (memory up to 8 MiB), verified."""
        prefix = f"{self.options.instance}/" if self.options.instance else ""
        name = f"{prefix}blobs/{digest.hash}/{digest.size}"

        def download() -> IO[bytes] | None:
            # Handed to the caller open (it closes it), so no with-block here.
            spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
            sha = hashlib.sha256()
            try:
                for response in self._bytestream.Read(
                    bs_pb2.ReadRequest(resource_name=name), **self._kwargs()
                ):
                    sha.update(response.data)
                    spool.write(response.data)
            except grpc.RpcError as exc:
                spool.close()
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return None
                raise
            if spool.tell() != digest.size or sha.hexdigest() != digest.hash:
                spool.close()
                raise CacheError(
                    f"remote cache {self.options.url} sent a corrupt blob: "
                    f"{digest} did not match its bytes"
                )
            spool.seek(0)
            return spool

        return self._call("ByteStream.Read", download)  # type: ignore[return-value]

    def writer(self, digest: Digest) -> SpooledWriter:
        """See Store.writer: spooled locally, verified, then uploaded on commit."""
        return SpooledWriter(digest, self._upload_from)

    def _upload_from(self, d: Digest, source: IO[bytes]) -> None:
        if not self.find_missing([d]):
            return

        def chunks() -> Iterator[bytes]:
            source.seek(0)
            while chunk := source.read(CHUNK):
                yield chunk

        self._upload(d, chunks)

    def get_action_result(self, action: Digest) -> bytes | None:
        """See Store.get_action_result."""
        request = re_pb2.GetActionResultRequest(
            instance_name=self.options.instance, action_digest=_proto(action)
        )

        def fetch() -> Any:
            try:
                return self._ac.GetActionResult(request, **self._kwargs())
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return None  # A miss, not a failure.
                raise

        result = self._call("GetActionResult", fetch)
        return None if result is None else bytes(result.SerializeToString(deterministic=True))

    def put_action_result(self, action: Digest, result: bytes) -> None:
        """See Store.put_action_result."""
        message = re_pb2.ActionResult()
        message.ParseFromString(result)
        request = re_pb2.UpdateActionResultRequest(
            instance_name=self.options.instance, action_digest=_proto(action), action_result=message
        )
        self._call(
            "UpdateActionResult", lambda: self._ac.UpdateActionResult(request, **self._kwargs())
        )


def _chunks_of(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        yield bytes(view[start : start + CHUNK])


class SpooledWriter:
    """A BlobWriter that spools to a temporary file, verifies, then uploads."""

    def __init__(self, digest: Digest, upload: Callable[[Digest, IO[bytes]], None]) -> None:
        self._digest = digest
        self._upload = upload
        self._sha = hashlib.sha256()
        # Lives until commit() or abort() closes it.
        self._spool: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=_SPOOL_IN_MEMORY
        )
        self._size = 0

    @property
    def committed_size(self) -> int:
        """Bytes received so far."""
        return self._size

    def write(self, chunk: bytes | memoryview) -> None:
        """Append a chunk."""
        self._sha.update(chunk)
        self._spool.write(chunk)
        self._size += len(chunk)

    def commit(self) -> None:
        """Verify, then upload; CacheError when the bytes do not match the digest."""
        try:
            if self._size != self._digest.size or self._sha.hexdigest() != self._digest.hash:
                raise CacheError(f"refusing to upload {self._digest}: its bytes do not match")
            self._upload(self._digest, self._spool)
        finally:
            self.abort()

    def abort(self) -> None:
        """Discard the spooled bytes."""
        with contextlib.suppress(OSError):
            self._spool.close()
