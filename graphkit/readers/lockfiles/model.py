"""What every lockfile parser shares: Resolved, Lock, DepGraph (the closure walk), readers.

Every lockfile format reduces to the same picture: nodes (installed packages,
workspace members), edges between them, the external packages among the nodes, and
for each member the nodes it depends on directly. ``DepGraph`` holds that picture and
``DepGraph.lock`` turns it into a ``Lock``: for each member, the frozenset of external
packages it reaches. Parsers only build graphs; the walk is written once, here.

Two rules keep a closure sound. Each external carries its *wiring* (the packages
its own dependencies resolve to), so a package that keeps its version but is
re-pointed at another copy of a dependency (``@babel/template`` moving from
``@babel/parser`` 7.28.4 to 7.28.5, or pnpm wiring a new peer into ``debug``) still
differs. And a member's closure stops at the nodes of other members: it is its own
resolved tree, never the union with a linked workspace package's, where an old copy
held elsewhere could hide the change. The members it links to are listed apart.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from itertools import compress
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from graphkit import yamldoc
from graphkit.errors import InputError
from graphkit.tomldoc import TOO_DEEP

N = TypeVar("N", bound=Hashable)
_BITS = bytes.maketrans(b"01", b"\x00\x01")


@dataclass(frozen=True)
class Resolved:
    """One resolved external package: ``lodash 4.17.21`` and its integrity or checksum.

    ``integrity`` is the format's content hash when it records one (npm ``integrity``,
    Cargo ``checksum``, go.sum ``h1:``); where it does not, it is the exact source
    (a git URL with its commit), so a re-pointed dependency still differs. ``None``
    when the lockfile records neither.
    """

    name: str
    version: str
    integrity: str | None = None
    # The wiring: what this copy's dependencies resolve to, "name version" sorted
    # (``workspace <member>`` for a local package). Set by ``DepGraph.lock``.
    deps: tuple[str, ...] = ()

    def __hash__(self) -> int:
        # Closures hold the same packages many times over; dataclass hashing would
        # rebuild the field tuple on every set insertion.
        cached: int | None = self.__dict__.get("_hash")
        if cached is None:
            cached = hash((self.name, self.version, self.integrity, self.deps))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __reduce__(self) -> tuple[type[Resolved], tuple[str, str, str | None, tuple[str, ...]]]:
        # The cached hash must not travel: string hashes differ between processes, and
        # a parsed Lock is kept in the memo and loaded by later runs.
        return (Resolved, (self.name, self.version, self.integrity, self.deps))

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    def sort_key(self) -> tuple[str, str, str, tuple[str, ...]]:
        """A total order (``integrity`` may be None, which does not compare with str)."""
        return (self.name, self.version, self.integrity or "", self.deps)

    def wired(self, deps: tuple[str, ...]) -> Resolved:
        """The same package with its dependencies resolving to ``deps``."""
        return Resolved(self.name, self.version, self.integrity, deps)


@dataclass(frozen=True)
class Lock:
    """A parsed lockfile: per workspace member, its transitive external closure.

    ``closure`` is keyed by member: the member's folder, repo-relative (``""`` for the
    repository root) for npm, pnpm, yarn and uv; the crate name for Cargo; the module
    path for Go. Edges between members are walked through, so a member's closure also
    holds the externals of the members it depends on (never their dev dependencies),
    unless the parser says which nodes belong to which member (``DepGraph.owned``):
    then the walk stops at another member's nodes and ``links`` names that member.
    """

    path: str
    ecosystem: str
    closure: Mapping[str, frozenset[Resolved]] = field(default_factory=lambda: MappingProxyType({}))
    # Per member, the other members its resolved tree reaches (workspace links).
    links: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(
        cls,
        path: str,
        ecosystem: str,
        closure: Mapping[str, frozenset[Resolved]],
        links: Mapping[str, frozenset[str]] | None = None,
    ) -> Lock:
        """A Lock whose closure (and links) are read-only, key-sorted copies."""
        linked = MappingProxyType(dict(sorted((links or {}).items())))
        return cls(path, ecosystem, MappingProxyType(dict(sorted(closure.items()))), linked)

    @cached_property
    def packed(self) -> Packed:
        """The closures over one table of packages (see ``Packed``): what the memo
        keeps, and what two Locks are compared by without making a Resolved."""
        table = sorted(
            {_fields(package) for closure in self.closure.values() for package in closure},
            key=_total_order,
        )
        position = {fields: at for at, fields in enumerate(table)}
        members = {
            member: tuple(sorted(position[_fields(package)] for package in closure))
            for member, closure in self.closure.items()
        }
        return Packed(tuple(table), MappingProxyType(members))

    def __reduce__(self) -> tuple[Any, ...]:
        # A Lock is kept in the memo by blob id, as its table: a closure per member
        # would pickle each package once but unpickle it as a Resolved hashed into
        # every closure holding it (20 ms for astro's 10,000 entries, twice a run).
        packed = self.packed
        return (
            _unpacked,
            (self.path, self.ecosystem, packed.packages, dict(packed.members), dict(self.links)),
        )


# A Resolved's fields as a plain tuple: (name, version, integrity, deps).
PackageFields = tuple[str, str, str | None, tuple[str, ...]]


@dataclass(frozen=True)
class Packed:
    """A Lock's closures over one table: each distinct package once, as its fields, in
    one total order (the same for every Lock); per member, the positions of its
    packages in the table, ascending. Two members' closures are equal exactly when
    their packages' fields are, so Locks compare in C, package by package."""

    packages: tuple[PackageFields, ...]
    members: Mapping[str, tuple[int, ...]]


def _fields(package: Resolved) -> PackageFields:
    return (package.name, package.version, package.integrity, package.deps)


def _total_order(fields: PackageFields) -> tuple[str, str, bool, str, tuple[str, ...]]:
    # integrity may be None, which does not compare with str (nor equals "").
    name, version, integrity, deps = fields
    return (name, version, integrity is not None, integrity or "", deps)


def _unpacked(
    path: str,
    ecosystem: str,
    packages: tuple[PackageFields, ...],
    members: dict[str, tuple[int, ...]],
    links: dict[str, frozenset[str]],
) -> Lock:
    """A Lock read back from the memo (see ``Lock.__reduce__``)."""
    packed = Packed(packages, MappingProxyType(members))
    lock = Lock(path, ecosystem, _Closures(packed), MappingProxyType(links))
    lock.__dict__["packed"] = packed  # what cached_property would compute, as it was
    return lock


class _Closures(Mapping[str, frozenset[Resolved]]):
    """The closures of a Lock read back from the memo, each made on first use: a warm
    run compares Locks by their tables and reads few closures whole. One Resolved per
    package, shared by every closure holding it, as the parsers make them."""

    def __init__(self, packed: Packed) -> None:
        self._packed = packed
        self._made: dict[str, frozenset[Resolved]] = {}
        self._packages: list[Resolved | None] = [None] * len(packed.packages)

    def __getitem__(self, member: str) -> frozenset[Resolved]:
        found = self._made.get(member)
        if found is None:
            found = frozenset(map(self._package, self._packed.members[member]))
            self._made[member] = found
        return found

    def _package(self, at: int) -> Resolved:
        package = self._packages[at]
        if package is None:
            package = self._packages[at] = Resolved(*self._packed.packages[at])
        return package

    def __contains__(self, member: object) -> bool:
        return member in self._packed.members

    def __iter__(self) -> Iterator[str]:
        return iter(self._packed.members)

    def __len__(self) -> int:
        return len(self._packed.members)


@dataclass(frozen=True)
class DepGraph(Generic[N]):
    """What a parser extracts: nodes, edges, the external nodes, and the members.

    ``edges`` are a node's runtime dependencies (what it brings along when another
    package depends on it). ``members`` maps a member key to its *direct* dependency
    nodes, including its dev dependencies, which count only for the member itself.
    Nodes missing from ``external`` are local (members, linked folders): walked
    through, never reported. ``owned`` maps the nodes that belong to a member (its
    importer entry, its own package node) to that member's key: a walk from one
    member stops at another's nodes, whose closure is that member's own.
    """

    edges: Mapping[N, Collection[N]]
    external: Mapping[N, Resolved]
    members: Mapping[str, Collection[N]]
    owned: Mapping[N, str] = field(default_factory=dict)

    def lock(self, path: str, ecosystem: str) -> Lock:
        """Each member's closure: the external packages its direct deps reach."""
        external = {node: self._wire(node, resolved) for node, resolved in self.external.items()}
        # Another member's node is a leaf carrying a marker, so the walk records the
        # link without taking that member's externals into this member's closure.
        markers = {node: Resolved(_LINK, key) for node, key in self.owned.items()}
        edges = _Cut(self.edges, self.owned) if self.owned else self.edges
        walk = _Reach(edges, {**external, **markers})
        marker_bits = 0
        for position, package in enumerate(walk.packages):
            if package.name == _LINK:
                marker_bits |= 1 << position
        walk.run(node for direct in self.members.values() for node in direct)
        walk.run(succ for node in self.owned for succ in self.edges.get(node, ()))

        def inner(node: N) -> int:
            """The mask of a member's own node: what its real edges reach."""
            mask = 0
            for succ in self.edges.get(node, ()):
                mask |= walk.result[succ]
            return mask

        # Decode each direct dependency's set once (by mask: many nodes share one)
        # and build members by frozenset union, which copies stored hashes instead
        # of hashing every package again for every member.
        # Markers are kept out of the decoded sets and collected apart, as links.
        decoded: dict[int, frozenset[Resolved]] = {}
        closure: dict[str, frozenset[Resolved]] = {}
        linked: dict[str, int] = {}
        for key, direct in self.members.items():
            parts = [closure.get(key, frozenset())]
            for node in direct:
                # The member's own node is walked from its edges, not as a marker.
                mask = inner(node) if self.owned.get(node) == key else walk.result[node]
                if mask & marker_bits:
                    linked[key] = linked.get(key, 0) | (mask & marker_bits)
                    mask &= ~marker_bits
                if mask not in decoded:
                    decoded[mask] = walk.decode(mask)
                parts.append(decoded[mask])
            closure[key] = frozenset().union(*parts)
        links: dict[str, frozenset[str]] = {}
        for key, bits in linked.items():
            others = frozenset(r.version for r in walk.decode(bits) if r.version != key)
            if others:
                links[key] = others
        return Lock.of(path, ecosystem, closure, links)

    def _wire(self, node: N, resolved: Resolved) -> Resolved:
        """``resolved`` with the packages its dependencies resolve to, through local nodes."""
        deps: set[str] = set()
        seen = {node}
        pending = list(self.edges.get(node, ()))
        while pending:
            succ = pending.pop()
            if succ in seen:
                continue
            seen.add(succ)
            if succ in self.external:
                deps.add(f"{self.external[succ].name} {self.external[succ].version}")
            elif succ in self.owned:
                deps.add(f"workspace {self.owned[succ]}")
            else:
                pending.extend(self.edges.get(succ, ()))
        return resolved.wired(tuple(sorted(deps))) if deps else resolved


# The name of the marker a walk leaves where it meets another member's node; no
# package of any ecosystem can be named with a NUL.
_LINK = "\0link"


class _Cut(Mapping[Any, Collection[Any]]):
    """Edges where a member's own nodes have no successors: the walk stops there.

    ``DepGraph.lock`` still follows an owned node's real edges for its own member.
    """

    def __init__(self, edges: Mapping[Any, Collection[Any]], owned: Mapping[Any, str]) -> None:
        self.edges = edges
        self.owned = owned

    def __getitem__(self, node: Any) -> Collection[Any]:
        return () if node in self.owned else self.edges[node]

    def get(self, node: Any, default: Any = None) -> Any:
        return () if node in self.owned else self.edges.get(node, default)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.edges)

    def __len__(self) -> int:
        return len(self.edges)


class _Reach(Generic[N]):
    """Reachable externals per node, via Tarjan's strongly connected components.

    Lockfile graphs have cycles (npm and Cargo packages depend on each other) and
    thousands of nodes shared between members, so a walk per member would repeat
    the same work. Tarjan emits components successors-first, which lets each
    component's set be the union of its own externals and its successors' sets.
    The sets are bitmasks over the distinct Resolved packages (Python ints): a
    union is one C-level OR, where frozensets along a long chain would cost
    quadratic copying.
    """

    def __init__(self, edges: Mapping[N, Collection[N]], external: Mapping[N, Resolved]) -> None:
        self.edges = edges
        self.packages = list(dict.fromkeys(external.values()))
        bit = {package: 1 << position for position, package in enumerate(self.packages)}
        self.own = {node: bit[package] for node, package in external.items()}
        self.index: dict[N, int] = {}
        self.low: dict[N, int] = {}
        self.stack: list[N] = []
        self.on_stack: set[N] = set()
        self.result: dict[N, int] = {}

    def run(self, starts: Iterable[N]) -> None:
        """Fill ``result``: the reachable-externals mask of every node reached from ``starts``."""
        for start in starts:
            if start not in self.index:
                self._visit(start)

    def decode(self, mask: int) -> frozenset[Resolved]:
        """The Resolved packages whose bits are set in ``mask``."""
        # Lowest bit first, as bytes 0/1, so compress() does the selection in C.
        selectors = bin(mask)[:1:-1].encode().translate(_BITS)
        return frozenset(compress(self.packages, selectors))

    def _enter(self, node: N) -> tuple[N, Iterator[N]]:
        self.index[node] = self.low[node] = len(self.index)
        self.stack.append(node)
        self.on_stack.add(node)
        return node, iter(self.edges.get(node, ()))

    def _visit(self, start: N) -> None:
        # An explicit work stack: dependency chains in big lockfiles are deeper than
        # Python's recursion limit allows.
        work = [self._enter(start)]
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in self.index:
                    work.append(self._enter(succ))
                    break
                if succ in self.on_stack:
                    self.low[node] = min(self.low[node], self.index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    self.low[parent] = min(self.low[parent], self.low[node])
                if self.low[node] == self.index[node]:
                    self._close(node)

    def _close(self, root: N) -> None:
        """Pop the component rooted at ``root`` and give all its nodes one set."""
        component: list[N] = []
        while True:
            node = self.stack.pop()
            self.on_stack.discard(node)
            component.append(node)
            if node == root:
                break
        inside = set(component)
        found = 0
        for node in component:
            found |= self.own.get(node, 0)
            for succ in self.edges.get(node, ()):
                if succ not in inside:
                    found |= self.result[succ]
        for node in component:
            self.result[node] = found


def member_folder(lock_path: str, relative: str) -> str:
    """The repo-relative folder of ``relative`` (as written in the lockfile at ``lock_path``).

    Lockfiles name folders relative to themselves; graphkit keys members by
    repo-relative folder, ``""`` for the root.
    """
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(lock_path), relative))
    return "" if joined == "." else joined


def line_containing(data: bytes, needle: str, *, start: int = 1) -> int | None:
    """The 1-based number of the first line at or after ``start`` holding ``needle``.

    JSON and YAML loaders keep no positions for values, so a structural error (a
    field of the wrong type) finds its line by the key's text.
    """
    lines = data.decode("utf-8", "replace").splitlines()
    for number, text in enumerate(lines[start - 1 :], start=start):
        if needle in text:
            return number
    return None


def decode(data: bytes, path: str) -> str:
    """``data`` as UTF-8 text, or an InputError naming ``path``."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", path=path) from None


def load_json_object(data: bytes, path: str) -> dict[str, Any]:
    """Parse ``data`` as a JSON object, raising an InputError with the line on failure."""
    try:
        doc = json.loads(decode(data, path))
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    except RecursionError:
        raise InputError(TOO_DEEP, path=path) from None
    if not isinstance(doc, dict):
        raise InputError("expected a JSON object at the top level", path=path, line=1)
    return doc


def load_yaml_documents(data: bytes, path: str) -> list[Any]:
    """Parse every YAML document of ``data``, raising an InputError with the line on failure."""
    import yaml  # loaded only when a YAML lockfile is read

    try:
        return yamldoc.load_all(decode(data, path))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise InputError(
            f"invalid YAML: {exc.problem or exc.context}", path=path, line=line
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", path=path) from None
    except RecursionError:
        raise InputError(TOO_DEEP, path=path) from None


def expect_mapping(value: object, what: str, *, path: str, line: int | None) -> dict[str, Any]:
    """``value`` if it is a mapping with string keys, else an InputError about ``what``."""
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return value
    raise InputError(f"{what} is not a mapping of names", path=path, line=line)


def table_line(data: bytes, table: str, index: int) -> int | None:
    """The line of the ``index``-th ``[[table]]`` header of a TOML document.

    tomli keeps no positions, so an error about the n-th entry of an array of
    tables is placed on its header.
    """
    header = f"[[{table}]]"
    seen = 0
    for number, text in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if text.strip() == header:
            if seen == index:
                return number
            seen += 1
    return None


def package_array(doc: Mapping[str, Any], data: bytes, path: str) -> list[Any]:
    """The ``[[package]]`` tables of a TOML lockfile (Cargo.lock, uv.lock)."""
    raw = doc.get("package", [])
    if not isinstance(raw, list):
        raise InputError(
            "'package' must be an array of tables", path=path, line=table_line(data, "package", 0)
        )
    return raw
