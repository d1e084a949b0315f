"""A commit's memo as it travels through a remote cache: the action key it is stored
under, the signed envelope that lists its pieces, and the guarded unpickling of a
piece. Pure functions; the remote calls are in ``memoremote``.

A memo from a remote cache is hostile input: a forged one could make ``affected``
report nothing, and a pickle can run code when it is loaded. So nothing from the
remote is unpickled before its envelope's HMAC-SHA256 signature verifies with the
key only the runners hold, and the envelope names each piece by its SHA-256 digest:
the signature covers every byte that is loaded. The envelope also names the action
and tree it was made for, so a valid signature over another tree's memo is refused.
Even then a piece is unpickled with an allow-list of graphkit's own data classes,
so a leaked key does not become code execution through ``os.system``.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import io
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphkit.analysis.graph import MEMO_FORMAT, SCAN_FORMAT, memo_fingerprint
from graphkit.analysis.inferred import keeping_pickles
from graphkit.analysis.keys import KEY_SCHEME
from graphkit.cache.digest import Digest, digest_of

# Bump when the envelope's lines or the set of pieces change.
ENVELOPE_FORMAT = 1
PIECES = ("graph", "inferred", "scan")
MAX_ENVELOPE = 64 * 1024
MAX_PIECE = 1024**3

_HEADER = f"graphkit-memo {ENVELOPE_FORMAT}"
_SIGNATURE = "hmac-sha256 "
_LINE = {
    "action": re.compile(r"action ([0-9a-f]{64})/([0-9]{1,12})"),
    "tree": re.compile(r"tree ([0-9a-f]{40}|[0-9a-f]{64})"),
    "graph": re.compile(r"graph (graph:[0-9a-f]{32})"),
    "piece": re.compile(r"piece ([a-z]{1,16}) ([0-9a-f]{64}) ([0-9]{1,12})"),
}


class Refused(Exception):
    """A remote memo that is not used: the message says why (one line, no secret)."""


@dataclass(frozen=True)
class Envelope:
    """What a signed envelope vouches for: the memo of ``tree`` stored under ``action``,
    its graph key, and each piece's digest."""

    action: Digest
    tree: str
    graph_key: str
    pieces: Mapping[str, Digest]


def signer_id(key: bytes) -> str:
    """Names a signing key without revealing it: entries signed with different keys
    live under different actions, so teams sharing a cache never overwrite each other."""
    return hmac.new(key, b"graphkit memo signer", hashlib.sha256).hexdigest()[:16]


def memo_action(tree: str, key: bytes) -> Digest:
    """The action-cache key of a tree's memo: the tree id, every scheme version the
    pieces depend on (graphkit's version and built-in rules are in the fingerprint),
    and the signer."""
    text = (
        f"{_HEADER}\n"
        f"key-scheme {KEY_SCHEME} memo {MEMO_FORMAT} scan {SCAN_FORMAT}\n"
        f"fingerprint {memo_fingerprint()}\n"
        f"signer {signer_id(key)}\n"
        f"tree {tree}\n"
    )
    return digest_of(text.encode())


def seal(envelope: Envelope, key: bytes) -> bytes:
    """The envelope's canonical bytes, signed."""
    lines = [
        _HEADER,
        f"action {envelope.action}",
        f"tree {envelope.tree}",
        f"graph {envelope.graph_key}",
        *(f"piece {name} {d.hash} {d.size}" for name, d in sorted(envelope.pieces.items())),
    ]
    body = "".join(f"{line}\n" for line in lines).encode()
    return body + f"{_SIGNATURE}{_sign(body, key)}\n".encode()


def unseal(data: bytes, key: bytes, action: Digest, tree: str) -> Envelope:
    """The envelope in ``data`` if its signature verifies and it was made for
    ``action`` and ``tree``; else Refused, saying why."""
    if len(data) > MAX_ENVELOPE:
        raise Refused(f"envelope of {len(data)} bytes is too large")
    body, sep, last = data.rstrip(b"\n").rpartition(b"\n")
    if not sep or not last.startswith(_SIGNATURE.encode()):
        raise Refused("unsigned")
    body += b"\n"
    claimed = last[len(_SIGNATURE) :]
    if not hmac.compare_digest(claimed, _sign(body, key).encode()):
        raise Refused("bad signature")
    # Signed by a key holder from here on; still checked, since a bug is not a forgery.
    try:
        lines = body.decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise Refused("malformed envelope") from None
    if not lines or lines[0] != _HEADER:
        raise Refused("unknown envelope format")
    fields: dict[str, str] = {}
    pieces: dict[str, Digest] = {}
    for line in lines[1:]:
        kind = line.partition(" ")[0]
        match = _LINE[kind].fullmatch(line) if kind in _LINE else None
        if match is None:
            raise Refused(f"malformed envelope line {line[:40]!r}")
        if kind == "piece":
            name, hash_hex, size = match.groups()
            if name not in PIECES or name in pieces or int(size) > MAX_PIECE:
                raise Refused(f"bad piece {name!r}")
            pieces[name] = Digest(hash_hex, int(size))
        elif kind in fields:
            raise Refused(f"repeated {kind!r}")
        else:
            fields[kind] = "/".join(match.groups())
    if fields.keys() != {"action", "tree", "graph"} or "graph" not in pieces:
        raise Refused("incomplete envelope")
    if fields["action"] != str(action) or fields["tree"] != tree:
        raise Refused("signed for another tree")
    return Envelope(action, tree, fields["graph"], pieces)


def _sign(body: bytes, key: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def dump_piece(value: object) -> bytes:
    """A piece's bytes (the same pickle the local memo keeps)."""
    return pickle.dumps(value, protocol=5)


def load_piece(data: bytes, piece: Digest) -> Any:
    """Unpickle a piece whose digest the envelope vouches for; Refused when the bytes
    do not match it or name anything but graphkit's data classes."""
    if len(data) != piece.size or hashlib.sha256(data).hexdigest() != piece.hash:
        raise Refused("a piece does not match its digest")
    try:
        # A fetched scan keeps its chunks' pickles: the scans derived from it are
        # pickled to be shared, and only the chunks an edit touched are pickled again.
        with keeping_pickles():
            return _Guarded(io.BytesIO(data)).load()
    except Refused:
        raise
    except Exception as exc:  # a truncated or garbled pickle: a miss, as in the local memo
        raise Refused(f"unreadable piece ({type(exc).__name__})") from None


# Globals a memo may name besides graphkit's data classes.
_ALLOWED = {("re", "_compile"), ("builtins", "frozenset"), ("builtins", "set")}


class _Guarded(pickle.Unpickler):
    """An unpickler that builds graphkit's dataclasses, named tuples and enums only."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if module.startswith("graphkit.") and "." not in name:
            found = super().find_class(module, name)
            if isinstance(found, type) and _is_data(found):
                return found
        raise Refused(f"a piece names {module}.{name}")


def _is_data(cls: type) -> bool:
    named_tuple = issubclass(cls, tuple) and hasattr(cls, "_fields")
    return dataclasses.is_dataclass(cls) or named_tuple or issubclass(cls, enum.Enum)
