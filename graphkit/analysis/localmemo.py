"""The memo below ``.git/graphkit/graphs``: a diskcache database, read without opening diskcache.

Opening a ``diskcache.Cache`` writes its settings into the database (a dozen small
transactions, synced to disk when the connection closes): 10-30 ms on a quiet disk and
hundreds on a busy one, in every run, where a warm run only reads. So an entry is read
with diskcache's own query on a plain read-only connection (its fast path: under the
default settings a read keeps no statistics and no eviction order) and decoded as
diskcache decodes it; diskcache itself opens on the first write. A memo that cannot be
read is a miss: the session parses instead and writes the memo afresh.
"""

from __future__ import annotations

import io
import pickle
import sqlite3
import time
from pathlib import Path
from typing import Any

# diskcache's index file, and how it stores a value (diskcache.core's MODE_*).
DATABASE = "cache.db"
_RAW, _BINARY, _TEXT, _PICKLE = 1, 2, 3, 4
# diskcache.Cache.get's query: a str key is stored as itself, with raw = 1.
_SELECT = (
    "SELECT mode, filename, value FROM Cache"
    " WHERE key = ? AND raw = 1 AND (expire_time IS NULL OR expire_time > ?)"
)


class LocalMemo:
    """Reads entries by key; writes them through diskcache (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._reader: sqlite3.Connection | None = None
        self._cache: Any = None  # the diskcache.Cache, once something was written
        self._unusable = False  # it could not be opened for writing: not tried again

    def get(self, key: str) -> Any:
        """The value stored under ``key``, or None; raises on a damaged entry or database."""
        if self._cache is not None:
            return self._cache.get(key)
        if self._reader is None:
            if not (self.folder / DATABASE).is_file():
                return None  # no memo yet (a folder there is damage: a miss too)
            uri = (self.folder / DATABASE).resolve().as_uri() + "?mode=ro"
            self._reader = sqlite3.connect(uri, uri=True, isolation_level=None)
        rows = self._reader.execute(_SELECT, (key, time.time())).fetchall()
        if not rows:
            return None
        mode, filename, value = rows[0]
        if mode == _RAW:
            return value
        if mode == _PICKLE and value is not None:
            return pickle.load(io.BytesIO(value))
        data = (self.folder / filename).read_bytes()
        if mode == _BINARY:
            return data
        if mode == _TEXT:
            return data.decode("utf-8")
        if mode == _PICKLE:
            return pickle.loads(data)
        raise ValueError(f"memo entry {key!r}: unknown storage mode {mode!r}")

    def set(self, key: str, value: object, *, read: bool = False) -> None:
        """Store ``value`` under ``key`` (``read``: a file object whose bytes are stored)."""
        if self._cache is None:
            if self._unusable:
                return
            self._close_reader()
            self._cache = open_cache(self.folder)
            if self._cache is None:
                self._unusable = True
                return
        self._cache.set(key, value, read=read)

    def close(self) -> None:
        """Release the database."""
        self._close_reader()
        if self._cache is not None:
            self._cache.close()

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def open_cache(folder: Path) -> Any:
    """The diskcache at ``folder``, or None when it cannot be opened.

    The memo is only a cache: one that is damaged (garbage in its database, the
    database replaced by a folder, the folder by a file) is removed and started
    afresh, and if that fails too graphkit runs without it.
    """
    import diskcache

    for attempt in range(2):
        try:
            return diskcache.Cache(str(folder))
        except (sqlite3.Error, OSError):
            if attempt == 0:
                _remove(folder)
    return None


def _remove(path: Path) -> None:
    """Delete a file or folder tree, ignoring what cannot be deleted."""
    if path.is_dir() and not path.is_symlink():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
