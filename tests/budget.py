"""A wall-clock budget for tests of linear time: generous, and fatal only to a blow-up.

A test of "linear in the input" picks an input where a quadratic algorithm needs a
hundred times the budget, so a slow shared machine never fails a linear one. The
budget interrupts the work (SIGALRM), so a regression fails in seconds, not hours.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class OverBudget(AssertionError):
    """The work did not finish within its budget."""


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Fail with OverBudget when the block runs longer than ``seconds`` (main thread only)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise OverBudget(f"still running after {seconds} s: not linear")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
