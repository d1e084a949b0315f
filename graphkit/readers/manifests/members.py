"""Workspace members: what the ecosystem readers (npm, python, cargo, go) share.

Every ecosystem reader takes ``{repo path: bytes}`` of its manifests, decides which
folders are members of the workspace, and turns each member into a Package holding
one target, ``//<folder>`` (``//:root`` for the repository root). This module holds
the parts that must behave the same in all four: member globs, relative paths,
duplicate names, and the Package itself.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from graphkit.errors import InputError, InputWarning
from graphkit.labels import Label, check_package
from graphkit.model import EDGE_KINDS, EdgeKind, Package, Target, canonical_json
from graphkit.paths import glob_problem

ROOT_NAME = "root"

# `**` spans folders, `!pattern` excludes; hidden folders match only when named, as
# in npm's, pnpm's, Cargo's and uv's own glob expansion.


@dataclass(frozen=True)
class Found:
    """What one ecosystem reader found: its packages, and the files it skipped."""

    packages: tuple[Package, ...]
    warnings: tuple[InputWarning, ...] = ()


@dataclass(frozen=True)
class Member:
    """One workspace member, ready to become a Package.

    ``deps`` are the folders of the other members it depends on; ``kinds`` the kind of
    each dep that is not "normal"; ``test_only`` the deps only its tests use (they
    never carry past it). ``attrs`` are attribute values as plain JSON data, encoded
    canonically by ``to_package``.
    """

    folder: str
    manifest: str
    rule: str
    alias: str | None
    line: int | None
    deps: frozenset[str] = frozenset()
    attrs: tuple[tuple[str, object], ...] = ()
    kinds: tuple[tuple[str, EdgeKind], ...] = ()
    test_only: frozenset[str] = frozenset()


def add_dep(found: dict[str, EdgeKind], folder: str, kind: EdgeKind) -> None:
    """Record that a manifest names ``folder`` as a ``kind`` dep; where it names one
    folder in several places, the kind first in ``EDGE_KINDS`` wins (a crate in both
    ``[dependencies]`` and ``[dev-dependencies]`` is a normal dep)."""
    if folder not in found or EDGE_KINDS.index(kind) < EDGE_KINDS.index(found[folder]):
        found[folder] = kind


def with_deps(
    member: Member, found: Mapping[str, EdgeKind], test_only: Iterable[EdgeKind]
) -> Member:
    """``member`` with the deps of ``found`` (folder -> kind); those whose kind is in
    ``test_only`` serve its tests only."""
    skip = set(test_only)
    return replace(
        member,
        deps=frozenset(found),
        kinds=tuple(sorted((f, k) for f, k in found.items() if k != "normal")),
        test_only=frozenset(f for f, k in found.items() if k in skip),
    )


def folder_of(path: str) -> str:
    """The repo-relative folder of a repo-relative file path (``""`` for the root)."""
    return posixpath.dirname(path)


def manifests_named(files: Mapping[str, bytes], basename: str) -> dict[str, str]:
    """``{folder: manifest path}`` of every file called ``basename``."""
    return {folder_of(path): path for path in files if posixpath.basename(path) == basename}


@dataclass(frozen=True)
class Manifest:
    """One parsed manifest: where it is, its bytes (for lines) and its document."""

    folder: str
    path: str
    data: bytes
    doc: dict[str, Any]

    def table(self, *keys: str) -> Any:
        """The value at ``doc[k1][k2]...``, or None where a level is missing."""
        value: Any = self.doc
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value


def parse_manifests(
    files: Mapping[str, bytes], basename: str, load: Callable[[bytes, str], dict[str, Any]]
) -> dict[str, Manifest]:
    """``{folder: Manifest}`` of every file called ``basename``, parsed by ``load``."""
    return {
        folder: Manifest(folder, path, files[path], load(files[path], path))
        for folder, path in manifests_named(files, basename).items()
    }


def parse_lenient(
    files: Mapping[str, bytes],
    paths: Mapping[str, str],
    load: Callable[[bytes, str], dict[str, Any]],
) -> tuple[dict[str, Manifest], dict[str, InputError]]:
    """Parse the manifests ``{folder: path}`` that no workspace declares.

    Such a file may be a test fixture that is broken on purpose, so one that does
    not parse is no error: it comes back in the second mapping, by folder, for the
    caller to report as a warning, or to raise if a workspace does declare it.
    """
    parsed: dict[str, Manifest] = {}
    failed: dict[str, InputError] = {}
    for folder, path in paths.items():
        try:
            parsed[folder] = Manifest(folder, path, files[path], load(files[path], path))
        except InputError as exc:
            failed[folder] = exc
    return parsed, failed


def nested_members(
    manifests: Mapping[str, Manifest],
    failed: Mapping[str, InputError],
    declares: Callable[[Manifest], tuple[list[str], list[str]] | None],
) -> dict[str, str]:
    """The folders that workspace roots below the repository root declare as members,
    each with the folder of the (deepest) root that declares it.

    ``declares(manifest)`` gives a manifest's ``(members, exclude)`` globs, relative to
    its folder, or None when it is no workspace root. Declared members must be
    valid: one that does not parse is raised here, not skipped.
    """
    declared: dict[str, str] = {}
    everything = sorted({*manifests, *failed})
    for folder, manifest in sorted(manifests.items()):
        globs = declares(manifest) if folder else None
        if globs is None:
            continue
        inside = [f[len(folder) + 1 :] for f in everything if f.startswith(folder + "/")]
        declared.update((f"{folder}/{f}", folder) for f in match_folders(inside, *globs))
    for folder in sorted(declared.keys() & set(failed)):
        raise failed[folder]
    return declared


def folders_by_name(members: Iterable[Member]) -> dict[str, tuple[str, ...]]:
    """``{name: member folders}``. A name is on more than one folder only where
    separate workspaces below the root each have a member of that name; a dep on it
    then counts on each of them, the safe side of not knowing which one is meant."""
    found: dict[str, tuple[str, ...]] = {}
    for member in members:
        if member.alias:
            found[member.alias] = (*found.get(member.alias, ()), member.folder)
    return found


def skipped(error: InputError, path: str) -> InputWarning:
    """The warning for a manifest that no workspace declares and that cannot be read."""
    return InputWarning.of(error, fallback_path=path, why="not a workspace member")


class Sorter:
    """Turns manifests into members, strictly for declared members, leniently for the rest.

    A declared member (named by a workspace root, or the root itself) that cannot be
    read is an error: silently dropping it would drop its target. Any other
    manifest the fallback ("every manifest with a name") picks up may be a test
    fixture: one that cannot be read is a warning, and its folder is no member.
    """

    def __init__(
        self,
        strict: Iterable[str],
        scopes: Mapping[str, str] | None = None,
        *,
        names_unique: bool = True,
    ) -> None:
        self.strict = set(strict)
        # The workspace root that declares each strict folder, where roots below the
        # repository's each declare their own (test fixtures, often): a name must be
        # unique within one workspace, not across them; and pnpm asks not even that.
        self.scopes = dict(scopes or {})
        self.names_unique = names_unique
        self.warnings: list[InputWarning] = []

    def members(
        self, folders: Iterable[str], make: Callable[[str], Member], paths: Mapping[str, str]
    ) -> list[Member]:
        """``make(folder)`` for each folder; a lenient one that raises is a warning."""
        found = []
        for folder in folders:
            try:
                found.append(make(folder))
            except InputError as exc:
                if folder in self.strict:
                    raise
                self.warnings.append(skipped(exc, paths[folder]))
        return found

    def unique(self, members: Iterable[Member], what: str) -> list[Member]:
        """The members with no name clash. Declared members of one workspace sharing a
        name are an error (unless ``names_unique`` is off); those of separate
        workspaces are all kept (see ``folders_by_name``). Otherwise a name goes to a
        declared member, else to the shallowest folder (a fixture lies deeper than the
        project it tests), and any other member with that name is a warning and no
        member."""
        members = list(members)
        workspaces: dict[str, list[Member]] = {}
        for m in members:
            if self.names_unique and m.alias and m.folder in self.strict:
                workspaces.setdefault(self.scopes.get(m.folder, ""), []).append(m)
        for group in workspaces.values():
            check_unique(((str(m.alias), m.manifest, m.line) for m in group), what)
        order = sorted(
            members,
            key=lambda m: (m.folder not in self.strict, m.folder.count("/"), m.folder),
        )
        owner: dict[str, Member] = {}
        for member in order:
            if member.alias:
                owner.setdefault(member.alias, member)
        kept = []
        for member in members:
            first = owner.get(member.alias or "", member)
            if first is member or {first.folder, member.folder} <= self.strict:
                kept.append(member)
                continue
            message = f"two {what} named {member.alias!r}: {first.manifest} and {member.manifest}"
            self.warnings.append(
                InputWarning(member.manifest, member.line, f"{message}; not a workspace member")
            )
        return kept

    def settle(
        self,
        members: Iterable[Member],
        deps: Callable[[Member], Mapping[str, EdgeKind] | set[str]],
        test_only: Iterable[EdgeKind] = (),
    ) -> list[Member]:
        """Each member with its deps (folders, or folders with their kinds; those of a
        kind in ``test_only`` serve its tests only); a lenient member whose deps cannot
        be read is dropped."""
        done = []
        kinds = tuple(test_only)
        for member in members:
            try:
                found = deps(member)
            except InputError as exc:
                if member.folder in self.strict:
                    raise
                self.warnings.append(skipped(exc, member.manifest))
                continue
            if isinstance(found, set):
                found = {folder: "normal" for folder in found}
            done.append(with_deps(member, found, kinds))
        return done

    def found(self, members: Iterable[Member]) -> Found:
        """The result: the members as packages, and the warnings so far."""
        return Found(to_packages(members), tuple(self.warnings))


def check_patterns(
    patterns: Iterable[str], *, path: str, data: bytes, line: int | None, key: str
) -> None:
    """Refuse member globs that can match nothing they mean (see ``glob_problem``).

    A member glob that leaves the repository (``../*``) or holds a reversed range
    would silently drop members, so it is an error naming its line.
    """
    for pattern in patterns:
        problem = glob_problem(pattern)
        if problem is not None:
            raise InputError(
                f"{key} pattern {pattern!r}: {problem}",
                path=path,
                line=line_containing(data, json.dumps(pattern)) or line,
                hint="member globs are relative to the workspace root, inside the repository",
            )


def resolve(folder: str, relative: str) -> str | None:
    """``relative`` (a path written in a manifest in ``folder``) as a repo-relative folder.

    None when it is absolute or climbs out of the repository: such a path names
    nothing graphkit can own, so callers treat it as outside the workspace.
    """
    if not relative or relative.startswith("/") or "\\" in relative:
        return None
    joined = posixpath.normpath(posixpath.join(folder, relative))
    if joined == ".":
        return ""
    if joined == ".." or joined.startswith("../"):
        return None
    return joined


def _pattern(text: str) -> str:
    negated = text.startswith("!")
    body = text[1:] if negated else text
    while body.startswith("./"):
        body = body[2:]
    body = body.rstrip("/") or "."
    return f"!{body}" if negated else body


def match_folders(
    folders: Iterable[str], patterns: Iterable[str], exclude: Iterable[str] = ()
) -> list[str]:
    """The folders (sorted) matched by ``patterns`` and by none of ``exclude``.

    Patterns are relative to the repository root; a leading ``./`` and a trailing
    ``/`` are ignored, ``!pattern`` in ``patterns`` excludes like an ``exclude``
    entry, and ``.`` names the root. An exclude also drops everything under the
    folder it names, as Cargo's and uv's ``exclude`` do.
    """
    # Imported here: finding the manifests (a warm run does nothing else) needs no glob.
    from wcmatch import glob

    flags = glob.GLOBSTAR | glob.NEGATE
    include = [_pattern(p) for p in patterns]
    drop = [_pattern(p) for p in exclude]
    drop += [f"{p}/**" for p in drop if p != "."]
    positive = [p for p in include if not p.startswith("!")]
    negative = [p[1:] for p in include if p.startswith("!")] + drop
    matched = []
    for folder in folders:
        if folder == "":
            hit = "." in positive and "." not in negative
        else:
            hit = glob.globmatch(folder, positive, flags=flags) and not (
                negative and glob.globmatch(folder, negative, flags=flags)
            )
        if hit:
            matched.append(folder)
    return sorted(matched)


def is_glob(pattern: str) -> bool:
    """True when ``pattern`` holds glob magic; a literal names one folder exactly."""
    return any(char in pattern for char in "*?[{!")


def check_unique(members: Iterable[tuple[str, str, int | None]], what: str) -> dict[str, str]:
    """``{name: manifest}`` from ``(name, manifest, line)``; a name used twice is an error."""
    seen: dict[str, str] = {}
    for name, manifest, line in members:
        if name in seen:
            raise InputError(
                f"two {what} named {name!r}: {seen[name]} and {manifest}",
                path=manifest,
                line=line,
                hint="names must be unique within a workspace",
            )
        seen[name] = manifest
    return seen


def line_containing(data: bytes, needle: str, *, start: int = 1) -> int | None:
    """The 1-based line, at or after ``start``, whose text contains ``needle``.

    Parsers of JSON, YAML and TOML keep no positions for values, so an error about a
    value finds its line by the value's text.
    """
    lines = data.decode("utf-8", "replace").splitlines()
    for number, text in enumerate(lines[start - 1 :], start=start):
        if needle in text:
            return number
    return None


def label_of(folder: str, manifest: str) -> Label:
    """``//folder`` (named for the folder's basename), or ``//:root`` for the root."""
    if folder == "":
        return Label("", ROOT_NAME)
    try:
        check_package(folder)
    except InputError as exc:
        raise InputError(exc.message, path=manifest, line=1) from None
    return Label(folder, posixpath.basename(folder))


def to_packages(members: Iterable[Member]) -> tuple[Package, ...]:
    """Each member as a Package with its one target, sorted by folder.

    The member's own folder never appears among its deps: a package that names
    itself (an extra of its own, a dev dependency on itself) is not a cycle. A dep
    folder that is no member is dropped, since only members have labels.
    """
    members = sorted(members, key=lambda m: m.folder)
    labels = {m.folder: label_of(m.folder, m.manifest) for m in members}
    packages = []
    for member in members:
        deps = {labels[d] for d in member.deps if d in labels and d != member.folder}
        kinds = tuple(sorted((labels[d], k) for d, k in member.kinds if labels.get(d) in deps))
        test_deps = tuple(sorted(labels[d] for d in member.test_only if labels.get(d) in deps))
        target = Target(
            label=labels[member.folder],
            rule=member.rule,
            srcs=None,
            deps=tuple(sorted(deps)),
            attrs=tuple(sorted((k, canonical_json(v)) for k, v in member.attrs)),
            aliases=(member.alias,) if member.alias else (),
            dep_kinds=kinds,
            test_deps=test_deps,
            manifest=member.manifest,
            line=member.line,
        )
        packages.append(Package(path=member.folder, manifest=member.manifest, targets=(target,)))
    return tuple(packages)
