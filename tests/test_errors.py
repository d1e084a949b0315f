"""The error tree: one-line rendering, file and line first, and exit codes."""

from __future__ import annotations

import pytest

from graphkit.errors import (
    CacheError,
    GraphkitError,
    InputError,
    TaskFailed,
    UnknownStateError,
)


def test_input_error_renders_path_line_message_and_hint() -> None:
    error = InputError(
        "unknown field 'src' in target 'core'",
        path="libs/core/BUILD.toml",
        line=7,
        hint="did you mean 'srcs'?",
    )
    assert str(error) == (
        "libs/core/BUILD.toml:7: unknown field 'src' in target 'core' (did you mean 'srcs'?)"
    )


def test_input_error_without_line_renders_path_only() -> None:
    error = InputError("not UTF-8 text (invalid start byte)", path="graphkit.toml")
    assert str(error) == "graphkit.toml: not UTF-8 text (invalid start byte)"


def test_input_error_without_path_renders_message_and_hint() -> None:
    error = InputError("unknown revision 'nope'", hint="check the name with `git log`")
    assert str(error) == "unknown revision 'nope' (check the name with `git log`)"


def test_input_error_line_without_path_is_not_rendered() -> None:
    # A line number means nothing without the file it belongs to.
    assert str(InputError("bad label", line=3)) == "bad label"


def test_input_error_keeps_its_fields_as_data() -> None:
    error = InputError("bad", path="a/BUILD.toml", line=2, hint="fix it")
    assert (error.message, error.path, error.line, error.hint) == (
        "bad",
        "a/BUILD.toml",
        2,
        "fix it",
    )
    assert error.args == ("a/BUILD.toml:2: bad (fix it)",)


def test_input_error_exits_2() -> None:
    assert InputError("x").exit_code == 2


def test_task_failed_exits_1() -> None:
    assert TaskFailed("tests failed").exit_code == 1
    assert CacheError("unreachable").exit_code == 1


def test_unknown_state_error_is_an_input_error_exiting_2() -> None:
    error = UnknownStateError("revision 'HEAD~1' is not in this shallow clone", hint="fetch")
    assert isinstance(error, InputError)
    assert error.exit_code == 2
    assert str(error) == "revision 'HEAD~1' is not in this shallow clone (fetch)"


@pytest.mark.parametrize("error", [InputError("x"), TaskFailed("x"), CacheError("x")])
def test_every_error_is_a_graphkit_error(error: Exception) -> None:
    assert isinstance(error, GraphkitError)
