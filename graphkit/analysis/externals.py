"""External dependencies per target, read from the lockfiles of one snapshot.

A workspace member's content key covers the external packages its lockfile resolves
for it (transitively), so a lockfile change affects exactly the members whose
resolved closure changed. Each package is keyed with its wiring (what its own
dependencies resolve to), and a member's closure is its own: a workspace package
it links to brings its externals through its own key, as a dep. A linked package
that is not a dep in the graph (a ``file:`` folder, an edge the manifests do not
show) has its externals added, marked with the folder they come through, never
merged. A lockfile that cannot be parsed makes graphkit unable to tell: every
package of that ecosystem then carries the lockfile's blob id instead, so any
change to it affects them all.

Parsing is the slow part (a large pnpm-lock.yaml takes over a second), so a caller
may pass a ``LockMemo``: parsed lockfiles are then kept by the blob ids of the bytes
they were parsed from, and a lockfile seen before is never parsed again.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from operator import attrgetter

import xxhash

from graphkit.analysis.graph import BuildGraph
from graphkit.errors import InputError
from graphkit.labels import Label
from graphkit.model import FileEntry, Snapshot, Target
from graphkit.paths import parent_dirs
from graphkit.readers.lockfiles import LOCKFILES, is_lockfile, parse_lockfile
from graphkit.readers.lockfiles.model import Lock
from graphkit.readers.manifests.ecosystems import SKIPPED_FOLDERS

Read = Callable[[str, FileEntry], bytes]

# ``memo(key, parse)``: the Lock kept under ``key``, else ``parse()`` (kept for next time).
# The key names every byte the parse reads, so an entry can never be stale.
LockMemo = Callable[[str, Callable[[], Lock]], Lock]

# The rule kinds whose packages each ecosystem's lockfiles pin.
ECOSYSTEM_RULES: Mapping[str, str] = {
    "npm": "npm_package",
    "python": "python_package",
    "cargo": "cargo_crate",
    "go": "go_module",
}


@dataclass(frozen=True, order=True)
class Locked:
    """One external package a lockfile pins for a target.

    An unparseable lockfile pins its whole ecosystem by its own blob id: then ``name``
    is empty, ``version`` is that blob id and ``broken`` says why it could not be read.
    """

    lockfile: str
    name: str
    version: str
    integrity: str = "-"
    broken: str = ""
    deps: tuple[str, ...] = ()  # what its dependencies resolve to ("name version")
    via: str = ""  # the linked member it comes through, when that member is no dep

    @property
    def key(self) -> tuple[str, str, str]:
        """What names the package apart from its version: lockfile, name, linked member."""
        return (self.lockfile, self.name, self.via)

    def __str__(self) -> str:
        if self.broken:
            return f"{self.lockfile}: unparseable ({self.broken}) {self.version}"
        text = f"{self.lockfile}: {self.name} {self.version} {self.integrity}"
        if self.deps:
            text += f" -> {', '.join(self.deps)}"
        return text + (f" (through {self.via})" if self.via else "")


@dataclass(frozen=True)
class Externals:
    """Per target, the external packages its lockfiles pin, sorted."""

    by_target: Mapping[Label, tuple[Locked, ...]]


# A Locked's fields in order, as a plain tuple: its own order and equality, compared in
# C (a target can pin thousands of packages; ``Locked(*fields)`` makes the entry).
Fields = tuple[str, str, str, str, str, tuple[str, ...], str]


def difference(old: tuple[Locked, ...], new: tuple[Locked, ...]) -> str:
    """Why two sets of locked externals differ, naming one package (``ms 2.1.3 -> 2.1.4``)."""
    return _why({_ORDER(entry) for entry in old}, {_ORDER(entry) for entry in new})


def _why(old: set[Fields], new: set[Fields]) -> str:
    """``difference``, of two sets of fields: only the entries that differ are made."""
    gone = [Locked(*fields) for fields in sorted(old - new)]
    added = [Locked(*fields) for fields in sorted(new - old)]
    broken = next((e for e in (*added, *gone) if e.broken), None)
    if broken is not None:
        return (
            f"{broken.lockfile}: could not be compared ({broken.broken}), "
            "every package it pins is affected"
        )
    first: dict[tuple[str, str, str], Locked] = {}  # the first gone entry of each key
    for entry in gone:
        first.setdefault(entry.key, entry)
    pairs = [(entry, first[entry.key]) for entry in added if entry.key in first]
    # A bump is the news: it re-wires its dependents too, so it is named first.
    for entry, match in pairs:
        if match.version != entry.version:
            return f"{entry.lockfile}: {entry.name} {match.version} -> {entry.version}"
    for entry, match in pairs:
        if match.deps != entry.deps:
            return f"{entry.lockfile}: {entry.name} {entry.version} {_rewired(match, entry)}"
    for entry, _ in pairs:
        return f"{entry.lockfile}: {entry.name} {entry.version} integrity changed"
    if added:
        return f"{added[0].lockfile}: {added[0].name} {added[0].version} now locked"
    return f"{gone[0].lockfile}: {gone[0].name} {gone[0].version} no longer locked"


def _rewired(old: Locked, new: Locked) -> str:
    """How a package's wiring changed: ``now depends on @babel/parser 7.28.5 (was 7.28.4)``."""
    gone = sorted(set(old.deps) - set(new.deps))
    added = sorted(set(new.deps) - set(old.deps))
    if not added:
        return f"no longer depends on {gone[0]}"
    name = added[0].rsplit(" ", 1)[0]
    was = [d.rsplit(" ", 1)[-1] for d in gone if d.rsplit(" ", 1)[0] == name]
    return f"now depends on {added[0]}" + (f" (was {', '.join(was)})" if was else "")


def lockfile_paths(snapshot: Snapshot) -> list[str]:
    """The paths of ``snapshot``'s lockfiles, sorted (lists the snapshot)."""
    return sorted(p for p in snapshot if is_lockfile(p))


# Names what ``lockfile_paths`` looks for: memoized lists of them are keyed by it.
LOCKFILE_NAMES = " ".join(sorted(LOCKFILES)) + " skipping " + " ".join(sorted(SKIPPED_FOLDERS))


def read_externals(
    graph: BuildGraph,
    snapshot: Snapshot,
    read: Read,
    memo: LockMemo | None = None,
    lockfiles: Iterable[str] | None = None,
) -> Externals:
    """The externals of every ecosystem target, from every lockfile in ``snapshot``
    (``lockfiles``, their paths, when known: else the snapshot is listed); parsed
    lockfiles come from (and go to) ``memo`` when there is one."""
    pins = read_pins(graph, snapshot, read, memo, lockfiles)
    return Externals({label: pins.externals(label) for label in pins.sources})


@dataclass(frozen=True)
class Pins:
    """What each target's locked externals are made of, before they are built: per
    lockfile path its parsed Lock (or, unparseable, the entry that stands for it), and
    per target its sources, ``(lockfile, member, via)``: the closure of ``member`` in
    that lockfile, each package marked as coming through ``via`` ("" for the target's
    own members). Two targets with equal sources over equal closures pin the same.
    """

    locks: Mapping[str, Lock | Locked]
    sources: Mapping[Label, frozenset[tuple[str, str, str]]]

    def externals(self, label: Label) -> tuple[Locked, ...]:
        """The external packages ``label`` pins, sorted (``Externals.by_target``'s entry)."""
        return tuple(Locked(*fields) for fields in self.fields(label))

    def fields(self, label: Label) -> list[Fields]:
        """``externals(label)`` as field tuples, sorted: built without making the entries."""
        found: set[Fields] = set()
        for path, member, via in self.sources.get(label, ()):
            lock = self.locks[path]
            if isinstance(lock, Locked):
                found.add(_ORDER(lock))
            else:
                # From the table, not the closure: no Resolved is made (see Lock.packed).
                packages = lock.packed.packages
                found.update(
                    [
                        (path, name, version, integrity or "-", "", deps, via)
                        for name, version, integrity, deps in map(
                            packages.__getitem__, lock.packed.members.get(member, ())
                        )
                    ]
                )
        return sorted(found)


def read_pins(
    graph: BuildGraph,
    snapshot: Snapshot,
    read: Read,
    memo: LockMemo | None = None,
    lockfiles: Iterable[str] | None = None,
) -> Pins:
    """Every ecosystem target's sources of locked externals (see ``Pins``), from every
    lockfile in ``snapshot`` (or the paths ``lockfiles`` names)."""
    locks: dict[str, Lock | Locked] = {}
    found: dict[Label, set[tuple[str, str, str]]] = {}
    if lockfiles is None:
        lockfiles = lockfile_paths(snapshot)
    for path in lockfiles:
        ecosystem = LOCKFILES[posixpath.basename(path)]
        targets = [t for t in graph.targets.values() if t.rule == ECOSYSTEM_RULES[ecosystem]]
        try:
            if memo is None:
                lock = _parse(graph, snapshot, read, path)
            else:
                key = lock_key(graph, snapshot, path)
                lock = memo(key, partial(_parse, graph, snapshot, read, path))
        except InputError as exc:
            # Cannot tell who depends on what: the lockfile's bytes stand for all of it.
            locks[path] = Locked(path, "", snapshot[path].oid, broken=str(exc))
            for target in targets:
                found.setdefault(target.label, set()).add((path, "", ""))
            continue
        locks[path] = lock
        members = _member_labels(graph, ecosystem, targets)
        for member in lock.closure:
            labels = members(member) or _stand_ins(graph, ecosystem, member, targets)
            for label in labels:
                found.setdefault(label, set()).add((path, member, ""))
            for linked in _unlinked(graph, lock, member, labels, members):
                for label in labels:
                    found[label].add((path, linked, linked))
    return Pins(locks, {label: frozenset(items) for label, items in found.items()})


def changed_pins(old: Pins, new: Pins, labels: Iterable[Label]) -> Iterator[tuple[Label, str]]:
    """Those of ``labels`` whose locked externals differ between ``old`` and ``new``,
    each with why (``difference``).

    Building every target's externals at both ends costs what the lockfiles pin
    (thousands of packages for each of hundreds of targets). Here a target whose
    sources are the same and whose closures are equal in both lockfiles is the same
    without building anything; only the others are built and compared. Closures are
    compared by position once each package of the new lockfile's table is matched
    with its equal in the old one's (one lookup per distinct package, not one per
    member holding it).
    """
    same: dict[str, Callable[[str], bool]] = {}
    for path, lock in new.locks.items():
        before = old.locks.get(path)
        if isinstance(lock, Lock) and isinstance(before, Lock):
            same[path] = _same_closure(before, lock)
    for label in labels:
        sources = new.sources.get(label, frozenset())
        if sources == old.sources.get(label, frozenset()) and all(
            path in same and same[path](member) for path, member, _ in sources
        ):
            continue
        pinned, pinning = old.fields(label), new.fields(label)
        if pinned != pinning:
            yield label, _why(set(pinned), set(pinning))


def _same_closure(old: Lock, new: Lock) -> Callable[[str], bool]:
    """Whether a member's closure is the same in both Locks (a member in neither: empty)."""
    if old is new:
        return lambda member: True
    before, after = old.packed, new.packed
    # Each package of ``new``'s table at its position in ``old``'s (-1: not there). Both
    # tables are in one order, so equal closures list the same positions in turn.
    position = {fields: at for at, fields in enumerate(before.packages)}
    moved = [position.get(fields, -1) for fields in after.packages]
    known: dict[str, bool] = {}

    def same(member: str) -> bool:
        if member not in known:
            a, b = before.members.get(member, ()), after.members.get(member, ())
            known[member] = len(a) == len(b) and [moved[at] for at in b] == list(a)
        return known[member]

    return same


# Locked's own order (its fields in turn), compared as plain tuples in C: the generated
# __lt__ builds two tuples per comparison in Python (0.2 s of a warm run on astro,
# whose 518 targets pin thousands of packages each).
_ORDER = attrgetter("lockfile", "name", "version", "integrity", "broken", "deps", "via")


def _unlinked(
    graph: BuildGraph,
    lock: Lock,
    member: str,
    labels: list[Label],
    members: Callable[[str], list[Label]],
) -> list[str]:
    """The members ``member`` links to (transitively) that its targets do not depend on
    (``members`` names a member key's targets).

    A linked member that is a dep brings its externals through its own key; any other
    (a ``file:`` folder that is no target, a link the manifests do not show) must
    bring them here, or a change in it would go unseen.
    """
    if not lock.links.get(member) or not labels:
        return []
    # Most links are direct deps: the whole reach is walked only for one that is not.
    near = set(labels).union(*map(graph.direct_deps, labels))
    reach: set[Label] | None = None
    found: list[str] = []
    pending = sorted(lock.links[member])
    seen = {member}
    while pending:
        linked = pending.pop()
        if linked in seen:
            continue
        seen.add(linked)
        linked_labels = set(members(linked))
        if linked_labels and linked_labels <= near:
            continue
        if reach is None:
            reach = graph.with_deps(labels)
        if not linked_labels or not linked_labels <= reach:
            found.append(linked)
            pending.extend(sorted(lock.links.get(linked, ())))
    return sorted(found)


def lock_key(graph: BuildGraph, snapshot: Snapshot, path: str) -> str:
    """A name for the parse of the lockfile at ``path``: its path and the blob ids of
    every file ``_parse`` reads for it (go.sum's go.mod, yarn v1's member manifests)."""
    inputs = [path]
    if posixpath.basename(path) == "go.sum":
        inputs.append(posixpath.join(posixpath.dirname(path), "go.mod"))
    elif posixpath.basename(path) == "yarn.lock":
        inputs.extend(sorted(_member_manifests(graph, snapshot)))
    text = "\n".join(f"{p}\0{snapshot[p].oid}" if p in snapshot else p for p in inputs)
    # Named as graph keys are (the memo is local): hashlib would load OpenSSL for it.
    return f"{path}:{xxhash.xxh3_128_hexdigest(text.encode())}"


def _member_manifests(graph: BuildGraph, snapshot: Snapshot) -> list[str]:
    return [
        manifest
        for package in graph.packages.values()
        if (manifest := posixpath.join(package.path, "package.json")) in snapshot
    ]


def _parse(graph: BuildGraph, snapshot: Snapshot, read: Read, path: str) -> Lock:
    folder = posixpath.dirname(path)
    if posixpath.basename(path) == "go.sum":
        from graphkit.readers.lockfiles.go import parse_go

        go_mod = posixpath.join(folder, "go.mod")
        if go_mod not in snapshot:
            raise InputError("go.sum without a go.mod beside it", path=path)
        return parse_go(read(go_mod, snapshot[go_mod]), read(path, snapshot[path]), path)
    manifests = None
    if posixpath.basename(path) == "yarn.lock":  # only yarn v1 needs the members' manifests
        manifests = {
            posixpath.dirname(manifest): read(manifest, snapshot[manifest])
            for manifest in _member_manifests(graph, snapshot)
        }
    return parse_lockfile(read(path, snapshot[path]), path, manifests=manifests)


def _member_labels(
    graph: BuildGraph, ecosystem: str, targets: list[Target]
) -> Callable[[str], list[Label]]:
    """``_members`` for one lockfile, each member key looked up once: a lockfile names
    a member once for itself and again for every member linking to it (astro's: 544
    and 1,017 times), and a Cargo or Go key is matched against every target."""
    known: dict[str, list[Label]] = {}

    def labels(member: str) -> list[Label]:
        found = known.get(member)
        if found is None:
            found = known[member] = _members(graph, ecosystem, member, targets)
        return found

    return labels


def _stand_ins(
    graph: BuildGraph, ecosystem: str, member: str, targets: list[Target]
) -> list[Label]:
    """The targets that answer for a folder member key that names no package: the
    package whose folder holds it, else (outside every package, or outside the
    repository) every target of the ecosystem. Dropping the key instead would let a
    change to its pins affect nothing: a Rush repository's lockfile, under
    common/config/, names members relative to the folder pnpm installs in.

    Crate names and module paths (Cargo, Go) that name no target are another
    workspace's (a test fixture's), and answer for nothing."""
    if ecosystem in ("cargo", "go"):
        return []
    if member != ".." and not member.startswith(("../", "/")):
        for folder in parent_dirs(member):
            if folder in graph.packages:
                return [t.label for t in graph.packages[folder].targets]
    return [t.label for t in targets]


def _members(graph: BuildGraph, ecosystem: str, member: str, targets: list[Target]) -> list[Label]:
    """The targets a lockfile member key names: a folder, a crate name or a module path."""
    if ecosystem == "cargo":
        from graphkit.readers.manifests.cargo import crate_name

        return [t.label for t in targets if crate_name(member) in t.aliases]
    if ecosystem == "go":
        return [t.label for t in targets if member in t.aliases]
    package = graph.packages.get(member)
    return [t.label for t in package.targets] if package is not None else []
