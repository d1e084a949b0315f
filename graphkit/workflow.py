"""From "which targets" to "what this runner does": selection, plan, shard, run.

``run``, ``plan`` and ``matrix`` share one path so they agree: select the targets
(named, affected, or every target with the task), turn them into units (targets,
or test files where the rule shards by file), plan shards from recorded durations,
and for ``run`` build the keyed tasks of one shard and hand them to the runner.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from graphkit.errors import InputError
from graphkit.history import History
from graphkit.keys import compute_keys
from graphkit.labels import Label
from graphkit.plan import Plan, Unit, make_plan
from graphkit.quarantine import Entry, is_muted, parse_quarantine
from graphkit.run import TaskResult
from graphkit.session import Loaded, Session
from graphkit.tasks import TaskRun, make_tasks, test_files

QUARANTINE_FILE = "graphkit-quarantine.toml"


@dataclass(frozen=True)
class Selection:
    """The targets a command works on, at the worktree (or --rev)."""

    head: Loaded
    task: str
    labels: tuple[Label, ...]


def select(
    session: Session,
    task: str,
    labels: Sequence[str],
    *,
    affected: bool,
    base: str | None,
    on_unknown: str = "error",
) -> Selection:
    """Named labels, else the affected targets, else every target; only those with ``task``."""
    head = session.load(None)
    graph = head.graph
    if labels:
        chosen = {graph.resolve(text) for text in labels}
    elif affected:
        chosen = set(session.compare(base, None, on_unknown=on_unknown).affected.targets)
    else:
        chosen = set(graph.targets)
    with_task = sorted(label for label in chosen if graph.rule_of(label).task(task) is not None)
    if labels and not with_task:
        raise InputError(f"none of the named targets has a {task!r} task")
    return Selection(head, task, tuple(with_task))


def units(selection: Selection, history: History | None) -> list[Unit]:
    """Schedulable units: whole targets, or test files for rules that shard by file."""
    graph, snapshot = selection.head.graph, selection.head.side.snapshot
    inputs = graph.inputs(snapshot)
    found = []
    for label in selection.labels:
        rule = graph.rule_of(label)
        known = history.durations(str(label), selection.task) if history else None
        if rule.shard_unit == "file":
            for path in test_files(graph, label, inputs[label]):
                seconds = known.files.get(path) if known else None
                found.append(
                    Unit(f"{label}#{path}", str(label), selection.task, rule.kind, path, seconds)
                )
        else:
            seconds = known.seconds if known else None
            found.append(Unit(str(label), str(label), selection.task, rule.kind, None, seconds))
    return found


def plan_for(
    selection: Selection,
    history: History | None,
    shards: int | Literal["auto"],
    ci_limit: int | None = None,
) -> Plan:
    """The shard plan of a selection (the same on every runner given the same history)."""
    settings = selection.head.graph.config.shards
    return make_plan(selection.task, units(selection, history), shards, settings, ci_limit)


def tasks_for(
    selection: Selection,
    unit_ids: Sequence[str],
    environ: Mapping[str, str],
) -> list[TaskRun]:
    """The keyed tasks covering ``unit_ids`` (one shard's share of the plan)."""
    graph, snapshot = selection.head.graph, selection.head.side.snapshot
    labels: set[Label] = set()
    files: dict[Label, list[str]] = {}
    for unit_id in unit_ids:
        text, _, path = unit_id.partition("#")
        label = graph.resolve(text)
        labels.add(label)
        if path:
            files.setdefault(label, []).append(path)
    records = compute_keys(graph, snapshot, only=sorted(labels))
    return make_tasks(
        graph,
        records,
        sorted(labels),
        selection.task,
        environ=environ,
        files_for={label: sorted(paths) for label, paths in files.items()},
    )


class HistoryRecorder:
    """Feeds executed tasks into the history: durations, per-file times, flakiness."""

    def __init__(self, history: History) -> None:
        self._history = history

    def executed(self, result: TaskResult, test_durations: Mapping[str, float]) -> None:
        """Record one executed task."""
        now = time.time()
        run = result.run
        self._history.record_duration(
            str(run.label), run.task, result.duration_s, dict(test_durations), now=now
        )
        self._history.record_run(
            str(run.label), run.task, str(run.label), run.action.hash, result.attempts, now=now
        )


class Quarantine:
    """The workspace's quarantine file, applied on a given day."""

    def __init__(self, entries: Sequence[Entry], today: datetime.date) -> None:
        self._entries = entries
        self._today = today

    @classmethod
    def load(cls, root: Path, today: datetime.date) -> Quarantine:
        """Read ``graphkit-quarantine.toml`` at the workspace root, if there is one."""
        path = root / QUARANTINE_FILE
        entries = parse_quarantine(path.read_bytes(), QUARANTINE_FILE) if path.is_file() else ()
        return cls(entries, today)

    def all_muted(self, run: TaskRun, failing: Sequence[str]) -> bool:
        """True when every failing test (or the target itself) is quarantined and unexpired."""
        return bool(failing) and all(
            is_muted(self._entries, test, self._today) is not None
            or is_muted(self._entries, str(run.label), self._today) is not None
            for test in failing
        )
