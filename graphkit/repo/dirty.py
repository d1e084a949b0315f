"""The files on disk that may differ from the index: what ``git status`` finds, found
the way git finds it.

A tracked file whose stat data (mtime, ctime, size, inode, mode, owner) still match
what the index recorded when git last hashed it is unchanged: nothing is read. That
proof fails for a file modified in the same second the index was written (git's
racy-clean rule: its mtime is not older than the index), so such a file is a suspect
too, as is every file whose stat data differ. A suspect is only that: the caller
hashes it, and a file that was merely touched keeps its blob id.

Untracked files come from one listing of each folder. Ignored folders without
tracked files are not entered, as git does not enter them.
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass

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
    root: str, index: IndexFile, is_ignored: Callable[[str], bool], filemode: bool = True
) -> Suspects:
    """Paths to hash again: tracked files whose stat data do not prove them unchanged
    (modified, deleted, racily clean, conflicted, submodules) and untracked files that
    are not ignored. Entries git treats as unchanged (sparse, skip-worktree,
    assume-unchanged) are never suspects."""
    found = set(index.conflicted)
    replaced: list[str] = []  # tracked files that are folders now
    found.update(_changed(root, index, filemode, replaced))
    untracked, not_folders = _untracked(root, index, is_ignored, replaced)
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


def _untracked(
    root: str, index: IndexFile, is_ignored: Callable[[str], bool], replaced: list[str]
) -> tuple[list[str], list[str]]:
    """Files on disk the index does not hold, ignored ones left out; and the tracked
    folders that are no folders any more.

    Each folder is listed once, and only the names the index does not hold there are
    looked at (a set difference, in C). A folder without tracked files is skipped
    whole when ignored, and so is a nested repository, as git skips them.
    """
    names, subfolders = _layout(itertools.chain(index.files, index.conflicted))
    found: list[str] = []
    not_folders: list[str] = []
    stack = [("", 0), *((path, path.count("/") + 1) for path in replaced)]
    while stack:
        folder, depth = stack.pop()
        full = f"{root}/{folder}" if folder else root
        try:
            if folder in names and not stat.S_ISDIR(os.lstat(full).st_mode):
                raise NotADirectoryError  # a symlink to a folder is a file to git
            listing = os.listdir(full)
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
        for sub in subfolders.get(folder, ()):
            stack.append((sub, depth + 1))
        for name in set(listing).difference(names.get(folder, ()), (".git",)):
            path = f"{folder}/{name}" if folder else name
            try:
                is_folder = stat.S_ISDIR(os.lstat(f"{root}/{path}").st_mode)
            except OSError:
                continue  # removed since the listing
            if not is_folder:
                if not is_ignored(path):
                    found.append(path)
            elif not is_ignored(path) and not os.path.lexists(f"{root}/{path}/.git"):
                # (git lists a nested repository as one folder, never its files)
                if depth + 1 > MAX_NESTING:
                    raise InputError(
                        f"folder nested deeper than {MAX_NESTING} levels: "
                        "git cannot list its files",
                        path=path, hint="remove it or add it to .gitignore",
                    )  # fmt: skip
                stack.append((path, depth + 1))
    return found, not_folders


def _layout(paths: Iterable[str]) -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    """The folders holding ``paths``: for each, the names in it (files and folders)
    and its subfolders' paths. The root is ""."""
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
                subfolders[parent].append(child)
            folder = missing[0]
        names[folder].add(name)
    return names, subfolders
