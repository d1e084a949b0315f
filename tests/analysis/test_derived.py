"""A commit without a memo of its own is derived from the last commit analysed when
only sources changed and none imports anything new: no tree listed, no file scanned
but the edited ones. Whatever path a commit takes, its graph is the one read from
scratch (``load_graph`` and ``infer_graph`` over the whole tree)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from gitrepo import GitRepo

from graphkit.analysis.graph import BuildGraph, load_graph
from graphkit.analysis.inferred import ImportScan, rescanned
from graphkit.analysis.session import Session
from graphkit.model import FileEntry
from graphkit.progress import Step
from graphkit.repo.workspace import Workspace

STRINGS = "libs/util/src/util/strings.py"


def _scratch(root: Path, commit: str) -> BuildGraph:
    """The graph of ``commit`` with the deps imports add, read from nothing."""
    from graphkit.analysis.inferred import infer_graph

    workspace = Workspace.open(root)
    snapshot = workspace.snapshot(workspace.resolve(commit))
    return infer_graph(load_graph(snapshot, workspace.read), snapshot, workspace.read)


def _steps(root: Path, base: str, head: str) -> tuple[list[str], Session]:
    """Compare ``base`` and ``head`` with the memo as it is; the progress steps seen."""
    seen: list[str] = []

    def progress(step: Step) -> None:
        if step.done == 0:
            seen.append(step.what.split(" ")[0])

    session = Session.open(root, progress=progress)
    session.compare(base, head)
    return seen, session


def _same_as_scratch(session: Session, root: Path, *commits: str) -> None:
    for commit in commits:
        graph = session.load(commit).graph
        expected = _scratch(root, commit)
        assert graph.inferred == expected.inferred, commit
        assert graph.included == expected.included, commit
        assert graph.exposed == expected.exposed, commit
        assert graph.targets.keys() == expected.targets.keys(), commit


def _body_edit(repo: GitRepo) -> None:
    repo.append(STRINGS, "\n\ndef shout(text: str) -> str:\n    return text.upper()\n")


def _new_import(repo: GitRepo) -> None:
    repo.append(STRINGS, "\nfrom core import models  # a dep util never had\n")


def _shifted_imports(repo: GitRepo) -> None:
    repo.write(STRINGS, '"""Moved down a line."""\n\n' + repo.read(STRINGS))


def _manifest_edit(repo: GitRepo) -> None:
    repo.append("libs/util/BUILD.toml", "\n# a comment changes the blob\n")


def _added_file(repo: GitRepo) -> None:
    repo.write("libs/util/src/util/extra.py", "VALUE = 1\n")


def _removed_file(repo: GitRepo) -> None:
    repo.delete("libs/util/src/util/durations.py")


def _data_edit(repo: GitRepo) -> None:
    repo.append("libs/core/data/config.json", "\n")


@pytest.mark.parametrize(
    ("edit", "derived"),
    [
        (_body_edit, {"key", "imports"}),
        # The fixture has JS: a data file could be a config some tsconfig extends.
        (_data_edit, {"key"}),
        (_new_import, {"key"}),
        (_shifted_imports, {"key"}),  # the same imports at other lines: rescanned
        (_added_file, {"key"}),
        (_removed_file, {"key"}),
        (_manifest_edit, set()),
    ],
    ids=["body", "data", "new import", "shifted", "added", "removed", "manifest"],
)
def test_a_new_commit_is_derived_only_when_nothing_it_reads_changed(
    monorepo: GitRepo, edit: Callable[[GitRepo], None], derived: set[str]
) -> None:
    base = str(monorepo.repo.head.target)
    _steps(monorepo.root, base, base)  # the base analysed: its memo is stored
    edit(monorepo)
    head = monorepo.commit("edit")
    seen, session = _steps(monorepo.root, base, head)
    with session:
        assert ("listing" not in seen) == ("key" in derived), seen
        assert ("scanning" not in seen) == ("imports" in derived), seen
        _same_as_scratch(session, monorepo.root, base, head)


def test_a_cold_run_derives_the_base_from_the_head(monorepo: GitRepo) -> None:
    base = str(monorepo.repo.head.target)
    _body_edit(monorepo)
    head = monorepo.commit("edit")
    seen, session = _steps(monorepo.root, base, head)
    with session:
        assert seen.count("listing") == 1 and seen.count("scanning") == 1, seen  # the head's
        _same_as_scratch(session, monorepo.root, base, head)


def test_a_derived_commit_starts_the_next_one(monorepo: GitRepo) -> None:
    first = str(monorepo.repo.head.target)
    _steps(monorepo.root, first, first)[1].close()
    _body_edit(monorepo)
    second = monorepo.commit("edit")
    _steps(monorepo.root, second, second)[1].close()  # derived from the first
    _new_import(monorepo)
    third = monorepo.commit("import")
    seen, session = _steps(monorepo.root, third, third)
    with session:
        assert "listing" not in seen and "scanning" in seen, seen  # from the second's scan
        _same_as_scratch(session, monorepo.root, third)


JS_FILES = {
    "package.json": '{"name": "root", "private": true, "workspaces": ["pkgs/*"]}\n',
    "tsconfig.json": '{"extends": "./tsbase", "compilerOptions": {}}\n',
    "tsbase": '{"compilerOptions": {"baseUrl": ".", "paths": {"@x/*": ["pkgs/a/src/*"]}}}\n',
    "pkgs/a/package.json": '{"name": "a", "version": "1.0.0"}\n',
    "pkgs/a/src/lib.ts": "export const one = 1;\n",
    "pkgs/b/package.json": '{"name": "b", "version": "1.0.0"}\n',
    "pkgs/b/src/lib.ts": "export const two = 2;\n",
    "pkgs/c/package.json": '{"name": "c", "version": "1.0.0"}\n',
    "pkgs/c/src/main.ts": 'import { one } from "@x/lib";\nexport const three = one + 2;\n',
}


def test_a_config_a_tsconfig_extends_is_never_taken_for_data(
    make_repo: Callable[[dict[str, str]], GitRepo],
) -> None:
    repo = make_repo(JS_FILES)
    base = str(repo.repo.head.target)
    _steps(repo.root, base, base)[1].close()
    # Whatever its name, the file a tsconfig extends steers resolution: c now imports b.
    repo.write("tsbase", JS_FILES["tsbase"].replace("pkgs/a/", "pkgs/b/"))
    head = repo.commit("paths")
    seen, session = _steps(repo.root, base, head)
    with session:
        assert "scanning" in seen, seen
        _same_as_scratch(session, repo.root, base, head)
        inferred = session.load(head).graph.inferred
        assert {str(dep) for deps in inferred.values() for dep in deps} == {"//pkgs/b:b"}


def test_rescanned_keeps_the_previous_scan_for_a_body_edit() -> None:
    from graphkit.analysis.inferred import ScannedFile
    from graphkit.readers.infer.resolve import FileImports, ImportRef

    refs = (ImportRef("os", 1, "absolute"),)
    scan = ImportScan(
        {"a.py": ScannedFile("1" * 40, "python", refs, FileImports((), ()))}, "context"
    )
    sources = {"2" * 40: b"import os\nX = 1\n", "3" * 40: b"import sys\n"}

    def read(path: str, entry: FileEntry) -> bytes:
        return sources[entry.oid]

    old = FileEntry(0o100644, "1" * 40)
    body = rescanned(scan, {"a.py": (old, FileEntry(0o100644, "2" * 40))}, read)
    assert body is not None and body.files["a.py"].oid == "2" * 40
    assert body.files["a.py"].refs == refs and body.context == "context"
    assert rescanned(scan, {"a.py": (old, FileEntry(0o100644, "3" * 40))}, read) is None
    assert rescanned(scan, {"a.py": (old, FileEntry(0o100755, "2" * 40))}, read) is None


def _large_scan() -> ImportScan:
    """A scan of three chunks (see ImportScan.__getstate__)."""
    from graphkit.analysis.inferred import _PICKLED_TOGETHER, ScannedFile
    from graphkit.readers.infer.resolve import FileImports, ImportRef

    refs = (ImportRef("os", 1, "absolute"),)
    files = {
        f"p{n:05}.py": ScannedFile(f"{n:040x}", "python", refs, FileImports((), ()))
        for n in range(2 * _PICKLED_TOGETHER + 10)
    }
    return ImportScan(files, "context")


def test_a_scan_derived_from_a_fetched_one_pickles_again_only_the_chunks_edits_touched() -> None:
    import pickle

    from graphkit.analysis.inferred import _PICKLED_TOGETHER
    from graphkit.analysis.memoseal import dump_piece, load_piece
    from graphkit.cache.digest import digest_of

    data = dump_piece(_large_scan())
    assert pickle.loads(data).pickled == {}  # read from the local memo: no bytes kept
    fetched = load_piece(data, digest_of(data))  # as a remote memo's piece is read
    assert sorted(fetched.pickled) == [0, 1, 2]
    path = f"p{_PICKLED_TOGETHER + 1:05}.py"  # in the second chunk
    old, new = FileEntry(0o100644, fetched.files[path].oid), FileEntry(0o100644, "f" * 40)
    derived = rescanned(fetched, {path: (old, new)}, lambda _p, _e: b"import os\nX = 1\n")
    assert derived is not None
    assert sorted(derived.pickled) == [0, 2]
    assert all(derived.pickled[index] is fetched.pickled[index] for index in (0, 2))
    back = pickle.loads(dump_piece(derived))
    assert list(back.files.items()) == list(derived.files.items())
    assert back.files[path].oid == "f" * 40 and back.files != fetched.files
    # Completed as it was pickled: a scan derived from this one reuses the new chunk.
    assert sorted(derived.pickled) == [0, 1, 2]
    assert pickle.loads(derived.pickled[1])[path].oid == "f" * 40


def test_chunks_of_another_size_are_read_but_not_kept() -> None:
    import pickle

    from graphkit.analysis.inferred import _PICKLED_TOGETHER, keeping_pickles

    items = list(_large_scan().files.items())
    full = _PICKLED_TOGETHER
    for bounds in (
        [(0, 10), (10, len(items))],  # written with another chunk size
        [(0, full), (full, full + 10), (full + 10, len(items))],
        [(0, full), (full - 1, 2 * full - 1), (2 * full - 1, len(items))],  # a path twice
    ):
        chunks = [pickle.dumps(dict(items[start:end])) for start, end in bounds]
        read = ImportScan.__new__(ImportScan)
        with keeping_pickles():
            read.__setstate__({"chunks": chunks, "context": "context", "warnings": ()})
        assert read.pickled == {}, bounds
        assert list(read.files.items()) == items, bounds
