"""The graphkit command line: parse -> call -> render -> print.

This is the only module that prints and the only one that imports click. Library
modules are imported inside the commands so that ``graphkit --help`` starts fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from graphkit import __version__
from graphkit.errors import GraphkitError

F = TypeVar("F", bound=Callable[..., Any])


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="graphkit")
def main() -> None:
    """graphkit: which targets does this change affect? Build, test and cache exactly those."""


# --- cache commands (owned by the remote-cache work; edit this block only) ---
# --- end of cache commands ---
