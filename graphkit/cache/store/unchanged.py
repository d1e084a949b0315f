"""Value files verified once and unchanged since, known by what ``fstat`` says of them.

Hashing a large blob as it is served costs the server more CPU than sending it (SHA-256
at ~0.7 ms per MiB, against ~0.3 ms to frame and send it), so a blob file whose bytes
matched its digest is remembered by its *seal*: device, inode, size, and modification
and change times in nanoseconds. A read whose ``fstat`` still shows the seal skips
the hash. Any write through the file system moves the change time (ctime), which no
user-space call can set, and moves the modification time to the present; a truncation
also changes the size, a replacement the inode. So a file changed since it was sealed
is hashed again on its next read, and dropped if it no longer matches.

What a seal cannot see is damage underneath the file system (a failing disk, a bit
flipped in the page cache, a write to the raw device): the stat does not change, so
a sealed file is then served unchecked, and ``graphkit cache verify`` (which hashes
every entry) is what finds it. Seals live in the server's memory only: after a
restart every blob is hashed on its first read again.

A timestamp is only as fine as the file system's clock (a kernel tick, or whole
seconds on some file systems), and a write in the same tick as the stat that made
a seal would leave both times unchanged. Seals are therefore made only when that
cannot happen:

- **After a verified read** (:meth:`VerifiedFiles.settled`): the stat is taken before
  the bytes are hashed, and sealed only if the file's ctime is older than the file
  system's own clock read just after it (a ``clock`` file in the cache directory,
  touched), as git treats "racily clean" index entries. A write after that moment
  gets a later ctime; one before it is in the bytes that were hashed.
- **When an upload is stored** (:func:`mark_verified`): the staged file's mtime is
  set to one nanosecond before its ctime, right after its bytes were hashed and
  written, and before it is renamed into place. Any later write sets mtime to the
  present, which is never that value, so the seal holds only while the mark does.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

# Device, inode, size, mtime_ns, ctime_ns.
Seal = tuple[int, int, int, int, int]
# Seals kept (least recently used out). A forgotten seal costs one hash on the next
# read; each takes about 200 bytes. Blobs kept in files are at least 64 KiB, so this
# covers a cache of 6 GiB and more.
CAPACITY = 100_000
CLOCK_FILE = "clock"


def seal_of(status: os.stat_result) -> Seal:
    """The parts of a stat that change whenever the file's bytes change."""
    return (
        status.st_dev,
        status.st_ino,
        status.st_size,
        status.st_mtime_ns,
        status.st_ctime_ns,
    )


def mark_verified(path: str) -> int:
    """Set the mtime of a just-verified file to one ns before its ctime; return it.

    Called once the file's bytes are written and matched its digest. Any write after
    this sets mtime to the present (at least the ctime read here), never to the mark.
    """
    status = os.stat(path)
    mark = status.st_ctime_ns - 1
    os.utime(path, ns=(status.st_atime_ns, mark))
    return mark


class VerifiedFiles:
    """The seals of one cache directory's value files, by file name; thread-safe."""

    def __init__(self, directory: Path, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._seals: OrderedDict[str, Seal] = OrderedDict()
        self._lock = threading.Lock()
        self._clock = os.open(directory / CLOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)

    def __len__(self) -> int:
        return len(self._seals)

    def unchanged(self, name: str, status: os.stat_result) -> bool:
        """Whether ``name`` was verified and ``status`` still shows its seal."""
        with self._lock:
            seal = self._seals.get(name)
            if seal is None:
                return False
            if seal != seal_of(status):
                del self._seals[name]
                return False
            self._seals.move_to_end(name)
            return True

    def settled(self, status: os.stat_result) -> Seal | None:
        """The seal of ``status`` if the file's ctime is older than the clock now.

        Take ``status`` before reading the bytes to verify; seal them only if this
        returns a seal and the file's stat is the same once they are verified.
        """
        os.utime(self._clock)  # Sets the clock file's ctime to the file system's now.
        now = os.fstat(self._clock).st_ctime_ns
        return seal_of(status) if status.st_ctime_ns < now else None

    def remember(self, name: str, seal: Seal) -> None:
        """Record that the file ``name`` with ``seal`` matched its digest."""
        with self._lock:
            self._seals[name] = seal
            self._seals.move_to_end(name)
            while len(self._seals) > self._capacity:
                self._seals.popitem(last=False)

    def remember_marked(self, name: str, path: str, mark: int) -> None:
        """Seal a verified upload just placed at ``path``, if its mark is intact."""
        status = os.stat(path)
        if status.st_mtime_ns == mark:
            self.remember(name, seal_of(status))

    def forget(self, names: list[str]) -> None:
        """Drop the seals of files deleted or found damaged."""
        with self._lock:
            for name in names:
                self._seals.pop(name, None)

    def close(self) -> None:
        """Close the clock file."""
        os.close(self._clock)
