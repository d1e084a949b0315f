"""From "which targets" to "what this runner does": selection, plan, shard, run.

``run``, ``plan`` and ``matrix`` share one path so they agree: select the targets
(named, affected, or every target with the task), turn them into units (targets,
or test files where the rule shards by file), plan shards from recorded durations,
and for ``run`` build the keyed tasks of one shard and hand them to the runner.
"""

from __future__ import annotations

import datetime
import json
import os
import pickle
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import xxhash

from graphkit.analysis.filetests import test_files
from graphkit.analysis.graph import BuildGraph
from graphkit.analysis.session import Loaded, Session
from graphkit.cache.digest import Digest, digest, digest_of, mismatch
from graphkit.cache.protocol import re_pb2
from graphkit.cache.store.base import Store
from graphkit.errors import InputError
from graphkit.execution.history import History
from graphkit.execution.outputs import OutputSet, is_pattern
from graphkit.execution.plan import Plan, Unit, make_plan, plan_json, shard_of
from graphkit.execution.quarantine import Entry, is_muted, parse_quarantine
from graphkit.execution.run import TaskResult
from graphkit.execution.tasks import (
    TaskNode,
    TaskRun,
    declared_outputs,
    make_runs,
    platform_properties,
    task_graph,
)
from graphkit.labels import Label
from graphkit.model import FileEntry
from graphkit.readers.manifests.build_toml import BUILD_FILE

QUARANTINE_FILE = "graphkit-quarantine.toml"


@dataclass(frozen=True)
class Selection:
    """The targets a command works on, at the worktree (or --rev)."""

    head: Loaded
    task: str
    labels: tuple[Label, ...]
    committed: Mapping[str, FileEntry] = field(default_factory=dict)  # HEAD's files
    # Selected targets whose manifest says the task does nothing here, with why.
    skipped: tuple[tuple[Label, str], ...] = ()


def select(
    session: Session,
    task: str,
    labels: Sequence[str],
    *,
    affected: bool,
    base: str | None,
    on_unknown: str = "error",
    required: bool = True,
) -> Selection:
    """The named targets (else every target but the workspace root's, unless graphkit.toml
    lists the task in ``root_tasks``), only those affected with ``--affected``, only
    those whose rule has ``task``; a package without the script the task runs is
    skipped. ``required=False`` lets named targets lack the task (one of several run)."""
    head = session.load(None)
    graph = head.graph
    if labels:
        chosen = {graph.resolve(text) for text in labels}
    else:
        runs_root = task in graph.config.root_tasks
        # A workspace root runs a task when graphkit.toml says so, or when a pipeline
        # import defines it there (turbo's `//#task`).
        chosen = {
            x
            for x in graph.targets
            if runs_root or task in graph.imported_tasks.get(x, {}) or not _workspace_root(graph, x)
        }
    if affected:  # named and affected: the named targets the change affects
        chosen &= set(session.compare(base, None, on_unknown=on_unknown).affected.targets)
    with_task = sorted(label for label in chosen if graph.task_spec(label, task) is not None)
    skipped = tuple((x, why) for x in with_task if (why := _no_script(graph, x, task)))
    if required and labels and not affected and not with_task:
        raise InputError(f"none of the named targets has a {task!r} task")
    ran = tuple(x for x in with_task if x not in dict(skipped))
    return Selection(head, task, ran, _committed(session), skipped)


def select_tasks(
    session: Session,
    tasks: Sequence[str],
    labels: Sequence[str],
    affected: bool = False,
    base: str | None = None,
    on_unknown: str = "error",
) -> list[Selection]:
    """``select`` for each of ``tasks``: a target without a task is an error only when
    one task is asked for (with several, each runs where it is defined)."""
    return [
        select(
            session,
            task,
            labels,
            affected=affected,
            base=base,
            on_unknown=on_unknown,
            required=len(tasks) == 1,
        )
        for task in tasks
    ]


def split_tasks(graph: BuildGraph, words: Sequence[str]) -> tuple[list[str], list[str]]:
    """``build test //libs/a`` -> tasks ``[build, test]``, labels ``[//libs/a]``.

    The first word is a task; each following word is one too while it names a task
    some rule defines and cannot be a label (no ``/``, ``:`` or ``@``). A package whose
    name is also a task name is reached by its label.
    """
    known = {spec.name for rule in graph.rules.values() for spec in rule.tasks}
    known.update(name for tasks in graph.imported_tasks.values() for name in tasks)
    tasks = list(words[:1])
    rest = list(words[1:])
    while rest and rest[0] in known and not set(rest[0]) & set("/:@"):
        tasks.append(rest.pop(0))
    return list(dict.fromkeys(tasks)), rest


def _committed(session: Session) -> Mapping[str, FileEntry]:
    """HEAD's files, read on demand (none before the first commit)."""
    try:
        return session.workspace.snapshot(session.workspace.resolve("HEAD"))
    except InputError:
        return {}


def _workspace_root(graph: BuildGraph, label: Label) -> bool:
    """True for the root package of an ecosystem workspace: its scripts (a `test` that
    runs jest over the whole repository) would redo its members' work."""
    manifest = graph.targets[label].manifest
    if label.package != "" or manifest.endswith(BUILD_FILE):
        return False
    return any(
        t.manifest.rpartition("/")[2] == manifest and t.label.package != ""
        for t in graph.targets.values()
    )


def _no_script(graph: BuildGraph, label: Label, task: str) -> str | None:
    """Why ``task`` does nothing for ``label``: a package.json without that script."""
    target = graph.targets[label]
    scripts = dict(target.attrs).get("scripts")
    script = task
    if label in graph.imported_tasks:  # a turbo or nx task says which script it runs
        spec = graph.task_spec(label, task)
        if spec is not None and spec is graph.imported_tasks[label].get(task):
            if spec.script is None:
                return None
            script = spec.script
    if scripts is None or script in json.loads(scripts):
        return None
    return f"{target.manifest} has no {script!r} script"


def units(selection: Selection, history: History | None) -> list[Unit]:
    """Schedulable units: whole targets, or test files for rules that shard by file."""
    graph, inputs = selection.head.graph, selection.head.inputs
    found = []
    for label in selection.labels:
        rule = graph.rule_of(label)
        known = history.durations(str(label), selection.task) if history else None
        if rule.shard_unit == "file":
            for path in test_files(graph, label, inputs[label]):
                seconds = known.files.get(path) if known else None
                found.append(
                    Unit(f"{label}#{path}", str(label), selection.task, rule.kind, path, seconds, 1)
                )
        else:
            seconds = known.seconds if known else None
            # Its size: the test files it runs, else (a rule that names none, e.g. a
            # package whose tests its own tool finds) every input file.
            size = len(test_files(graph, label, inputs[label]) or inputs[label])
            found.append(
                Unit(str(label), str(label), selection.task, rule.kind, None, seconds, size)
            )
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
    """The keyed tasks covering ``unit_ids`` (one shard's share of the plan), and the
    tasks they need."""
    return task_graph_runs([(selection, unit_ids)], environ)


# Bump when what a memoized task graph holds, or how its key is made, changes.
RUNS_MEMO_SCHEME = 1
RUNS_MEMO_KEEP = 8  # task graphs kept (the newest): a branch switch back still hits


def task_graph_runs(
    parts: Sequence[tuple[Selection, Sequence[str]]],
    environ: Mapping[str, str],
    memo: Path | None = None,
) -> list[TaskRun]:
    """One task graph for several tasks' selections (``graphkit run build test``): each
    selection's units, plus every task they need, keyed.

    With ``memo`` (a folder), the keyed graph is kept there under a digest of
    everything it is made from — graphkit's own code, the environment, the tasks and
    units asked for, every file of the worktree and of HEAD — and read back when all
    of those are the same: a fully cached re-run then computes no key at all.
    """
    if not parts:
        return []
    key = _runs_key(parts, environ) if memo is not None else None
    if memo is not None and key is not None:
        found = _read_runs(memo, key)
        if found is not None:
            return found
    runs = _task_graph_runs(parts, environ)
    if memo is not None and key is not None:
        _write_runs(memo, key, runs)
    return runs


def _runs_key(
    parts: Sequence[tuple[Selection, Sequence[str]]], environ: Mapping[str, str]
) -> str | None:
    """The digest a memoized task graph is kept under (see ``task_graph_runs``)."""
    hasher = xxhash.xxh3_128()
    hasher.update(f"{RUNS_MEMO_SCHEME}\0{_code_fingerprint()}\0".encode())
    hasher.update(repr(platform_properties()).encode())
    # The whole environment, not the declared names alone: a wildcard (NEXT_PUBLIC_*)
    # declares whatever it matches.
    env = "\0".join(f"{name}={value}" for name, value in sorted(environ.items()))
    hasher.update(b"\1env\0" + env.encode("utf-8", "surrogatepass"))
    if len({id(selection.head) for selection, _ in parts}) != 1:
        return None  # not one revision: not memoized
    for selection, unit_ids in parts:
        units = "\0".join(unit_ids)
        hasher.update(f"\1task\0{selection.task}\0{units}".encode("utf-8", "surrogatepass"))
    selection = parts[0][0]
    for name, snapshot in (
        ("worktree", selection.head.side.snapshot),
        ("HEAD", selection.committed),
    ):
        hasher.update(f"\1{name}\0".encode())
        hasher.update(_snapshot_bytes(snapshot))
    return hasher.hexdigest()


def _snapshot_bytes(snapshot: Mapping[str, FileEntry]) -> bytes:
    """Every path, mode and blob id of ``snapshot``, in path order."""
    return "\n".join(
        f"{path}\0{entry.mode}\0{entry.oid}" for path, entry in sorted(snapshot.items())
    ).encode("utf-8", "surrogatepass")


@cache
def _code_fingerprint() -> str:
    """graphkit's own files (path, size, mtime): a task graph memoized by other code —
    a new version, an edited checkout, other built-in rules — is never read back."""
    package = Path(__file__).resolve().parents[1]
    entries = []
    for folder, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            info = os.stat(os.path.join(folder, name))
            entries.append(f"{os.path.join(folder, name)}\0{info.st_size}\0{info.st_mtime_ns}")
    return xxhash.xxh3_128_hexdigest("\n".join(entries).encode("utf-8", "surrogatepass"))


def _read_runs(memo: Path, key: str) -> list[TaskRun] | None:
    """The task graph memoized under ``key``, or None (absent, unreadable, another shape).

    The folder is this machine's own cache (as the graph memo beside it), never
    filled from elsewhere, so its pickles are as trusted as the checkout."""
    try:
        data = (memo / key).read_bytes()
        runs = pickle.loads(data)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        return None
    if not isinstance(runs, list) or not all(isinstance(run, TaskRun) for run in runs):
        return None
    return runs


def _write_runs(memo: Path, key: str, runs: list[TaskRun]) -> None:
    """Keep ``runs`` under ``key``, and only the newest few graphs. Best effort: a
    memo that cannot be written is a memo that misses."""
    try:
        memo.mkdir(parents=True, exist_ok=True)
        temp = memo / f".{key}.{os.getpid()}"
        temp.write_bytes(pickle.dumps(runs, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(temp, memo / key)
        kept = sorted(
            (entry for entry in os.scandir(memo) if not entry.name.startswith(".")),
            key=lambda entry: entry.stat().st_mtime_ns,
            reverse=True,
        )
        for entry in kept[RUNS_MEMO_KEEP:]:
            os.unlink(entry.path)
    except OSError:
        return


def _task_graph_runs(
    parts: Sequence[tuple[Selection, Sequence[str]]], environ: Mapping[str, str]
) -> list[TaskRun]:
    """``task_graph_runs`` without the memo."""
    head = parts[0][0].head
    graph = head.graph
    roots: list[TaskNode] = []
    files: dict[TaskNode, list[str]] = {}
    for selection, unit_ids in parts:
        for unit_id in unit_ids:
            text, _, path = unit_id.partition("#")
            node = (graph.resolve(text), selection.task)
            roots.append(node)
            if path:
                files.setdefault(node, []).append(path)
    lacking: dict[TaskNode, bool] = {}  # asked once per need: remember the answers

    def skip(node: TaskNode) -> bool:
        if node not in lacking:
            lacking[node] = _no_script(graph, *node) is not None
        return lacking[node]

    edges = task_graph(graph, roots, skip=skip)
    labels = sorted({label for label, _task in edges})
    without = untracked_outputs(parts[0][0])
    records = head.keys(only=labels, without=without)
    shares = {node: sorted(paths) for node, paths in files.items()}
    snapshot = head.side.snapshot
    if without:
        snapshot = {path: entry for path, entry in snapshot.items() if path not in without}
    return make_runs(graph, records, edges, environ=environ, files_for=shares, snapshot=snapshot)


def untracked_outputs(selection: Selection) -> frozenset[str]:
    """Declared outputs on disk that the HEAD commit does not hold: never inputs of a key.

    A task's outputs are what its key produces; were a previous run's outputs read
    back as inputs (git ignores no file there), the same task would run twice before
    its key settled. A committed output stays an input: edited by hand, it is a change.
    """
    snapshot = selection.head.side.snapshot
    declared = declared_outputs(selection.head.graph)
    if any(is_pattern(output) for output in declared):  # folders and globs: ask each file
        covered = OutputSet.of(declared)
        present = [path for path in snapshot if covered.matches(path)]
    else:
        present = [path for path in declared if path in snapshot]
    return frozenset(path for path in present if path not in selection.committed)


class HistoryRecorder:
    """Feeds executed tasks into the history: durations, per-file times, flakiness."""

    def __init__(self, history: History) -> None:
        self._history = history

    def executed(self, result: TaskResult, test_durations: Mapping[str, float]) -> None:
        """Record one executed task."""
        now = time.time()
        run = result.run
        with self._history.transaction():
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
        """True when the target, or every failing test of it, is quarantined and unexpired."""
        if is_muted(self._entries, str(run.label), self._today) is not None:
            return True
        return bool(failing) and all(
            is_muted(self._entries, test, self._today) is not None for test in failing
        )


# --- publishing plans -------------------------------------------------------------
#
# Shards re-plan on their own runners, but their duration history may differ from
# the planning job's (a shard that ran first has already recorded new durations).
# So the planning job publishes its plan under its digest — in the local cache
# folder and, when there is one, the remote cache — and a shard whose own plan
# differs uses the published one, after checking it covers exactly the work this
# runner selected. Only when neither can be had does it refuse.

_PLAN_DIGEST = re.compile(r"[0-9a-f]{32}")


def _plan_action(plan_digest: str) -> Digest:
    return digest_of(f"graphkit-plan:{plan_digest}".encode())


def publish_plan(plan: Plan, cache_root: Path, store: Store | None) -> None:
    """Keep the plan where the shard jobs can find it by digest."""
    data = json.dumps(plan_json(plan), sort_keys=True).encode()
    folder = cache_root / "plans"
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{plan.digest}.{os.getpid()}"
    temp.write_bytes(data)
    os.replace(temp, folder / f"{plan.digest}.json")
    if store is not None:
        blob = digest_of(data)
        result = re_pb2.ActionResult(
            exit_code=0, stdout_digest=re_pb2.Digest(hash=blob.hash, size_bytes=blob.size)
        )
        store.put_many([(blob, data)])
        store.put_action_result(_plan_action(plan.digest), result.SerializeToString())


def recall_plan(plan_digest: str, cache_root: Path, store: Store | None) -> dict[str, Any] | None:
    """A published plan, from the local folder or the remote cache, or None."""
    if not _PLAN_DIGEST.fullmatch(plan_digest):
        raise InputError(f"--plan-digest {plan_digest!r} is not a plan digest (32 hex digits)")
    local = cache_root / "plans" / f"{plan_digest}.json"
    if local.is_file():
        loaded: dict[str, Any] = json.loads(local.read_bytes())
        return loaded
    if store is None:
        return None
    raw = store.get_action_result(_plan_action(plan_digest))
    if raw is None:
        return None
    result = re_pb2.ActionResult()
    result.ParseFromString(raw)
    blob = digest(result.stdout_digest.hash, result.stdout_digest.size_bytes)
    data = store.get_many([blob]).get(blob)
    if data is None or mismatch(blob, data) is not None:
        return None
    found: dict[str, Any] = json.loads(data)
    return found


def shard_units(
    selection: Selection,
    history: History,
    index: int,
    count: int,
    plan_digest: str | None,
    cache_root: Path,
    store: Store | None,
) -> list[str]:
    """The unit ids shard ``index`` of ``count`` runs, checked against ``plan_digest``."""
    plan = plan_for(selection, history, count)
    if plan_digest is None or plan.digest == plan_digest:
        return list(shard_of(plan, index, count).units)
    published = recall_plan(plan_digest, cache_root, store)
    if published is None:
        raise InputError(
            f"plan digest {plan.digest} differs from --plan-digest {plan_digest}, and plan "
            f"{plan_digest} was not published to this runner's cache",
            hint="pass the same --remote-cache to `graphkit matrix` and `graphkit run`",
        )
    mine = {unit.id for unit in units(selection, None)}
    theirs = {unit for shard in published["shards"] for unit in shard["units"]}
    if mine != theirs or len(published["shards"]) != count:
        raise InputError(
            f"plan {plan_digest} covers different work than this runner selected",
            hint="the planning job and the shards must use the same --base and commit",
        )
    return list(published["shards"][index - 1]["units"])


def dry_run(
    session: Session,
    tasks: Sequence[str],
    labels: Sequence[str],
    environ: Mapping[str, str],
    *,
    affected: bool = False,
    base: str | None = None,
    on_unknown: str = "error",
) -> tuple[list[TaskRun], list[tuple[Label, str, str]]]:
    """What ``graphkit run TASKS LABELS`` would run (every task with its key), and
    the targets it would skip (label, task, why), without running anything. No
    ``tasks``: every task some selected target has."""
    graph = session.load(None).graph
    if not tasks:
        chosen = [graph.resolve(text) for text in labels] or list(graph.targets)
        tasks = sorted({spec.name for label in chosen for spec in graph.task_specs(label)})
    selections = select_tasks(session, tasks, labels, affected, base, on_unknown)
    parts = [(s, [u.id for u in units(s, None)]) for s in selections]
    runs = task_graph_runs([p for p in parts if p[1]], environ)
    return runs, [(x, s.task, why) for s in selections for x, why in s.skipped]
