"""Content keys: every input of a target, canonically encoded, hashed with XXH3-128.

The same inputs give the same key on any machine, Python version or checkout: a
file is its ``(path, mode, git blob id)``, every collection is sorted, every field
is tagged and length-prefixed, and nothing is hashed through ``repr()`` or JSON
defaults. ``explain`` renders the very ``KeyInputs`` that were hashed.

A target has two keys (see ``graphkit.analysis.faces``). Its *interface key* covers
what a dependent can observe: its definition, its interface files, and the interface
keys of the deps it reaches through edges that carry. Its *key* (the full one, what
its own tasks see) adds the interface keys of its test-only deps and its files
outside the interface. A dependent's key takes its deps' interface keys, so a
test-only dep or a test file moves the target's key and stops there. When a target
has neither, its two keys are one.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache

import xxhash

from graphkit.analysis.externals import Externals, Locked
from graphkit.analysis.faces import (
    definition_file,
    ignored_files,
    interface_definition,
    non_interface_files,
)
from graphkit.analysis.graph import BuildGraph, components, matcher
from graphkit.analysis.links import Link, reached
from graphkit.config import RuleInputs
from graphkit.labels import Label
from graphkit.model import Rule, Snapshot, Target
from graphkit.paths import is_under
from graphkit.readers.manifests import rootconfig

# Bump when the encoding or the set of inputs changes: every key changes with it.
# 3: deps include the ones imports add; targets in an import cycle share their inputs.
# 4: two faces: deps enter by their interface keys; test-only deps and files outside the
#    interface key only the target itself; target definitions include edge kinds.
# 5: an ecosystem target's manifest enters as its parsed form only (not its bytes); the
#    interface definition leaves out npm check scripts.
KEY_SCHEME = 5

FileId = tuple[str, int, str]  # (path, mode, blob id)
# A symlink input whose target is inside the repository: (its path, the path it
# resolves to, every file it reaches). See graphkit.analysis.links.
LinkInput = tuple[str, str, tuple[FileId, ...]]


@dataclass(frozen=True, slots=True)
class KeyInputs:
    """Everything a target's content key is computed from."""

    label: Label
    rule: Rule
    target: Target
    files: tuple[FileId, ...]  # every input file of this face
    # (dep, its interface key) for the deps reached through edges that carry (declared
    # or inferred) outside the target's cycle, sorted by label.
    deps: tuple[tuple[Label, str], ...]
    global_patterns: tuple[str, ...]
    global_files: tuple[FileId, ...]
    rules_dir: str | None
    externals: tuple[Locked, ...] = ()  # external packages the lockfiles pin for it
    # The other targets of a cycle, each with the hash of its own interface inputs: a
    # cycle has no dep-first order, so every member's key covers all members' inputs.
    cycle: tuple[tuple[Label, str], ...] = ()
    # The full face only (empty in an interface): (dep, its interface key) of the deps
    # only the target's tests use, and the paths of ``files`` outside the interface.
    test_deps: tuple[tuple[Label, str], ...] = ()
    private: tuple[str, ...] = ()
    # graphkit.toml [inputs.RULE] of the target's rule, when set: which files are no
    # input or outside the interface is part of what the key is computed from.
    rule_inputs: RuleInputs | None = None
    links: tuple[LinkInput, ...] = ()  # its symlinks that lead inside the repository
    scheme: int = KEY_SCHEME

    def interface(self) -> KeyInputs:
        """The inputs of the interface key: these without the full face's extras."""
        target = interface_definition(self.target)
        if not self.test_deps and not self.private and target == self.target:
            return self
        hidden = set(self.private)
        files = tuple(f for f in self.files if f[0] not in hidden)
        links = tuple(link for link in self.links if link[0] not in hidden)
        return replace(self, target=target, files=files, test_deps=(), private=(), links=links)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A target's two keys and the (full) inputs they were computed from.

    ``key`` is what its own tasks see; ``interface`` what its dependents observe
    (computed from ``inputs.interface()``; the same key when the two coincide).
    """

    key: str
    inputs: KeyInputs
    interface: str


_LENGTH = struct.Struct(">Q")
_MODE = struct.Struct(">I")


@lru_cache(maxsize=256)
def _tag(tag: str) -> bytes:
    """A field's name as encoded: its length, then its bytes (a handful of names)."""
    name = tag.encode()
    return struct.pack(">H", len(name)) + name


_ITEM_TAG = _tag("item")


@lru_cache(maxsize=256)
def _empty_texts(tag: str) -> bytes:
    """``texts(tag, [])`` as encoded: the tag, the length, ``\\x01`` and a zero count."""
    value = b"\x01" + _LENGTH.pack(0)
    return _tag(tag) + _LENGTH.pack(len(value)) + value


class _Encoder:
    """Tagged, length-prefixed fields: no two different input sets encode alike."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def field(self, tag: str, value: bytes) -> None:
        self._parts += (_tag(tag) + _LENGTH.pack(len(value)), value)

    def text(self, tag: str, value: str | None) -> None:
        # None and "" must differ: a missing value is tagged apart.
        self.field(tag, b"\x00" if value is None else b"\x01" + value.encode())

    def texts(self, tag: str, values: Iterable[str] | None) -> None:
        if values is None:
            self.field(tag, b"\x00")
            return
        # Each item as ``text("item", value)`` would encode it, inlined: keys encode
        # some twenty lists per target, thousands of targets per run, most of them
        # empty (those are one memoized field).
        items = [b"\x01" + value.encode() for value in values]
        if not items:
            self._parts.append(_empty_texts(tag))
            return
        head, pack = _ITEM_TAG, _LENGTH.pack
        body = b"".join([part for item in items for part in (head + pack(len(item)), item)])
        self.field(tag, b"\x01" + pack(len(items)) + body)

    def files(self, tag: str, files: Iterable[FileId]) -> None:
        # As text("path"), field("mode") and text("oid") per file would, inlined.
        path_head, mode_head, oid_head = _tag("path"), _tag("mode"), _tag("oid")
        pack, mode_length = _LENGTH.pack, _LENGTH.pack(4)
        parts: list[bytes] = []
        for path, mode, oid in files:
            path_bytes, oid_bytes = b"\x01" + path.encode(), b"\x01" + oid.encode()
            parts += (
                path_head + pack(len(path_bytes)),
                path_bytes,
                mode_head + mode_length,
                _MODE.pack(mode),
                oid_head + pack(len(oid_bytes)),
                oid_bytes,
            )
        self.field(tag, b"".join(parts))

    def bytes(self) -> bytes:
        return b"".join(self._parts)


@lru_cache(maxsize=64)
def encode_rule(rule: Rule) -> bytes:
    """The canonical bytes of a rule definition (its source file is not part of it).
    Memoized: every target of a rule encodes it, in each of its keys."""
    enc = _Encoder()
    enc.text("kind", rule.kind)
    enc.texts("default_srcs", rule.default_srcs)
    enc.text("shard_unit", rule.shard_unit)
    enc.texts("infer", rule.infer)
    enc.texts("test_files", rule.test_files)
    enc.texts("attrs", rule.attrs)
    for task in sorted(rule.tasks, key=lambda t: t.name):
        inner = _Encoder()
        inner.text("name", task.name)
        inner.text("command", task.command)
        inner.texts("outputs", task.outputs)
        inner.texts("env", sorted(task.env))
        inner.text("junit", task.junit)
        enc.field("task", inner.bytes())
    return enc.bytes()


def encode(inputs: KeyInputs) -> bytes:
    """The canonical encoding of a target's key inputs."""
    enc = _Encoder()
    enc.field("scheme", struct.pack(">I", inputs.scheme))
    enc.text("label", str(inputs.label))
    enc.field("rule", encode_rule(inputs.rule))
    target = inputs.target
    enc.text("target.rule", target.rule)
    enc.texts("target.srcs", target.srcs)
    enc.texts("target.deps", [str(d) for d in target.deps])
    enc.texts("target.attrs", [f"{k}={v}" for k, v in sorted(target.attrs)])
    enc.texts("target.aliases", sorted(target.aliases))
    enc.texts("target.dep_kinds", [f"{label}={kind}" for label, kind in sorted(target.dep_kinds)])
    enc.texts("target.test_deps", [str(d) for d in sorted(target.test_deps)])
    enc.files("files", sorted(inputs.files))
    enc.texts("deps", [f"{label}={key}" for label, key in sorted(inputs.deps)])
    enc.texts("global.patterns", inputs.global_patterns)
    enc.files("global.files", sorted(inputs.global_files))
    enc.text("rules_dir", inputs.rules_dir)
    enc.texts("externals", [str(entry) for entry in sorted(inputs.externals)])
    enc.texts("cycle", [f"{label}={key}" for label, key in sorted(inputs.cycle)])
    # The full face's extras are encoded only when present: a target without them has
    # one key for both faces. Their tags differ from every other field's, so leaving
    # them out is unambiguous.
    if inputs.test_deps:
        enc.texts("test_deps", [f"{label}={key}" for label, key in sorted(inputs.test_deps)])
    if inputs.private:
        enc.texts("private", sorted(inputs.private))
    if inputs.rule_inputs is not None:
        enc.texts("inputs.interface_exclude", inputs.rule_inputs.interface_exclude)
        enc.texts("inputs.ignore", inputs.rule_inputs.ignore)
    # Symlinks into the repository likewise: keys of repositories without them stay as
    # they were (no KEY_SCHEME bump).
    if inputs.links:
        inner = _Encoder()
        for path, leads_to, reached_files in sorted(inputs.links):
            inner.text("path", path)
            inner.text("target", leads_to)
            inner.files("reached", reached_files)
        enc.field("links", inner.bytes())
    return enc.bytes()


def hash_inputs(inputs: KeyInputs) -> str:
    """The content key: lowercase hex XXH3-128 of the canonical encoding."""
    return xxhash.xxh3_128_hexdigest(encode(inputs))


def compute_keys(
    graph: BuildGraph,
    snapshot: Snapshot,
    only: Iterable[Label] | None = None,
    externals: Externals | None = None,
    inputs: Mapping[Label, list[str]] | None = None,
) -> dict[Label, KeyRecord]:
    """Keys of every target (or of ``only`` and what they depend on), deps first.

    Interface keys first, over the edges that carry, component by component: the
    members of a cycle (a strongly connected component) first hash their own interface
    inputs with the deps outside the cycle; each member's interface key then adds the
    other members' hashes, so a change to any member's interface changes every
    member's key. Then each full key adds the test-only deps' interface keys and the
    files outside the interface (test-only edges may point anywhere, even into a
    dependent, so they wait until every interface key is known).

    ``externals`` (from ``read_externals``) adds each target's locked external
    packages; without it no lockfile is read. ``inputs`` (``graph.inputs(snapshot)``)
    may be passed when the caller already has it.
    """
    wanted = graph.with_deps(only) if only is not None else None
    if inputs is None:
        inputs = graph.inputs(snapshot)
    global_files = tuple(_file_ids(snapshot, graph.global_inputs(snapshot)))
    link_inputs = _LinkInputs(graph.links, snapshot)
    # Each target's interface inputs, interface key, and files outside its interface.
    faces: dict[Label, tuple[KeyInputs, str, list[str]]] = {}
    for members in components(graph, test_edges=False):
        if wanted is not None and members[0] not in wanted:
            continue  # a cycle is wanted whole or not at all: its members reach each other
        own: dict[Label, KeyInputs] = {}
        private: dict[Label, list[str]] = {}
        for label in members:
            target = graph.targets[label]
            outside = sorted(graph.carrying[label].difference(members))
            files = _key_files(graph, label, inputs[label])
            hidden = non_interface_files(graph, label, files)
            private[label] = [p for p in files if p in hidden] if hidden else []
            own[label] = KeyInputs(
                label=label,
                rule=graph.rules[target.rule],
                target=interface_definition(target),
                files=tuple(_file_ids(snapshot, (p for p in files if p not in hidden))),
                deps=tuple((dep, faces[dep][1]) for dep in outside),
                global_patterns=graph.config.global_inputs,
                global_files=global_files,
                rules_dir=graph.config.rules_dir,
                externals=externals.by_target.get(label, ()) if externals else (),
                rule_inputs=graph.config.inputs_of(target.rule),
                links=link_inputs.of(p for p in files if p not in hidden),
            )
        hashes = {label: hash_inputs(key_inputs) for label, key_inputs in own.items()}
        for label, key_inputs in own.items():
            if len(members) == 1:
                faces[label] = (key_inputs, hashes[label], private[label])
                continue
            cycle = tuple((m, hashes[m]) for m in members if m != label)
            in_cycle = replace(key_inputs, cycle=cycle)
            faces[label] = (in_cycle, hash_inputs(in_cycle), private[label])
    records: dict[Label, KeyRecord] = {}
    for label, (interface, interface_key, private_paths) in faces.items():
        tests = tuple((dep, faces[dep][1]) for dep in graph.test_only_deps(label))
        target = graph.targets[label]
        if not tests and not private_paths and interface.target == target:
            records[label] = KeyRecord(interface_key, interface, interface_key)
            continue
        key_files = _key_files(graph, label, inputs[label])
        full = replace(
            interface,
            target=target,
            files=tuple(_file_ids(snapshot, key_files)),
            test_deps=tests,
            private=tuple(private_paths),
            links=link_inputs.of(key_files),
        )
        records[label] = KeyRecord(hash_inputs(full), full, interface_key)
    return records


def task_inputs(
    record: KeyRecord, package: str, inputs: Iterable[str], root_files: Iterable[FileId] = ()
) -> KeyInputs:
    """The key inputs of a task that declares ``inputs``, from its target's ``record``.

    ``$default`` names the target's full inputs (its files and its deps' interface
    keys, test-only ones too), ``$interface`` its interface face (the files and deps
    its dependents observe), a glob (relative to ``package``) the target's files it
    matches, a glob starting with ``//`` the repository's files it matches (passed in
    as ``root_files``, see ``root_inputs``), and ``!glob`` takes matching files out of
    all of these; a glob that matches nothing adds nothing. Globs alone name files
    only: what the task needs from its deps comes through the keys of the tasks it
    ``needs`` (``^build``), as in turbo. The definition, rule, global inputs and
    locked externals always stay.
    """
    entries = tuple(inputs)
    full = record.inputs
    named = {entry for entry in entries if entry.startswith("$")}
    globs = [e for e in entries if not e.startswith("$")]
    interface = full.interface() if "$interface" in named else None
    if "$default" in named:
        base = full
    elif interface is not None:
        base = interface
    else:
        base = replace(full, deps=(), test_deps=(), cycle=())
    shown = {path for path, _mode, _oid in interface.files} if interface is not None else set()
    local_in, local_out, root_in, root_out = _input_matchers(globs)
    prefix = len(package) + 1 if package else 0

    def wanted(path: str) -> bool:
        relative = path[prefix:] if is_under(path, package) else None
        if (relative is not None and local_out(relative)) or root_out(path):
            return False
        if "$default" in named or path in shown:
            return True
        return (relative is not None and local_in(relative)) or root_in(path)

    own = {path for path, _mode, _oid in full.files}
    files = [entry for entry in full.files if wanted(entry[0])]
    files += [entry for entry in root_files if entry[0] not in own and wanted(entry[0])]
    kept = {path for path, _mode, _oid in files}
    private = tuple(path for path in full.private if path in kept)
    links = tuple(link for link in full.links if link[0] in kept)
    return replace(base, files=tuple(sorted(files)), private=private, links=links)


def _nothing(_path: str) -> bool:
    return False


def _input_matchers(
    globs: Iterable[str],
) -> tuple[
    Callable[[str], bool], Callable[[str], bool], Callable[[str], bool], Callable[[str], bool]
]:
    """Matchers for a task's globs: package-relative in and out (``!``), repo-relative
    (``//``) in and out."""
    found: dict[tuple[bool, bool], list[str]] = {}
    for glob in globs:
        out = glob.startswith("!")
        body = glob[1:] if out else glob
        root = body.startswith("//")
        found.setdefault((root, out), []).append(body[2:] if root else body)
    sides = [(False, False), (False, True), (True, False), (True, True)]
    made = [matcher(tuple(found[side])) if side in found else _nothing for side in sides]
    return made[0], made[1], made[2], made[3]


def root_inputs(snapshot: Snapshot, inputs: Iterable[str]) -> tuple[FileId, ...]:
    """The repository's files that the repo-relative globs (``//glob``) among a task's
    ``inputs`` match, for ``task_inputs``."""
    globs = tuple(entry[2:] for entry in inputs if entry.startswith("//"))
    if not globs:
        return ()
    match = matcher(globs)
    return tuple(_file_ids(snapshot, sorted(path for path in snapshot if match(path))))


def task_key(
    record: KeyRecord, package: str, inputs: tuple[str, ...], root_files: Iterable[FileId] = ()
) -> str:
    """The content key a task with ``inputs`` sees (see ``task_inputs``): the target's
    key for ``$default``, its interface key for ``$interface``, else a key of its own."""
    if inputs == ("$default",):
        return record.key
    if inputs == ("$interface",):
        return record.interface
    return hash_inputs(task_inputs(record, package, inputs, root_files))


def _key_files(graph: BuildGraph, label: Label, files: list[str]) -> list[str]:
    """A target's input files as its key sees them: without the manifest that defines
    it, whose parsed form is in the definition (so its formatting is no input), and
    without the files graphkit.toml ignores."""
    manifest = definition_file(graph, label)
    ignored = ignored_files(graph, label)
    if manifest is None and ignored is None:
        return files
    return [p for p in files if p != manifest and not (ignored is not None and ignored(p))]


class _LinkInputs:
    """The symlink inputs of each target, from the links of its graph."""

    def __init__(self, links: Mapping[str, Link], snapshot: Snapshot) -> None:
        self._links = links
        self._snapshot = snapshot
        self._ordered: list[str] | None = None
        self._found: dict[str, LinkInput] = {}

    def of(self, paths: Iterable[str]) -> tuple[LinkInput, ...]:
        if not self._links:
            return ()
        return tuple(self._input(path) for path in paths if path in self._links)

    def _input(self, path: str) -> LinkInput:
        if path not in self._found:
            if self._ordered is None:
                self._ordered = sorted(self._snapshot)
            paths = reached(self._links, self._snapshot, self._ordered, path)
            target = self._links[path].target
            self._found[path] = (path, target, tuple(_file_ids(self._snapshot, paths)))
        return self._found[path]


def _file_ids(snapshot: Snapshot, paths: Iterable[str]) -> Iterable[FileId]:
    for path in paths:
        entry = snapshot[path]
        yield (path, entry.mode, entry.oid)


@dataclass(frozen=True, slots=True)
class InputDifference:
    """One input that differs between two key records: what, and its two values."""

    input: str  # "file libs/a/x.py", "dep //libs/b:b", "rule", "srcs", ...
    before: str | None  # None: absent on that side
    after: str | None


def diff_inputs(before: KeyRecord, after: KeyRecord) -> list[InputDifference]:
    """Exactly which inputs differ between two records of the same target."""
    a, b = before.inputs, after.inputs
    out: list[InputDifference] = []

    def same(name: str, x: object, y: object) -> None:
        if x != y:
            out.append(InputDifference(name, _show(x), _show(y)))

    same("key scheme", a.scheme, b.scheme)
    if encode_rule(a.rule) != encode_rule(b.rule):
        out.append(InputDifference(f"rule {b.rule.kind}", "(previous definition)", "(changed)"))
    same("rule kind", a.target.rule, b.target.rule)
    same("srcs", a.target.srcs, b.target.srcs)
    same("deps list", [str(d) for d in a.target.deps], [str(d) for d in b.target.deps])
    out.extend(_diff_attrs(dict(a.target.attrs), dict(b.target.attrs)))
    same("aliases", a.target.aliases, b.target.aliases)
    same("dep kinds", dict(a.target.dep_kinds), dict(b.target.dep_kinds))
    same("test-only deps list", a.target.test_deps, b.target.test_deps)
    out.extend(_diff_files("file", a.files, b.files))
    same("files outside the interface", a.private, b.private)
    a_links = {path: (target, files) for path, target, files in a.links}
    b_links = {path: (target, files) for path, target, files in b.links}
    for path in sorted(a_links.keys() | b_links.keys()):
        a_target, a_files = a_links.get(path, (None, ()))
        b_target, b_files = b_links.get(path, (None, ()))
        same(f"symlink {path} leads to", a_target, b_target)
        out.extend(_diff_files(f"file through symlink {path}:", a_files, b_files))
    for name, x, y in (("dep", a.deps, b.deps), ("test-only dep", a.test_deps, b.test_deps)):
        a_deps, b_deps = dict(x), dict(y)
        for dep in sorted(a_deps.keys() | b_deps.keys()):
            if a_deps.get(dep) != b_deps.get(dep):
                out.append(InputDifference(f"{name} {dep}", a_deps.get(dep), b_deps.get(dep)))
    same("global input patterns", a.global_patterns, b.global_patterns)
    out.extend(_diff_files("global input", a.global_files, b.global_files))
    same("rules_dir", a.rules_dir, b.rules_dir)
    same("graphkit.toml [inputs] of the rule", a.rule_inputs, b.rule_inputs)
    a_cycle, b_cycle = dict(a.cycle), dict(b.cycle)
    for member in sorted(a_cycle.keys() | b_cycle.keys()):
        if a_cycle.get(member) != b_cycle.get(member):
            name = f"cycle member {member}"
            out.append(InputDifference(name, a_cycle.get(member), b_cycle.get(member)))
    for entry in sorted(set(a.externals) ^ set(b.externals)):
        locked = entry in b.externals
        out.append(
            InputDifference(
                f"external {entry}", None if locked else "locked", "locked" if locked else None
            )
        )
    return out


def trace_difference(
    before: Mapping[Label, KeyRecord], after: Mapping[Label, KeyRecord], label: Label
) -> list[tuple[Label, list[InputDifference]]]:
    """Follow a key difference down through deps to where a target's own input changed.

    Returns one (target, differences) pair per level: the target asked about, then
    the first dep whose key differs, and so on, until a target whose own inputs
    (not just dep keys) differ.
    """
    levels: list[tuple[Label, list[InputDifference]]] = []
    current: Label | None = label
    seen: set[Label] = set()
    while current is not None and current in before and current in after:
        diffs = diff_inputs(before[current], after[current])
        if not diffs or current in seen:
            break
        seen.add(current)
        levels.append((current, diffs))
        if any(not d.input.startswith(_PASSED_ON) for d in diffs):
            break
        old, new = before[current].inputs, after[current].inputs
        old_keys = dict(old.deps) | dict(old.cycle) | dict(old.test_deps)
        current = next(
            (
                dep
                for dep, key in (*new.deps, *new.cycle, *new.test_deps)
                if old_keys.get(dep) != key
            ),
            None,
        )
    return levels


# Differences that only pass on a change made elsewhere (a dep, a cycle member).
_PASSED_ON = ("dep ", "test-only dep ", "cycle member ")


def _diff_attrs(a: Mapping[str, str], b: Mapping[str, str]) -> list[InputDifference]:
    """One difference per attribute; the root configuration one per source it holds."""
    out: list[InputDifference] = []
    for name in sorted(a.keys() | b.keys()):
        if a.get(name) == b.get(name):
            continue
        if name != rootconfig.ATTR:
            out.append(InputDifference(f"attr {name}", a.get(name), b.get(name)))
            continue
        old, new = json.loads(a.get(name) or "{}"), json.loads(b.get(name) or "{}")
        for source in sorted(old.keys() | new.keys()):
            if (source in old, old.get(source)) != (source in new, new.get(source)):
                before, after = (_json(side, source) for side in (old, new))
                out.append(InputDifference(f"root configuration {source}", before, after))
    return out


def _json(values: Mapping[str, object], source: str) -> str | None:
    """A source's value as JSON text, None where the source is absent."""
    return json.dumps(values[source], sort_keys=True) if source in values else None


def _diff_files(
    kind: str, before: Iterable[FileId], after: Iterable[FileId]
) -> list[InputDifference]:
    a = {path: (mode, oid) for path, mode, oid in before}
    b = {path: (mode, oid) for path, mode, oid in after}
    return [
        InputDifference(f"{kind} {path}", _show_file(a.get(path)), _show_file(b.get(path)))
        for path in sorted(a.keys() | b.keys())
        if a.get(path) != b.get(path)
    ]


def _show_file(entry: tuple[int, str] | None) -> str | None:
    return None if entry is None else f"{entry[0]:o} {entry[1]}"


def _show(value: object) -> str:
    return "(none)" if value is None else str(value)
