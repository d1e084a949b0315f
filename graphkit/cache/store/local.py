"""The local store: one diskcache directory, bounded in size, least-recently-used out.

Layout of ``--dir``: diskcache's SQLite index (``cache.db``) and value files, plus a
``staging/`` folder for uploads in flight and an empty ``clock`` file whose times
tell the file system's clock (:mod:`graphkit.cache.store.unchanged`). Blob and
action-cache keys are strings in the index (``c|{instance}|{hash}|{size}``); file
names are random and chosen by diskcache, so nothing from a request ever becomes a
path.

Three properties the server relies on, and why they hold:

- **True LRU.** diskcache's ``least-recently-used`` policy updates the access time on
  ``get`` only (``in`` and ``touch()`` do not), and one write transaction per ``get``
  serializes every reader. Lookups here are plain SELECTs that record each hit as a
  use; the uses are written in batches (``DiskBackend.touch``), always before an
  eviction chooses victims. FindMissingBlobs therefore refreshes the age of every
  blob it reports present. The one exception: an action result served from memory
  (RecentResults) records the use of its rows at most once a minute.
- **Atomic writes.** Small blobs live inside an SQLite transaction. Large ones are
  written to ``staging/`` (:mod:`graphkit.cache.store.staging`), hashed while written, and
  renamed into diskcache's value
  folder only after the hash matched; the index row that makes them visible is
  committed after the rename. A SIGKILL at any point leaves at most an orphan file,
  never a visible partial blob. Staged leftovers are removed at the next start.
- **Bounded size, uploads in flight included.** diskcache's automatic culling (ten
  entries per write, whatever their size) is turned off; after each write the store
  evicts the least recently used entries until the on-disk volume plus the bytes
  reserved by uploads in flight is under ``max_size``, and reports how many. An
  upload reserves its declared size before it accepts a byte: a blob larger than
  ``max_blob_size`` is refused, and so is one that does not fit beside the uploads
  already in flight (NoRoom). A blob gone again by the time its write finished (only
  possible when the cache is far too small) is reported as NoRoom, never as stored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import itertools
import json
import logging
import operator
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, cast

import diskcache

from graphkit.cache.digest import EMPTY, Digest, InvalidRequest, mismatch
from graphkit.cache.store.base import NoRoom
from graphkit.cache.store.integrity import (
    ORPHAN_GRACE_SECONDS,
    damaged_index,
    index_problem,
    orphans,
    remove,
)
from graphkit.cache.store.recent import Recalled, RecentResults
from graphkit.cache.store.staging import (
    STALE_STAGING_SECONDS,
    StagedFile,
    StagedWriter,
    is_live_upload,
)
from graphkit.cache.store.unchanged import VerifiedFiles, seal_of
from graphkit.cache.store.verified import VerifiedReader
from graphkit.errors import CacheError

log = logging.getLogger("graphkit.cache.store")

# Blobs below this size are stored inside the SQLite index, larger ones as files.
INLINE_LIMIT = 64 * 1024
# Without --max-blob-size, one blob may take at most this fraction of --max-size: a
# single upload then never empties the cache to make room for itself.
DEFAULT_BLOB_FRACTION = 4
STAGING = "staging"
_TOUCH_FLUSH_SECONDS = 1.0
# Rows updated per transaction when uses are written: a store waiting for the index's
# write lock (an upload's commit) waits for one such slice, not for a whole round.
_TOUCH_ROWS_PER_TRANSACTION = 256
# Keys travel as one JSON array parameter (json_each), so a batch of any size is one
# statement. The LEFT JOIN keeps key order; FILTER splits present from absent.
# Present entries kept in files come back apart, so their files can be checked.
_MISSING_SQL = (
    "SELECT json_group_array(j.key) FILTER (WHERE c.rowid IS NULL),"
    " json_group_array(c.rowid) FILTER (WHERE c.rowid IS NOT NULL),"
    " json_group_array(json_array(j.key, c.rowid, c.filename))"
    " FILTER (WHERE c.filename IS NOT NULL)"
    " FROM json_each(?) AS j LEFT JOIN Cache AS c ON c.key = j.value AND c.raw = 1"
)
_READ_SQL = (
    "SELECT json_group_array(j.key) FILTER (WHERE c.mode = 1),"
    " json_group_array(length(c.value)) FILTER (WHERE c.mode = 1),"
    " CAST(group_concat(c.value, '') FILTER (WHERE c.mode = 1) AS BLOB),"
    " json_group_array(json_array(j.key, c.mode, c.filename, c.rowid)) FILTER (WHERE c.mode != 1),"
    " json_group_array(c.rowid),"
    " json_group_array(c.rowid) FILTER (WHERE c.mode = 1)"
    " FROM json_each(?) AS j JOIN Cache AS c ON c.key = j.value AND c.raw = 1"
)


class _BlobDisk(diskcache.Disk):  # type: ignore[misc]
    """diskcache's Disk, plus zero-copy adoption of verified staged files."""

    def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> Any:
        if not isinstance(value, StagedFile):
            return super().store(value, read, key=key)
        if value.size < self.min_file_size:
            data = Path(value.path).read_bytes()
            os.unlink(value.path)
            return super().store(data, False, key=key)
        filename, full_path = self.filename(key, value)
        os.makedirs(os.path.dirname(full_path), exist_ok=True)
        # rename() is atomic within one file system; staging/ sits inside the cache dir.
        os.replace(value.path, full_path)
        if value.placed is not None:
            value.placed(filename, full_path)
        return value.size, diskcache.core.MODE_BINARY, filename, None


_HEXDIGEST = operator.methodcaller("hexdigest")
_HASH = operator.attrgetter("hash")
_SIZE = operator.attrgetter("size")


def _is_empty(digest: Digest) -> bool:
    # Batches test thousands of digests: the size first is cheaper than the dataclass ==,
    # which builds two tuples per comparison.
    return not digest.size and digest.hash == EMPTY.hash


def _key(kind: str, instance: str, digest: Digest) -> str:
    return f"{kind}|{instance}|{digest.hash}|{digest.size}"


def _size_in(key: str) -> int:
    """The blob size a ``c|instance|hash|size`` key names."""
    return int(key.rpartition("|")[2])


def _json_array(keys: Sequence[str]) -> str:
    """``keys`` as a JSON array of strings.

    Keys are ``kind|instance|hex|size`` and instance names are plain ASCII, so the
    strings need no escaping and a join is enough; json.dumps is the fallback.
    """
    joined = '","'.join(keys)
    if (
        joined.isascii()
        and joined.isprintable()
        and "\\" not in joined
        and (joined.count('"') == 2 * (len(keys) - 1))
    ):
        return f'["{joined}"]'
    return json.dumps(keys)


class DiskBackend:
    """One cache directory shared by every instance name; hands out namespaced stores."""

    def __init__(
        self,
        directory: Path,
        max_size: int,
        *,
        max_blob_size: int | None = None,
        on_evict: Callable[[int], None] | None = None,
        orphan_grace: float = ORPHAN_GRACE_SECONDS,
    ) -> None:
        self.directory = directory
        self.max_size = max_size
        self.max_blob_size = max_blob_size or max(1, max_size // DEFAULT_BLOB_FRACTION)
        self._on_evict = on_evict
        self._reserve_lock = threading.Lock()
        self._reserved = 0
        self._touch_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._touched: list[tuple[float, str]] = []
        self._flusher: threading.Thread | None = None
        self._closed = threading.Event()
        self.recent = RecentResults()
        self._staging = directory / STAGING
        try:
            self._staging.mkdir(parents=True, exist_ok=True)
            stale = self._stale_staging()
            self._cache = _open_index(directory, max_size)
            self.verified = VerifiedFiles(directory)
        except OSError as exc:
            raise CacheError(f"{directory}: cannot open the cache directory: {exc}") from exc
        # Files a killed process left: uploads it never finished, and value files it
        # renamed into place before the rows naming them committed.
        self.swept = remove(stale + orphans(self._cache, directory, grace=orphan_grace))

    def _stale_staging(self) -> list[Path]:
        cutoff = time.time() - STALE_STAGING_SECONDS
        stale: list[Path] = []
        for entry in self._staging.iterdir():
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < cutoff or not is_live_upload(entry):
                    stale.append(entry)
        return stale

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

    def missing(self, keys: Sequence[str]) -> list[int]:
        """Positions of the ``keys`` that are absent; each present one counts as used.

        One statement for the whole batch whose answer is a single row: the sqlite3
        module releases and retakes the GIL around every row it steps through, and
        with several busy request threads each retake can wait a whole switch
        interval, so a row per key made concurrent batches slower than one at a time.
        """
        if not keys:
            return []
        absent, rows, files = self._cache._sql(_MISSING_SQL, (_json_array(keys),)).fetchone()
        if rows != "[]":
            self.touch(rows)
        missing: list[int] = json.loads(absent)
        if files != "[]":
            damaged = self._damaged_files(keys, json.loads(files))
            if damaged:
                missing = sorted([*missing, *damaged])
        return missing

    def _damaged_files(self, keys: Sequence[str], files: list[list[Any]]) -> list[int]:
        """Positions whose value file is gone or has the wrong size; those are dropped.

        A stat per file: a blob whose file was deleted or truncated must not be
        reported present, or a client skips its upload and the blob stays lost.
        """
        damaged: list[int] = []
        for position, rowid, filename in files:
            expected = _size_in(keys[position])
            try:
                size = os.stat(os.path.join(self._cache.directory, filename)).st_size
            except OSError:
                size = -1
            if size != expected:
                damaged.append(position)
                self.drop(
                    [rowid], f"value file of {keys[position]} has {size} bytes, not {expected}"
                )
        return damaged

    def read_many(self, keys: Sequence[str]) -> dict[int, tuple[int, bytes]]:
        """(rowid, value) of the present ``keys`` by position; each one counts as used."""
        positions, rowids, values = self.read_columns(keys)
        return dict(zip(positions, zip(rowids, values, strict=True), strict=True))

    def read_columns(
        self, keys: Sequence[str], *, used: bool = True
    ) -> tuple[list[int], list[int], list[bytes]]:
        """The present ``keys``' positions, rowids and values, as three lists; a use
        each unless ``used`` is False.

        Inline values come back concatenated in one row (see ``missing`` for why one
        row); group_concat copies BLOB bytes as they are (NULs and non-UTF-8 too) and
        CAST(... AS BLOB) hands them back unchanged. They are cut apart with map() and
        slice objects rather than a loop: a batch read cuts 2,000 of them. Values kept
        in files are read from their files; one evicted in between is left out, as if
        absent.
        """
        if not keys:
            return [], [], []
        inline, lengths, data, files, rows, inline_rows = self._cache._sql(
            _READ_SQL, (_json_array(keys),)
        ).fetchone()
        if rows == "[]":
            return [], [], []
        if used:
            self.touch(rows)
        positions: list[int] = []
        rowids: list[int] = []
        values: list[bytes] = []
        if data is not None:
            ends = list(itertools.accumulate(json.loads(lengths)))
            cuts = map(slice, itertools.chain((0,), ends), ends)
            positions, rowids = json.loads(inline), json.loads(inline_rows)
            values = list(map(bytes, map(memoryview(data).__getitem__, cuts)))
        for position, mode, filename, rowid in json.loads(files):
            try:
                value = self._cache._disk.fetch(mode, filename, None, False)
            except OSError:
                # Evicted in between (then absent), or the file is gone: drop the row.
                self.drop([rowid], f"value file of {keys[position]} cannot be read")
                continue
            positions.append(position)
            rowids.append(rowid)
            values.append(value)
        return positions, rowids, values

    def lookup(self, key: str) -> tuple[int, int, str | None, Any] | None:
        """The index row of one present key: (rowid, mode, filename, value); a use."""
        row = self._cache._sql(
            "SELECT rowid, mode, filename, value FROM Cache WHERE key = ? AND raw = 1", (key,)
        ).fetchone()
        if row is not None:
            self.touch(f"[{row[0]}]")
        return row  # type: ignore[no-any-return]

    def rowids(self, keys: Sequence[str]) -> tuple[list[int], list[tuple[str, int]]] | None:
        """The rowids of ``keys`` when every one is present, else None. Not a use.

        With them, the path and size of every value kept in a file.
        """
        unique = list(dict.fromkeys(keys))
        found, files = self._cache._sql(
            "SELECT json_group_array(c.rowid),"
            " json_group_array(json_array(c.filename, c.size))"
            " FILTER (WHERE c.filename IS NOT NULL)"
            " FROM json_each(?) AS j JOIN Cache AS c ON c.key = j.value AND c.raw = 1",
            (json.dumps(unique),),
        ).fetchone()
        rows: list[int] = json.loads(found)
        if len(rows) != len(unique):
            return None
        folder = self._cache.directory
        return rows, [(os.path.join(folder, name), size) for name, size in json.loads(files)]

    def drop(self, rows: Sequence[int], why: str) -> None:
        """Delete damaged entries by rowid (and their files), so an upload can repair them."""
        files: list[str] = []
        with self._cache._transact(retry=True) as (sql, cleanup):
            for rowid in rows:
                found = sql("SELECT filename FROM Cache WHERE rowid = ?", (rowid,)).fetchone()
                if found is not None:
                    cleanup(found[0])
                    files += [found[0]] if found[0] else []
                    sql("DELETE FROM Cache WHERE rowid = ?", (rowid,))
        self.recent.forget(rows)  # After the commit, as for evictions.
        self.verified.forget(files)
        log.warning("dropped a damaged cache entry: %s", why, extra={"event": "damaged_entry"})

    def fetch(self, row: tuple[int, int, str | None, Any], *, read: bool) -> Any:
        """The value of a looked-up row: bytes, or an open file when ``read`` is set.

        Raises OSError when an eviction removed the value file in between.
        """
        _rowid, mode, filename, value = row
        return self._cache._disk.fetch(mode, filename, value, read)

    def touch(self, rows_json: str) -> None:
        """Record a use of the entries whose rowids are in the JSON array ``rows_json``.

        diskcache's own LRU ``get`` updates ``access_time`` in a write transaction per
        call (about 0.2 ms each, serialized). Uses are instead collected here and
        written by a background thread every second, and always before an eviction
        picks its victims, so eviction order is still exact LRU and no request waits
        for the write lock to record a read.
        """
        with self._touch_lock:
            self._touched.append((time.time(), rows_json))
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=_flush_loop,
                    args=(weakref.ref(self), self._closed),
                    name="cache-touch-flush",
                    daemon=True,
                )
                self._flusher.start()

    def flush_touches(self) -> None:
        """Write the recorded uses into the index, oldest first."""
        with self._flush_lock:
            with self._touch_lock:
                touched, self._touched = self._touched, []
            if touched:
                # One point update per row, at its latest use in this round (uses are
                # appended in time order, so the last one seen is the latest).
                latest: dict[int, float] = {}
                for when, rows in touched:
                    for row in json.loads(rows):
                        latest[row] = when
                updates = [(when, row) for row, when in latest.items()]
                for start in range(0, len(updates), _TOUCH_ROWS_PER_TRANSACTION):
                    with self._cache._transact(retry=True):
                        self._cache._con.executemany(  # The thread's connection, in the txn.
                            "UPDATE Cache SET access_time = ? WHERE rowid = ?",
                            updates[start : start + _TOUCH_ROWS_PER_TRANSACTION],
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
                [
                    (key, now, now, diskcache.core.MODE_RAW, sqlite3.Binary(value))
                    for key, value in items
                ],
            )

    def entries(self) -> int:
        """Number of blobs and action results stored."""
        return len(self._cache)

    def volume(self) -> int:
        """Bytes on disk: the index plus value files."""
        return int(self._cache.volume())

    def check_blob_size(self, size: int) -> None:
        """Raise InvalidRequest for a blob larger than ``max_blob_size``."""
        if size > self.max_blob_size:
            raise InvalidRequest(
                f"blob of {size} bytes is larger than this cache's limit of "
                f"{self.max_blob_size} bytes per blob (--max-blob-size)"
            )

    def reserve(self, size: int) -> Reservation:
        """Room for ``size`` bytes (a blob, or a batch of them), made before they arrive.

        Raises NoRoom when they do not fit beside the uploads already in flight
        (evicting stored entries cannot help then; the client may retry later).
        """
        with self._reserve_lock:
            index = self._index_bytes()
            if index + self._reserved + size > self.max_size:
                raise NoRoom(
                    f"no room for a blob of {size} bytes: {self._reserved} bytes of "
                    f"uploads in flight and a {index}-byte index already fill the "
                    f"cache's {self.max_size} bytes; retry later"
                )
            self._reserved += size
        reservation = Reservation(self, size)
        try:
            self.evict_if_needed()
        except BaseException:
            reservation.release()
            raise
        return reservation

    def _release(self, size: int) -> None:
        with self._reserve_lock:
            self._reserved -= size

    def _index_bytes(self) -> int:
        """Bytes of the SQLite index file itself, which no eviction shrinks."""
        page_count = self._cache._sql("PRAGMA page_count").fetchone()[0]
        page_size = self._cache._sql("PRAGMA page_size").fetchone()[0]
        return int(page_count * page_size)

    def evict_if_needed(self) -> int:
        """Evict least-recently-used entries until stored and reserved bytes fit.

        Returns how many entries went.
        """
        evicted = 0
        if self._cache.volume() + self._reserved > self.max_size:
            self.flush_touches()  # Victims are chosen by access time: make it current.
        while (excess := self._cache.volume() + self._reserved - self.max_size) > 0:
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
            chosen, freed, files = [], 0, []
            for rowid, filename, size in rows:
                chosen.append(rowid)
                cleanup(filename)
                if filename:
                    files.append(filename)
                freed += size
                if freed >= excess:
                    break
            # Forgotten before the delete, so the memo stops serving results that
            # need these rows, and again after the commit: a lookup that checked a row
            # in between still saw it (the delete was not committed) and may have
            # remembered its result; the second call drops that entry, or refuses it
            # through the generation. Only the second one is needed for correctness.
            self.recent.forget(chosen)
            sql(f"DELETE FROM Cache WHERE rowid IN ({','.join('?' * len(chosen))})", chosen)
        self.recent.forget(chosen)
        self.verified.forget(files)
        return len(chosen)

    def close(self) -> None:
        """Close the index (open file handles returned by ``open`` stay valid)."""
        self._closed.set()
        self.flush_touches()
        self._cache.close()
        self.verified.close()


class Reservation:
    """Bytes of the cache held for one upload in flight; released exactly once."""

    def __init__(self, backend: DiskBackend, size: int) -> None:
        self._backend = backend
        self._size = size
        self._lock = threading.Lock()

    def release(self) -> None:
        """Give the bytes back (the blob is stored, or the upload failed)."""
        with self._lock:
            size, self._size = self._size, 0
        if size:
            self._backend._release(size)


def _open_index(directory: Path, max_size: int) -> diskcache.Cache:
    """The directory's diskcache, after checking that its SQLite index is sound.

    A damaged index (truncated, overwritten, replaced by a folder) is an InputError
    naming ``cache.db`` with the command that rebuilds it, never a traceback at start
    or an error on every call later.
    """
    try:
        cache = diskcache.Cache(
            str(directory),
            disk=_BlobDisk,
            disk_min_file_size=INLINE_LIMIT,
            size_limit=max_size,
            eviction_policy="least-recently-used",
            cull_limit=0,
            statistics=False,
        )
    except sqlite3.Error as exc:
        raise damaged_index(directory, str(exc)) from None
    problem = index_problem(cache)
    if problem is not None:
        cache.close()
        raise damaged_index(directory, problem)
    return cache


def _flush_loop(backend_ref: weakref.ref[DiskBackend], closed: threading.Event) -> None:
    """Write recorded uses every second until the backend is closed or collected."""
    while not closed.wait(_TOUCH_FLUSH_SECONDS):
        backend = backend_ref()
        if backend is None:
            return
        with contextlib.suppress(sqlite3.Error):  # Closed under us; the next round exits.
            backend.flush_touches()
        del backend


class LocalStore:
    """The Store of one instance name inside a DiskBackend."""

    def __init__(self, backend: DiskBackend, instance: str) -> None:
        self._backend = backend
        self._cache = backend.cache
        self._instance = instance
        self._blob_prefix = f"c|{instance}|"

    def _keys(self, digests: Iterable[Digest]) -> list[str]:
        prefix = self._blob_prefix  # _key() inlined: batches build thousands of keys.
        return [f"{prefix}{d.hash}|{d.size}" for d in digests]

    def find_missing(self, digests: Iterable[Digest]) -> list[Digest]:
        """See Store.find_missing. Present blobs count as used (LRU age refreshed)."""
        wanted = [d for d in digests if not _is_empty(d)]  # The empty blob is always there.
        return [wanted[i] for i in self._backend.missing(self._keys(wanted))]

    def find_missing_here(self, digests: Iterable[Digest]) -> list[Digest]:
        """See ServedStore.find_missing_here: find_missing, everything is here."""
        return self.find_missing(digests)

    def get_many(self, digests: Sequence[Digest]) -> dict[Digest, bytes]:
        """See Store.get_many. Every blob is hashed; a damaged one is dropped, absent."""
        wanted = list(dict.fromkeys(digests))
        return {
            d: value
            for d, value in zip(wanted, self.read_batch(wanted), strict=True)
            if value is not None
        }

    def peek_many(self, digests: Sequence[Digest]) -> dict[Digest, bytes]:
        """See ServedStore.peek_many."""
        wanted = list(dict.fromkeys(digests))
        return {
            d: value
            for d, value in zip(wanted, self.read_batch(wanted, used=False), strict=True)
            if value is not None
        }

    def read_batch(self, digests: Sequence[Digest], *, used: bool = True) -> list[bytes | None]:
        """See ServedStore.read_batch. Every blob is hashed; a damaged one is dropped.

        Positions, not a dict by digest: a Digest hashes in Python code, and a batch
        of 2,000 digests went through four dicts on its way to the wire (a fifth of
        the server's CPU for a batch read).
        """
        values: list[bytes | None] = [None] * len(digests)
        if not all(map(_SIZE, digests)):  # The empty blob is never stored, always there.
            for position, d in enumerate(digests):
                if _is_empty(d):
                    values[position] = b""
        positions, rowids, found = self._backend.read_columns(self._keys(digests), used=used)
        # The checks run in map() too. A value whose hash matches has the digest's size
        # as well (the size is part of the key it was found under, and bytes of another
        # length would not hash the same).
        wanted = list(map(digests.__getitem__, positions))
        actual = map(_HEXDIGEST, map(hashlib.sha256, found))
        matches = list(map(operator.eq, actual, map(_HASH, wanted)))
        if all(matches):
            if positions == list(range(len(digests))):  # Every one found, in order.
                values[:] = found
            else:
                for position, value in zip(positions, found, strict=True):
                    values[position] = value
            return values
        damaged: dict[int, str] = {}
        for position, rowid, d, value, ok in zip(
            positions, rowids, wanted, found, matches, strict=True
        ):
            if ok:
                values[position] = value
            else:
                damaged[rowid] = mismatch(d, value) or f"blob {d} is damaged"
        for rowid, why in damaged.items():  # Once each, should a batch name it twice.
            self._backend.drop([rowid], why)
        return values

    def put_many(self, blobs: Sequence[tuple[Digest, bytes]]) -> list[str | None]:
        """See Store.put_many. Every blob is hashed before it is stored."""
        limit = self._backend.max_blob_size
        verdicts = [
            mismatch(d, data)
            if d.size <= limit
            else f"blob {d} is larger than this cache's limit of {limit} bytes per blob"
            for d, data in blobs
        ]
        good = [
            (d, data)
            for (d, data), verdict in zip(blobs, verdicts, strict=True)
            if verdict is None and not _is_empty(d)
        ]
        if good:
            reservation = self._backend.reserve(sum(len(data) for _d, data in good))
            try:
                small = [
                    (_key("c", self._instance, d), data)
                    for d, data in good
                    if len(data) < INLINE_LIMIT
                ]
                if small:
                    self._backend.insert_inline(small)
                for d, data in good:
                    if len(data) >= INLINE_LIMIT:
                        self._add(d, data)
            finally:
                reservation.release()
            if self._backend.evict_if_needed():
                self._check_kept([d for d, _data in good])
        return verdicts

    def open(self, digest: Digest) -> BinaryIO | None:
        """See Store.open.

        A blob whose size is wrong is dropped and reported absent. A value file
        verified before whose stat is unchanged since is returned as it is (see
        :mod:`graphkit.cache.store.unchanged`); any other is hashed as it is read
        (VerifiedReader): a wrong hash drops it and raises DamagedBlob from the read
        that would have completed it, a match seals the file.
        """
        if digest == EMPTY:
            return io.BytesIO(b"")
        row = self._backend.lookup(_key("c", self._instance, digest))
        if row is None:
            return None
        rowid = row[0]
        try:
            value = self._backend.fetch(row, read=True)
        except OSError:
            # Evicted between lookup and open (the drop is then a no-op), or the file
            # is gone from under an entry that says it is there.
            self._backend.drop([rowid], f"value file of blob {digest} cannot be opened")
            return None
        if isinstance(value, bytes):
            why = mismatch(digest, value)
            if why is not None:
                self._backend.drop([rowid], why)
                return None
            return io.BytesIO(value)
        status = os.fstat(value.fileno())
        if status.st_size != digest.size:
            value.close()
            self._backend.drop([rowid], f"value file of blob {digest} has {status.st_size} bytes")
            return None
        filename: str = row[2] or ""
        verified = self._backend.verified
        if verified.unchanged(filename, status):
            return cast(BinaryIO, value)  # Verified before, and unchanged since.
        seal = verified.settled(status)  # Taken before any byte is read.

        def drop(why: str) -> None:
            self._backend.drop([rowid], why)

        def matched() -> None:
            # Sealed only if nothing changed the file while its bytes were hashed.
            if seal is not None and seal_of(os.fstat(value.fileno())) == seal:
                verified.remember(filename, seal)

        return cast(BinaryIO, VerifiedReader(value, digest, drop, on_match=matched))

    def writer(self, digest: Digest) -> StagedWriter:
        """See Store.writer. Reserves the blob's room first (see DiskBackend.reserve)."""
        self._backend.check_blob_size(digest.size)
        reservation = self._backend.reserve(digest.size)

        def adopt(verified: Digest, staged: StagedFile) -> None:
            def placed(filename: str, path: str) -> None:
                # Sealed as stored: its bytes were hashed as they arrived (see unchanged).
                if staged.mark is not None:
                    with contextlib.suppress(OSError):  # Unsealed, it is hashed when read.
                        self._backend.verified.remember_marked(filename, path, staged.mark)

            self._add(verified, dataclasses.replace(staged, placed=placed))
            reservation.release()  # Its bytes now count as stored.
            if self._backend.evict_if_needed():
                self._check_kept([verified])

        try:
            return StagedWriter(self._backend.staging, digest, adopt, release=reservation.release)
        except BaseException:
            reservation.release()
            raise

    def _check_kept(self, digests: Sequence[Digest]) -> None:
        """Raise NoRoom if an eviction just took one of the blobs being stored."""
        if self._backend.rowids(self._keys(digests)) is None:
            raise NoRoom(
                f"the cache's {self._backend.max_size} bytes cannot hold this upload "
                "beside the index; it was evicted as soon as it was stored"
            )

    def _add(self, digest: Digest, value: bytes | StagedFile) -> None:
        """Store a verified blob unless it is already there.

        Never ``set``: replacing a present blob deletes its value file, and a reader
        that just looked the old row up would then find the file gone. Same key means
        same bytes here, so keeping the first copy is always right; the second is
        discarded and the first counts as used.
        """
        key = _key("c", self._instance, digest)
        if not self._cache.add(key, value, retry=True):
            self._backend.lookup(key)

    def get_action_result(self, action: Digest) -> bytes | None:
        """See Store.get_action_result."""
        row = self._backend.lookup(_key("a", self._instance, action))
        if row is None:
            return None
        try:
            value = self._backend.fetch(row, read=False)
        except OSError:
            return None  # A large result evicted between lookup and read.
        return value if isinstance(value, bytes) else None

    def put_action_result(self, action: Digest, result: bytes) -> None:
        """See Store.put_action_result."""
        key = _key("a", self._instance, action)
        self._backend.recent.discard(key)
        self._cache.set(key, bytes(result), retry=True)
        self._backend.evict_if_needed()

    def recall_complete_result(self, action: Digest) -> bytes | None:
        """See ServedStore.recall_complete_result.

        A hit counts as a use of every row, recorded at most once a minute per result
        (see RecentResults).
        """
        found = self._backend.recent.get(_key("a", self._instance, action), time.monotonic())
        if found is None:
            return None
        recalled, record_use = found
        if not _files_intact(recalled):
            # Deleted or truncated under the entry: the full check finds and drops it.
            self._backend.recent.discard(_key("a", self._instance, action))
            return None
        if record_use:
            self._backend.touch(recalled.rows_json)
        return recalled.result

    def remember_complete_result(
        self, action: Digest, result: bytes, blobs: Sequence[Digest]
    ) -> None:
        """See ServedStore.remember_complete_result."""
        recent = self._backend.recent
        generation = recent.generation  # Read before the rows are: see RecentResults.
        keys = [_key("a", self._instance, action), *self._keys(blobs)]
        found = self._backend.rowids(keys)
        # A concurrent update may have replaced the result since it was checked.
        if found is not None and self.get_action_result(action) == result:
            rows, files = found
            recent.remember(keys[0], result, rows, generation, time.monotonic(), files)


def _files_intact(recalled: Recalled) -> bool:
    """Whether every value file a remembered result depends on still has its size."""
    for path, size in recalled.files:
        try:
            if os.stat(path).st_size != size:
                return False
        except OSError:
            return False
    return True


def open_existing(directory: Path) -> diskcache.Cache:
    """The diskcache of ``directory`` with its settings unchanged (for inspection).

    Raises sqlite3.Error when the index cannot be opened.
    """
    return diskcache.Cache(str(directory), disk=_BlobDisk)


def measure(directory: Path) -> tuple[int, int]:
    """(entries, bytes on disk) of an existing cache, without changing its settings."""
    try:
        cache = open_existing(directory)
    except sqlite3.Error as exc:
        raise damaged_index(directory, str(exc)) from None
    try:
        return len(cache), int(cache.volume())
    except sqlite3.Error as exc:
        raise damaged_index(directory, str(exc)) from None
    finally:
        cache.close()


def open_local_store(directory: Path, max_size: int, instance: str = "") -> LocalStore:
    """A LocalStore over ``directory`` — the runner's local cache tier.

    One process writes it, so any blob up to ``max_size`` may be kept.
    """
    return DiskBackend(directory, max_size, max_blob_size=max_size).namespace(instance)
