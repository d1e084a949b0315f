"""yarn ``yarn.lock``, classic v1 and berry (v2+) -> Lock.

Both formats map *descriptors* (``name@range``; several share an entry:
``"a@^1.0.0", "a@^1.1.0":``) to one resolved package with its ``version`` and
``dependencies`` (name -> range, which with the name is again a descriptor).

- **berry** (yarn 2+) is YAML with a ``__metadata`` entry. Ranges carry a protocol
  (``npm:^1.0.0``; older berry files omit ``npm:`` in dependency ranges, which is
  tried as a fallback). Workspaces are entries of their own,
  ``"pkg@workspace:packages/pkg"`` with ``linkType: soft``, whose ``dependencies``
  include their dev dependencies, so a member reached through another member brings
  its dev dependencies along (more affected, never fewer). ``peerDependencies`` are
  not followed: the parent provides them as a dependency of its own.
- **v1** (yarn classic) is its own indentation format (``key "value"`` pairs,
  ``key:`` blocks), parsed here by hand. It does not record workspace members at
  all, so ``parse`` needs the members' ``package.json`` files to know what each member
  depends on; a dependency on a workspace package with no lockfile entry for its
  descriptor is the linked workspace.

Dependencies whose descriptor has no entry (an optional one yarn skipped) are skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphkit.errors import InputError
from graphkit.readers.lockfiles.model import (
    DepGraph,
    Lock,
    Resolved,
    decode,
    expect_mapping,
    line_containing,
    load_json_object,
    load_yaml_documents,
    member_folder,
)

ECOSYSTEM = "npm"
_RUNTIME_FIELDS = ("dependencies", "optionalDependencies")
_MEMBER_FIELDS = (*_RUNTIME_FIELDS, "devDependencies")
_BERRY_MARK = b"__metadata:"
# Member nodes share the graph with lockfile keys, which never contain a NUL.
_MEMBER = "\0member:"
# One v1 token: a JSON-style quoted string, a bare word, a comma or a colon.
_V1_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|([^\s,:"]+)|(,)|(:))')


def parse(data: bytes, path: str, *, manifests: Mapping[str, bytes] | None = None) -> Lock:
    """Parse a ``yarn.lock`` (v1 or berry) into each member's external closure.

    ``manifests`` maps each workspace member's repo-relative folder (``""`` for the
    root) to its ``package.json`` bytes; v1 lockfiles need it, berry ignores it.
    Raises InputError naming the file and line for a syntax error, and for a v1
    lockfile given no manifests.
    """
    if _BERRY_MARK in data:
        return _berry(data, path)
    entries = parse_v1(data, path)
    if not manifests:
        raise InputError(
            "a yarn v1 lockfile does not record workspace members",
            path=path,
            hint="pass the members' package.json files",
        )
    return _v1_graph(entries, manifests).lock(path, ECOSYSTEM)


def split_descriptor(descriptor: str) -> tuple[str, str]:
    """``"@scope/a@npm:^1"`` -> ``("@scope/a", "npm:^1")``: the first ``@`` after a scope's."""
    at = descriptor.find("@", 1)
    if at < 0:
        return descriptor, ""
    return descriptor[:at], descriptor[at + 1 :]


# --- berry ------------------------------------------------------------------------


def _berry(data: bytes, path: str) -> Lock:
    """A berry lockfile's graph: one node per entry key, members from ``@workspace:``."""
    documents = load_yaml_documents(data, path)
    doc = expect_mapping(documents[-1] if documents else None, "the lockfile", path=path, line=1)
    by_descriptor: dict[str, str] = {}
    entries: dict[str, dict[str, Any]] = {}
    for key, raw in doc.items():
        if key == "__metadata":
            continue
        line = line_containing(data, key)
        entries[key] = expect_mapping(raw, f"entry {key!r}", path=path, line=line)
        for descriptor in key.split(","):
            by_descriptor[descriptor.strip()] = key
    edges: dict[str, tuple[str, ...]] = {}
    external: dict[str, Resolved] = {}
    members: dict[str, tuple[str, ...]] = {}
    owned: dict[str, str] = {}
    for key, entry in entries.items():
        deps = _berry_refs(entry, by_descriptor, data, path)
        edges[key] = deps
        resolution = str(entry.get("resolution", key))
        name, reference = split_descriptor(resolution)
        if reference.startswith("workspace:"):
            folder = member_folder(path, reference.removeprefix("workspace:"))
            members[folder] = deps
            owned[key] = folder
        elif entry.get("linkType") != "soft":
            # portal: and link: entries are local folders: walked through, not reported.
            integrity = entry.get("checksum") or resolution
            external[key] = Resolved(name, str(entry.get("version", "")), str(integrity))
    return DepGraph(edges, external, members, owned).lock(path, ECOSYSTEM)


def _berry_refs(
    entry: dict[str, Any], by_descriptor: Mapping[str, str], data: bytes, path: str
) -> tuple[str, ...]:
    """The entry keys that ``entry``'s dependencies resolve to."""
    found: list[str] = []
    for field in _RUNTIME_FIELDS:
        declared = expect_mapping(
            entry.get(field) or {}, field, path=path, line=line_containing(data, f"{field}:")
        )
        for name, range_ in declared.items():
            for descriptor in (f"{name}@{range_}", f"{name}@npm:{range_}"):
                if descriptor in by_descriptor:
                    found.append(by_descriptor[descriptor])
                    break
    return tuple(found)


# --- v1 ---------------------------------------------------------------------------


def _v1_graph(
    entries: Mapping[str, Mapping[str, Any]], manifests: Mapping[str, bytes]
) -> DepGraph[str]:
    """A v1 graph: lockfile entries plus one node per member, from its package.json."""
    docs = {
        folder: load_json_object(data, f"{folder}/package.json" if folder else "package.json")
        for folder, data in manifests.items()
    }
    workspaces = {str(doc["name"]): folder for folder, doc in docs.items() if "name" in doc}

    def refs(declaring: Mapping[str, Any], fields: tuple[str, ...]) -> tuple[str, ...]:
        found: list[str] = []
        for field in fields:
            declared = declaring.get(field)
            for name, range_ in (declared if isinstance(declared, dict) else {}).items():
                descriptor = f"{name}@{range_}"
                if descriptor in entries:
                    found.append(descriptor)
                elif name in workspaces:
                    found.append(_MEMBER + workspaces[name])
        return tuple(found)

    # Entries sharing a block share one dict; every descriptor is its own node, all
    # with the same edges and Resolved, so the closure sees one package.
    edges = {key: refs(entry, _RUNTIME_FIELDS) for key, entry in entries.items()}
    external = {key: _v1_resolved(key, entry) for key, entry in entries.items()}
    members: dict[str, tuple[str, ...]] = {}
    for folder, doc in docs.items():
        edges[_MEMBER + folder] = refs(doc, _RUNTIME_FIELDS)
        members[folder] = refs(doc, _MEMBER_FIELDS)
    owned = {_MEMBER + folder: folder for folder in docs}
    return DepGraph(edges, external, members, owned)


def _v1_resolved(descriptor: str, entry: Mapping[str, Any]) -> Resolved:
    """The Resolved package of a v1 entry; ``resolved`` (URL#sha1) stands in for integrity."""
    integrity = entry.get("integrity") or entry.get("resolved")
    name = split_descriptor(descriptor)[0]
    return Resolved(name, str(entry.get("version", "")), integrity and str(integrity))


def parse_v1(data: bytes, path: str) -> dict[str, dict[str, Any]]:
    """Parse yarn v1 syntax into ``{descriptor: entry}``; raises InputError with the line.

    Entries under a multi-descriptor header are the same dict under each descriptor.
    """
    root: dict[str, Any] = {}
    # Open blocks, innermost last: the indent of the line that opened the block (-1 for
    # the root), the block, and the indent of its lines (set by its first line).
    stack: list[_Block] = [_Block(-1, root)]
    for number, raw in enumerate(decode(data, path).splitlines(), start=1):
        content = raw.strip()
        if not content or content.startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        while indent <= stack[-1].opener:
            stack.pop()
        block = stack[-1]
        if block.indent is None:
            block.indent = indent
        elif indent != block.indent:
            raise InputError(
                f"unexpected indentation (expected {block.indent} spaces, found {indent})",
                path=path,
                line=number,
            )
        keys, value = _v1_line(content, path, number)
        if value is None:
            child = _Block(indent, {})
            for key in keys:
                block.items[key] = child.items
            stack.append(child)
        else:
            block.items[keys[0]] = value
    return {key: value for key, value in root.items() if isinstance(value, dict)}


@dataclass
class _Block:
    """A v1 block being read: where it opened, its items, and its lines' indent."""

    opener: int
    items: dict[str, Any]
    indent: int | None = None


def _v1_line(content: str, path: str, number: int) -> tuple[list[str], str | bool | None]:
    """One v1 line: ``(keys, None)`` for a ``key, key:`` header, ``([key], value)`` for a pair."""
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(content):
        match = _V1_TOKEN.match(content, position)
        if match is None or match.end() == position:
            raise InputError(f"unexpected text {content[position:]!r}", path=path, line=number)
        quoted, bare, comma, _colon = match.groups()
        if quoted is not None:
            tokens.append(("word", json.loads(quoted)))
        elif bare is not None:
            tokens.append(("word", bare))
        else:
            tokens.append(("comma" if comma else "colon", ""))
        position = match.end()
    kinds = [kind for kind, _ in tokens]
    if kinds == ["word", "word"]:
        key, value = tokens[0][1], tokens[1][1]
        return [key], {"true": True, "false": False}.get(value, value)
    if kinds[-1:] == ["colon"] and kinds[:-1] == [
        "word",
        *["comma", "word"] * (len(kinds) // 2 - 1),
    ]:
        return [text for kind, text in tokens if kind == "word"], None
    raise InputError(
        f"expected 'key \"value\"' or 'key:', found {content!r}", path=path, line=number
    )
