"""Which CAS blobs an ActionResult needs, so the cache never serves one it cannot back.

A client that gets an ActionResult downloads every output it names, then the files of
every output directory's Tree. If any of those blobs was evicted the client fails the
build instead of re-running the action, so the action cache answers NOT_FOUND unless
all of them are present — and asking refreshes their least-recently-used age.
"""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.message import DecodeError

from graphkit.cache.digest import Digest, digest
from graphkit.cache.protocol import re_pb2


def _from_proto(d: re_pb2.Digest) -> Digest:
    return digest(d.hash, d.size_bytes)


def direct_blobs(result: re_pb2.ActionResult) -> tuple[list[Digest], list[Digest]]:
    """The blobs an ActionResult names: (files and std streams, output Tree blobs)."""
    blobs: list[Digest] = [_from_proto(f.digest) for f in result.output_files]
    for stream in (result.stdout_digest, result.stderr_digest):
        if stream.hash:
            blobs.append(_from_proto(stream))
    trees = [_from_proto(d.tree_digest) for d in result.output_directories]
    return blobs, trees


def parse_action_result(data: bytes) -> re_pb2.ActionResult | None:
    """A serialized ActionResult, or None if it does not parse (a damaged entry)."""
    result = re_pb2.ActionResult()
    try:
        result.ParseFromString(data)
    except DecodeError:
        return None
    return result


def tree_blobs(tree_bytes: bytes) -> list[Digest] | None:
    """The file blobs inside a serialized Tree, or None if it does not parse."""
    tree = re_pb2.Tree()
    try:
        tree.ParseFromString(tree_bytes)
    except DecodeError:
        return None
    blobs: list[Digest] = []
    for directory in (tree.root, *tree.children):
        blobs.extend(_from_proto(f.digest) for f in directory.files)
    return blobs


def complete_dependencies(
    result: re_pb2.ActionResult,
    find_missing: Callable[[list[Digest]], list[Digest]],
    read: Callable[[Digest], bytes | None],
) -> list[Digest] | None:
    """Every blob ``result`` depends on if all are present (refreshing their ages).

    None as soon as one is missing (or an output Tree does not parse).
    """
    blobs, trees = direct_blobs(result)
    needed = blobs + trees
    if find_missing(needed):
        return None
    for tree in trees:
        data = read(tree)
        if data is None:
            return None
        inner = tree_blobs(data)
        if inner is None or find_missing(inner):
            return None
        needed.extend(inner)
    return needed
