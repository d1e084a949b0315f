"""The nouns of graphkit as frozen dataclasses: files, rules, targets, changes, reasons."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from graphkit.labels import Label

ShardUnit = Literal["target", "file"]

# How an ecosystem manifest names a dependency: ``dependencies`` (normal),
# ``devDependencies`` / ``[dev-dependencies]`` / PEP 735 groups (dev), ``peerDependencies``
# (peer), ``optionalDependencies`` and extras (optional), ``[build-dependencies]`` (build).
EdgeKind = Literal["normal", "dev", "peer", "optional", "build"]
# When a manifest names one dep in several places, the first kind here is recorded.
EDGE_KINDS: tuple[EdgeKind, ...] = ("normal", "build", "peer", "optional", "dev")


@dataclass(frozen=True)
class FileEntry:
    """One file as git sees it: its mode (0o100644, 0o100755, 0o120000, 0o160000) and blob id."""

    mode: int
    oid: str


# {repo path: FileEntry} of a commit or of the worktree.
Snapshot = Mapping[str, FileEntry]


@dataclass(frozen=True)
class TaskSpec:
    """One task of a rule (``build``, ``test``, ``lint``): how to run it and what it leaves."""

    name: str
    command: str
    outputs: tuple[str, ...] = ()
    env: tuple[str, ...] = ()  # environment variables passed through (their values key the action)
    junit: str | None = None  # where the task writes JUnit XML, if it does
    # Tasks that must finish first, in turbo's words: ``^build`` (build of every
    # dependency), ``build`` (this target's build), ``//libs/gen:codegen#build`` (one
    # task of one target). None: not declared, so the same task of the selected
    # dependencies goes first and the key covers no other task (as before `needs`).
    needs: tuple[str, ...] | None = None
    # What the task's key covers. None: the task's default (`build` the target's
    # interface face, every other task its full inputs). Otherwise package-relative
    # globs, `!glob` to leave files out, and `$default` (the full inputs) or
    # `$interface` (the interface face) as named sets; turbo's `$TURBO_DEFAULT$` and
    # nx's `default` / `production` named inputs map onto these. A glob that starts
    # with `//` is repo-relative (turbo's `$TURBO_ROOT$/`, nx's `{workspaceRoot}/`).
    inputs: tuple[str, ...] | None = None
    pass_env: tuple[str, ...] = ()  # variables the task sees that are not part of its key
    cache: bool = True  # False: always runs, its result is never stored (turbo `cache: false`)
    persistent: bool = False  # a long-running task (dev server): nothing may need it
    # The package.json script an imported task runs (turbo, nx:run-script): a package
    # without it skips the task. None: an imported task that runs no script (nx
    # run-commands). Rule tasks leave it None and skip by the task's own name.
    script: str | None = None


# The target attribute holding the tasks a pipeline import gives a target, as canonical
# JSON (see ``tasks_to_attr``): kept on the target, so a changed task definition is a
# changed target definition, which ``affected`` and ``explain`` already report.
TASKS_ATTR = "tasks"


def canonical_json(value: object) -> str:
    """One spelling per value: sorted keys, no spaces, so reordering changes nothing.
    How a target's other attributes (``Target.attrs``) are written."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def tasks_to_attr(specs: Iterable[TaskSpec]) -> str:
    """Tasks as the canonical JSON of the ``tasks`` attribute (sorted keys, by name)."""
    table = {spec.name: {k: v for k, v in asdict(spec).items() if k != "name"} for spec in specs}
    return canonical_json(table)


# The TaskSpec fields a BUILD.toml target may set per task, each as a target attribute
# holding {task: value} (``inputs = { test = ["src/**", "tests/**"] }``).
TASK_OVERRIDES = ("needs", "inputs", "pass_env", "cache", "persistent")


def with_overrides(target: Target, spec: TaskSpec) -> TaskSpec:
    """``spec`` as ``target`` runs it: with the per-task values its BUILD.toml sets."""
    attrs = dict(target.attrs)
    changes: dict[str, Any] = {}
    for key in TASK_OVERRIDES:
        raw = attrs.get(key)
        if raw is None:
            continue
        table = json.loads(raw)
        if isinstance(table, dict) and spec.name in table:
            value = table[spec.name]
            changes[key] = tuple(value) if isinstance(value, list) else value
    return replace(spec, **changes) if changes else spec


def tasks_from_attr(value: str) -> dict[str, TaskSpec]:
    """The tasks a ``tasks`` attribute holds (written by ``tasks_to_attr``)."""
    table: dict[str, dict[str, Any]] = json.loads(value)
    found = {}
    for name, entry in table.items():
        fields: dict[str, Any] = {
            key: tuple(item) if isinstance(item, list) else item for key, item in entry.items()
        }
        found[name] = TaskSpec(name, **fields)
    return found


@dataclass(frozen=True)
class Rule:
    """A rule kind, read from a ``rules/*.toml`` data file.

    ``source`` says where it was defined and is not part of its identity: moving a
    rule between files changes no key.
    """

    kind: str
    default_srcs: tuple[str, ...]
    tasks: tuple[TaskSpec, ...] = ()
    shard_unit: ShardUnit = "target"
    infer: tuple[str, ...] = ()  # import inference to apply: "python", "js"
    test_files: tuple[str, ...] = ()  # globs (package-relative) naming test files, for file shards
    attrs: tuple[str, ...] = ()  # extra target attributes this rule accepts (genrule: cmd, outs)
    description: str = field(default="", compare=False)
    source: str = field(default="", compare=False)

    def task(self, name: str) -> TaskSpec | None:
        """The task called ``name``, or None when this rule has none."""
        return next((t for t in self.tasks if t.name == name), None)


@dataclass(frozen=True)
class Target:
    """A target as declared: its label, rule kind, src globs, deps and other attributes.

    Equality is the *definition*: where it was declared (file, line) does not take
    part, so a comment or a reordering in a manifest changes nothing.
    """

    label: Label
    rule: str
    srcs: tuple[str, ...] | None  # None: the rule's default_srcs
    deps: tuple[Label, ...]  # sorted, unique
    attrs: tuple[tuple[str, str], ...] = ()  # other attributes, (name, canonical JSON), sorted
    aliases: tuple[str, ...] = ()  # ecosystem names (@acme/ui) accepted wherever a label is
    # The kind of each dep that is not "normal" (sorted by dep), as its manifest names it.
    dep_kinds: tuple[tuple[Label, EdgeKind], ...] = ()
    # The deps only this target's tests use (Cargo dev-dependencies, PEP 735 groups):
    # they affect this target but never carry past it to its dependents. Sorted.
    test_deps: tuple[Label, ...] = ()
    manifest: str = field(default="", compare=False)
    line: int | None = field(default=None, compare=False)

    def effective_srcs(self, rule: Rule) -> tuple[str, ...]:
        """The src globs in force: the target's own, else its rule's default."""
        return self.srcs if self.srcs is not None else rule.default_srcs

    def kind_of(self, dep: Label) -> EdgeKind:
        """How this target's manifest names ``dep`` ("normal" unless recorded otherwise)."""
        return next((kind for label, kind in self.dep_kinds if label == dep), "normal")


@dataclass(frozen=True)
class Package:
    """A folder holding a manifest, with the targets declared there."""

    path: str  # repo-relative folder, "" for the root
    manifest: str  # repo-relative path of the manifest
    targets: tuple[Target, ...]


class Status(StrEnum):
    """How a path differs between two snapshots."""

    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"
    RENAMED = "renamed"
    TYPE_CHANGED = "type_changed"


@dataclass(frozen=True, order=True)
class Change:
    """One changed path; ``old_path`` is set for renames."""

    path: str
    status: Status
    old_path: str | None = None

    @property
    def paths(self) -> tuple[str, ...]:
        """Both sides of the change: the old path (for renames) and the new one."""
        return (self.old_path, self.path) if self.old_path else (self.path,)


ReasonKind = Literal[
    "file", "definition", "new", "rule", "global", "package", "imports", "dependency", "unknown"
]


class ImportVia(NamedTuple):
    """The import that makes a target depend on another: ``path:line`` loads ``imported``.

    ``ambiguous``: the import may load ``imported`` or another candidate; the graph
    depends on every candidate rather than guess, and ``tidy`` never writes it.
    ``test``: ``path`` is a test file, so the edge serves the importer's tests only
    and never carries past the importer to its dependents.
    """

    path: str
    line: int
    imported: str
    ambiguous: bool = False
    test: bool = False

    def __str__(self) -> str:
        verb = "may import" if self.ambiguous else "imports"
        return f"{self.path}:{self.line} {verb} {self.imported}"


@dataclass(frozen=True)
class Reason:
    """Why a target is affected, recorded where the decision was made.

    For ``dependency`` reasons, ``via`` is the affected dependency the target came through.
    ``interface``: the change reaches what dependents observe (the target's interface),
    so they are affected too; False when it reaches only the target's own tests.
    """

    kind: ReasonKind
    detail: str
    via: Label | None = None
    interface: bool = True

    def __str__(self) -> str:
        return self.detail
