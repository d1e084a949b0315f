"""A commit's tree against the index: the paths ``git add`` changed, read through
git's cache tree so that only the folders it changed are walked.

The index's TREE extension names, for each folder nothing was staged in since the
last commit or ``git write-tree``, the tree id its files would be committed as; a
folder whose id equals the commit's is the same on both sides and is skipped whole.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping

from graphkit.model import FileEntry
from graphkit.repo.index import IndexFile, root_tree, valid_trees
from graphkit.repo.libgit import pygit2


def staged(tree: pygit2.Tree, index: IndexFile) -> dict[str, FileEntry | None]:
    """{path: the commit's entry, None where it has none} for every path whose
    stage-0 entry in the index differs from the commit ``tree``. Without a cache tree
    (libgit2 writes none when an index is written before its tree), every folder is
    walked."""
    if root_tree(index) == str(tree.id):
        # Nothing staged since the commit: the usual case, answered without parsing the
        # cache tree's other folders (70,000 at 20,000 packages).
        return {}
    trees = valid_trees(index)
    image: Mapping[str, FileEntry] = index.files
    if index.intent_to_add:  # placeholders: not in the tree git would commit
        image = {p: e for p, e in index.files.as_dict().items() if p not in index.intent_to_add}
    paths = list(image)  # git keeps the index sorted by path (read_index checks)
    found: dict[str, FileEntry | None] = {}
    stack: list[tuple[str, pygit2.Tree]] = [("", tree)]
    while stack:
        folder, subtree = stack.pop()
        if trees.get(folder) == str(subtree.id):
            continue
        prefix = f"{folder}/" if folder else ""
        files, folders = _children(paths, prefix)
        for obj in subtree:
            name = obj.name or ""
            path = f"{prefix}{name}"
            if isinstance(obj, pygit2.Tree):
                stack.append((path, obj))
                folders.pop(name, None)
                if path in image:  # a folder in the commit, a file in the index
                    found[path] = None
                continue
            entry = FileEntry(int(obj.filemode), str(obj.id))
            files.discard(name)
            if image.get(path) != entry:
                found[path] = entry
            if name in folders:  # a file in the commit, a folder in the index
                lo, hi = folders.pop(name)
                found.update((p, None) for p in paths[lo:hi])
        found.update((f"{prefix}{name}", None) for name in files)
        for lo, hi in folders.values():  # folders the commit does not have
            found.update((p, None) for p in paths[lo:hi])
    return found


def _children(paths: list[str], prefix: str) -> tuple[set[str], dict[str, tuple[int, int]]]:
    """The index's files directly in the folder ``prefix``, and its subfolders with the
    range of ``paths`` each spans: one bisection per child, not a pass over the folder."""
    files: set[str] = set()
    folders: dict[str, tuple[int, int]] = {}
    at = bisect.bisect_left(paths, prefix)
    # "0" is the character after "/": every path below ``prefix`` sorts before this.
    end = bisect.bisect_left(paths, f"{prefix[:-1]}0") if prefix else len(paths)
    while at < end:
        rest = paths[at][len(prefix) :]
        name, slash, _ = rest.partition("/")
        if not slash:
            files.add(name)
            at += 1
            continue
        below = bisect.bisect_left(paths, f"{prefix}{name}0", at, end)
        folders[name] = (at, below)
        at = below
    return files, folders
