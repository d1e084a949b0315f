"""The persistent, bounded queue of uploads from a replica's front store to the bucket.

One file per acknowledged write in ``upload-queue/`` (a whole batch of blobs is one
file), written to a temporary name and renamed, so an entry either exists whole or not
at all, and a write the server acknowledged survives the process being killed or
restarted. Entries are not fsynced: they are exactly as durable as the front store
they point into (SQLite in WAL mode with synchronous=NORMAL, blob files unsynced),
which a power cut can also lose; syncing each one would cost a disk flush per call. Entries
are uploaded in the order they were queued (the sequence number leads the name): a
client stores an action's blobs before its result, so the bucket never holds a result
before the blobs it references.

Entry names: ``{seq:020d}-blobs-{count}`` holds the instance name, a NUL byte, and one
``{hash}-{size}`` line per blob; ``{seq:020d}-ac-{hash}-{size}`` holds the instance name,
a NUL byte and the serialized ActionResult. (``{seq:020d}-cas-{hash}-{size}``, one blob
with the instance name as content, is read too: the first format.)
"""

from __future__ import annotations

import dataclasses
import itertools
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
    """One queued entry: blobs, or one action result."""

    name: str
    kind: str  # "cas" or "ac"
    instance: str
    digests: tuple[Digest, ...]  # The blobs, or the action whose result this is.
    result: bytes | None = None
    # When it was queued (the entry file's mtime, so it holds across a restart).
    queued_at: float = 0.0


class UploadQueue:
    """Pending uploads on disk, oldest first."""

    def __init__(self, directory: Path, max_entries: int = DEFAULT_MAX_QUEUED) -> None:
        self.directory = directory / QUEUE_DIRECTORY
        self.directory.mkdir(parents=True, exist_ok=True)
        # The most uploads (blobs and results) waiting at once.
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        names = sorted(p.name for p in self.directory.iterdir() if not p.name.startswith("."))
        for stale in self.directory.glob(".*"):
            stale.unlink(missing_ok=True)  # Half-written entries of a crashed process.
        self._names = [n for n in names if uploads_in(n) > 0]
        self._uploads = sum(uploads_in(n) for n in self._names)
        self._next = int(self._names[-1].split("-", 1)[0]) + 1 if self._names else 0

    def __len__(self) -> int:
        """Uploads waiting: blobs and action results."""
        with self._lock:
            return self._uploads

    def add_blobs(self, instance: str, blobs: list[Digest]) -> None:
        """Queue blobs already in the front store, as one entry."""
        if blobs:
            lines = "".join(f"{d.hash}-{d.size}\n" for d in blobs)
            self._add(f"blobs-{len(blobs)}", len(blobs), f"{instance}\0{lines}".encode())

    def add_result(self, instance: str, action: Digest, result: bytes) -> None:
        """Queue an action result (after the blobs queued before it)."""
        self._add(f"ac-{action.hash}-{action.size}", 1, instance.encode() + b"\0" + result)

    def _add(self, kind: str, uploads: int, content: bytes) -> None:
        with self._lock:
            if self._uploads + uploads > self.max_entries:
                raise QueueFull(f"the upload queue holds {self.max_entries} uploads")
            name = f"{self._next:020d}-{kind}"
            self._next += 1
            temporary = self.directory / f".{name}"
            with open(temporary, "wb") as handle:
                handle.write(content)
            os.replace(temporary, self.directory / name)
            self._names.append(name)
            self._uploads += uploads
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

    def results_after(self, entry: Pending, limit: int) -> list[Pending]:
        """Up to ``limit`` action-result entries queued right after the result ``entry``,
        up to the first blob entry: a result goes up only after the blobs queued
        before it, so none follow a blob entry."""
        if entry.kind != "ac":
            return []
        with self._lock:
            try:
                at = self._names.index(entry.name)
            except ValueError:
                return []
            names = list(itertools.takewhile(_is_result, self._names[at + 1 : at + 1 + limit]))
        loaded = (self._load(name) for name in names)
        return [pending for pending in loaded if pending is not None]

    def _load(self, name: str) -> Pending | None:
        path = self.directory / name
        try:
            pending = _parse(name, path.read_bytes())
            if pending is not None:
                pending = dataclasses.replace(pending, queued_at=path.stat().st_mtime)
        except OSError:
            pending = None
        if pending is None:
            self.done(name)  # Damaged: nothing in it can be trusted to upload.
        return pending

    def done(self, name: str) -> None:
        """Remove an entry once uploaded (or found impossible to upload)."""
        with self._lock:
            if name in self._names:
                self._names.remove(name)
                self._uploads -= uploads_in(name)
            (self.directory / name).unlink(missing_ok=True)


def uploads_in(name: str) -> int:
    """How many uploads the entry named ``name`` holds (0: not an entry name)."""
    parts = name.split("-")
    if not parts[0].isdigit():
        return 0
    if len(parts) == 3 and parts[1] == "blobs" and parts[2].isdigit():
        return int(parts[2])
    return 1 if len(parts) == 4 and parts[1] in ("cas", "ac") else 0


def _is_result(name: str) -> bool:
    return name.split("-", 2)[1:2] == ["ac"]


def queued_uploads(directory: Path) -> int:
    """Uploads waiting in the queue of the cache directory ``directory``."""
    queue = directory / QUEUE_DIRECTORY
    return sum(uploads_in(p.name) for p in queue.iterdir()) if queue.is_dir() else 0


def _parse(name: str, content: bytes) -> Pending | None:
    """The entry, or None when its name or content is damaged."""
    parts = name.split("-")
    instance_bytes, _, rest = content.partition(b"\0")
    try:
        instance = instance_bytes.decode()
        if parts[1] == "blobs":
            lines = rest.decode("ascii").splitlines()
            blobs = tuple(_digest(line) for line in lines)
            if len(blobs) != int(parts[2]):
                return None
            return Pending(name, "cas", instance, blobs)
        key = digest(parts[2], int(parts[3]))
    except (ValueError, IndexError, CacheError, UnicodeDecodeError):
        return None
    if parts[1] == "ac":
        return Pending(name, "ac", instance, (key,), rest)
    return Pending(name, "cas", instance, (key,))  # The first format: the name is the blob.


def _digest(line: str) -> Digest:
    hash_, _, size = line.partition("-")
    return digest(hash_, int(size))
