"""The task graph as ``graphkit tasks`` shows it: JSON (like ``turbo run --dry=json``),
text, Graphviz dot, and the data of the offline graph page."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from graphkit.execution.tasks import TaskRun
from graphkit.labels import Label
from graphkit.model import TaskSpec

SpecOf = Callable[[Label, str], TaskSpec | None]


def task_id(label: Label, task: str) -> str:
    """``//packages/ui:ui#build``: one task of one target, as ``needs`` writes it."""
    return f"{label}#{task}"


def tasks_json(
    runs: Sequence[TaskRun], spec_of: SpecOf, skipped: Sequence[tuple[Label, str, str]]
) -> dict[str, Any]:
    """Every task with what it runs, leaves, reads and needs, and its action key."""
    found = []
    for run in runs:
        spec = spec_of(run.label, run.task)
        found.append(
            {
                "id": task_id(run.label, run.task),
                "label": str(run.label),
                "task": run.task,
                "command": run.command,
                "outputs": list(run.outputs),
                # The declared input sets (None: the task's default), and the content
                # key of what they cover.
                "inputs": list(spec.inputs) if spec and spec.inputs is not None else None,
                "content_key": run.content_key,
                "env": [name for name, _value in run.env],  # names only: values may be secret
                "pass_env": list(spec.pass_env) if spec else [],
                "needs": [task_id(label, task) for label, task in run.needs],
                "cache": spec.cache if spec else True,
                "persistent": spec.persistent if spec else False,
                "action": run.action.hash,
            }
        )
    return {
        "tasks": found,
        "skipped": [{"id": task_id(label, task), "why": why} for label, task, why in skipped],
    }


def tasks_text(runs: Sequence[TaskRun], skipped: Sequence[tuple[Label, str, str]]) -> str:
    """One block per task: id, short action key, command, and what it needs."""
    lines = []
    for run in runs:
        lines.append(f"{task_id(run.label, run.task)}  {run.action.hash[:12]}")
        lines.append(f"  $ {run.command}")
        if run.outputs:
            lines.append(f"  outputs: {' '.join(run.outputs)}")
        if run.needs:
            lines.append(f"  needs: {' '.join(task_id(*n) for n in run.needs)}")
    for label, task, why in skipped:
        lines.append(f"{task_id(label, task)}  skipped: {why}")
    return "\n".join(lines) if lines else "no tasks"


def tasks_dot(runs: Sequence[TaskRun]) -> str:
    """The task graph in Graphviz dot, an edge from each task to each task it needs."""
    lines = ["digraph tasks {", "  rankdir=LR;", "  node [fontname=Helvetica, shape=box];"]
    for run in runs:
        lines.append(f"  {json.dumps(task_id(run.label, run.task))};")
    for run in runs:
        for need in run.needs:
            lines.append(
                f"  {json.dumps(task_id(run.label, run.task))} -> {json.dumps(task_id(*need))};"
            )
    lines.append("}")
    return "\n".join(lines)


def tasks_page_data(
    runs: Sequence[TaskRun],
    inputs: Mapping[Label, Sequence[str]],
    *,
    head: str,
    command: str,
    page_format: int,
) -> dict[str, Any]:
    """The graph page's data with tasks as its nodes and ``needs`` as its edges."""
    nodes = [
        {
            "id": task_id(run.label, run.task),
            "names": [f"{run.label.short}#{run.task}"],
            "rule": run.task,
            "group": run.label.package.split("/", 1)[0] if run.label.package else "(root)",
            "inputs": len(inputs.get(run.label, ())),
            "key": run.action.hash,
            "reason": None,
            "reason_kind": None,
            "via": None,
        }
        for run in runs
    ]
    edges = [
        {
            "from": task_id(run.label, run.task),
            "to": task_id(*need),
            "kind": "declared",
            "label": "needs",
            "import": None,
            "cycle": False,
        }
        for run in runs
        for need in run.needs
    ]
    return {
        "format": page_format,
        "head": head,
        "base": None,
        "command": command,
        "only_affected": False,
        "targets": nodes,
        "edges": edges,
        "changed": [],
        "removed": [],
    }
