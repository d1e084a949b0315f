"""What past runs took and how their tests ended: one diskcache directory.

Two kinds of record, both keyed by target label + task (+ test id) and never by
content key, so a plan for a commit nobody has run yet still finds the history of
the same target:

- **Durations.** Each executed task appends ``(seconds, {test file: seconds})``.
  The estimate is the MEDIAN of the last ``duration_window`` (10) samples, per task
  and per file. A median, not a mean or an exponential average, because CI timings
  are skewed by rare slow runs (a cold runner, a noisy neighbour): one 10x outlier
  moves a mean or EWMA a lot and a median not at all, and it needs no tuning knob.
- **Test runs.** One record per test per executed action: the outcomes of its
  attempts in order. A run is FLAKY when a failure was followed by a pass on the
  same action key: the inputs were identical, only the outcome changed. Only a
  content-keyed tool can say that with certainty; a rerun after an edit would not.

Each key keeps at most its last ``run_window`` (50) run records, so the store stays
bounded per test; diskcache's size limit bounds the number of keys. Values are JSON
text, not pickles, so a record written by one graphkit version reads in another.
Writes are read-modify-write inside a diskcache transaction, so parallel tasks and
parallel processes sharing the directory do not lose each other's records.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import diskcache

DURATION_WINDOW = 10
RUN_WINDOW = 50
DEFAULT_MIN_SAMPLES = 5

_DURATION = "duration"
_RUNS = "runs"


@dataclass(frozen=True, slots=True)
class Duration:
    """The estimated duration of one task of one target, from recorded samples."""

    seconds: float  # median of the last samples
    samples: int  # how many samples the median is over
    files: dict[str, float]  # per test file: median over the samples that timed it


@dataclass(frozen=True, slots=True)
class TestRun:
    """One test's attempts within one executed action."""

    __test__ = False  # not a pytest test class, despite the name

    action_key: str
    attempts: tuple[str, ...]  # outcomes in order: "failed", "passed", ...
    at: float  # when it was recorded, seconds since the epoch
    flaky: bool


@dataclass(frozen=True, slots=True)
class FlakeStat:
    """The flake rate of one test over its recorded runs."""

    label: str
    task: str
    test_id: str
    runs: int
    flaky_runs: int
    rate: float | None  # flaky_runs / runs; None when runs < the report's min_samples


class History:
    """The duration and test outcome history in one directory.

    Use as a context manager, or call ``close()``. Timestamps are passed in as
    ``now`` (seconds since the epoch) rather than read from a clock, so callers and
    tests decide what "now" is.
    """

    def __init__(
        self,
        directory: Path,
        *,
        duration_window: int = DURATION_WINDOW,
        run_window: int = RUN_WINDOW,
    ) -> None:
        if duration_window < 1 or run_window < 1:
            raise ValueError("history windows must hold at least one record")
        self._cache = diskcache.Cache(str(directory))
        self._duration_window = duration_window
        self._run_window = run_window

    def __enter__(self) -> History:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying database; the directory stays for the next run."""
        self._cache.close()

    # -- durations ----------------------------------------------------------------

    def record_duration(
        self,
        label: str,
        task: str,
        seconds: float,
        files: Mapping[str, float] | None = None,
        *,
        now: float,
    ) -> None:
        """Add one executed run's duration, and its per-test-file durations if known."""
        _check_seconds(seconds, what=f"duration of {label} {task}")
        for path, value in (files or {}).items():
            _check_seconds(value, what=f"duration of {path}")
        sample = {"at": now, "seconds": seconds, "files": dict(files or {})}
        self._append((_DURATION, label, task), sample, self._duration_window)

    def durations(self, label: str, task: str) -> Duration | None:
        """The estimated duration of ``task`` of ``label``; None when never recorded."""
        samples = self._read((_DURATION, label, task))
        if not samples:
            return None
        per_file: dict[str, list[float]] = {}
        for sample in samples:
            for path, value in sample["files"].items():
                per_file.setdefault(path, []).append(value)
        return Duration(
            seconds=statistics.median(s["seconds"] for s in samples),
            samples=len(samples),
            files={path: statistics.median(values) for path, values in sorted(per_file.items())},
        )

    def transaction(self) -> AbstractContextManager[Any]:
        """Several records written as one transaction (one commit instead of one each)."""
        return self._cache.transact()  # type: ignore[no-any-return]

    # -- test outcomes --------------------------------------------------------------

    def record_outcome(
        self,
        label: str,
        task: str,
        test_id: str,
        action_key: str,
        outcome: str,
        attempt: int,
        *,
        now: float,
    ) -> None:
        """Record attempt number ``attempt`` (1-based) of a test as it finishes.

        Attempt 1 starts a new run record; attempt n > 1 extends the latest run of
        the same action key, which must hold n - 1 attempts. The result is the same
        as one ``record_run`` with all the attempts.
        """
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, got {attempt}")
        key = (_RUNS, label, task, test_id)
        with self._cache.transact():
            records = self._read(key)
            if attempt == 1:
                records.append(_run_record(action_key, [outcome], now))
            else:
                last = records[-1] if records else None
                if (
                    last is None
                    or last["action_key"] != action_key
                    or len(last["attempts"]) != attempt - 1
                ):
                    raise ValueError(
                        f"attempt {attempt} of {test_id} does not follow attempt "
                        f"{attempt - 1} on action {action_key}"
                    )
                records[-1] = _run_record(action_key, [*last["attempts"], outcome], now)
            self._write(key, records, self._run_window)

    def record_run(
        self,
        label: str,
        task: str,
        test_id: str,
        action_key: str,
        attempts: Sequence[str],
        *,
        now: float,
    ) -> None:
        """Record one test's attempts (outcomes in order) within one executed action."""
        if not attempts:
            raise ValueError(f"a run of {test_id} needs at least one attempt")
        record = _run_record(action_key, list(attempts), now)
        self._append((_RUNS, label, task, test_id), record, self._run_window)

    def runs(self, label: str, task: str, test_id: str) -> tuple[TestRun, ...]:
        """The recorded runs of one test, oldest first (at most ``run_window``)."""
        return tuple(
            TestRun(
                action_key=r["action_key"],
                attempts=tuple(r["attempts"]),
                at=r["at"],
                flaky=r["flaky"],
            )
            for r in self._read((_RUNS, label, task, test_id))
        )

    def flake_report(
        self, min_samples: int = DEFAULT_MIN_SAMPLES, *, include_stable: bool = False
    ) -> list[FlakeStat]:
        """Flake rates of recorded tests, worst first.

        A rate over fewer than ``min_samples`` runs would be noise (one flaky run in
        two is not "50% flaky"), so such tests are listed with ``rate=None`` after all
        rated ones rather than hidden: a test that has already flaked is worth seeing.
        Tests that never flaked are left out unless ``include_stable``. Order: rate
        descending, then label, task, test id.
        """
        stats: list[FlakeStat] = []
        for key in self._cache.iterkeys():
            if not (isinstance(key, tuple) and key[0] == _RUNS):
                continue
            _, label, task, test_id = key
            records = self._read(key)
            flaky_runs = sum(1 for r in records if r["flaky"])
            if not records or (flaky_runs == 0 and not include_stable):
                continue
            rate = flaky_runs / len(records) if len(records) >= min_samples else None
            stats.append(FlakeStat(label, task, test_id, len(records), flaky_runs, rate))
        stats.sort(key=lambda s: (s.rate is None, -(s.rate or 0.0), s.label, s.task, s.test_id))
        return stats

    # -- storage --------------------------------------------------------------------

    def _read(self, key: tuple[str, ...]) -> list[dict[str, Any]]:
        text = self._cache.get(key)
        if text is None:
            return []
        records: list[dict[str, Any]] = json.loads(text)
        return records

    def _write(self, key: tuple[str, ...], records: list[dict[str, Any]], window: int) -> None:
        self._cache.set(key, json.dumps(records[-window:], sort_keys=True))

    def _append(self, key: tuple[str, ...], record: dict[str, Any], window: int) -> None:
        # The transaction makes read-append-write atomic against other writers,
        # threads and processes alike (SQLite BEGIN IMMEDIATE underneath).
        with self._cache.transact():
            self._write(key, [*self._read(key), record], window)


def is_flaky(attempts: Sequence[str]) -> bool:
    """Failed, then passed, on the same inputs: a failure before a final pass."""
    return "failed" in attempts[:-1] and attempts[-1] == "passed"


def _run_record(action_key: str, attempts: list[str], now: float) -> dict[str, Any]:
    return {"action_key": action_key, "attempts": attempts, "at": now, "flaky": is_flaky(attempts)}


def _check_seconds(value: float, *, what: str) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number of seconds >= 0, got {value!r}")
