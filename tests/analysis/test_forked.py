"""forked_map: a pure function over items on forked workers, answers in item order."""

from __future__ import annotations

import os

import pytest

from graphkit.analysis.forked import can_fork, forked_map
from graphkit.errors import InputError


def _pid_and_square(offset: int, item: int) -> tuple[int, int]:
    return os.getpid(), offset + item * item


def _fail_on_seven(_state: None, item: int) -> int:
    if item == 7:
        raise InputError("cannot read", path="a/seven.py", line=3, hint="look at it")
    return item


def test_results_come_back_in_item_order_whatever_the_workers() -> None:
    items = list(range(100))
    expected = [10 + i * i for i in items]
    for workers in (1, 2, 3):
        assert [r for _, r in forked_map(_pid_and_square, 10, items, workers)] == expected


@pytest.mark.skipif(not can_fork(), reason="workers are forked only where the OS forks")
def test_two_workers_run_in_other_processes_and_one_runs_here() -> None:
    items = list(range(64))
    assert {pid for pid, _ in forked_map(_pid_and_square, 0, items, 1)} == {os.getpid()}
    pids = {pid for pid, _ in forked_map(_pid_and_square, 0, items, 2)}
    assert os.getpid() not in pids and len(pids) >= 1


def test_progress_counts_finished_items_up_to_all() -> None:
    seen: list[int] = []
    forked_map(_pid_and_square, 0, list(range(50)), 2, seen.append)
    assert seen == sorted(seen) and seen[-1] == 50


def test_an_input_error_in_a_worker_is_raised_here_whole() -> None:
    with pytest.raises(InputError) as raised:
        forked_map(_fail_on_seven, None, list(range(20)), 2)
    assert (raised.value.path, raised.value.line, raised.value.hint) == (
        "a/seven.py",
        3,
        "look at it",
    )
    assert str(raised.value) == "a/seven.py:3: cannot read (look at it)"
