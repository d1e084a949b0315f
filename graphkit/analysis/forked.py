"""One pure function over many items, on several cores: forked worker processes.

A cold scan parses every source file, and the parsers (``ast``, the JS tokenizer)
hold the GIL, so threads would take turns on one core; processes use them all. The
workers are forked, so they inherit the function and its ``state`` (an open
repository to read blobs from, resolvers indexed over the whole tree) as they are in
memory: only the items and the results cross the pipes, pickled. The results come
back in the order of the items, whatever the number of workers, so the answer is
the one a single process gives.

Forking needs an OS that forks: elsewhere (and with one worker) the items are done
in this process, in order.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

# The chunks per worker: enough that a worker given slow files does not finish long
# after the others, few enough that the pipes carry large messages.
_CHUNKS_PER_WORKER = 8

# What the parent handed this worker process: (function, state). Set once in each
# worker by the pool's initializer, never in the parent. A module global because a
# pool's worker reaches its inherited state only through one.
_inherited: tuple[Callable[[Any, Any], Any], Any] | None = None


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def can_fork() -> bool:
    """True where worker processes can be forked safely (Linux)."""
    return sys.platform == "linux"


def forked_map(
    function: Callable[[S, T], R],
    state: S,
    items: Sequence[T],
    workers: int,
    done: Callable[[int], None] | None = None,
) -> list[R]:
    """``[function(state, item) for item in items]``, on ``workers`` forked processes.

    ``function`` and ``state`` are inherited by the workers, never pickled; items and
    results must pickle. An exception in a worker is raised here. ``done`` is told
    how many items are finished as chunks complete, in order.
    """
    if workers <= 1 or len(items) <= 1 or not can_fork():
        results = []
        for count, item in enumerate(items, 1):
            results.append(function(state, item))
            if done is not None:
                done(count)
        return results
    # Imported here: a warm run never starts a worker, and these take a while to import.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    chunks = _chunks(items, workers * _CHUNKS_PER_WORKER)
    context = multiprocessing.get_context("fork")
    results = []
    with ProcessPoolExecutor(
        max_workers=min(workers, len(chunks)),
        mp_context=context,
        initializer=_inherit,
        initargs=(function, state),
    ) as pool:
        for chunk in pool.map(_run_chunk, chunks):
            results.extend(chunk)
            if done is not None:
                done(len(results))
    return results


def _chunks(items: Sequence[T], count: int) -> list[Sequence[T]]:
    """``items`` cut into at most ``count`` contiguous slices of nearly equal length."""
    size = -(-len(items) // count)
    return [items[start : start + size] for start in range(0, len(items), size)]


def _inherit(function: Callable[[Any, Any], Any], state: Any) -> None:
    global _inherited
    _inherited = (function, state)


def _run_chunk(chunk: Sequence[Any]) -> list[Any]:
    assert _inherited is not None, "a forked_map worker runs only in a pool it set up"
    function, state = _inherited
    return [function(state, item) for item in chunk]
