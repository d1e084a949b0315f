"""The progress display: on a terminal's stderr only, never with --quiet, never on stdout."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

from gitrepo import GitRepo

from graphkit.progress import Step, counted

AFFECTED = ("affected", "--base", "HEAD", "--format", "json")
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def run(repo: GitRepo, *args: str, tty: bool) -> tuple[bytes, bytes]:
    """Run graphkit cold (no memo) with stdout on a pipe and stderr on a pseudo-terminal
    (``tty``) or a pipe; the display is told to appear at once."""
    shutil.rmtree(repo.root / ".git" / "graphkit", ignore_errors=True)
    env = dict(os.environ, GRAPHKIT_PROGRESS_AFTER="0", TERM="xterm-256color", COLUMNS="100")
    command = [sys.executable, "-m", "graphkit", *args]
    if not tty:
        done = subprocess.run(command, cwd=repo.root, env=env, capture_output=True, timeout=120)
        return done.stdout, done.stderr
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        command, cwd=repo.root, env=env, stdout=subprocess.PIPE, stderr=terminal
    )
    os.close(terminal)
    err = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: the process is done with it
            break
        if not chunk:
            break
        err += chunk
    os.close(controller)
    assert process.stdout is not None
    out = process.stdout.read()
    assert process.wait(timeout=120) == 0, err
    return out, err


def edited(monorepo: GitRepo) -> GitRepo:
    monorepo.append("libs/core/src/core/__init__.py", "\nEDITED = True\n")
    return monorepo


def test_a_terminal_shows_each_step_of_long_work_on_stderr(monorepo: GitRepo) -> None:
    repo = edited(monorepo)
    out, err = run(repo, *AFFECTED, tty=True)
    shown = ANSI.sub(b"", err).decode()
    for what in ("reading the worktree", "listing the tree", "manifests", "files for imports"):
        assert what in shown
    assert re.search(r"parsing \d+ manifests", shown)
    assert re.search(r"scanning \d+ files for imports", shown)
    plain, _ = run(repo, *AFFECTED, tty=False)
    assert out == plain  # stdout is the same answer, byte for byte


def test_quiet_or_no_terminal_shows_nothing(monorepo: GitRepo) -> None:
    repo = edited(monorepo)
    for args in (("-q", *AFFECTED), (*AFFECTED, "--quiet")):
        out, err = run(repo, *args, tty=True)
        assert err == b""
        assert b'"affected"' in out
    out, err = run(repo, *AFFECTED, tty=False)
    assert err == b""


def test_steps_are_reported_every_so_often_and_at_the_end() -> None:
    seen: list[Step] = []
    report = counted(seen.append, "scanning 130 files for imports", 130)
    for done in range(131):
        report(done)
    assert [step.done for step in seen] == [0, 64, 128, 130]
    assert seen[-1].finished and not seen[-2].finished


def test_counts_that_jump_by_whole_chunks_are_each_reported() -> None:
    # Worker processes report chunks of 5,000 files: every one must reach the display.
    seen: list[Step] = []
    report = counted(seen.append, "scanning 80000 files for imports", 80000)
    for done in range(0, 80001, 5000):
        report(done)
    assert [step.done for step in seen] == list(range(0, 80001, 5000))


def test_a_scan_on_worker_processes_reports_as_chunks_finish() -> None:
    from graphkit.analysis.forked import can_fork, forked_map

    seen: list[Step] = []
    report = counted(seen.append, "scanning 4000 files for imports", 4000)
    report(0)
    forked_map(_square, None, list(range(4000)), 2, report)
    done = [step.done for step in seen]
    assert done[0] == 0 and done[-1] == 4000
    if can_fork():  # 16 chunks of 250: each one reported
        assert done == list(range(0, 4001, 250))


def _square(_state: None, item: int) -> int:
    return item * item


def test_a_library_session_reports_progress_through_its_callback(monorepo: GitRepo) -> None:
    from graphkit.analysis.session import Session

    seen: list[Step] = []
    with Session.open(Path(monorepo.root), use_memo=False, progress=seen.append) as session:
        session.load("HEAD")
    names = [step.what for step in seen]
    assert names[0] == "listing the tree"
    assert any(name.startswith("parsing ") for name in names)
    last = {step.what: step for step in seen}
    assert all(step.finished for step in last.values())
