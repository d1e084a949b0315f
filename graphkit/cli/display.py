"""The progress display: the library's progress steps, drawn with rich on a terminal's
stderr once the work has run for a second; nothing anywhere else, never on stdout.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from graphkit.progress import Progress, Step, silent

# Work that ends sooner draws nothing: a warm run must not flicker.
DEFAULT_AFTER = 1.0


def progress_display(quiet: bool) -> ProgressDisplay | None:
    """A display when stderr is a terminal and not ``quiet``, else None.

    ``GRAPHKIT_PROGRESS_AFTER`` (seconds, default 1) says how long work runs before the
    display appears.
    """
    if quiet or not sys.stderr.isatty():
        return None
    try:
        after = float(os.environ.get("GRAPHKIT_PROGRESS_AFTER", DEFAULT_AFTER))
    except ValueError:
        after = DEFAULT_AFTER
    return ProgressDisplay(after)


def callback(display: ProgressDisplay | None) -> Progress:
    """What the library calls with its steps."""
    return display if display is not None else silent


class ProgressDisplay:
    """Keeps the latest step of each kind of work. Once some work has run unfinished
    for ``after`` seconds, a timer thread starts a transient rich display of it; when
    every step is finished the display is erased (so a second command-line display,
    such as `run`'s status line, never shares the screen with it)."""

    def __init__(self, after: float) -> None:
        self._after = after
        self._lock = threading.Lock()
        self._steps: dict[str, Step] = {}
        self._tasks: dict[str, Any] = {}
        self._live: Any = None
        self._timer: threading.Timer | None = None
        self._stopped = False

    def __call__(self, step: Step) -> None:
        with self._lock:
            if self._stopped:
                return
            self._steps[step.what] = step
            if not self._running():
                self._erase()
            elif self._live is not None:
                self._show(step)
            elif self._after <= 0:
                self._begin()
            elif self._timer is None:
                self._timer = threading.Timer(self._after, self._start)
                self._timer.daemon = True
                self._timer.start()

    def _running(self) -> bool:
        return any(not step.finished for step in self._steps.values())

    def _start(self) -> None:
        with self._lock:
            self._timer = None
            if not self._stopped and self._live is None and self._running():
                self._begin()

    def _begin(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._live = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._live.start()
        for step in self._steps.values():
            self._show(step)
        self._live.refresh()

    def _show(self, step: Step) -> None:
        task = self._tasks.get(step.what)
        if task is None:
            task = self._tasks[step.what] = self._live.add_task(step.what, total=step.total)
        # A finished step leaves the screen: what is on it is what is still running.
        self._live.update(task, completed=step.done, total=step.total, visible=not step.finished)

    def _erase(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._live is not None:
            self._live.stop()
            self._live = None
            self._tasks = {}

    def stop(self) -> None:
        """Erase the display (if it is on) and show nothing more."""
        with self._lock:
            self._stopped = True
            self._erase()
