"""The signed envelope of a travelling memo: what verifies, and every way a forgery fails."""

from __future__ import annotations

import os
import pickle

import pytest

from graphkit.analysis.memoseal import (
    Envelope,
    Refused,
    dump_piece,
    load_piece,
    memo_action,
    seal,
    signer_id,
    unseal,
)
from graphkit.cache.digest import digest_of
from graphkit.labels import Label

KEY = b"the runners' secret"
TREE = "a" * 40
OTHER_TREE = "b" * 40


def _envelope(tree: str = TREE, key: bytes = KEY) -> Envelope:
    return Envelope(
        memo_action(tree, key),
        tree,
        "graph:" + "0" * 32,
        {"graph": digest_of(b"graph bytes"), "scan": digest_of(b"scan bytes")},
    )


def test_a_sealed_envelope_opens_with_the_same_key() -> None:
    envelope = _envelope()
    assert unseal(seal(envelope, KEY), KEY, envelope.action, TREE) == envelope


def test_the_action_names_the_tree_and_the_signer() -> None:
    assert memo_action(TREE, KEY) == memo_action(TREE, KEY)
    assert memo_action(TREE, KEY) != memo_action(OTHER_TREE, KEY)
    # Teams sharing a cache with different keys never overwrite each other's entries.
    assert memo_action(TREE, KEY) != memo_action(TREE, b"another key")
    assert signer_id(KEY) != signer_id(b"another key")
    assert KEY.hex() not in signer_id(KEY)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


@pytest.mark.parametrize(
    ("forge", "why"),
    [
        (lambda data: seal(_envelope(), b"a guessed key"), "bad signature"),
        (lambda data: _flip(data, 30), "bad signature"),
        (lambda data: _flip(data, len(data) - 5), "bad signature"),
        (lambda data: data[: len(data) // 2], "unsigned"),
        (lambda data: data.rpartition(b"hmac-sha256")[0], "unsigned"),
        (lambda data: b"", "unsigned"),
        (lambda data: os.urandom(200), "unsigned"),
        (lambda data: data + b"x" * 70_000, "too large"),
    ],
    ids=[
        "wrong key",
        "flipped byte",
        "flipped signature",
        "truncated",
        "unsigned",
        "empty",
        "garbage",
        "oversized",
    ],
)
def test_a_forged_envelope_is_refused(forge: object, why: str) -> None:
    envelope = _envelope()
    data = seal(envelope, KEY)
    with pytest.raises(Refused, match=why):
        unseal(forge(data), KEY, envelope.action, TREE)  # type: ignore[operator]


def test_a_valid_signature_over_another_trees_memo_is_refused() -> None:
    other = _envelope(OTHER_TREE)
    with pytest.raises(Refused, match="another tree"):
        unseal(seal(other, KEY), KEY, memo_action(TREE, KEY), TREE)


def test_a_signed_but_malformed_envelope_is_refused() -> None:
    import hashlib
    import hmac

    for body in (b"graphkit-memo 99\n", b"graphkit-memo 1\nrm -rf /\n", b"graphkit-memo 1\n"):
        signature = hmac.new(KEY, body, hashlib.sha256).hexdigest()
        with pytest.raises(Refused):
            unseal(body + f"hmac-sha256 {signature}\n".encode(), KEY, memo_action(TREE, KEY), TREE)


def test_a_piece_loads_only_when_its_bytes_match_the_signed_digest() -> None:
    value = {Label("//libs/core", "core"): ("x", 1)}
    data = dump_piece(value)
    assert load_piece(data, digest_of(data)) == value
    with pytest.raises(Refused, match="digest"):
        load_piece(_flip(data, 10), digest_of(data))
    truncated = data[:-3]
    with pytest.raises(Refused, match="unreadable"):
        load_piece(truncated, digest_of(truncated))


class _Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def test_a_piece_that_names_code_is_refused_even_when_signed() -> None:
    data = pickle.dumps(_Exploit(), protocol=5)
    with pytest.raises(Refused, match="system"):
        load_piece(data, digest_of(data))
