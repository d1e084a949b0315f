"""Settings of ``graphkit cache serve``, validated once when parsed from the command line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from graphkit.cache.names import decimal
from graphkit.cache.store.objects import BackendOptions
from graphkit.cache.store.uploads import DEFAULT_MAX_QUEUED
from graphkit.errors import InputError

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
# ASCII only: without re.ASCII, \d would accept fullwidth digits and \s any Unicode space.
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", re.ASCII)
DEFAULT_MAX_BATCH = 4 * 1024 * 1024
# Calls in progress at once; each holds a thread, and an upload up to ~10 MiB of buffers.
DEFAULT_MAX_CALLS = 64
DEFAULT_IDLE_TIMEOUT = 60.0
DEFAULT_KEEPALIVE = 60.0
DEFAULT_CONNECTION_AGE = 3600.0
# Calls still running when a connection reaches its age get this long to finish.
DEFAULT_CONNECTION_AGE_GRACE = 300.0
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|)\s*", re.ASCII)
_SECONDS = {"ms": 0.001, "": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_size(text: str, *, option: str = "--max-size") -> int:
    """``50GiB``, ``500MB``, ``1048576`` -> bytes (binary and decimal units)."""
    match = _SIZE.fullmatch(text)
    unit = match[2].lower() if match else ""
    if match is None or unit not in _UNITS:
        raise InputError(f"{option} {text!r} is not a size", hint="e.g. 50GiB, 500MB, 1048576")
    size = int(float(match[1]) * _UNITS[unit])
    if size <= 0:
        raise InputError(f"{option} must be larger than zero")
    return size


def parse_max_blob_size(text: str | None, max_size: int) -> int | None:
    """``--max-blob-size``: a size no larger than ``--max-size``, or None for the default."""
    if text is None:
        return None
    size = parse_size(text, option="--max-blob-size")
    if size > max_size:
        raise InputError(
            f"--max-blob-size {text} is larger than --max-size ({max_size} bytes)",
            hint="one blob cannot be larger than the whole cache",
        )
    return size


def parse_seconds(text: str, *, option: str) -> float:
    """``30``, ``30s``, ``500ms``, ``5m``, ``1h`` -> seconds, larger than zero."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise InputError(f"{option} {text!r} is not a duration", hint="e.g. 30s, 500ms, 5m, 1h")
    seconds = float(match[1]) * _SECONDS[match[2]]
    if seconds <= 0:
        raise InputError(f"{option} must be longer than zero")
    return seconds


def parse_count(text: str, *, option: str) -> int:
    """A positive whole number in ASCII digits."""
    value = decimal(text.strip(), max_digits=9)
    if value is None or value == 0:
        raise InputError(f"{option} {text!r} is not a positive whole number")
    return value


@dataclass(frozen=True)
class Address:
    """A host and port to listen on."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_address(text: str, *, option: str = "--listen") -> Address:
    """``HOST:PORT`` or ``[IPv6]:PORT``; port 0 picks a free port."""
    host, sep, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = decimal(port_text, max_digits=5)
    if not sep or not host or port is None or port > 65535:
        raise InputError(f"{option} {text!r} is not HOST:PORT", hint="e.g. 0.0.0.0:8980")
    return Address(host, port)


@dataclass(frozen=True)
class TlsFiles:
    """Server certificate and key; with ``client_ca``, clients must present a certificate."""

    cert: Path
    key: Path
    client_ca: Path | None = None


@dataclass(frozen=True)
class ServeOptions:
    """Everything ``graphkit cache serve`` needs."""

    listen: Address
    directory: Path
    max_size: int
    tokens: Path | None = None
    allow_unauthenticated_reads: bool = False
    tls: TlsFiles | None = None
    metrics_listen: Address | None = None
    max_batch_bytes: int = DEFAULT_MAX_BATCH
    grace_seconds: float = 30.0
    # None: a fraction of max_size (see store.local.DEFAULT_BLOB_FRACTION).
    max_blob_size: int | None = None
    # Bounded work per client (see limits.py and docs/cache.md).
    max_concurrent_calls: int = DEFAULT_MAX_CALLS
    idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT
    keepalive_seconds: float = DEFAULT_KEEPALIVE
    max_connection_age_seconds: float = DEFAULT_CONNECTION_AGE
    connection_age_grace_seconds: float = DEFAULT_CONNECTION_AGE_GRACE
    # A shared bucket behind the local store (replicas; see docs/cache.md).
    backend: BackendOptions | None = None
    max_queued_uploads: int = DEFAULT_MAX_QUEUED


def tls_files(cert: Path | None, key: Path | None, client_ca: Path | None) -> TlsFiles | None:
    """Validate the combination of TLS flags."""
    if cert is None and key is None:
        if client_ca is not None:
            raise InputError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if cert is None or key is None:
        raise InputError("--tls-cert and --tls-key go together")
    return TlsFiles(cert, key, client_ca)
