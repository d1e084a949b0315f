"""Blobs and action results in an object store (S3, GCS, Azure) shared by replicas.

obstore (Rust ``object_store``) gives one client for ``s3://bucket/prefix``,
``gs://bucket/prefix`` and ``az://account/container/prefix``; credentials, region and
endpoint come from the standard environment of each (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``, ``AWS_ALLOW_HTTP``,
...), with flags able to set endpoint and region.

Layout under the prefix: ``cas/{hash}-{size}`` and ``ac/{hash}-{size}`` for the
default instance, ``instances/{hex of name}/cas/...`` for named ones (hex because an
instance segment may be ``..``, which no object path may hold).

Safety: a blob is written only after its bytes were checked against its digest, and
written whole (one PUT, or a multipart upload that becomes visible only when
completed), so a writer killed mid-upload leaves nothing under the digest's key. Every
read is checked again; an object whose bytes do not match its digest is deleted and
reported absent, never served. Any backend failure (unreachable, slow past the
timeout, refused) is a :class:`BackendError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import obstore
from obstore.store import from_url

from graphkit.cache.digest import Digest, mismatch
from graphkit.errors import CacheError, InputError

SCHEMES = ("s3://", "s3a://", "gs://", "az://", "azure://", "abfs://", "abfss://")
_STREAM_CHUNK = 1024 * 1024
# Existence checks run this many HEAD requests at once.
_HEAD_PARALLELISM = 16


class BackendError(CacheError):
    """The object store could not be reached, answered too slowly, or refused."""


@dataclass(frozen=True)
class BackendOptions:
    """Where the object store is and how long a call to it may take."""

    url: str
    endpoint: str | None = None
    region: str | None = None
    # Per-request limit; a slow backend costs at most this (plus connect) per call.
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0


def parse_backend_url(text: str) -> str:
    """``s3://bucket/prefix`` (or gs://, az://) as given, or an InputError."""
    if not text.startswith(SCHEMES) or len(text.split("://", 1)[1].strip("/")) == 0:
        raise InputError(
            f"--backend {text!r} is not an object-store URL",
            hint="e.g. s3://bucket/prefix, gs://bucket/prefix, az://account/container",
        )
    return text


def _allow_http(endpoint: str | None) -> bool:
    """Plain http only when asked for, as every S3 client does (AWS_ALLOW_HTTP=true)."""
    if os.environ.get("AWS_ALLOW_HTTP", "").lower() == "true":
        return True
    return endpoint is not None and endpoint.startswith("http://")


class ObjectStore:
    """The shared tier: verified whole objects under their digests."""

    def __init__(self, options: BackendOptions) -> None:
        self.options = options
        config: dict[str, Any] = {}
        if options.endpoint is not None:
            config["endpoint"] = options.endpoint
        if options.region is not None:
            config["region"] = options.region
        endpoint = options.endpoint or os.environ.get("AWS_ENDPOINT_URL")
        client = {
            "timeout": f"{max(1, round(options.timeout_seconds * 1000))}ms",
            "connect_timeout": f"{max(1, round(options.connect_timeout_seconds * 1000))}ms",
            "allow_http": _allow_http(endpoint),
        }
        # One retry at most, and never past the timeout: the caller has a deadline
        # and a front store to fall back on.
        retry = {"max_retries": 1, "retry_timeout": timedelta(seconds=options.timeout_seconds)}
        try:
            # Typed per scheme by obstore; the config keys here are S3's and given only
            # when the flags set them, so any URL scheme passes through.
            make: Any = from_url
            self._store: Any = make(
                options.url, config=config or None, client_options=client, retry_config=retry
            )
        except Exception as exc:  # obstore raises several config error types
            raise InputError(f"--backend {options.url}: {exc}".splitlines()[0]) from exc
        self._pool = ThreadPoolExecutor(_HEAD_PARALLELISM, thread_name_prefix="backend-head")

    def close(self) -> None:
        """Stop the helper threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def present(self, instance: str, digests: Iterable[Digest]) -> set[Digest]:
        """The blobs the backend holds, checked concurrently (HEAD of each key)."""
        wanted = list(dict.fromkeys(digests))
        found = self._pool.map(lambda d: self._exists(blob_key(instance, d), d.size), wanted)
        return {d for d, ok in zip(wanted, found, strict=True) if ok}

    def _exists(self, key: str, size: int) -> bool:
        try:
            meta = obstore.head(self._store, key)
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise _failed("HEAD", key, exc) from exc
        return int(meta["size"]) == size

    def get(self, instance: str, digest: Digest) -> bytes | None:
        """The verified bytes of a blob, or None when absent or damaged (then deleted)."""
        key = blob_key(instance, digest)
        data = self._get(key)
        if data is None:
            return None
        if mismatch(digest, data) is not None:
            self._drop_damaged(key)
            return None
        return data

    def stream(self, instance: str, digest: Digest) -> Iterator[bytes] | None:
        """The blob's bytes in chunks (unverified: the caller's writer checks them)."""
        key = blob_key(instance, digest)
        try:
            result = obstore.get(self._store, key)
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise _failed("GET", key, exc) from exc

        def chunks() -> Iterator[bytes]:
            try:
                for chunk in result.stream(min_chunk_size=_STREAM_CHUNK):
                    yield bytes(chunk)
            except Exception as exc:
                raise _failed("GET", key, exc) from exc

        return chunks()

    def drop_damaged(self, instance: str, digest: Digest) -> None:
        """Delete a blob found not to match its digest, so a later upload repairs it."""
        self._drop_damaged(blob_key(instance, digest))

    def put(self, instance: str, digest: Digest, data: bytes) -> None:
        """Store a blob whole, after checking its bytes against its digest."""
        why = mismatch(digest, data)
        if why is not None:
            raise CacheError(f"not uploading {why}")
        self._put(blob_key(instance, digest), data)

    def put_file(self, instance: str, digest: Digest, path: str) -> None:
        """Store a blob from a file, checked against its digest before the upload starts.

        obstore uploads a large file as a multipart upload, which the store makes
        visible only once complete; an interrupted one leaves no object.
        """
        hasher, size = hashlib.sha256(), 0
        with open(path, "rb") as handle:
            while chunk := handle.read(_STREAM_CHUNK):
                hasher.update(chunk)
                size += len(chunk)
        if size != digest.size or hasher.hexdigest() != digest.hash:
            raise CacheError(f"not uploading blob {digest}: the file does not match its digest")
        key = blob_key(instance, digest)
        try:
            obstore.put(self._store, key, open(path, "rb"))  # noqa: SIM115 - obstore closes it
        except Exception as exc:
            raise _failed("PUT", key, exc) from exc

    def get_action_result(self, instance: str, action: Digest) -> bytes | None:
        """The stored serialized ActionResult, or None."""
        return self._get(result_key(instance, action))

    def put_action_result(self, instance: str, action: Digest, result: bytes) -> None:
        """Store a serialized ActionResult (last writer wins)."""
        self._put(result_key(instance, action), result)

    def _get(self, key: str) -> bytes | None:
        try:
            return bytes(obstore.get(self._store, key).bytes())
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise _failed("GET", key, exc) from exc

    def _put(self, key: str, data: bytes) -> None:
        try:
            obstore.put(self._store, key, data)
        except Exception as exc:
            raise _failed("PUT", key, exc) from exc

    def _drop_damaged(self, key: str) -> None:
        # Not served either way; a failed delete only delays the repair.
        with contextlib.suppress(Exception):
            obstore.delete(self._store, key)


def _namespace(instance: str) -> str:
    return f"instances/{instance.encode().hex()}/" if instance else ""


def blob_key(instance: str, digest: Digest) -> str:
    """The object key of a blob."""
    return f"{_namespace(instance)}cas/{digest.hash}-{digest.size}"


def result_key(instance: str, action: Digest) -> str:
    """The object key of an action's result."""
    return f"{_namespace(instance)}ac/{action.hash}-{action.size}"


def _failed(method: str, key: str, exc: Exception) -> BackendError:
    """One line naming the call; obstore's messages carry a multi-line debug dump."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return BackendError(f"object store {method} {key}: {first}")


def missing_from(present: set[Digest], digests: Sequence[Digest]) -> list[Digest]:
    """``digests`` not in ``present``, in order."""
    return [d for d in digests if d not in present]
