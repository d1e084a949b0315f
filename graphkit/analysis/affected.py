"""Changes + the graphs at base and head -> the affected targets, each with its reason.

The definition is the content key: a target is affected exactly when its key differs
between base and head. This module gets there without hashing everything. It finds
the *seeds* — targets whose own inputs (definition, rule, input files, global
inputs, the deps their imports add) differ — and then adds reverse dependents, since
a key covers the interface keys of its deps (and a cycle's members cover each other,
being each other's reverse dependents).

Two faces (see ``graphkit.analysis.keys``): a change either moves a target's
interface, which every dependent observes, or only its full key (a test-only dep's
edit, a test import, a file outside the interface). The walk goes on past a
dependent only when the dependent's interface moved too: when it reaches the moved
dep through an edge that carries. ``tests/test_oracle.py`` holds this walk to the
two-key definition.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from graphkit.analysis.faces import (
    definition_file,
    hidden_files,
    ignored_files,
    interface_definition,
    non_interface_files,
)
from graphkit.analysis.graph import BuildGraph, Reader, package_inputs
from graphkit.analysis.links import links_hit
from graphkit.labels import Label
from graphkit.model import Change, FileEntry, ImportVia, Reason, Snapshot, Target
from graphkit.paths import parent_dirs
from graphkit.readers.lockfiles import is_lockfile
from graphkit.readers.manifests import rootconfig

if TYPE_CHECKING:
    # Loaded when a lockfile changed (most changes touch none): comparing what lockfiles
    # pin needs the parsed lockfiles' model, which a warm run otherwise never builds.
    from graphkit.analysis.externals import LockMemo, Pins


@dataclass(frozen=True)
class Side:
    """One end of a comparison: the snapshot, the graph declared in it, and how to read
    file bytes (needed only when a lockfile changed; without it, graphkit cannot tell
    who a lockfile change reaches and affects every package of that ecosystem), and
    where parsed lockfiles are kept between runs."""

    graph: BuildGraph
    snapshot: Snapshot
    read: Reader | None = None
    locks: LockMemo | None = None
    # The snapshot's lockfile paths, sorted, when they can be had without listing it.
    lockfiles: Callable[[], Sequence[str]] | None = None
    # ``below(folder, stop)``: the files below a folder outside the subfolders ``stop``
    # names, when they can be had without listing the whole snapshot.
    below: Callable[[str, Container[str]], Mapping[str, FileEntry]] | None = None


@dataclass(frozen=True)
class Affected:
    """The answer: what changed, what it affects and why, what vanished, what nobody owns."""

    changed: tuple[Change, ...]
    targets: Mapping[Label, Reason]  # affected targets at head -> why
    removed: tuple[Label, ...]  # targets declared at base and gone at head
    unowned: tuple[str, ...]  # changed paths outside every package

    def chain(self, label: Label) -> list[tuple[Label, Reason]]:
        """The recorded path from ``label`` down to the change that affected it."""
        out = []
        current: Label | None = label
        while current is not None and current in self.targets:
            reason = self.targets[current]
            out.append((current, reason))
            current = reason.via
        return out

    def only_rules(self, graph: BuildGraph, base: BuildGraph | None, kinds: set[str]) -> Affected:
        """The same answer restricted to targets of the given rule kinds."""
        removed_graph = base or graph
        return Affected(
            self.changed,
            {k: v for k, v in self.targets.items() if graph.targets[k].rule in kinds},
            tuple(r for r in self.removed if removed_graph.targets[r].rule in kinds),
            self.unowned,
        )


def find_affected(base: Side, head: Side, changes: tuple[Change, ...]) -> Affected:
    """Every target whose content key differs between ``base`` and ``head``, with reasons."""
    seeds = _seeds(base, head, changes)
    removed = tuple(sorted(set(base.graph.targets) - set(head.graph.targets)))
    paths = {p for change in changes for p in change.paths}
    unowned = tuple(
        p for p in sorted(paths) if p in base.graph.unowned([p]) and p in head.graph.unowned([p])
    )
    return Affected(changes, with_dependents(head.graph, seeds), removed, unowned)


def everything(head: BuildGraph, why: str, changes: tuple[Change, ...] = ()) -> Affected:
    """Every target affected for one reason: graphkit cannot know better (--on-unknown=all)."""
    reason = Reason("unknown", why)
    return Affected(changes, {label: reason for label in sorted(head.targets)}, (), ())


def with_dependents(graph: BuildGraph, seeds: Mapping[Label, Reason]) -> dict[Label, Reason]:
    """Seeds plus the reverse dependents their interface changes reach; each dependent
    records the dep it came through and the change that moved that dep's interface.

    A breadth-first walk from the seeds whose interface moved, in sorted order, so each
    target gets the shortest chain and the same chain on every run. A dependent reached
    through a test-only edge is affected but ends the walk there; one first reached
    that way (or seeded for its tests only) is visited again if an edge that carries
    reaches it later.
    """
    result = dict(seeds)
    root = {label: reason.detail for label, reason in seeds.items()}
    queue = deque(sorted(label for label, reason in seeds.items() if reason.interface))
    while queue:
        label = queue.popleft()
        for dependent in sorted(graph.dependents.get(label, ())):
            known = result.get(dependent)
            if known is not None and known.interface:
                continue
            carries = graph.carries(dependent, label)
            if known is not None and not carries:
                continue
            root[dependent] = root[label]
            result[dependent] = _dependency_reason(graph, dependent, label, root[label], carries)
            if carries:
                queue.append(dependent)
    return dict(sorted(result.items()))


def _dependency_reason(
    graph: BuildGraph, dependent: Label, dep: Label, cause: str, carries: bool
) -> Reason:
    """``depends on //x (interface: <the change that moved it>)``; through a test-only
    edge, ``tests depend on //x (...; dependents not affected)``."""
    via = graph.via_import(dependent, dep)
    notes = [f"interface: {cause}", *([str(via)] if via else [])]
    if carries:
        return Reason("dependency", f"depends on {dep} ({'; '.join(notes)})", via=dep)
    notes.append("dependents not affected")
    detail = f"tests depend on {dep} ({'; '.join(notes)})"
    return Reason("dependency", detail, via=dep, interface=False)


def _seeds(base: Side, head: Side, changes: tuple[Change, ...]) -> dict[Label, Reason]:
    seeds: dict[Label, Reason] = {}

    def seed(labels: Iterable[Label], reason: Reason) -> None:
        for label in labels:
            if label not in head.graph.targets:
                continue
            known = seeds.get(label)
            if known is None or (reason.interface and not known.interface):
                seeds[label] = reason

    global_reason = _global_reason(base, head, changes)
    if global_reason is not None:
        seed(sorted(head.graph.targets), global_reason)
    # The same graph-defining files at both ends: no definition, rule or layout changed.
    same_graph = base.graph.declares_as(head.graph)
    for label, target in [] if same_graph else sorted(head.graph.targets.items()):
        before = base.graph.targets.get(label)
        if before is None:
            seed([label], Reason("new", f"new target in {target.manifest}"))
        elif before != target:
            why = _definition_change(before, target)
            if interface_definition(before) == interface_definition(target):
                note = " (check scripts only: dependents not affected)"
                seed([label], Reason("definition", why + note, interface=False))
            else:
                seed([label], Reason("definition", why))
        elif base.graph.rules.get(target.rule) != head.graph.rules[target.rule]:
            source = head.graph.rules[target.rule].source
            seed([label], Reason("rule", f"rule {target.rule} changed ({source})"))
    for label, reason in _import_seeds(base.graph, head.graph):
        seed([label], reason)
    for label, reason in _exposure_seeds(base, head):
        seed([label], reason)
    for label, reason in _rule_inputs_seeds(base, head):
        seed([label], reason)
    for label, reason in _lockfile_seeds(base, head, changes):
        seed([label], reason)
    dirty = set() if same_graph else _dirty_packages(base.graph, head.graph)
    if dirty:
        changed = {path for change in changes for path in change.paths}
        for label, reason in _package_input_changes(base, head, dirty, changed):
            seed([label], reason)
    for change in changes:
        detail = f"{change.path} {_describe(change)}"
        for path in change.paths:
            for side in (base, head):
                folder = side.graph.package_of(path)
                # Outside every package, owners are the targets that include the file.
                if path in side.snapshot and folder not in dirty:
                    for label in side.graph.owners(path):
                        if not _no_input(side.graph, label, path):
                            seed([label], _file_reason(base, head, label, path, detail))
    for label, reason in _link_seeds(base, head, changes):
        seed([label], reason)
    return seeds


def _no_input(graph: BuildGraph, label: Label, path: str) -> bool:
    """True for a file of ``label`` that its key does not read: the manifest that
    defines it (its parsed form is in the definition) or a file graphkit.toml ignores."""
    return _no_inputs(graph, label)(path)


def _no_inputs(graph: BuildGraph, label: Label) -> Callable[[str], bool]:
    """``_no_input`` for one target, its settings looked up once for many paths."""
    ignored = ignored_files(graph, label)
    definition = definition_file(graph, label)
    if ignored is None:
        return lambda path: path == definition
    return lambda path: path == definition or ignored(path)


def _link_seeds(
    base: Side, head: Side, changes: tuple[Change, ...]
) -> Iterable[tuple[Label, Reason]]:
    """Owners of the symlinks whose reach a change alters (on either side): a key covers
    every file its symlinks reach inside the repository (unless the link itself is no
    input of that owner)."""
    by_path = {path: change for change in changes for path in change.paths}
    for side in (base, head):
        if not side.graph.links:
            continue
        for link, path in sorted(links_hit(side.graph.links, by_path).items()):
            if link in side.snapshot:
                why = f"{path} {_describe(by_path[path])} (through symlink {link})"
                for label in side.graph.owners(link):
                    if not _no_input(side.graph, label, link):
                        yield label, _file_reason(base, head, label, link, why)


def _rule_inputs_seeds(base: Side, head: Side) -> Iterable[tuple[Label, Reason]]:
    """Every target of a rule whose graphkit.toml [inputs] settings changed: they are
    part of its key."""
    b, h = base.graph.config, head.graph.config
    if b.inputs == h.inputs:
        return
    for label, target in sorted(head.graph.targets.items()):
        if b.inputs_of(target.rule) != h.inputs_of(target.rule):
            yield label, Reason("global", f"graphkit.toml: [inputs.{target.rule}] changed")


def _definition_change(before: Target, after: Target) -> str:
    """Why a definition differs: its manifest, or the root configuration that reaches it."""
    old, new = dict(before.attrs), dict(after.attrs)
    if replace(before, attrs=()) == replace(after, attrs=()) and all(
        old.get(k) == new.get(k) for k in old.keys() | new.keys() if k != rootconfig.ATTR
    ):
        source = rootconfig.describe(old.get(rootconfig.ATTR), new.get(rootconfig.ATTR))
        if source is not None:
            return f"root configuration: {source}"
    return f"definition changed in {after.manifest}"


def _file_reason(base: Side, head: Side, label: Label, path: str, detail: str) -> Reason:
    """A changed input file moves the interface unless it is outside the interface on
    both sides (where the target exists)."""
    hidden = all(
        path in non_interface_files(side.graph, label, [path])
        for side in (base, head)
        if label in side.graph.targets
    )
    if hidden:
        return Reason("file", f"{detail} (tests only: dependents not affected)", interface=False)
    return Reason("file", detail)


def _exposure_seeds(base: Side, head: Side) -> Iterable[tuple[Label, Reason]]:
    """Targets whose interface gained or lost a file that a source began or ceased to
    read (a test helper another package's tests import, a fixture production code
    imports, an embedded file): their interface key moves."""
    for path in sorted(base.graph.exposed ^ head.graph.exposed):
        if path not in base.snapshot or path not in head.snapshot:
            continue  # added or removed: the change to the file seeds its owners
        now = "now" if path in head.graph.exposed else "no longer"
        for label in head.graph.owners(path):
            if label not in base.graph.targets:
                continue  # a new target is seeded as new
            hides = [hidden_files(side.graph, label, by_name=True) for side in (base, head)]
            if all(hide is not None and hide(path) for hide in hides):
                detail = f"{path} {now} read by a source outside its tests (interface changed)"
                yield label, Reason("imports", detail)


def _import_seeds(base: BuildGraph, head: BuildGraph) -> Iterable[tuple[Label, Reason]]:
    """Targets whose imports reach other targets than before.

    Most come with an edit to the importing file, which seeds them anyway; this
    catches the rest: an import that now resolves elsewhere because a file was
    added, moved or removed, or a tsconfig changed.
    """
    if base.inferred is head.inferred:
        return
    for label in sorted(base.inferred.keys() | head.inferred.keys()):
        if label not in head.targets:
            continue
        before, after = base.inferred.get(label, {}), head.inferred.get(label, {})
        if _edges(before) == _edges(after):
            continue
        # Which face moved: the edges that carry key the interface, test edges do not.
        interface = _edges(before)[0] != _edges(after)[0]
        note = "" if interface else " (tests only: dependents not affected)"
        added = sorted(after.keys() - before.keys())
        changed = sorted(d for d in after.keys() & before.keys() if before[d].test != after[d].test)
        if added or changed:
            dep = (added or changed)[0]
            yield (
                label,
                Reason("imports", f"now imports {dep} ({after[dep]}){note}", None, interface),
            )
        else:
            gone = min(before.keys() - after.keys())
            detail = f"no longer imports {gone} ({before[gone]}){note}"
            yield label, Reason("imports", detail, None, interface)


def _edges(found: Mapping[Label, ImportVia]) -> tuple[frozenset[Label], frozenset[Label]]:
    """The deps that imports add, split into (from production files, from test files only)."""
    production = frozenset(dep for dep, via in found.items() if not via.test)
    return production, frozenset(found.keys() - production)


def _lockfile_seeds(
    base: Side, head: Side, changes: tuple[Change, ...]
) -> Iterable[tuple[Label, Reason]]:
    """Targets whose locked external packages differ, when a lockfile changed."""
    locks = sorted({p for change in changes for p in change.paths if is_lockfile(p)})
    if not locks:
        return
    from graphkit.analysis.externals import ECOSYSTEM_RULES, changed_pins

    before, after = _pins(base), _pins(head)
    if before is None or after is None:
        kinds = set(ECOSYSTEM_RULES.values())
        for label, target in sorted(head.graph.targets.items()):
            if target.rule in kinds:
                yield label, Reason("file", f"{locks[0]} changed and could not be compared")
        return
    for label, why in changed_pins(before, after, sorted(head.graph.targets)):
        yield label, Reason("file", why)


def _pins(side: Side) -> Pins | None:
    from graphkit.analysis.externals import read_pins

    if side.read is None:
        return None
    paths = side.lockfiles() if side.lockfiles is not None else None
    return read_pins(side.graph, side.snapshot, side.read, side.locks, paths)


def _describe(change: Change) -> str:
    if change.old_path:
        return f"renamed from {change.old_path}"
    return change.status.value.replace("_", " ")


def _global_reason(base: Side, head: Side, changes: tuple[Change, ...]) -> Reason | None:
    b, h = base.graph.config, head.graph.config
    if (b.global_inputs, b.rules_dir) != (h.global_inputs, h.rules_dir):
        return Reason("global", "graphkit.toml: global_inputs or rules_dir changed")
    for change in changes:
        for path in change.paths:
            if head.graph.is_global_input(path):
                return Reason("global", f"global input {path} {_describe(change)}")
    return None


def _dirty_packages(base: BuildGraph, head: BuildGraph) -> set[str]:
    """Packages whose file ownership may differ without any of their files changing.

    That happens when a package's targets or their rules change (globs move files
    between targets, or in or out of the "matched by nothing" set), or when a package
    appears or vanishes (its files move to or from the enclosing package).
    """
    dirty: set[str] = set()
    for folder in base.packages.keys() | head.packages.keys():
        before, after = base.packages.get(folder), head.packages.get(folder)
        if before != after:
            dirty.add(folder)
        if before is None or after is None:
            for graph in (base, head):
                enclosing = next((d for d in parent_dirs(folder) if d in graph.packages), None)
                if enclosing is not None:
                    dirty.add(enclosing)
    # A rule defined differently at the two ends (compared once, not once per target).
    moved = {
        name
        for name in base.rules.keys() | head.rules.keys()
        if base.rules.get(name) != head.rules.get(name)
    }
    if moved:
        for graph in (base, head):
            dirty.update(label.package for label, t in graph.targets.items() if t.rule in moved)
    return dirty


def _package_input_changes(
    base: Side, head: Side, dirty: set[str], changed: set[str]
) -> Iterable[tuple[Label, Reason]]:
    """Targets of dirty packages whose input files (paths, modes, blob ids) differ;
    ``changed`` holds every path that differs between the two sides."""
    # A dirty package laid out alike at both ends (a manifest's dependency bumped) sorts
    # every file into the same targets at both ends: its targets' inputs can differ only
    # at the changed paths, so only those are compared, not the package's whole tree
    # (astro's 4,000 files twice over in a lockfile commit). The answer is the same.
    alike = {
        folder
        for folder in dirty
        if (layout := _layout(base.graph, folder)) is not None
        and layout == _layout(head.graph, folder)
    }
    if alike and not _comparable(base.graph, head.graph):
        alike = set()
    before = _dirty_inputs(base, dirty, alike, changed)
    after = _dirty_inputs(head, dirty, alike, changed)
    for label, files in sorted(after.items()):
        old = before.get(label, {})
        if files != old:
            differ = sorted(p for p in old.keys() | files.keys() if old.get(p) != files.get(p))
            # The interface moved unless every differing file is outside it on both sides
            # and what dependents observe of the definition is the same (a changed test
            # script is the definition reason's, which says so itself).
            outside = [
                non_interface_files(side.graph, label, differ)
                for side in (base, head)
                if side.graph.targets.get(label) is not None
            ]
            hidden = all(set(differ) <= files_outside for files_outside in outside)
            # Named: a file that moved the interface, when one did (a new changeset note
            # beside a Cargo.toml edit is not why dependents are affected).
            path = next((p for p in differ if any(p not in f for f in outside)), differ[0])
            if path in old and path in files:
                verb = "changed"
            else:
                verb = "no longer an input" if path in old else "now an input"
            where = label.package or "root"
            detail = f"{path} {verb} (layout of package {where} changed)"
            if (
                hidden
                and label in base.graph.targets
                and interface_definition(base.graph.targets[label])
                == interface_definition(head.graph.targets[label])
            ):
                note = " (tests only: dependents not affected)"
                yield label, Reason("package", detail + note, interface=False)
            else:
                yield label, Reason("package", detail)


def _layout(graph: BuildGraph, folder: str) -> tuple[object, ...] | None:
    """What decides which of a package's files are which target's inputs, besides the
    workspace settings and the package folders (see ``_comparable``): its targets, the
    globs in force for each and the manifest it reads no bytes of. None: no package."""
    package = graph.packages.get(folder)
    if package is None:
        return None
    return tuple(
        (t.label, t.rule, t.effective_srcs(graph.rules[t.rule]), definition_file(graph, t.label))
        for t in package.targets
    )


def _comparable(base: BuildGraph, head: BuildGraph) -> bool:
    """The same settings (ignored inputs, graph-defining files) and the same package
    folders (so each package's own files end where they did) at both ends."""
    return base.config == head.config and base.packages.keys() == head.packages.keys()


def _dirty_inputs(
    side: Side, dirty: set[str], alike: set[str], changed: set[str]
) -> dict[Label, dict[str, object]]:
    """{target: {path: entry}} for the targets of the dirty packages on one side; for
    the packages in ``alike``, among the ``changed`` paths only."""
    graph = side.graph
    own = _own_files(side, dirty - alike)
    for folder in alike:
        own[folder] = {
            path: side.snapshot[path]
            for path in changed
            if path in side.snapshot
            and graph.package_of(path) == folder
            and path not in graph.meta_paths
        }
    result: dict[Label, dict[str, object]] = {}
    for folder, files in own.items():
        package = side.graph.packages[folder]
        for label, inputs in package_inputs(side.graph, package, files).items():
            no_input = _no_inputs(side.graph, label)
            result[label] = {p: files[p] for p in inputs if not no_input(p)}
    return result


def _own_files(side: Side, folders: set[str]) -> dict[str, Mapping[str, FileEntry]]:
    """The files each package of ``folders`` owns on one side (its manifests left
    out), with their entries: the packages' own trees when the side can walk them
    (a change touching a few packages reads those, not the whole tree)."""
    graph = side.graph
    present = [folder for folder in folders if folder in graph.packages]
    if side.below is not None:
        return {
            folder: {
                path: entry
                for path, entry in side.below(folder, graph.packages).items()
                if path not in graph.meta_paths
            }
            for folder in present
        }
    paths: dict[str, dict[str, FileEntry]] = {folder: {} for folder in present}
    for path in side.snapshot:
        folder = graph.package_of(path)
        if folder in paths and path not in graph.meta_paths:
            paths[folder][path] = side.snapshot[path]
    return dict(paths)
