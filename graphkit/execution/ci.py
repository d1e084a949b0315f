"""A Plan as CI job matrices: GitHub Actions outputs, GitLab and Buildkite pipelines, JSON.

Pure text renderers. Every shard job re-plans on its own runner and runs
``graphkit run TASK --affected --base B --shard I/N --plan-digest D``; the digest
makes it refuse to run when its plan differs from the planning job's. Only shards
that have units get a job: an empty shard would start a runner to do nothing.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import yaml

from graphkit.errors import InputError
from graphkit.execution.plan import Plan, Shard, plan_json

# The most jobs each CI accepts from one matrix or one upload; the CLI passes these
# to make_plan as ``ci_limit`` so that ``--shards auto`` stays within them.
MAX_JOBS = {
    # GitHub Actions: "A matrix will generate a maximum of 256 jobs per workflow run"
    # (docs.github.com, workflow syntax, jobs.<job_id>.strategy.matrix).
    "github": 256,
    # GitLab caps `parallel` / `parallel:matrix` at 200 jobs (docs.gitlab.com, CI YAML
    # reference, `parallel`; gitlab-org/gitlab#547976). A child pipeline of plain jobs
    # is bounded only by the instance's pipeline-size limit, which we cannot see, so
    # we keep to the same 200.
    "gitlab": 200,
    # Buildkite: "The configuration file has a limit of 500 steps per file"
    # (buildkite.com/docs/agent/v3/cli-pipeline, Uploading pipelines).
    "buildkite": 500,
}


def github_output(plan: Plan, *, max_entries: int = MAX_JOBS["github"]) -> str:
    """Lines for ``$GITHUB_OUTPUT``: ``matrix=``, ``has_work=`` and ``plan=``.

    The matrix is include-only and holds nothing but two small integers per job —
    no unit or file lists (outputs are capped at 1 MB per job, and GitHub withholds
    any output that looks like it carries a secret). With no work it is
    ``{"include":[]}``: GitHub rejects an empty matrix, so the workflow must skip the
    shard job on ``has_work == 'false'``.
    """
    _check_limit(plan, max_entries, "GitHub Actions")
    include = [{"shard": s.index, "of": len(plan.shards)} for s in _busy(plan)]
    matrix = json.dumps({"include": include}, separators=(",", ":"))
    return "\n".join(
        [f"matrix={matrix}", f"has_work={str(plan.has_work).lower()}", f"plan={plan.digest}"]
    )


def gitlab_pipeline(
    plan: Plan,
    *,
    task: str,
    base_ref_var: str = "$CI_MERGE_REQUEST_DIFF_BASE_SHA",
    remote_cache: str | None = None,
) -> str:
    """A child-pipeline YAML with one job per shard that has work.

    ``base_ref_var`` is expanded by the job's shell. Merge-request variables are not
    predefined in a child pipeline (gitlab-org/gitlab#214578), so the trigger job
    must pass it down (see docs/ci/gitlab-ci.yml). With no work the pipeline holds a
    single no-op job, because GitLab refuses to create an empty child pipeline.
    """
    _check_limit(plan, MAX_JOBS["gitlab"], "GitLab")
    jobs: dict[str, Any] = {}
    for shard in _busy(plan):
        command = _run_command(plan, shard, task, f'"{base_ref_var}"', remote_cache)
        jobs[f"{task} {shard.index}/{len(plan.shards)}"] = {"stage": "test", "script": [command]}
    if not jobs:
        jobs[f"{task} nothing affected"] = {
            "stage": "test",
            "script": [f"echo {shlex.quote(f'graphkit: no {task} work in plan {plan.digest}')}"],
        }
    pipeline: dict[str, Any] = {
        "stages": ["test"],
        # The base commit must be in the clone; GitLab's default depth (20) may miss it.
        "variables": {"GIT_DEPTH": "0"},
        **jobs,
    }
    return yaml.safe_dump(pipeline, sort_keys=False)


def buildkite_pipeline(
    plan: Plan,
    *,
    task: str,
    base_ref: str = "origin/${BUILDKITE_PULL_REQUEST_BASE_BRANCH:-main}",
    remote_cache: str | None = None,
) -> str:
    """A ``buildkite-agent pipeline upload`` YAML: one group with a step per busy shard.

    ``base_ref`` is shell text for the step's runtime. Buildkite interpolates ``$VAR``
    when the pipeline is uploaded, so every ``$`` is escaped as ``$$`` and reaches the
    step's shell untouched ("Environment variable substitution",
    buildkite.com/docs/agent/v3/cli-pipeline).
    """
    _check_limit(plan, MAX_JOBS["buildkite"], "Buildkite")
    steps = [
        {
            "label": f"{task} {shard.index}/{len(plan.shards)}",
            "key": f"graphkit-{_key(task)}-{shard.index}",
            "command": _escape(_run_command(plan, shard, task, f'"{base_ref}"', remote_cache)),
        }
        for shard in _busy(plan)
    ]
    if not steps:
        # A no-op step says why nothing ran, instead of leaving an empty upload.
        message = shlex.quote(f"graphkit: no {task} work in plan {plan.digest}")
        return yaml.safe_dump(
            {"steps": [{"label": f"{task}: nothing affected", "command": f"echo {message}"}]},
            sort_keys=False,
        )
    group = {"group": f"{task} shards", "key": f"graphkit-{_key(task)}", "steps": steps}
    return yaml.safe_dump({"steps": [group]}, sort_keys=False)


def json_matrix(plan: Plan) -> str:
    """The plan as compact JSON (``graphkit plan --format json``), for any other CI."""
    return json.dumps(plan_json(plan), separators=(",", ":"))


def _busy(plan: Plan) -> list[Shard]:
    return [shard for shard in plan.shards if shard.units]


def _check_limit(plan: Plan, limit: int, ci: str) -> None:
    if len(plan.shards) > limit:
        raise InputError(
            f"{len(plan.shards)} shards exceed {ci}'s limit of {limit} jobs",
            hint=f"use --shards {limit} or fewer, or --shards auto",
        )


def _run_command(plan: Plan, shard: Shard, task: str, base: str, remote_cache: str | None) -> str:
    # ``base`` is already shell text (a quoted variable reference); the rest is ours.
    words = [
        "graphkit run",
        shlex.quote(task),
        "--affected --base",
        base,
        f"--shard {shard.index}/{len(plan.shards)}",
        f"--plan-digest {plan.digest}",
    ]
    if remote_cache is not None:
        words.append(f"--remote-cache {shlex.quote(remote_cache)}")
    return " ".join(words)


def _escape(command: str) -> str:
    return command.replace("$", "$$")


def _key(task: str) -> str:
    # Buildkite step keys allow letters, digits, "-", "_" and ":"; a task name may hold more.
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in task)
