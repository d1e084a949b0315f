"""Uploads in flight: streamed into ``staging/``, hashed as they arrive, invisible
until verified.

A staged file is named after the server's pid, so a restarted server can tell a live
upload of another process from the leftover of a dead one. Only a verified file is
handed to the store (``adopt``), which renames it into place; everything else is
removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from graphkit.cache.digest import EMPTY, Digest, InvalidRequest
from graphkit.cache.store.unchanged import mark_verified
from graphkit.errors import CacheError

# Staged files untouched this long belong to a dead process (uploads write steadily).
STALE_STAGING_SECONDS = 3600.0
_WRITE_BUFFER = 1 << 20
# Upload chunks at least this large are hashed by one helper thread and written by
# another; at most this many wait at each (a few MiB per upload in flight).
_PIPELINE_CHUNK = 256 * 1024
_PIPELINE_DEPTH = 1


@dataclass(frozen=True)
class StagedFile:
    """A verified upload in ``staging/``, moved (not copied) into the store.

    ``mark`` is the mtime :func:`mark_verified` gave it after its bytes matched; the
    store calls ``placed(name, path)`` once the file is renamed into place.
    """

    path: str
    size: int
    mark: int | None = None
    placed: Callable[[str, str], None] | None = field(default=None, compare=False)


def is_live_upload(entry: Path) -> bool:
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


class _Stage:
    """A helper thread applying ``work`` to each chunk in order, then passing it on.

    The queue is bounded, so a slow stage holds back the one feeding it instead of
    letting chunks pile up in memory. ``None`` ends the stage (and is passed on).
    """

    def __init__(
        self,
        name: str,
        work: Callable[[bytes | memoryview], None],
        then: _Stage | None = None,
    ) -> None:
        self._work = work
        self._then = then
        self._queue: queue.Queue[bytes | memoryview | None] = queue.Queue(_PIPELINE_DEPTH)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, chunk: bytes | memoryview | None) -> None:
        """Queue a chunk, waiting while the stage is still busy with earlier ones."""
        self._queue.put(chunk)

    def close(self) -> None:
        """Wait until every chunk has passed this stage and the ones after it."""
        self._queue.put(None)
        self._thread.join()
        if self._then is not None:
            self._then.close()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._work(chunk)
            if self._then is not None:
                self._then.put(chunk)


class StagedWriter:
    """A BlobWriter that streams into ``staging/`` and hashes as it goes.

    Large chunks are hashed by one helper thread and written by another while the
    request thread receives the next one: hashlib and file writes release the GIL,
    gRPC's receive path mostly does not, so all three overlap. (On the CI machines a
    new page-cache page costs more than hashing it, so one helper doing both was the
    bottleneck.) At most ``_PIPELINE_DEPTH`` chunks wait at each helper, which bounds
    the memory an upload holds. Small chunks (Bazel sends 16 KiB) cost less than a
    hand-off and are hashed and written in place.
    """

    def __init__(
        self,
        staging: Path,
        digest: Digest,
        adopt: Callable[[Digest, StagedFile], None],
        *,
        release: Callable[[], None] = lambda: None,
    ) -> None:
        self._digest = digest
        self._adopt = adopt
        self._release = release
        self._hash = hashlib.sha256()
        self._size = 0
        self._done = False
        self._pipeline: _Stage | None = None
        self._error: OSError | None = None
        # The pid in the name lets a restarted server tell live uploads from leftovers.
        fd, self._path = tempfile.mkstemp(dir=staging, prefix=f"up-{os.getpid()}-")
        self._file = os.fdopen(fd, "wb", buffering=_WRITE_BUFFER)

    @property
    def committed_size(self) -> int:
        """Bytes received so far."""
        return self._size

    def write(self, chunk: bytes | memoryview) -> None:
        """Append a chunk; refuse to grow past the digest's size."""
        if self._size + len(chunk) > self._digest.size:
            self.abort()
            raise InvalidRequest(
                f"upload of {self._digest} sent more than {self._digest.size} bytes"
            )
        self._size += len(chunk)
        if self._pipeline is None and len(chunk) < _PIPELINE_CHUNK:
            self._hash.update(chunk)
            self._append(chunk)
            return
        if self._pipeline is None:
            try:
                self._file.flush()  # Large chunks bypass the buffer from here on.
            except OSError as exc:  # Reported by commit().
                self._error = exc
            writer = _Stage("upload-write", self._write_through)
            self._pipeline = _Stage("upload-hash", self._hash.update, then=writer)
        self._pipeline.put(chunk)

    def _append(self, chunk: bytes | memoryview) -> None:
        if self._error is None:
            try:
                self._file.write(chunk)
            except OSError as exc:  # Reported by commit(), on the request's thread.
                self._error = exc

    def _write_through(self, chunk: bytes | memoryview) -> None:
        if self._error is None:
            try:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self._file.fileno(), view) :]
            except OSError as exc:  # Reported by commit(), on the request's thread.
                self._error = exc

    def _finish_pipeline(self) -> None:
        """Wait until every handed-off chunk is hashed and written."""
        if self._pipeline is not None:
            self._pipeline.close()
            self._pipeline = None

    def commit(self) -> None:
        """Verify the bytes against the digest, then move them into the store."""
        if self._done:
            return
        self._finish_pipeline()
        if self._error is not None:
            self.abort()
            raise CacheError(f"cannot stage upload of {self._digest}: {self._error}")
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
                try:
                    mark: int | None = mark_verified(self._path)
                except OSError:
                    mark = None  # Then it is hashed on its first read, as before.
                self._adopt(expected, StagedFile(self._path, self._size, mark))
        finally:
            self.abort()  # Removes the staged file if adoption did not move it.

    def abort(self) -> None:
        """Discard the upload and give back the room it held."""
        self._done = True
        self._finish_pipeline()
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)
        self._release()
