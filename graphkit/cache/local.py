"""The local store: one diskcache directory, bounded in size, least-recently-used out.

Layout of ``--dir``: diskcache's SQLite index (``cache.db``) and value files, plus a
``staging/`` folder for uploads in flight. Blob and action-cache keys are strings in
the index (``c|{instance}|{hash}|{size}``); file names are random and chosen by
diskcache, so nothing from a request ever becomes a path.

Three properties the server relies on, and why they hold:

- **True LRU.** diskcache's ``least-recently-used`` policy updates the access time on
  ``get`` only (``in`` and ``touch()`` do not), so every "is it there?" question is a
  ``get`` whose value is dropped. FindMissingBlobs therefore refreshes the age of every
  blob it reports present.
- **Atomic writes.** Small blobs live inside an SQLite transaction. Large ones are
  written to ``staging/``, hashed while written, and renamed into diskcache's value
  folder only after the hash matched; the index row that makes them visible is
  committed after the rename. A SIGKILL at any point leaves at most an orphan file,
  never a visible partial blob. Staged leftovers are removed at the next start.
- **Bounded size.** diskcache's automatic culling (ten entries per write, whatever
  their size) is turned off; after each write the store evicts the least recently
  used entries until the on-disk volume is under ``max_size``, and reports how many.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import diskcache

from graphkit.cache.digest import EMPTY, Digest, InvalidRequest, mismatch
from graphkit.errors import CacheError

# Blobs below this size are stored inside the SQLite index, larger ones as files.
INLINE_LIMIT = 64 * 1024
STAGING = "staging"
# Staged files untouched this long belong to a dead process (uploads write steadily).
STALE_STAGING_SECONDS = 3600.0
_WRITE_BUFFER = 1 << 20
# Keys per SELECT ... IN (...): below SQLite's default limit of 999 host parameters.
_LOOKUP_PAGE = 500
_TOUCH_FLUSH_SECONDS = 1.0


@dataclass(frozen=True)
class _StagedFile:
    """A verified upload in ``staging/``, moved (not copied) into the store by _BlobDisk."""

    path: str
    size: int


class _BlobDisk(diskcache.Disk):  # type: ignore[misc]
    """diskcache's Disk, plus zero-copy adoption of verified staged files."""

    def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> Any:
        if not isinstance(value, _StagedFile):
            return super().store(value, read, key=key)
        if value.size < self.min_file_size:
            data = Path(value.path).read_bytes()
            os.unlink(value.path)
            return super().store(data, False, key=key)
        filename, full_path = self.filename(key, value)
        os.makedirs(os.path.dirname(full_path), exist_ok=True)
        # rename() is atomic within one file system; staging/ sits inside the cache dir.
        os.replace(value.path, full_path)
        return value.size, diskcache.core.MODE_BINARY, filename, None


def _key(kind: str, instance: str, digest: Digest) -> str:
    return f"{kind}|{instance}|{digest.hash}|{digest.size}"


class DiskBackend:
    """One cache directory shared by every instance name; hands out namespaced stores."""

    def __init__(
        self,
        directory: Path,
        max_size: int,
        *,
        on_evict: Callable[[int], None] | None = None,
    ) -> None:
        self.directory = directory
        self.max_size = max_size
        self._on_evict = on_evict
        self._touch_lock = threading.Lock()
        self._touched: dict[int, float] = {}
        self._last_flush = time.time()
        self._staging = directory / STAGING
        try:
            self._staging.mkdir(parents=True, exist_ok=True)
            self._remove_stale_staging()
            self._cache = diskcache.Cache(
                str(directory),
                disk=_BlobDisk,
                disk_min_file_size=INLINE_LIMIT,
                size_limit=max_size,
                eviction_policy="least-recently-used",
                cull_limit=0,
                statistics=False,
            )
        except OSError as exc:
            raise CacheError(f"{directory}: cannot open the cache directory: {exc}") from exc

    def _remove_stale_staging(self) -> None:
        cutoff = time.time() - STALE_STAGING_SECONDS
        for entry in self._staging.iterdir():
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < cutoff or not _is_live_upload(entry):
                    entry.unlink()

    def namespace(self, instance: str = "") -> LocalStore:
        """The Store for one instance name (a separate namespace in the same index)."""
        return LocalStore(self, instance)

    @property
    def cache(self) -> diskcache.Cache:
        """The underlying diskcache (for LocalStore)."""
        return self._cache

    @property
    def staging(self) -> Path:
        """Where uploads in flight are written."""
        return self._staging

    def lookup(self, keys: Sequence[str]) -> dict[str, tuple[int, int, str | None, Any]]:
        """Index rows of the present ``keys``: key -> (rowid, mode, filename, value).

        A plain SELECT, no write transaction: reads never wait for the write lock.
        Each hit is recorded as a use (see ``touch``).
        """
        rows: dict[str, tuple[int, int, str | None, Any]] = {}
        sql = self._cache._sql
        for start in range(0, len(keys), _LOOKUP_PAGE):
            page = keys[start : start + _LOOKUP_PAGE]
            marks = ",".join("?" * len(page))
            for rowid, key, mode, filename, value in sql(
                f"SELECT rowid, key, mode, filename, value FROM Cache"
                f" WHERE raw = 1 AND key IN ({marks})", page
            ).fetchall():
                rows[key] = (rowid, mode, filename, value)
        if rows:
            self.touch([r[0] for r in rows.values()])
        return rows

    def fetch(self, row: tuple[int, int, str | None, Any], *, read: bool) -> Any:
        """The value of a looked-up row: bytes, or an open file when ``read`` is set.

        Raises OSError when an eviction removed the value file in between.
        """
        _rowid, mode, filename, value = row
        return self._cache._disk.fetch(mode, filename, value, read)

    def touch(self, rowids: Iterable[int]) -> None:
        """Record a use of these entries; applied to the index in batches.

        diskcache's own LRU ``get`` updates ``access_time`` in a write transaction per
        call (about 0.2 ms each, serialized). Uses are instead collected here and
        written in one transaction at least every second and always before an
        eviction picks its victims, so eviction order is still exact LRU.
        """
        now = time.time()
        with self._touch_lock:
            for rowid in rowids:
                self._touched[rowid] = now
            due = now - self._last_flush > _TOUCH_FLUSH_SECONDS
        if due:
            self.flush_touches()

    def flush_touches(self) -> None:
        """Write the recorded uses into the index."""
        with self._touch_lock:
            touched, self._touched = self._touched, {}
            self._last_flush = time.time()
        if touched:
            with self._cache._transact(retry=True):
                self._cache._con.executemany(  # The thread's connection, inside the txn.
                    "UPDATE Cache SET access_time = ? WHERE rowid = ?",
                    [(when, rowid) for rowid, when in touched.items()],
                )

    def insert_inline(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Store small values in one statement, as diskcache itself would store them.

        ``Cache.set`` costs several statements per value; a batch of 2,000 small blobs
        is instead one upsert into diskcache's documented table layout (inline value,
        ``MODE_RAW``, no file), in one transaction. A key already present keeps its
        value (content-addressed: same key, same bytes) and has its use refreshed.
        diskcache's triggers keep its entry count right.
        """
        now = time.time()
        with self._cache._transact(retry=True):
            self._cache._con.executemany(
                "INSERT INTO Cache(key, raw, store_time, expire_time, access_time,"
                " access_count, tag, size, mode, filename, value)"
                " VALUES (?, 1, ?, NULL, ?, 0, NULL, 0, ?, NULL, ?)"
                " ON CONFLICT(key, raw) DO UPDATE SET access_time = excluded.access_time",
                [(key, now, now, diskcache.core.MODE_RAW, sqlite3.Binary(value))
                 for key, value in items],
            )

    def entries(self) -> int:
        """Number of blobs and action results stored."""
        return len(self._cache)

    def volume(self) -> int:
        """Bytes on disk: the index plus value files."""
        return int(self._cache.volume())

    def evict_if_needed(self) -> int:
        """Evict least-recently-used entries until under ``max_size``; return how many."""
        evicted = 0
        if self._cache.volume() > self.max_size:
            self.flush_touches()  # Victims are chosen by access time: make it current.
        while (excess := self._cache.volume() - self.max_size) > 0:
            removed = self._evict_oldest(excess)
            if not removed:
                break  # Nothing left to evict: the index alone exceeds max_size.
            evicted += removed
        if evicted and self._on_evict is not None:
            self._on_evict(evicted)
        return evicted

    def _evict_oldest(self, excess: int) -> int:
        """Delete the oldest-accessed entries that together free about ``excess`` bytes.

        diskcache's own ``cull()`` deletes ten entries per round whatever their size,
        which with large blobs throws away far more than needed, so the selection is
        done here. It uses diskcache's documented table layout (``Cache`` with
        ``access_time``, ``size``, ``filename``; 5.x, pinned below 6); diskcache's
        triggers keep its count and size totals right, and its transaction removes
        the value files after the commit.
        """
        with self._cache._transact(retry=True) as (sql, cleanup):
            rows = sql(
                "SELECT rowid, filename, size + COALESCE(length(value), 0) FROM Cache"
                " ORDER BY access_time LIMIT 256"
            ).fetchall()
            if not rows:
                return 0
            chosen, freed = [], 0
            for rowid, filename, size in rows:
                chosen.append(rowid)
                cleanup(filename)
                freed += size
                if freed >= excess:
                    break
            sql(f"DELETE FROM Cache WHERE rowid IN ({','.join('?' * len(chosen))})", chosen)
        return len(chosen)

    def close(self) -> None:
        """Close the index (open file handles returned by ``open`` stay valid)."""
        self.flush_touches()
        self._cache.close()


def _is_live_upload(entry: Path) -> bool:
    """Whether a staged file's owning process still runs (pid is in its name)."""
    parts = entry.name.split("-")
    if len(parts) < 3 or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False  # Ours from a previous life of this pid, so not in flight now.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalStore:
    """The Store of one instance name inside a DiskBackend."""

    def __init__(self, backend: DiskBackend, instance: str) -> None:
        self._backend = backend
        self._cache = backend.cache
        self._instance = instance

    def find_missing(self, digests: Iterable[Digest]) -> list[Digest]:
        """See Store.find_missing. Present blobs count as used (LRU age refreshed)."""
        wanted = [d for d in digests if d != EMPTY]  # The spec: empty is always there.
        keys = [_key("c", self._instance, d) for d in wanted]
        present = self._backend.lookup(keys)
        return [d for d, k in zip(wanted, keys, strict=True) if k not in present]

    def get_many(self, digests: Sequence[Digest]) -> dict[Digest, bytes]:
        """See Store.get_many."""
        found: dict[Digest, bytes] = {d: b"" for d in digests if d == EMPTY}
        keys = {_key("c", self._instance, d): d for d in digests if d != EMPTY}
        for key, row in self._backend.lookup(list(keys)).items():
            with contextlib.suppress(OSError):  # Evicted since the lookup: missing.
                found[keys[key]] = self._backend.fetch(row, read=False)
        return found

    def put_many(self, blobs: Sequence[tuple[Digest, bytes]]) -> list[str | None]:
        """See Store.put_many. Every blob is hashed before it is stored."""
        verdicts = [mismatch(d, data) for d, data in blobs]
        good = [b for b, v in zip(blobs, verdicts, strict=True) if v is None and b[0] != EMPTY]
        if good:
            small = [(_key("c", self._instance, d), data) for d, data in good
                     if len(data) < INLINE_LIMIT]
            if small:
                self._backend.insert_inline(small)
            for d, data in good:
                if len(data) >= INLINE_LIMIT:
                    self._add(d, data)
            self._backend.evict_if_needed()
        return verdicts

    def open(self, digest: Digest) -> BinaryIO | None:
        """See Store.open."""
        if digest == EMPTY:
            return io.BytesIO(b"")
        rows = self._backend.lookup([_key("c", self._instance, digest)])
        if not rows:
            return None
        try:
            value = self._backend.fetch(next(iter(rows.values())), read=True)
        except OSError:
            return None  # Evicted between lookup and open.
        if isinstance(value, bytes):
            return io.BytesIO(value)
        return value  # type: ignore[no-any-return]

    def writer(self, digest: Digest) -> StagedWriter:
        """See Store.writer."""
        return StagedWriter(self._backend.staging, digest, self._adopt)

    def _add(self, digest: Digest, value: bytes | _StagedFile) -> None:
        """Store a verified blob unless it is already there.

        Never ``set``: replacing a present blob deletes its value file, and a reader
        that just looked the old row up would then find the file gone. Same key means
        same bytes here, so keeping the first copy is always right; the second is
        discarded and the first counts as used.
        """
        key = _key("c", self._instance, digest)
        if not self._cache.add(key, value, retry=True):
            self._backend.lookup([key])

    def _adopt(self, digest: Digest, staged: _StagedFile) -> None:
        self._add(digest, staged)
        self._backend.evict_if_needed()

    def get_action_result(self, action: Digest) -> bytes | None:
        """See Store.get_action_result."""
        rows = self._backend.lookup([_key("a", self._instance, action)])
        if not rows:
            return None
        value = self._backend.fetch(next(iter(rows.values())), read=False)
        return value if isinstance(value, bytes) else None

    def put_action_result(self, action: Digest, result: bytes) -> None:
        """See Store.put_action_result."""
        self._cache.set(_key("a", self._instance, action), bytes(result), retry=True)
        self._backend.evict_if_needed()


class StagedWriter:
    """A BlobWriter that streams into ``staging/`` and hashes as it goes."""

    def __init__(
        self,
        staging: Path,
        digest: Digest,
        adopt: Callable[[Digest, _StagedFile], None],
    ) -> None:
        self._digest = digest
        self._adopt = adopt
        self._hash = hashlib.sha256()
        self._size = 0
        self._done = False
        # The pid in the name lets a restarted server tell live uploads from leftovers.
        fd, self._path = tempfile.mkstemp(dir=staging, prefix=f"up-{os.getpid()}-")
        self._file = os.fdopen(fd, "wb", buffering=_WRITE_BUFFER)

    @property
    def committed_size(self) -> int:
        """Bytes received so far."""
        return self._size

    def write(self, chunk: bytes) -> None:
        """Append a chunk; refuse to grow past the digest's size."""
        if self._size + len(chunk) > self._digest.size:
            self.abort()
            raise InvalidRequest(
                f"upload of {self._digest} sent more than {self._digest.size} bytes"
            )
        self._hash.update(chunk)
        self._file.write(chunk)
        self._size += len(chunk)

    def commit(self) -> None:
        """Verify the bytes against the digest, then move them into the store."""
        if self._done:
            return
        self._file.close()
        expected = self._digest
        if self._size != expected.size:
            self.abort()
            raise InvalidRequest(
                f"upload of {expected} ended after {self._size} bytes, not {expected.size}"
            )
        actual = self._hash.hexdigest()
        if actual != expected.hash:
            self.abort()
            raise InvalidRequest(
                f"upload of {expected} hashes to {actual}: its bytes do not match its digest"
            )
        try:
            if expected != EMPTY:
                self._adopt(expected, _StagedFile(self._path, self._size))
        finally:
            self.abort()  # Removes the staged file if adoption did not move it.

    def abort(self) -> None:
        """Discard the upload."""
        self._done = True
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)


def measure(directory: Path) -> tuple[int, int]:
    """(entries, bytes on disk) of an existing cache, without changing its settings."""
    cache = diskcache.Cache(str(directory), disk=_BlobDisk)
    try:
        return len(cache), int(cache.volume())
    finally:
        cache.close()


def open_local_store(directory: Path, max_size: int, instance: str = "") -> LocalStore:
    """A LocalStore over ``directory`` — the runner's local cache tier."""
    return DiskBackend(directory, max_size).namespace(instance)
