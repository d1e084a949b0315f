"""The build graph: validation errors, owners, queries, the file graph."""

from __future__ import annotations

from dataclasses import replace

import pygit2
import pytest

from graphkit.analysis.graph import BuildGraph, components, file_graph, load_graph
from graphkit.errors import InputError
from graphkit.labels import Label
from graphkit.model import TASKS_ATTR, FileEntry, ImportVia, TaskSpec, tasks_to_attr


def snapshot(files: dict[str, str]) -> dict[str, FileEntry]:
    return {p: FileEntry(0o100644, str(pygit2.hash(t.encode()))) for p, t in files.items()}


def graph_of(files: dict[str, str]) -> BuildGraph:
    return load_graph(snapshot(files), lambda path, _entry: files[path].encode())


def target(name: str, rule: str = "filegroup", deps: tuple[str, ...] = (), extra: str = "") -> str:
    dep_list = ", ".join(f'"{d}"' for d in deps)
    return f'[[target]]\nname = "{name}"\nrule = "{rule}"\ndeps = [{dep_list}]\n{extra}\n'


def test_cycle_is_reported_as_a_path_at_the_first_target() -> None:
    files = {
        "a/BUILD.toml": target("a", deps=("//b",)),
        "b/BUILD.toml": "# b\n" + target("b", deps=("//c",)),
        "c/BUILD.toml": target("c", deps=("//a",)),
    }
    with pytest.raises(InputError) as caught:
        graph_of(files)
    assert str(caught.value) == "a/BUILD.toml:1: dependency cycle: //a:a -> //b:b -> //c:c -> //a:a"


def test_missing_dep_names_file_line_and_suggestion() -> None:
    files = {
        "libs/core/BUILD.toml": target("core"),
        "libs/api/BUILD.toml": "# api\n\n" + target("api", deps=("//libs/cor",)),
    }
    with pytest.raises(InputError) as caught:
        graph_of(files)
    assert str(caught.value) == (
        "libs/api/BUILD.toml:6: dep '//libs/cor:cor' of //libs/api:api is not a target "
        "(did you mean '//libs/core:core'?)"
    )


FILES = {
    "graphkit.toml": '[workspace]\nglobal_inputs = ["ci/*.yml"]\n',
    "ci/main.yml": "on: push\n",
    "lib/BUILD.toml": target("lib", "python_library", extra='srcs = ["src/**/*.py"]')
    + target("test", "python_test", (":lib",), 'srcs = ["tests/*.py"]'),
    "lib/src/m.py": "",
    "lib/tests/test_m.py": "",
    "lib/data.json": "{}",
    "lib/nested/BUILD.toml": target("nested"),
    "lib/nested/x.txt": "",
    "app/BUILD.toml": target("app", "sh_binary", ("//lib",)),
    "app/run.sh": "",
    "docs/readme.md": "",
}


def test_owners_by_glob_unclaimed_and_nested() -> None:
    graph = graph_of(FILES)
    assert graph.owners("lib/src/m.py") == [Label("lib", "lib")]
    assert graph.owners("lib/tests/test_m.py") == [Label("lib", "test")]
    assert graph.owners("lib/data.json") == [Label("lib", "lib"), Label("lib", "test")]
    assert graph.owners("lib/nested/x.txt") == [Label("lib/nested", "nested")]
    assert graph.owners("lib/BUILD.toml") == []
    assert graph.owners("docs/readme.md") == []
    assert graph.owners("lib/src/not_yet_created.py") == [Label("lib", "lib")]


def test_inputs_global_inputs_and_unowned() -> None:
    graph = graph_of(FILES)
    inputs = graph.inputs(snapshot(FILES))
    assert inputs[Label("lib", "lib")] == ["lib/data.json", "lib/src/m.py"]
    assert inputs[Label("app", "app")] == ["app/run.sh"]
    assert graph.global_inputs(snapshot(FILES)) == ["ci/main.yml"]
    assert graph.unowned(FILES) == ["ci/main.yml", "docs/readme.md"]


def test_queries_and_topological_order() -> None:
    graph = graph_of(FILES)
    lib = Label("lib", "lib")
    assert graph.rdeps(lib) == [Label("app", "app"), Label("lib", "test")]
    assert graph.deps(Label("app", "app"), transitive=True) == [lib]
    order = [label for members in components(graph) for label in members]
    assert order.index(lib) < order.index(Label("app", "app"))
    assert graph.resolve("//lib") == lib
    with pytest.raises(InputError, match="did you mean '//lib:lib'"):
        graph.resolve("//lib:lbi")


def test_file_graph_has_owns_and_deps_edges() -> None:
    full = file_graph(graph_of(FILES), snapshot(FILES))
    assert full.edges["//app:app", "//lib:lib"]["kind"] == "deps"
    assert full.edges["//lib:lib", "lib/src/m.py"]["kind"] == "owns"
    assert full.nodes["lib/src/m.py"]["kind"] == "file"
    assert "docs/readme.md" not in full.nodes


def test_exclude_keeps_folders_out_of_member_discovery() -> None:
    # Fixtures, vendored trees and examples: their manifests are plain files.
    files = {
        "graphkit.toml": '[workspace]\nexclude = ["examples", "**/fixtures"]\n',
        "app/package.json": '{"name": "app"}',
        "examples/demo/package.json": '{"name": "demo"}',
        "app/test/fixtures/broken/package.json": '{"name": ',
    }
    graph = graph_of(files)
    assert sorted(graph.targets) == [Label("app", "app")]
    assert graph.warnings == ()
    assert graph.is_excluded("examples/demo/src/x.js")
    assert not graph.is_excluded("app/src/x.js")


def test_a_stray_manifest_outside_every_workspace_is_a_warning() -> None:
    files = {
        "app/package.json": '{"name": "app"}',
        "test/fixtures/broken/package.json": '{"name": ',
    }
    graph = graph_of(files)
    assert sorted(graph.targets) == [Label("app", "app")]
    assert [str(w) for w in graph.warnings] == [
        "test/fixtures/broken/package.json:1: invalid JSON: Expecting value; not a workspace member"
    ]


def test_rules_dir_naming_a_missing_folder_is_an_error() -> None:
    files = {"graphkit.toml": '[workspace]\nrules_dir = "build/rulez"\n', "a/BUILD.toml": ""}
    with pytest.raises(InputError) as caught:
        graph_of(files)
    assert str(caught.value) == (
        "graphkit.toml:2: rules_dir 'build/rulez' holds no rule file (*.toml): "
        "is the folder missing?"
    )


def _with_tasks(graph: BuildGraph, label: Label, specs: list[TaskSpec]) -> BuildGraph:
    package = graph.packages[label.package]
    (only,) = package.targets
    attrs = (*only.attrs, (TASKS_ATTR, tasks_to_attr(specs)))
    changed = replace(package, targets=(replace(only, attrs=tuple(sorted(attrs))),))
    return replace(graph, packages={**graph.packages, label.package: changed})


def test_imported_tasks_replace_the_builtin_rules_tasks_of_that_target_only() -> None:
    files = {
        "package.json": '{"name": "root", "workspaces": ["a", "b"]}',
        "a/package.json": '{"name": "a"}',
        "b/package.json": '{"name": "b"}',
    }
    plain = graph_of(files)
    compile_task = TaskSpec("compile", "tsc", outputs=("{package}/lib/**",), cache=False)
    graph = _with_tasks(plain, Label("a", "a"), [compile_task])
    assert graph.task_spec(Label("a", "a"), "compile") == compile_task
    assert graph.task_spec(Label("a", "a"), "build") is None
    assert graph.task_specs(Label("a", "a")) == (compile_task,)
    assert graph.task_spec(Label("b", "b"), "build") == plain.rule_of(Label("b", "b")).task("build")
    assert graph.task_spec(Label("b", "b"), "compile") is None


def test_a_workspace_rule_file_wins_over_imported_tasks() -> None:
    files = {
        "graphkit.toml": '[workspace]\nrules_dir = "rules"\n',
        "rules/npm.toml": '[rule.npm_package]\nsrcs = ["**"]\n'
        '[rule.npm_package.tasks.build]\ncommand = "make"\n',
        "package.json": '{"name": "a"}',
    }
    imported = [TaskSpec("build", "npm run build"), TaskSpec("test", "npm test")]
    graph = _with_tasks(graph_of(files), Label("", "root"), imported)
    root = Label("", "root")
    assert [s.command for s in graph.task_specs(root)] == ["make", "npm test"]


def _many_packages(count: int) -> dict[str, str]:
    files = {"graphkit.toml": '[workspace]\nglobal_inputs = ["ci.toml"]\n'}
    for n in range(count):
        deps = (f"//p{n - 1}",) if n else ()
        files[f"p{n}/BUILD.toml"] = target(f"p{n}", deps=deps) + target("t", deps=(":" + f"p{n}",))
    return files


def test_the_graph_is_the_same_parsed_by_one_process_or_two() -> None:
    files = _many_packages(40)
    snap = snapshot(files)
    graphs = [
        load_graph(snap, lambda path, _entry: files[path].encode(), workers=n) for n in (1, 2)
    ]
    assert graphs[0] == graphs[1]
    assert list(graphs[0].packages) == list(graphs[1].packages)  # the order too
    assert len(graphs[1].targets) == 80


def test_the_first_bad_build_file_in_path_order_is_the_error_whatever_the_workers() -> None:
    files = _many_packages(40)
    files["p17/BUILD.toml"] = "[[target]\n"
    files["p31/BUILD.toml"] = target("p31", rule="no_such_rule")
    snap = snapshot(files)
    for workers in (1, 2):
        with pytest.raises(InputError) as caught:
            load_graph(snap, lambda path, _entry: files[path].encode(), workers=workers)
        assert caught.value.path == "p17/BUILD.toml" and caught.value.line == 1


def test_each_dep_is_its_targets_own_label_and_stays_so_through_the_memo() -> None:
    import pickle

    files = _many_packages(40)
    snap = snapshot(files)
    for workers in (1, 2):  # parsed here, or in worker processes and sent back
        graph = load_graph(snap, lambda path, _entry: files[path].encode(), workers=workers)
        back = pickle.loads(pickle.dumps(graph, protocol=5))  # as the memo reads it
        for read in (graph, back):
            own = {label: label for label in read.targets}
            deps = [dep for t in read.targets.values() for dep in t.deps]
            assert len(deps) == 79
            assert all(dep is own[dep] for dep in deps)
        assert back == graph


def test_the_memo_carries_the_targets_and_their_declared_dependents() -> None:
    """A warm run reads both back instead of building them (0.3 s at 100,000 packages);
    the deps imports add go to new lists, never into the ones the memo shares."""
    import pickle

    files = _many_packages(4)
    graph = load_graph(snapshot(files), lambda path, _entry: files[path].encode())
    back = pickle.loads(pickle.dumps(graph, protocol=5))
    assert {"targets", "declared_dependents"} <= back.__dict__.keys()
    assert back.targets == graph.targets and back.dependents == graph.dependents
    p0, p3 = Label("p0", "p0"), Label("p3", "p3")
    assert sorted(back.dependents[p0]) == [Label("p0", "t"), Label("p1", "p1")]
    imported = back.with_inferred({p3: {p0: ImportVia("p3/m.py", 1, "p0/m.py")}})
    assert sorted(imported.dependents[p0]) == [Label("p0", "t"), Label("p1", "p1"), p3]
    assert p3 not in back.dependents[p0] and p3 not in back.declared_dependents[p0]
    assert imported.dependents[Label("p2", "p2")] == back.dependents[Label("p2", "p2")]
