"""BUILD.toml bytes -> Package: labels, deps, attrs, definition equality, and errors."""

from __future__ import annotations

import pytest

from graphkit.errors import InputError
from graphkit.labels import Label
from graphkit.model import Package, Target
from graphkit.readers.manifests.build_toml import parse_build
from graphkit.readers.rules import load_rules

RULES = load_rules({})
MANIFEST = "libs/core/BUILD.toml"

BUILD = b"""\
# The core library and its generated version file.
[[target]]
name = "core"
rule = "python_library"
srcs = ["src/**/*.py", "!src/**/*_gen.py"]
deps = ["//libs/util", ":version", "//libs/util:util", "//tools:lint"]

[[target]]
name = "version"
rule = "genrule"
cmd = "echo 1 > version.txt"
outs = ["version.txt"]

[[target]]
name = "test"
rule = "python_test"
deps = [":core"]
"""


def parse(data: bytes) -> Package:
    return parse_build(data, MANIFEST, "libs/core", RULES)


def error_of(data: bytes) -> str:
    with pytest.raises(InputError) as caught:
        parse(data)
    return str(caught.value)


def test_parse_build_reads_every_target() -> None:
    assert parse(BUILD) == Package(
        path="libs/core",
        manifest=MANIFEST,
        targets=(
            Target(
                label=Label("libs/core", "core"),
                rule="python_library",
                srcs=("src/**/*.py", "!src/**/*_gen.py"),
                deps=(
                    Label("libs/core", "version"),
                    Label("libs/util", "util"),
                    Label("tools", "lint"),
                ),
            ),
            Target(
                label=Label("libs/core", "version"),
                rule="genrule",
                srcs=None,
                deps=(),
                attrs=(("cmd", '"echo 1 > version.txt"'), ("outs", '["version.txt"]')),
            ),
            Target(
                label=Label("libs/core", "test"),
                rule="python_test",
                srcs=None,
                deps=(Label("libs/core", "core"),),
            ),
        ),
    )


def test_targets_remember_manifest_and_line() -> None:
    assert [(t.manifest, t.line) for t in parse(BUILD).targets] == [
        (MANIFEST, 2),
        (MANIFEST, 8),
        (MANIFEST, 14),
    ]


def test_omitted_srcs_mean_the_rules_default() -> None:
    test = parse(BUILD).targets[2]
    assert test.srcs is None
    assert test.effective_srcs(RULES["python_test"]) == ("**/*.py",)


def test_empty_srcs_are_kept_as_no_files() -> None:
    data = b'[[target]]\nname = "x"\nrule = "filegroup"\nsrcs = []\n'
    assert parse(data).targets[0].srcs == ()


def test_root_package_targets() -> None:
    data = b'[[target]]\nname = "all"\nrule = "filegroup"\ndeps = [":docs", "//libs/core"]\n'
    (target,) = parse_build(data, "BUILD.toml", "", RULES).targets
    assert target.label == Label("", "all")
    assert target.deps == (Label("", "docs"), Label("libs/core", "core"))


def test_empty_manifest_has_no_targets() -> None:
    assert parse(b"# nothing here yet\n") == Package("libs/core", MANIFEST, ())


def test_attr_json_is_canonical() -> None:
    rules = load_rules({"rules/x.toml": b'[rule.x]\nsrcs = []\nattrs = ["opts"]\n'})
    one = b'[[target]]\nname = "g"\nrule = "x"\nopts = {b = 1, a = [2, "x"]}\n'
    two = b'[[target]]\nname = "g"\nrule = "x"\n\n[target.opts]\na = [2, "x"]\nb = 1\n'
    parsed = parse_build(one, MANIFEST, "libs/core", rules)
    assert parsed.targets[0].attrs == (("opts", '{"a":[2,"x"],"b":1}'),)
    assert parsed == parse_build(two, MANIFEST, "libs/core", rules)


def test_an_attribute_a_command_template_uses_must_not_be_a_table() -> None:
    data = b'[[target]]\nname = "g"\nrule = "genrule"\ncmd = {a = 1}\nouts = ["x"]\n'
    assert error_of(data) == (
        f"{MANIFEST}:4: attribute 'cmd' of target 'g' must be a string, number, boolean "
        "or a list of them, found dict"
    )


def test_a_glob_with_a_reversed_range_is_an_error() -> None:
    data = b'[[target]]\nname = "g"\nrule = "filegroup"\nsrcs = ["[z-a]*.py"]\n'
    assert error_of(data) == (
        f"{MANIFEST}:4: glob '[z-a]*.py': '[z-a]' holds the reversed range z-a, "
        "which matches nothing"
    )


def test_comments_and_blank_lines_change_nothing() -> None:
    edited = BUILD.replace(b'[[target]]\nname = "test"', b'\n\n# tests\n[[target]]\nname = "test"')
    edited = edited.replace(b"srcs = [", b"# sources\nsrcs = [  # globs\n ")
    assert edited != BUILD
    assert parse(edited).targets[2].line != parse(BUILD).targets[2].line
    assert parse(edited) == parse(BUILD)
    assert parse(edited).targets == parse(BUILD).targets


def test_reordering_fields_and_deps_changes_nothing() -> None:
    reordered = b"""\
[[target]]
deps = ["//tools:lint", ":version", "//libs/util"]
srcs = ["src/**/*.py", "!src/**/*_gen.py"]
rule = "python_library"
name = "core"

[[target]]
outs = ["version.txt"]
name = "version"
cmd = "echo 1 > version.txt"
rule = "genrule"

[[target]]
deps = ["//libs/core:core"]
rule = "python_test"
name = "test"
"""
    assert parse(reordered) == parse(BUILD)


def test_changing_a_field_changes_the_definition() -> None:
    edited = BUILD.replace(b"echo 1", b"echo 2")
    assert parse(edited).targets[0] == parse(BUILD).targets[0]
    assert parse(edited).targets[1] != parse(BUILD).targets[1]


def test_malformed_toml_names_file_and_line() -> None:
    assert error_of(b'[[target]]\nname = "core"\nrule = python_library\n') == (
        f"{MANIFEST}:3: invalid TOML: Invalid value"
    )


def test_unknown_field_names_line_and_suggests_srcs() -> None:
    data = b'[[target]]\nname = "a"\nrule = "filegroup"\n\n[[target]]\nname = "b"\n'
    data += b'rule = "filegroup"\nsrc = ["*.txt"]\n'
    assert error_of(data) == (
        f"{MANIFEST}:8: unknown field 'src' in target 'b' (did you mean 'srcs'?)"
    )


def test_attr_of_another_rule_is_an_unknown_field() -> None:
    data = b'[[target]]\nname = "a"\nrule = "python_library"\ncmd = "make"\n'
    assert error_of(data) == (
        f"{MANIFEST}:4: unknown field 'cmd' in target 'a' (allowed: cache, deps, inputs, "
        "name, needs, pass_env, persistent, rule, srcs)"
    )


def test_unknown_top_level_field_suggests_target() -> None:
    assert error_of(b'[[targets]]\nname = "a"\n') == (
        f"{MANIFEST}:1: unknown field 'targets' in BUILD.toml (did you mean 'target'?)"
    )


def test_unknown_rule_names_line_and_suggests_python_library() -> None:
    data = b'[[target]]\nname = "core"\n\nrule = "python_libary"\n'
    assert error_of(data) == (
        f"{MANIFEST}:4: unknown rule 'python_libary' for target 'core' "
        "(did you mean 'python_library'?)"
    )


def test_duplicate_target_names_the_second_line_and_the_first() -> None:
    data = b"""\
[[target]]
name = "core"
rule = "filegroup"

[[target]]
name = "other"
rule = "filegroup"

[[target]]
name = "core"
rule = "python_library"
"""
    assert error_of(data) == f"{MANIFEST}:9: duplicate target 'core' (first defined on line 1)"


@pytest.mark.parametrize(
    ("dep", "expected"),
    [
        ("libs/util", "'libs/util' is not a label (expected //path/to/pkg:name or :name)"),
        ("//libs/../util:x", "'//libs/../util:x' is not a label: bad package path 'libs/../util'"),
        ("//libs/util:", "'//libs/util:' is not a label: bad target name ''"),
    ],
)
def test_bad_dep_label_names_the_deps_line(dep: str, expected: str) -> None:
    data = '[[target]]\nname = "a"\nrule = "filegroup"\n\n[[target]]\nname = "b"\n'
    data += f'rule = "filegroup"\ndeps = [":a", "{dep}"]\n'
    assert error_of(data.encode()) == f"{MANIFEST}:8: {expected}"


@pytest.mark.parametrize("glob", ["../x/*.py", "/abs/*.py", "src/../../x", "!../x", "a\\\\b", ""])
def test_glob_escaping_the_package_names_the_srcs_line(glob: str) -> None:
    data = f'[[target]]\nname = "a"\nrule = "filegroup"\n\nsrcs = ["ok/*.py", "{glob}"]\n'
    expected_glob = glob.replace("\\\\", "\\")
    assert error_of(data.encode()) == (
        f"{MANIFEST}:5: glob {expected_glob!r} escapes the package "
        "(globs are relative to the package folder; no '..', no leading '/')"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('rule = "filegroup"', "a target needs a `name` string"),
        ('name = 3\nrule = "filegroup"', "a target needs a `name` string"),
        ('name = ""\nrule = "filegroup"', "a target needs a `name` string"),
        ('name = "a"', "target 'a' needs a `rule` string"),
        ('name = "a"\nrule = ["filegroup"]', "target 'a' needs a `rule` string"),
    ],
)
def test_missing_name_or_rule_names_the_target_line(body: str, expected: str) -> None:
    data = f'[[target]]\nname = "ok"\nrule = "filegroup"\n\n[[target]]\n{body}\n'
    assert error_of(data.encode()) == f"{MANIFEST}:5: {expected}"


def test_bad_target_name_names_the_target_line() -> None:
    data = b'\n[[target]]\nname = "a/b"\nrule = "filegroup"\n'
    assert error_of(data) == f"{MANIFEST}:2: bad target name 'a/b' (no '/', not '.' or '..')"


@pytest.mark.parametrize(
    ("field", "value"),
    [("srcs", '"*.py"'), ("srcs", "[1]"), ("deps", '":a"'), ("deps", "[true]")],
)
def test_wrong_list_types_name_the_field_line(field: str, value: str) -> None:
    data = f'[[target]]\nname = "a"\nrule = "filegroup"\n{field} = {value}\n'
    assert error_of(data.encode()) == f"{MANIFEST}:4: `{field}` must be a list of strings"


def test_target_table_instead_of_array_of_tables() -> None:
    message = error_of(b'[target]\nname = "a"\nrule = "filegroup"\n')
    assert message.startswith(f"{MANIFEST}:")
    assert message.endswith(" `target` must be an array of tables ([[target]])")


def test_target_list_of_strings_is_an_input_error() -> None:
    with pytest.raises(InputError, match="target"):
        parse(b'target = ["core"]\n')


def test_per_task_overrides_of_inputs_pass_env_cache_and_persistent() -> None:
    data = (
        b'[[target]]\nname = "a"\nrule = "python_test"\n'
        b'inputs = { test = ["tests/**", "$interface"] }\npass_env = { test = ["CI"] }\n'
        b"cache = { test = false }\npersistent = { test = false }\n"
    )
    (target,) = parse(data).targets
    assert dict(target.attrs) == {
        "cache": '{"test":false}',
        "inputs": '{"test":["tests/**","$interface"]}',
        "pass_env": '{"test":["CI"]}',
        "persistent": '{"test":false}',
    }


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ('inputs = { lint = ["x"] }', "`inputs` of target 'a' names task 'lint', which rule"),
        ('inputs = { test = ["$x"] }', "input '$x' of task 'test' of target 'a' is no named"),
        ('inputs = ["x"]', "`inputs` of target 'a' must be a table of task = value"),
        ("cache = { test = 0 }", "`cache.test` must be true or false"),
        ('pass_env = { test = ["1X"] }', "pass_env '1X' of task 'test' of target 'a' is not"),
    ],
)
def test_bad_per_task_overrides_name_their_line(field: str, message: str) -> None:
    data = f'[[target]]\nname = "a"\nrule = "python_test"\n{field}\n'.encode()
    assert error_of(data).startswith(f"{MANIFEST}:4: {message}"), error_of(data)
