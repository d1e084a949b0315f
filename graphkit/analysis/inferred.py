"""Deps that imports add: a target whose sources import another target's files
depends on that target, declared or not.

``scan`` reads the imports of every source file of a target whose rule infers
them (Python, JS/TS) and resolves them to repo files: an ``ImportScan``, one per
revision. Scanning is the expensive part (a parse per file), so a scan can start
from another revision's: a file with the same blob id keeps its imports, and
keeps their resolution too unless what resolution reads (the file list, tsconfig
and package.json files, workspace package names) differs. ``target_deps`` turns
a scan into target -> dep edges with the import behind each, keeping only deps
no manifest declares; the graph carries them (``BuildGraph.with_inferred``). An
import from a test file (``graphkit.analysis.faces``) is a test edge: it serves the
importer's tests and never carries past it, so it never closes a production cycle.

An import that resolves to several candidates depends on all of them (never a
guess that could miss a change); one that resolves to nothing in the repo is an
external package and adds nothing. Both are reported as problems by ``tidy``.

A Rust include (``include_bytes!``) of a file that no package owns cannot become a
dep: ``included_files`` makes that file an input of the including target instead.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import xxhash

from graphkit.analysis.faces import hidden_files, is_fixture, test_files
from graphkit.analysis.forked import available_cores, forked_map
from graphkit.analysis.graph import BuildGraph, Reader
from graphkit.errors import InputWarning
from graphkit.labels import Label
from graphkit.model import FileEntry, ImportVia, Snapshot
from graphkit.progress import Progress, counted, silent

if TYPE_CHECKING:
    # The resolvers load with a scan: a warm run reads the edges a scan found.
    from graphkit.readers.infer.resolve import FileImports, ImportRef, Problem, Resolver

# graph.SCAN_FORMAT names ScannedFile's shape and the way a scan is derived: bump it
# when either changes (memoized scans are keyed by it).
# A scan's files are pickled this many at a time (see ImportScan.__getstate__): small
# enough that a scan derived from another pickles little again (see ImportScan.pickled;
# 512 files take 4 ms), large enough that the chunks cost nothing (a 20,000-file scan
# pickles and reads back as fast in chunks of 256 as of 4,096). A scan pickled with
# another size reads back the same (only its chunks' pickles are not reused).
_PICKLED_TOGETHER = 512
_PROTOCOL = pickle.HIGHEST_PROTOCOL
# Set while a remote memo's piece is unpickled (see keeping_pickles).
_KEEP_PICKLED: ContextVar[bool] = ContextVar("graphkit_keep_pickled", default=False)
_PACKAGE_JSON = "package.json"
# Languages whose "imports" are files the build compiles in (include_*!, //go:embed).
_BUILD_READS = ("rust", "go")

Inferred = Mapping[Label, Mapping[Label, ImportVia]]
Included = Mapping[Label, tuple[str, ...]]


@dataclass(frozen=True)
class ScannedFile:
    """One source file's imports: as written (by blob id) and as resolved."""

    oid: str
    language: str
    refs: tuple[ImportRef, ...]
    resolved: FileImports


class _Chunk(pickle.Unpickler):
    """Reads a chunk of a scan's files: it builds the classes a scan holds, nothing
    else, as guarded as the memo around it (a remote memo's pieces are unpickled by
    ``memoseal``'s guarded unpickler, which never sees inside these bytes)."""

    def find_class(self, module: str, name: str) -> Any:
        from graphkit.readers.infer.resolve import FileImports, ImportEdge, ImportRef, Problem

        for cls in (ScannedFile, ImportRef, FileImports, ImportEdge, Problem):
            if (cls.__module__, cls.__name__) == (module, name):
                return cls
        raise pickle.UnpicklingError(f"a scan names {module}.{name}")


@dataclass(frozen=True)
class ImportScan:
    """Every inferring source file of one revision, scanned; ``context`` names what
    resolution read, so a later scan knows when resolutions can be kept."""

    files: Mapping[str, ScannedFile]
    context: str
    # Configs read in part (an extends graphkit cannot follow): the same for one context.
    warnings: tuple[InputWarning, ...] = ()
    # Resolvers indexed for ``context``, kept in memory (never pickled) so the next
    # scan in the same context does not index the repository again.
    resolvers: dict[str, Resolver] = field(default_factory=dict, compare=False, repr=False)
    # Chunk index -> the pickle of exactly that chunk of ``files`` (see __getstate__),
    # for a scan read from a remote memo and the scans derived from it (``rescanned``):
    # pickling a derived scan to share it then pickles only the chunks an edit touched
    # (0.2 s for a 20,000-file scan otherwise). Empty for any other scan: keeping the
    # bytes costs as much memory as the pickle (150 MB at 100,000 packages).
    pickled: dict[int, bytes] = field(default_factory=dict, compare=False, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        # The files in pickles of a few thousand each: a pickle keeps an entry in its
        # memo for each object it wrote until it is done, and 400,000 files are
        # millions of objects (+700 MB at the peak of a cold run at 100,000 packages).
        items = list(self.files.items())
        chunks = []
        for index, at in enumerate(range(0, len(items), _PICKLED_TOGETHER)):
            chunk = self.pickled.get(index)
            if chunk is None:
                chunk = pickle.dumps(dict(items[at : at + _PICKLED_TOGETHER]), _PROTOCOL)
                if self.pickled:  # completed where kept, so a scan derived next reuses it
                    self.pickled[index] = chunk
            chunks.append(chunk)
        return {"chunks": chunks, "context": self.context, "warnings": self.warnings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        files: dict[str, ScannedFile] = {}
        chunks: list[bytes] = state["chunks"]
        aligned = True  # each chunk holds exactly the files __getstate__ would put in it
        for index, chunk in enumerate(chunks):
            found = _Chunk(io.BytesIO(chunk)).load()
            before = len(files)
            files.update(found)
            full = len(found) == _PICKLED_TOGETHER or index == len(chunks) - 1
            aligned = aligned and full and len(files) == before + len(found)
            aligned = aligned and isinstance(chunk, bytes)
        kept = dict(enumerate(chunks)) if aligned and _KEEP_PICKLED.get() else {}
        values = {"files": files, "context": state["context"], "warnings": state["warnings"]}
        for name, value in {**values, "resolvers": {}, "pickled": kept}.items():
            object.__setattr__(self, name, value)

    @property
    def problems(self) -> tuple[Problem, ...]:
        """Imports not tied to one file (ambiguous, unresolved, dynamic, unreadable)."""
        return tuple(p for f in self.files.values() for p in f.resolved.problems)


@contextmanager
def keeping_pickles() -> Iterator[None]:
    """Scans unpickled within keep their chunks' pickles (``ImportScan.pickled``): a
    scan fetched from a remote memo starts derived scans that are pickled to be shared."""
    token = _KEEP_PICKLED.set(True)
    try:
        yield
    finally:
        _KEEP_PICKLED.reset(token)


def scan(
    graph: BuildGraph,
    snapshot: Snapshot,
    read: Reader,
    inputs: Mapping[Label, list[str]],
    previous: ImportScan | None = None,
    progress: Progress = silent,
    workers: int | None = 1,
) -> ImportScan:
    """Scan the inferring sources of ``snapshot``, reusing what ``previous`` knows;
    reports ``scanning N files for imports`` to ``progress`` as it goes.

    ``workers`` processes share the files to read (None: one per core, once there
    are enough files to pay for starting them); the result is the same whatever
    their number.
    """
    sources = _sources(graph, inputs)
    report = counted(progress, f"scanning {len(sources)} files for imports", len(sources))
    report(0)
    configs = _js_configs(graph, snapshot, read) if "js" in sources.values() else {}
    context = _context(graph, snapshot, sources.values(), configs)
    keep_resolution = previous is not None and previous.context == context
    resolvers = previous.resolvers if previous is not None and keep_resolution else {}
    warnings = previous.warnings if previous is not None and keep_resolution else ()

    kept: dict[str, ScannedFile] = {}
    todo: list[_Todo] = []  # in path order, as the resolvers' first uses below
    for path, language in sorted(sources.items()):
        entry = snapshot[path]
        old = previous.files.get(path) if previous is not None else None
        if old is not None and old.oid == entry.oid and old.language == language:
            if keep_resolution:
                kept[path] = old
                continue
            todo.append(_Todo(path, language, entry, old.refs))
        else:
            todo.append(_Todo(path, language, entry, None))
    for language in dict.fromkeys(item.language for item in todo):
        if language not in resolvers:
            resolvers[language] = _resolver(language, graph, snapshot, read, configs)
            if not keep_resolution:
                warnings += tuple(getattr(resolvers[language], "warnings", ()))
    count = _workers(workers, len(todo))
    base = len(kept)
    done = forked_map(_scan_one, (read, resolvers), todo, count, lambda n: report(base + n))
    scanned = dict(zip((item.path for item in todo), done, strict=True))
    files = {path: kept[path] if path in kept else scanned[path] for path in sorted(sources)}
    report(len(sources))
    return ImportScan(files, context, warnings, resolvers)


@dataclass(frozen=True)
class _Todo:
    """A file to scan: its imports are read unless ``refs`` (known by blob id) are given."""

    path: str
    language: str
    entry: FileEntry
    refs: tuple[ImportRef, ...] | None


# Below this many files to read, starting worker processes costs more than it saves.
_PARALLEL_FROM = 256


def _workers(asked: int | None, files: int) -> int:
    """The worker processes for ``files`` files: ``asked``, else one per core when
    there are enough files."""
    if asked is not None:
        return asked
    return available_cores() if files >= _PARALLEL_FROM else 1


def _scan_one(state: tuple[Reader, Mapping[str, Resolver]], item: _Todo) -> ScannedFile:
    """One file's imports, read and resolved (run in a worker process, or here)."""
    from graphkit.readers.infer.resolve import resolve_file

    read, resolvers = state
    resolver = resolvers[item.language]
    refs = (
        item.refs
        if item.refs is not None
        else resolver.imports(read(item.path, item.entry), item.path)
    )
    return ScannedFile(item.entry.oid, item.language, refs, resolve_file(item.path, refs, resolver))


def rescanned(
    previous: ImportScan,
    modified: Mapping[str, tuple[FileEntry, FileEntry]],
    read: Reader,
) -> ImportScan | None:
    """The scan of a revision that differs from ``previous``'s only by the contents of
    ``modified`` (path -> (old entry, new entry); no file added, removed or changing
    mode, no manifest changed): ``previous`` with the new blob ids, when every modified
    source still imports exactly what it did, at the same lines. Else None.

    Resolution reads the file list, package.json files, the JS config files and the
    workspace's package names, never another source: with the same file list and
    none of those changed, same imports resolve the same way, so everything derived
    from the scan (``target_deps``, ``included_files``, ``exposed_files``) is the
    same too. A modified file that is not a scanned source could be a tsconfig's
    ``extends`` (any name): allowed only when nothing is resolved as JS.
    """
    from graphkit.readers.infer import go, js, python, rust

    extract = {
        "python": python.imports,
        "js": js.imports,
        "rust": rust.imports,
        "go": go.imports,
    }
    files = dict(previous.files)  # the same paths in the same order: the same chunks
    has_js: bool | None = None
    changed: list[str] = []
    for path, (old, new) in sorted(modified.items()):
        if old.mode != new.mode or path.rsplit("/", 1)[-1] == _PACKAGE_JSON:
            return None
        known = files.get(path)
        if known is None:
            if has_js is None:
                has_js = any(f.language == "js" for f in previous.files.values())
            if has_js:
                return None
            continue
        if known.oid != old.oid:
            return None
        if extract[known.language](read(path, new), path) != known.refs:
            return None
        files[path] = ScannedFile(new.oid, known.language, known.refs, known.resolved)
        changed.append(path)
    pickled = _unchanged_chunks(previous, changed)
    return ImportScan(files, previous.context, previous.warnings, previous.resolvers, pickled)


def _unchanged_chunks(previous: ImportScan, changed: Iterable[str]) -> dict[int, bytes]:
    """``previous``'s chunk pickles but those holding a ``changed`` path."""
    if not previous.pickled:
        return {}
    wanted = set(changed)
    dirty = {at // _PICKLED_TOGETHER for at, path in enumerate(previous.files) if path in wanted}
    return {index: data for index, data in previous.pickled.items() if index not in dirty}


def unscanned(
    graph: BuildGraph,
    snapshot: Snapshot,
    inputs: Mapping[Label, list[str]],
    previous: ImportScan | None = None,
) -> list[FileEntry]:
    """The sources ``scan`` will read: those ``previous`` does not know by blob id."""
    known = previous.files if previous is not None else {}
    found = []
    for path in _sources(graph, inputs):
        old = known.get(path)
        if old is None or old.oid != snapshot[path].oid:
            found.append(snapshot[path])
    return found


def target_deps(
    graph: BuildGraph, inputs: Mapping[Label, list[str]], found: ImportScan
) -> dict[Label, dict[Label, ImportVia]]:
    """Target -> {dep: the first import needing it} for deps no manifest declares.

    A file owned by several targets (unclaimed by any srcs glob) is reached through
    one of them, a non-test one first: depending on one owner already covers it.
    An import from production code outranks one from a test file, and a dep that the
    manifest declares test-only (a dev-dependency) still gets an edge when production
    code imports it: that edge carries.
    """
    owners: dict[str, list[Label]] = {}
    for label, paths in inputs.items():
        for path in paths:
            owners.setdefault(path, []).append(label)
    result: dict[Label, dict[Label, ImportVia]] = {}
    for label, paths in inputs.items():
        languages = graph.rule_of(label).infer
        if not languages:
            continue
        target = graph.targets[label]
        declared = set(target.deps)
        is_test = test_files(graph, label)
        deps: dict[Label, ImportVia] = {}
        for path in paths:
            scanned = found.files.get(path)
            if scanned is None or scanned.language not in languages:
                continue
            test = is_test is not None and is_test(path)
            vias = [ImportVia(path, e.line, e.imported, test=test) for e in scanned.resolved.edges]
            vias += [
                ImportVia(path, problem.line, candidate, ambiguous=True, test=test)
                for problem in scanned.resolved.problems
                for candidate in problem.candidates
            ]
            for via in vias:
                reached = owners.get(via.imported)
                if not reached or label in reached:
                    continue
                dep = _preferred(graph, reached)
                if dep in declared and (via.test or dep not in target.test_deps):
                    continue
                if dep not in deps or _rank(via) < _rank(deps[dep]):
                    deps[dep] = via  # production, then certain imports are the better evidence
        if deps:
            result[label] = dict(sorted(deps.items()))
    return result


def included_files(
    graph: BuildGraph, inputs: Mapping[Label, list[str]], found: ImportScan
) -> dict[Label, tuple[str, ...]]:
    """Target -> the files outside every package its Rust sources include, sorted.

    Such a file has no owner to depend on (helix's ``languages.toml`` beside a
    virtual workspace root), so it becomes an input of the target that includes it.
    """
    owned = {path for paths in inputs.values() for path in paths}
    result: dict[Label, tuple[str, ...]] = {}
    for label, paths in inputs.items():
        if "rust" not in graph.rule_of(label).infer:
            continue
        files = {
            edge.imported
            for path in paths
            if (scanned := found.files.get(path)) is not None and scanned.language == "rust"
            for edge in scanned.resolved.edges
            if edge.imported not in owned and graph.package_of(edge.imported) is None
        }
        if files:
            result[label] = tuple(sorted(files))
    return result


def exposed_files(
    graph: BuildGraph, inputs: Mapping[Label, list[str]], found: ImportScan
) -> frozenset[str]:
    """The files a build reads through a source (see ``BuildGraph.exposed``): every
    file a Rust source includes or a Go source embeds, every file imported from
    another target (each candidate of an ambiguous import too), and, to a fixed
    point, every file imported from a file in its own target's interface (a
    production module importing its package's ``fixtures/`` helpers)."""
    owners: dict[str, set[Label]] = {}
    for label, paths in inputs.items():
        for path in paths:
            owners.setdefault(path, set()).add(label)
    by_name = {label: hidden_files(graph, label, by_name=True) for label in inputs}
    exposed: set[str] = set()
    within: dict[str, set[str]] = {}  # imported file -> importers of its own target
    for path, scanned in found.files.items():
        importers = owners.get(path, set())
        reached = [e.imported for e in scanned.resolved.edges]
        reached += [c for problem in scanned.resolved.problems for c in problem.candidates]
        for imported in reached:
            if scanned.language in _BUILD_READS or not owners.get(imported, set()) <= importers:
                exposed.add(imported)
            else:
                within.setdefault(path, set()).add(imported)

    def in_interface(path: str) -> bool:
        return path in exposed or not any(
            (hide := by_name.get(label)) is not None and hide(path)
            for label in owners.get(path, ())
        )

    frontier = [path for path in within if in_interface(path)]
    while frontier:
        for imported in within.get(frontier.pop(), ()):
            if imported not in exposed:
                exposed.add(imported)
                frontier.append(imported)
    return frozenset(exposed)


def infer_graph(graph: BuildGraph, snapshot: Snapshot, read: Reader) -> BuildGraph:
    """``graph`` with the deps its imports add, scanned from scratch."""
    if not graph.infers():
        return graph
    inputs = graph.inputs(snapshot)
    found = scan(graph, snapshot, read, inputs)
    return graph.with_inferred(
        target_deps(graph, inputs, found),
        included_files(graph, inputs, found),
        exposed_files(graph, inputs, found),
    )


def content_id(snapshot: Snapshot) -> str:
    """A name for a snapshot's exact content (paths, modes, blob ids): the memo key of
    a worktree, which has no tree id."""
    digest = xxhash.xxh3_128()
    for path in sorted(snapshot):
        entry = snapshot[path]
        digest.update(f"{path}\0{entry.mode:o}\0{entry.oid}\n".encode())
    return digest.hexdigest()


def _sources(graph: BuildGraph, inputs: Mapping[Label, list[str]]) -> dict[str, str]:
    """Path -> language of every input file whose owner's rule infers that language."""
    # The extractors compile their patterns on import: a warm run (memo hit) never scans.
    from graphkit.readers.infer import go, js, python, rust

    suffixes_of = {
        "python": python.SUFFIXES,
        "js": js.SUFFIXES,
        "rust": rust.SUFFIXES,
        "go": go.SUFFIXES,
    }
    found: dict[str, str] = {}
    for label, paths in inputs.items():
        for language in graph.rule_of(label).infer:
            suffixes = suffixes_of[language]
            found.update((p, language) for p in paths if p.endswith(suffixes))
    # Installed code (a committed node_modules/, as npm/cli bundles its dependencies)
    # and the folders `[workspace] exclude` names are never scanned; nor is JS test
    # data (TanStack/query's codemod fixtures import packages the codemods never do).
    return {
        p: language
        for p, language in found.items()
        if "node_modules" not in p.split("/")
        and not graph.is_excluded(p)
        and not (language == "js" and is_fixture(p))
    }


def _rank(via: ImportVia) -> tuple[bool, bool]:
    return (via.test, via.ambiguous)


def _preferred(graph: BuildGraph, owners: Iterable[Label]) -> Label:
    return min(owners, key=lambda label: (bool(graph.rule_of(label).test_files), label))


def _js_configs(graph: BuildGraph, snapshot: Snapshot, read: Reader) -> dict[str, bytes]:
    """The tsconfig/jsconfig files JS resolution reads, and what they extend."""
    from graphkit.readers.infer.js_resolve import config_files

    paths = [p for p in snapshot if not graph.is_excluded(p)]
    return config_files(paths, lambda path: read(path, snapshot[path]))


def _context(
    graph: BuildGraph, snapshot: Snapshot, languages: Iterable[str], configs: Mapping[str, bytes]
) -> str:
    """What resolution reads besides the importing file: every path (a new file can
    turn an external import into a repo one), the JS config files' contents (those
    they extend too, whatever their names) and the workspace package names."""
    digest = xxhash.xxh3_128(" ".join(sorted(set(languages))).encode())
    for path in sorted(snapshot):
        read = path in configs or path.rsplit("/", 1)[-1] == _PACKAGE_JSON
        oid = snapshot[path].oid if read else ""
        digest.update(f"{path}\0{oid}\n".encode())
    for name, folder in sorted(_npm_names(graph).items()):
        digest.update(f"{name}\0{folder}\n".encode())
    return digest.hexdigest()


def _npm_names(graph: BuildGraph) -> dict[str, str]:
    return {
        alias: target.label.package
        for target in graph.targets.values()
        if target.rule == "npm_package"
        for alias in target.aliases
    }


def _resolver(
    language: str,
    graph: BuildGraph,
    snapshot: Snapshot,
    read: Reader,
    configs: Mapping[str, bytes],
) -> Resolver:
    """A resolver for one language, indexed over the whole snapshot."""
    from graphkit.readers.infer import python
    from graphkit.readers.infer.js_resolve import JsResolver

    if language == "python":
        python_files = [p for p in snapshot if p.endswith(python.SUFFIXES)]
        return python.PythonResolver(python_files, python.default_roots(snapshot))
    if language == "go":
        from graphkit.readers.infer.go import GoResolver

        return GoResolver(snapshot)
    if language == "rust":
        from graphkit.readers.infer.rust import RustResolver

        return RustResolver(frozenset(snapshot))
    names = _npm_names(graph)
    manifests = {
        path: read(path, snapshot[path])
        for folder in set(names.values())
        if (path := f"{folder}/{_PACKAGE_JSON}" if folder else _PACKAGE_JSON) in snapshot
    }
    return JsResolver(snapshot, configs, names, manifests)
