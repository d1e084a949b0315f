"""Tasks: command templates expanded from rules, and their REAPI action keys."""

from __future__ import annotations

import pygit2
import pytest

from graphkit.analysis.graph import BuildGraph, load_graph
from graphkit.analysis.keys import compute_keys
from graphkit.errors import InputError
from graphkit.execution.tasks import declared_env, expand, make_tasks
from graphkit.labels import Label
from graphkit.model import FileEntry, TaskSpec

FILES = {
    "lib/BUILD.toml": '[[target]]\nname = "lib"\nrule = "python_library"\nsrcs = ["src/**/*.py"]\n'
    '\n[[target]]\nname = "test"\nrule = "python_test"\nsrcs = ["tests/*.py"]\ndeps = [":lib"]\n',
    "lib/src/lib/__init__.py": "X = 1\n",
    "lib/tests/test_a.py": "def test(): pass\n",
    "lib/tests/test_b.py": "def test(): pass\n",
    "lib/tests/helpers.py": "",
    "gen/BUILD.toml": '[[target]]\nname = "gen"\nrule = "genrule"\nsrcs = ["in.txt"]\n'
    'cmd = "cp gen/in.txt gen/out.txt && cp gen/in.txt gen/copy.txt"\n'
    'outs = ["gen/out.txt", "gen/copy.txt"]\n',
    "gen/in.txt": "hello\n",
}


def setup() -> tuple[BuildGraph, dict[str, FileEntry]]:
    snapshot = {p: FileEntry(0o100644, str(pygit2.hash(t.encode()))) for p, t in FILES.items()}
    return load_graph(snapshot, lambda path, _e: FILES[path].encode()), snapshot


def test_python_test_command_names_its_test_files_and_pythonpath() -> None:
    graph, snapshot = setup()
    [run] = make_tasks(
        graph, compute_keys(graph, snapshot), [Label("lib", "test")], "test", environ={}
    )
    assert run.files == ("lib/tests/test_a.py", "lib/tests/test_b.py")
    assert "PYTHONPATH=lib/src " in run.command
    assert run.command.endswith("lib/tests/test_a.py lib/tests/test_b.py")
    assert run.junit == ".graphkit/out/lib/test/test/junit.xml"
    assert "--junitxml=.graphkit/out/lib/test/test/junit.xml" in run.command


def test_genrule_list_attribute_expands_to_several_outputs() -> None:
    graph, snapshot = setup()
    [run] = make_tasks(
        graph, compute_keys(graph, snapshot), [Label("gen", "gen")], "build", environ={}
    )
    assert run.outputs == ("gen/copy.txt", "gen/out.txt")
    assert run.command == "cp gen/in.txt gen/out.txt && cp gen/in.txt gen/copy.txt"


def test_targets_without_the_task_are_left_out() -> None:
    graph, snapshot = setup()
    runs = make_tasks(
        graph, compute_keys(graph, snapshot), sorted(graph.targets), "test", environ={}
    )
    assert [str(r.label) for r in runs] == ["//lib:test"]


def test_action_key_is_stable_and_follows_content_command_and_env() -> None:
    graph, snapshot = setup()
    records = compute_keys(graph, snapshot)
    label = [Label("lib", "test")]
    first = make_tasks(graph, records, label, "test", environ={})[0]
    again = make_tasks(graph, records, label, "test", environ={"UNRELATED": "x"})[0]
    assert first.action == again.action
    shard = make_tasks(
        graph,
        records,
        label,
        "test",
        environ={},
        files_for={Label("lib", "test"): ["lib/tests/test_a.py"]},
    )[0]
    assert shard.action != first.action
    assert len(first.action.hash) == 64


def test_unknown_placeholder_and_missing_attribute_are_input_errors() -> None:
    graph, _ = setup()
    target = graph.targets[Label("lib", "lib")]
    with pytest.raises(InputError, match="unknown placeholder"):
        expand("echo {nope}", target=target, graph=graph, srcs=[], files=[], outdir="o")
    with pytest.raises(InputError, match="no attribute 'cmd'"):
        expand("{attr:cmd}", target=target, graph=graph, srcs=[], files=[], outdir="o")


def test_srcs_are_the_files_the_srcs_globs_match_not_every_input() -> None:
    files = {
        **FILES,
        "lib/NOTES.txt": "an input of every target of the package, but no src\n",
        "tools/BUILD.toml": '[[target]]\nname = "tools"\nrule = "sh_binary"\nsrcs = ["*"]\n',
        "tools/run.sh": "echo hi\n",
    }
    snapshot = {p: FileEntry(0o100644, str(pygit2.hash(t.encode()))) for p, t in files.items()}
    snapshot["tools/vendor"] = FileEntry(0o160000, "1" * 40)  # a submodule: a folder, no src
    graph = load_graph(snapshot, lambda path, _e: files[path].encode())
    records = compute_keys(graph, snapshot)
    assert "lib/NOTES.txt" in [path for path, _, _ in records[Label("lib", "lib")].inputs.files]
    runs = make_tasks(
        graph, records, [Label("lib", "lib"), Label("tools", "tools")], "lint", environ={}
    )
    lint_lib, lint_tools = runs
    assert lint_lib.command.endswith("sys.argv[1:]]' lib/src/lib/__init__.py")
    assert lint_tools.command == "sh -n tools/run.sh"


def test_a_package_folder_with_a_space_is_quoted_in_commands_but_not_in_outputs() -> None:
    # withastro/astro: `test/fixtures/astro pages` is a workspace member.
    files = {"fixtures/astro pages/package.json": '{"name": "pages"}'}
    snapshot = {p: FileEntry(0o100644, str(pygit2.hash(t.encode()))) for p, t in files.items()}
    graph = load_graph(snapshot, lambda path, _e: files[path].encode())
    label = Label("fixtures/astro pages", "astro pages")
    build, run = make_tasks(graph, compute_keys(graph, snapshot), [label], "test", environ={})
    assert build.task == "build" and run.needs == ((label, "build"),)  # test needs build
    assert build.outputs == ("fixtures/astro pages/dist/**",)
    assert run.command == "cd 'fixtures/astro pages' && npm run --if-present test"
    target = graph.targets[label]
    out = expand("{package}/dist", target=target, graph=graph, srcs=[], files=[], outdir="o")
    assert out == ["fixtures/astro pages/dist"]


def test_a_doubled_brace_is_a_literal_brace_in_a_template() -> None:
    graph, _snapshot = setup()
    target = graph.targets[Label("gen", "gen")]
    out = expand(
        "node -e 'x = {{a: 1}' {package}",
        target=target,
        graph=graph,
        srcs=[],
        files=[],
        outdir="o",
    )
    assert out == ["node -e 'x = {a: 1}' gen"]


def test_env_wildcards_declare_every_matching_variable_and_bang_takes_back() -> None:
    spec = TaskSpec("build", "x", env=("API", "NEXT_PUBLIC_*", "!NEXT_PUBLIC_SHA"))
    environ = {"NEXT_PUBLIC_A": "1", "NEXT_PUBLIC_SHA": "abc", "HOME": "/h", "NEXT_PUBLIC_B": ""}
    assert declared_env(spec, environ) == (
        ("API", None),
        ("NEXT_PUBLIC_A", "1"),
        ("NEXT_PUBLIC_B", ""),
    )
