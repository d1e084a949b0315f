"""Recently served action results that are known to be complete, kept in memory.

GetActionResult must answer NOT_FOUND when any blob a result references is gone, so a
plain lookup costs one index query for the result and more for its blobs, plus parsing
and serializing the message. This memo keeps the serialized bytes of results that
were just checked complete, with the index row ids of the result and of every blob it
depends on, so a repeated lookup is one dictionary hit.

Correctness rests on invalidation, not on expiry: the store calls ``forget`` with the
row ids it deletes *after* the delete has committed (and once before, so the memo stops
serving them early), and every entry that depends on one of them is dropped. An entry
checked against rows that were deleted while it was being checked is never kept: a
check that ran before the commit still saw the rows, and either its entry is already
in the memo, where the later ``forget`` drops it, or ``remember`` comes after that
``forget`` and refuses it, because it compares the generation read before the check.
A ``forget`` before the commit alone would not do: a check between it and the commit
reads the new generation and rows that are about to go.

A hit is a use of every row the entry depends on, but it is recorded at most once per
``use_interval`` (a minute) per entry: a result looked up by every CI run would
otherwise cost an index write per row per lookup. A cache that evicts what was used a
minute ago is too small to serve anyone, so a minute's error in a row's age does not
change what a working cache keeps.

Memory is bounded by entry count and total bytes; the least recently used entry goes
first. This assumes one process evicts from the directory (the server), which is how
``graphkit cache serve`` runs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

MAX_ENTRIES = 8192
MAX_BYTES = 32 * 1024 * 1024
# Results larger than this, or depending on more blobs, are checked on every lookup.
MAX_RESULT_BYTES = 64 * 1024
MAX_DEPENDENCIES = 1024
USE_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True)
class Recalled:
    """A remembered result: its bytes, the JSON array of the rows it depends on, and
    the (path, size) of each of those rows' value files, checked at every recall."""

    result: bytes
    rows_json: str
    files: tuple[tuple[str, int], ...] = ()


@dataclass(slots=True)
class _Entry:
    recalled: Recalled
    rows: tuple[int, ...]
    used_at: float  # When a use of ``rows`` was last recorded; moves under the lock.


class RecentResults:
    """A bounded, thread-safe LRU of complete action results, invalidated by row id."""

    def __init__(
        self,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
        use_interval: float = USE_INTERVAL_SECONDS,
    ) -> None:
        self._use_interval = use_interval
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._by_row: dict[int, set[str]] = {}
        self._bytes = 0
        self._generation = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes

    @property
    def generation(self) -> int:
        """Read before checking a result; pass to ``remember``."""
        return self._generation

    def get(self, key: str, now: float) -> tuple[Recalled, bool] | None:
        """The remembered result for ``key`` (an action's index key), or None.

        With it comes whether this hit's use of the rows is to be recorded: true when
        the last recorded use is ``use_interval`` old (``now`` is monotonic seconds).
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            record_use = now - entry.used_at >= self._use_interval
            if record_use:
                entry.used_at = now
            return entry.recalled, record_use

    def remember(
        self,
        key: str,
        result: bytes,
        rows: Iterable[int],
        generation: int,
        now: float,
        files: Iterable[tuple[str, int]] = (),
    ) -> None:
        """Keep ``result`` for ``key``, valid while none of ``rows`` is deleted.

        The caller has just recorded a use of ``rows`` (checking them is one), at ``now``.
        """
        rows = tuple(dict.fromkeys(rows))
        if len(result) > MAX_RESULT_BYTES or len(rows) > MAX_DEPENDENCIES:
            return
        recalled = Recalled(result, "[" + ",".join(map(str, rows)) + "]", tuple(files))
        entry = _Entry(recalled, rows, now)
        with self._lock:
            if generation != self._generation:
                return  # Rows may have been deleted while the result was checked.
            self._drop(key)
            self._entries[key] = entry
            self._bytes += len(result)
            for row in rows:
                self._by_row.setdefault(row, set()).add(key)
            while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                self._drop(next(iter(self._entries)))

    def discard(self, key: str) -> None:
        """Drop the entry for ``key`` (its result is being replaced)."""
        with self._lock:
            self._drop(key)

    def forget(self, rows: Iterable[int]) -> None:
        """Drop every entry that depends on one of ``rows``; call after deleting them."""
        with self._lock:
            self._generation += 1
            for row in rows:
                for key in self._by_row.pop(row, ()):
                    self._drop(key)

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._bytes -= len(entry.recalled.result)
        for row in entry.rows:
            keys = self._by_row.get(row)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_row[row]
