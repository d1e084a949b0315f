"""Cache statistics that outlive the server process: ``graphkit cache stats``.

Entry count and bytes come from the index itself. Hit and miss counters live in
memory while the server runs (see metrics.Metrics) and are added into
``stats.json`` in the cache directory periodically and at shutdown, written
atomically (temporary file, then rename) so a crash never leaves it half-written.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from graphkit.cache.server.metrics import Counts
from graphkit.cache.store.uploads import queued_uploads
from graphkit.errors import InputError

STATS_FILE = "stats.json"
INDEX_FILE = "cache.db"  # diskcache's SQLite index; its presence marks a cache directory.


@dataclass(frozen=True)
class CacheStats:
    """What ``graphkit cache stats`` reports."""

    directory: str
    entries: int
    bytes: int
    counts: Counts
    # Writes acknowledged but not yet in the shared bucket (``--backend``).
    upload_queue: int = 0

    @property
    def ac_hit_rate(self) -> float | None:
        """Action-cache hits / lookups, or None before the first lookup."""
        total = self.counts.ac_hits + self.counts.ac_misses
        return self.counts.ac_hits / total if total else None

    @property
    def cas_hit_rate(self) -> float | None:
        """Blob hits / lookups, or None before the first lookup."""
        total = self.counts.cas_hits + self.counts.cas_misses
        return self.counts.cas_hits / total if total else None

    def as_json(self) -> dict[str, object]:
        """The JSON twin of the text rendering."""
        return {
            "directory": self.directory,
            "entries": self.entries,
            "bytes": self.bytes,
            "ac_hit_rate": self.ac_hit_rate,
            "cas_hit_rate": self.cas_hit_rate,
            "upload_queue": self.upload_queue,
            **asdict(self.counts),
        }


def load_counts(directory: Path) -> Counts:
    """The counters saved in ``directory`` (zeros when there are none yet).

    Raises InputError naming the file when it is not a JSON object of counters
    (whole numbers, not negative): ``stats.json`` is hostile input like any other file.
    """
    path = directory / STATS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Counts()
    except (OSError, ValueError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"unreadable cache statistics: {detail}", path=str(path)) from None
    if not isinstance(raw, dict):
        raise InputError("expected a JSON object of counters", path=str(path))
    fields = Counts.__dataclass_fields__
    counts: dict[str, int] = {}
    for name, value in raw.items():
        if name not in fields:
            continue
        if type(value) is not int or value < 0:
            raise InputError(
                f"counter {name!r} is {json.dumps(value)[:40]}, not a whole number",
                path=str(path),
            )
        counts[name] = value
    return Counts(**counts)


def save_counts(directory: Path, counts: Counts) -> None:
    """Write ``counts`` atomically to ``directory/stats.json``."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".stats-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(counts), out, sort_keys=True)
        os.replace(tmp, directory / STATS_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_stats(directory: Path) -> CacheStats:
    """Statistics of the cache in ``directory`` (which must already be a cache)."""
    if not (directory / INDEX_FILE).exists():  # Present but not a file: damaged, below.
        raise InputError(
            "not a graphkit cache directory (no cache.db)",
            path=str(directory),
            hint="pass the --dir that `graphkit cache serve` uses",
        )
    # Imported here: opening the index is the only part that needs diskcache.
    from graphkit.cache.store.local import measure

    entries, size = measure(directory)
    queued = queued_uploads(directory)
    return CacheStats(str(directory), entries, size, load_counts(directory), queued)
