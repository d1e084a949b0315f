"""File-level test selection: which test files of an affected target can see the change.

For a test target whose rule shards by file and infers Python imports, a test file
is selected when its import closure (through every repo file it imports, in any
package) reaches a changed file. Anything graphkit cannot follow selects every test
file of the target instead: a changed input that is not importable (data, manifest),
a change to the target's definition, rule or global inputs, and an import it cannot
resolve, read or tell apart (dynamic, unparseable, ambiguous, missing in the repo).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from graphkit.analysis.affected import Affected
from graphkit.analysis.graph import BuildGraph, matcher
from graphkit.labels import Label
from graphkit.model import FileEntry, Snapshot
from graphkit.readers.infer.python import PythonResolver, default_roots
from graphkit.readers.infer.resolve import Resolver, resolve_file

Read = Callable[[str, FileEntry], bytes]
_IMPORTABLE = (".py",)


@dataclass(frozen=True)
class FileSelection:
    """Selected test files per file-sharded test target, each with the reason."""

    files: Mapping[Label, tuple[str, ...]]
    reasons: Mapping[str, str]  # test file -> why it runs


def test_files(graph: BuildGraph, label: Label, inputs: Sequence[str]) -> list[str]:
    """The target's input files that its rule's ``test_files`` globs name."""
    rule = graph.rule_of(label)
    if not rule.test_files:
        return list(inputs)
    prefix = len(label.package) + 1 if label.package else 0
    match = matcher(rule.test_files)
    return [path for path in inputs if match(path[prefix:])]


def select_test_files(
    graph: BuildGraph, snapshot: Snapshot, read: Read, affected: Affected
) -> FileSelection:
    """The test files of the affected file-sharded Python test targets that must run."""
    changed = {p for change in affected.changed for p in change.paths}
    candidates = [
        label
        for label in affected.targets
        if graph.rule_of(label).shard_unit == "file" and "python" in graph.rule_of(label).infer
    ]
    if not candidates:
        return FileSelection({}, {})
    inputs = graph.inputs(snapshot)
    python_files = [p for p in snapshot if p.endswith(_IMPORTABLE)]
    closure = _Closure(PythonResolver(python_files, default_roots(snapshot)), snapshot, read)
    files: dict[Label, tuple[str, ...]] = {}
    reasons: dict[str, str] = {}
    for label in sorted(candidates):
        tests = test_files(graph, label, inputs[label])
        reaching = _whole_target_reason(graph, inputs, label, affected, changed)
        for test in tests:
            why = reaching or closure.reason(test, changed)
            if why is not None:
                reasons[test] = why
        files[label] = tuple(t for t in tests if t in reasons)
    return FileSelection(files, reasons)


def _whole_target_reason(
    graph: BuildGraph,
    inputs: Mapping[Label, list[str]],
    label: Label,
    affected: Affected,
    changed: set[str],
) -> str | None:
    """Why every test file of ``label`` must run, or None when imports can decide."""
    # Only changes to files can be followed through imports; anything else in the chain
    # (a definition, a rule, a global input, a package layout) reaches every test.
    for _, reason in affected.chain(label):
        if reason.kind not in ("file", "dependency"):
            return f"{reason} (not an import: every test file runs)"
    reachable = {label, *graph.deps(label, transitive=True)}
    for dep in sorted(reachable):
        for path in inputs[dep]:
            if path in changed and not path.endswith(_IMPORTABLE):
                return f"{path} changed and is not importable: every test file runs"
    return None


class _Closure:
    """Import closures of files, read and resolved once each."""

    def __init__(self, resolver: Resolver, snapshot: Snapshot, read: Read) -> None:
        self._resolver = resolver
        self._snapshot = snapshot
        self._read = read
        self._edges: dict[str, tuple[tuple[str, ...], str | None]] = {}

    def reason(self, test: str, changed: set[str]) -> str | None:
        """Why ``test`` must run: the changed file its imports reach, or an import it
        cannot follow; None when its whole import closure is unchanged."""
        seen = {test}
        queue: deque[tuple[str, tuple[str, ...]]] = deque([(test, (test,))])
        while queue:
            path, via = queue.popleft()
            if path in changed:
                chain = " -> ".join(via)
                return f"imports changed {path}" + (f" ({chain})" if len(via) > 1 else "")
            targets, problem = self._imports(path)
            if problem is not None:
                return f"{problem} (cannot follow: runs to be safe)"
            for target in targets:
                if target not in seen:
                    seen.add(target)
                    queue.append((target, (*via, target)))
        return None

    def _imports(self, path: str) -> tuple[tuple[str, ...], str | None]:
        if path not in self._edges:
            self._edges[path] = self._read_imports(path)
        return self._edges[path]

    def _read_imports(self, path: str) -> tuple[tuple[str, ...], str | None]:
        entry = self._snapshot.get(path)
        if entry is None:
            return (), None
        refs = self._resolver.imports(self._read(path, entry), path)
        found = resolve_file(path, refs, self._resolver)
        if found.problems:
            return (), str(found.problems[0])
        return tuple(edge.imported for edge in found.edges), None
