"""One analysis session: its memo under .git/graphkit/ is a cache, and a damaged one is a miss."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from gitrepo import GitRepo

from graphkit.analysis.localmemo import LocalMemo
from graphkit.analysis.session import Session


def _answer(root: Path) -> tuple[list[str], list[str]]:
    """The affected labels of a one-file edit, and the graph's targets at HEAD."""
    with Session.open(root) as session:
        comparison = session.compare("HEAD", None)
        targets = sorted(str(label) for label in session.load("HEAD").graph.targets)
    return sorted(str(label) for label in comparison.affected.targets), targets


def _garbage_everywhere(memo: Path) -> None:
    for path in memo.rglob("*"):
        if path.is_file():
            path.write_bytes(b"not a database, not a pickle\n" * 8)


def _database_is_a_folder(memo: Path) -> None:
    (memo / "cache.db").unlink()
    (memo / "cache.db").mkdir()


def _memo_is_a_file(memo: Path) -> None:
    shutil.rmtree(memo)
    memo.write_bytes(b"x")


def _truncated_values(memo: Path) -> None:
    for path in memo.rglob("*.val"):
        path.write_bytes(path.read_bytes()[:10])


@pytest.mark.parametrize(
    "damage",
    [_garbage_everywhere, _database_is_a_folder, _memo_is_a_file, _truncated_values],
    ids=["garbage", "database is a folder", "memo is a file", "truncated entries"],
)
def test_damaged_memo_is_a_miss(monorepo: GitRepo, damage: Callable[[Path], None]) -> None:
    monorepo.append("libs/core/src/core/models.py", "\nEXTRA = 1\n")
    expected = _answer(monorepo.root)  # a cold run, which fills the memo
    memo = monorepo.root / ".git" / "graphkit" / "graphs"
    assert (memo / "cache.db").is_file()
    damage(memo)
    assert _answer(monorepo.root) == expected
    assert _answer(monorepo.root) == expected  # and the memo written afresh serves again


# What a warm run (graph, scan and lockfiles memoized) must not import: glob
# translation, graph algorithms, YAML, the parsers, the rules and pipeline readers, the
# import resolvers, worker pools, the cache client, content keys, the remote memo's seal,
# and diskcache (a warm run only reads the memo, and reads it without diskcache); nor,
# for a change that touches no lockfile and no manifest, the lockfiles' model and the
# members' readers; nor git's index and the worktree's stat sweep, temporary files and
# hashlib (a commit's files come from its tree); nor the scanner (the memo holds the
# deps imports add), nor, without a signing key, the remote memo. Each costs 2-6 ms
# of a 0.2 s run.
COLD_ONLY = (
    "diskcache",
    "tempfile",
    "hashlib",
    "graphkit.repo.dirty",
    "graphkit.repo.index",
    "graphkit.analysis.externals",
    "graphkit.readers.lockfiles.model",
    "graphkit.readers.manifests.members",
    "graphkit.analysis.inferred",
    "graphkit.analysis.memoremote",
    "wcmatch",
    "networkx",
    "yaml",
    "tomli",
    "multiprocessing",
    "concurrent.futures",
    "grpc",
    "rich",
    "graphkit.readers.infer.python",
    "graphkit.readers.infer.js",
    "graphkit.readers.infer.resolve",
    "graphkit.readers.rules",
    "graphkit.readers.pipelines.imported",
    "graphkit.analysis.keys",
    "graphkit.analysis.memoseal",
    "graphkit.cache.digest",
)


def test_a_warm_affected_imports_nothing_only_a_cold_run_needs(monorepo: GitRepo) -> None:
    monorepo.append("libs/core/src/core/models.py", "\n# edited\n")
    monorepo.commit("edit core")
    code = (
        "import runpy, sys\n"
        "sys.argv = ['graphkit', 'affected', '--base', 'HEAD~1', '--head', 'HEAD', "
        "'--format', 'json']\n"
        "try:\n    runpy.run_module('graphkit', run_name='__main__')\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        f"print(sorted(m for m in {COLD_ONLY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], cwd=monorepo.root, capture_output=True, text=True
        )
        for _ in range(2)
    ]
    assert [run.returncode for run in runs] == [0, 0], runs[1].stderr
    assert runs[0].stdout == runs[1].stdout
    assert runs[1].stderr.strip().splitlines()[-1] == "[]"


def _worktree(root: Path, use_memo: bool) -> tuple[list[str], list[str]]:
    """The affected labels from HEAD to the worktree, and the worktree graph's targets."""
    with Session.open(root, use_memo=use_memo) as session:
        comparison = session.compare("HEAD", None)
        targets = sorted(str(label) for label in session.load(None).graph.targets)
    return sorted(str(label) for label in comparison.affected.targets), targets


def _new_package(repo: GitRepo) -> None:
    repo.write("libs/extra/BUILD.toml", '[[target]]\nname = "extra"\nrule = "python_library"\n')
    repo.write("libs/extra/src/extra/__init__.py", "import util\n")


def _package_removed(repo: GitRepo) -> None:
    repo.delete("tools/release/BUILD.toml")


def _manifest_edited_and_staged(repo: GitRepo) -> None:
    repo.append("libs/util/BUILD.toml", '\n[[target]]\nname = "more"\nrule = "python_library"\n')
    repo.stage("libs/util/BUILD.toml")


def _config_edited(repo: GitRepo) -> None:
    repo.append("graphkit.toml", "\n# edited\n")


@pytest.mark.parametrize(
    "edit",
    [_new_package, _package_removed, _manifest_edited_and_staged, _config_edited],
    ids=["new package", "package removed", "manifest staged", "graphkit.toml edited"],
)
def test_the_worktree_graph_from_heads_kept_files_is_the_one_read_afresh(
    monorepo: GitRepo, edit: Callable[[GitRepo], None]
) -> None:
    monorepo.append("libs/core/src/core/models.py", "\nEXTRA = 1\n")
    first = _worktree(monorepo.root, use_memo=True)  # reads every path, keeps HEAD's
    import diskcache

    with diskcache.Cache(str(monorepo.root / ".git" / "graphkit" / "graphs")) as memo:
        assert any(str(key).startswith("meta:") for key in memo.iterkeys())
    assert first == _worktree(monorepo.root, use_memo=True)  # from HEAD's kept files
    edit(monorepo)
    fresh = _worktree(monorepo.root, use_memo=False)
    assert _worktree(monorepo.root, use_memo=True) == fresh
    assert _worktree(monorepo.root, use_memo=True) == fresh


def test_a_source_edit_in_the_worktree_takes_heads_graph_without_its_files(
    monorepo: GitRepo,
) -> None:
    import diskcache

    monorepo.append("libs/core/src/core/models.py", "\nEXTRA = 1\n")
    first = _worktree(monorepo.root, use_memo=True)  # HEAD analysed, its files kept
    with diskcache.Cache(str(monorepo.root / ".git" / "graphkit" / "graphs")) as memo:
        kept = [key for key in memo.iterkeys() if str(key).startswith("meta:")]
        assert kept
        for key in kept:
            del memo[key]
    monorepo.append("libs/util/src/util/strings.py", "\nMORE = 1\n")
    fresh = _worktree(monorepo.root, use_memo=False)
    assert fresh != first
    assert _worktree(monorepo.root, use_memo=True) == fresh
    # Neither HEAD's graph-defining files were needed, nor the worktree listed to find them.
    with diskcache.Cache(str(monorepo.root / ".git" / "graphkit" / "graphs")) as memo:
        assert not [key for key in memo.iterkeys() if str(key).startswith("meta:")]


def test_the_memo_reads_what_diskcache_wrote_as_diskcache_reads_it(tmp_path: Path) -> None:
    import diskcache

    folder = tmp_path / "graphs"
    values: dict[str, object] = {
        "text": "graph:0123",
        "long text": "x" * 100_000,
        "bytes": b"\x00\x01",
        "small object": {"a": (1, 2)},
        "large object": list(range(50_000)),
        "flag": True,
    }
    with diskcache.Cache(str(folder)) as cache:
        for key, value in values.items():
            cache.set(key, value)
        cache.set("file", io.BytesIO(b"pickled elsewhere" * 5000), read=True)
        stored = {key: cache.get(key) for key in [*values, "file", "absent"]}

    def stored_files() -> list[tuple[str, int]]:  # SQLite's -wal and -shm aside
        files = [p for p in folder.rglob("*") if p.is_file() and p.suffix in (".db", ".val")]
        return sorted((str(p), p.stat().st_mtime_ns) for p in files)

    before = stored_files()
    memo = LocalMemo(folder)
    try:
        assert {key: memo.get(key) for key in stored} == stored
        assert stored_files() == before  # reading wrote nothing
        assert stored["file"] == b"pickled elsewhere" * 5000
        memo.set("later", "written through diskcache")
        assert memo.get("later") == "written through diskcache"
        assert memo.get("text") == "graph:0123"
    finally:
        memo.close()
    assert LocalMemo(tmp_path / "none").get("text") is None
    assert not (tmp_path / "none").exists()  # a read creates no memo


def _inferred_entries(root: Path) -> dict[str, object]:
    import diskcache

    with diskcache.Cache(str(root / ".git" / "graphkit" / "graphs")) as memo:
        return {str(k): memo[k] for k in memo.iterkeys() if str(k).startswith("inferred:")}


def test_a_worktree_with_heads_inferred_deps_names_heads_entry(monorepo: GitRepo) -> None:
    monorepo.append("libs/core/src/core/models.py", "\nEXTRA = 1\n")  # no new import
    fresh = _worktree(monorepo.root, use_memo=False)
    assert _worktree(monorepo.root, use_memo=True) == fresh
    entries = _inferred_entries(monorepo.root)
    named = [value for value in entries.values() if isinstance(value, str)]
    assert len(named) == 1 and isinstance(entries[named[0]], tuple)  # HEAD's, held whole
    assert _worktree(monorepo.root, use_memo=True) == fresh  # read through the name
    monorepo.append("services/worker/src/worker/jobs.py", "\nimport api.handlers\n")  # a new dep
    fresh = _worktree(monorepo.root, use_memo=False)
    assert _worktree(monorepo.root, use_memo=True) == fresh
    assert _worktree(monorepo.root, use_memo=True) == fresh
    held = [value for value in _inferred_entries(monorepo.root).values()]
    assert sum(isinstance(value, tuple) for value in held) == 2
