"""The persistent, bounded queue of uploads from a replica's front store to the bucket.

One file per pending upload in ``upload-queue/``, written to a temporary name, synced
and renamed, so an entry either exists whole or not at all, and a write the server
acknowledged survives a crash or restart. Entries are uploaded in the order they were
queued (the sequence number leads the name): a client stores an action's blobs before
its result, so the bucket never holds a result before the blobs it references.

Entry names: ``{seq:020d}-{cas|ac}-{hash}-{size}``; the content is the instance name,
and for ``ac`` a NUL byte and the serialized ActionResult after it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from graphkit.cache.digest import Digest, digest
from graphkit.errors import CacheError

QUEUE_DIRECTORY = "upload-queue"
DEFAULT_MAX_QUEUED = 100_000


class QueueFull(CacheError):
    """The upload queue holds its maximum number of entries."""


@dataclass(frozen=True)
class Pending:
    """One queued upload."""

    name: str
    kind: str  # "cas" or "ac"
    instance: str
    digest: Digest
    result: bytes | None = None


class UploadQueue:
    """Pending uploads on disk, oldest first."""

    def __init__(self, directory: Path, max_entries: int = DEFAULT_MAX_QUEUED) -> None:
        self.directory = directory / QUEUE_DIRECTORY
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        names = sorted(p.name for p in self.directory.iterdir() if not p.name.startswith("."))
        for stale in self.directory.glob(".*"):
            stale.unlink(missing_ok=True)  # Half-written entries of a crashed process.
        self._names = [n for n in names if _parse_name(n) is not None]
        self._next = int(self._names[-1].split("-", 1)[0]) + 1 if self._names else 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._names)

    def add_blob(self, instance: str, blob: Digest) -> None:
        """Queue a blob already durable in the front store."""
        self._add("cas", blob, instance.encode())

    def add_result(self, instance: str, action: Digest, result: bytes) -> None:
        """Queue an action result (after the blobs queued before it)."""
        self._add("ac", action, instance.encode() + b"\0" + result)

    def _add(self, kind: str, key: Digest, content: bytes) -> None:
        with self._lock:
            if len(self._names) >= self.max_entries:
                raise QueueFull(f"the upload queue holds {self.max_entries} entries")
            name = f"{self._next:020d}-{kind}-{key.hash}-{key.size}"
            self._next += 1
            temporary = self.directory / f".{name}"
            with open(temporary, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.directory / name)
            self._names.append(name)
            self._ready.notify_all()

    def oldest(self, timeout: float) -> Pending | None:
        """The oldest entry (left queued), waiting up to ``timeout`` for one."""
        with self._lock:
            if not self._names:
                self._ready.wait(timeout)
            if not self._names:
                return None
            name = self._names[0]
        return self._load(name)

    def _load(self, name: str) -> Pending | None:
        parsed = _parse_name(name)
        try:
            content = (self.directory / name).read_bytes()
        except OSError:
            content = None
        if parsed is None or content is None:
            self.done(name)
            return None
        kind, key = parsed
        instance, _, result = content.partition(b"\0")
        try:
            text = instance.decode()
        except UnicodeDecodeError:
            self.done(name)
            return None
        return Pending(name, kind, text, key, result if kind == "ac" else None)

    def done(self, name: str) -> None:
        """Remove an entry once uploaded (or found impossible to upload)."""
        with self._lock:
            with contextlib.suppress(ValueError):
                self._names.remove(name)
            (self.directory / name).unlink(missing_ok=True)


def _parse_name(name: str) -> tuple[str, Digest] | None:
    parts = name.split("-")
    if len(parts) != 4 or not parts[0].isdigit() or parts[1] not in ("cas", "ac"):
        return None
    try:
        return parts[1], digest(parts[2], int(parts[3]))
    except (ValueError, CacheError):
        return None
