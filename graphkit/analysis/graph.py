"""The build graph: packages and targets read from one snapshot, validated, and queried.

A target's dependencies are the ``deps`` its manifest declares plus the ones its
imports add (``inferred``, attached by ``graphkit.analysis.inferred``): every question here
answers over both. An edge either *carries* (what the dep exposes reaches the target's
dependents too) or is *test-only* (a Cargo dev-dependency, a PEP 735 group, an import
from a test file: it serves the target's own tests and stops there).

Deps declared in BUILD.toml must form no cycle, as in Bazel. Ecosystems allow cycles
(npm devDependencies, Cargo dev-dependencies and ``[patch]``, Go modules requiring
each other) and so do imports (Python allows circular imports), so ``components``
orders targets by strongly connected component. Targets and their edges form one
``networkx.DiGraph`` (edge target -> dep).
It is built on first use: the hot path (affected) walks a plain reverse-adjacency
index instead, so a warm run never pays for importing networkx. File nodes and
their *owns* edges are added on demand by ``file_graph``, because most questions
never need twenty thousand file nodes.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import Any

import xxhash

from graphkit import __version__
from graphkit.analysis.forked import available_cores, forked_map
from graphkit.analysis.links import SYMLINK, Link, resolve_links
from graphkit.config import CONFIG_FILE, WorkspaceConfig, parse_config
from graphkit.errors import InputError, InputWarning
from graphkit.labels import Label, did_you_mean, parse_label
from graphkit.model import (
    TASKS_ATTR,
    EdgeKind,
    FileEntry,
    ImportVia,
    Package,
    Rule,
    Snapshot,
    Target,
    TaskSpec,
    tasks_from_attr,
    with_overrides,
)
from graphkit.paths import parent_dirs
from graphkit.progress import Progress, Step, counted, silent
from graphkit.readers.manifests import ecosystems
from graphkit.readers.manifests.build_toml import BUILD_FILE, parse_build
from graphkit.tomldoc import line_of

Reader = Callable[[str, FileEntry], bytes]
# 6: default_branch may be None, root_tasks; 7: warnings, exclude; 8: edge kinds; 9: exposed;
# 10: root settings (pnpm-workspace.yaml, [tool.uv]) one source each; 11: symlinks that lead
# inside the repository and where they lead (BuildGraph.links); 12: turbo.json, nx.json
# and project.json are graph-defining files; 13: workspaces below the root (names unique
# within each, Cargo and uv settings inherited from their own root), pnpm members sharing
# a name, go.work requirements as sources
MEMO_FORMAT = 13
# Names the shape of an import scan (``inferred.ScannedFile``) and the way a scan is
# derived from another: memoized scans and inferred deps are keyed by it, so bump it
# when either changes. Here beside MEMO_FORMAT, not in ``inferred``: a warm run names
# its memo entries without loading the scanner.
# 4: JS files under fixture folders are not scanned; exposed files are kept; Go embeds.
# 5: a scan pickles its files in chunks.
SCAN_FORMAT = 5

# A glob list as regular expressions: (any of these must match, none of these may).
Translation = tuple[tuple[str, ...], tuple[str, ...]]


@lru_cache(maxsize=4096)
def translate(patterns: tuple[str, ...]) -> Translation:
    """Globs as wcmatch reads them, translated to regular expressions.

    `*` stays within one path segment, `**` spans any number, `!pattern` excludes,
    and dotfiles match like any other file (a hidden file is still an input). The
    translations are kept in the graph memo, so a warm run never imports wcmatch.
    """
    if not any(not p.startswith("!") for p in patterns):
        return (), ()  # nothing to include: matches nothing
    from wcmatch import glob as wcglob

    flags = wcglob.GLOBSTAR | wcglob.NEGATE | wcglob.DOTGLOB | wcglob.NEGATEALL
    include, exclude = wcglob.translate(list(patterns), flags=flags)
    return tuple(include), tuple(exclude)


@lru_cache(maxsize=4096)
def compiled(translation: Translation) -> Callable[[str], bool]:
    """A matching function for a translated glob list (memoized: targets share globs)."""
    include = _any_of(translation[0])
    exclude = _any_of(translation[1])
    if include is None:
        return lambda path: False
    if exclude is None:
        return lambda path: include(path) is not None
    return lambda path: include(path) is not None and exclude(path) is None


def _any_of(regexes: tuple[str, ...]) -> Callable[[str], object] | None:
    """A match function for "any of ``regexes`` matches" (None when there are none):
    one alternation, so a path is one call into the regex engine, not one per glob
    (a rule's test or interface globs number a dozen, and every file is asked)."""
    if not regexes:
        return None
    try:
        return re.compile("|".join(f"(?:{r})" for r in regexes)).match
    except re.error:  # a translation that cannot be one branch among others
        each = [re.compile(r) for r in regexes]
        return lambda path: next((m for r in each if (m := r.match(path))), None)


def matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """A matcher for globs no graph has translated yet (e.g. a rule's test files)."""
    return compiled(translate(patterns))


@dataclass(frozen=True)
class BuildGraph:
    """Everything declared at one revision: config, rules, packages, targets, deps."""

    config: WorkspaceConfig
    rules: Mapping[str, Rule]
    packages: Mapping[str, Package]  # by folder ("" is the root)
    meta_paths: frozenset[str]  # manifests, graphkit.toml and rule files: never package inputs
    globs: Mapping[tuple[str, ...], Translation]  # every srcs and global_inputs list, translated
    # Deps found in imports and not declared: target -> {dep: the import that needs it}.
    inferred: Mapping[Label, Mapping[Label, ImportVia]] = field(default_factory=dict)
    # Files outside every package that a target's sources compile in (Rust's
    # include_bytes!): inputs of that target, so a change to one affects it.
    included: Mapping[Label, tuple[str, ...]] = field(default_factory=dict)
    # Files a build reads through a source: imported from another target, or compiled
    # in by ``include_*!``. They stay in their target's interface whatever their names
    # (B's tests importing A's ``__tests__/utils.ts`` are affected by it).
    exposed: frozenset[str] = frozenset()
    # Manifests skipped rather than failed on (stray files outside every workspace).
    warnings: tuple[InputWarning, ...] = ()
    # Symlinks whose target lies inside the repository, and where they lead.
    links: Mapping[str, Link] = field(default_factory=dict)

    def with_inferred(
        self,
        inferred: Mapping[Label, Mapping[Label, ImportVia]],
        included: Mapping[Label, tuple[str, ...]] | None = None,
        exposed: frozenset[str] = frozenset(),
    ) -> BuildGraph:
        """The same declarations with the deps imports add (see ``graphkit.analysis.inferred``),
        the files outside every package that targets include, and the exposed files."""
        included = included or {}
        if not (inferred or self.inferred or included or self.included or exposed or self.exposed):
            return self
        graph = replace(self, inferred=inferred, included=included, exposed=exposed)
        # The same packages, the same targets: base and head, which often share one
        # parsed graph, index its targets once (0.1 s each at 100,000 packages).
        graph.__dict__["targets"] = self.targets
        if "declared_dependents" in self.__dict__:  # read from the memo: shared, not rebuilt
            graph.__dict__["declared_dependents"] = self.__dict__["declared_dependents"]
        return graph

    def declares_as(self, other: BuildGraph) -> bool:
        """True when both graphs were read from the same manifests (the memo shares
        one parsed graph between revisions whose graph-defining files are equal)."""
        return self.packages is other.packages and self.rules is other.rules

    def matcher(self, patterns: tuple[str, ...]) -> Callable[[str], bool]:
        """A matcher for globs, from the translations made when the graph was built."""
        translation = self.globs.get(patterns)
        return compiled(translation if translation is not None else translate(patterns))

    # Derived views, computed on first use. ``targets`` and ``declared_dependents`` are
    # pickled with the memo: their labels and targets are references to objects the
    # pickle holds anyway, so reading them back costs next to nothing, where building
    # them took 0.3 s of every warm run at 100,000 packages. The rest are left out:
    # rebuilding them is faster than unpickling them.
    @cached_property
    def targets(self) -> Mapping[Label, Target]:
        """Every target by label."""
        return {t.label: t for p in self.packages.values() for t in p.targets}

    @cached_property
    def declared_dependents(self) -> Mapping[Label, list[Label]]:
        """Reverse declared deps of every target that has any (see ``dependents``)."""
        # A label without dependents is absent: 150,000 empty lists cost 0.1 s at
        # 100,000 packages.
        found: dict[Label, list[Label]] = {}
        for label, target in self.targets.items():
            for dep in target.deps:
                known = found.get(dep)
                if known is None:
                    found[dep] = [label]
                else:
                    known.append(label)
        return found

    @cached_property
    def dependents(self) -> Mapping[Label, list[Label]]:
        """Reverse deps of every target that has any, declared or inferred, in no
        particular order (callers sort what they visit: a walk touches a few of them,
        so sorting all would be waste)."""
        declared = self.declared_dependents
        targets = self.targets
        added: dict[Label, list[Label]] = {}
        for label, deps in self.inferred.items():
            declared_deps = targets[label].deps
            for dep in deps:
                if dep not in declared_deps:  # a test-only dep that production code imports
                    added.setdefault(dep, []).append(label)
        if not added:
            return declared
        # New lists where imports add dependents: the declared ones are shared with
        # the graph this one was made from.
        found = dict(declared)
        for dep, labels in added.items():
            found[dep] = [*found.get(dep, ()), *labels]
        return found

    @cached_property
    def digraph(self) -> Any:
        """The targets as a networkx.DiGraph, edge target -> dep."""
        return _digraph(self.targets, self.inferred)

    @cached_property
    def carrying(self) -> Mapping[Label, frozenset[Label]]:
        """Each target's deps through an edge that carries: declared and not test-only,
        or imported from a production file."""
        found: dict[Label, frozenset[Label]] = {}
        for label, target in self.targets.items():
            deps = set(target.deps).difference(target.test_deps)
            deps.update(dep for dep, via in self.inferred.get(label, {}).items() if not via.test)
            found[label] = frozenset(deps)
        return found

    @cached_property
    def carrying_digraph(self) -> Any:
        """The targets and the edges that carry, as a networkx.DiGraph."""
        import networkx as nx

        digraph = nx.DiGraph()
        digraph.add_nodes_from(self.targets)
        digraph.add_edges_from((t, d) for t, deps in self.carrying.items() for d in deps)
        return digraph

    def carries(self, label: Label, dep: Label) -> bool:
        """True when what ``dep`` exposes reaches ``label``'s dependents too.

        The same answer as ``dep in self.carrying[label]``, from this one target: a walk
        asks about the few targets it visits, and building ``carrying`` for all of them
        cost half a second at 150,000 targets."""
        target = self.targets[label]
        if dep in target.deps and dep not in target.test_deps:
            return True
        via = self.inferred.get(label, {}).get(dep)
        return via is not None and not via.test

    def test_only_deps(self, label: Label) -> list[Label]:
        """The deps only ``label``'s tests use, sorted: they never carry past it."""
        return sorted(set(self.direct_deps(label)).difference(self.carrying[label]))

    def edge_kind(self, label: Label, dep: Label) -> str:
        """How ``label`` depends on ``dep``, in words: its manifest's kind ("normal",
        "dev", ...), else "import" or "test import" for a dep that imports add."""
        via = self.via_import(label, dep)
        if via is not None:
            return "test import" if via.test else "import"
        kind: EdgeKind = self.targets[label].kind_of(dep)
        return kind

    def __getstate__(self) -> dict[str, Any]:
        derived = (
            "dependents",
            "digraph",
            "aliases",
            "includers",
            "carrying",
            "carrying_digraph",
            "imported_tasks",
            "_task_spec_memo",
        )
        state = {k: v for k, v in self.__dict__.items() if k not in derived}
        state["targets"] = self.targets
        state["declared_dependents"] = self.declared_dependents
        return state

    @cached_property
    def _task_spec_memo(self) -> dict[tuple[Label, str], TaskSpec | None]:
        """``task_spec``'s answers: a run asks for each task a dozen times."""
        return {}

    def package_of(self, path: str) -> str | None:
        """The folder of the package that owns ``path``: the deepest one containing it."""
        for folder in parent_dirs(path):
            if folder in self.packages:
                return folder
        return None

    def rule_of(self, label: Label) -> Rule:
        """The rule of a target."""
        return self.rules[self.targets[label].rule]

    def infers(self) -> bool:
        """True when some target's rule infers imports (else there is nothing to scan)."""
        return any(self.rule_of(label).infer for label in self.targets)

    @cached_property
    def imported_tasks(self) -> Mapping[Label, Mapping[str, TaskSpec]]:
        """The tasks a pipeline import (turbo.json, nx.json) gives each target, by name."""
        return {
            label: tasks_from_attr(value)
            for label, target in self.targets.items()
            if (value := dict(target.attrs).get(TASKS_ATTR)) is not None
        }

    def task_specs(self, label: Label) -> tuple[TaskSpec, ...]:
        """Every task of a target, sorted by name (see ``task_spec``)."""
        rule = self.rule_of(label)
        imported = self.imported_tasks.get(label)
        if imported is None:
            return rule.tasks
        names = set(imported)
        if not rule.source.startswith("builtin:"):
            names.update(spec.name for spec in rule.tasks)
        found = (self.task_spec(label, name) for name in sorted(names))
        return tuple(spec for spec in found if spec is not None)

    def task_spec(self, label: Label, task: str) -> TaskSpec | None:
        """How ``label`` runs ``task``, or None when it has no such task.

        A target that a pipeline import (turbo.json, nx.json) reached has exactly the
        tasks the import gives it, in place of its built-in rule's; a task that a
        workspace rule file defines wins over the import (explicit configuration
        first). Every other target has its rule's tasks. A BUILD.toml target's per-task
        values (``needs``, ``inputs``, ``pass_env``, ``cache``, ``persistent``) apply
        on top. Every caller that asks "what does this task of this target do" asks here.
        """
        memo = self._task_spec_memo
        if (label, task) in memo:
            return memo[label, task]
        rule = self.rule_of(label)
        imported = self.imported_tasks.get(label)
        if imported is None or (not rule.source.startswith("builtin:") and rule.task(task)):
            spec = rule.task(task)
        else:
            spec = imported.get(task)
        found = with_overrides(self.targets[label], spec) if spec is not None else None
        memo[label, task] = found
        return found

    @cached_property
    def aliases(self) -> Mapping[str, Label]:
        """Ecosystem names (``@acme/ui``, ``acme-core``) of the targets that have one."""
        return {alias: t.label for t in self.targets.values() for alias in t.aliases}

    def resolve(self, text: str) -> Label:
        """A label or ecosystem name the user typed -> a known target, or InputError."""
        if text in self.aliases:
            return self.aliases[text]
        try:
            label = parse_label(text)
        except InputError:
            label = None
        if label is None or label not in self.targets:
            known = [*(str(t) for t in self.targets), *self.aliases]
            raise InputError(
                f"{text!r} is not a target",
                hint=did_you_mean(text, known) or "see `graphkit query`",
            )
        return label

    def direct_deps(self, label: Label) -> tuple[Label, ...]:
        """Declared deps, then the ones imports add (unsorted: the hot path sorts what it needs)."""
        declared = self.targets[label].deps
        extra = self.inferred.get(label)
        if not extra:
            return declared
        # A test-only declared dep may be imported by production code too: list it once.
        return (*declared, *(dep for dep in extra if dep not in declared))

    def via_import(self, label: Label, dep: Label) -> ImportVia | None:
        """The import that makes ``label`` depend on ``dep`` when no manifest declares it."""
        return self.inferred.get(label, {}).get(dep)

    def deps(self, label: Label, *, transitive: bool = False) -> list[Label]:
        """What ``label`` depends on (declared and inferred), sorted."""
        if not transitive:
            return sorted(self.direct_deps(label))
        return sorted(_reach(label, self.direct_deps))

    def with_deps(self, labels: Iterable[Label]) -> set[Label]:
        """``labels`` and everything they depend on (declared and inferred), in one
        walk: each target's deps are listed once, not once per target reaching it."""
        seen = set(labels)
        stack = list(seen)
        while stack:
            for dep in self.direct_deps(stack.pop()):
                if dep not in seen:
                    seen.add(dep)
                    stack.append(dep)
        return seen

    def rdeps(self, label: Label, *, transitive: bool = False) -> list[Label]:
        """What depends on ``label``, sorted."""
        if label not in self.targets:
            raise KeyError(label)
        dependents = self.dependents
        if not transitive:
            return sorted(dependents.get(label, ()))
        return sorted(_reach(label, lambda each: dependents.get(each, ())))

    def owners(self, path: str) -> list[Label]:
        """The targets whose inputs include ``path`` (whether or not the file exists).

        A file in a package that no target's srcs match belongs to every target of
        that package: unknown means affected.
        """
        folder = self.package_of(path)
        if folder is None:
            return list(self.includers.get(path, ()))
        if path in self.meta_paths:
            return []
        package = self.packages[folder]
        relative = path[len(folder) + 1 :] if folder else path
        claimed = [
            t.label
            for t in package.targets
            if self.matcher(t.effective_srcs(self.rules[t.rule]))(relative)
        ]
        return claimed or [t.label for t in package.targets]

    def is_excluded(self, path: str) -> bool:
        """True when ``path`` lies below a folder that ``[workspace] exclude`` names."""
        return bool(self.config.exclude) and self.matcher(self.config.excluded_files)(path)

    def is_global_input(self, path: str) -> bool:
        """True when ``path`` matches a ``global_inputs`` glob of graphkit.toml."""
        return self.matcher(self.config.global_inputs)(path)

    def inputs(self, snapshot: Snapshot) -> dict[Label, list[str]]:
        """Every target's input files in ``snapshot``, sorted, computed per package at once."""
        by_package: dict[str, list[str]] = {}
        for path in snapshot:
            folder = self.package_of(path)
            if folder is not None and path not in self.meta_paths:
                by_package.setdefault(folder, []).append(path)
        result: dict[Label, list[str]] = {label: [] for label in self.targets}
        for folder, paths in by_package.items():
            for label, files in package_inputs(self, self.packages[folder], paths).items():
                result[label] = files
        for label, included in self.included.items():
            present = [p for p in included if p in snapshot]
            if label in result and present:
                result[label] = sorted({*result[label], *present})
        return result

    @cached_property
    def includers(self) -> Mapping[str, tuple[Label, ...]]:
        """Each included file outside every package, with the targets that include it."""
        found: dict[str, list[Label]] = {}
        for label, files in self.included.items():
            for path in files:
                found.setdefault(path, []).append(label)
        return {path: tuple(sorted(labels)) for path, labels in found.items()}

    def global_inputs(self, snapshot: Snapshot) -> list[str]:
        """The files of ``snapshot`` matching ``global_inputs``, sorted."""
        match = self.matcher(self.config.global_inputs)
        return sorted(p for p in snapshot if match(p))

    def unowned(self, paths: Iterable[str]) -> list[str]:
        """The given paths that lie outside every package (graphkit's own files excepted)
        and that no target includes."""
        return sorted(
            p
            for p in paths
            if self.package_of(p) is None and p not in self.meta_paths and p not in self.includers
        )


def package_inputs(
    graph: BuildGraph, package: Package, paths: Iterable[str]
) -> dict[Label, list[str]]:
    """Inputs of each target of ``package`` among ``paths`` (files of that package), sorted."""
    prefix = len(package.path) + 1 if package.path else 0
    matchers = [
        (t.label, graph.matcher(t.effective_srcs(graph.rules[t.rule]))) for t in package.targets
    ]
    claimed: dict[Label, list[str]] = {label: [] for label, _ in matchers}
    unclaimed: list[str] = []
    for path in sorted(paths):
        relative = path[prefix:]
        hit = False
        for label, match in matchers:
            if match(relative):
                claimed[label].append(path)
                hit = True
        if not hit:
            unclaimed.append(path)
    return {label: sorted(files + unclaimed) for label, files in claimed.items()}


def find_meta(
    snapshot: Snapshot, rules_dir: str | None, exclude: tuple[str, ...] = ()
) -> dict[str, FileEntry]:
    """The files that define the graph: graphkit.toml, BUILD.toml files, workspace rule
    files, the ecosystem manifests (package.json, pyproject.toml, Cargo.toml, ...)
    outside the folders ``exclude`` names (file globs), and the symlinks (where a
    symlink leads is part of the graph)."""
    # The readers load where a graph is read, not on every run (a warm one unpickles it).
    from graphkit.readers.pipelines.imported import is_pipeline_file

    prefix = f"{rules_dir}/" if rules_dir else None
    excluded = matcher(exclude) if exclude else None
    return {
        path: entry
        for path, entry in snapshot.items()
        if _is_native(path, prefix)
        or (
            (ecosystems.is_manifest(path) or is_pipeline_file(path))
            and not (excluded and excluded(path))
        )
        or entry.mode == SYMLINK
    }


def _is_native(path: str, rules_prefix: str | None) -> bool:
    """graphkit's own definition files: never inputs of a package, unlike ecosystem
    manifests, whose bytes (versions, scripts) matter to the package they describe."""
    return (
        path in (CONFIG_FILE, BUILD_FILE)
        or path.endswith("/" + BUILD_FILE)
        or (rules_prefix is not None and path.startswith(rules_prefix) and path.endswith(".toml"))
    )


def read_meta(snapshot: Snapshot, read: Reader) -> dict[str, FileEntry]:
    """The graph-defining files of ``snapshot`` (graphkit.toml names the rules folder)."""
    config = _meta_config(snapshot, read)
    return find_meta(snapshot, config.rules_dir, config.excluded_files)


def shifted_meta(
    meta: Mapping[str, FileEntry],
    changed: AbstractSet[str],
    present: Mapping[str, FileEntry],
    snapshot: Snapshot,
    read: Reader,
) -> dict[str, FileEntry]:
    """What ``read_meta(snapshot)`` gives, from ``meta``, the graph-defining files of a
    snapshot that differs from ``snapshot`` only at the paths ``changed`` (graphkit.toml
    not among them; ``present`` holds those of them ``snapshot`` has): each path is
    judged on its own, so only the changed ones are looked at."""
    config = _meta_config(snapshot, read)
    found = {path: entry for path, entry in meta.items() if path not in changed}
    found.update(find_meta(present, config.rules_dir, config.excluded_files))
    return found


def _meta_config(snapshot: Snapshot, read: Reader) -> WorkspaceConfig:
    entry = snapshot.get(CONFIG_FILE)
    return parse_config(read(CONFIG_FILE, entry)) if entry is not None else WorkspaceConfig()


def load_graph(
    snapshot: Snapshot,
    read: Reader,
    meta: Mapping[str, FileEntry] | None = None,
    progress: Progress = silent,
    workers: int | None = 1,
) -> BuildGraph:
    """Read config, rules and every manifest and build the validated graph.

    Only the files in ``meta`` (see ``read_meta``) are read; pass it when known to
    spare a walk over the whole snapshot. Reports ``parsing N manifests`` to
    ``progress`` as files are read (the last unit is building the graph).
    ``workers`` processes share the BUILD.toml files (None: one per core, once there
    are enough of them); the graph is the same whatever their number.
    """
    if meta is None:
        meta = read_meta(snapshot, read)
    what = f"parsing {len(meta)} manifests"
    report = counted(progress, what, len(meta) + 1)
    count = parsed_elsewhere = 0

    def reading(path: str, entry: FileEntry) -> bytes:
        nonlocal count
        count += 1
        report(count + parsed_elsewhere)
        return read(path, entry)

    def parsed(done: int) -> None:  # BUILD.toml files read by worker processes
        nonlocal parsed_elsewhere
        parsed_elsewhere = done
        report(count + parsed_elsewhere)

    graph = _load_graph(reading, meta, workers, parsed, read)
    progress(Step(what, len(meta) + 1, len(meta) + 1))
    return graph


# Below this many BUILD.toml files, starting worker processes costs more than it saves.
_PARALLEL_FROM = 256


def _parse_builds(
    read: Reader,
    builds: list[tuple[str, FileEntry]],
    rules: Mapping[str, Rule],
    workers: int | None,
    elsewhere: tuple[Callable[[int], None], Reader | None],
) -> list[tuple[bytes, Package]]:
    """Each BUILD.toml of ``builds`` (sorted) read and parsed, in order; the first bad
    one (in path order) raises, whatever the number of workers.

    Worker processes read with ``elsewhere``'s reader (one that reports no progress:
    a worker must not draw on the terminal) and the parent reports their progress."""
    done, raw = elsewhere
    if workers is None:
        workers = available_cores() if len(builds) >= _PARALLEL_FROM else 1
    if workers <= 1 or raw is None:
        return [_parse_one((read, rules), item) for item in builds]
    return forked_map(_parse_one, (raw, rules), builds, workers, done)


def _parse_one(
    state: tuple[Reader, Mapping[str, Rule]], item: tuple[str, FileEntry]
) -> tuple[bytes, Package]:
    read, rules = state
    path, entry = item
    data = read(path, entry)
    return data, parse_build(data, path, path.rpartition("/")[0], rules)


def _load_graph(
    read: Reader,
    meta: Mapping[str, FileEntry],
    workers: int | None = 1,
    parsed: Callable[[int], None] = lambda _done: None,
    raw: Reader | None = None,
) -> BuildGraph:
    from graphkit.readers.pipelines.imported import import_pipelines, is_pipeline_file
    from graphkit.readers.rules import load_rules

    entry = meta.get(CONFIG_FILE)
    config_data = read(CONFIG_FILE, entry) if entry is not None else b""
    config = parse_config(config_data)
    prefix = f"{config.rules_dir}/" if config.rules_dir else None
    rule_files = {
        path: read(path, entry)
        for path, entry in meta.items()
        if prefix is not None and path.startswith(prefix) and path.endswith(".toml")
    }
    if prefix is not None and not rule_files:
        # A missing folder (a typo, a rename) would silently drop every workspace rule.
        raise InputError(
            f"rules_dir {config.rules_dir!r} holds no rule file (*.toml): is the folder missing?",
            path=CONFIG_FILE,
            line=line_of(config_data, "rules_dir"),
        )
    rules = load_rules(rule_files)
    for settings in config.inputs:
        if settings.rule not in rules:
            raise InputError(
                f"[inputs.{settings.rule}]: no rule {settings.rule!r}",
                path=CONFIG_FILE,
                line=line_of(config_data, f"inputs.{settings.rule}"),
                hint=did_you_mean(settings.rule, sorted(rules))
                or f"known rules: {', '.join(sorted(rules))}",
            )
    packages: dict[str, Package] = {}
    texts: dict[str, bytes] = {}
    builds = [
        (path, entry)
        for path, entry in sorted(meta.items())
        if path == BUILD_FILE or path.endswith("/" + BUILD_FILE)
    ]
    for (path, _), (data, package) in zip(
        builds, _parse_builds(read, builds, rules, workers, (parsed, raw)), strict=True
    ):
        texts[path] = data
        packages[package.path] = package
    manifests = {p: read(p, entry) for p, entry in meta.items() if ecosystems.is_manifest(p)}
    found, warnings = ecosystems.read_all(manifests)
    pipelines = {p: read(p, entry) for p, entry in meta.items() if is_pipeline_file(p)}
    if pipelines:  # turbo.json, nx.json: their tasks, on the packages they reach
        found, imported = import_pipelines(pipelines, manifests, found)
        warnings += imported.warnings
        config = replace(config, global_inputs=(*config.global_inputs, *imported.global_inputs))
    for folder, package in found.items():
        packages.setdefault(folder, package)  # BUILD.toml wins in its folder
    # Pipeline files define tasks (recorded on the targets), like BUILD.toml: not inputs.
    native = frozenset(p for p in meta if _is_native(p, prefix) or is_pipeline_file(p))
    graph = build_graph(config, rules, packages, native, read_manifest=texts.get)
    links = resolve_links({p: read(p, e) for p, e in meta.items() if e.mode == SYMLINK})
    if links:
        graph = replace(graph, links=links)
    return replace(graph, warnings=tuple(warnings)) if warnings else graph


def graph_key(meta: Mapping[str, FileEntry]) -> str:
    """Names everything a graph is read from: graphkit's version, built-in rules, meta blobs."""
    digest = xxhash.xxh3_128(_builtin_fingerprint().encode())
    for path in sorted(meta):
        digest.update(f"{path} {meta[path].oid}\n".encode())
    return f"graph:{digest.hexdigest()}"


def memo_fingerprint() -> str:
    """Names what every memoized graph depends on besides its files: graphkit's version,
    MEMO_FORMAT and the built-in rules (a remote memo's key includes it)."""
    return _builtin_fingerprint()


@lru_cache(maxsize=1)
def _builtin_fingerprint() -> str:
    # MEMO_FORMAT names the pickled shape of BuildGraph: bump it when that shape changes.
    from graphkit.readers.rules import builtin_rule_files

    digest = xxhash.xxh3_128(f"graphkit {__version__} memo {MEMO_FORMAT}\n".encode())
    for name, data in builtin_rule_files():
        digest.update(f"{name} {len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()


def build_graph(
    config: WorkspaceConfig,
    rules: Mapping[str, Rule],
    packages: Mapping[str, Package],
    meta_paths: frozenset[str],
    *,
    read_manifest: Callable[[str], bytes | None] | None,
) -> BuildGraph:
    """Index targets, check every dep exists and that BUILD.toml deps form no cycle.

    Only deps declared in BUILD.toml files are checked: an ecosystem target depends
    only on ecosystem targets, so no cycle mixes the two, and the ecosystems' own
    cycles are legal (their members share their inputs, see ``components``).
    """
    import networkx as nx

    targets = {t.label: t for p in packages.values() for t in p.targets}
    for target in targets.values():
        for dep in target.deps:
            if dep not in targets:
                raise _missing_dep(target, dep, targets, read_manifest)
    native = {label: t for label, t in targets.items() if _is_native(t.manifest, None)}
    digraph = _digraph(native, {})
    if not nx.is_directed_acyclic_graph(digraph):
        cycle = [edge[0] for edge in nx.find_cycle(digraph)]
        start = min(cycle)
        rotated = cycle[cycle.index(start) :] + cycle[: cycle.index(start)]
        first = targets[start]
        raise InputError(
            "dependency cycle: " + " -> ".join(str(label) for label in [*rotated, start]),
            path=first.manifest,
            line=first.line,
        )
    lists = {t.effective_srcs(rules[t.rule]) for t in targets.values()}
    lists |= {config.global_inputs, config.excluded_files}
    globs = {patterns: translate(patterns) for patterns in lists}
    return BuildGraph(config, rules, _shared_labels(packages, targets), meta_paths, globs)


def _shared_labels(
    packages: Mapping[str, Package], targets: Mapping[Label, Target]
) -> dict[str, Package]:
    """The packages with every dep naming its target by that target's own Label
    object, not an equal copy parsed from the manifest: the memo's pickle then writes
    each label once (a fifth smaller at 100,000 packages, 14% faster to read back in
    every warm run), and a lookup by dep finds its key by identity (``dependents``
    takes a third less)."""
    own = {label: label for label in targets}

    def shared(target: Target) -> Target:
        deps = tuple(own.get(dep, dep) for dep in target.deps)
        test_deps = tuple(own.get(dep, dep) for dep in target.test_deps)
        kinds = tuple((own.get(dep, dep), kind) for dep, kind in target.dep_kinds)
        return replace(target, deps=deps, test_deps=test_deps, dep_kinds=kinds)

    return {
        folder: replace(package, targets=tuple(shared(t) for t in package.targets))
        if any(t.deps or t.test_deps or t.dep_kinds for t in package.targets)
        else package
        for folder, package in packages.items()
    }


def _digraph(
    targets: Mapping[Label, Target], inferred: Mapping[Label, Mapping[Label, ImportVia]]
) -> Any:
    import networkx as nx

    digraph = nx.DiGraph()
    digraph.add_nodes_from(targets)
    digraph.add_edges_from((t.label, dep) for t in targets.values() for dep in t.deps)
    digraph.add_edges_from((label, dep) for label, deps in inferred.items() for dep in deps)
    return digraph


def _missing_dep(
    target: Target,
    dep: Label,
    targets: Mapping[Label, Target],
    read_manifest: Callable[[str], bytes | None] | None,
) -> InputError:
    line = target.line
    text = read_manifest(target.manifest) if read_manifest is not None else None
    if text is not None and target.line is not None:
        line = line_of(text, "deps", start=target.line) or line
    candidates = [str(label) for label in targets]
    return InputError(
        f"dep {str(dep)!r} of {target.label} is not a target",
        path=target.manifest,
        line=line,
        hint=did_you_mean(str(dep), candidates),
    )


def components(graph: BuildGraph, *, test_edges: bool = True) -> Iterator[tuple[Label, ...]]:
    """Strongly connected components, every dep's component before its dependents'.

    Each component is one target unless imports or ecosystem deps close a cycle;
    members are sorted, and ties between components are broken by their first label,
    for stability. ``test_edges=False`` follows only the edges that carry: the
    components whose members share their inputs in content keys (a test-only edge
    never closes such a cycle). Plain Python rather than networkx: the runner asks on
    every run, and importing networkx alone would cost more than the walk.
    """
    edges: Callable[[Label], Iterable[Label]] = (
        graph.direct_deps if test_edges else graph.carrying.__getitem__
    )
    found = _strongly_connected(sorted(graph.targets), edges)
    index = {label: i for i, members in enumerate(found) for label in members}
    dependents: list[set[int]] = [set() for _ in found]
    waiting = [0] * len(found)
    for i, members in enumerate(found):
        below = {index[dep] for label in members for dep in edges(label)} - {i}
        waiting[i] = len(below)
        for j in below:
            dependents[j].add(i)
    ready = [(members[0], i) for i, members in enumerate(found) if not waiting[i]]
    heapq.heapify(ready)
    while ready:
        _first, i = heapq.heappop(ready)
        yield found[i]
        for k in dependents[i]:
            waiting[k] -= 1
            if not waiting[k]:
                heapq.heappush(ready, (found[k][0], k))


def _strongly_connected(
    nodes: Iterable[Label], edges: Callable[[Label], Iterable[Label]]
) -> list[tuple[Label, ...]]:
    """Tarjan's strongly connected components (iterative: no recursion limit), each
    with its members sorted."""
    index: dict[Label, int] = {}
    low: dict[Label, int] = {}
    stack: list[Label] = []
    on_stack: set[Label] = set()
    found: list[tuple[Label, ...]] = []
    for root in nodes:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[Label, Iterator[Label]]] = [(root, iter(edges(root)))]
        while work:
            node, pending = work[-1]
            for nxt in pending:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(edges(nxt))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    members = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        members.append(member)
                        if member == node:
                            break
                    found.append(tuple(sorted(members)))
    return found


def _reach(start: Label, edges: Callable[[Label], Iterable[Label]]) -> set[Label]:
    """Every node reachable from ``start`` through ``edges``, never ``start`` itself
    (as networkx's ``descendants``)."""
    seen: set[Label] = set()
    stack = list(edges(start))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges(node))
    seen.discard(start)
    return seen


@dataclass(frozen=True)
class Cycle:
    """A strongly connected component of more than one target, with the edges inside
    it, each as (target, dep, kind, carries). ``shared``: the edges that carry close
    it, so its members share their inputs; else only test-only edges close it, and
    each member keeps its own key."""

    members: tuple[Label, ...]
    edges: tuple[tuple[Label, Label, str, bool], ...]
    shared: bool


def cycles(graph: BuildGraph) -> list[Cycle]:
    """Every cycle of the graph: the components of the edges that carry (members share
    their inputs), then the components that test-only edges add, sorted by members."""
    shared = [c for c in components(graph, test_edges=False) if len(c) > 1]
    seen = {label for c in shared for label in c}
    found = [(c, True) for c in shared]
    for members in components(graph):
        if len(members) > 1 and not seen.issuperset(members):
            found.append((members, False))
    result = []
    for members, carrying in sorted(found):
        inside = set(members)
        edges = tuple(
            (label, dep, graph.edge_kind(label, dep), graph.carries(label, dep))
            for label in members
            for dep in sorted(set(graph.direct_deps(label)) & inside)
            if graph.carries(label, dep) or not carrying
        )
        result.append(Cycle(members, edges, carrying))
    return result


def file_graph(
    graph: BuildGraph, snapshot: Snapshot, imports: Iterable[tuple[str, str]] = ()
) -> Any:
    """The full graph: targets with *deps* edges (declared and inferred), file nodes
    with *owns* edges, and the given file -> file *imports* edges."""
    import networkx as nx

    full: Any = nx.DiGraph()
    for label in graph.targets:
        full.add_node(str(label), kind="target", rule=graph.targets[label].rule)
    for source, dep in graph.digraph.edges:
        full.add_edge(str(source), str(dep), kind="deps")
    for label, files in graph.inputs(snapshot).items():
        for path in files:
            full.add_node(path, kind="file")
            full.add_edge(str(label), path, kind="owns")
    for importer, imported in imports:
        full.add_edge(importer, imported, kind="imports")
    return full
