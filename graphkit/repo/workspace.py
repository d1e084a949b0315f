"""The git side of graphkit: the only module that imports pygit2.

A Workspace answers questions about the repository without checking anything
out: which commit a revision names, the merge-base with the default branch, the
files of a commit (mode and blob id, straight from the tree), the files of the
worktree (staged, unstaged and untracked, honouring ``.gitignore`` and sparse
checkouts), and blob bytes.

libgit2 cannot fetch from a promisor remote, so in a partial clone the objects it
lacks are fetched by running ``git fetch``; nor can it read a sparse index, so there
``git ls-files`` and ``git status`` list the worktree. These are the only places
graphkit runs git.
"""

from __future__ import annotations

import os
import stat
from collections.abc import (
    Collection,
    Container,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    ValuesView,
)
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from graphkit.errors import InputError, UnknownStateError
from graphkit.model import FileEntry
from graphkit.repo.libgit import pygit2

if TYPE_CHECKING:
    # Loaded where used: a query between two commits reads neither git's index nor the
    # worktree, and writes no index file (their modules cost 5 ms of a 0.2 s warm run).
    from graphkit.repo.dirty import Suspects
    from graphkit.repo.index import Entries, IndexFile

WORKTREE = "WORKTREE"  # the head "revision" meaning: the files on disk, as git would commit them

_FETCH_HINT = (
    "fetch more history: `git fetch --deepen=100` (or `--unshallow`), or in GitHub Actions "
    "set `fetch-depth: 0` on actions/checkout; or pass --on-unknown=all"
)

# Mode bits git records for each kind of file.
MODE_FILE, MODE_EXEC, MODE_LINK, MODE_SUBMODULE = 0o100644, 0o100755, 0o120000, 0o160000

# The index flag of a file outside a sparse checkout (or marked with
# `git update-index --skip-worktree`): git treats it as unchanged whatever the disk says.
_SKIP_WORKTREE = 1 << 14

# Blobs per `git fetch` command line: far below any OS limit on arguments.
_FETCH_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Revision:
    """A resolved revision: the commit id, or WORKTREE for the files on disk."""

    spec: str  # what the user wrote
    sha: str  # 40-hex commit id, or WORKTREE


# A point lookup walks the tree from its root, in Python-visible steps; past this many
# lookups, one listing of the whole tree (in C) is cheaper than the rest of them. A
# warm query between two commits looks up a handful of paths; comparing a commit with
# the worktree looks up every path (160,000 lookups at 80,000 files: 2.9 s, where the
# listing takes a tenth of that).
_POINT_LOOKUPS = 256


class TreeSnapshot(Mapping[str, FileEntry]):
    """The files of one commit tree, read on demand: a few paths by lookup, many by
    listing the tree once."""

    def __init__(self, tree: pygit2.Tree) -> None:
        self._tree = tree
        self._all: dict[str, FileEntry] | None = None
        self._lookups = 0

    def __getitem__(self, path: str) -> FileEntry:
        if self._all is not None:
            return self._all[path]
        self._lookups += 1
        if self._lookups > _POINT_LOOKUPS:
            return self._listing()[path]
        try:
            obj = self._tree[path]
        except (KeyError, ValueError):
            raise KeyError(path) from None
        if obj.type == pygit2.enums.ObjectType.TREE:
            raise KeyError(path)
        return FileEntry(int(obj.filemode), str(obj.id))

    def _listing(self) -> dict[str, FileEntry]:
        if self._all is None:
            listing = list_tree(self._tree)
            _check_names(listing)
            self._all = listing
        return self._all

    def __iter__(self) -> Iterator[str]:
        return iter(self._listing())

    def __len__(self) -> int:
        return len(self._listing())

    def below(self, folder: str, stop: Container[str]) -> dict[str, FileEntry]:
        """The files below ``folder`` (``""``: the root) that lie outside every
        subfolder ``stop`` names (a package's own files, its nested packages left
        out): a walk of those trees alone, not a listing of the whole tree."""
        try:
            start = self._tree[folder] if folder else self._tree
        except (KeyError, ValueError):
            return {}
        found: dict[str, FileEntry] = {}
        if not isinstance(start, pygit2.Tree):
            return found
        stack = [(f"{folder}/" if folder else "", start)]
        while stack:
            prefix, tree = stack.pop()
            for entry in tree:
                path = _utf8(f"{prefix}{entry.name}")
                if isinstance(entry, pygit2.Tree):
                    if path not in stop:
                        stack.append((f"{path}/", entry))
                else:
                    found[path] = FileEntry(int(entry.filemode), str(entry.id))
        return found


def list_tree(tree: pygit2.Tree) -> dict[str, FileEntry]:
    """Every file of ``tree`` (blobs, symlinks, submodules) by path.

    libgit2 reads a tree into an index in C, but hands the entries to Python one
    object at a time (0.45 s at 25,000 files). Written out as an index file and read
    back by ``read_index`` (one ``struct`` call per entry) it takes a third of that.
    Where that cannot be done (no temporary folder), the entries one at a time.
    """
    import tempfile

    from graphkit.repo.index import read_index

    try:
        with tempfile.TemporaryDirectory(prefix="graphkit-tree-") as folder:
            path = Path(folder) / "index"
            written = pygit2.Index(str(path))
            written.read_tree(tree)
            written.write()
            found = read_index(path)
        if found is not None:
            return found.files.as_dict()
    except (OSError, pygit2.GitError):
        pass
    index = pygit2.Index()
    index.read_tree(tree)
    return {e.path: FileEntry(e.mode, str(e.id)) for e in index}


class WorktreeFiles(Mapping[str, FileEntry]):
    """The worktree's files: the index's entries, overlaid with what was hashed from
    disk where the disk may differ (None: gone).

    Looking up a path builds one entry; anything that goes over every file (iteration,
    ``items``, comparison) gets a dict built once, in the order a dict copy of the index
    with the changes applied would have. A query for a one-file edit looks up a handful
    of paths, and building every entry would cost more than the rest of it (half a
    million entries at 100,000 packages)."""

    def __init__(self, index: Entries, changes: dict[str, FileEntry | None]) -> None:
        self._index = index
        self._changes = changes
        self._all: dict[str, FileEntry] | None = None
        added = sum(1 for path, entry in changes.items() if entry is not None and path not in index)
        dropped = sum(1 for path, entry in changes.items() if entry is None and path in index)
        self._size = len(index) + added - dropped

    def __getitem__(self, path: str) -> FileEntry:
        if self._all is not None:
            return self._all[path]
        if path in self._changes:
            entry = self._changes[path]
            if entry is None:
                raise KeyError(path)
            return entry
        return self._index[path]

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        if self._all is not None:
            return path in self._all
        if path in self._changes:
            return self._changes[path] is not None
        return path in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._everything())

    def __len__(self) -> int:
        return self._size

    def keys(self) -> KeysView[str]:
        return self._everything().keys()

    def items(self) -> ItemsView[str, FileEntry]:
        return self._everything().items()

    def values(self) -> ValuesView[FileEntry]:
        return self._everything().values()

    def _everything(self) -> dict[str, FileEntry]:
        if self._all is None:
            files = self._index.as_dict()
            for path, entry in self._changes.items():
                if entry is None:
                    files.pop(path, None)
                else:
                    files[path] = entry
            self._all = files
        return self._all


class Workspace:
    """A git repository opened with pygit2, rooted at its worktree."""

    def __init__(self, repo: pygit2.Repository, *, memo: bool = True) -> None:
        self._repo = repo
        self._memo = memo  # may keep what it saw of the worktree below .git/graphkit
        if repo.workdir is None:
            raise InputError(f"{repo.path}: a bare repository has no worktree to analyze")
        self.root = Path(repo.workdir).resolve()
        self._promisor = _promisor_remote(repo)
        self._hashed: set[str] = set()  # blob ids hashed from disk: the worktree's own
        # The last worktree snapshot read through the index: the index, the snapshot, and
        # the paths where the two may differ (what tree_diff needs to skip the rest).
        self._worktree: tuple[IndexFile, Mapping[str, FileEntry], set[str]] | None = None

    @classmethod
    def open(cls, start: Path | str = ".", *, memo: bool = True) -> Workspace:
        """Open the repository containing ``start``; ``memo`` lets it keep what it saw
        of the worktree's folders below ``.git/graphkit`` for the next run."""
        found = pygit2.discover_repository(str(start))
        if found is None:
            raise InputError(
                f"{start}: not inside a git repository", hint="run graphkit inside a git checkout"
            )
        return cls(pygit2.Repository(found), memo=memo)

    @property
    def git_dir(self) -> Path:
        """The ``.git`` folder: graphkit keeps its local caches below it, out of the worktree."""
        return Path(self._repo.path)

    @property
    def is_shallow(self) -> bool:
        """True in a shallow clone, where older commits may be missing."""
        return bool(self._repo.is_shallow)

    def resolve(self, spec: str) -> Revision:
        """Resolve a revision (``HEAD~1``, a branch, a sha) to a commit.

        A revision that cannot be found in a shallow clone is an UnknownStateError
        naming the fix, since the commit exists but this clone lacks it.
        """
        if spec == WORKTREE:
            return Revision(spec, WORKTREE)
        try:
            obj = self._repo.revparse_single(spec)
            commit = obj.peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            if self.is_shallow:
                raise UnknownStateError(
                    f"revision {spec!r} is not in this shallow clone", hint=_FETCH_HINT
                ) from None
            raise InputError(
                f"unknown revision {spec!r}", hint="check the name with `git log`"
            ) from None
        if self._promisor is not None and commit.tree_id not in self._repo:
            # A treeless clone (--filter=tree:0): fetching the root tree brings its
            # subtrees too, and no blobs, as git's own lazy fetch would.
            self._fetch([str(commit.tree_id)], None)
        return Revision(spec, str(commit.id))

    def default_base(self, configured: str | None = None) -> Revision:
        """The merge-base of HEAD with the default branch.

        The default branch is ``configured`` (graphkit.toml) when set, else the branch
        ``origin/HEAD`` points at, else ``main``, else ``master``; each is looked up as
        a local branch, then as ``origin/<name>``. The error lists every ref tried.
        """
        head = self.resolve("HEAD")
        names = [configured] if configured else self._default_branch_names()
        tried: list[str] = []
        for name in names:
            for ref in (name, f"origin/{name}"):
                tried.append(ref)
                try:
                    branch = self._repo.revparse_single(ref).peel(pygit2.Commit)
                except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
                    continue
                return Revision(f"merge-base(HEAD, {ref})", self._merge_base(branch, head, ref))
        if configured:
            raise InputError(
                f"default branch {configured!r} not found (tried {', '.join(tried)})",
                path="graphkit.toml",
                hint="fix [workspace] default_branch, or pass --base REV",
            )
        if not self._origin_head():
            tried.insert(0, "origin/HEAD (not set)")
        raise InputError(
            f"no default branch found (tried {', '.join(tried)})",
            hint="set [workspace] default_branch in graphkit.toml, "
            "run `git remote set-head origin --auto`, or pass --base REV",
        )

    def _default_branch_names(self) -> list[str]:
        names = [self._origin_head(), "main", "master"]
        return [n for i, n in enumerate(names) if n and n not in names[:i]]

    def _origin_head(self) -> str:
        """The branch ``origin/HEAD`` names (what the remote calls its default), or ""."""
        ref = self._repo.references.get("refs/remotes/origin/HEAD")
        target = ref.target if ref is not None else None
        prefix = "refs/remotes/origin/"
        if isinstance(target, str) and target.startswith(prefix):
            return target.removeprefix(prefix)
        return ""

    def _merge_base(self, branch: pygit2.Commit, head: Revision, ref: str) -> str:
        base = self._repo.merge_base(branch.id, pygit2.Oid(hex=head.sha))
        if base is None:
            if self.is_shallow:
                raise UnknownStateError(
                    f"no merge-base of HEAD and {ref!r} in this shallow clone", hint=_FETCH_HINT
                )
            raise InputError(f"HEAD and {ref!r} share no history", hint="pass --base REV")
        return str(base)

    def snapshot(self, revision: Revision) -> Mapping[str, FileEntry]:
        """Every file of a commit or of the worktree, as {path: FileEntry}.

        A commit's snapshot is lazy: looking up a path reads only the trees on its
        way, and the full listing is read the first time something iterates it.
        """
        if revision.sha == WORKTREE:
            return self._worktree_snapshot()
        return TreeSnapshot(self._repo[revision.sha].peel(pygit2.Tree))

    def tree_id(self, revision: Revision) -> str | None:
        """The root tree id of a commit (None for the worktree): names its whole content."""
        if revision.sha == WORKTREE:
            return None
        return str(self._repo[revision.sha].peel(pygit2.Tree).id)

    def first_parents(self, revision: Revision, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` commits before ``revision`` along first parents, nearest first,
        each as (commit id, tree id); the walk stops where a shallow clone ends."""
        found: list[tuple[str, str]] = []
        if revision.sha == WORKTREE:
            return found
        commit = self._repo[revision.sha].peel(pygit2.Commit)
        while len(found) < limit:
            try:
                ids = commit.parent_ids
                if not ids:
                    break
                commit = self._repo[ids[0]].peel(pygit2.Commit)
            except (KeyError, ValueError, pygit2.GitError):
                break  # a shallow clone's boundary: the parent is not here
            found.append((str(commit.id), str(commit.tree_id)))
        return found

    def tree_diff(
        self, base: Revision, head: Revision
    ) -> tuple[dict[str, FileEntry], dict[str, FileEntry]] | None:
        """The files that differ between two commits, as two partial snapshots.

        Walks both trees together and descends only where subtree ids differ, so a
        one-file change in a 20,000-file repository reads a handful of tree objects.
        Between a commit and the worktree, the same from the commit to HEAD, plus what
        the index's cache tree says was staged, plus what the last worktree snapshot
        found changed on disk: no listing of either side. None when that cannot be
        known (no snapshot of the worktree taken through the index, no HEAD).
        """
        if head.sha == WORKTREE and base.sha != WORKTREE:
            return self._worktree_diff(base)
        if WORKTREE in (base.sha, head.sha):
            return None
        found = self.trees_diff(self.tree_id(base) or "", self.tree_id(head) or "")
        assert found is not None  # no limit
        return found

    def trees_diff(
        self, old_tree: str, new_tree: str, limit: int | None = None
    ) -> tuple[dict[str, FileEntry], dict[str, FileEntry]] | None:
        """``tree_diff`` between two tree ids; None once more than ``limit`` files
        differ (the walk stops there), or when a tree is not in the object store."""
        try:
            a_root = self._repo[old_tree].peel(pygit2.Tree)
            b_root = self._repo[new_tree].peel(pygit2.Tree)
        except (KeyError, ValueError, pygit2.GitError):
            return None
        old: dict[str, FileEntry] = {}
        new: dict[str, FileEntry] = {}
        stack: list[tuple[str, pygit2.Tree | None, pygit2.Tree | None]] = [("", a_root, b_root)]
        while stack:
            prefix, a, b = stack.pop()
            a_entries = {e.name: e for e in a} if a is not None else {}
            b_entries = {e.name: e for e in b} if b is not None else {}
            for name in a_entries.keys() | b_entries.keys():
                x, y = a_entries.get(name), b_entries.get(name)
                if x is not None and y is not None and x.id == y.id and x.filemode == y.filemode:
                    continue
                path = _utf8(f"{prefix}{name}")
                x_tree = x if isinstance(x, pygit2.Tree) else None
                y_tree = y if isinstance(y, pygit2.Tree) else None
                if x_tree is not None or y_tree is not None:
                    stack.append((f"{path}/", x_tree, y_tree))
                if x is not None and x_tree is None:
                    old[path] = FileEntry(int(x.filemode), str(x.id))
                if y is not None and y_tree is None:
                    new[path] = FileEntry(int(y.filemode), str(y.id))
            if limit is not None and len(old.keys() | new.keys()) > limit:
                return None
        return old, new

    def _worktree_diff(
        self, base: Revision
    ) -> tuple[dict[str, FileEntry], dict[str, FileEntry]] | None:
        """``tree_diff`` from a commit to the worktree (see there)."""
        if self._worktree is None or self._repo.head_is_unborn:
            return None
        from graphkit.repo.staged import staged

        index, files, changed = self._worktree
        head = self.resolve("HEAD")
        to_index = staged(self._repo[head.sha].peel(pygit2.Tree), index)
        committed = self.tree_diff(base, head)
        if committed is None:
            return None
        old, new = committed
        before: dict[str, FileEntry] = {}
        after: dict[str, FileEntry] = {}
        for path in old.keys() | new.keys() | to_index.keys() | changed:
            if path in old or path in new:
                entry = old.get(path)  # base differs from HEAD here
            elif path in to_index:
                entry = to_index[path]  # base is HEAD here, and the index differs
            elif path in index.intent_to_add:
                entry = None
            else:
                entry = index.files.get(path)  # base, HEAD and the index agree here
            if entry is not None:
                before[path] = entry
            if path in files:
                after[path] = files[path]
        return before, after

    def read(self, path: str, entry: FileEntry) -> bytes:
        """The bytes of ``path`` as recorded by ``entry``: from the object store, else the
        disk, else (in a partial clone) fetched from the promisor remote.

        Bytes read from disk are checked against the blob id, so a file that changed
        since the snapshot was taken is an error rather than a silent mismatch.
        """
        blob = self._blob(entry.oid)
        if blob is not None:
            return blob
        data = self._disk_bytes(path, entry)
        if data is not None:
            return data
        if self._promisor is not None and entry.oid not in self._hashed:
            self._fetch([entry.oid], path)
            blob = self._blob(entry.oid)
            if blob is not None:
                return blob
        if (self.root / path).exists() or os.path.islink(self.root / path):
            raise InputError(f"{path} changed while graphkit was reading it; run again")
        raise InputError(
            f"{path}: blob {entry.oid} is neither in the object store nor on disk",
            hint="the clone is incomplete: run `git fsck`, or clone again",
        )

    def prefetch(self, entries: Iterable[FileEntry]) -> None:
        """In a partial clone, fetch in one go the blobs of ``entries`` not yet local.

        Anywhere else this does nothing. Reading a missing blob fetches it anyway;
        this only saves a round trip per blob when many are about to be read.
        """
        if self._promisor is None:
            return
        missing = {
            e.oid
            for e in entries
            if e.mode != MODE_SUBMODULE
            and e.oid not in self._hashed
            and pygit2.Oid(hex=e.oid) not in self._repo
        }
        if missing:
            self._fetch(sorted(missing), None)

    def _blob(self, oid: str) -> bytes | None:
        try:
            blob = self._repo.get(oid)
        except ValueError:
            return None
        return bytes(blob.data) if isinstance(blob, pygit2.Blob) else None

    def _disk_bytes(self, path: str, entry: FileEntry) -> bytes | None:
        """The file on disk, if it is there and holds exactly ``entry``'s blob."""
        full = self.root / path
        try:
            data = _readlink(full) if entry.mode == MODE_LINK else full.read_bytes()
        except OSError:
            return None
        return data if str(pygit2.hash(data)) == entry.oid else None

    def _fetch(self, oids: list[str], path: str | None) -> None:
        """Fetch blobs from the promisor remote, as git's own lazy fetch would.

        The noop negotiation sends no history; ``--filter`` keeps the fetched pack a
        promisor pack.
        """
        remote = self._promisor or "origin"
        for start in range(0, len(oids), _FETCH_BATCH):
            batch = oids[start : start + _FETCH_BATCH]
            try:
                self._git(
                    "-c", "fetch.negotiationAlgorithm=noop", "-c", "gc.auto=0",
                    "-c", "maintenance.auto=false", "fetch", "--quiet", remote, "--no-tags",
                    "--no-write-fetch-head", "--recurse-submodules=no", "--filter=blob:none",
                    *batch,
                )  # fmt: skip
            except InputError as exc:
                what = f"{path}: blob {batch[0]}" if path else f"{len(batch)} object(s)"
                raise UnknownStateError(
                    f"{what} not in this partial clone, and fetching from {remote!r} failed: "
                    f"{exc.message}",
                    hint=f"run `git fetch {remote} {batch[0]}` (or clone without --filter), "
                    "or pass --on-unknown=all",
                ) from None

    def _worktree_snapshot(self) -> Mapping[str, FileEntry]:
        """The index, overlaid with the files on disk that differ from it.

        Clean files keep the blob id the index recorded (no file read at all): the
        index's stat data say which files may have changed (see ``repo/dirty.py``),
        and only those and untracked files are hashed. A file outside a sparse
        checkout is absent from disk by design: it keeps its index entry, as git keeps it.
        """
        from graphkit.repo.dirty import suspects
        from graphkit.repo.index import read_index

        self._worktree = None
        index = read_index(self.git_dir / "index", self._index_memo())
        if index is None:  # a format read_index leaves to libgit2 (or git)
            return self._status_worktree_snapshot()
        config = self._repo.config
        filemode = config.get_bool("core.filemode") if "core.filemode" in config else True
        if self._fsmonitor():
            # git asks the file-system monitor what changed since the token the index
            # holds, instead of checking every file: the one thing only git can do.
            found = self._git_status()
        else:
            try:
                found = suspects(
                    str(self.root), index, self._repo.path_is_ignored, filemode,
                    self._listings_memo(), self._ignore_sources(),
                )  # fmt: skip
            except UnicodeEncodeError:
                # A name that is not UTF-8, which pygit2 cannot pass to libgit2's ignore
                # rules: its status can, and says whether the name is ignored or an error.
                return self._status_worktree_snapshot()
        # `git add -N` records the empty blob with the file's stat data: never trust it.
        changed = found.rehash | index.intent_to_add
        changes: dict[str, FileEntry | None] = dict.fromkeys(found.gone)
        for path in sorted(changed):
            known = changes[path] if path in changes else index.files.get(path)
            changes[path] = self._hashed_entry(path, known)
        if not index.utf8:
            _check_names([path for path in index.files if path not in found.gone])
        _check_names([path for path, entry in changes.items() if entry is not None])
        files = WorktreeFiles(index.files, changes)
        self._worktree = (index, files, changed | found.gone)
        return files

    def worktree_content(self) -> str | None:
        """A name for the exact content of the last worktree snapshot (paths, modes,
        blob ids) from the tree the index's cache tree names and the paths the snapshot
        found different from the index: no pass over the whole snapshot (half a second
        at 100,000 packages). None when the snapshot was not read through the index or
        the cache tree does not name the index's tree (something staged since)."""
        if self._worktree is None:
            return None
        import hashlib

        from graphkit.repo.index import root_tree

        index, files, changed = self._worktree
        tree = root_tree(index)
        if tree is None:
            return None
        digest = hashlib.sha256(f"{tree}\0".encode())
        # The cache tree holds neither `git add -N` placeholders nor conflicted paths;
        # both are among ``changed`` (rehashed), and so named here with their content.
        for path in sorted(changed | index.intent_to_add | index.conflicted):
            entry = files.get(path)
            shown = f"{entry.mode:o}\0{entry.oid}" if entry is not None else "-"
            digest.update(f"{path}\0{shown}\n".encode("utf-8", "surrogateescape"))
        return f"index-tree:{digest.hexdigest()}"

    def _index_memo(self) -> Path | None:
        """Where the parsed index is kept for the next run (see ``read_index``), unless
        the memo is off."""
        return self.git_dir / "graphkit" / "index" if self._memo else None

    def _listings_memo(self) -> Path | None:
        """Where the folder listings of the last worktree walk are kept (see
        ``repo/dirty.py``), unless the memo is off or git's own untracked cache is
        turned off (``core.untrackedCache=false``: a file system whose folders'
        modification times cannot be trusted)."""
        config = self._repo.config
        if not self._memo:
            return None
        if "core.untrackedCache" in config:
            value = str(config["core.untrackedCache"]).strip().lower()
            if value in ("false", "no", "off", "0"):
                return None
        return self.git_dir / "graphkit" / "untracked"

    def _ignore_sources(self) -> list[Path]:
        """The files besides .gitignore files that decide what is ignored: the repository's
        exclude file and configs (core.excludesFile may move), and the user's."""
        home = Path(os.environ.get("HOME", "/"))
        xdg = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        sources = [
            self.git_dir / "info" / "exclude",
            self.git_dir / "config",
            home / ".gitconfig",
            xdg / "git" / "config",
            xdg / "git" / "ignore",
            Path("/etc/gitconfig"),
        ]
        try:
            excludes = self._repo.config["core.excludesFile"]
        except (KeyError, pygit2.GitError):
            excludes = None
        if excludes:
            sources.append(Path(os.path.expanduser(str(excludes))))
        return sources

    def _fsmonitor(self) -> bool:
        """True when ``core.fsmonitor`` names git's built-in daemon or a hook."""
        config = self._repo.config
        if "core.fsmonitor" not in config:
            return False
        value = str(config["core.fsmonitor"]).strip().lower()
        return value not in ("", "false", "no", "off", "0")

    def _status_worktree_snapshot(self) -> dict[str, FileEntry]:
        """The index as libgit2 reads it, overlaid with what its status says differs."""
        try:
            index = self._repo.index
            index.read()
        except pygit2.GitError as exc:
            if "sdir" in str(exc):  # a sparse index: libgit2 cannot read it, git can
                return self._git_worktree_snapshot()
            raise InputError(
                f"{self.git_dir / 'index'}: cannot read the index ({exc})",
                hint="run `git status` to check the repository",
            ) from None
        files = {e.path: FileEntry(e.mode, str(e.id)) for e in index}
        status_flags = pygit2.enums.FileStatus
        for path, flags in self._status().items():
            if flags & (status_flags.WT_DELETED | status_flags.WT_MODIFIED) and _skips_worktree(
                index, path
            ):
                continue
            if flags & status_flags.WT_DELETED or (
                flags & status_flags.INDEX_DELETED and not flags & status_flags.WT_NEW
            ):
                files.pop(path, None)
            elif flags & (
                status_flags.WT_NEW
                | status_flags.WT_MODIFIED
                | status_flags.WT_TYPECHANGE
                | status_flags.CONFLICTED
            ):
                self._rehash(files, path)
        _check_names(files)
        return files

    def _git_worktree_snapshot(self) -> dict[str, FileEntry]:
        """The worktree as git itself lists it, for an index libgit2 cannot read (a
        sparse index, whose folder entries stand for whole skip-worktree trees).

        ``ls-files`` expands the index to files; ``status`` names what differs on disk
        (it never reports skip-worktree files), and only those are hashed.
        """
        files: dict[str, FileEntry] = {}
        for record in self._git("ls-files", "-z", "--stage").split(b"\0"):
            if record:
                meta, _, name = record.partition(b"\t")
                mode, oid, _stage = meta.split(b" ")
                files[name.decode(errors="surrogateescape")] = FileEntry(int(mode, 8), oid.decode())
        found = self._git_status()
        for path in found.gone:
            files.pop(path, None)
        for path in sorted(found.rehash):
            self._rehash(files, path)
        _check_names(files)
        return files

    def _git_status(self) -> Suspects:
        """What ``git status`` says differs on disk: files to hash again (modified,
        conflicted, untracked) and files gone. git uses what libgit2 cannot: its
        fsmonitor and untracked cache, and a sparse index."""
        from graphkit.repo.dirty import Suspects

        found = Suspects(set(), set())
        status = self._git(
            "status", "--porcelain=v2", "-z", "--untracked-files=all", "--no-renames"
        )
        for record in status.split(b"\0"):
            kind, _, rest = record.decode(errors="surrogateescape").partition(" ")
            if kind == "1":  # changed: XY sub mH mI mW hH hI path
                fields = rest.split(" ", 7)
                path, worktree = fields[7], fields[0][1]
                if worktree == "D" or fields[0][0] == "D":
                    found.gone.add(path)
                elif worktree != ".":
                    found.rehash.add(path)
            elif kind == "u":  # unmerged: XY sub m1 m2 m3 mW h1 h2 h3 path
                found.rehash.add(rest.split(" ", 9)[9])
            elif kind == "?":
                found.rehash.add(rest)
        return found

    def _rehash(self, files: dict[str, FileEntry], path: str) -> None:
        """Put ``path`` in ``files`` as it is on disk now, or drop it when it is gone."""
        entry = self._hashed_entry(path, files.get(path))
        if entry is None:
            files.pop(path, None)
            return
        files[path] = entry

    def _hashed_entry(self, path: str, known: FileEntry | None) -> FileEntry | None:
        """``path`` as it is on disk now (``known``: its index entry), None when it is
        gone; the blob is remembered as hashed here (not read from the object store)."""
        entry = self._hash_from_disk(path, known)
        if entry is not None and entry.mode != MODE_SUBMODULE:
            self._hashed.add(entry.oid)
        return entry

    def _git(self, *args: str) -> bytes:
        """Run git in the worktree and return its output; a failure is an InputError
        holding git's last line. No prompt may wait for a password nobody will type."""
        import subprocess  # git runs only in a partial clone or a sparse index

        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
        try:
            command = ["git", *args]
            done = subprocess.run(
                command, cwd=self.root, env=env, capture_output=True, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            raise InputError(f"cannot run git: {exc}") from None
        if done.returncode != 0:
            why = done.stderr.decode(errors="replace").strip().splitlines()
            raise InputError(why[-1] if why else f"git exited {done.returncode}")
        return done.stdout

    def _status(self) -> dict[str, int]:
        """``git status`` with every untracked file listed, or an InputError saying why not."""
        try:
            return dict(self._repo.status(untracked_files="all"))
        except pygit2.GitError as exc:
            deep = self._too_deep()
            if deep is None:
                raise InputError(f"git status failed: {exc}") from None
            raise InputError(
                f"folder nested deeper than {_MAX_NESTING} levels: git cannot list its files",
                path=deep,
                hint="remove it or add it to .gitignore",
            ) from None

    def _too_deep(self) -> str | None:
        """The first folder of the worktree (ignored ones excepted) nested past the limit
        libgit2 lists untracked files to."""
        stack = [("", 0)]
        while stack:
            folder, depth = stack.pop()
            if depth > _MAX_NESTING:
                return folder
            try:
                children = list(os.scandir(self.root / folder))
            except OSError:
                continue
            for child in children:
                path = f"{folder}/{child.name}" if folder else child.name
                if child.name == ".git" or not child.is_dir(follow_symlinks=False):
                    continue
                if not self._repo.path_is_ignored(path):
                    stack.append((path, depth + 1))
        return None

    def _hash_from_disk(self, path: str, known: FileEntry | None) -> FileEntry | None:
        full = self.root / path
        try:
            info = full.lstat()
        except FileNotFoundError:
            return None
        if known is not None and known.mode == MODE_SUBMODULE:
            if not os.path.lexists(full / ".git"):
                return known  # not checked out: git keeps what the index says
            try:
                return FileEntry(MODE_SUBMODULE, str(pygit2.Repository(str(full)).head.target))
            except (pygit2.GitError, KeyError):
                return known
        if stat.S_ISLNK(info.st_mode):
            return FileEntry(MODE_LINK, str(pygit2.hash(_readlink(full))))
        if not stat.S_ISREG(info.st_mode):
            return None
        mode = MODE_EXEC if info.st_mode & stat.S_IXUSR else MODE_FILE
        return FileEntry(mode, str(pygit2.hashfile(str(full))))


def _skips_worktree(index: pygit2.Index, path: str) -> bool:
    """True for a file git leaves out of the worktree (sparse checkout, skip-worktree).

    pygit2 does not expose an index entry's extended flags, so this reads libgit2's
    entry through pygit2's own cffi handle; libgit2's status ignores the flag.
    """
    from pygit2.ffi import C, ffi

    entry = C.git_index_get_bypath(index._index, path.encode(), 0)
    return bool(entry != ffi.NULL and entry.flags_extended & _SKIP_WORKTREE)


def _promisor_remote(repo: pygit2.Repository) -> str | None:
    """The remote a partial clone fetches its missing objects from, or None."""
    config = repo.config
    if "extensions.partialclone" in config:
        return str(config["extensions.partialclone"])
    for remote in repo.remotes:
        key = f"remote.{remote.name}.promisor"
        if key in config and config.get_bool(key):
            return str(remote.name)
    return None


# libgit2 refuses to list untracked files in folders nested deeper than this.
_MAX_NESTING = 100


def _readlink(full: Path) -> bytes:
    """A symlink's target as git stores it: the raw bytes, whatever their encoding."""
    return os.readlink(os.fsencode(full))


def _utf8(path: str) -> str:
    """``path``, or an InputError when the name is not UTF-8.

    pygit2 decodes other bytes to lone surrogates; paths are text everywhere in
    graphkit (labels, globs, keys), so such a name cannot be analyzed.
    """
    if not path.isascii():
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise InputError(
                "file name is not UTF-8", path=shown, hint="rename it: graphkit reads UTF-8 paths"
            ) from None
    return path


def _check_names(files: Collection[str]) -> None:
    # All ASCII, the usual case: one C pass over the names instead of a call per name.
    if "".join(files).isascii():
        return
    for path in files:
        _utf8(path)
