"""CI renderers parse and match their plan; the docs/ci examples call graphkit consistently."""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from graphkit.config import ShardSettings
from graphkit.errors import InputError
from graphkit.execution import ci
from graphkit.execution.plan import Plan, Unit, make_plan, plan_json

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ci"
SETTINGS = ShardSettings()
SHELL_BREAKS = {">", ">>", "|", "&&", "||", ";"}


def plan_of(durations: list[float], shards: int | str = "auto", task: str = "test") -> Plan:
    units = [
        Unit(f"//pkg{i}:t", f"//pkg{i}:t", task, "python_test", None, seconds)
        for i, seconds in enumerate(durations)
    ]
    return make_plan(task, units, shards, SETTINGS)  # type: ignore[arg-type]


def graphkit_calls(text: str) -> list[list[str]]:
    """Every ``graphkit ...`` command in a shell snippet, as argv, cut at redirections/pipes."""
    calls, words = [], shlex.split(text, comments=True)
    for start, word in enumerate(words):
        # Only where a command starts: ``pip install graphkit`` is no call.
        if word == "graphkit" and (start == 0 or words[start - 1] in SHELL_BREAKS):
            end = next((i for i in range(start, len(words)) if words[i] in SHELL_BREAKS), None)
            calls.append(words[start:end])
    return calls


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


# --- GitHub ------------------------------------------------------------------------


def github_lines(text: str) -> dict[str, str]:
    lines = text.splitlines()
    assert all("=" in line for line in lines)
    return dict(line.split("=", 1) for line in lines)


def test_github_output_is_a_compact_include_only_matrix_of_shard_numbers() -> None:
    plan = plan_of([30.0, 20.0, 10.0, 5.0], shards=3)
    out = github_lines(ci.github_output(plan))
    assert list(out) == ["matrix", "has_work", "plan"]
    assert out["matrix"] == (
        '{"include":[{"shard":1,"of":3},{"shard":2,"of":3},{"shard":3,"of":3}]}'
    )
    assert out["has_work"] == "true"
    assert out["plan"] == plan.digest


def test_github_output_leaves_out_empty_shards_but_keeps_the_count() -> None:
    plan = plan_of([30.0, 20.0], shards=4)
    matrix = json.loads(github_lines(ci.github_output(plan))["matrix"])
    assert matrix == {"include": [{"shard": 1, "of": 4}, {"shard": 2, "of": 4}]}


@pytest.mark.parametrize("shards", ["auto", 2])
def test_github_output_with_no_work(shards: int | str) -> None:
    out = github_lines(ci.github_output(plan_of([], shards=shards)))
    assert json.loads(out["matrix"]) == {"include": []}
    assert out["has_work"] == "false"


def test_github_output_refuses_more_than_256_jobs() -> None:
    assert (
        len(
            json.loads(github_lines(ci.github_output(plan_of([1.0] * 256, 256)))["matrix"])[
                "include"
            ]
        )
        == 256
    )
    with pytest.raises(InputError, match="256"):
        ci.github_output(plan_of([1.0] * 257, 257))


# --- GitLab ------------------------------------------------------------------------


def gitlab_jobs(text: str) -> dict[str, Any]:
    doc = yaml.safe_load(text)
    assert doc["stages"] == ["test"]
    assert doc["variables"] == {"GIT_DEPTH": "0"}
    return {name: job for name, job in doc.items() if name not in ("stages", "variables")}


def test_gitlab_pipeline_has_one_job_per_shard_running_that_shard() -> None:
    plan = plan_of([30.0, 20.0, 10.0], shards=2)
    jobs = gitlab_jobs(ci.gitlab_pipeline(plan, task="test"))
    assert list(jobs) == ["test 1/2", "test 2/2"]
    for index, job in enumerate(jobs.values(), start=1):
        assert job["stage"] == "test"
        [argv] = graphkit_calls(" ; ".join(job["script"]))
        assert argv == [
            "graphkit", "run", "test", "--affected",
            "--base", "$CI_MERGE_REQUEST_DIFF_BASE_SHA",
            "--shard", f"{index}/2", "--plan-digest", plan.digest,
        ]  # fmt: skip


def test_gitlab_pipeline_passes_the_base_variable_and_remote_cache() -> None:
    plan = plan_of([1.0], shards=1)
    text = ci.gitlab_pipeline(plan, task="test", base_ref_var="$BASE", remote_cache="grpc://c:1")
    [job] = gitlab_jobs(text).values()
    [argv] = graphkit_calls(job["script"][0])
    assert option(argv, "--base") == "$BASE"
    assert option(argv, "--remote-cache") == "grpc://c:1"


def test_gitlab_pipeline_with_no_work_is_one_no_op_job() -> None:
    plan = plan_of([])
    jobs = gitlab_jobs(ci.gitlab_pipeline(plan, task="test"))
    [(name, job)] = jobs.items()
    assert "nothing" in name
    assert graphkit_calls(" ; ".join(job["script"])) == []
    assert job["script"][0].startswith("echo ")


def test_gitlab_pipeline_refuses_more_than_its_limit() -> None:
    with pytest.raises(InputError, match="GitLab"):
        ci.gitlab_pipeline(plan_of([1.0], ci.MAX_JOBS["gitlab"] + 1), task="test")


# --- Buildkite ---------------------------------------------------------------------

UNESCAPED_DOLLAR = re.compile(r"(?<!\$)\$(?!\$)")


def unescape(command: str) -> str:
    assert not UNESCAPED_DOLLAR.search(command.replace("$$", "")), command
    return command.replace("$$", "$")


def test_buildkite_pipeline_is_a_group_of_shard_steps_with_escaped_variables() -> None:
    plan = plan_of([30.0, 20.0, 10.0], shards=3)
    doc = yaml.safe_load(ci.buildkite_pipeline(plan, task="test"))
    [group] = doc["steps"]
    assert group["group"] == "test shards"
    steps = group["steps"]
    assert [s["label"] for s in steps] == ["test 1/3", "test 2/3", "test 3/3"]
    assert len({s["key"] for s in steps} | {group["key"]}) == 4
    for index, step in enumerate(steps, start=1):
        assert "$$" in step["command"]
        [argv] = graphkit_calls(unescape(step["command"]))
        assert argv == [
            "graphkit", "run", "test", "--affected",
            "--base", "origin/${BUILDKITE_PULL_REQUEST_BASE_BRANCH:-main}",
            "--shard", f"{index}/3", "--plan-digest", plan.digest,
        ]  # fmt: skip


def test_buildkite_step_keys_are_safe_for_any_task_name() -> None:
    plan = plan_of([1.0], shards=1, task="test:unit")
    [group] = yaml.safe_load(ci.buildkite_pipeline(plan, task="test:unit"))["steps"]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", group["steps"][0]["key"])


def test_buildkite_pipeline_with_no_work_is_one_no_op_step() -> None:
    doc = yaml.safe_load(ci.buildkite_pipeline(plan_of([]), task="test"))
    [step] = doc["steps"]
    assert step["command"].startswith("echo ")
    assert graphkit_calls(step["command"]) == []


def test_buildkite_pipeline_refuses_more_than_500_steps() -> None:
    with pytest.raises(InputError, match="500"):
        ci.buildkite_pipeline(plan_of([1.0], 501), task="test")


# --- JSON --------------------------------------------------------------------------


def test_json_matrix_is_the_plan_json() -> None:
    plan = plan_of([3.0, 2.0, 1.0], shards=2)
    text = ci.json_matrix(plan)
    assert json.loads(text) == plan_json(plan)
    assert "\n" not in text


# --- docs/ci examples ----------------------------------------------------------------


def load_doc(name: str) -> dict[Any, Any]:
    doc = yaml.safe_load((DOCS / name).read_text())
    assert isinstance(doc, dict)
    return doc


def check_matrix_call(argv: list[str], ci_name: str) -> str:
    """The planning call's shape; returns its --base."""
    assert argv[:3] == ["graphkit", "matrix", "test"]
    assert "--affected" in argv
    assert option(argv, "--ci") == ci_name
    assert option(argv, "--shards") == "auto"
    return option(argv, "--base")


def check_github(doc: dict[Any, Any]) -> None:
    # PyYAML reads the key `on` as the boolean True (YAML 1.1).
    assert "pull_request" in doc.get("on", doc[True])
    plan_job, test_job = doc["jobs"]["plan"], doc["jobs"]["test"]
    for job in (plan_job, test_job):
        checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout"))
        assert checkout["with"]["fetch-depth"] == 0
    [plan_step] = [s for s in plan_job["steps"] if calls_of(s.get("run", ""), "matrix")]
    [matrix_call] = graphkit_calls(plan_step["run"])
    assert check_matrix_call(matrix_call, "github") == "$BASE"
    assert plan_step["run"].rstrip().endswith('>> "$GITHUB_OUTPUT"')
    outputs = {
        k: f"${{{{ steps.{plan_step['id']}.outputs.{k} }}}}" for k in ("matrix", "has_work", "plan")
    }
    assert plan_job["outputs"] == outputs

    assert test_job["needs"] == "plan"
    assert test_job["if"] == "needs.plan.outputs.has_work == 'true'"
    assert test_job["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    [run_step] = [s for s in test_job["steps"] if graphkit_calls(s.get("run", ""))]
    [run_call] = graphkit_calls(run_step["run"])
    env = run_step["env"]
    assert run_call[:4] == ["graphkit", "run", matrix_call[2], "--affected"]
    assert option(run_call, "--base") == "$BASE" and env["BASE"] == plan_step["env"]["BASE"]
    assert option(run_call, "--shard") == "$SHARD"
    assert env["SHARD"] == "${{ matrix.shard }}/${{ matrix.of }}"
    assert option(run_call, "--plan-digest") == "$PLAN"
    assert env["PLAN"] == "${{ needs.plan.outputs.plan }}"
    assert option(run_call, "--remote-cache") == "grpc://cache:8980"

    # The graph page of the same change is uploaded and linked from the job summary.
    [page_step] = [s for s in plan_job["steps"] if calls_of(s.get("run", ""), "graph")]
    [page_call] = graphkit_calls(page_step["run"])
    page = check_page_call(page_call)
    assert page_step["env"]["BASE"] == plan_step["env"]["BASE"]
    [upload] = [
        s for s in plan_job["steps"] if s.get("uses", "").startswith("actions/upload-artifact")
    ]
    assert upload["with"]["path"] == page
    [summary] = [s for s in plan_job["steps"] if "GITHUB_STEP_SUMMARY" in s.get("run", "")]
    assert summary["env"]["URL"] == f"${{{{ steps.{upload['id']}.outputs.artifact-url }}}}"


def calls_of(text: str, command: str) -> list[list[str]]:
    """The ``graphkit COMMAND ...`` calls in a shell snippet."""
    return [call for call in graphkit_calls(text) if call[1:2] == [command]]


def check_page_call(argv: list[str]) -> str:
    """A graph-page call's shape; returns the file it writes."""
    assert argv[:4] == ["graphkit", "graph", "--format", "html"]
    assert option(argv, "--base")
    return option(argv, "-o")


def test_github_example_plans_then_runs_each_shard_of_that_plan() -> None:
    check_github(load_doc("github.yml"))


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["jobs"]["test"]["steps"][-1].update(run="graphkit run lint --affected"),
        lambda d: d["jobs"]["test"]["steps"][-1]["env"].update(PLAN="${{ github.sha }}"),
        lambda d: d["jobs"]["test"]["steps"][-1]["env"].update(SHARD="${{ matrix.shard }}"),
        lambda d: d["jobs"]["plan"]["steps"][0].update({"with": {}}),
        lambda d: d["jobs"]["plan"]["steps"].pop(),
    ],
)
def test_the_github_check_catches_an_inconsistent_workflow(edit: Any) -> None:
    # Negative control: the check above must notice a broken example.
    doc = copy.deepcopy(load_doc("github.yml"))
    edit(doc)
    with pytest.raises((AssertionError, KeyError, ValueError)):
        check_github(doc)


def test_gitlab_example_triggers_the_generated_child_pipeline() -> None:
    doc = load_doc("gitlab-ci.yml")
    assert doc["variables"]["GIT_DEPTH"] == "0"
    plan_job, trigger_job = doc["plan"], doc["test"]
    [matrix_call] = graphkit_calls(" ; ".join(plan_job["script"]))
    base = check_matrix_call(matrix_call, "gitlab")
    artifact = plan_job["artifacts"]["paths"][0]
    assert f"> {artifact}" in " ; ".join(plan_job["script"])
    assert trigger_job["trigger"]["include"] == [{"artifact": artifact, "job": "plan"}]
    assert trigger_job["needs"] == ["plan"]
    # The child reads the base from a variable the trigger job must pass down.
    variable = base.removeprefix("$")
    assert trigger_job["variables"] == {variable: base}
    child = ci.gitlab_pipeline(plan_of([2.0, 1.0], 2), task=matrix_call[2], base_ref_var=base)
    for job in gitlab_jobs(child).values():
        [run_call] = graphkit_calls(job["script"][0])
        assert run_call[2] == matrix_call[2] and option(run_call, "--base") == base
    # The renderer's default is the variable the example passes.
    assert ci.gitlab_pipeline(plan_of([1.0], 1), task="test") == ci.gitlab_pipeline(
        plan_of([1.0], 1), task="test", base_ref_var=base
    )
    # The graph page of the same change, exposed in the merge request.
    page_job = doc["graph-page"]
    [page_call] = graphkit_calls(" ; ".join(page_job["script"]))
    assert option(page_call, "--base") == base
    assert page_job["artifacts"]["paths"] == [check_page_call(page_call)]
    assert page_job["artifacts"]["expose_as"]


def test_buildkite_example_uploads_the_generated_steps() -> None:
    doc = load_doc("buildkite.yml")
    [step] = [s for s in doc["steps"] if s.get("key") == "graphkit-plan"]
    commands = step["command"]
    [matrix_call] = graphkit_calls(unescape(commands[0]))
    base = check_matrix_call(matrix_call, "buildkite")
    output = shlex.split(commands[0])[-1]
    assert commands[1] == f"buildkite-agent pipeline upload {output}"
    uploaded = yaml.safe_load(ci.buildkite_pipeline(plan_of([2.0, 1.0], 2), task=matrix_call[2]))
    for shard_step in uploaded["steps"][0]["steps"]:
        [run_call] = graphkit_calls(unescape(shard_step["command"]))
        assert run_call[2] == matrix_call[2] and option(run_call, "--base") == base
    # The graph page of the same change, uploaded and linked from an annotation.
    [page_step] = [s for s in doc["steps"] if s.get("label") == "graph page"]
    [page_call] = graphkit_calls(unescape(page_step["command"][0]))
    page = check_page_call(page_call)
    assert option(page_call, "--base") == base
    assert page_step["command"][1] == f"buildkite-agent artifact upload {page}"
    assert f'href="artifact://{page}"' in page_step["command"][2]
