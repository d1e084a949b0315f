"""The duration and test outcome history, on a real diskcache directory."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphkit.execution.history import Duration, FlakeStat, History, TestRun

LABEL = "//libs/core:test"
T0 = 1_760_000_000.0  # a fixed "now"; History never reads the clock


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    with History(tmp_path / "history") as opened:
        yield opened


def test_no_record_is_no_duration(history: History) -> None:
    assert history.durations(LABEL, "test") is None


def test_durations_persist_across_reopen(tmp_path: Path) -> None:
    with History(tmp_path / "history") as first:
        first.record_duration(LABEL, "test", 12.5, {"tests/test_a.py": 8.0}, now=T0)
    with History(tmp_path / "history") as second:
        assert second.durations(LABEL, "test") == Duration(
            seconds=12.5, samples=1, files={"tests/test_a.py": 8.0}
        )


def test_duration_is_the_median_so_one_slow_run_does_not_move_it(history: History) -> None:
    for i, seconds in enumerate([10.0, 11.0, 9.0, 10.5, 300.0]):
        history.record_duration(LABEL, "test", seconds, now=T0 + i)
    duration = history.durations(LABEL, "test")
    assert duration is not None
    assert (duration.seconds, duration.samples) == (10.5, 5)


def test_duration_uses_only_the_last_window_of_samples(tmp_path: Path) -> None:
    with History(tmp_path / "h", duration_window=3) as history:
        for i, seconds in enumerate([100.0, 100.0, 100.0, 1.0, 2.0, 3.0]):
            history.record_duration(LABEL, "test", seconds, now=T0 + i)
        assert history.durations(LABEL, "test") == Duration(seconds=2.0, samples=3, files={})


def test_file_durations_are_medians_over_the_runs_that_timed_them(history: History) -> None:
    history.record_duration(LABEL, "test", 10.0, {"a.py": 4.0, "b.py": 6.0}, now=T0)
    history.record_duration(LABEL, "test", 12.0, {"a.py": 6.0}, now=T0 + 1)
    history.record_duration(LABEL, "test", 14.0, {"a.py": 5.0, "c.py": 1.0}, now=T0 + 2)
    assert history.durations(LABEL, "test") == Duration(
        seconds=12.0, samples=3, files={"a.py": 5.0, "b.py": 6.0, "c.py": 1.0}
    )


def test_durations_are_keyed_by_target_and_task(history: History) -> None:
    history.record_duration(LABEL, "test", 30.0, now=T0)
    history.record_duration(LABEL, "lint", 2.0, now=T0)
    history.record_duration("//libs/util:test", "test", 5.0, now=T0)
    assert history.durations(LABEL, "test") == Duration(30.0, 1, {})
    assert history.durations(LABEL, "lint") == Duration(2.0, 1, {})
    assert history.durations("//libs/util:test", "lint") is None


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_impossible_duration_is_refused(history: History, seconds: float) -> None:
    with pytest.raises(ValueError, match="finite number of seconds"):
        history.record_duration(LABEL, "test", seconds, now=T0)
    with pytest.raises(ValueError, match=r"duration of a\.py"):
        history.record_duration(LABEL, "test", 1.0, {"a.py": seconds}, now=T0)


@pytest.mark.parametrize(
    ("attempts", "flaky"),
    [
        (["failed", "passed"], True),
        (["failed", "failed", "passed"], True),
        (["passed"], False),
        (["failed"], False),
        (["failed", "failed"], False),  # a real failure, consistently
        (["passed", "failed"], False),  # ends failed: the job fails, nothing to excuse
        (["error", "passed"], False),  # the harness broke, not the test
        (["failed", "skipped"], False),
    ],
)
def test_run_is_flaky_when_a_failure_is_followed_by_a_pass(
    history: History, attempts: list[str], flaky: bool
) -> None:
    history.record_run(LABEL, "test", "tests/t.py::test_x", "ak1", attempts, now=T0)
    (run,) = history.runs(LABEL, "test", "tests/t.py::test_x")
    assert run == TestRun(action_key="ak1", attempts=tuple(attempts), at=T0, flaky=flaky)


def test_record_outcome_builds_the_same_run_attempt_by_attempt(history: History) -> None:
    test_id = "tests/t.py::test_x"
    history.record_outcome(LABEL, "test", test_id, "ak1", "failed", 1, now=T0)
    history.record_outcome(LABEL, "test", test_id, "ak1", "passed", 2, now=T0 + 5)
    history.record_outcome(LABEL, "test", test_id, "ak2", "passed", 1, now=T0 + 60)
    assert history.runs(LABEL, "test", test_id) == (
        TestRun("ak1", ("failed", "passed"), T0 + 5, flaky=True),
        TestRun("ak2", ("passed",), T0 + 60, flaky=False),
    )


def test_a_retry_on_another_action_key_is_not_the_same_run(history: History) -> None:
    # Same test, different inputs: failing then passing says nothing about flakiness.
    test_id = "tests/t.py::test_x"
    history.record_outcome(LABEL, "test", test_id, "ak1", "failed", 1, now=T0)
    with pytest.raises(ValueError, match="does not follow attempt 1 on action ak2"):
        history.record_outcome(LABEL, "test", test_id, "ak2", "passed", 2, now=T0 + 1)
    with pytest.raises(ValueError, match="does not follow"):
        history.record_outcome(LABEL, "test", test_id, "ak1", "passed", 3, now=T0 + 1)
    assert history.runs(LABEL, "test", test_id) == (TestRun("ak1", ("failed",), T0, False),)


def test_runs_are_bounded_per_test(tmp_path: Path) -> None:
    with History(tmp_path / "h", run_window=4) as history:
        for i in range(10):
            history.record_run(LABEL, "test", "t::x", f"ak{i}", ["passed"], now=T0 + i)
        assert [r.action_key for r in history.runs(LABEL, "test", "t::x")] == [
            "ak6",
            "ak7",
            "ak8",
            "ak9",
        ]


def _record(history: History, test_id: str, flaky: int, stable: int) -> None:
    for i in range(flaky):
        history.record_run(LABEL, "test", test_id, f"f{i}", ["failed", "passed"], now=T0 + i)
    for i in range(stable):
        history.record_run(LABEL, "test", test_id, f"s{i}", ["passed"], now=T0 + 100 + i)


def test_flake_report_rates_tests_with_enough_samples_worst_first(history: History) -> None:
    _record(history, "t::often", flaky=3, stable=3)  # 0.5
    _record(history, "t::rarely", flaky=1, stable=9)  # 0.1
    _record(history, "t::also_often", flaky=5, stable=5)  # 0.5 too: ties go by id
    _record(history, "t::new", flaky=2, stable=0)  # too few runs to rate
    _record(history, "t::solid", flaky=0, stable=20)  # never flaked: not listed
    assert history.flake_report(min_samples=5) == [
        FlakeStat(LABEL, "test", "t::also_often", 10, 5, 0.5),
        FlakeStat(LABEL, "test", "t::often", 6, 3, 0.5),
        FlakeStat(LABEL, "test", "t::rarely", 10, 1, 0.1),
        FlakeStat(LABEL, "test", "t::new", 2, 2, None),
    ]


def test_flake_report_can_include_stable_tests(history: History) -> None:
    _record(history, "t::solid", flaky=0, stable=6)
    _record(history, "t::young", flaky=0, stable=1)
    assert history.flake_report(include_stable=True) == [
        FlakeStat(LABEL, "test", "t::solid", 6, 0, 0.0),
        FlakeStat(LABEL, "test", "t::young", 1, 0, None),
    ]
    assert history.flake_report() == []


def test_min_samples_is_the_threshold_for_a_rate(history: History) -> None:
    _record(history, "t::x", flaky=1, stable=3)  # 4 runs
    assert history.flake_report(min_samples=5)[0].rate is None
    assert history.flake_report(min_samples=4)[0].rate == 0.25


def test_flake_history_persists_across_reopen_and_ignores_durations(tmp_path: Path) -> None:
    with History(tmp_path / "h") as history:
        history.record_duration(LABEL, "test", 3.0, now=T0)
        _record(history, "t::x", flaky=1, stable=0)
    with History(tmp_path / "h") as history:
        assert history.flake_report(min_samples=1) == [FlakeStat(LABEL, "test", "t::x", 1, 1, 1.0)]


def test_concurrent_writers_lose_no_record(history: History) -> None:
    # Parallel tasks (-j N) record into one History from several threads.
    def write(worker: int) -> None:
        for i in range(10):
            history.record_run(LABEL, "test", "t::x", f"w{worker}-{i}", ["passed"], now=T0)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(history.runs(LABEL, "test", "t::x")) == 40
