"""YAML documents read with PyYAML's safe loader, nesting bounded."""

from __future__ import annotations

import pytest
import yaml
from budget import within

from graphkit.yamldoc import MAX_DEPTH, load, load_all


@pytest.mark.parametrize(
    "text",
    [
        "x: " + "[" * 50_000 + "]" * 50_000,
        "x: " + "{a: " * 50_000 + "1" + "}" * 50_000,
        "a:\n" + "".join(" " * depth + "b:\n" for depth in range(1, 3 * MAX_DEPTH)),
    ],
    ids=["flow sequences", "flow mappings", "block mappings"],
)
def test_nesting_past_the_limit_is_a_yaml_error_at_its_line(text: str) -> None:
    # PyYAML alone takes seconds per thousand flow levels, then exhausts the stack.
    with within(15), pytest.raises(yaml.YAMLError) as err:
        load(text)
    assert "nested too deeply to read" in str(err.value)
    assert "line " in str(err.value)


def test_nesting_within_the_limit_reads_as_safe_load() -> None:
    text = (
        "x: " + "[" * (MAX_DEPTH - 2) + "1" + "]" * (MAX_DEPTH - 2) + "\n---\n- a\n- {b: !!str 1}\n"
    )
    assert load_all(text) == list(yaml.safe_load_all(text))


def test_tags_that_build_objects_are_refused() -> None:
    with pytest.raises(yaml.YAMLError):
        load("!!python/object/apply:os.system ['true']")
