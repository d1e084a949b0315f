"""REAPI content digests: a SHA-256 hash in lowercase hex and a size in bytes.

Digests arrive from the network, so they are validated when made: a hash that is not
exactly 64 lowercase hex characters, or a negative size, never becomes a ``Digest``.
Stores use digests only as keys in their index, never as file names.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from graphkit.errors import InputError

HASH_HEX_LENGTH = 64
_HEX64 = re.compile(r"[0-9a-f]{64}")


class InvalidRequest(InputError):
    """A request the caller got wrong: bad digest, resource name, size, or oversize batch.

    The server answers INVALID_ARGUMENT with this message.
    """


@dataclass(frozen=True, slots=True)
class Digest:
    """The identity of a blob. Build with :func:`digest` or :func:`digest_of`."""

    hash: str
    size: int

    def __str__(self) -> str:
        return f"{self.hash}/{self.size}"


def digest(hash_hex: str, size: int) -> Digest:
    """Validate a hash and size from a request and return them as a Digest.

    Bazel 4.2 never fills ``digest_function``, so a 64-hex hash is taken as SHA-256;
    any other length is another digest function, which this cache does not serve.
    """
    if _HEX64.fullmatch(hash_hex) is None:
        shown = hash_hex if len(hash_hex) <= 80 else hash_hex[:80] + "..."
        raise InvalidRequest(
            f"digest hash {shown!r} is not a SHA-256 hash (64 lowercase hex characters)"
        )
    if size < 0:
        raise InvalidRequest(f"digest {hash_hex}/{size} has a negative size")
    return Digest(hash_hex, size)


_HEX_RUN = re.compile(r"[0-9a-f]*")


def digests(pairs: Sequence[tuple[str, int]]) -> list[Digest]:
    """Validate many (hash, size) pairs from a request, as :func:`digest` does each.

    Batches carry thousands of digests, so the checks run in a few passes over the
    whole batch (one regex over the joined hashes, one set of lengths); only a batch
    that fails them is checked pair by pair, to name the first bad digest.
    """
    if not pairs:
        return []
    hashes, sizes = zip(*pairs, strict=True)
    if (
        set(map(len, hashes)) != {HASH_HEX_LENGTH}
        or _HEX_RUN.fullmatch("".join(hashes)) is None
        or min(sizes) < 0
    ):
        return [digest(h, n) for h, n in pairs]  # Raises for the first bad one.
    return [Digest(h, n) for h, n in pairs]


def digest_of(data: bytes) -> Digest:
    """The SHA-256 digest of ``data``."""
    return Digest(hashlib.sha256(data).hexdigest(), len(data))


EMPTY = digest_of(b"")


def mismatch(expected: Digest, data: bytes) -> str | None:
    """Why ``data`` does not match ``expected``, or None when it does."""
    if len(data) != expected.size:
        return f"blob {expected} has {len(data)} bytes, but its digest says {expected.size}"
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected.hash:
        return f"blob {expected} hashes to {actual}: its bytes do not match its digest"
    return None
