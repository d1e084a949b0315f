"""Local first, then remote: the runner's cache.

Reads try the local store, then the remote one, and copy what the remote had into
the local store (back-fill), so the next run on this machine needs no network.
Writes go to both. The remote is an accelerator, never a dependency: any remote
failure becomes one warning through the ``warn`` callback, and the run carries on
with the local store alone — a failed read stops remote use for the rest of the run
(a down server would otherwise cost a timeout per call); a refused write (say, a
read-only token on a pull-request build) stops remote writes only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO, TypeVar

from graphkit.cache.digest import Digest
from graphkit.cache.store.base import BlobWriter, Store
from graphkit.errors import CacheError

T = TypeVar("T")
_COPY_CHUNK = 1024 * 1024


class TieredStore:
    """A Store that layers a local store over a remote one."""

    def __init__(self, local: Store, remote: Store, warn: Callable[[str], None]) -> None:
        self.local = local
        self.remote = remote
        self._warn = warn
        self._lock = threading.Lock()
        self._reads_ok = True
        self._writes_ok = True

    def _remote(self, action: Callable[[], T], *, write: bool, fallback: T) -> T:
        """Run a remote action; on CacheError warn once and disable that direction."""
        if not (self._writes_ok if write else self._reads_ok):
            return fallback
        try:
            return action()
        except CacheError as exc:
            with self._lock:
                was_on = self._writes_ok if write else self._reads_ok
                if write:
                    self._writes_ok = False
                else:
                    self._reads_ok = self._writes_ok = False
            if was_on:
                scope = "uploads to it" if write else "it"
                self._warn(
                    f"{exc}; continuing without the remote cache "
                    f"({scope} disabled for the rest of this run)"
                )
            return fallback

    def find_missing(self, digests: Iterable[Digest]) -> list[Digest]:
        """Missing from both tiers."""
        local_missing = self.local.find_missing(digests)
        if not local_missing:
            return []
        remote_missing = self._remote(
            lambda: self.remote.find_missing(local_missing), write=False, fallback=local_missing
        )
        return remote_missing

    def get_many(self, digests: Sequence[Digest]) -> dict[Digest, bytes]:
        """Local hits, then remote hits (back-filled into the local store)."""
        found = self.local.get_many(digests)
        rest = [d for d in digests if d not in found]
        if rest:
            none: dict[Digest, bytes] = {}
            fetched = self._remote(lambda: self.remote.get_many(rest), write=False, fallback=none)
            if fetched:
                self.local.put_many(list(fetched.items()))
                found.update(fetched)
        return found

    def put_many(self, blobs: Sequence[tuple[Digest, bytes]]) -> list[str | None]:
        """Store locally, then upload; the local verdicts are the answer."""
        verdicts = self.local.put_many(blobs)
        good = [b for b, v in zip(blobs, verdicts, strict=True) if v is None]
        if good:
            nothing: list[str | None] = []
            refused = self._remote(lambda: self.remote.put_many(good), write=True, fallback=nothing)
            problems = [v for v in refused if v is not None]
            if problems:
                self._remote(lambda: _raise(problems[0]), write=True, fallback=None)
        return verdicts

    def open(self, digest: Digest) -> BinaryIO | None:
        """A local handle; a remote hit is first copied into the local store."""
        handle = self.local.open(digest)
        if handle is not None:
            return handle
        remote = self._remote(lambda: self.remote.open(digest), write=False, fallback=None)
        if remote is None:
            return None
        with remote:
            writer = self.local.writer(digest)
            try:
                while chunk := remote.read(_COPY_CHUNK):
                    writer.write(chunk)
                writer.commit()
            finally:
                writer.abort()
        return self.local.open(digest)

    def writer(self, digest: Digest) -> BlobWriter:
        """Write locally; the commit also uploads the verified blob."""
        return _UploadingWriter(self, digest)

    def _upload_local_blob(self, digest: Digest) -> None:
        def upload() -> None:
            if not self.remote.find_missing([digest]):
                return
            handle = self.local.open(digest)
            if handle is None:
                return  # Evicted already; nothing to share.
            with handle:
                writer = self.remote.writer(digest)
                try:
                    while chunk := handle.read(_COPY_CHUNK):
                        writer.write(chunk)
                    writer.commit()
                finally:
                    writer.abort()

        self._remote(upload, write=True, fallback=None)

    def get_action_result(self, action: Digest) -> bytes | None:
        """Local result, else the remote one (back-filled)."""
        result = self.local.get_action_result(action)
        if result is not None:
            return result
        result = self._remote(
            lambda: self.remote.get_action_result(action), write=False, fallback=None
        )
        if result is not None:
            self.local.put_action_result(action, result)
        return result

    def put_action_result(self, action: Digest, result: bytes) -> None:
        """Store locally and remotely."""
        self.local.put_action_result(action, result)
        self._remote(
            lambda: self.remote.put_action_result(action, result), write=True, fallback=None
        )


def _raise(message: str) -> None:
    raise CacheError(message)


class _UploadingWriter:
    """The local store's writer, plus an upload to the remote after a good commit."""

    def __init__(self, tiered: TieredStore, digest: Digest) -> None:
        self._tiered = tiered
        self._digest = digest
        self._local = tiered.local.writer(digest)

    @property
    def committed_size(self) -> int:
        """Bytes received so far."""
        return self._local.committed_size

    def write(self, chunk: bytes | memoryview) -> None:
        """Append a chunk."""
        self._local.write(chunk)

    def commit(self) -> None:
        """Commit locally (verified), then share it with the remote."""
        self._local.commit()
        self._tiered._upload_local_blob(self._digest)

    def abort(self) -> None:
        """Discard the upload."""
        self._local.abort()
