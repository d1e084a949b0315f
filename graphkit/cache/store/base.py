"""The Store interface: a content-addressable blob store plus an action cache.

Everything that holds cache data — the local diskcache (:mod:`graphkit.cache.store.local`),
the REAPI client (:mod:`graphkit.cache.client.remote`) and the tiered pair
(:mod:`graphkit.cache.store.tiered`) — implements this protocol, so the server and the
runner never know which one they hold, and a shared backend can later serve several
server replicas.

Action results are stored as the serialized bytes of a REAPI ``ActionResult``; the
store does not interpret them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import BinaryIO, Protocol

from graphkit.cache.digest import Digest
from graphkit.errors import CacheError


class NoRoom(CacheError):
    """The store cannot hold a blob now: uploads in flight fill its size budget."""


class BlobWriter(Protocol):
    """A streaming upload of one blob: hashed as it arrives, invisible until committed."""

    @property
    def committed_size(self) -> int:
        """Bytes received so far."""
        ...

    def write(self, chunk: bytes | memoryview) -> None:
        """Append ``chunk``; raises InvalidRequest once the blob outgrows its digest."""
        ...

    def commit(self) -> None:
        """Verify size and hash, then make the blob visible atomically.

        Raises InvalidRequest (and discards the data) when the bytes do not match.
        """
        ...

    def abort(self) -> None:
        """Discard the partial upload. Safe to call more than once, or after commit."""
        ...


class Store(Protocol):
    """Blobs by digest and action results by action digest."""

    def find_missing(self, digests: Iterable[Digest]) -> list[Digest]:
        """The digests not present, in request order.

        Present blobs count as used: their least-recently-used age is refreshed, so a
        client told "present" can still download them later.
        """
        ...

    def get_many(self, digests: Sequence[Digest]) -> dict[Digest, bytes]:
        """The bytes of each present blob; missing digests are absent from the result."""
        ...

    def put_many(self, blobs: Sequence[tuple[Digest, bytes]]) -> list[str | None]:
        """Store each blob whose bytes match its digest.

        Returns, position by position, None for a stored blob or why it was rejected
        (a batch may name one digest twice, with different bytes).
        """
        ...

    def open(self, digest: Digest) -> BinaryIO | None:
        """A binary file object positioned at the blob's start, or None if absent.

        The caller closes it. Used for blobs too large to hold in memory.
        """
        ...

    def writer(self, digest: Digest) -> BlobWriter:
        """Start a streaming upload of the blob ``digest``."""
        ...

    def get_action_result(self, action: Digest) -> bytes | None:
        """The serialized ActionResult stored for ``action``, or None."""
        ...

    def put_action_result(self, action: Digest, result: bytes) -> None:
        """Store the serialized ActionResult for ``action`` (last writer wins)."""
        ...


class ServedStore(Store, Protocol):
    """A Store the server answers from, with a memo of results known to be complete.

    GetActionResult must check that every blob a result references is present; the
    memo lets a repeated lookup skip that check (and the parsing) until one of those
    blobs, or the result itself, is evicted or replaced.
    """

    def recall_complete_result(self, action: Digest) -> bytes | None:
        """The remembered result for ``action``; refreshes the age of it and its blobs.

        The refresh may be skipped when the same result was refreshed moments ago: an
        age is exact to within a minute.
        """
        ...

    def remember_complete_result(
        self, action: Digest, result: bytes, blobs: Sequence[Digest]
    ) -> None:
        """Remember ``result`` as complete while it and every one of ``blobs`` stay.

        Does nothing if any of them is already gone or the stored result differs.
        """
        ...

    def read_batch(self, digests: Sequence[Digest]) -> list[bytes | None]:
        """Each digest's bytes, position by position; None where absent (or damaged).

        get_many for a BatchReadBlobs answer, which lists every digest in request
        order anyway: no dict keyed by digest in between.
        """
        ...

    def peek_many(self, digests: Sequence[Digest]) -> dict[Digest, bytes]:
        """get_many without counting as a use: for copying blobs elsewhere (a replica's
        uploads), which says nothing about whether clients still want them."""
        ...

    def find_missing_here(self, digests: Iterable[Digest]) -> list[Digest]:
        """find_missing of where a write lands (a replica's front), asking no shared
        bucket: what a Write checks before it receives a blob."""
        ...


def get_blob(store: Store, digest: Digest) -> bytes | None:
    """One blob's bytes, or None when absent."""
    return store.get_many([digest]).get(digest)
