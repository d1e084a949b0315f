"""Rule files: the built-ins, validation errors with file and line, and overriding."""

from __future__ import annotations

import pytest

from graphkit.errors import InputError
from graphkit.model import Rule, TaskSpec
from graphkit.readers.rules import builtin_rule_files, load_rules, merge_rules, parse_rules

SH_RULE = b"""\
[rule.script]
description = "a script"
srcs = ["*.sh"]
test_files = ["*_test.sh"]

[rule.script.tasks.test]
command = "sh {test_files}"
env = ["PATH", "HOME"]
outputs = ["out/report.txt"]
junit = "{outdir}/junit.xml"
"""


def error_of(data: bytes, path: str = "rules/local.toml") -> str:
    with pytest.raises(InputError) as caught:
        parse_rules(data, path)
    return str(caught.value)


def test_builtin_rule_files_are_named_and_sorted() -> None:
    names = [name for name, _ in builtin_rule_files()]
    assert names == sorted(names)
    assert {"builtin:generic.toml", "builtin:python.toml", "builtin:shell.toml"} <= set(names)


def test_builtin_rules_define_the_documented_kinds() -> None:
    rules = load_rules({})
    assert {
        "filegroup",
        "genrule",
        "python_library",
        "python_test",
        "sh_binary",
        "sh_test",
    } <= set(rules)
    assert all(kind == rule.kind for kind, rule in rules.items())


def test_python_test_shards_by_file_and_runs_pytest() -> None:
    rule = load_rules({})["python_test"]
    assert rule.shard_unit == "file"
    assert rule.default_srcs == ("**/*.py",)
    assert rule.infer == ("python",)
    assert rule.test_files
    test = rule.task("test")
    assert test is not None
    assert "pytest" in test.command
    assert rule.task("build") is None


def test_python_library_lints_with_default_srcs_and_shards_by_target() -> None:
    rule = load_rules({})["python_library"]
    assert rule.default_srcs == ("**/*.py",)
    assert rule.shard_unit == "target"
    assert rule.task("lint") is not None


def test_shell_rules_have_their_tasks() -> None:
    rules = load_rules({})
    assert rules["sh_binary"].default_srcs == ("*.sh",)
    assert rules["sh_binary"].task("lint") is not None
    assert rules["sh_test"].task("test") is not None
    assert rules["sh_test"].shard_unit == "target"


def test_genrule_accepts_cmd_and_outs_and_filegroup_owns_everything() -> None:
    rules = load_rules({})
    assert rules["genrule"].attrs == ("cmd", "outs")
    assert rules["genrule"].default_srcs == ()
    assert rules["genrule"].task("build") is not None
    assert rules["filegroup"].default_srcs == ("**",)
    assert rules["filegroup"].tasks == ()


def test_parse_rules_reads_every_field() -> None:
    assert parse_rules(SH_RULE, "rules/sh.toml") == (
        Rule(
            kind="script",
            default_srcs=("*.sh",),
            tasks=(
                TaskSpec(
                    name="test",
                    command="sh {test_files}",
                    outputs=("out/report.txt",),
                    env=("HOME", "PATH"),  # sorted
                    junit="{outdir}/junit.xml",
                ),
            ),
            test_files=("*_test.sh",),
        ),
    )
    (rule,) = parse_rules(SH_RULE, "rules/sh.toml")
    assert (rule.description, rule.source) == ("a script", "rules/sh.toml")


def test_tasks_are_sorted_by_name_and_attrs_sorted() -> None:
    data = b"""\
[rule.gen]
attrs = ["outs", "cmd"]
[rule.gen.tasks.lint]
command = "l"
[rule.gen.tasks.build]
command = "b"
"""
    (rule,) = parse_rules(data, "r.toml")
    assert [task.name for task in rule.tasks] == ["build", "lint"]
    assert rule.attrs == ("cmd", "outs")


def test_unknown_rule_field_names_line_and_suggestion() -> None:
    data = b'[rule.a]\nsrcs = []\n\n[rule.b]\nsrcs = []\nsrc = ["*.c"]\n'
    assert error_of(data) == (
        "rules/local.toml:6: unknown field 'src' in rule 'b' (did you mean 'srcs'?)"
    )


def test_unknown_task_field_names_line_and_suggestion() -> None:
    data = b'[rule.a]\n\n[rule.a.tasks.test]\ncommand = "t"\noutput = ["x"]\n'
    assert error_of(data) == (
        "rules/local.toml:5: unknown field 'output' in task 'test' (did you mean 'outputs'?)"
    )


def test_task_without_command_names_the_task_header() -> None:
    data = b"[rule.a]\nsrcs = []\n\n[rule.a.tasks.test]\noutputs = []\n"
    assert error_of(data) == "rules/local.toml:4: task 'test' of rule 'a' needs a `command` string"


def test_bad_shard_unit_names_its_line() -> None:
    data = b'[rule.a]\nshard_unit = "file"\n\n[rule.b]\nshard_unit = "package"\n'
    assert error_of(data) == (
        "rules/local.toml:5: shard_unit must be 'target' or 'file', found 'package'"
    )


def test_unknown_inference_names_its_line() -> None:
    data = b'[rule.a]\nsrcs = []\ninfer = ["python", "cobol"]\n'
    assert error_of(data) == (
        "rules/local.toml:3: unknown inference 'cobol' (known: go, js, python, rust)"
    )


def test_attrs_may_not_redefine_target_fields() -> None:
    data = b'[rule.a]\nattrs = ["cmd", "deps", "name"]\n'
    assert error_of(data) == "rules/local.toml:2: attrs may not redefine ['deps', 'name']"


def test_list_fields_must_be_lists_of_strings() -> None:
    assert error_of(b'[rule.a]\n\nsrcs = "*.py"\n') == (
        "rules/local.toml:3: srcs must be a list of strings"
    )


def test_unknown_top_level_table() -> None:
    message = error_of(b"[rules.a]\nsrcs = []\n")
    assert message.endswith("unknown field 'rules' in a rule file (did you mean 'rule'?)")


def test_unknown_top_level_table_names_its_line() -> None:
    assert error_of(b"\n[rules.a]\nsrcs = []\n") == (
        "rules/local.toml:2: unknown field 'rules' in a rule file (did you mean 'rule'?)"
    )


@pytest.mark.parametrize("data", [b"rule = 1\n", b'[rule.a]\ntasks = "test"\n'])
def test_non_table_rule_or_tasks_is_an_input_error(data: bytes) -> None:
    with pytest.raises(InputError):
        parse_rules(data, "rules/local.toml")


def test_workspace_rule_file_overrides_a_builtin_kind() -> None:
    override = b'[rule.python_test]\nsrcs = ["tests/**/*.py"]\n'
    rules = load_rules({"tools/rules/python.toml": override})
    assert rules["python_test"].default_srcs == ("tests/**/*.py",)
    assert rules["python_test"].shard_unit == "target"
    assert rules["python_test"].source == "tools/rules/python.toml"
    assert rules["python_library"] == load_rules({})["python_library"]


def test_later_workspace_file_overrides_an_earlier_one() -> None:
    rules = load_rules(
        {
            "rules/b.toml": b'[rule.x]\nsrcs = ["b"]\n',
            "rules/a.toml": b'[rule.x]\nsrcs = ["a"]\n',
        }
    )
    assert rules["x"].default_srcs == ("b",)


def test_moving_a_rule_to_another_file_keeps_it_equal() -> None:
    (here,) = parse_rules(SH_RULE, "rules/sh.toml")
    (there,) = parse_rules(b"# moved\n" + SH_RULE, "tools/all_rules.toml")
    assert here.source != there.source
    assert here == there
    assert hash(here) == hash(there)
    assert merge_rules([("a.toml", SH_RULE)]) == merge_rules([("b.toml", SH_RULE)])


def test_changing_a_rule_makes_it_unequal() -> None:
    (before,) = parse_rules(SH_RULE, "rules/sh.toml")
    (after,) = parse_rules(SH_RULE.replace(b"sh {test_files}", b"bash {test_files}"), "r.toml")
    assert before != after


@pytest.mark.parametrize(
    "output", ["/tmp/out.txt", "../out.txt", "{package}/../../out.txt", ".git/hooks/pre-push"]
)
def test_an_output_that_leaves_the_workspace_names_its_task_line(output: str) -> None:
    data = '[rule.gen]\nsrcs = []\n\n[rule.gen.tasks.build]\ncommand = "x"\n'
    data += f'outputs = ["{output}"]\n'
    assert error_of(data.encode()).startswith(f"rules/local.toml:4: output {output!r} of task")


def test_task_inputs_pass_env_cache_and_persistent_are_read() -> None:
    data = b"""\
[rule.web]
[rule.web.tasks.test]
command = "t"
inputs = ["$default", "!**/*.md", "src/**", "//tsconfig.json"]
pass_env = ["CI", "AWS_*", "CI"]
cache = false

[rule.web.tasks.dev]
command = "d"
persistent = true
"""
    (rule,) = parse_rules(data, "r.toml")
    dev, test = rule.tasks
    assert test.inputs == ("$default", "!**/*.md", "src/**", "//tsconfig.json")
    assert test.pass_env == ("AWS_*", "CI")
    assert (test.cache, test.persistent, dev.cache, dev.persistent) == (False, False, True, True)
    assert dev.inputs is None and dev.pass_env == ()


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ('inputs = ["$everything"]', "input '$everything' of task 'test' of rule 'a' is no named"),
        ('inputs = ["!$default"]', "input '!$default' of task 'test' of rule 'a' is no named"),
        ('inputs = ["../x/**"]', "input '../x/**' of task 'test' of rule 'a' leaves its folder"),
        ('inputs = ["/etc/**"]', "input '/etc/**' of task 'test' of rule 'a' is not a relative"),
        ('inputs = ["//../x"]', "input '//../x' of task 'test' of rule 'a' leaves its folder"),
        ('inputs = "src/**"', "inputs must be a list of strings"),
        ('pass_env = ["A-B"]', "pass_env 'A-B' of task 'test' of rule 'a' is not a variable name"),
        ('cache = "no"', "`cache` must be true or false"),
        ("persistent = 1", "`persistent` must be true or false"),
    ],
)
def test_bad_task_inputs_and_flags_name_their_line(field: str, message: str) -> None:
    data = f'[rule.a]\n\n[rule.a.tasks.test]\ncommand = "t"\n{field}\n'.encode()
    assert error_of(data).startswith(f"rules/local.toml:5: {message}"), error_of(data)
