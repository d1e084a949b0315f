"""The files on disk that may differ from the index: what ``git status`` finds, found
the way git finds it.

A tracked file whose stat data (mtime, ctime, size, inode, mode, owner) still match
what the index recorded when git last hashed it is unchanged: nothing is read. That
proof fails for a file modified in the same second the index was written (git's
racy-clean rule: its mtime is not older than the index), so such a file is a suspect
too, as is every file whose stat data differ. A suspect is only that: the caller
hashes it, and a file that was merely touched keeps its blob id.

Untracked files come from one listing of each folder. Ignored folders without
tracked files are not entered, as git does not enter them. A folder whose modification
time has not changed since the last walk is not listed again (``Listings``).
"""

from __future__ import annotations

import array
import bisect
import hashlib
import itertools
import os
import pickle
import stat
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from graphkit.errors import InputError
from graphkit.repo.index import STAT, IndexFile, Stat, root_tree

MODE_FILE, MODE_EXEC, MODE_LINK, MODE_SUBMODULE = 0o100644, 0o100755, 0o120000, 0o160000
_32_BITS = 0xFFFFFFFF
_BILLION = 1_000_000_000

# libgit2 refuses to list untracked files in folders nested deeper than this; the same
# limit here keeps the answer what it was, and paths short of the OS limit.
MAX_NESTING = 100


@dataclass(frozen=True)
class Suspects:
    """What the disk says may differ from the index: paths to hash again, and tracked
    paths that are gone because a folder on their way is no folder any more (a file or
    a symlink, which git never follows)."""

    rehash: set[str]
    gone: set[str]


def suspects(
    root: str,
    index: IndexFile,
    is_ignored: Callable[[str], bool],
    filemode: bool = True,
    memo: Path | None = None,
    ignore_sources: Iterable[Path] = (),
) -> Suspects:
    """Paths to hash again: tracked files whose stat data do not prove them unchanged
    (modified, deleted, racily clean, conflicted, submodules) and untracked files that
    are not ignored. Entries git treats as unchanged (sparse, skip-worktree,
    assume-unchanged) are never suspects.

    ``memo`` is a file where the folder listings are kept for the next call (see
    ``Listings``); ``ignore_sources`` are the files besides ``.gitignore`` files that
    say what is ignored (info/exclude, core.excludesFile, the git config)."""
    found = set(index.conflicted)
    replaced: list[str] = []  # tracked files that are folders now
    found.update(_changed(root, index, filemode, replaced))
    # The index's paths are sorted already (read_index checks), as text too when every
    # name is UTF-8: no sort of half a million paths.
    files = index.files
    plain = files.paths if index.utf8 and not index.conflicted else None
    tracked = plain or sorted(itertools.chain(files, index.conflicted))
    key: bytes | None = None
    # A .gitignore that differs from its index entry (or may: racily clean) changes what
    # is ignored without any folder's listing changing: list every folder then.
    if memo is not None and not any(_is_gitignore(path) for path in found):
        key = _listings_key(tracked, index, ignore_sources)
    previous = _load(memo, key) if memo is not None and key is not None else None
    walk = _Walk(root, tracked, is_ignored)
    if previous is not None:
        walk.again(previous)
        if walk.untracked_gitignore:  # its rules may have changed what others ignore
            walk, previous = _Walk(root, tracked, is_ignored), None
    if previous is None:
        walk.everything([("", 0, _TRACKED)], _layout(tracked))
    # A tracked file that is a folder now: walked each time (rare), never kept.
    replacing = _Walk(root, tracked, is_ignored)
    replacing.everything([(path, path.count("/") + 1, _REPLACED) for path in replaced], None)
    if memo is not None and key is not None:
        if walk.untracked_gitignore:
            _save(memo, None)
        else:
            listings = walk.listings(key)
            if previous is None or listings != previous:
                _save(memo, listings)
    untracked = walk.found + replacing.found
    not_folders = walk.not_folders + replacing.not_folders
    found.update(untracked)
    gone: set[str] = set()
    if not_folders:
        prefixes = tuple(f"{folder}/" for folder in not_folders)
        gone = {path for path in index.files if path.startswith(prefixes)}
    return Suspects(found - gone, gone)


# Below this many paths this process makes the lstat calls; above, one process per core
# (at most _WORKERS) makes them for a slice each. The system time of lstat is most of a
# sweep's cost on a VM (4 µs a call here): two cores halve it when both are free.
# Forked processes, not threads: lstat releases the GIL, but the Python between two
# calls needs it, and two threads handing it back and forth 100,000 times cost a
# third more CPU and saved no time on a loaded machine (20,000 packages).
_PARALLEL_FROM = 4096
_WORKERS = 2

T = TypeVar("T")


def _in_parallel(count: int, run: Callable[[int, int], T]) -> list[T]:
    """``[run(start, stop), ...]`` over consecutive slices of ``range(count)``, in
    order: the first slice here, each other in a forked process when ``count`` is large
    enough (see _PARALLEL_FROM). A slice whose worker cannot be started, or fails, is
    done here."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    workers = min(cores, _WORKERS)
    if count < _PARALLEL_FROM or workers < 2 or sys.platform != "linux":
        return [run(0, count)]
    step = -(-count // workers)
    slices = [(start, min(start + step, count)) for start in range(0, count, step)]
    children: dict[int, tuple[int, int]] = {}  # slice start -> (pid, pipe)
    for start, stop in slices[1:]:
        started = _fork(run, start, stop)
        if started is not None:
            children[start] = started
    results: list[T] = []
    try:
        for start, stop in slices:
            if start not in children:
                results.append(run(start, stop))
                continue
            pid, read_end = children.pop(start)
            with os.fdopen(read_end, "rb") as pipe:
                data = pipe.read()
            _, status = os.waitpid(pid, 0)
            # The worker's own pickle, through a pipe only it and this process hold.
            results.append(pickle.loads(data) if status == 0 and data else run(start, stop))
    finally:
        for pid, read_end in children.values():  # left by an exception: not waited for
            os.close(read_end)
            os.waitpid(pid, 0)
    return results


def _fork(run: Callable[[int, int], T], start: int, stop: int) -> tuple[int, int] | None:
    """A forked worker computing ``run(start, stop)`` into a pipe: (its pid, the pipe's
    read end), or None when none can be started (no processes or files left)."""
    try:
        read_end, write_end = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:  # the worker: its slice's result into the pipe, then gone at once
        code = 1
        try:
            os.close(read_end)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(pickle.dumps(run(start, stop), protocol=5))
            code = 0
        finally:
            os._exit(code)  # no cleanup of the parent's state: it is the parent's
    os.close(write_end)
    return pid, read_end


def _changed(root: str, index: IndexFile, filemode: bool, replaced: list[str]) -> list[str]:
    # Whole seconds: git without USE_NSEC stores no ns. An entry whose mtime reaches the
    # second the index was written in is racily clean.
    racy_ns = index.mtime_ns // _BILLION * _BILLION
    prefix = f"{root}/"
    unchanged = index.unchanged
    # st_mode -> git mode, filled as modes are met (a handful in a repository); with
    # core.filemode off the git mode depends on the index's too, and none is kept.
    modes: dict[int, int] = {}
    paths, stats, width = index.files.paths, index.stats, STAT.size

    def compare(start: int, stop: int) -> tuple[list[str], list[str]]:
        lstat, pack, mode_of = os.lstat, STAT.pack, modes.get
        dirty: list[str] = []
        folders: list[str] = []  # tracked files that are folders now
        for at in range(start, stop):
            path = paths[at]
            if unchanged and path in unchanged:
                continue
            try:
                info = lstat(prefix + path)
            except OSError:
                dirty.append(path)  # gone, or a folder on its way is now a file
                continue
            # The common case in one comparison: every field packed as the index's are
            # (see index.STAT), and not racily clean. Else judged field by field.
            mtime = info.st_mtime_ns
            if mtime < racy_ns and stats[at * width : (at + 1) * width] == pack(
                mtime,
                info.st_ctime_ns,
                info.st_ino,
                info.st_size,
                mode_of(info.st_mode, 0),
                info.st_uid,
                info.st_gid,
            ):
                continue
            if _differs(info, index.stat(at), racy_ns, filemode, modes):
                dirty.append(path)
                if stat.S_ISDIR(info.st_mode):
                    folders.append(path)
        return dirty, folders

    found: list[str] = []
    for dirty, folders in _in_parallel(len(paths), compare):  # in the index's order
        found.extend(dirty)
        replaced.extend(folders)
    return found


def _differs(
    info: os.stat_result, recorded: Stat, racy_ns: int, filemode: bool, modes: dict[int, int]
) -> bool:
    """True when ``info`` does not prove the entry unchanged: git's ``ie_match_stat``
    (what git compares, each field truncated to the 32 bits the index keeps)."""
    m_ns_total, c_ns_total, ino, size, mode, uid, gid = recorded
    if mode == MODE_SUBMODULE:  # its "content" is the checked-out commit: always ask
        return True
    m_s, m_ns = divmod(m_ns_total, _BILLION)
    c_s, c_ns = divmod(c_ns_total, _BILLION)
    disk_m_s, disk_m_ns = divmod(info.st_mtime_ns, _BILLION)
    disk_c_s, disk_c_ns = divmod(info.st_ctime_ns, _BILLION)
    disk_mode = _mode(info.st_mode, mode, filemode)
    if filemode:
        modes[info.st_mode] = disk_mode
    return bool(
        m_ns_total >= racy_ns
        or disk_m_s & _32_BITS != m_s
        or disk_c_s & _32_BITS != c_s
        # An index written without nanoseconds records 0: compare the seconds only.
        or (m_ns and disk_m_ns != m_ns)
        or (c_ns and disk_c_ns != c_ns)
        or info.st_size & _32_BITS != size
        or info.st_ino & _32_BITS != ino
        or info.st_uid & _32_BITS != uid
        or info.st_gid & _32_BITS != gid
        or disk_mode != mode
    )


def _mode(st_mode: int, recorded: int, filemode: bool) -> int:
    """The git mode of a file on disk; without core.filemode the exec bit is the index's."""
    if stat.S_ISLNK(st_mode):
        return MODE_LINK
    if not stat.S_ISREG(st_mode):
        return 0  # a folder, a fifo...: never what the index says
    if not filemode:
        return recorded if recorded in (MODE_FILE, MODE_EXEC) else MODE_FILE
    return MODE_EXEC if st_mode & stat.S_IXUSR else MODE_FILE


# A folder whose modification time is this close to the walk's start may change again
# within the same timestamp (file systems stamp with a coarse clock, some to 1 or 2 s):
# it is listed, and its time not kept.
_RACY_NS = 3 * _BILLION
_NOT_KEPT = -1

LISTINGS_FORMAT = 2


@dataclass(frozen=True)
class Listings:
    """What a walk for untracked files found, kept for the next walk, as git's untracked
    cache keeps it: creating, removing or renaming anything in a folder updates its
    modification time, so a folder whose time is unchanged holds the same names and is
    not listed again (one ``lstat`` instead of a listing and an ``lstat`` of each new
    name). ``key`` names what else the answer depends on: the tracked paths and every
    source of ignore rules.

    ``folders`` are the folders walked, each after its parent, ``times`` their
    modification times (an ``array("q")``'s bytes; -1 where not kept), and ``untracked``
    the untracked folders walked and the untracked files that are not ignored, by folder,
    where there are any. Flat, so that reading it back builds few objects."""

    key: bytes
    folders: list[str]
    times: bytes
    untracked: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]


# _REPLACED: a tracked file that is a folder now; _GONE: a tracked folder below one that
# is gone or no folder any more (noted, not looked at: git never follows a symlink).
_TRACKED, _UNTRACKED, _REPLACED, _GONE = 0, 1, 2, 3


class _Walk:
    """One walk for untracked files: what it found, and what it keeps for the next."""

    def __init__(self, root: str, tracked: list[str], is_ignored: Callable[[str], bool]) -> None:
        self.root = root
        self.tracked = tracked
        self.is_ignored = is_ignored
        self.found: list[str] = []
        self.not_folders: list[str] = []
        self.folders: list[str] = []
        self.times = array.array("q")
        self.untracked: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self.untracked_gitignore = False
        self.racy_from = time.time_ns() - _RACY_NS

    def status(
        self, folder: str, seen: os.stat_result | OSError | None = None
    ) -> os.stat_result | None:
        """The folder's stat data (``seen``: as an earlier ``lstat`` found them); None
        when it is gone or is no folder any more (then noted, as git notes a tracked
        folder replaced by a file or a symlink)."""
        try:
            if seen is None:
                info = os.lstat(f"{self.root}/{folder}" if folder else self.root)
            elif isinstance(seen, OSError):
                raise seen
            else:
                info = seen
        except (FileNotFoundError, NotADirectoryError):
            return None  # a tracked folder removed, or a folder on its way is a file now
        except OSError as exc:
            raise _unlistable(folder, exc) from None
        if not stat.S_ISDIR(info.st_mode):  # a symlink to a folder is a file to git
            self.not_folders.append(folder)
            if not self.is_ignored(folder):
                self.found.append(folder)
            return None
        return info

    def read(
        self, folder: str, kind: int, names: Iterable[str], info: os.stat_result
    ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """List ``folder``: its untracked folders to walk and its untracked files that
        are not ignored (``names`` are the names the index holds there). None for a
        nested repository, which git lists as one folder, never its files."""
        full = f"{self.root}/{folder}" if folder else self.root
        try:
            listing = os.listdir(full)
        except FileNotFoundError:
            return None  # removed since its stat
        except OSError as exc:
            raise _unlistable(folder, exc) from None
        if kind == _UNTRACKED and ".git" in listing:
            self.record(folder, info, ((), ()))  # kept: listed again once its .git goes
            return None
        prefix = f"{folder}/" if folder else ""
        folders: list[str] = []
        files: list[str] = []
        for name in set(listing).difference(names, (".git",)):
            path = f"{prefix}{name}"
            try:
                is_folder = stat.S_ISDIR(os.lstat(f"{self.root}/{path}").st_mode)
            except OSError:
                continue  # removed since the listing
            if name == ".gitignore":
                self.untracked_gitignore = True  # its rules change with no folder's time
            if not self.is_ignored(path):
                (folders if is_folder else files).append(name)
        return self.record(folder, info, (tuple(sorted(folders)), tuple(sorted(files))))

    def record(
        self,
        folder: str,
        info: os.stat_result | None,
        untracked: tuple[tuple[str, ...], tuple[str, ...]] = ((), ()),
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Note what ``folder`` holds for the next walk; every tracked folder is noted,
        gone or not (``info`` None: looked at again next time), so that a walk that
        lists only some folders still reaches every tracked one."""
        mtime = info.st_mtime_ns if info is not None else _NOT_KEPT
        self.folders.append(folder)
        self.times.append(mtime if mtime < self.racy_from else _NOT_KEPT)
        if untracked[0] or untracked[1]:
            self.untracked[folder] = untracked
            prefix = f"{folder}/" if folder else ""
            self.found.extend(f"{prefix}{name}" for name in untracked[1])
        return untracked

    def everything(self, start: list[tuple[str, int, int]], layout: _Layout | None) -> None:
        """Walk from ``start`` ((folder, depth, kind) each), listing every folder."""
        stack: list[tuple[str, int, int]] = list(start)
        while stack:
            folder, depth, kind = stack.pop()
            info = self.status(folder) if kind != _GONE else None
            names: Iterable[str] = ()
            subs: Iterable[str] = ()
            if kind in (_TRACKED, _GONE) and layout is not None:
                names, subs = layout[0].get(folder, ()), layout[1].get(folder, ())
            prefix = f"{folder}/" if folder else ""
            if info is None:
                if kind in (_TRACKED, _GONE):  # and the tracked folders below it
                    self.record(folder, None)
                    stack.extend((f"{prefix}{name}", depth + 1, _GONE) for name in subs)
                continue
            listed = self.read(folder, kind, names, info)
            if listed is None:
                continue
            stack.extend((f"{prefix}{name}", depth + 1, _TRACKED) for name in subs)
            for name in listed[0]:
                stack.append((_deeper(f"{prefix}{name}", depth), depth + 1, _UNTRACKED))

    def again(self, previous: Listings) -> None:
        """Walk the folders ``previous`` walked, listing only those whose time changed
        (and untracked folders new in them)."""
        dead: set[str] = set()  # folders gone, or no longer walked: and all below them
        times = array.array("q")
        times.frombytes(previous.times)
        before = previous.untracked
        folders = previous.folders
        seen = self.unchanged(folders, times)
        if seen.count(None) == len(seen) and (not times or max(times) < self.racy_from):
            # No folder changed (the usual case): what the loop below would rebuild, one
            # folder at a time (0.1 s at 20,000 packages), is what the last walk kept.
            self.folders, self.times = folders, times
            for folder, kept_names in before.items():
                if kept_names[0] or kept_names[1]:
                    self.untracked[folder] = kept_names
                    prefix = f"{folder}/" if folder else ""
                    self.found.extend(f"{prefix}{name}" for name in kept_names[1])
            return
        found, record_unchanged = self.found, self.folders.append
        keep_time, racy_from = self.times.append, self.racy_from
        for folder, mtime, what in zip(folders, times, seen, strict=True):
            gone = bool(dead) and folder.rpartition("/")[0] in dead
            if what is None and not gone:  # a folder, its time unchanged: as last time
                record_unchanged(folder)
                keep_time(mtime if mtime < racy_from else _NOT_KEPT)
                kept = before.get(folder)
                if kept is not None and (kept[0] or kept[1]):
                    self.untracked[folder] = kept
                    prefix = f"{folder}/" if folder else ""
                    found.extend(f"{prefix}{name}" for name in kept[1])
                continue
            info = self.status(folder, what) if not gone else None
            if info is None:
                dead.add(folder)
                if _holds_tracked(self.tracked, folder):  # an untracked one is not walked
                    self.record(folder, None)
                continue
            if info.st_mtime_ns == mtime:
                self.record(folder, info, before.get(folder, ((), ())))
                continue
            prefix = f"{folder}/" if folder else ""
            names = _tracked_in(self.tracked, prefix)
            kind = _TRACKED if names or not folder else _UNTRACKED
            listed = self.read(folder, kind, names, info)
            if listed is None:
                dead.add(folder)
                continue
            walked = set(before.get(folder, ((), ()))[0])
            dead.update(f"{prefix}{name}" for name in walked.difference(listed[0]))
            depth = folder.count("/") + 1 if folder else 0
            self.everything(
                [
                    (_deeper(f"{prefix}{name}", depth), depth + 1, _UNTRACKED)
                    for name in listed[0]
                    if name not in walked
                ],
                None,
            )

    def unchanged(
        self, folders: list[str], times: array.array[int]
    ) -> list[os.stat_result | OSError | None]:
        """For each folder: None when it is still a folder with the modification time
        kept for it, else what ``lstat`` said (its stat data, or the error). One
        ``lstat`` a folder, made in parallel (see ``_in_parallel``); what they found is
        judged in the walk's order by ``again``."""
        root = self.root
        is_folder = stat.S_ISDIR

        def look(start: int, stop: int) -> list[os.stat_result | OSError | None]:
            lstat = os.lstat
            seen: list[os.stat_result | OSError | None] = [None] * (stop - start)
            for at in range(start, stop):
                folder = folders[at]
                try:
                    info = lstat(f"{root}/{folder}" if folder else root)
                except OSError as exc:
                    seen[at - start] = exc
                    continue
                kept = times[at]
                if info.st_mtime_ns != kept or kept == _NOT_KEPT or not is_folder(info.st_mode):
                    seen[at - start] = info
            return seen

        return [what for part in _in_parallel(len(folders), look) for what in part]

    def listings(self, key: bytes) -> Listings:
        return Listings(key, self.folders, self.times.tobytes(), self.untracked)


_Layout = tuple[dict[str, set[str]], dict[str, tuple[str, ...]]]


def _deeper(path: str, depth: int) -> str:
    """``path``, an untracked folder one level below ``depth``, unless that is too deep."""
    if depth + 1 > MAX_NESTING:
        raise InputError(
            f"folder nested deeper than {MAX_NESTING} levels: git cannot list its files",
            path=path, hint="remove it or add it to .gitignore",
        )  # fmt: skip
    return path


def _unlistable(folder: str, exc: OSError) -> InputError:
    return InputError(
        f"cannot list folder: {exc.strerror}", path=folder or ".",
        hint="fix its permissions, or add it to .gitignore",
    )  # fmt: skip


def _holds_tracked(tracked: list[str], folder: str) -> bool:
    """True when the index holds a file below ``folder``."""
    prefix = f"{folder}/"
    at = bisect.bisect_left(tracked, prefix)
    return at < len(tracked) and tracked[at].startswith(prefix)


def _tracked_in(tracked: list[str], prefix: str) -> set[str]:
    """The names the index holds in the folder ``prefix`` (files and folders), from the
    sorted tracked paths: one bisection per child folder."""
    names: set[str] = set()
    at = bisect.bisect_left(tracked, prefix)
    # "0" is the character after "/": every path below ``prefix`` sorts before this.
    end = bisect.bisect_left(tracked, f"{prefix[:-1]}0") if prefix else len(tracked)
    while at < end:
        name, slash, _ = tracked[at][len(prefix) :].partition("/")
        names.add(name)
        at = bisect.bisect_left(tracked, f"{prefix}{name}0", at, end) if slash else at + 1
    return names


def _is_gitignore(path: str) -> bool:
    return path == ".gitignore" or path.endswith("/.gitignore")


def _listings_key(tracked: list[str], index: IndexFile, ignore_sources: Iterable[Path]) -> bytes:
    """What the walk's answer depends on besides the folders' names: the tracked paths,
    the tracked .gitignore files (their disk copies match the index: ``suspects``
    checked), and the other ignore sources' stat data."""
    digest = hashlib.sha1(f"{LISTINGS_FORMAT}\0".encode())
    tree = root_tree(index) if not (index.conflicted or index.intent_to_add) else None
    if tree is not None:
        # The tree the index would commit names every tracked path and each .gitignore's
        # blob: no pass over half a million paths (0.25 s at 100,000 packages).
        digest.update(f"tree\0{tree}".encode())
    else:
        digest.update(b"paths\0")
        digest.update("\0".join(tracked).encode("utf-8", "surrogateescape"))
        for path in tracked:
            if _is_gitignore(path) and path in index.files:
                entry = index.files[path]
                digest.update(f"\0{path}\0{entry.oid}".encode("utf-8", "surrogateescape"))
    for source in ignore_sources:
        try:
            info = os.stat(source)
            seen = f"{info.st_mtime_ns} {info.st_ctime_ns} {info.st_size} {info.st_ino}"
        except OSError:
            seen = "-"
        digest.update(f"\0{source}\0{seen}".encode("utf-8", "surrogateescape"))
    return digest.digest()


def _load(memo: Path, key: bytes) -> Listings | None:
    """What the last walk recorded, if it recorded it under ``key``. The file is below
    .git, written by graphkit alone; anything unexpected in it is a miss."""
    try:
        found = pickle.loads(memo.read_bytes())
    except Exception:
        return None
    if not (isinstance(found, tuple) and len(found) == 5 and found[:2] == (LISTINGS_FORMAT, key)):
        return None
    _, _, folders, times, untracked = found
    if not (
        isinstance(folders, list)
        and isinstance(times, bytes)
        and isinstance(untracked, dict)
        and len(times) == 8 * len(folders)
    ):
        return None
    return Listings(key, folders, times, untracked)


def _save(memo: Path, listings: Listings | None) -> None:
    """Keep ``listings`` for the next walk (None: forget the last); a memo that cannot
    be written only makes the next walk slower."""
    try:
        if listings is None:
            memo.unlink(missing_ok=True)
            return
        memo.parent.mkdir(parents=True, exist_ok=True)
        temporary = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
        kept = (LISTINGS_FORMAT, listings.key, listings.folders, listings.times, listings.untracked)
        temporary.write_bytes(pickle.dumps(kept, protocol=5))
        os.replace(temporary, memo)
    except OSError:
        return


def _layout(paths: Iterable[str]) -> tuple[dict[str, set[str]], dict[str, tuple[str, ...]]]:
    """The folders holding ``paths``: for each, the names in it (files and folders)
    and its subfolders' names. The root is ""."""
    names: dict[str, set[str]] = {"": set()}
    subfolders: dict[str, list[str]] = {"": []}
    for path in paths:
        folder, _, name = path.rpartition("/")
        if folder not in names:
            missing = []
            while folder not in names:
                missing.append(folder)
                folder = folder.rpartition("/")[0]
            for child in reversed(missing):
                parent, _, base = child.rpartition("/")
                names[child], subfolders[child] = set(), []
                names[parent].add(base)
                subfolders[parent].append(base)
            folder = missing[0]
        names[folder].add(name)
    return names, {folder: tuple(subs) for folder, subs in subfolders.items()}
