"""Shards for a task: units balanced by recorded durations (LPT) into a digested Plan.

Pure: durations come in on the units, nothing here reads history or the disk. The
same units with the same durations give the same plan on every runner, so a CI's
planning job and its shard jobs agree without passing the plan around — the digest
proves they did.
"""

from __future__ import annotations

import heapq
import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import xxhash

from graphkit.config import CONFIG_FILE, ShardSettings
from graphkit.errors import InputError

# Bumped whenever the digest encoding changes, so old and new digests never collide.
PLAN_SCHEME = b"graphkit-plan/1"

# Used when no unit has any recorded duration (a first run): a unit is estimated from
# its size, a fixed start-up cost plus a cost per file it tests. Rough on purpose: it
# only has to tell a 200-file package from a 3-file one until real durations exist.
DEFAULT_UNIT_S = 1.0
DEFAULT_FILE_S = 0.5


@dataclass(frozen=True)
class Unit:
    """One schedulable thing: a whole target, or one test file of a target.

    ``id`` is the label for target units and ``label#path`` for file units; it is
    what a shard lists and what the digest covers.
    """

    id: str
    label: str
    task: str
    rule: str
    file: str | None  # the test file, for rules whose shard unit is "file"
    history_s: float | None  # recorded duration; None when unknown
    files: int = 0  # how many files it tests: its size, for a first run's estimate


@dataclass(frozen=True)
class Shard:
    """One CI job's share: unit ids (sorted) and their estimated seconds."""

    index: int  # 1-based
    units: tuple[str, ...]
    estimated_s: float


@dataclass(frozen=True)
class Plan:
    """The shards of one task, how many units were estimated, and the assignment digest."""

    task: str
    shards: tuple[Shard, ...]
    estimated: int  # units that had no recorded duration
    total_s: float
    digest: str

    @property
    def has_work(self) -> bool:
        """True when at least one shard has a unit to run."""
        return any(shard.units for shard in self.shards)


def estimate(units: Sequence[Unit]) -> list[tuple[Unit, float, bool]]:
    """Each unit with its seconds and whether they were estimated, in input order.

    An unknown duration is the mean of the known units of the same rule (a test
    file weighs like its siblings), else the mean of every known unit; with no
    history at all, ``DEFAULT_UNIT_S`` plus ``DEFAULT_FILE_S`` per file. A negative
    or non-finite recorded value counts as unknown: a damaged history must not skew a
    plan, nor crash it.
    """
    known: dict[str, list[float]] = {}
    for unit in units:
        recorded = _recorded(unit)
        if recorded is not None:
            known.setdefault(unit.rule, []).append(recorded)
    every = [s for seconds in known.values() for s in seconds]
    overall = math.fsum(every) / len(every) if every else None
    by_rule = {rule: math.fsum(seconds) / len(seconds) for rule, seconds in known.items()}
    result = []
    for unit in units:
        recorded = _recorded(unit)
        if recorded is not None:
            result.append((unit, recorded, False))
        elif overall is not None:
            result.append((unit, by_rule.get(unit.rule, overall), True))
        else:
            result.append((unit, DEFAULT_UNIT_S + DEFAULT_FILE_S * unit.files, True))
    return result


def _recorded(unit: Unit) -> float | None:
    seconds = unit.history_s
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return float(seconds)


def lpt(items: Sequence[tuple[str, float]], n: int) -> list[list[str]]:
    """Longest Processing Time first: ``n`` groups of ids with balanced total seconds.

    Items are taken longest first, ties by id, and each goes to the least-loaded
    group, ties by lowest index — so the result depends only on the items, never
    on their input order. Its largest load is at most ``4/3 - 1/(3n)`` times the
    best possible (Graham, 1969). Ids within a group keep assignment order.
    """
    if n < 1:
        raise ValueError(f"lpt needs at least one group, got {n}")
    groups: list[list[str]] = [[] for _ in range(n)]
    # A heap of (load, index): the smallest pops first, so equal loads go to the lowest index.
    heap = [(0.0, index) for index in range(n)]
    for unit_id, seconds in sorted(items, key=lambda item: (-item[1], item[0])):
        load, index = heapq.heappop(heap)
        groups[index].append(unit_id)
        heapq.heappush(heap, (load + seconds, index))
    return groups


def auto_shards(total_s: float, *, target_s: float, overhead_s: float, max_shards: int) -> int:
    """How many shards ``--shards auto`` makes for ``total_s`` seconds of work.

    A shard's wall time is about ``total_s / N + overhead_s``. More shards always
    shorten it, but each adds ``overhead_s`` of machine time, so the choice is the
    fewest shards that bring it within the target:

        N = clamp(ceil(total_s / (target_s - overhead_s)), 1, max_shards)

    When even ``max_shards`` cannot meet the target, ``max_shards`` is the fastest
    allowed. ``target_s`` must exceed ``overhead_s`` (a shard's startup cannot eat
    its whole budget); ``graphkit.toml``'s ``[shards]`` holds both.
    """
    if total_s < 0 or not math.isfinite(total_s):
        raise ValueError(f"total_s must be a finite, non-negative number, not {total_s}")
    if max_shards < 1:
        raise InputError(
            f"[shards] max_shards must be at least 1, found {max_shards}", path=CONFIG_FILE
        )
    if overhead_s < 0 or target_s <= overhead_s:
        raise InputError(
            f"[shards] target_s ({target_s:g}) must exceed overhead_s ({overhead_s:g}) >= 0",
            path=CONFIG_FILE,
            hint="target_s is a shard's whole wall time, overhead_s the startup part of it",
        )
    wanted = math.ceil(total_s / (target_s - overhead_s))
    return max(1, min(wanted, max_shards))


def make_plan(
    task: str,
    units: Sequence[Unit],
    shards: int | Literal["auto"],
    settings: ShardSettings,
    ci_limit: int | None = None,
) -> Plan:
    """Assign ``units`` to shards by LPT on their (estimated) durations.

    An explicit count gives exactly that many shards, some empty when there are
    fewer units; ``"auto"`` picks the count with ``auto_shards`` (capped by
    ``settings.max_shards`` and ``ci_limit``) and never makes an empty shard — no
    units, no shards. An explicit count above ``ci_limit`` is an InputError.
    Given the count ``auto`` chose, an explicit plan is the same plan, same digest:
    that is how ``graphkit run --shard I/N`` checks the matrix job's work.
    """
    ids = [unit.id for unit in units]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise ValueError(f"unit {duplicate!r} is listed twice")
    estimates = estimate(units)
    seconds = {unit.id: s for unit, s, _ in estimates}
    total = math.fsum(seconds.values())
    if shards == "auto":
        cap = settings.max_shards if ci_limit is None else min(settings.max_shards, ci_limit)
        count = 0
        if units:
            count = auto_shards(
                total, target_s=settings.target_s, overhead_s=settings.overhead_s, max_shards=cap
            )
            count = min(count, len(units))
    else:
        count = shards
        if count < 1:
            raise InputError(f"--shards must be at least 1, not {count}")
        if ci_limit is not None and count > ci_limit:
            raise InputError(f"--shards {count} exceeds this CI's limit of {ci_limit} jobs")
    groups = lpt(list(seconds.items()), count) if count else []
    built = tuple(
        Shard(index, tuple(sorted(group)), math.fsum(seconds[u] for u in sorted(group)))
        for index, group in enumerate(groups, start=1)
    )
    return Plan(
        task=task,
        shards=built,
        estimated=sum(1 for _, _, guessed in estimates if guessed),
        total_s=total,
        digest=plan_digest(task, built),
    )


def plan_digest(task: str, shards: Sequence[Shard]) -> str:
    """Lowercase hex XXH3-128 of the task and the assignment: which units, in which shard.

    Estimates are left out on purpose: the digest answers "does this runner do the
    work the planning job gave it?", and the seconds are only how we got there.
    Durations still matter indirectly — a runner with different history may choose
    a different assignment, and then the digest differs, which is the point. Every
    field is tagged and length-prefixed so no two assignments encode alike.
    """
    parts = [_field(b"scheme", PLAN_SCHEME), _field(b"task", task.encode())]
    parts.append(_field(b"shards", str(len(shards)).encode()))
    for shard in shards:
        parts.append(_field(b"shard", str(len(shard.units)).encode()))
        parts.extend(_field(b"unit", unit.encode()) for unit in shard.units)
    return xxhash.xxh3_128_hexdigest(b"".join(parts))


def _field(tag: bytes, value: bytes) -> bytes:
    return struct.pack(">H", len(tag)) + tag + struct.pack(">Q", len(value)) + value


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan as ``graphkit plan --format json`` prints it (seconds to the millisecond)."""
    return {
        "digest": plan.digest,
        "task": plan.task,
        "estimated": plan.estimated,
        "shards": [
            {"index": s.index, "units": list(s.units), "estimated_s": round(s.estimated_s, 3)}
            for s in plan.shards
        ],
    }


_SHARD = re.compile(r"([0-9]+)/([0-9]+)", re.ASCII)


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``1 <= I <= N``; anything else is an InputError."""
    match = _SHARD.fullmatch(text)
    if match is None:
        raise InputError(f"--shard must be I/N (e.g. 2/8), not {text!r}")
    index, count = int(match[1]), int(match[2])
    _check_shard(index, count)
    return index, count


def shard_of(plan: Plan, index: int, count: int) -> Shard:
    """Shard ``index`` of ``count``; an InputError when ``I/N`` does not fit the plan."""
    _check_shard(index, count)
    if count != len(plan.shards):
        raise InputError(
            f"--shard {index}/{count} does not match the plan: it has {len(plan.shards)} shard(s)"
        )
    return plan.shards[index - 1]


def _check_shard(index: int, count: int) -> None:
    if not 1 <= index <= count:
        raise InputError(f"--shard must be I/N with 1 <= I <= N, not {index}/{count}")
