"""A replica's store: the local disk store in front of a shared object-store bucket.

Reads try the front first, then the bucket, and copy what the bucket had into the
front. Writes land in the front (acknowledged once durable there) and are queued for
the bucket (:mod:`graphkit.cache.store.uploads`); an :class:`Uploader` thread drains
the queue. FindMissingBlobs asks the front, then the bucket (concurrently) for the
rest.

The bucket is never a dependency: while it fails or is slower than its timeout,
:class:`BackendHealth` marks the replica degraded and the read path skips the bucket
for a short while (a down backend would otherwise cost a timeout per call), so reads
answer from the front and writes queue; the uploader keeps retrying and clears the
mark on its first success. Each call's store is bound to the client's deadline
(:meth:`FrontedStore.within`): a bucket request still running near the deadline is
dropped and the call answers from the front in time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO, TypeVar

from graphkit.cache.deadline import NO_DEADLINE, Deadline
from graphkit.cache.digest import Digest
from graphkit.cache.store.base import BlobWriter, NoRoom, ServedStore
from graphkit.cache.store.objects import PART_BYTES, BackendError, DeadlineReached, ObjectStore
from graphkit.cache.store.uploads import Pending, QueueFull, UploadQueue
from graphkit.errors import CacheError

log = logging.getLogger("graphkit.cache.server")
T = TypeVar("T")
# After a failed backend call, reads skip the bucket this long.
SKIP_AFTER_FAILURE_SECONDS = 5.0
# A bucket request cut by a call's deadline after this long counts as a failure (the
# bucket is slow); one cut sooner only says the client was in a hurry.
SLOW_SECONDS = 1.0
_RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)
# The uploader holds at most this many bytes of small blobs in memory at once.
_BATCH_BYTES = 32 * 1024 * 1024
# While the server answers calls, the uploader leaves an entry queued for up to this
# long after it was queued (see Uploader).
MAX_UPLOAD_DELAY_SECONDS = 2.0
# The server counts as busy until no call has run for this long.
QUIET_SECONDS = 0.1
_BUSY_POLL_SECONDS = 0.05
# Small blobs go up in slices of at most this many, the uploader giving way before each.
_SLICE_BLOBS = 128
# Action results queued one after another go up this many at a time.
_RESULTS_AT_ONCE = 64


class BackendHealth:
    """Whether the bucket answered lately; shared by every namespace of one server."""

    def __init__(self, on_change: Callable[[bool], None] = lambda _degraded: None) -> None:
        self._lock = threading.Lock()
        self._skip_until = 0.0
        self._degraded = False
        self._on_change = on_change

    @property
    def degraded(self) -> bool:
        """True since the last failed call, until a call succeeds again."""
        return self._degraded

    def usable(self) -> bool:
        """Whether the read path should try the bucket now."""
        return time.monotonic() >= self._skip_until

    def failed(self, error: BackendError) -> None:
        with self._lock:
            self._skip_until = time.monotonic() + SKIP_AFTER_FAILURE_SECONDS
            changed, self._degraded = not self._degraded, True
        if changed:
            log.warning("object store degraded: %s", error, extra={"event": "backend_degraded"})
            self._on_change(True)

    def succeeded(self) -> None:
        with self._lock:
            self._skip_until = 0.0
            changed, self._degraded = self._degraded, False
        if changed:
            log.info("object store reachable again", extra={"event": "backend_recovered"})
            self._on_change(False)


class FrontedStore:
    """A ServedStore of one instance name: ``front`` over the shared ``objects``."""

    def __init__(
        self,
        front: ServedStore,
        instance: str,
        objects: ObjectStore,
        queue: UploadQueue,
        health: BackendHealth,
        deadline: Deadline = NO_DEADLINE,
    ) -> None:
        self.front = front
        self._instance = instance
        self._objects = objects
        self._queue = queue
        self._health = health
        self._deadline = deadline

    def within(self, deadline: Deadline) -> FrontedStore:
        """This store for one call: bucket requests end by ``deadline``."""
        return FrontedStore(
            self.front, self._instance, self._objects, self._queue, self._health, deadline
        )

    def _backend(self, action: Callable[[], T], fallback: T) -> T:
        if not self._health.usable():
            return fallback
        try:
            value = action()
        except DeadlineReached as exc:
            if exc.waited >= SLOW_SECONDS:
                self._health.failed(exc)
            return fallback
        except BackendError as exc:
            self._health.failed(exc)
            return fallback
        self._health.succeeded()
        return value

    def find_missing(self, digests: Iterable[Digest]) -> list[Digest]:
        """Missing from the front and from the bucket (the front's answer if it fails)."""
        rest = self.front.find_missing(digests)
        if not rest:
            return []
        none: set[Digest] = set()
        present = self._backend(
            lambda: self._objects.present(self._instance, rest, self._deadline), none
        )
        return [d for d in rest if d not in present]

    def find_missing_here(self, digests: Iterable[Digest]) -> list[Digest]:
        """See ServedStore.find_missing_here: the front's answer, no bucket request."""
        return self.front.find_missing(digests)

    def get_many(self, digests: Sequence[Digest]) -> dict[Digest, bytes]:
        """Front hits, then bucket hits (fetched concurrently, copied into the front)."""
        found = self.front.get_many(digests)
        found.update(self._fetch([d for d in dict.fromkeys(digests) if d not in found]))
        return found

    def peek_many(self, digests: Sequence[Digest]) -> dict[Digest, bytes]:
        """See ServedStore.peek_many: the front's only."""
        return self.front.peek_many(digests)

    def read_batch(self, digests: Sequence[Digest]) -> list[bytes | None]:
        """See ServedStore.read_batch: the front's, then the bucket's for the rest."""
        values = self.front.read_batch(digests)
        rest = [d for d, value in zip(digests, values, strict=True) if value is None]
        if rest:
            fetched = self._fetch(list(dict.fromkeys(rest)))
            values = [
                fetched.get(d) if value is None else value
                for d, value in zip(digests, values, strict=True)
            ]
        return values

    def _fetch(self, rest: list[Digest]) -> dict[Digest, bytes]:
        """What the bucket has of ``rest`` (distinct digests), copied into the front."""
        if not rest:
            return {}
        nothing: dict[Digest, bytes] = {}
        fetched = self._backend(
            lambda: self._objects.get_many(self._instance, rest, self._deadline), nothing
        )
        if fetched:
            self.front.put_many(list(fetched.items()))
        return fetched

    def put_many(self, blobs: Sequence[tuple[Digest, bytes]]) -> list[str | None]:
        """Store in the front; queue the stored blobs for the bucket, as one entry."""
        verdicts = self.front.put_many(blobs)
        stored = {
            d: data for (d, data), verdict in zip(blobs, verdicts, strict=True) if verdict is None
        }
        self._queue_blobs(list(stored), self._put_now(list(stored.items())))
        return verdicts

    def _put_now(self, blobs: list[tuple[Digest, bytes]]) -> Callable[[], None]:
        def upload() -> None:
            self._objects.put_many(self._instance, blobs, self._deadline)

        return upload

    def _queue_blobs(self, blobs: list[Digest], upload_now: Callable[[], None]) -> None:
        """Queue uploads; with the queue full, upload before acknowledging."""
        if not blobs:
            return
        try:
            self._queue.add_blobs(self._instance, blobs)
        except QueueFull as exc:
            try:
                upload_now()
            except DeadlineReached:
                raise  # Answered as DEADLINE_EXCEEDED; the client may try again.
            except BackendError as failed:
                self._health.failed(failed)
                raise NoRoom(f"{exc} and the object store fails: {failed}") from failed

    def open(self, digest: Digest) -> BinaryIO | None:
        """A front handle; a bucket hit is first streamed (and verified) into the front."""
        handle = self.front.open(digest)
        if handle is not None:
            return handle
        return self.front.open(digest) if self._backend(lambda: self._fill(digest), False) else None

    def _fill(self, digest: Digest) -> bool:
        """Stream the bucket's copy of a blob into the front through its verifying
        writer: False when the bucket lacks it, or holds bytes that do not match the
        digest (dropped, so the next upload repairs them). Bucket failures propagate."""
        chunks = self._objects.stream(self._instance, digest, self._deadline)
        if chunks is None:
            return False
        writer = self.front.writer(digest)
        try:
            for chunk in chunks:
                writer.write(chunk)
            writer.commit()
        except BackendError:
            raise
        except CacheError:
            self._objects.drop_damaged(self._instance, digest)
            return False
        finally:
            writer.abort()
        return True

    def writer(self, digest: Digest) -> BlobWriter:
        """The front's writer; a good commit queues the blob for the bucket."""
        return _QueueingWriter(self, digest)

    def get_action_result(self, action: Digest) -> bytes | None:
        """The front's result, else the bucket's (copied into the front).

        The server serves a result only when every blob it references is present, and
        presence here includes the bucket, so a result from another replica is served
        only while the bucket (or this front) holds its blobs.
        """
        result = self.front.get_action_result(action)
        if result is not None:
            return result
        result = self._backend(
            lambda: self._objects.get_action_result(self._instance, action, self._deadline),
            None,
        )
        if result is not None:
            self.front.put_action_result(action, result)
        return result

    def put_action_result(self, action: Digest, result: bytes) -> None:
        """Store in the front; queue for the bucket behind the blobs queued before it."""
        self.front.put_action_result(action, result)
        try:
            self._queue.add_result(self._instance, action, result)
        except QueueFull:
            try:
                self._objects.put_action_result(self._instance, action, result, self._deadline)
            except DeadlineReached:
                raise
            except BackendError as failed:
                self._health.failed(failed)
                raise NoRoom(
                    f"the upload queue is full and the object store fails: {failed}"
                ) from failed

    def recall_complete_result(self, action: Digest) -> bytes | None:
        """See ServedStore (the front's memo)."""
        return self.front.recall_complete_result(action)

    def remember_complete_result(
        self, action: Digest, result: bytes, blobs: Sequence[Digest]
    ) -> None:
        """See ServedStore (the front's memo)."""
        self.front.remember_complete_result(action, result, blobs)


class _QueueingWriter:
    def __init__(self, store: FrontedStore, digest: Digest) -> None:
        self._store = store
        self._digest = digest
        self._front = store.front.writer(digest)

    @property
    def committed_size(self) -> int:
        """Bytes received so far."""
        return self._front.committed_size

    def write(self, chunk: bytes | memoryview) -> None:
        """Append a chunk."""
        self._front.write(chunk)

    def commit(self) -> None:
        """Commit to the front (verified, durable), then queue it for the bucket."""
        self._front.commit()
        self._store._queue_blobs([self._digest], self._upload_now)

    def _upload_now(self) -> None:
        handle = self._store.front.open(self._digest)
        if handle is not None:
            with handle:
                self._store._objects.put_stream(self._store._instance, self._digest, handle)

    def abort(self) -> None:
        """Discard the upload."""
        self._front.abort()


class Uploader:
    """The thread that drains the upload queue into the bucket, oldest first.

    Uploading is background work that shares the server's CPUs (and its GIL) with the
    calls: each PUT costs the server's process about as much CPU as storing some 20
    blobs of a batch (bench/RESULTS.md). So while ``busy()`` says the server is
    answering calls, the uploader waits before each slice of an entry (at most
    ``_SLICE_BLOBS`` small blobs, or one large one), but never once the entry is
    ``max_delay`` seconds old: a burst of writes is answered first and uploaded in the
    pause after it, while under sustained load the uploader runs at full speed
    ``max_delay`` behind the writes (the delay other replicas see is bounded, and the
    queue drains as fast as without the wait). Nothing about durability changes: an
    entry stays on disk until all of it is uploaded.
    """

    def __init__(
        self,
        queue: UploadQueue,
        objects: ObjectStore,
        fronts: Callable[[str], ServedStore],
        health: BackendHealth,
        on_lost: Callable[[int], None] = lambda _n: None,
        busy: Callable[[], bool] = lambda: False,
        max_delay: float = MAX_UPLOAD_DELAY_SECONDS,
    ) -> None:
        self._queue = queue
        self._objects = objects
        self._fronts = fronts
        self._health = health
        self._on_lost = on_lost
        self._busy = busy
        self._max_delay = max_delay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backend-upload", daemon=True)

    def start(self) -> None:
        """Start draining."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the upload in progress (what is left stays queued on disk)."""
        self.stopping()
        self._thread.join(timeout)

    def stopping(self) -> None:
        """Ask the thread to stop, without waiting for it."""
        self._stop.set()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            entry = self._queue.oldest(timeout=0.5)
            if entry is None:
                continue
            try:
                uploaded = self._upload(entry)
            except _Stopped:
                return  # The entry stays queued, whole, for the next start.
            except BackendError as exc:
                if self._stop.is_set():
                    return  # Stopping: the object store client was closed under it.
                self._health.failed(exc)
                self._stop.wait(_RETRY_SECONDS[min(failures, len(_RETRY_SECONDS) - 1)])
                failures += 1
                continue
            failures = 0
            self._health.succeeded()
            for name in uploaded:
                self._queue.done(name)

    def _give_way(self, entry: Pending) -> None:
        """Wait while the server is busy, until ``max_delay`` after ``entry`` was queued.

        Raises _Stopped when asked to stop meanwhile.
        """
        # The entry's age by the wall clock (its mtime), the wait by the monotonic one;
        # an mtime in the future (a clock step) waits max_delay at most.
        age = min(max(0.0, time.time() - entry.queued_at), self._max_delay)
        until = time.monotonic() + self._max_delay - age
        while time.monotonic() < until and self._busy() and not self._stop.is_set():
            self._stop.wait(_BUSY_POLL_SECONDS)
        if self._stop.is_set():
            raise _Stopped

    def _upload(self, entry: Pending) -> list[str]:
        """Upload ``entry`` (and the results queued right after a result); the names
        of the entries uploaded."""
        if entry.kind == "ac":
            # Results go up together: one PUT each, but one hand-off to the event loop
            # and one wait for them all, where a result each cost the server a round trip.
            results = [entry, *self._queue.results_after(entry, _RESULTS_AT_ONCE - 1)]
            self._give_way(entry)
            self._objects.put_action_results(
                [(r.instance, r.digests[0], r.result or b"") for r in results]
            )
            return [r.name for r in results]
        front = self._fronts(entry.instance)
        small = [d for d in entry.digests if d.size <= PART_BYTES]
        for group in _groups(small, _BATCH_BYTES, _SLICE_BLOBS):
            self._give_way(entry)
            # A small blob is PUT without asking first: a HEAD costs as much as the PUT.
            found = front.peek_many(group)  # An upload is not a client's use.
            wrong = self._objects.put_many(entry.instance, list(found.items()))
            # Evicted from the front before it could be uploaded (a front far too small
            # for the write rate), or damaged there: counted, the bucket will not have it.
            self._on_lost(len(group) - len(found) + len(wrong))
        for d in entry.digests:
            if d.size > PART_BYTES:
                self._give_way(entry)
                self._upload_large(front, entry.instance, d)
        return [entry.name]

    def _upload_large(self, front: ServedStore, instance: str, d: Digest) -> None:
        if self._objects.present(instance, [d]):
            return  # Another replica stored it already.
        handle = front.open(d)
        if handle is None:
            self._on_lost(1)
            return
        with handle:
            try:
                self._objects.put_stream(instance, d, handle)
            except BackendError:
                raise
            except CacheError:
                # Damaged on the front's disk (the store dropped it): the digest check
                # aborted the upload, and the bucket will not have it.
                self._on_lost(1)


class _Stopped(Exception):
    """The uploader was asked to stop while giving way."""


def _groups(blobs: list[Digest], max_bytes: int, max_count: int) -> Iterator[list[Digest]]:
    """``blobs`` in order, in groups of at most ``max_bytes`` (or one blob) and
    ``max_count`` blobs."""
    group: list[Digest] = []
    size = 0
    for d in blobs:
        if group and (size + d.size > max_bytes or len(group) >= max_count):
            yield group
            group, size = [], 0
        group.append(d)
        size += d.size
    if group:
        yield group
