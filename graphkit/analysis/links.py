"""Symlinks that point inside the repository: what each one reaches.

A committed symlink is a file whose blob is its target's path, and a build that
reads it reads the target. So a symlink whose target lies inside the repository
brings the target into its owner's inputs: the file it names, or every file under
the folder it names, and the links followed on the way (``a -> b/c`` where ``b`` is
itself a link). Links found inside a linked folder are followed too. A link that
leaves the repository (an absolute target, or one climbing past the root), whose
target is not UTF-8, or that loops, is its own blob only.

``resolve_links`` runs once per graph (the link blobs are graph-defining files, so
the graph memo keeps the result); ``reached`` gives the files one link reaches in a
snapshot (for keys), and ``links_hit`` the links a set of changed paths reaches
(for the affected walk). Both read the same definition, which the key oracle
(``tests/test_oracle.py``) holds them to.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from graphkit.model import Snapshot
from graphkit.paths import parent_dirs

SYMLINK = 0o120000  # git's mode for a symlink: its blob is the target's path
MAX_HOPS = 40  # links followed for one path before giving up, as Linux's MAXSYMLINKS


@dataclass(frozen=True)
class Link:
    """Where a symlink leads inside the repository.

    ``target`` is the path it resolves to ("" for the root): a file, a folder, or
    nothing yet. ``via`` are the other links followed on the way, sorted.
    """

    target: str
    via: tuple[str, ...] = ()


def resolve_links(texts: Mapping[str, bytes]) -> dict[str, Link]:
    """Every symlink of ``texts`` ({path: its blob}) whose target lies inside the repository."""
    decoded: dict[str, str] = {}
    for path, data in texts.items():
        try:
            decoded[path] = data.decode("utf-8")
        except UnicodeDecodeError:
            decoded[path] = "/"  # names no path graphkit knows: treated as leaving the repo
    found: dict[str, Link] = {}
    for path in decoded:
        link = _resolve(path, decoded)
        if link is not None:
            found[path] = link
    return found


def _resolve(path: str, texts: Mapping[str, str]) -> Link | None:
    """Follow ``path`` component by component as the kernel would; None when it leaves
    the repository or loops."""
    text = texts[path]
    if not text or text.startswith("/"):
        return None
    resolved = path.split("/")[:-1]
    pending = list(reversed(text.split("/")))
    via: set[str] = set()
    hops = 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return None
            resolved.pop()
            continue
        resolved.append(part)
        current = "/".join(resolved)
        found = texts.get(current)
        if found is None:
            continue
        hops += 1
        if hops > MAX_HOPS or not found or found.startswith("/"):
            return None
        via.add(current)
        resolved.pop()
        pending.extend(reversed(found.split("/")))
    via.discard(path)
    return Link("/".join(resolved), tuple(sorted(via)))


def reached(
    links: Mapping[str, Link], snapshot: Snapshot, ordered: Sequence[str], link: str
) -> list[str]:
    """The paths ``link`` reaches in ``snapshot``, sorted: the links on its way, the file it
    names or every file under the folder it names, and what links among those reach.

    ``ordered`` is the snapshot's paths, sorted (for finding a folder's files).
    """
    found: set[str] = set()
    stack = [link]
    seen = {link}
    while stack:
        info = links[stack.pop()]
        found.update(info.via)
        if info.target in snapshot:
            inside: Iterable[str] = (info.target,)
        else:
            inside = _under(ordered, info.target)
        for path in inside:
            found.add(path)
            if path in links and path not in seen:
                seen.add(path)
                stack.append(path)
    return sorted(found)


def _under(ordered: Sequence[str], folder: str) -> Sequence[str]:
    """The paths of ``ordered`` inside ``folder`` ("" is the root: all of them)."""
    if not folder:
        return ordered
    prefix = folder + "/"
    start = bisect.bisect_left(ordered, prefix)
    end = bisect.bisect_left(ordered, folder + "0")  # "0" sorts right after "/"
    return ordered[start:end]


def links_hit(links: Mapping[str, Link], changed: Iterable[str]) -> dict[str, str]:
    """The links whose reach a change to ``changed`` alters: {link: the changed path}.

    A path is in a link's reach when it is a link on the way, the target, or under
    the target folder; a link so reached passes the change on to the links whose
    target folder holds it.
    """
    exact: dict[str, list[str]] = {}
    folders: dict[str, list[str]] = {}
    for path, info in links.items():
        for name in (*info.via, info.target):
            exact.setdefault(name, []).append(path)
        folders.setdefault(info.target, []).append(path)
    hit: dict[str, str] = {}
    queue = [(path, path, True) for path in sorted(set(changed))]
    while queue:
        path, cause, direct = queue.pop()
        candidates = list(exact.get(path, ())) if direct else []
        for folder in parent_dirs(path):
            candidates.extend(folders.get(folder, ()))
        for link in candidates:
            if link not in hit:
                hit[link] = cause
                queue.append((link, cause, False))
    return hit
