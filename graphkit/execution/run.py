"""Run tasks in dependency order, N at a time, each served from the cache when it can be.

The only module that spawns processes. On a cache hit it replays the captured
output and restores the declared outputs byte for byte — after checking that the
result names exactly those paths, and that each stays inside the workspace and out
of ``.git``. On a miss it runs the command, and on success
stores outputs, logs, exit code and duration as a REAPI ActionResult. Failures are
never cached. Progress goes out through a callback; nothing here prints.
"""

from __future__ import annotations

import heapq
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from graphkit.cache.actions import parse_action_result
from graphkit.cache.digest import Digest, digest, digest_of, mismatch
from graphkit.cache.protocol import re_pb2
from graphkit.cache.store.base import Store
from graphkit.errors import CacheError, GraphkitError, InputError
from graphkit.execution.junit import TestCase, file_durations, parse_junit
from graphkit.execution.outputs import OutputSet, base_of, collect, is_pattern, link_problem
from graphkit.execution.tasks import OUT_DIR, TaskNode, TaskRun
from graphkit.paths import WorkspaceGuard, escape_reason, inside_workspace

# An empty folder output, as REAPI says it: a Tree whose root folder holds nothing.
_EMPTY_TREE_BYTES = re_pb2.Tree(root=re_pb2.Directory()).SerializeToString(deterministic=True)
EMPTY_TREE = digest_of(_EMPTY_TREE_BYTES)

# What ``_Runner.prefetch`` reads ahead: logs up to this size, this many bytes in all.
_PREFETCH_LOG = 64 * 1024
_PREFETCH_TOTAL = 64 * 1024 * 1024

# "skipped": never started, because a task it needs (directly or not) failed.
Status = Literal["ran", "cached", "failed", "flaky", "muted", "skipped"]


@dataclass(frozen=True)
class TaskResult:
    """How one task ended."""

    run: TaskRun
    status: Status
    duration_s: float  # wall time here (for a hit: the time it took to restore)
    saved_s: float  # for a hit: how long the task took when it really ran
    exit_code: int
    attempts: tuple[str, ...] = ()  # "passed"/"failed" per attempt, for executed tasks
    failing_tests: tuple[str, ...] = ()
    why: str = ""  # for a skipped task: the failed task it waited on


@dataclass(frozen=True)
class Event:
    """Progress: a task started, printed output, finished; or a warning."""

    kind: Literal["start", "output", "finish", "warning"]
    run: TaskRun | None = None
    text: str = ""
    result: TaskResult | None = None


@dataclass(frozen=True)
class RunOptions:
    """How to run: parallelism, cache directions, retries."""

    jobs: int = 1
    read_cache: bool = True
    write_cache: bool = True
    retries: int = 0
    # Run a task even when a task it needs failed (turbo's --continue=always); by
    # default it is skipped, and tasks that need nothing failed still finish.
    keep_going: bool = False
    # Look cache hits up in the scheduling thread: a local hit is a few reads, and a
    # handoff to a worker and back costs as much again (a fully cached run is all
    # hits). False when a lookup can wait on the network (a remote cache): lookups
    # then run on the workers, ``jobs`` at a time.
    hits_inline: bool = True


@dataclass(frozen=True)
class Summary:
    """Every task's result, and the totals the CLI reports."""

    results: tuple[TaskResult, ...] = field(default=())

    def count(self, status: Status) -> int:
        """How many tasks ended with ``status``."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def saved_s(self) -> float:
        """Time the cache saved: what the cached tasks took when they really ran."""
        return sum(r.saved_s for r in self.results if r.status == "cached")

    @property
    def failed(self) -> bool:
        """True when a task failed, or was skipped because one it needs did (muted
        and flaky tasks do not fail the run)."""
        return any(r.status in ("failed", "skipped") for r in self.results)


class Recorder(Protocol):
    """Where executed tasks leave their durations and outcomes (see graphkit.execution.history)."""

    def executed(self, result: TaskResult, test_durations: Mapping[str, float]) -> None: ...


class Muting(Protocol):
    """Decides whether failing tests are quarantined (see graphkit.execution.quarantine)."""

    def all_muted(self, run: TaskRun, failing: Sequence[str]) -> bool: ...


Reporter = Callable[[Event], None]


def run_tasks(
    root: Path,
    runs: Sequence[TaskRun],
    store: Store | None,
    options: RunOptions,
    *,
    environ: Mapping[str, str],
    report: Reporter,
    recorder: Recorder | None = None,
    muting: Muting | None = None,
) -> Summary:
    """Run every task once its deps' tasks are done, ``options.jobs`` at a time.

    Every declared output is checked first: one that leads out of the workspace or
    into ``.git`` through a symlink is an InputError, and nothing runs.
    """
    check_outputs(root, runs)
    # A plain copy: os.environ decodes every variable on each read, and each executed
    # task scans them all for the ones it passes through.
    runner = _Runner(root, store, options, dict(environ), report, recorder, muting)
    if options.hits_inline:
        runner.prefetch(runs)
    by_node = {run.node: run for run in runs}
    waiting = {run.node: {n for n in run.needs if n in by_node} for run in runs}
    dependents: dict[TaskNode, list[TaskNode]] = {node: [] for node in by_node}
    for node, needs in waiting.items():
        for need in needs:
            dependents[need].append(node)
    ready = [node for node, needs in waiting.items() if not needs]
    heapq.heapify(ready)  # started in (target, task) order among those ready
    results: list[TaskResult] = []

    def finish(result: TaskResult) -> None:
        """Record a finished task; skip what needs a failed one, ready what waited on it."""
        finished = result.run
        results.append(result)
        if result.exit_code != 0 and not options.keep_going:
            why = f"needs {finished.name}, which failed"
            for node in _downstream(finished.node, dependents, waiting):
                del waiting[node]
                skipped = TaskResult(by_node[node], "skipped", 0.0, 0.0, 0, why=why)
                results.append(skipped)
                report(Event("finish", by_node[node], result=skipped))
        for node in dependents[finished.node]:
            pending = waiting.get(node)
            if pending is not None:
                pending.discard(finished.node)
                if not pending:
                    heapq.heappush(ready, node)

    with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        active: dict[Future[TaskResult], TaskRun] = {}
        while waiting or active:
            while ready:
                node = heapq.heappop(ready)
                del waiting[node]
                run = by_node[node]
                if options.hits_inline:
                    hit = runner.hit(run)
                    if hit is not None:
                        finish(hit)
                        continue
                active[pool.submit(runner.one, run, options.hits_inline)] = run
            if not active:
                if waiting:  # only a cycle is left; task_graph refuses those, so never here
                    raise InputError("the task graph has a cycle")
                break
            done, _ = wait(active, return_when=FIRST_COMPLETED)
            for future in done:
                del active[future]
                finish(future.result())
    order = {run.node: index for index, run in enumerate(runs)}
    return Summary(tuple(sorted(results, key=lambda r: order[r.run.node])))


def _downstream(
    node: TaskNode,
    dependents: Mapping[TaskNode, Sequence[TaskNode]],
    waiting: Mapping[TaskNode, object],
) -> list[TaskNode]:
    """The tasks still waiting that need ``node``, directly or through each other, sorted."""
    found: set[TaskNode] = set()
    stack = list(dependents[node])
    while stack:
        current = stack.pop()
        if current in found or current not in waiting:
            continue
        found.add(current)
        stack.extend(dependents[current])
    return sorted(found)


def check_outputs(root: Path, runs: Sequence[TaskRun]) -> None:
    """Refuse a run whose declared outputs would be written outside ``root`` or in .git."""
    guard = WorkspaceGuard(root)
    for run in runs:
        for output in run.outputs:
            checked = base_of(output) if is_pattern(output) else output
            reason = guard.reason(checked) if checked else None
            if reason is not None:
                raise InputError(
                    f"output {output!r} of task {run.task!r} of {run.label} {reason}",
                    path=run.manifest or None,
                    line=run.line,
                )


@dataclass
class _Runner:
    root: Path
    store: Store | None
    options: RunOptions
    environ: Mapping[str, str]
    report: Reporter
    recorder: Recorder | None
    muting: Muting | None
    # From ``prefetch``: action results by action (None: not in the cache), and the
    # captured output they name. Looked up again (or fetched) for anything not here.
    _results: dict[Digest, bytes | None] = field(default_factory=dict)
    _logs: dict[Digest, bytes] = field(default_factory=dict)
    _output_sets: dict[tuple[str, ...], OutputSet] = field(default_factory=dict)

    def prefetch(self, runs: Sequence[TaskRun]) -> None:
        """Look up every task's result, and fetch the output they captured in one read.

        A local cache answers each lookup at once, but one blob read per task costs
        more than the task's hit otherwise does: a fully cached run reads every log
        in one batch instead. An action's key depends on the keys of the tasks it
        needs, never on their outputs, so a result looked up before they finish is
        the one that would be looked up after.
        """
        if self.store is None or not self.options.read_cache:
            return
        logs: list[Digest] = []
        budget = _PREFETCH_TOTAL
        for run in runs:
            if not run.cache:
                continue
            data = self.store.get_action_result(run.action)
            self._results[run.action] = data
            result = parse_action_result(data) if data is not None else None
            if result is None or result.exit_code != 0:
                continue
            for stream in (result.stdout_digest, result.stderr_digest):
                # Small logs only, and a bounded total: big ones are read at the hit.
                if stream.hash and stream.size_bytes <= _PREFETCH_LOG and budget >= 0:
                    logs.append(self._digest(stream))
                    budget -= stream.size_bytes
        if logs:
            self._logs = self.store.get_many(logs)

    def one(self, run: TaskRun, looked_up: bool = False) -> TaskResult:
        """Serve ``run`` from the cache, else execute it; ``looked_up``: ``hit`` said
        it is no hit (and reported its start)."""
        result = None if looked_up else self.hit(run)
        if result is None:
            result = self._execute(run)
            self.report(Event("finish", run, result=result))
        return result

    def hit(self, run: TaskRun) -> TaskResult | None:
        """Report ``run``'s start; serve it from the cache (outputs restored, output
        replayed, finish reported), or None when it must execute."""
        self.report(Event("start", run))
        start = time.monotonic()
        reads = self.store is not None and self.options.read_cache and run.cache
        hit = self._from_cache(run) if reads else None
        if hit is None:
            return None
        saved, stdout, stderr = hit
        result = TaskResult(run, "cached", time.monotonic() - start, saved, 0)
        self._replay(run, stdout, stderr)
        self.report(Event("finish", run, result=result))
        return result

    # --- cache hits -------------------------------------------------------------

    def _from_cache(self, run: TaskRun) -> tuple[float, bytes, bytes] | None:
        assert self.store is not None
        if run.action in self._results:
            data = self._results.pop(run.action)
        else:
            data = self.store.get_action_result(run.action)
        if data is None:
            return None
        result = parse_action_result(data)
        if result is None:
            self._warn(run, "cached result does not parse; running the task instead")
            return None
        try:
            files, links, folders = self._checked_outputs(run, result)
        except GraphkitError as exc:
            self._warn(run, f"refusing cached result: {exc}; running the task instead")
            return None
        wanted = [d for _, d, _ in files]
        wanted += [self._digest(d) for d in (result.stdout_digest, result.stderr_digest) if d.hash]
        blobs = {want: self._logs[want] for want in wanted if want in self._logs}
        missing = [want for want in wanted if want not in blobs]
        if missing:
            blobs.update(self.store.get_many(missing))
        for want in wanted:
            if want not in blobs or mismatch(want, blobs[want]) is not None:
                return None  # evicted or damaged: a miss, never a partial restore
        # Files first, then folders, then links: no link placed here redirects a write.
        try:
            for path, blob_digest, mode in files:
                _write_atomically(inside_workspace(self.root, path), blobs[blob_digest], mode)
            for path in folders:
                inside_workspace(self.root, path).mkdir(parents=True, exist_ok=True)
            for path, target in links:
                _link_atomically(inside_workspace(self.root, path), target)
        except (OSError, GraphkitError) as exc:  # a folder where a file goes, say
            self._warn(run, f"cannot restore the cached result: {exc}; running the task instead")
            return None
        meta = result.execution_metadata
        saved = (
            meta.execution_completed_timestamp.ToNanoseconds()
            - meta.execution_start_timestamp.ToNanoseconds()
        ) / 1e9
        stdout = (
            blobs.get(self._digest(result.stdout_digest), b"") if result.stdout_digest.hash else b""
        )
        stderr = (
            blobs.get(self._digest(result.stderr_digest), b"") if result.stderr_digest.hash else b""
        )
        return max(saved, 0.0), stdout, stderr

    def _checked_outputs(
        self, run: TaskRun, result: re_pb2.ActionResult
    ) -> tuple[list[tuple[str, Digest, int]], list[tuple[str, str]], list[str]]:
        """Every output of a cached result — files (with modes), symlinks, empty
        folders — checked before anything is written."""
        if result.exit_code != 0:
            raise CacheError("it records a failure (failures are never cached)")
        if result.output_file_symlinks or result.output_directory_symlinks:
            raise CacheError("it holds typed symlinks, which graphkit never stores")
        for folder in result.output_directories:
            if self._digest(folder.tree_digest) != EMPTY_TREE:
                raise CacheError(
                    f"folder {folder.path!r} is not empty, which graphkit never stores"
                )
        # Exactly the declared outputs: a result that names any other path (a git
        # hook, a source file, a manifest) is refused whole, before anything is written.
        declared = self._output_sets.get(run.outputs)
        if declared is None:  # tasks of one rule declare alike: built once per list
            declared = self._output_sets[run.outputs] = OutputSet.of(run.outputs)
        paths = [
            *(e.path for e in result.output_files),
            *(e.path for e in result.output_symlinks),
            *(e.path for e in result.output_directories),
        ]
        undeclared = sorted(p for p in paths if not declared.matches(p))
        if undeclared:
            raise CacheError(f"it writes {undeclared[0]!r}, which the task has not declared")
        if len(set(paths)) != len(paths):
            raise CacheError("it lists an output twice")
        missing = sorted(declared.files - set(paths))
        if missing:
            raise CacheError(f"it lacks declared output {missing[0]!r}")
        for path in paths:
            inside_workspace(self.root, path)  # raises on '..', .git or a symlink escape
        files = []
        for entry in result.output_files:
            mode = (
                entry.node_properties.unix_mode.value
                if entry.node_properties.HasField("unix_mode")
                else (0o755 if entry.is_executable else 0o644)
            )
            files.append((entry.path, self._digest(entry.digest), mode & 0o777))
        links = []
        for link in result.output_symlinks:
            problem = link_problem(link.path, link.target)
            if problem is not None:
                raise CacheError(f"symlink {link.path!r} -> {link.target!r} {problem}")
            links.append((link.path, link.target))
        return files, links, [folder.path for folder in result.output_directories]

    @staticmethod
    def _digest(d: re_pb2.Digest) -> Digest:
        return digest(d.hash, d.size_bytes)

    def _replay(self, run: TaskRun, stdout: bytes, stderr: bytes) -> None:
        text = (stdout + stderr).decode("utf-8", "replace")
        if text:
            self.report(Event("output", run, text))

    def _warn(self, run: TaskRun, message: str) -> None:
        self.report(Event("warning", run, f"{run.name}: {message}"))

    # --- execution --------------------------------------------------------------

    def _execute(self, run: TaskRun) -> TaskResult:
        attempts: list[str] = []
        env = _base_env(self.environ)
        env.update(_passed_env(run.pass_env, self.environ))
        env.update((name, value) for name, value in run.env if value is not None)
        start = time.monotonic()
        started_wall = time.time()
        stdout = stderr = b""
        code = 0
        (self.root / OUT_DIR).mkdir(parents=True, exist_ok=True)
        _ignore_out_dir(self.root)
        for _ in range(self.options.retries + 1):
            if run.junit:  # a report left by an earlier run must not be read as this one's
                (self.root / run.junit).parent.mkdir(parents=True, exist_ok=True)
                (self.root / run.junit).unlink(missing_ok=True)
            proc = subprocess.run(
                ["sh", "-c", run.command], cwd=self.root, env=env, capture_output=True, check=False
            )
            stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
            attempts.append("passed" if code == 0 else "failed")
            if code == 0:
                break
        duration = time.monotonic() - start
        self._replay(run, stdout, stderr)
        cases = self._junit(run)
        failing = tuple(c.test_id for c in cases if c.outcome in ("failed", "error"))
        problem = self._output_problem(run) if code == 0 else None
        if problem is not None:
            self._warn(run, problem)
            code = 1
            attempts[-1] = "failed"
        if code == 0:
            status: Status = "flaky" if "failed" in attempts else "ran"
        elif self.muting is not None and self.muting.all_muted(run, failing):
            status = "muted"
        else:
            status = "failed"
        result = TaskResult(run, status, duration, 0.0, code, tuple(attempts), failing)
        if code == 0 and self.store is not None and self.options.write_cache and run.cache:
            self._store(run, stdout, stderr, started_wall, duration)
        if self.recorder is not None:
            self.recorder.executed(result, file_durations(cases))
        return result

    def _output_problem(self, run: TaskRun) -> str | None:
        """Why the outputs a run left cannot be stored, or None.

        Checked again after the run: the command itself may have turned a folder on
        an output's path into a symlink out of the workspace, and a result stored
        from there would be refused on every later hit.
        """
        for output in run.outputs:
            checked = base_of(output) if is_pattern(output) else output
            reason = escape_reason(self.root, checked) if checked else None
            if reason is not None:
                return f"declared output {output!r} {reason} after the run"
        try:
            collect(self.root, run.outputs)
        except InputError as exc:
            return exc.message
        return None

    def _junit(self, run: TaskRun) -> tuple[TestCase, ...]:
        if not run.junit:
            return ()
        path = self.root / run.junit
        if not path.is_file():
            return ()
        try:
            return parse_junit(path.read_bytes(), run.junit)
        except InputError as exc:
            self._warn(run, f"ignoring unreadable JUnit report: {exc}")
            return ()

    def _store(
        self, run: TaskRun, stdout: bytes, stderr: bytes, started: float, duration: float
    ) -> None:
        assert self.store is not None
        blobs = [(digest_of(stdout), stdout), (digest_of(stderr), stderr)]
        result = re_pb2.ActionResult(exit_code=0)
        found = collect(self.root, run.outputs)
        for path, mode in found.files:
            data = (self.root / path).read_bytes()
            blob = digest_of(data)
            blobs.append((blob, data))
            entry = re_pb2.OutputFile(
                path=path,
                digest=re_pb2.Digest(hash=blob.hash, size_bytes=blob.size),
                is_executable=bool(mode & 0o100),
            )
            entry.node_properties.unix_mode.value = mode
            result.output_files.append(entry)
        for path, target in found.symlinks:
            result.output_symlinks.append(re_pb2.OutputSymlink(path=path, target=target))
        if found.empty_dirs:
            blobs.append((EMPTY_TREE, _EMPTY_TREE_BYTES))
        for path in found.empty_dirs:
            result.output_directories.append(
                re_pb2.OutputDirectory(
                    path=path,
                    tree_digest=re_pb2.Digest(hash=EMPTY_TREE.hash, size_bytes=EMPTY_TREE.size),
                )
            )
        for field_name, blob in (("stdout_digest", blobs[0][0]), ("stderr_digest", blobs[1][0])):
            getattr(result, field_name).CopyFrom(
                re_pb2.Digest(hash=blob.hash, size_bytes=blob.size)
            )
        meta = result.execution_metadata
        meta.worker = "graphkit"
        meta.execution_start_timestamp.FromNanoseconds(int(started * 1e9))
        meta.execution_completed_timestamp.FromNanoseconds(int((started + duration) * 1e9))
        try:
            problems = [p for p in self.store.put_many(blobs) if p is not None]
            if problems:
                raise CacheError(problems[0])
            self.store.put_action_result(run.action, result.SerializeToString(deterministic=True))
        except CacheError as exc:
            self._warn(run, f"could not store the result: {exc}")


def _base_env(environ: Mapping[str, str]) -> dict[str, str]:
    """What every task inherits without declaring it: enough to find programs."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TERM", "SYSTEMROOT")
    return {name: environ[name] for name in keep if name in environ}


def _passed_env(names: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """The variables a task sees without declaring them as keyed: ``NAME`` or ``PREFIX_*``."""
    exact = {name for name in names if not name.endswith("*")}
    prefixes = tuple(name[:-1] for name in names if name.endswith("*"))
    return {
        name: value
        for name, value in environ.items()
        if name in exact or (prefixes and name.startswith(prefixes))
    }


def _ignore_out_dir(root: Path) -> None:
    """Keep ``.graphkit/`` out of git (and so out of every key) with its own .gitignore."""
    ignore = root / ".graphkit" / ".gitignore"
    if not ignore.exists():
        ignore.parent.mkdir(parents=True, exist_ok=True)
        ignore.write_text("# graphkit's scratch space; never committed\n*\n")


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write a restored output so no reader ever sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()  # replaced, never written through
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _link_atomically(path: Path, target: str) -> None:
    """Place a restored symlink, replacing a file or link (never a folder) there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.parent / f".{path.name}.{os.getpid()}.link"
    temp.unlink(missing_ok=True)
    os.symlink(target, temp)
    try:
        os.replace(temp, path)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
