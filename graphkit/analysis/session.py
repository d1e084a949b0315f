"""One analysis session: open the repository, load each side once, answer questions.

This is where the side effects of analysis meet: git through the Workspace, the
graph memo on disk. The modules below it stay pure.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphkit import __version__
from graphkit.analysis.affected import Affected, Side, everything, find_affected
from graphkit.analysis.faces import with_translations
from graphkit.analysis.graph import (
    MEMO_FORMAT,
    SCAN_FORMAT,
    BuildGraph,
    find_meta,
    graph_key,
    load_graph,
    read_meta,
    shifted_meta,
)
from graphkit.analysis.localmemo import LocalMemo
from graphkit.config import CONFIG_FILE
from graphkit.errors import InputError, InputWarning, UnknownStateError
from graphkit.heap import collector_paused
from graphkit.labels import Label
from graphkit.model import FileEntry, Snapshot
from graphkit.progress import Progress, Step, silent
from graphkit.readers.lockfiles import LOCK_FORMAT
from graphkit.repo.changes import diff_snapshots
from graphkit.repo.workspace import WORKTREE, Revision, TreeSnapshot, Workspace

if TYPE_CHECKING:
    # Loaded where used: a warm `affected` computes no keys, scans nothing (it reads the
    # deps imports add from the memo) and, without a remote memo, seals and sends nothing.
    from graphkit.analysis.inferred import ImportScan, Included, Inferred
    from graphkit.analysis.keys import KeyRecord
    from graphkit.analysis.memoremote import MemoSettings, RemoteMemo
    from graphkit.analysis.memoseal import Envelope
    from graphkit.readers.lockfiles.model import Lock


@dataclass(frozen=True)
class Loaded:
    """One revision read and parsed."""

    revision: Revision
    side: Side

    @property
    def graph(self) -> BuildGraph:
        return self.side.graph

    @cached_property
    def inputs(self) -> Mapping[Label, list[str]]:
        """Every target's input files at this revision (listed once per session)."""
        return self.graph.inputs(self.side.snapshot)

    def with_graph(self, graph: BuildGraph) -> Loaded:
        """The same revision over ``graph`` (the deps imports add attached). Inputs
        carry over: they depend on the declarations alone."""
        other = Loaded(self.revision, replace(self.side, graph=graph))
        if "inputs" in self.__dict__ and not graph.included:
            other.__dict__["inputs"] = self.__dict__["inputs"]
        return other

    def keys(
        self, only: Iterable[Label] | None = None, without: AbstractSet[str] = frozenset()
    ) -> dict[Label, KeyRecord]:
        """Content keys at this revision, lockfiles included; ``without`` names files
        to leave out of every key (the runner's untracked outputs)."""
        snapshot, inputs = self.side.snapshot, self.inputs
        if without:
            snapshot = {path: entry for path, entry in snapshot.items() if path not in without}
            inputs = {
                label: [path for path in files if path not in without]
                for label, files in inputs.items()
            }
        from graphkit.analysis.externals import read_externals
        from graphkit.analysis.keys import compute_keys

        read = self.side.read
        externals = read_externals(self.graph, snapshot, read, self.side.locks) if read else None
        return compute_keys(self.graph, snapshot, only, externals, inputs)


@dataclass(frozen=True)
class Comparison:
    """The result of comparing two revisions."""

    base: Revision
    head: Loaded
    affected: Affected
    base_side: Loaded | None  # None when the base could not be read (--on-unknown=all)


@dataclass(frozen=True)
class _Delta:
    """How a commit differs from one whose memo is known (its start): the files on
    each side of the difference. The commit's graph is the start's."""

    graph_key: str
    tree: str  # the start's
    old: dict[str, FileEntry]
    new: dict[str, FileEntry]


# A commit without a memo of its own is derived from the last one analysed when at
# most this many files differ between them (a tree walk, not a listing; see _derived_key).
DELTA_LIMIT = 256

# How far back along first parents a runner without a local memo looks for a commit
# whose memo the remote cache holds, to scan on top of it: one action-cache lookup each.
ANCESTORS = 16


class Session:
    """An opened workspace with its graph memo; loads each revision at most once."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        use_memo: bool = True,
        progress: Progress = silent,
        remote: MemoSettings | None = None,
    ) -> None:
        self.workspace = workspace
        self._progress = progress
        self._memo = LocalMemo(workspace.git_dir / "graphkit" / "graphs") if use_memo else None
        self._remote_warnings: list[InputWarning] = []
        self._remote: RemoteMemo | None = None
        if remote is not None:
            from graphkit.analysis.memoremote import open_remote_memo

            self._remote = open_remote_memo(remote, self._remote_warning(remote.url))
        # Memo keys a remote memo can fill, fetched on first use (see _offer).
        self._lazy: dict[str, Callable[[], Any]] = {}
        self._origins: dict[str, str] = {}  # commit sha -> the commit whose remote memo it used
        self._fetched: dict[str, list[str]] = {}  # commit sha -> pieces fetched for it
        self._inferred_of: dict[str, tuple[Any, ...]] = {}  # by revision sha, for sharing
        # Inferred deps by the memo key that holds them, each read once a session.
        self._inferred_by_key: dict[str, tuple[Any, ...]] = {}
        self._loaded: dict[str, Loaded] = {}
        self._graphs: dict[str, BuildGraph] = {}  # by graph_key: base and head often share one
        self._scans: dict[str, ImportScan] = {}  # by revision sha, the latest last
        self._graph_keys: dict[str, str] = {}  # by revision sha
        self._locks: dict[str, Lock] = {}  # by lock_key: base and head often share one
        self._scan_warnings: set[InputWarning] = set()
        self._deltas: dict[str, _Delta] = {}  # by revision sha: derived from another commit
        # Values kept in the memo, by id() with the value (keeping the id its own), and
        # their pickles: what share() sends without pickling again.
        self._dumped: dict[int, tuple[object, bytes]] = {}
        self._workers = scan_workers(os.environ)
        # HEAD's tree and graph-defining files, found by a worktree load, until HEAD's
        # graph key is known (see _worktree_meta).
        self._head_meta: tuple[str | None, dict[str, FileEntry]] | None = None

    @classmethod
    def open(
        cls,
        start: Path | str = ".",
        *,
        use_memo: bool = True,
        progress: Progress = silent,
        remote: Callable[[Path], MemoSettings | None] | None = None,
    ) -> Session:
        """Open the repository containing ``start``; long work reports to ``progress``;
        ``remote`` says, from the workspace root, where the memo travels (if anywhere)."""
        workspace = Workspace.open(start, memo=use_memo)
        settings = remote(workspace.root) if remote is not None else None
        return cls(workspace, use_memo=use_memo, progress=progress, remote=settings)

    def close(self) -> None:
        """Release the memo's files and the remote cache's connection."""
        if self._memo is not None:
            self._memo.close()
        if self._remote is not None:
            self._remote.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def warnings(self) -> list[InputWarning]:
        """What every revision loaded so far skipped instead of failing on: stray
        manifests, unreadable tsconfigs. Sorted, each once."""
        found = {w for loaded in self._loaded.values() for w in loaded.graph.warnings}
        found.update(self._scan_warnings)
        found.update(self._remote_warnings)
        found.update(w for scanned in self._scans.values() for w in scanned.warnings)
        return sorted(found, key=str)

    def load(self, spec: str | None) -> Loaded:
        """Read and parse a revision; ``None`` or ``WORKTREE`` is the worktree."""
        revision = self.workspace.resolve(spec or WORKTREE)
        if revision.sha not in self._loaded:
            with collector_paused():
                self._loaded[revision.sha] = self._load(revision)
        return self._loaded[revision.sha]

    def _load(self, revision: Revision) -> Loaded:
        """Read and parse one revision (``load`` keeps it)."""
        if revision.sha == WORKTREE:  # git status, and hashing what it says changed
            self._progress(Step("reading the worktree"))
        snapshot = self.workspace.snapshot(revision)
        if revision.sha == WORKTREE:
            self._progress(Step("reading the worktree", len(snapshot), len(snapshot)))
        graph, key = self._graph(revision, snapshot)
        self._graph_keys[revision.sha] = key
        lockfiles = self._lockfiles(revision, snapshot)
        below = snapshot.below if isinstance(snapshot, TreeSnapshot) else None
        side = Side(graph, snapshot, self.workspace.read, self._lock, lockfiles, below)
        loaded = Loaded(revision, side)
        if graph.infers():
            inferred, included, exposed = self._inferred(loaded, key)
            loaded = loaded.with_graph(graph.with_inferred(inferred, included, exposed))
        return loaded

    def _content(self, loaded: Loaded) -> str:
        """A name for the revision's files: its tree id, or a digest of the worktree."""
        tree = self.workspace.tree_id(loaded.revision)
        if tree is not None:
            return tree
        from graphkit.analysis.inferred import content_id

        return self.workspace.worktree_content() or content_id(loaded.side.snapshot)

    def _inferred(self, loaded: Loaded, key: str) -> tuple[Inferred, Included, frozenset[str]]:
        """The deps imports add at a revision, the files outside every package that
        targets include, and the exposed files: memoized by content, like the graph."""
        memo_key = _inferred_key(key, self._content(loaded))
        # Kept with the warnings of the scan behind it, so a warm run still reports them.
        kept = self._recall_inferred(memo_key)
        if kept is None:
            kept = self._derived_inferred(loaded)
            if kept is None:
                from graphkit.analysis.inferred import exposed_files, included_files, target_deps

                scanned = self.import_scan(loaded)
                kept = (
                    target_deps(loaded.graph, loaded.inputs, scanned),
                    included_files(loaded.graph, loaded.inputs, scanned),
                    exposed_files(loaded.graph, loaded.inputs, scanned),
                    scanned.warnings,
                )
            same = self._same_inferred(memo_key, kept)
            self._keep(memo_key, same or kept)
            if same is None:
                self._inferred_by_key[memo_key] = kept
        self._inferred_of[loaded.revision.sha] = kept
        found: tuple[Inferred, Included, frozenset[str]] = (kept[0], kept[1], kept[2])
        self._scan_warnings.update(kept[3])
        return found

    def _recall_inferred(self, memo_key: str) -> tuple[Any, ...] | None:
        """The inferred deps kept under ``memo_key``, read once a session; an entry that
        names another entry (see ``_same_inferred``) is followed once."""
        kept = self._inferred_by_key.get(memo_key)
        if kept is not None:
            return kept
        found = self._recall(memo_key)
        if isinstance(found, str) and found.startswith(_INFERRED_PREFIX):
            memo_key = found
            found = self._inferred_by_key.get(memo_key) or self._recall(memo_key)
        if not isinstance(found, tuple) or len(found) != 4:
            return None
        self._inferred_by_key[memo_key] = found  # a key that holds the deps themselves
        return found

    def _same_inferred(self, memo_key: str, kept: tuple[Any, ...]) -> str | None:
        """The key of an entry read this session that holds the same inferred deps as
        ``kept`` (the worktree's and HEAD's after an edit that adds no import; a commit's
        and its parent's when only sources changed): kept under ``memo_key`` instead of
        a second copy, so the next run reads the deps once, not twice (5 MB each at
        100,000 packages). None when no entry holds the same."""
        for other_key, other in self._inferred_by_key.items():
            if other_key != memo_key and (other is kept or other == kept):
                return other_key
        return None

    def import_scan(self, loaded: Loaded) -> ImportScan:
        """Every inferring source of a loaded revision, with its imports resolved."""
        sha = loaded.revision.sha
        if sha not in self._scans:
            # Only commits' scans are kept: a worktree's is cheap from HEAD's, and stale soon.
            tree = self.workspace.tree_id(loaded.revision)
            memo_key = _imports_key(self._graph_keys[sha], tree) if tree is not None else ""
            found: ImportScan | None = self._recall(memo_key) if tree is not None else None
            if found is None:
                from graphkit.analysis.inferred import scan, unscanned

                side = loaded.side
                previous = self._previous_scan(loaded)
                # A partial clone fetches the blobs it lacks in one batch, not one by one.
                self.workspace.prefetch(
                    unscanned(side.graph, side.snapshot, loaded.inputs, previous)
                )
                found = scan(
                    side.graph,
                    side.snapshot,
                    self.workspace.read,
                    loaded.inputs,
                    previous,
                    self._progress,
                    self._workers,
                )
                if tree is not None:
                    self._keep(memo_key, found)
                    self._keep(self._LATEST_SCAN, memo_key)
            self._scans[sha] = found
        return self._scans[sha]

    def _derived_inferred(self, loaded: Loaded) -> tuple[Any, ...] | None:
        """What imports add at a commit derived from another (see ``_derived_key``):
        the start's, when only sources changed and none imports anything new; its
        scan (the start's, with the new blob ids) is kept as the commit's. Else None."""
        sha = loaded.revision.sha
        delta = self._deltas.get(sha)
        tree = self.workspace.tree_id(loaded.revision)
        if delta is None or tree is None:
            return None
        from graphkit.analysis.inferred import ImportScan, rescanned

        start_scan: Any = None
        start_inferred: Any = None
        for other, scanned in self._scans.items():  # the start loaded in this session
            same = self._graph_keys.get(other) == delta.graph_key
            if same and self._tree_of(other) == delta.tree:
                start_scan, start_inferred = scanned, self._inferred_of.get(other)
        if start_scan is None:
            start_scan = self._recall(_imports_key(delta.graph_key, delta.tree))
        if start_inferred is None:
            start_inferred = self._recall_inferred(_inferred_key(delta.graph_key, delta.tree))
        if not isinstance(start_scan, ImportScan) or not (
            isinstance(start_inferred, tuple) and len(start_inferred) == 4
        ):
            return None
        if delta.old.keys() != delta.new.keys():
            return None  # a file added or removed: resolution may differ anywhere
        modified = {path: (delta.old[path], delta.new[path]) for path in delta.old}
        found = rescanned(start_scan, modified, self.workspace.read)
        if found is None:
            return None
        if self._remote is not None:  # pickled anyway, to be shared
            memo_key = _imports_key(self._graph_keys[sha], tree)
            self._keep(memo_key, found)
            self._keep(self._LATEST_SCAN, memo_key)
        # Else not kept: the start's scan, already stored, starts a later scan as well
        # (a 20,000-file scan takes 0.3 s to pickle).
        self._scans[sha] = found
        return start_inferred

    def _derived_key(self, revision: Revision, tree: str) -> str | None:
        """The graph key of a commit with no memo of its own, from the last commit
        analysed (this session's last scan, else the last one stored) when at most
        DELTA_LIMIT files differ between their trees and none of them defines the
        graph: then the graph is the same, and no tree is listed. Else None."""
        start = self._start()
        if start is None:
            return None
        start_key, start_tree = start
        graph = self._graphs.get(start_key) or self._recall(start_key)
        if not isinstance(graph, BuildGraph):
            return None
        diff = self.workspace.trees_diff(start_tree, tree, DELTA_LIMIT)
        if diff is None:
            return None
        old, new = diff
        config = graph.config
        for entries in (old, new):
            if find_meta(entries, config.rules_dir, config.excluded_files):
                return None
        self._graphs[start_key] = graph
        self._deltas[revision.sha] = _Delta(start_key, start_tree, old, new)
        return start_key

    def _start(self) -> tuple[str, str] | None:
        """(graph key, tree id) of the commit whose scan is the latest: this session's,
        else the last one stored (locally, or offered by the remote memo)."""
        for sha in reversed(self._scans):
            tree = self._tree_of(sha)
            if tree is not None:
                return self._graph_keys[sha], tree
        latest = self._recall(self._LATEST_SCAN)
        prefix = _imports_key("", "").removesuffix(":")
        if not isinstance(latest, str) or not latest.startswith(prefix):
            return None
        key, _, tree = latest[len(prefix) :].rpartition(":")
        return (key, tree) if key and tree else None

    def _tree_of(self, sha: str) -> str | None:
        loaded = self._loaded.get(sha)
        if sha == WORKTREE:
            return None
        return self.workspace.tree_id(loaded.revision if loaded else self.workspace.resolve(sha))

    # Names the memo key of the scan stored last: any scan is a valid start (files are
    # reused by blob id), and the last one is likely the closest to what comes next.
    _LATEST_SCAN = f"imports:{__version__}:{SCAN_FORMAT}:latest"

    def _previous_scan(self, loaded: Loaded) -> ImportScan | None:
        """A scan to start from: the latest of this session; for the worktree, HEAD's
        (stored for next time, so editing a file rescans that file only); else the
        last one stored."""
        if self._scans:
            return next(reversed(self._scans.values()))
        if loaded.revision.sha == WORKTREE:
            try:
                head = self.load("HEAD")
            except InputError:
                head = None  # no commit yet
            if head is not None and head.graph.infers():
                return self.import_scan(head)
        key = self._recall(self._LATEST_SCAN)
        found: ImportScan | None = self._recall(key) if isinstance(key, str) else None
        return found

    # --- the memo that travels through the remote cache -------------------------------

    def _from_remote(self, revision: Revision, tree: str) -> None:
        """Offer the remote memo of ``tree`` to this session; without one, and with no
        local scan to start from, the memo of the nearest first-parent ancestor the
        remote holds, to scan on top of (its graph too, if the manifests are the same)."""
        assert self._remote is not None
        envelope = self._remote.envelope(tree)
        if envelope is not None:
            self._offer(revision.sha, revision.sha, envelope)
            return
        if self._recall(self._LATEST_SCAN) is not None:
            return  # a local scan is as good a start, and costs no lookups
        for sha, ancestor_tree in self.workspace.first_parents(revision, ANCESTORS):
            envelope = self._remote.envelope(ancestor_tree)
            if envelope is not None:
                self._offer(revision.sha, sha, envelope)
                return

    def _offer(self, sha: str, origin: str, envelope: Envelope) -> None:
        """Make ``envelope``'s pieces recallable under their memo keys, fetched on first
        use: an exact memo answers everything, an ancestor's gives a graph and a scan."""
        remote = self._remote
        assert remote is not None
        self._origins[sha] = origin
        fetched = self._fetched.setdefault(sha, [])

        def piece(name: str, valid: Callable[[Any], bool]) -> Callable[[], Any]:
            tried: list[Any] = []  # fetched once, whatever it gave

            def fetch() -> Any:
                if not tried:
                    found = remote.pieces(envelope, [name]).get(name)
                    tried.append(found if found is not None and valid(found) else None)
                    if tried[0] is not None:
                        fetched.append(name)
                return tried[0]

            return fetch

        from graphkit.analysis.inferred import ImportScan

        graph_key, tree = envelope.graph_key, envelope.tree
        imports_key = _imports_key(graph_key, tree)
        self._lazy[graph_key] = piece("graph", lambda v: isinstance(v, BuildGraph))
        self._lazy[imports_key] = piece("scan", lambda v: isinstance(v, ImportScan))
        # Keyed by the memo's own tree: an ancestor's starts a derived commit (_derived_key).
        self._lazy[_inferred_key(graph_key, tree)] = piece(
            "inferred", lambda v: isinstance(v, tuple) and len(v) == 4
        )
        if origin == sha:
            self._lazy[_tree_key(tree)] = lambda: graph_key
        else:
            self._lazy[self._LATEST_SCAN] = lambda: imports_key

    @property
    def remote_memo(self) -> dict[str, dict[str, Any]] | None:
        """For each commit that used a remote memo: the commit whose memo it was and
        the pieces fetched. None without a remote memo."""
        if self._remote is None:
            return None
        return {
            sha: {"from": origin, "pieces": sorted(self._fetched.get(sha, []))}
            for sha, origin in sorted(self._origins.items())
        }

    def share(self) -> None:
        """Store the memo of every commit analysed here in the remote cache, except
        those it came from whole. Never fails: a cache that is down is a warning."""
        remote = self._remote
        if remote is None:
            return
        from graphkit.analysis.inferred import ImportScan
        from graphkit.analysis.memoremote import Shared

        for sha, loaded in list(self._loaded.items()):
            tree = self.workspace.tree_id(loaded.revision)
            if tree is None or self._origins.get(sha) == sha:
                continue
            marker = f"shared:{remote.where}:{remote.action(tree)}"
            if self._recall(marker) is not None:
                continue  # stored from this machine before
            key = self._graph_keys[sha]
            pieces: dict[str, object] = {"graph": self._graphs[key]}
            if sha in self._inferred_of:
                pieces["inferred"] = self._inferred_of[sha]
            scanned = self._scans.get(sha)
            if scanned is None and sha in self._inferred_of:
                scanned = self._recall(_imports_key(key, tree))
            if isinstance(scanned, ImportScan):
                pieces["scan"] = scanned
            dumped = {
                name: known[1]
                for name, value in pieces.items()
                if (known := self._dumped.get(id(value))) is not None and known[0] is value
            }
            if remote.store(Shared(tree, key, pieces, dumped)):
                self._keep(marker, True)

    def _remote_warning(self, where: str) -> Callable[[str], None]:
        def warn(message: str) -> None:
            self._remote_warnings.append(InputWarning(where, None, message))

        return warn

    def _lockfiles(
        self, revision: Revision, snapshot: Snapshot
    ) -> Callable[[], Sequence[str]] | None:
        """The lockfile paths of a commit, memoized by tree id: a warm lockfile commit
        then lists neither tree (0.2 s each at 13,000 files). None for the worktree."""
        tree = self.workspace.tree_id(revision)
        if tree is None:
            return None

        def lockfiles() -> Sequence[str]:
            from graphkit.analysis.externals import LOCKFILE_NAMES, lockfile_paths

            key = f"lockfiles:{__version__}:{LOCK_FORMAT}:{LOCKFILE_NAMES}:{tree}"
            found = self._recall(key)
            if not (isinstance(found, tuple) and all(isinstance(p, str) for p in found)):
                found = tuple(lockfile_paths(snapshot))
                self._keep(key, found)
            return found

        return lockfiles

    def _lock(self, key: str, parse: Callable[[], Lock]) -> Lock:
        """A parsed lockfile, from memory, the on-disk memo, or ``parse``. The key names
        the blob ids of the bytes parsed (see ``lock_key``), so a lockfile commit costs
        one parse ever, not one per run."""
        if key not in self._locks:
            from graphkit.readers.lockfiles.model import Lock

            memo_key = f"lock:{__version__}:{LOCK_FORMAT}:{key}"
            found = self._recall(memo_key)
            if not isinstance(found, Lock):  # absent, damaged or of another shape: a miss
                found = parse()
                self._keep(memo_key, found)
            self._locks[key] = found
        return self._locks[key]

    def _keep(self, key: str, value: object) -> None:
        if self._memo is None:
            return
        try:
            from graphkit.analysis.inferred import ImportScan

            if isinstance(value, (ImportScan, BuildGraph)) and self._remote is None:
                import tempfile

                # Pickled into a file rather than into memory (as diskcache would): a
                # scan of 400,000 files pickles to 150 MB, at the cold run's peak.
                with tempfile.TemporaryFile() as file:
                    pickle.dump(value, file, protocol=5)
                    file.seek(0)
                    self._memo.set(key, file, read=True)
                return
            if self._remote is None or isinstance(value, (str, bool)):
                self._memo.set(key, value)
                return
            # With a remote memo, pickled here rather than by diskcache, so that sharing
            # the value sends these bytes instead of pickling it again (a 20,000-file
            # scan takes 0.2 s to pickle).
            from graphkit.analysis.memoseal import dump_piece

            data = dump_piece(value)
            self._dumped[id(value)] = (value, data)
            self._memo.set(key, io.BytesIO(data), read=True)
        except Exception:  # a memo that cannot be written only makes the next run slower
            return

    def _graph(self, revision: Revision, snapshot: Snapshot) -> tuple[BuildGraph, str]:
        """The graph of a revision, from memory, the on-disk memo, or the manifests.

        The memo maps a commit's tree id to the key of its graph-defining files
        (their paths and blob ids), and that key to the parsed graph: a warm run
        neither lists the tree nor parses a manifest. Both keys name content, so
        the memo never goes stale.
        """
        tree = self.workspace.tree_id(revision)
        tree_key = _tree_key(tree) if tree is not None else ""
        key = self._recall(tree_key) if tree is not None else None
        if key is None and tree is not None and self._remote is not None:
            self._from_remote(revision, tree)
            key = self._recall(tree_key)
        if key is None and tree is not None:
            key = self._derived_key(revision, tree)
            if key is not None:
                self._keep(tree_key, key)
        meta: dict[str, FileEntry] | None = None
        if key is None and tree is None:
            key = self._worktree_key()
        if key is None:
            meta = self._meta(snapshot) if tree is not None else self._worktree_meta(snapshot)
            key = graph_key(meta)
            if tree is not None:
                self._keep(tree_key, key)
        self._keep_head_meta(tree, key)
        graph = self._graphs.get(key) or self._recall(key)
        if graph is None:
            if meta is None:
                meta = self._meta(snapshot)
            self.workspace.prefetch(meta.values())  # one batch in a partial clone
            graph = load_graph(snapshot, self.workspace.read, meta, self._progress, self._workers)
            graph = with_translations(graph)
            self._keep(key, graph)
        self._graphs[key] = graph
        return graph, key

    def _worktree_key(self) -> str | None:
        """The worktree's graph key when it is HEAD's: no path where the worktree differs
        from HEAD defines the graph, on either side (graphkit.toml not among them: it
        names the rules folder), as after the usual edit of a source file. Then neither
        HEAD's graph-defining files are read back nor the key computed from them (0.05 s
        at 20,000 packages); HEAD's graph, which this one is, is read instead. None when
        that cannot be told: see ``_worktree_meta``."""
        try:
            head = self.workspace.resolve("HEAD")
        except (InputError, UnknownStateError):
            return None  # no commit yet
        tree = self.workspace.tree_id(head)
        head_key = self._recall(_tree_key(tree)) if tree is not None else None
        if not isinstance(head_key, str):
            return None
        partial = self.workspace.tree_diff(head, self.workspace.resolve(WORKTREE))
        if partial is None:
            return None
        before, after = partial
        if CONFIG_FILE in before or CONFIG_FILE in after:
            return None
        graph = self._graphs.get(head_key) or self._recall(head_key)
        if not isinstance(graph, BuildGraph):
            return None
        config = graph.config  # HEAD's graphkit.toml, which is the worktree's
        for entries in (before, after):
            if find_meta(entries, config.rules_dir, config.excluded_files):
                return None
        self._graphs[head_key] = graph
        return head_key

    def _worktree_meta(self, snapshot: Snapshot) -> dict[str, FileEntry]:
        """The worktree's graph-defining files, from HEAD's (kept in the memo) and the
        paths where the worktree differs from HEAD, which the worktree snapshot found
        without listing either side: at 100,000 packages, looking at every path of the
        worktree costs a second. Without HEAD's kept (the first worktree query since the
        commit) or when graphkit.toml differs, every path is looked at, and HEAD's are
        kept for the next query."""
        try:
            head = self.workspace.resolve("HEAD")
        except (InputError, UnknownStateError):
            return self._meta(snapshot)  # no commit yet
        tree = self.workspace.tree_id(head)
        head_key = self._recall(_tree_key(tree)) if tree is not None else None
        partial = self.workspace.tree_diff(head, self.workspace.resolve(WORKTREE))
        if partial is None:
            return self._meta(snapshot)
        before, after = partial
        changed = before.keys() | after.keys()
        if CONFIG_FILE in changed:  # names the rules folder and the excluded folders
            return self._meta(snapshot)
        read = self.workspace.read
        kept = self._recall(_meta_key(head_key)) if isinstance(head_key, str) else None
        if isinstance(kept, dict):
            return shifted_meta(kept, changed, after, snapshot, read)
        meta = self._meta(snapshot)
        head_meta = shifted_meta(meta, changed, before, self.workspace.snapshot(head), read)
        self._head_meta = (tree, head_meta)
        self._keep_head_meta(tree, head_key)
        return meta

    def _keep_head_meta(self, tree: str | None, key: Any) -> None:
        """Keep HEAD's graph-defining files, as the worktree found them, once HEAD's graph
        key is known (it is read after the worktree's) and names exactly these files."""
        if self._head_meta is None or tree != self._head_meta[0] or not isinstance(key, str):
            return
        head_meta = self._head_meta[1]
        self._head_meta = None
        if graph_key(head_meta) == key:
            self._keep(_meta_key(key), head_meta)

    def _meta(self, snapshot: Snapshot) -> dict[str, FileEntry]:
        """The graph-defining files: listing the whole tree, so it reports progress."""
        self._progress(Step("listing the tree"))
        meta = read_meta(snapshot, self.workspace.read)
        self._progress(Step("listing the tree", len(snapshot), len(snapshot)))
        return meta

    def _recall(self, key: str) -> Any:
        """A memo entry, or None: an entry that cannot be read (written by another
        graphkit version, or damaged) is a miss, never an error."""
        lazy = self._lazy.get(key)
        if self._memo is None and lazy is None:
            return None
        with collector_paused():  # unpickling builds tens of thousands of objects
            try:
                found = lazy() if lazy is not None else None
                if found is None and self._memo is not None:
                    found = self._memo.get(key)
                    if isinstance(found, bytes):  # pickled by _keep
                        found = pickle.loads(found)
                return found
            except Exception:
                return None

    def base_revision(self, spec: str | None, head: Loaded) -> Revision:
        """The revision named by ``--base``, else the merge-base with the default branch."""
        if spec is not None:
            return self.workspace.resolve(spec)
        return self.workspace.default_base(head.graph.config.default_branch)

    def compare(
        self, base: str | None, head: str | None, *, on_unknown: str = "error"
    ) -> Comparison:
        """What the change from ``base`` to ``head`` affects.

        When the base cannot be known (missing in a shallow clone, unreadable
        manifests), ``on_unknown="all"`` marks every target affected and says why;
        otherwise the UnknownStateError propagates.
        """
        head_side = self.load(head)
        try:
            base_revision = self.base_revision(base, head_side)
        except UnknownStateError as exc:
            if on_unknown != "all":
                raise
            return _unknown(base, head_side, f"base unknown: {exc}")
        try:
            base_side = self.load(base_revision.sha)
        except InputError as exc:
            # A manifest broken at base: what it declared cannot be known.
            if on_unknown != "all":
                raise UnknownStateError(
                    f"cannot read base {base_revision.sha[:12]}: {exc}",
                    hint="pass --on-unknown=all to treat every target as affected",
                ) from None
            return _unknown(base, head_side, f"base unreadable: {exc}")
        # Between two commits, git's trees say what differs without listing either side.
        partial = self.workspace.tree_diff(base_side.revision, head_side.revision)
        before, after = partial or (base_side.side.snapshot, head_side.side.snapshot)
        changes = diff_snapshots(before, after)
        affected = find_affected(base_side.side, head_side.side, changes)
        return Comparison(base_side.revision, head_side, affected, base_side)




# Forces the number of processes a scan uses (1: none besides graphkit's own);
# unset, a scan uses every core once it has enough files to read.
SCAN_WORKERS_VARIABLE = "GRAPHKIT_SCAN_WORKERS"


def scan_workers(environ: Mapping[str, str]) -> int | None:
    """The scan's worker processes as ``GRAPHKIT_SCAN_WORKERS`` sets them, or None
    (one per core, when the scan is large enough)."""
    value = environ.get(SCAN_WORKERS_VARIABLE, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise InputError(
            f"{SCAN_WORKERS_VARIABLE}={value!r}: expected a whole number of processes, 1 or more"
        )
    return int(value)


def _tree_key(tree: str) -> str:
    # The tree -> key entry is only as good as the code that computed the key.
    return f"key:{__version__}:{MEMO_FORMAT}:{tree}"


def _meta_key(graph_key: str) -> str:
    # The graph key names the graph-defining files' paths and blob ids: these files.
    return f"meta:{__version__}:{MEMO_FORMAT}:{graph_key}"


def _imports_key(graph_key: str, tree: str) -> str:
    return f"imports:{__version__}:{SCAN_FORMAT}:{graph_key}:{tree}"


def _inferred_key(graph_key: str, content: str) -> str:
    return f"inferred:{__version__}:{SCAN_FORMAT}:{graph_key}:{content}"


# Every inferred-deps memo key starts so: an entry holding one names another entry.
_INFERRED_PREFIX = _inferred_key("", "").removesuffix(":")


def _unknown(base: str | None, head: Loaded, why: str) -> Comparison:
    return Comparison(
        Revision(base or "(default)", "unknown"), head, everything(head.graph, why), None
    )
