"""Two snapshots -> the changes between them (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from graphkit.model import Change, FileEntry, Snapshot, Status

_TYPE_BITS = 0o170000  # the part of a git mode that says file, symlink or submodule


def diff_snapshots(
    base: Snapshot, head: Snapshot, renames: Mapping[str, str] | None = None
) -> tuple[Change, ...]:
    """Every path that differs between ``base`` and ``head``, sorted by path.

    ``renames`` ({new: old}, e.g. git's similarity detection) pairs an added path
    with a deleted one; besides those, a deleted and an added file with the same
    blob id are an exact rename. A rename keeps both sides, so nothing is lost.
    """
    changes: list[Change] = []
    added = [p for p in head if p not in base]
    deleted = {p for p in base if p not in head}
    for path, entry in head.items():
        old = base.get(path)
        if old is not None and old != entry:
            changes.append(Change(path, _modified(old, entry)))
    pairs: dict[str, str] = {}
    for new, gone in sorted((renames or {}).items()):
        if new in head and new not in base and gone in deleted and gone not in pairs.values():
            pairs[new] = gone
    by_oid: dict[str, list[str]] = {}
    for path in sorted(deleted - set(pairs.values())):
        by_oid.setdefault(base[path].oid, []).append(path)
    for path in sorted(added):
        if path not in pairs and by_oid.get(head[path].oid):
            pairs[path] = by_oid[head[path].oid].pop(0)
    for path in added:
        old_path = pairs.get(path)
        if old_path is not None:
            changes.append(Change(path, Status.RENAMED, old_path))
            deleted.discard(old_path)
        else:
            changes.append(Change(path, Status.ADDED))
    changes.extend(Change(path, Status.DELETED) for path in deleted)
    return tuple(sorted(changes))


def _modified(old: FileEntry, new: FileEntry) -> Status:
    if old.mode & _TYPE_BITS != new.mode & _TYPE_BITS:
        return Status.TYPE_CHANGED
    return Status.MODIFIED
