"""Blobs and action results in an object store (S3, GCS, Azure) shared by replicas.

obstore (Rust ``object_store``) gives one client for ``s3://bucket/prefix``,
``gs://bucket/prefix`` and ``az://account/container/prefix``; credentials, region and
endpoint come from the standard environment of each (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``, ``AWS_ALLOW_HTTP``,
...), with flags able to set endpoint and region.

Layout under the prefix: ``cas/{hash}-{size}`` and ``ac/{hash}-{size}`` for the
default instance, ``instances/{hex of name}/cas/...`` for named ones (hex because an
instance segment may be ``..``, which no object path may hold).

Safety: a blob is written only after its bytes were checked against its digest, and
written whole (one PUT, or a multipart upload completed only after the last part was
read and the digest matched), so a writer killed mid-upload leaves nothing under the
digest's key. Every
read is checked again; an object whose bytes do not match its digest is deleted and
reported absent, never served. Any backend failure (unreachable, slow past the
timeout, refused) is a :class:`BackendError`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, BinaryIO, TypeVar

import obstore
from obstore.store import from_url

from graphkit.cache.deadline import NO_DEADLINE, Deadline
from graphkit.cache.digest import Digest, mismatch
from graphkit.errors import CacheError, InputError

SCHEMES = ("s3://", "s3a://", "gs://", "az://", "azure://", "abfs://", "abfss://")
# Objects larger than this are uploaded in multipart parts, and downloaded in ranged
# GETs, of this size: each part is one request within the request timeout, and an
# upload holds at most _PARTS_IN_FLIGHT of them in memory.
PART_BYTES = 8 * 1024 * 1024
_PARTS_IN_FLIGHT = 4
# A batch (presence checks, batch reads) runs this many requests at once.
_PARALLEL = 16
_CLOSED_POLL_SECONDS = 0.5
T = TypeVar("T")
R = TypeVar("R")
Item = TypeVar("Item")


class BackendError(CacheError):
    """The object store could not be reached, answered too slowly, or refused."""


class DeadlineReached(BackendError):
    """The call's deadline came before the object store answered (the request is dropped)."""

    def __init__(self, message: str, waited: float) -> None:
        super().__init__(message)
        self.waited = waited


@dataclass(frozen=True)
class BackendOptions:
    """Where the object store is and how long a call to it may take."""

    url: str
    endpoint: str | None = None
    region: str | None = None
    # Per-request limit; a slow backend costs at most this (plus connect) per call.
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0


def parse_backend_url(text: str) -> str:
    """``s3://bucket/prefix`` (or gs://, az://) as given, or an InputError."""
    if not text.startswith(SCHEMES) or len(text.split("://", 1)[1].strip("/")) == 0:
        raise InputError(
            f"--backend {text!r} is not an object-store URL",
            hint="e.g. s3://bucket/prefix, gs://bucket/prefix, az://account/container",
        )
    return text


def _allow_http(endpoint: str | None) -> bool:
    """Plain http only when asked for, as every S3 client does (AWS_ALLOW_HTTP=true)."""
    if os.environ.get("AWS_ALLOW_HTTP", "").lower() == "true":
        return True
    return endpoint is not None and endpoint.startswith("http://")


class ObjectStore:
    """The shared tier: verified whole objects under their digests.

    Calls made for a client pass its :class:`Deadline`: they run on one event loop
    thread (obstore's async API), and a call still running when its deadline comes is
    cancelled (its HTTP request dropped) and raises :class:`DeadlineReached`. Batches
    (presence checks, batch reads) run up to ``_PARALLEL`` requests at once. The
    uploader's calls have no deadline and are bounded by the request timeout alone.
    """

    def __init__(self, options: BackendOptions) -> None:
        self.options = options
        config: dict[str, Any] = {}
        if options.endpoint is not None:
            config["endpoint"] = options.endpoint
        if options.region is not None:
            config["region"] = options.region
        endpoint = options.endpoint or os.environ.get("AWS_ENDPOINT_URL")
        client = {
            "timeout": f"{max(1, round(options.timeout_seconds * 1000))}ms",
            "connect_timeout": f"{max(1, round(options.connect_timeout_seconds * 1000))}ms",
            "allow_http": _allow_http(endpoint),
        }
        # One retry at most, and never past the timeout: the caller has a deadline
        # and a front store to fall back on.
        retry = {"max_retries": 1, "retry_timeout": timedelta(seconds=options.timeout_seconds)}
        try:
            # Typed per scheme by obstore; the config keys here are S3's and given only
            # when the flags set them, so any URL scheme passes through.
            make: Any = from_url
            self._store: Any = make(
                options.url, config=config or None, client_options=client, retry_config=retry
            )
        except Exception as exc:  # obstore raises several config error types
            raise InputError(f"--backend {options.url}: {exc}".splitlines()[0]) from exc
        self._closed = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="backend-io", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Cancel the requests in flight (their callers get a BackendError), then stop."""
        self._closed.set()

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(2)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self, work: Callable[[], Awaitable[T]], deadline: Deadline) -> T:
        """Run ``work`` on the loop; cancel it and raise DeadlineReached at the deadline."""
        budget = deadline.budget()
        if budget is not None and budget <= 0:
            raise DeadlineReached(
                "the call's deadline passed before the object store was asked", 0.0
            )

        async def call() -> T:
            return await work()

        if self._closed.is_set():
            raise BackendError("the object store client is closed")
        started = time.monotonic()
        future = asyncio.run_coroutine_threadsafe(call(), self._loop)
        while True:
            # Without a deadline, wake now and then: a loop closed meanwhile never
            # finishes the future.
            waited = time.monotonic() - started
            wait = _CLOSED_POLL_SECONDS if budget is None else max(0.0, budget - waited)
            try:
                return future.result(wait)
            except concurrent.futures.CancelledError:
                raise BackendError("the object store client is closed") from None
            except concurrent.futures.TimeoutError:
                if future.done():
                    raise  # The work itself raised a TimeoutError: not ours to rename.
            if self._closed.is_set():
                future.cancel()
                raise BackendError("the object store client is closed")
            if budget is not None:
                # Cancelling drops the request: its connection is closed, not left hanging.
                future.cancel()
                waited = time.monotonic() - started
                raise DeadlineReached(
                    f"the object store did not answer within the call's deadline ({waited:.2f}s)",
                    waited,
                )

    def present(
        self, instance: str, digests: Iterable[Digest], deadline: Deadline = NO_DEADLINE
    ) -> set[Digest]:
        """The blobs the backend holds, checked concurrently (HEAD of each key)."""
        wanted = list(dict.fromkeys(digests))

        async def one(d: Digest) -> bool:
            return await self._exists(blob_key(instance, d), d.size)

        found = self._run(lambda: _bounded(one, wanted), deadline)
        return {d for d, ok in zip(wanted, found, strict=True) if ok}

    async def _exists(self, key: str, size: int) -> bool:
        try:
            meta = await obstore.head_async(self._store, key)
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise _failed("HEAD", key, exc) from exc
        return int(meta["size"]) == size

    def get(self, instance: str, digest: Digest, deadline: Deadline = NO_DEADLINE) -> bytes | None:
        """The verified bytes of a blob, or None when absent or damaged (then deleted)."""
        return self.get_many(instance, [digest], deadline).get(digest)

    def get_many(
        self, instance: str, digests: Sequence[Digest], deadline: Deadline = NO_DEADLINE
    ) -> dict[Digest, bytes]:
        """The verified bytes of each blob the backend holds, fetched concurrently.

        Absent blobs are left out, and so are damaged ones (deleted on the way).
        """
        wanted = list(dict.fromkeys(digests))

        async def one(d: Digest) -> bytes | None:
            key = blob_key(instance, d)
            data = await self._get(key)
            if data is not None and mismatch(d, data) is not None:
                self._drop_damaged(key)
                return None
            return data

        found = self._run(lambda: _bounded(one, wanted), deadline)
        return {d: data for d, data in zip(wanted, found, strict=True) if data is not None}

    def stream(
        self, instance: str, digest: Digest, deadline: Deadline = NO_DEADLINE
    ) -> Iterator[bytes] | None:
        """The blob's bytes in chunks (unverified: the caller's writer checks them).

        A large blob comes in ranged GETs of ``PART_BYTES``, each one request within
        the request timeout, however slow the link and large the blob. None when the
        object is absent; each chunk raises DeadlineReached once the deadline comes.
        """
        key = blob_key(instance, digest)
        first = self._run(lambda: self._first_part(key, digest.size), deadline)
        if first is None:
            return None

        def chunks() -> Iterator[bytes]:
            yield first
            for start in range(len(first), digest.size, PART_BYTES):
                end = min(start + PART_BYTES, digest.size)
                yield self._run(lambda s=start, e=end: self._range(key, s, e), deadline)  # type: ignore[misc]

        return chunks()

    async def _first_part(self, key: str, size: int) -> bytes | None:
        try:
            if size <= PART_BYTES:
                return bytes(await (await obstore.get_async(self._store, key)).bytes_async())
            result = await obstore.get_async(self._store, key, options={"range": (0, PART_BYTES)})
            if int(result.meta["size"]) != size:
                # Damaged: not this blob. An empty answer makes the caller's check fail.
                return b""
            return bytes(await result.bytes_async())
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise _failed("GET", key, exc) from exc

    async def _range(self, key: str, start: int, end: int) -> bytes:
        try:
            return bytes(await obstore.get_range_async(self._store, key, start=start, end=end))
        except Exception as exc:
            raise _failed("GET", key, exc) from exc

    def drop_damaged(self, instance: str, digest: Digest) -> None:
        """Delete a blob found not to match its digest, so a later upload repairs it."""
        self._drop_damaged(blob_key(instance, digest))

    def put(
        self, instance: str, digest: Digest, data: bytes, deadline: Deadline = NO_DEADLINE
    ) -> None:
        """Store a blob whole, after checking its bytes against its digest."""
        why = mismatch(digest, data)
        if why is not None:
            raise CacheError(f"not uploading {why}")
        key = blob_key(instance, digest)
        self._run(lambda: self._put(key, data), deadline)

    def put_many(
        self,
        instance: str,
        blobs: Sequence[tuple[Digest, bytes]],
        deadline: Deadline = NO_DEADLINE,
    ) -> list[Digest]:
        """Store blobs whole, ``_PARALLEL`` PUTs at once; returns those not uploaded
        because their bytes do not match their digest."""
        wrong = [d for d, data in blobs if mismatch(d, data) is not None]
        good = [(d, data) for d, data in blobs if d not in wrong]
        by_digest = dict(good)

        async def one(d: Digest) -> None:
            await self._put(blob_key(instance, d), by_digest[d])

        self._run(lambda: _bounded(one, list(by_digest)), deadline)
        return wrong

    def put_stream(self, instance: str, digest: Digest, source: BinaryIO) -> None:
        """Store a blob read from ``source`` without holding it in memory.

        A blob up to ``PART_BYTES`` is read, checked and stored with one PUT. A larger
        one goes up as a multipart upload, ``PART_BYTES`` at a time, hashed on the way;
        the upload is completed only after the last byte was read and the digest
        matched, and aborted otherwise, so the object appears under its digest whole
        and verified or not at all (a killed process leaves an incomplete upload, which
        is invisible and which the bucket's lifecycle rule removes). Runs in the
        caller's thread, bounded by the request timeout per part.
        """
        key = blob_key(instance, digest)
        if digest.size <= PART_BYTES:
            data = source.read(digest.size + 1)
            if mismatch(digest, data) is not None:
                raise CacheError(
                    f"not uploading blob {digest}: the source does not match its digest"
                )
            chunks: bytes | Iterator[bytes] = data
        else:
            chunks = _verified_chunks(source, digest)
        try:
            obstore.put(
                self._store, key, chunks, chunk_size=PART_BYTES, max_concurrency=_PARTS_IN_FLIGHT
            )
        except _Mismatch as exc:
            raise CacheError(f"not uploading blob {digest}: {exc}") from None
        except CacheError:
            raise
        except Exception as exc:
            raise _failed("PUT", key, exc) from exc

    def get_action_result(
        self, instance: str, action: Digest, deadline: Deadline = NO_DEADLINE
    ) -> bytes | None:
        """The stored serialized ActionResult, or None."""
        key = result_key(instance, action)
        return self._run(lambda: self._get(key), deadline)

    def put_action_result(
        self, instance: str, action: Digest, result: bytes, deadline: Deadline = NO_DEADLINE
    ) -> None:
        """Store a serialized ActionResult (last writer wins)."""
        key = result_key(instance, action)
        self._run(lambda: self._put(key, result), deadline)

    def put_action_results(self, results: Sequence[tuple[str, Digest, bytes]]) -> None:
        """Store serialized ActionResults (instance, action, result), ``_PARALLEL`` PUTs
        at once: one hand-off to the event loop for all of them, not one each."""

        async def one(item: tuple[str, Digest, bytes]) -> None:
            instance, action, result = item
            await self._put(result_key(instance, action), result)

        self._run(lambda: _bounded(one, results), NO_DEADLINE)

    async def _get(self, key: str) -> bytes | None:
        try:
            return bytes(await (await obstore.get_async(self._store, key)).bytes_async())
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise _failed("GET", key, exc) from exc

    async def _put(self, key: str, data: bytes) -> None:
        try:
            await obstore.put_async(self._store, key, data)
        except Exception as exc:
            raise _failed("PUT", key, exc) from exc

    def _drop_damaged(self, key: str) -> None:
        # Not served either way, and not waited for: a failed delete only delays the
        # repair (the next upload of the blob overwrites it).
        async def delete() -> None:
            with contextlib.suppress(Exception):
                await obstore.delete_async(self._store, key)

        asyncio.run_coroutine_threadsafe(delete(), self._loop)


class _Mismatch(Exception):
    """Raised inside a multipart upload's input so that obstore aborts the upload."""


def _verified_chunks(source: BinaryIO, digest: Digest) -> Iterator[bytes]:
    """``source`` in parts, raising _Mismatch instead of ending if it is not ``digest``.

    obstore completes a multipart upload only when its input ends, so a mismatch found
    after the last part still aborts it.
    """
    hasher, size = hashlib.sha256(), 0
    while size <= digest.size and (chunk := source.read(PART_BYTES)):
        hasher.update(chunk)
        size += len(chunk)
        yield chunk
    if size != digest.size or hasher.hexdigest() != digest.hash:
        raise _Mismatch(f"the source does not match its digest ({size} bytes read)")


async def _bounded(one: Callable[[Item], Awaitable[R]], items: Sequence[Item]) -> list[R]:
    """``one`` of each item, at most ``_PARALLEL`` at once, in order; the first failure
    cancels the rest."""
    gate = asyncio.Semaphore(_PARALLEL)

    async def gated(d: Item) -> R:
        async with gate:
            return await one(d)

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(gated(d)) for d in items]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None  # One line for the caller, as elsewhere.
    return [t.result() for t in tasks]


def _namespace(instance: str) -> str:
    return f"instances/{instance.encode().hex()}/" if instance else ""


def blob_key(instance: str, digest: Digest) -> str:
    """The object key of a blob."""
    return f"{_namespace(instance)}cas/{digest.hash}-{digest.size}"


def result_key(instance: str, action: Digest) -> str:
    """The object key of an action's result."""
    return f"{_namespace(instance)}ac/{action.hash}-{action.size}"


def _failed(method: str, key: str, exc: Exception) -> BackendError:
    """One line naming the call; obstore's messages carry a multi-line debug dump."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return BackendError(f"object store {method} {key}: {first}")


def missing_from(present: set[Digest], digests: Sequence[Digest]) -> list[Digest]:
    """``digests`` not in ``present``, in order."""
    return [d for d in digests if d not in present]
