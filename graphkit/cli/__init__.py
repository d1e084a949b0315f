"""The graphkit command line: parse -> call -> render -> print.

This package is the only place that prints and the only one that imports click.
Library modules are imported inside the commands so that ``graphkit --help`` starts
fast. The commands live in ``analysis`` (affected, why, explain, query, graph,
tidy), ``running`` (run, plan, matrix, flaky) and ``cache`` (cache serve, stats).
"""

from __future__ import annotations

import gc

# A command starts by building long-lived objects (modules, classes, the memo's graph):
# at the default threshold (700 allocations) the cycle collector scans them some fifty
# times during start-up, for nothing (10-20 ms of a 0.2 s warm `affected`). Set before
# the imports below, which build most of them (click's and pygit2's classes and enums).
# Collection still runs, less often: cyclic garbage stays bounded by the first threshold.
gc.set_threshold(100_000, 50, 100)

import sys  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from functools import wraps  # noqa: E402
from typing import TYPE_CHECKING, Any, TypeVar  # noqa: E402

import click  # noqa: E402

from graphkit import __version__  # noqa: E402
from graphkit.errors import GraphkitError  # noqa: E402

if TYPE_CHECKING:
    from graphkit.analysis.memoremote import MemoSettings

F = TypeVar("F", bound=Callable[..., Any])

# memoremote.SIGNATURE_KEY_ENV, spelled out so that a run without it does not load
# the remote memo's module (tests/cli/test_cli.py checks the two agree).
MEMO_KEY_VARIABLE = "GRAPHKIT_MEMO_SIGNATURE_KEY"


def reports_errors(func: F) -> F:
    """Print a GraphkitError as one ``graphkit: error: ...`` line and exit with its code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GraphkitError as exc:
            click.echo(f"graphkit: error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def _set_quiet(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    # Context.meta is shared by a command and its group: `graphkit -q affected` and
    # `graphkit affected -q` say the same.
    if value:
        ctx.meta["graphkit.quiet"] = True


QUIET = click.option(
    "-q",
    "--quiet",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_quiet,
    help="no progress display on stderr (it shows only on a terminal, for work over 1 s)",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="graphkit")
@QUIET
def main() -> None:
    """graphkit: which targets does this change affect? Build, test and cache exactly those."""


FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for machines",
)
ON_UNKNOWN = click.option(
    "--on-unknown",
    type=click.Choice(["error", "all"]),
    default="error",
    show_default=True,
    help="when the base cannot be known (shallow clone, broken manifest): fail, or affect all",
)
BASE = click.option(
    "--base", metavar="REV", help="base revision [default: merge-base with the default branch]"
)
HEAD = click.option("--head", metavar="REV", help="head revision [default: the worktree]")


def emit(fmt: str, data: Any, text: str) -> None:
    from graphkit.views.render import to_json

    click.echo(to_json(data) if fmt == "json" else text)


@contextmanager
def open_session(
    remote_cache: str | None = None,
    tls: tuple[str | None, str | None, str | None] = (None, None, None),
) -> Iterator[Any]:
    """The repository's analysis session; on success, its memo goes to the remote cache
    (when one is configured and GRAPHKIT_MEMO_SIGNATURE_KEY is set) and its warnings to
    stderr. ``remote_cache`` and ``tls`` are the --remote-cache and --tls-* flags."""
    import os
    from pathlib import Path

    from graphkit.analysis.session import Session
    from graphkit.cli.display import callback, progress_display

    def remote(root: Path) -> MemoSettings | None:
        # Without the signing key no memo travels (memo_settings would say None): the
        # remote memo's module is then never loaded, 5 ms of a 0.2 s warm run.
        if not os.environ.get(MEMO_KEY_VARIABLE):
            return None
        from graphkit.analysis.memoremote import memo_settings

        return memo_settings(root, os.environ, remote_cache, tls)

    quiet = bool(click.get_current_context().meta.get("graphkit.quiet"))
    display = progress_display(quiet)
    try:
        with Session.open(".", progress=callback(display), remote=remote) as session:
            yield session
            session.share()
            if display is not None:
                display.stop()  # erased before anything else goes to stderr
            for warning in session.warnings:
                click.echo(f"graphkit: warning: {warning}", err=True)
    finally:
        if display is not None:
            display.stop()


def write_file(path: str, text: str) -> None:
    """Write a report whole or not at all (a reader never sees half a file)."""
    import os
    import tempfile
    from pathlib import Path

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.replace(temp, target)


# Importing the command modules registers their commands on `main`.
from graphkit.cli import analysis, cache, running  # noqa: E402

# Every command that analyses a repository takes -q too (the cache server shows no progress).
for _command in main.commands.values():
    if _command.name != "cache":
        QUIET(_command)

__all__ = ["analysis", "cache", "main", "running"]
