"""Shard plans: LPT balance and stability, estimation, auto counts, digests, I/N."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphkit.config import ShardSettings
from graphkit.errors import InputError
from graphkit.execution.plan import (
    Plan,
    Unit,
    auto_shards,
    estimate,
    lpt,
    make_plan,
    parse_shard,
    plan_json,
    shard_of,
)

SETTINGS = ShardSettings(target_s=300.0, overhead_s=30.0, max_shards=32)


def unit(uid: str, seconds: float | None, rule: str = "python_test") -> Unit:
    label, _, path = uid.partition("#")
    return Unit(uid, label, "test", rule, path or None, seconds)


def units_of(durations: list[float]) -> list[Unit]:
    return [unit(f"//pkg:t{i:02d}", seconds) for i, seconds in enumerate(durations)]


# --- LPT --------------------------------------------------------------------------


def test_lpt_takes_longest_first_and_breaks_ties_by_id_then_lowest_shard() -> None:
    items = [("c", 1.0), ("a", 1.0), ("big", 5.0), ("b", 1.0)]
    # big -> 1; then a, b, c (ties by id): a -> 2, b -> 2 (load 1 < 5), c -> 2.
    assert lpt(items, 2) == [["big"], ["a", "b", "c"]]
    # Equal loads go to the lowest index: a -> 1, b -> 2, c -> 3, d -> 1.
    assert lpt([("d", 2.0), ("c", 2.0), ("b", 2.0), ("a", 2.0)], 3) == [["a", "d"], ["b"], ["c"]]


def test_lpt_with_more_shards_than_items_leaves_the_last_empty() -> None:
    assert lpt([("a", 3.0), ("b", 1.0)], 3) == [["a"], ["b"], []]


def test_lpt_needs_a_shard() -> None:
    with pytest.raises(ValueError):
        lpt([("a", 1.0)], 0)


durations = st.lists(st.integers(0, 50).map(float), min_size=0, max_size=12)


@given(durations, st.integers(1, 6), st.randoms(use_true_random=False))
def test_lpt_is_independent_of_input_order(
    seconds: list[float], n: int, rng: random.Random
) -> None:
    items = [(f"u{i}", s) for i, s in enumerate(seconds)]
    shuffled = items[:]
    rng.shuffle(shuffled)
    assert lpt(shuffled, n) == lpt(items, n)


@given(durations, st.integers(1, 6))
def test_every_unit_lands_in_exactly_one_shard(seconds: list[float], n: int) -> None:
    plan = make_plan("test", units_of(seconds), n, SETTINGS)
    placed = [u for shard in plan.shards for u in shard.units]
    assert sorted(placed) == sorted(u.id for u in units_of(seconds))
    assert [s.index for s in plan.shards] == list(range(1, n + 1))


def makespan(groups: list[list[str]], seconds: dict[str, float]) -> float:
    return max(sum(seconds[u] for u in group) for group in groups)


def optimal_makespan(seconds: dict[str, float], n: int) -> float:
    """The best possible largest load, by trying every assignment (small cases only)."""
    ids = list(seconds)
    best = float("inf")
    for choice in itertools.product(range(n), repeat=len(ids)):
        loads = [0.0] * n
        for uid, shard in zip(ids, choice, strict=True):
            loads[shard] += seconds[uid]
        best = min(best, max(loads))
    return best


def within_graham_bound(groups: list[list[str]], seconds: dict[str, float], n: int) -> bool:
    return makespan(groups, seconds) <= (4 / 3 - 1 / (3 * n)) * optimal_makespan(seconds, n) + 1e-9


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(1, 100).map(float), min_size=1, max_size=8), st.integers(1, 3))
def test_lpt_load_is_within_four_thirds_of_the_best_split(seconds: list[float], n: int) -> None:
    by_id = {f"u{i}": s for i, s in enumerate(seconds)}
    assert within_graham_bound(lpt(list(by_id.items()), n), by_id, n)


def test_the_bound_check_rejects_a_bad_split() -> None:
    # Negative control: round-robin in input order puts both long jobs on shard 1.
    by_id = {"a": 10.0, "b": 1.0, "c": 10.0, "d": 1.0}
    round_robin = [["a", "c"], ["b", "d"]]
    assert not within_graham_bound(round_robin, by_id, 2)
    assert within_graham_bound(lpt(list(by_id.items()), 2), by_id, 2)


# --- estimation --------------------------------------------------------------------


def test_unknown_duration_is_the_mean_of_its_rule() -> None:
    units = [
        unit("//a:t", 10.0),
        unit("//b:t", 20.0),
        unit("//c:t", None),
        unit("//d:lint", 100.0, rule="shell_lint"),
    ]
    seconds = {u.id: (s, guessed) for u, s, guessed in estimate(units)}
    assert seconds == {
        "//a:t": (10.0, False),
        "//b:t": (20.0, False),
        "//c:t": (15.0, True),
        "//d:lint": (100.0, False),
    }


def test_a_rule_with_no_history_gets_the_overall_mean() -> None:
    units = [unit("//a:t", 10.0), unit("//b:t", 30.0), unit("//c:js", None, rule="js_test")]
    assert [(s, g) for _, s, g in estimate(units)] == [(10.0, False), (30.0, False), (20.0, True)]


def test_no_history_at_all_means_one_second_each() -> None:
    units = [unit("//a:t", None), unit("//b:t", None, rule="js_test")]
    assert [(s, g) for _, s, g in estimate(units)] == [(1.0, True), (1.0, True)]


def test_a_zero_duration_is_known_and_a_damaged_one_is_not() -> None:
    units = [unit("//a:t", 0.0), unit("//b:t", float("nan")), unit("//c:t", -3.0)]
    assert [(s, g) for _, s, g in estimate(units)] == [(0.0, False), (0.0, True), (0.0, True)]


def test_plan_counts_estimated_units_and_totals_the_estimates() -> None:
    units = [unit("//a:t", 4.0), unit("//b:t", None), unit("//c:t#c/test_x.py", None)]
    plan = make_plan("test", units, 2, SETTINGS)
    assert plan.estimated == 2
    assert plan.total_s == 12.0
    assert sum(s.estimated_s for s in plan.shards) == 12.0


# --- auto shard count --------------------------------------------------------------


def test_auto_picks_the_fewest_shards_that_meet_the_target() -> None:
    # Each shard may do target - overhead = 270 s of work.
    assert auto_shards(0.0, target_s=300, overhead_s=30, max_shards=32) == 1
    assert auto_shards(270.0, target_s=300, overhead_s=30, max_shards=32) == 1
    assert auto_shards(271.0, target_s=300, overhead_s=30, max_shards=32) == 2
    assert auto_shards(2700.0, target_s=300, overhead_s=30, max_shards=32) == 10
    assert auto_shards(1e9, target_s=300, overhead_s=30, max_shards=32) == 32


def test_auto_rejects_a_target_the_overhead_eats() -> None:
    with pytest.raises(InputError, match="target_s"):
        auto_shards(100.0, target_s=30, overhead_s=30, max_shards=8)
    with pytest.raises(InputError, match="max_shards"):
        auto_shards(100.0, target_s=300, overhead_s=30, max_shards=0)


def test_auto_plan_is_capped_by_the_ci_and_by_the_unit_count() -> None:
    many = units_of([100.0] * 40)  # 4000 s: 15 shards wanted
    assert len(make_plan("test", many, "auto", SETTINGS).shards) == 15
    assert len(make_plan("test", many, "auto", SETTINGS, ci_limit=4).shards) == 4
    few = units_of([1000.0, 1000.0])  # 2000 s: 8 wanted, but only 2 units
    plan = make_plan("test", few, "auto", SETTINGS)
    assert len(plan.shards) == 2 and all(s.units for s in plan.shards)


def test_auto_with_no_units_makes_no_shards_but_an_explicit_count_is_kept() -> None:
    assert make_plan("test", [], "auto", SETTINGS).shards == ()
    plan = make_plan("test", units_of([1.0]), 3, SETTINGS)
    assert [len(s.units) for s in plan.shards] == [1, 0, 0]


def test_explicit_count_must_fit_the_ci() -> None:
    with pytest.raises(InputError, match="limit of 256"):
        make_plan("test", units_of([1.0]), 300, SETTINGS, ci_limit=256)
    with pytest.raises(InputError):
        make_plan("test", units_of([1.0]), 0, SETTINGS)


def test_duplicate_unit_ids_are_a_bug() -> None:
    with pytest.raises(ValueError, match="twice"):
        make_plan("test", [unit("//a:t", 1.0), unit("//a:t", 2.0)], 1, SETTINGS)


@given(st.lists(st.integers(0, 400).map(float), min_size=1, max_size=30))
def test_an_explicit_plan_with_autos_count_is_the_same_plan(seconds: list[float]) -> None:
    # This is how a shard job (which knows N) agrees with the matrix job (which chose it).
    auto = make_plan("test", units_of(seconds), "auto", SETTINGS)
    assert make_plan("test", units_of(seconds), len(auto.shards), SETTINGS) == auto


# --- digest and JSON ---------------------------------------------------------------


def small_plan() -> Plan:
    units = [unit("//a:t", 5.0), unit("//b:t", 3.0), unit("//c:t#c/test_x.py", 2.0)]
    return make_plan("test", units, 2, SETTINGS)


def test_digest_is_pinned() -> None:
    # A deliberate change to the encoding must update this value (and PLAN_SCHEME).
    plan = small_plan()
    assert [s.units for s in plan.shards] == [("//a:t",), ("//b:t", "//c:t#c/test_x.py")]
    assert plan.digest == "377ef96e62294477cb7d421339e98f1d"


def test_digest_ignores_estimates_but_not_the_assignment() -> None:
    base = small_plan()
    slower = make_plan(
        "test",
        [unit("//a:t", 50.0), unit("//b:t", 30.0), unit("//c:t#c/test_x.py", 20.0)],
        2,
        SETTINGS,
    )
    assert slower.digest == base.digest  # same assignment, other seconds
    moved = make_plan(
        "test",
        [unit("//a:t", 1.0), unit("//b:t", 3.0), unit("//c:t#c/test_x.py", 2.0)],
        2,
        SETTINGS,
    )
    assert [s.units for s in moved.shards] == [("//b:t",), ("//a:t", "//c:t#c/test_x.py")]
    assert moved.digest != base.digest
    other_task = make_plan("lint", [unit("//a:t", 5.0), unit("//b:t", 3.0)], 2, SETTINGS)
    same_units = make_plan("test", [unit("//a:t", 5.0), unit("//b:t", 3.0)], 2, SETTINGS)
    assert other_task.digest != same_units.digest
    three = make_plan("test", [unit("//a:t", 5.0), unit("//b:t", 3.0)], 3, SETTINGS)
    assert three.digest != same_units.digest  # an extra empty shard is a different plan


def test_plan_json_has_exactly_the_documented_shape() -> None:
    plan = small_plan()
    assert plan_json(plan) == {
        "digest": plan.digest,
        "task": "test",
        "estimated": 0,
        "shards": [
            {"index": 1, "units": ["//a:t"], "estimated_s": 5.0},
            {"index": 2, "units": ["//b:t", "//c:t#c/test_x.py"], "estimated_s": 5.0},
        ],
    }
    assert len(plan.digest) == 32 and plan.digest == plan.digest.lower()


# --- I/N ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "3", "1/0", "-1/3", "1/3/5", " 1/3", "²/3"])
def test_bad_shard_text_is_an_input_error(text: str) -> None:
    with pytest.raises(InputError, match="--shard"):
        parse_shard(text)


def test_shard_text_parses() -> None:
    assert parse_shard("2/8") == (2, 8)


@pytest.mark.parametrize(("index", "count"), [(0, 2), (3, 2), (1, 3), (-1, 2)])
def test_shard_of_rejects_what_does_not_fit_the_plan(index: int, count: int) -> None:
    with pytest.raises(InputError, match="--shard"):
        shard_of(small_plan(), index, count)


def test_shard_of_returns_the_indexed_shard() -> None:
    plan = small_plan()
    assert shard_of(plan, 2, 2) == plan.shards[1]
