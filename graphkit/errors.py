"""The graphkit error tree.

Errors are data raised low and printed once, by the CLI. This module is a leaf: it
imports nothing from graphkit, so every layer can raise these.
"""

from __future__ import annotations

from dataclasses import dataclass


class GraphkitError(Exception):
    """Base of every error graphkit reports to a user."""

    exit_code = 1


class InputError(GraphkitError):
    """Bad input: a manifest, a label, a revision, a flag. Exit code 2.

    Renders as one line, file and line first: ``path:line: message (hint)``.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.hint = hint
        super().__init__(str(self))

    def __reduce__(self) -> tuple[object, ...]:
        # Pickled by a scan's worker process: keep the fields, not only the rendered line.
        fields = {"path": self.path, "line": self.line, "hint": self.hint}
        return (_rebuild, (type(self), self.message, fields))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"


def _rebuild(kind: type[InputError], message: str, fields: dict[str, object]) -> InputError:
    return kind(message, **fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class InputWarning:
    """Input graphkit skipped instead of failing: a stray manifest, an unreadable tsconfig.

    Data, not an exception: readers return warnings with their results, the CLI
    prints them to stderr (and lists them in JSON), and the analysis goes on.
    Renders like an InputError: ``path:line: message``.
    """

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return f"{where}{self.message}"

    @classmethod
    def of(cls, error: InputError, *, fallback_path: str, why: str) -> InputWarning:
        """The warning for a skipped file whose reading raised ``error``; ``why`` says
        what graphkit did instead (``"not a workspace member"``)."""
        hint = f" ({error.hint})" if error.hint else ""
        return cls(error.path or fallback_path, error.line, f"{error.message}{hint}; {why}")


class UnknownStateError(InputError):
    """graphkit cannot know the answer (e.g. the base commit is missing in a shallow clone).

    Raised instead of guessing; ``--on-unknown=all`` turns it into "everything affected".
    """


class TaskFailed(GraphkitError):
    """A task (test, build) ran and failed. Exit code 1."""

    exit_code = 1


class CacheError(GraphkitError):
    """The cache could not be read or written, or returned something untrustworthy."""

    exit_code = 1
