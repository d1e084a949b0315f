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
    walk = _untracked(root, tracked, index, is_ignored, replaced, previous)
    if walk is None:  # an untracked .gitignore in a folder read from the memo: read them all
        walk = _untracked(root, tracked, index, is_ignored, replaced, None)
        key = None
    assert walk is not None
    untracked, not_folders, listed = walk
    if memo is not None:
        if key is not None and listed is not None:
            if listed != previous:
                _save(memo, Listings(key, listed))
        elif previous is not None:
            _save(memo, None)
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
# it is listed, and not kept.
_RACY_NS = 3 * _BILLION

# (modification time in ns, tracked subfolders, untracked subfolders that are walked,
# untracked files that are not ignored), names relative to the folder.
Listed = tuple[int, tuple[str, ...], tuple[str, ...], tuple[str, ...]]

LISTINGS_FORMAT = 1


@dataclass(frozen=True)
class Listings:
    """What a walk for untracked files found in each folder, kept for the next walk,
    as git's untracked cache keeps it: creating, removing or renaming anything in a
    folder updates its modification time, so a folder whose time is unchanged holds
    the same names and is not listed again (one ``lstat`` instead of a listing and a
    ``lstat`` of each new name). ``key`` names what else the answer depends on: the
    tracked paths and every source of ignore rules."""

    key: bytes
    folders: dict[str, Listed]


def _untracked(
    root: str,
    tracked: list[str],
    index: IndexFile,
    is_ignored: Callable[[str], bool],
    replaced: list[str],
    previous: dict[str, Listed] | None,
) -> tuple[list[str], list[str], dict[str, Listed] | None] | None:
    """Files on disk the index does not hold, ignored ones left out; the tracked
    folders that are no folders any more; and what each folder held (None when an
    untracked .gitignore makes it unfit to keep).

    Each folder is listed once, and only the names the index does not hold there are
    looked at (a set difference, in C). A folder without tracked files is skipped
    whole when ignored, and so is a nested repository, as git skips them. A folder
    whose modification time is the one ``previous`` recorded is not listed: its names
    are those recorded. None when such a walk meets an untracked .gitignore, whose
    rules may have changed what the recorded folders ignore.
    """
    layout: tuple[dict[str, set[str]], dict[str, tuple[str, ...]]] | None = None
    if previous is None:
        layout = _layout(tracked)
    found: list[str] = []
    not_folders: list[str] = []
    listed: dict[str, Listed] = {}
    keep = True
    racy_from = time.time_ns() - _RACY_NS
    lstat = os.lstat
    # (folder, depth, kind); untracked folders that hold a .git are nested repositories.
    stack = [("", 0, _TRACKED), *((path, path.count("/") + 1, _REPLACED) for path in replaced)]
    while stack:
        folder, depth, kind = stack.pop()
        full = f"{root}/{folder}" if folder else root
        try:
            info = lstat(full)
            if not stat.S_ISDIR(info.st_mode):
                raise NotADirectoryError  # a symlink to a folder is a file to git
            entry = previous.get(folder) if previous is not None else None
            listing = os.listdir(full) if entry is None or entry[0] != info.st_mtime_ns else None
        except NotADirectoryError:
            not_folders.append(folder)  # a tracked folder replaced by a file or a link
            if not is_ignored(folder):
                found.append(folder)
            continue
        except FileNotFoundError:
            continue  # a tracked folder removed
        except OSError as exc:
            raise InputError(
                f"cannot list folder: {exc.strerror}", path=folder or ".",
                hint="fix its permissions, or add it to .gitignore",
            ) from None  # fmt: skip
        prefix = f"{folder}/" if folder else ""
        if listing is None:
            assert entry is not None
            _, subs, entered, files = entry
        else:
            if kind == _UNTRACKED and ".git" in listing:
                continue  # git lists a nested repository as one folder, never its files
            if kind != _TRACKED:
                names: Iterable[str] = ()
                subs = ()
            elif layout is not None:
                names, subs = layout[0].get(folder, ()), layout[1].get(folder, ())
            else:
                names, subs = _tracked_in(tracked, prefix)
            new_folders: list[str] = []
            new_files: list[str] = []
            for name in set(listing).difference(names, (".git",)):
                path = f"{prefix}{name}"
                try:
                    is_folder = stat.S_ISDIR(lstat(f"{root}/{path}").st_mode)
                except OSError:
                    continue  # removed since the listing
                if name == ".gitignore":
                    keep = False  # its rules can change with no folder's time changing
                    if previous is not None:
                        return None
                if is_ignored(path):
                    continue
                (new_folders if is_folder else new_files).append(name)
            entered, files = tuple(sorted(new_folders)), tuple(sorted(new_files))
        if info.st_mtime_ns < racy_from:
            listed[folder] = (info.st_mtime_ns, subs, entered, files)
        found.extend(f"{prefix}{name}" for name in files)
        stack.extend((f"{prefix}{name}", depth + 1, _TRACKED) for name in subs)
        for name in entered:
            if depth + 1 > MAX_NESTING:
                raise InputError(
                    f"folder nested deeper than {MAX_NESTING} levels: git cannot list its files",
                    path=f"{prefix}{name}", hint="remove it or add it to .gitignore",
                )  # fmt: skip
            stack.append((f"{prefix}{name}", depth + 1, _UNTRACKED))
    return found, not_folders, listed if keep else None


_TRACKED, _UNTRACKED, _REPLACED = 0, 1, 2  # a tracked file that is a folder now


def _tracked_in(tracked: list[str], prefix: str) -> tuple[set[str], tuple[str, ...]]:
    """The names the index holds in the folder ``prefix`` (files and folders) and its
    subfolders, from the sorted tracked paths: one bisection per child folder."""
    names: set[str] = set()
    folders: list[str] = []
    at = bisect.bisect_left(tracked, prefix)
    # "0" is the character after "/": every path below ``prefix`` sorts before this.
    end = bisect.bisect_left(tracked, f"{prefix[:-1]}0") if prefix else len(tracked)
    while at < end:
        name, slash, _ = tracked[at][len(prefix) :].partition("/")
        names.add(name)
        if not slash:
            at += 1
            continue
        folders.append(name)
        at = bisect.bisect_left(tracked, f"{prefix}{name}0", at, end)
    return names, tuple(folders)


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


def _load(memo: Path, key: bytes) -> dict[str, Listed] | None:
    """The folders the last walk recorded, if it recorded them under ``key``. The file
    is below .git, written by graphkit alone; anything unexpected in it is a miss."""
    try:
        found = pickle.loads(memo.read_bytes())
    except Exception:
        return None
    if not (isinstance(found, tuple) and len(found) == 3 and found[:2] == (LISTINGS_FORMAT, key)):
        return None
    folders = found[2]
    return folders if isinstance(folders, dict) else None


def _save(memo: Path, listings: Listings | None) -> None:
    """Keep ``listings`` for the next walk (None: forget the last); a memo that cannot
    be written only makes the next walk slower."""
    try:
        if listings is None:
            memo.unlink(missing_ok=True)
            return
        memo.parent.mkdir(parents=True, exist_ok=True)
        temporary = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
        temporary.write_bytes(
            pickle.dumps((LISTINGS_FORMAT, listings.key, listings.folders), protocol=5)
        )
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
