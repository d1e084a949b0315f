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
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from graphkit.errors import InputError
from graphkit.repo.index import IndexFile

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
    tracked = sorted(itertools.chain(index.files, index.conflicted))
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


def _changed(root: str, index: IndexFile, filemode: bool, replaced: list[str]) -> list[str]:
    racy_from = index.mtime_ns // _BILLION  # whole seconds: git without USE_NSEC stores no ns
    prefix = f"{root}/"
    unchanged = index.unchanged
    lstat = os.lstat
    found: list[str] = []
    for path, (m_s, m_ns, c_s, c_ns, ino, size, mode, uid, gid) in index.stats.items():
        if path in unchanged:
            continue
        if mode == MODE_SUBMODULE:  # its "content" is the checked-out commit: always ask
            found.append(path)
            continue
        try:
            info = lstat(prefix + path)
        except OSError:
            found.append(path)  # gone, or a folder on its way is now a file
            continue
        disk_m_s, disk_m_ns = divmod(info.st_mtime_ns, _BILLION)
        disk_c_s, disk_c_ns = divmod(info.st_ctime_ns, _BILLION)
        if (
            m_s >= racy_from
            or disk_m_s & _32_BITS != m_s
            or disk_c_s & _32_BITS != c_s
            # An index written without nanoseconds records 0: compare the seconds only.
            or (m_ns and disk_m_ns != m_ns)
            or (c_ns and disk_c_ns != c_ns)
            or info.st_size & _32_BITS != size
            or info.st_ino & _32_BITS != ino
            or info.st_uid & _32_BITS != uid
            or info.st_gid & _32_BITS != gid
            or _mode(info.st_mode, mode, filemode) != mode
        ):
            found.append(path)
            if stat.S_ISDIR(info.st_mode):
                replaced.append(path)
    return found


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

    def status(self, folder: str) -> os.stat_result | None:
        """The folder's stat data; None when it is gone or is no folder any more (then
        noted, as git notes a tracked folder replaced by a file or a symlink)."""
        try:
            info = os.lstat(f"{self.root}/{folder}" if folder else self.root)
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
        for folder, mtime in zip(previous.folders, times, strict=True):
            gone = bool(dead) and folder.rpartition("/")[0] in dead
            info = self.status(folder) if not gone else None
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
    digest.update("\0".join(tracked).encode("utf-8", "surrogateescape"))
    for path in tracked:
        if _is_gitignore(path) and path in index.files:
            digest.update(f"\0{path}\0{index.files[path].oid}".encode("utf-8", "surrogateescape"))
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
