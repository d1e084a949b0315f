"""Instance names and ByteStream resource names, parsed and validated.

Resource names follow REAPI v2:

- read:  ``{instance}/blobs/{hash}/{size}``
- write: ``{instance}/uploads/{uuid}/blobs/{hash}/{size}{/optional_metadata}``

The instance is empty or one or more ``/``-separated segments (``ci/main``), none of
which may be one of the keywords below; that rule is what makes the names parseable.
Instance names are namespaces inside the store's index and never touch the file system.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graphkit.cache.digest import Digest, InvalidRequest, digest

# The spec reserves these segments so that the instance prefix can be split off.
RESERVED_SEGMENTS = frozenset(
    {
        "blobs",
        "uploads",
        "actions",
        "actionResults",
        "operations",
        "capabilities",
        "compressed-blobs",
    }
)
MAX_INSTANCE_LENGTH = 256
_SEGMENT = re.compile(r"[A-Za-z0-9._~@+=-]+")
# Digest function names that may appear before the hash; for SHA-256 the spec says
# clients omit it, but accepting the explicit form costs nothing.
_DIGEST_FUNCTIONS = frozenset({"sha256"})


@dataclass(frozen=True, slots=True)
class ReadResource:
    """A parsed ``ByteStream.Read`` resource name."""

    instance: str
    digest: Digest


@dataclass(frozen=True, slots=True)
class WriteResource:
    """A parsed ``ByteStream.Write`` resource name."""

    instance: str
    upload_id: str
    digest: Digest


def instance_name(text: str) -> str:
    """Validate an instance name from a request and return it."""
    if not text:
        return text
    if len(text) > MAX_INSTANCE_LENGTH:
        raise InvalidRequest(f"instance name is longer than {MAX_INSTANCE_LENGTH} characters")
    for segment in text.split("/"):
        if segment in RESERVED_SEGMENTS or _SEGMENT.fullmatch(segment) is None:
            raise InvalidRequest(
                f"instance name {text[:80]!r} is invalid: segment {segment[:40]!r} is empty, "
                "reserved, or has characters outside [A-Za-z0-9._~@+=-]"
            )
    return text


def _split_instance(segments: list[str], keyword: str, name: str) -> tuple[str, int]:
    """Find the first ``keyword`` segment; return the instance before it and its index."""
    for index, segment in enumerate(segments):
        if segment == "compressed-blobs":
            raise InvalidRequest(
                f"resource name {name[:200]!r}: compressed blobs are not supported "
                "(the server advertises no compressors)"
            )
        if segment == keyword:
            return instance_name("/".join(segments[:index])), index
    raise InvalidRequest(f"resource name {name[:200]!r} has no {keyword!r} segment")


def decimal(text: str, *, max_digits: int) -> int | None:
    """``text`` as a non-negative integer if it is 1 to ``max_digits`` ASCII digits, else None.

    ``str.isdigit`` alone is not enough: it accepts superscript two (which ``int``
    refuses) and fullwidth five (which ``int`` reads as 5), so a name would not mean
    what its bytes say.
    """
    if not 0 < len(text) <= max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def _parse_digest(parts: list[str], name: str) -> Digest:
    if parts and parts[0] in _DIGEST_FUNCTIONS:
        parts = parts[1:]
    size = decimal(parts[1], max_digits=19) if len(parts) >= 2 else None
    if size is None:
        raise InvalidRequest(
            f"resource name {name[:200]!r} does not end in blobs/{{hash}}/{{size}}"
        )
    return digest(parts[0], size)


def read_resource(name: str) -> ReadResource:
    """Parse ``{instance}/blobs/{hash}/{size}``."""
    segments = name.split("/")
    instance, index = _split_instance(segments, "blobs", name)
    rest = segments[index + 1 :]
    found = _parse_digest(rest, name)
    if len(rest) - (1 if rest[0] in _DIGEST_FUNCTIONS else 0) != 2:
        raise InvalidRequest(f"resource name {name[:200]!r} has extra segments after the size")
    return ReadResource(instance, found)


def write_resource(name: str) -> WriteResource:
    """Parse ``{instance}/uploads/{uuid}/blobs/{hash}/{size}{/optional_metadata}``."""
    segments = name.split("/")
    instance, index = _split_instance(segments, "uploads", name)
    rest = segments[index + 1 :]
    if len(rest) < 4 or not rest[0] or rest[1] != "blobs":
        if len(rest) >= 2 and rest[1] == "compressed-blobs":
            _split_instance(rest[1:], "blobs", name)  # raises the compression message
        raise InvalidRequest(
            f"resource name {name[:200]!r} is not "
            "{instance}/uploads/{uuid}/blobs/{hash}/{size}"
        )
    # Anything after the size is optional metadata, which the spec lets servers ignore.
    return WriteResource(instance, rest[0], _parse_digest(rest[2:], name))
