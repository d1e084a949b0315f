"""Locked externals in keys: each member's own resolved tree, with its wiring."""

from __future__ import annotations

import copy
import json
import pickle
import sqlite3
from collections.abc import Callable
from typing import Any

import diskcache
from click.testing import Result
from gitrepo import GitRepo
from hypothesis import given, settings
from hypothesis import strategies as st

from graphkit import __version__
from graphkit.analysis.externals import (
    Locked,
    Pins,
    _rewired,
    changed_pins,
    difference,
    lock_key,
)
from graphkit.analysis.session import Session
from graphkit.labels import Label
from graphkit.readers.lockfiles import LOCK_FORMAT, parse_lockfile
from graphkit.readers.lockfiles.model import Lock, Resolved

Cli = Callable[..., Result]
MakeRepo = Callable[[dict[str, str]], GitRepo]

# create-t3-turbo at 9a7aeba51d, reduced: tooling/eslint links packages/api, which
# holds @babel/parser 7.28.4 through @babel/core; eslint itself reaches 7.28.4
# through @babel/template and 7.28.5 through @babel/generator.
T3_LOCK = """\
lockfileVersion: '9.0'

importers:

  .: {}

  apps/web:
    devDependencies:
      '@acme/eslint-config':
        specifier: workspace:*
        version: link:../../tooling/eslint

  packages/api:
    dependencies:
      '@babel/core':
        specifier: ^7.28.0
        version: 7.28.0

  tooling/eslint:
    dependencies:
      '@acme/api':
        specifier: workspace:*
        version: link:../../packages/api
      '@babel/generator':
        specifier: ^7.28.5
        version: 7.28.5
      '@babel/template':
        specifier: ^7.27.2
        version: 7.27.2

packages:

  '@babel/core@7.28.0':
    resolution: {integrity: sha512-core}

  '@babel/generator@7.28.5':
    resolution: {integrity: sha512-generator}

  '@babel/parser@7.28.4':
    resolution: {integrity: sha512-parser4}

  '@babel/parser@7.28.5':
    resolution: {integrity: sha512-parser5}

  '@babel/template@7.27.2':
    resolution: {integrity: sha512-template}

snapshots:

  '@babel/core@7.28.0':
    dependencies:
      '@babel/parser': 7.28.4

  '@babel/generator@7.28.5':
    dependencies:
      '@babel/parser': 7.28.5

  '@babel/parser@7.28.4': {}

  '@babel/parser@7.28.5': {}

  '@babel/template@7.27.2':
    dependencies:
      '@babel/parser': 7.28.4
"""


def t3_repo(make_repo: MakeRepo) -> GitRepo:
    return make_repo(
        {
            "package.json": json.dumps({"name": "create-t3-turbo", "private": True}),
            "pnpm-workspace.yaml": "packages:\n  - apps/*\n  - packages/*\n  - tooling/*\n",
            "apps/web/package.json": json.dumps(
                {"name": "@acme/web", "devDependencies": {"@acme/eslint-config": "workspace:*"}}
            ),
            "packages/api/package.json": json.dumps(
                {"name": "@acme/api", "dependencies": {"@babel/core": "^7.28.0"}}
            ),
            "tooling/eslint/package.json": json.dumps(
                {
                    "name": "@acme/eslint-config",
                    "dependencies": {
                        "@acme/api": "workspace:*",
                        "@babel/generator": "^7.28.5",
                        "@babel/template": "^7.27.2",
                    },
                }
            ),
            "pnpm-lock.yaml": T3_LOCK,
        }
    )


def affected(cli: Cli, repo: GitRepo) -> dict[str, Any]:
    repo.commit("edit")
    result = cli(repo.root, "affected", "--base", "HEAD~1", "--head", "HEAD", "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def test_a_package_repointed_at_another_copy_of_a_dependency_affects_its_member(
    cli: Cli, make_repo: MakeRepo
) -> None:
    repo = t3_repo(make_repo)
    # @babel/template keeps its version; pnpm re-points it from parser 7.28.4 to 7.28.5.
    # 7.28.4 is still locked for packages/api, which eslint links: a merged closure
    # would hold both versions on both sides and call the key equal.
    repo.write(
        "pnpm-lock.yaml",
        T3_LOCK.replace(
            "  '@babel/template@7.27.2':\n    dependencies:\n      '@babel/parser': 7.28.4",
            "  '@babel/template@7.27.2':\n    dependencies:\n      '@babel/parser': 7.28.5",
        ),
    )
    data = affected(cli, repo)
    # The root owns the lockfile, so its key covers the file's bytes.
    assert data["affected"] == ["//:root", "//apps/web:web", "//tooling/eslint:eslint"]
    assert data["reasons"]["//tooling/eslint:eslint"] == (
        "pnpm-lock.yaml: @babel/template 7.27.2 now depends on @babel/parser 7.28.5 (was 7.28.4)"
    )
    result = cli(repo.root, "explain", "//tooling/eslint", "--diff", "HEAD~1", "--format", "json")
    diff = json.loads(result.output)
    assert diff["same"] is False
    assert any("@babel/template 7.27.2" in d["input"] for d in diff["differences"])


def test_a_linked_package_bump_reaches_the_linker_through_its_key(
    cli: Cli, make_repo: MakeRepo
) -> None:
    repo = t3_repo(make_repo)
    repo.write("pnpm-lock.yaml", T3_LOCK.replace("sha512-core", "sha512-core-republished"))
    data = affected(cli, repo)
    assert data["affected"] == [
        "//:root",
        "//apps/web:web",
        "//packages/api:api",
        "//tooling/eslint:eslint",
    ]
    assert data["reasons"]["//tooling/eslint:eslint"] == (
        "depends on //packages/api:api "
        "(interface: pnpm-lock.yaml: @babel/core 7.28.0 integrity changed)"
    )


# withastro/astro: pnpm re-resolves a peer, and `debug` gains `supports-color`, which
# the member already had installed: its packages keep their versions, but the
# installed tree of `debug` changed.
ASTRO_BASE = """\
lockfileVersion: '9.0'

importers:

  packages/astro:
    dependencies:
      debug:
        specifier: ^4.4.1
        version: 4.4.1
      supports-color:
        specifier: ^8.1.1
        version: 8.1.1

  packages/markdown:
    dependencies:
      debug:
        specifier: ^4.4.1
        version: 4.4.1

packages:

  debug@4.4.1:
    resolution: {integrity: sha512-debug}
    peerDependencies:
      supports-color: '*'
    peerDependenciesMeta:
      supports-color:
        optional: true

  ms@2.1.3:
    resolution: {integrity: sha512-ms}

  supports-color@8.1.1:
    resolution: {integrity: sha512-supports}

snapshots:

  debug@4.4.1:
    dependencies:
      ms: 2.1.3

  ms@2.1.3: {}

  supports-color@8.1.1: {}
"""
ASTRO_HEAD = ASTRO_BASE.replace(
    "      debug:\n        specifier: ^4.4.1\n        version: 4.4.1\n      supports-color:",
    "      debug:\n        specifier: ^4.4.1\n        version: 4.4.1(supports-color@8.1.1)\n"
    "      supports-color:",
).replace(
    "snapshots:\n",
    "snapshots:\n\n  debug@4.4.1(supports-color@8.1.1):\n    dependencies:\n"
    "      ms: 2.1.3\n      supports-color: 8.1.1\n",
)


def test_a_peer_wired_into_a_package_affects_the_members_whose_tree_changed(
    cli: Cli, make_repo: MakeRepo
) -> None:
    repo = make_repo(
        {
            "package.json": json.dumps({"name": "astro-monorepo", "private": True}),
            "pnpm-workspace.yaml": "packages:\n  - packages/*\n",
            "packages/astro/package.json": json.dumps(
                {"name": "astro", "dependencies": {"debug": "^4.4.1", "supports-color": "^8.1.1"}}
            ),
            "packages/markdown/package.json": json.dumps(
                {"name": "@astrojs/markdown", "dependencies": {"debug": "^4.4.1"}}
            ),
            "pnpm-lock.yaml": ASTRO_BASE,
        }
    )
    assert ASTRO_HEAD != ASTRO_BASE
    repo.write("pnpm-lock.yaml", ASTRO_HEAD)
    data = affected(cli, repo)
    assert data["affected"] == ["//:root", "//packages/astro:astro"]
    assert data["reasons"]["//packages/astro:astro"] == (
        "pnpm-lock.yaml: debug 4.4.1 now depends on supports-color 8.1.1"
    )


FILE_DEP_LOCK = """\
{
  "name": "app",
  "lockfileVersion": 3,
  "packages": {
    "": {"name": "app", "dependencies": {"lib": "file:vendor/lib"}},
    "node_modules/lib": {"resolved": "vendor/lib", "link": true},
    "node_modules/ms": {
      "version": "2.1.3",
      "resolved": "https://registry.npmjs.org/ms/-/ms-2.1.3.tgz",
      "integrity": "sha512-ms213"
    },
    "vendor/lib": {"version": "1.0.0", "dependencies": {"ms": "^2.1.3"}}
  }
}
"""


def test_a_linked_folder_that_is_no_target_brings_its_externals(
    cli: Cli, make_repo: MakeRepo
) -> None:
    # vendor/lib has no name, so it is no package: its tree must still reach app's key.
    repo = make_repo(
        {
            "package.json": json.dumps({"name": "app", "dependencies": {"lib": "file:vendor/lib"}}),
            "vendor/lib/package.json": json.dumps({"dependencies": {"ms": "^2.1.3"}}),
            "package-lock.json": FILE_DEP_LOCK,
        }
    )
    repo.write("package-lock.json", FILE_DEP_LOCK.replace("sha512-ms213", "sha512-other"))
    data = affected(cli, repo)
    assert data["affected"] == ["//:root"]
    result = cli(repo.root, "explain", "//:root", "--format", "json")
    assert any(e.endswith("(through vendor/lib)") for e in json.loads(result.output)["externals"])


def test_the_reason_names_a_bump_before_the_packages_it_rewires() -> None:
    from graphkit.analysis.externals import Locked, difference

    old = (
        Locked("pnpm-lock.yaml", "@babel/code-frame", "7.27.1", "a", deps=("js-tokens 4.0.0",)),
        Locked("pnpm-lock.yaml", "js-tokens", "4.0.0", "b"),
    )
    new = (
        Locked("pnpm-lock.yaml", "@babel/code-frame", "7.27.1", "a", deps=("js-tokens 4.0.1",)),
        Locked("pnpm-lock.yaml", "js-tokens", "4.0.1", "c"),
    )
    assert difference(old, new) == "pnpm-lock.yaml: js-tokens 4.0.0 -> 4.0.1"
    assert difference(old[:1], new[:1]) == (
        "pnpm-lock.yaml: @babel/code-frame 7.27.1 now depends on js-tokens 4.0.1 (was 4.0.0)"
    )


def _lock_memo_key(repo: GitRepo) -> str:
    with Session.open(repo.root) as session:
        side = session.load("HEAD").side
        return f"lock:{__version__}:{LOCK_FORMAT}:" + lock_key(
            side.graph, side.snapshot, "pnpm-lock.yaml"
        )


def _never() -> Lock:
    raise AssertionError("parsed again")


def test_a_lockfile_parsed_once_is_read_from_the_memo_by_blob_id(
    cli: Cli, make_repo: MakeRepo
) -> None:
    repo = t3_repo(make_repo)
    repo.write("pnpm-lock.yaml", T3_LOCK.replace("sha512-core", "sha512-core-republished"))
    first = affected(cli, repo)  # parses both sides' lockfiles and keeps them
    with Session.open(repo.root) as session:
        for revision in ("HEAD", "HEAD~1"):
            side = session.load(revision).side
            assert side.locks is not None
            key = lock_key(side.graph, side.snapshot, "pnpm-lock.yaml")
            lock = side.locks(key, _never)
            data = repo.read("pnpm-lock.yaml") if revision == "HEAD" else T3_LOCK
            assert lock == parse_lockfile(data.encode(), "pnpm-lock.yaml")
    again = cli(repo.root, "affected", "--base", "HEAD~1", "--head", "HEAD", "--format", "json")
    assert json.loads(again.output) == first


def test_a_damaged_or_misshapen_lock_memo_entry_is_a_miss(cli: Cli, make_repo: MakeRepo) -> None:
    repo = t3_repo(make_repo)
    repo.write("pnpm-lock.yaml", T3_LOCK.replace("sha512-core", "sha512-core-republished"))
    expected = affected(cli, repo)
    key = _lock_memo_key(repo)
    memo = repo.root / ".git" / "graphkit" / "graphs"
    with sqlite3.connect(memo / "cache.db") as db:  # diskcache's index: small values inline
        changed = db.execute("UPDATE Cache SET value = ? WHERE key = ?", (b"\x80\x05damaged", key))
        assert changed.rowcount == 1
    for _ in range(2):  # damaged, then re-parsed and kept again
        result = cli(
            repo.root, "affected", "--base", "HEAD~1", "--head", "HEAD", "--format", "json"
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == expected
    with diskcache.Cache(str(memo)) as cache:
        assert isinstance(cache.get(key), Lock)
        cache.set(key, {"closure": "of another shape"})
    result = cli(repo.root, "affected", "--base", "HEAD~1", "--head", "HEAD", "--format", "json")
    assert json.loads(result.output) == expected


def test_a_yarn_v1_lock_key_names_the_member_manifests_it_reads(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "package.json": json.dumps({"name": "root", "workspaces": ["packages/*"]}),
            "packages/a/package.json": json.dumps({"name": "a", "dependencies": {"ms": "^2"}}),
            "yarn.lock": '# yarn lockfile v1\n\nms@^2:\n  version "2.1.3"\n',
        }
    )

    def key() -> str:
        with Session.open(repo.root, use_memo=False) as session:
            side = session.load("HEAD").side
            return lock_key(side.graph, side.snapshot, "yarn.lock")

    before = key()
    repo.write("packages/a/package.json", json.dumps({"name": "a", "dependencies": {"ms": "2"}}))
    repo.commit("edit a manifest only")
    assert key() != before  # yarn v1 reads the manifests: their bytes name the parse too


def test_externals_keep_lockeds_own_order() -> None:
    from graphkit.analysis.externals import _ORDER

    items = [
        Locked("b.lock", "a", "1"),
        Locked("a.lock", "z", "2", deps=("x 1",)),
        Locked("a.lock", "z", "2"),
        Locked("a.lock", "z", "10", integrity="sha"),
        Locked("a.lock", "", "oid", broken="bad"),
        Locked("a.lock", "z", "2", via="m"),
    ]
    assert sorted(items, key=_ORDER) == sorted(items)


def test_a_warm_lockfile_commit_lists_neither_tree(cli: Cli, make_repo: MakeRepo) -> None:
    repo = t3_repo(make_repo)
    repo.write("pnpm-lock.yaml", T3_LOCK.replace("sha512-core", "sha512-core-republished"))
    expected = affected(cli, repo)  # cold: fills the memo, the lockfile paths too
    with Session.open(repo.root) as session:
        comparison = session.compare("HEAD~1", "HEAD")
        assert comparison.base_side is not None
        for side in (comparison.base_side.side, comparison.head.side):
            assert side.lockfiles is not None and side.lockfiles() == ("pnpm-lock.yaml",)
            assert getattr(side.snapshot, "_all", "listed") is None  # never listed
    assert sorted(str(label) for label in comparison.affected.targets) == sorted(
        expected["affected"]
    )


# Pins whose closures are compared by identity (changed_pins) against building every
# target's externals at both ends and comparing them.
PACKAGES = [
    Resolved(name, version, integrity, deps)
    for name in ("a", "b")
    for version in ("1", "2")
    for integrity in (None, "-", "sha")
    for deps in ((), ("c 1",))
]
MEMBERS = ["", "m", "n"]


@st.composite
def locks(draw: st.DrawFn, path: str) -> Lock | Locked:
    if draw(st.integers(0, 9)) == 0:
        return Locked(path, "", "oid", broken="unparseable")
    closure = {
        member: frozenset(draw(st.lists(st.sampled_from(PACKAGES), max_size=4)))
        for member in draw(st.lists(st.sampled_from(MEMBERS), unique=True))
    }
    return Lock.of(path, "npm", closure)


@st.composite
def pins(draw: st.DrawFn) -> Pins:
    found = {path: draw(locks(path)) for path in draw(st.sets(st.sampled_from(["x", "y"])))}
    sources = st.tuples(
        st.sampled_from(["x", "y"]), st.sampled_from(MEMBERS), st.sampled_from(["", "m"])
    )
    return Pins(
        {path: lock for path, lock in found.items()},
        {
            Label(f"p{n}", "t"): frozenset(
                s for s in draw(st.sets(sources, max_size=3)) if s[0] in found
            )
            for n in range(draw(st.integers(0, 4)))
        },
    )


def copied(pins: Pins, how: int) -> Pins:
    """The same pins, as a later run sees them: the same objects, a pickled copy (new
    objects, each package one object), or a copy whose packages are all distinct."""
    if how == 0:
        return pins
    if how == 1:
        return pickle.loads(pickle.dumps(pins))
    locks = {
        path: lock
        if isinstance(lock, Locked)
        else Lock.of(
            path,
            lock.ecosystem,
            {m: frozenset(copy.copy(r) for r in c) for m, c in lock.closure.items()},
        )
        for path, lock in pins.locks.items()
    }
    return Pins(locks, pins.sources)


@settings(max_examples=300, deadline=None)
@given(pins(), pins(), st.integers(0, 2), st.booleans())
def test_changed_pins_are_those_whose_externals_differ(
    old: Pins, new: Pins, how: int, same: bool
) -> None:
    if same:  # the same pins at both ends, perhaps as copies
        new = old
    new = copied(new, how)
    labels = sorted(old.sources.keys() | new.sources.keys())
    expected = [label for label in labels if old.externals(label) != new.externals(label)]
    found = list(changed_pins(old, new, labels))
    assert [label for label, _ in found] == expected
    assert all(why == difference(old.externals(x), new.externals(x)) for x, why in found)


def _difference_by_definition(old: tuple[Locked, ...], new: tuple[Locked, ...]) -> str:
    """``difference`` as first written (Locked's own sets and order): the reference."""
    gone, added = sorted(set(old) - set(new)), sorted(set(new) - set(old))
    broken = next((e for e in (*added, *gone) if e.broken), None)
    if broken is not None:
        return (
            f"{broken.lockfile}: could not be compared ({broken.broken}), "
            "every package it pins is affected"
        )
    pairs = [
        (entry, match)
        for entry in added
        if (match := next((g for g in gone if g.key == entry.key), None)) is not None
    ]
    for entry, match in pairs:
        if match.version != entry.version:
            return f"{entry.lockfile}: {entry.name} {match.version} -> {entry.version}"
    for entry, match in pairs:
        if match.deps != entry.deps:
            return f"{entry.lockfile}: {entry.name} {entry.version} {_rewired(match, entry)}"
    for entry, _ in pairs:
        return f"{entry.lockfile}: {entry.name} {entry.version} integrity changed"
    if added:
        return f"{added[0].lockfile}: {added[0].name} {added[0].version} now locked"
    return f"{gone[0].lockfile}: {gone[0].name} {gone[0].version} no longer locked"


LOCKEDS = st.builds(
    Locked,
    st.sampled_from(["a.lock", "b.lock"]),
    st.sampled_from(["ms", "debug", ""]),
    st.sampled_from(["1", "2", "oid"]),
    st.sampled_from(["-", "sha"]),
    st.sampled_from(["", "", "", "bad"]),
    st.sampled_from([(), ("ms 1",), ("ms 2",), ("debug 1", "ms 1")]),
    st.sampled_from(["", "m"]),
)


@settings(max_examples=300, deadline=None)
@given(st.sets(LOCKEDS, max_size=8), st.sets(LOCKEDS, max_size=8))
def test_difference_names_what_its_definition_names(old: set[Locked], new: set[Locked]) -> None:
    from graphkit.analysis.externals import _ORDER, difference

    if old == new:
        return
    before, after = tuple(sorted(old, key=_ORDER)), tuple(sorted(new, key=_ORDER))
    assert difference(before, after) == _difference_by_definition(before, after)


# microsoft/rushstack: no root package.json; rush.json lists the projects, and the
# lockfile lives in common/config/subspaces/default/ with its importers written
# relative to common/temp/default/, where pnpm installs.
RUSH_LOCK = """\
lockfileVersion: '9.0'

importers:

  .: {}

  ../../../apps/api-documenter:
    dependencies:
      js-yaml:
        specifier: ~4.1.0
        version: 4.1.0

  ../../../libraries/terminal:
    dependencies:
      supports-color:
        specifier: ~8.1.1
        version: 8.1.1

packages:

  js-yaml@4.1.0:
    resolution: {integrity: sha512-yaml}

  supports-color@8.1.1:
    resolution: {integrity: sha512-color}

snapshots:

  js-yaml@4.1.0: {}

  supports-color@8.1.1: {}
"""


def rush_lockfile_change(cli: Cli, make_repo: MakeRepo, lock: str) -> dict[str, Any]:
    """A Rush-shaped repository with RUSH_LOCK at ``lock``, after a commit that changes
    only the lockfile (js-yaml republished): the affected JSON."""
    repo = make_repo(
        {
            "rush.json": '{"projects": []}\n',
            "apps/api-documenter/package.json": json.dumps(
                {"name": "@microsoft/api-documenter", "dependencies": {"js-yaml": "~4.1.0"}}
            ),
            "libraries/terminal/package.json": json.dumps(
                {"name": "@rushstack/terminal", "dependencies": {"supports-color": "~8.1.1"}}
            ),
            lock: RUSH_LOCK,
        }
    )
    repo.write(lock, RUSH_LOCK.replace("sha512-yaml", "sha512-yaml-republished"))
    return affected(cli, repo)


def test_a_rush_lockfile_names_its_members_from_where_pnpm_installs(
    cli: Cli, make_repo: MakeRepo
) -> None:
    # Read from its own folder, the importers named common/apps/... (no package), and a
    # change to their pins affected nothing.
    lock = "common/config/subspaces/default/pnpm-lock.yaml"
    data = rush_lockfile_change(cli, make_repo, lock)
    assert data["affected"] == ["//apps/api-documenter:api-documenter"]
    assert data["reasons"]["//apps/api-documenter:api-documenter"] == (
        f"{lock}: js-yaml 4.1.0 integrity changed"
    )


def test_a_lockfile_whose_members_name_no_package_affects_every_package_it_could_pin(
    cli: Cli, make_repo: MakeRepo
) -> None:
    # The same lockfile where graphkit knows no layout: its importers lead out of the
    # repository, and a change to their pins reaches every npm package, not none.
    lock = "deploy/config/pnpm-lock.yaml"
    data = rush_lockfile_change(cli, make_repo, lock)
    assert data["affected"] == [
        "//apps/api-documenter:api-documenter",
        "//libraries/terminal:terminal",
    ]
    assert data["reasons"]["//libraries/terminal:terminal"] == (
        f"{lock}: js-yaml 4.1.0 integrity changed"
    )
