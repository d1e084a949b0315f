"""Progress of long work, as data: the library reports steps through a callback and
the command line decides whether and how to show them (nothing below cli/ prints).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """How far one piece of long work has come: ``done`` of ``total`` units (files,
    manifests); ``total`` is None while it is unknown (listing a tree)."""

    what: str
    done: int = 0
    total: int | None = None

    @property
    def finished(self) -> bool:
        """True once every unit is done (a step of unknown size never says so)."""
        return self.total is not None and self.done >= self.total


Progress = Callable[[Step], None]


def silent(step: Step) -> None:
    """The progress callback that shows nothing: the library's default."""


# A callback per file would cost more than the work it reports on a warm scan; steps
# are reported once EVERY units are done since the last report, and on the last.
EVERY = 64


def counted(progress: Progress, what: str, total: int) -> Callable[[int], None]:
    """A function of ``done`` that reports ``what`` at the start, once at least EVERY
    units are done since the last report, and at ``total``. Counts may jump (worker
    processes report whole chunks: 5,000 files at 80,000), so "since the last report",
    not "on multiples of EVERY", which a jump of 5,000 would skip."""
    last = -EVERY

    def report(done: int) -> None:
        nonlocal last
        if done - last >= EVERY or done == total:
            last = done
            progress(Step(what, done, total))

    return report
