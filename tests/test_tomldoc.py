"""TOML documents read with errors that name the file and the line."""

from __future__ import annotations

import pytest

from graphkit.errors import InputError
from graphkit.tomldoc import check_keys, line_of, load_toml

DOC = b"""\
# a BUILD.toml
[[target]]
name = "core"
srcs = ["src/*.py"]

[[target]]
name = "test"
  deps = [":core"]
"rule" = "python_test"
"""


def test_load_toml_returns_the_document() -> None:
    assert load_toml(b'[workspace]\ndefault_branch = "trunk"\n', "graphkit.toml") == {
        "workspace": {"default_branch": "trunk"}
    }


def test_load_toml_reads_toml_1_1() -> None:
    # Inline tables over several lines, trailing commas, \e and \x escapes, times
    # without seconds: Cargo reads them, and so must graphkit.
    doc = b'dep = {\n  workspace = true,\n}\nesc = "\\e\\x41"\nat = 07:30\n'
    loaded = load_toml(doc, "Cargo.toml")
    assert loaded["dep"] == {"workspace": True}
    assert loaded["esc"] == "\x1bA"
    assert str(loaded["at"]) == "07:30:00"


def test_malformed_toml_error_names_file_and_line() -> None:
    with pytest.raises(InputError) as caught:
        load_toml(b'[[target]]\nname = "core"\nsrcs = *.py\n', "libs/core/BUILD.toml")
    assert str(caught.value) == "libs/core/BUILD.toml:3: invalid TOML: Invalid value"
    assert caught.value.line == 3


def test_malformed_toml_at_end_of_document_names_the_last_line() -> None:
    with pytest.raises(InputError) as caught:
        load_toml(b'[[target]]\nname = "core"\nsrcs = ["a.py",\n', "libs/core/BUILD.toml")
    assert str(caught.value) == "libs/core/BUILD.toml:3: invalid TOML: Invalid value"


def test_duplicate_table_error_names_the_second_line() -> None:
    with pytest.raises(InputError) as caught:
        load_toml(b"[cache]\ndir = 'a'\n\n[cache]\n", "graphkit.toml")
    assert str(caught.value) == "graphkit.toml:4: invalid TOML: Cannot declare ('cache',) twice"


def test_non_utf8_bytes_are_an_input_error_without_line() -> None:
    with pytest.raises(InputError) as caught:
        load_toml(b'name = "caf\xe9"\n', "BUILD.toml")
    assert str(caught.value) == "BUILD.toml: not UTF-8 text (invalid continuation byte)"
    assert caught.value.line is None


def test_line_of_finds_a_key_assignment() -> None:
    assert line_of(DOC, "srcs") == 4
    assert line_of(DOC, "deps") == 8  # indented


def test_line_of_finds_a_quoted_key() -> None:
    assert line_of(DOC, "rule") == 9


def test_line_of_finds_array_of_tables_headers_by_occurrence() -> None:
    assert line_of(DOC, "target") == 2
    assert line_of(DOC, "target", occurrence=1) == 6
    assert line_of(DOC, "target", occurrence=2) is None


def test_line_of_counts_from_start() -> None:
    assert line_of(DOC, "name") == 3
    assert line_of(DOC, "name", start=4) == 7
    assert line_of(DOC, "name", occurrence=1, start=3) == 7


def test_line_of_finds_a_dotted_table_header() -> None:
    data = b"[rule.sh]\nsrcs = []\n\n[rule.sh.tasks.test]\ncommand = 'sh'\n"
    assert line_of(data, "rule.sh") == 1
    assert line_of(data, "rule.sh.tasks.test") == 4


def test_line_of_ignores_comments_prefixes_and_missing_keys() -> None:
    data = b"# srcs = []\nsrcs_extra = 1\nsrc = 2\n"
    assert line_of(data, "srcs") is None
    assert line_of(data, "src") == 3
    assert line_of(DOC, "outs") is None


def test_check_keys_accepts_allowed_keys() -> None:
    check_keys({"name": "x", "srcs": []}, {"name", "srcs"}, what="target", path="B", data=b"")


def test_check_keys_names_the_unknown_key_its_line_and_a_suggestion() -> None:
    data = b'[[target]]\nname = "core"\nsrc = ["*.py"]\n'
    with pytest.raises(InputError) as caught:
        check_keys(
            load_toml(data, "libs/core/BUILD.toml")["target"][0],
            {"name", "rule", "srcs", "deps"},
            what="target 'core'",
            path="libs/core/BUILD.toml",
            data=data,
        )
    assert str(caught.value) == (
        "libs/core/BUILD.toml:3: unknown field 'src' in target 'core' (did you mean 'srcs'?)"
    )


def test_check_keys_lists_allowed_keys_when_nothing_is_close() -> None:
    with pytest.raises(InputError) as caught:
        check_keys({"zzz": 1}, {"dir", "remote"}, what="[cache]", path="g.toml", data=b"zzz = 1\n")
    assert str(caught.value) == "g.toml:1: unknown field 'zzz' in [cache] (allowed: dir, remote)"


def test_check_keys_looks_for_the_line_from_start() -> None:
    data = b'[[target]]\nname = "a"\nbad = 1\n[[target]]\nname = "b"\nbad = 2\n'
    with pytest.raises(InputError) as caught:
        check_keys({"bad": 2}, {"name"}, what="target 'b'", path="B", data=data, start=4)
    assert caught.value.line == 6


@pytest.mark.parametrize(
    "text",
    ["x = " + "[" * 50_000 + "]" * 50_000, "x = " + "{a = " * 50_000 + "1" + "}" * 50_000],
)
def test_toml_nested_50000_deep_is_an_input_error(text: str) -> None:
    with pytest.raises(InputError) as err:
        load_toml(text.encode(), "libs/a/BUILD.toml")
    assert str(err.value).startswith("libs/a/BUILD.toml: nested too deeply to read")
