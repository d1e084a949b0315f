"""Content keys: one canonical encoding, pinned digests, and what changes a key."""

from __future__ import annotations

import dataclasses

import pygit2

from graphkit.analysis.graph import BuildGraph, load_graph
from graphkit.analysis.keys import KEY_SCHEME, compute_keys, diff_inputs, encode, hash_inputs
from graphkit.labels import Label
from graphkit.model import FileEntry

# Workspace rules, so that editing the built-in rules does not move the pinned digests.
RULES = b"""
[rule.py_lib]
srcs = ["**/*.py"]

[rule.script]
srcs = ["*.sh"]

[rule.script.tasks.run]
command = "sh {srcs}"
env = ["PATH"]
"""
FILES = {
    "graphkit.toml": b'[workspace]\nglobal_inputs = ["ci.toml"]\nrules_dir = "rules"\n',
    "rules/local.toml": RULES,
    "ci.toml": b"x = 1\n",
    "lib/BUILD.toml": b'[[target]]\nname = "lib"\nrule = "py_lib"\n',
    "lib/a.py": b"A = 1\n",
    "app/BUILD.toml": (
        b'[[target]]\nname = "app"\nrule = "script"\nsrcs = ["*.sh"]\ndeps = ["//lib"]\n'
    ),
    "app/run.sh": b"echo hi\n",
}
LIB, APP = Label("lib", "lib"), Label("app", "app")


def snapshot(files: dict[str, bytes], exe: frozenset[str] = frozenset()) -> dict[str, FileEntry]:
    return {
        p: FileEntry(0o100755 if p in exe else 0o100644, str(pygit2.hash(d)))
        for p, d in files.items()
    }


def graph_of(files: dict[str, bytes]) -> BuildGraph:
    return load_graph(snapshot(files), lambda path, _entry: files[path])


def keys(files: dict[str, bytes], exe: frozenset[str] = frozenset()) -> dict[Label, str]:
    records = compute_keys(graph_of(files), snapshot(files, exe))
    return {label: record.key for label, record in records.items()}


def test_pinned_digests() -> None:
    # A change to these values must be deliberate: bump KEY_SCHEME with it.
    assert KEY_SCHEME == 5
    assert keys(FILES) == {
        LIB: "11a2aa13cff81d0a265737830af4bd97",
        APP: "9d9c8785e0aa66f75d5a05268f16c632",
    }


def test_key_is_lowercase_hex_xxh3_128() -> None:
    for key in keys(FILES).values():
        assert len(key) == 32 and key == key.lower() and int(key, 16) >= 0


def test_editing_a_dependency_changes_the_dependent_key() -> None:
    before, after = keys(FILES), keys({**FILES, "lib/a.py": b"A = 2\n"})
    assert before[LIB] != after[LIB] and before[APP] != after[APP]


def test_editing_a_dependent_leaves_the_dependency_key() -> None:
    before, after = keys(FILES), keys({**FILES, "app/run.sh": b"echo bye\n"})
    assert before[LIB] == after[LIB] and before[APP] != after[APP]


def test_mode_and_path_are_part_of_a_file_identity() -> None:
    base = keys(FILES)
    assert keys(FILES, exe=frozenset({"app/run.sh"}))[APP] != base[APP]
    renamed = {k: v for k, v in FILES.items() if k != "lib/a.py"} | {"lib/b.py": FILES["lib/a.py"]}
    assert keys(renamed)[LIB] != base[LIB]


def test_manifest_comment_does_not_change_keys() -> None:
    commented = {**FILES, "lib/BUILD.toml": b"# comment\n" + FILES["lib/BUILD.toml"]}
    assert keys(commented) == keys(FILES)


def test_global_input_changes_every_key() -> None:
    before, after = keys(FILES), keys({**FILES, "ci.toml": b"x = 2\n"})
    assert all(before[label] != after[label] for label in before)


def test_encoding_separates_none_from_empty_and_field_boundaries() -> None:
    record = compute_keys(graph_of(FILES), snapshot(FILES))[LIB]
    inputs = record.inputs
    empty_srcs = dataclasses.replace(inputs, target=dataclasses.replace(inputs.target, srcs=()))
    assert encode(empty_srcs) != encode(inputs)
    shifted = dataclasses.replace(inputs, files=(("lib/a.p", 0o100644, "y" + inputs.files[0][2]),))
    assert hash_inputs(shifted) != record.key


def test_diff_inputs_names_exactly_what_differs() -> None:
    graph_a, graph_b = graph_of(FILES), graph_of({**FILES, "lib/a.py": b"A = 2\n"})
    before = compute_keys(graph_a, snapshot(FILES))
    after_files = {**FILES, "lib/a.py": b"A = 2\n"}
    after = compute_keys(graph_b, snapshot(after_files))
    lib_diff = diff_inputs(before[LIB], after[LIB])
    assert [d.input for d in lib_diff] == ["file lib/a.py"]
    assert lib_diff[0].before == f"100644 {pygit2.hash(b'A = 1' + chr(10).encode())}"
    assert [d.input for d in diff_inputs(before[APP], after[APP])] == ["dep //lib:lib"]
    assert diff_inputs(before[APP], before[APP]) == []


NPM = {
    "package.json": b'{"name": "root", "private": true, "workspaces": ["packages/*"]}',
    "packages/a/package.json": b'{"name": "a", "scripts": {"build": "x", "test": "y"}}',
    "packages/a/index.js": b"module.exports = 1;\n",
    "packages/a/index.test.js": b"require('./index');\n",
    "packages/a/README.md": b"# a\n",
    "packages/b/package.json": b'{"name": "b", "dependencies": {"a": "*"}}',
    "packages/b/index.js": b"require('a');\n",
}
A, B = Label("packages/a", "a"), Label("packages/b", "b")


def test_task_inputs_name_faces_globs_and_exclusions() -> None:
    from graphkit.analysis.keys import task_inputs, task_key

    records = compute_keys(graph_of(NPM), snapshot(NPM))
    a, b = records[A], records[B]

    def files(label: Label, *inputs: str) -> list[str]:
        record = records[label]
        return [path for path, _mode, _oid in task_inputs(record, label.package, inputs).files]

    assert task_key(a, A.package, ("$default",)) == a.key
    assert task_key(a, A.package, ("$interface",)) == a.interface != a.key
    assert hash_inputs(task_inputs(a, A.package, ("$interface",))) == a.interface
    assert files(A, "$interface") == ["packages/a/index.js"]
    assert files(A, "$default", "!**/*.md") == ["packages/a/index.js", "packages/a/index.test.js"]
    assert files(A, "$interface", "*.md") == ["packages/a/README.md", "packages/a/index.js"]
    assert files(A, "*.test.js", "nothing/**") == ["packages/a/index.test.js"]
    # Named sets bring their deps' keys; globs alone name files only.
    assert task_inputs(b, B.package, ("$interface",)).deps == ((A, a.interface),)
    assert task_inputs(b, B.package, ("*.js",)).deps == ()
    # A test file keys the full face, never the interface.
    edited = {**NPM, "packages/a/index.test.js": b"// more\n"}
    again = compute_keys(graph_of(edited), snapshot(edited))[A]
    assert task_key(again, A.package, ("$interface",)) == a.interface
    assert task_key(again, A.package, ("$default",)) != a.key
    assert task_key(again, A.package, ("*.js", "!*.test.js")) == task_key(
        a, A.package, ("*.js", "!*.test.js")
    )
