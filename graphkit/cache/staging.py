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
from dataclasses import dataclass
from pathlib import Path

from graphkit.cache.digest import EMPTY, Digest, InvalidRequest
from graphkit.errors import CacheError

# Staged files untouched this long belong to a dead process (uploads write steadily).
STALE_STAGING_SECONDS = 3600.0
_WRITE_BUFFER = 1 << 20
# Upload chunks at least this large are hashed and written by a helper thread; at most
# this many wait for it (a few MiB per upload in flight).
_PIPELINE_CHUNK = 256 * 1024
_PIPELINE_DEPTH = 1


@dataclass(frozen=True)
class StagedFile:
    """A verified upload in ``staging/``, moved (not copied) into the store."""

    path: str
    size: int


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


class StagedWriter:
    """A BlobWriter that streams into ``staging/`` and hashes as it goes.

    Large chunks are hashed and written by a helper thread while the request thread
    receives the next one: hashlib and file writes release the GIL, gRPC's receive
    path mostly does not, so the two overlap. At most ``_PIPELINE_DEPTH`` chunks wait
    for the helper, which bounds the memory an upload holds. Small chunks (Bazel
    sends 16 KiB) cost less than a hand-off and are written in place.
    """

    def __init__(
        self,
        staging: Path,
        digest: Digest,
        adopt: Callable[[Digest, StagedFile], None],
    ) -> None:
        self._digest = digest
        self._adopt = adopt
        self._hash = hashlib.sha256()
        self._size = 0
        self._done = False
        self._pending: queue.Queue[bytes | memoryview | None] | None = None
        self._helper: threading.Thread | None = None
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
        if self._pending is None and len(chunk) < _PIPELINE_CHUNK:
            self._append(chunk)
            return
        if self._pending is None:
            self._pending = queue.Queue(maxsize=_PIPELINE_DEPTH)
            self._helper = threading.Thread(target=self._drain, name="upload", daemon=True)
            self._helper.start()
        self._pending.put(chunk)

    def _append(self, chunk: bytes | memoryview) -> None:
        if self._error is None:
            try:
                self._hash.update(chunk)
                self._file.write(chunk)
            except OSError as exc:  # Reported by commit(), on the request's thread.
                self._error = exc

    def _drain(self) -> None:
        assert self._pending is not None
        with contextlib.suppress(OSError):
            self._file.flush()  # Large chunks bypass the buffer from here on.
        fd = self._file.fileno()
        while (chunk := self._pending.get()) is not None:
            if self._error is None:
                try:
                    self._hash.update(chunk)
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
                except OSError as exc:  # Reported by commit(), on the request's thread.
                    self._error = exc

    def _finish_helper(self) -> None:
        """Wait until every handed-off chunk is written."""
        if self._helper is not None and self._pending is not None:
            self._pending.put(None)
            self._helper.join()
            self._helper = None

    def commit(self) -> None:
        """Verify the bytes against the digest, then move them into the store."""
        if self._done:
            return
        self._finish_helper()
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
                self._adopt(expected, StagedFile(self._path, self._size))
        finally:
            self.abort()  # Removes the staged file if adoption did not move it.

    def abort(self) -> None:
        """Discard the upload."""
        self._done = True
        self._finish_helper()
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)
