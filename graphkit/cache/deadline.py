"""When a client stops waiting for its call, as the store layer sees it.

A gRPC call carries a deadline (``context.time_remaining()``); the server hands it to a
replica's store so that a call to the shared bucket stops in time for the server to
answer from its front store. An answer that arrives after the client gave up is
wasted, so the wait ends a little before the deadline itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

# The part of the time left kept back for answering, at most this many seconds.
ANSWER_MARGIN_SECONDS = 0.25
_ANSWER_MARGIN_SHARE = 0.2
# gRPC reports a call without a deadline as one centuries away; past a day means none.
_FOREVER_SECONDS = 86_400.0


@dataclass(frozen=True)
class Deadline:
    """A moment on the monotonic clock, or None for a call that waits as long as it takes."""

    at: float | None = None

    @staticmethod
    def after(seconds: float | None) -> Deadline:
        """The deadline ``seconds`` from now (None, or more than a day: no deadline)."""
        if seconds is None or seconds > _FOREVER_SECONDS:
            return NO_DEADLINE
        return Deadline(time.monotonic() + seconds)

    def budget(self) -> float | None:
        """Seconds a call to a backend may still take (None: no limit; 0: none left).

        Keeps back a fifth of the time left, at most a quarter of a second, to answer.
        """
        if self.at is None:
            return None
        left = self.at - time.monotonic()
        return max(0.0, left - min(ANSWER_MARGIN_SECONDS, left * _ANSWER_MARGIN_SHARE))


NO_DEADLINE = Deadline()
