"""Digests, instance names and ByteStream resource names: what is accepted, what is not."""

from __future__ import annotations

import pytest

from graphkit.cache.digest import (
    EMPTY,
    Digest,
    InvalidRequest,
    digest,
    digest_of,
    digests,
    mismatch,
)
from graphkit.cache.names import instance_name, read_resource, write_resource

H = "a" * 64


def test_digest_accepts_lowercase_sha256_hex() -> None:
    assert digest(H, 3) == Digest(H, 3)


@pytest.mark.parametrize(
    ("hash_hex", "size"),
    [("A" * 64, 1), ("a" * 63, 1), ("a" * 40, 1), ("../" * 21 + "a", 1), (H, -1), ("", 0)],
)
def test_digest_rejects_malformed_input(hash_hex: str, size: int) -> None:
    with pytest.raises(InvalidRequest):
        digest(hash_hex, size)


@pytest.mark.parametrize(
    ("hash_hex", "size"),
    [("A" * 64, 1), ("a" * 63, 1), ("a" * 65, 1), ("g" * 64, 1), (H, -1), ("", 0)],
)
def test_batch_digests_reject_what_digest_rejects_and_name_the_bad_one(
    hash_hex: str, size: int
) -> None:
    # One bad pair among good ones; the batch check must not let a 63 + 65 pair through.
    pairs = [(H, 1), (hash_hex, size), ("b" * 64, 2)]
    with pytest.raises(InvalidRequest) as batch_error:
        digests(pairs)
    with pytest.raises(InvalidRequest) as single_error:
        digest(hash_hex, size)
    assert str(batch_error.value) == str(single_error.value)


def test_batch_digests_accept_what_digest_accepts_in_order() -> None:
    pairs = [(f"{i:064x}", i) for i in range(1000)]
    assert digests(pairs) == [digest(h, n) for h, n in pairs]
    assert digests([]) == []


def test_empty_blob_digest_is_the_sha256_of_nothing() -> None:
    assert EMPTY.hash == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert EMPTY.size == 0


def test_mismatch_names_size_and_hash_errors() -> None:
    d = digest_of(b"abc")
    assert mismatch(d, b"abc") is None
    assert "has 2 bytes" in (mismatch(d, b"ab") or "")
    assert "do not match" in (mismatch(d, b"abd") or "")


def test_instance_names_may_contain_slashes() -> None:
    assert instance_name("ci/main") == "ci/main"
    assert instance_name("") == ""


@pytest.mark.parametrize("name", ["ci//main", "/ci", "ci/", "blobs", "a/uploads/b", "..a b",
                                  "x" * 300, "a\x00b"])
def test_instance_names_reject_reserved_or_odd_segments(name: str) -> None:
    with pytest.raises(InvalidRequest):
        instance_name(name)


def test_read_resource_with_and_without_instance() -> None:
    assert read_resource(f"blobs/{H}/12") == read_resource(f"blobs/{H}/12")
    r = read_resource(f"ci/main/blobs/{H}/12")
    assert (r.instance, r.digest) == ("ci/main", Digest(H, 12))
    assert read_resource(f"blobs/sha256/{H}/12").digest == Digest(H, 12)


def test_write_resource_ignores_optional_metadata() -> None:
    w = write_resource(f"ci/main/uploads/uuid-1/blobs/{H}/7/some/metadata")
    assert (w.instance, w.upload_id, w.digest) == ("ci/main", "uuid-1", Digest(H, 7))


@pytest.mark.parametrize(
    "name",
    [
        f"blobs/{H}",
        f"blobs/{H}/x",
        f"blobs/{H}/1/extra",
        f"nothing/{H}/1",
        f"compressed-blobs/zstd/{H}/1",
        "blobs/../../etc/passwd/1",
        f"blobs/{H}/99999999999999999999999",
        f"blobs/{H}/\u00b2",  # superscript two: isdigit() says yes, int() refuses
        f"blobs/{H}/\uff15",  # fullwidth five: int() would read it as 5
        f"blobs/{H}/+5",
    ],
)
def test_bad_read_resources_are_invalid(name: str) -> None:
    with pytest.raises(InvalidRequest):
        read_resource(name)


@pytest.mark.parametrize(
    "name",
    [f"uploads/blobs/{H}/1", f"uploads/u/{H}/1", f"blobs/{H}/1",
     f"uploads/u/compressed-blobs/zstd/{H}/1"],
)
def test_bad_write_resources_are_invalid(name: str) -> None:
    with pytest.raises(InvalidRequest):
        write_resource(name)


def test_compressed_upload_message_says_compression_is_unsupported() -> None:
    with pytest.raises(InvalidRequest, match="compressed blobs are not supported"):
        write_resource(f"uploads/u/compressed-blobs/zstd/{H}/1")
