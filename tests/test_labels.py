"""Labels: parsing //pkg:name, //pkg and :name, formatting, ordering, did-you-mean."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphkit.errors import InputError
from graphkit.labels import Label, did_you_mean, parse_label


def test_parse_full_label() -> None:
    assert parse_label("//a/b:c") == Label("a/b", "c")


def test_parse_package_only_label_names_the_basename() -> None:
    assert parse_label("//a/b") == Label("a/b", "b")
    assert parse_label("//a/b") == parse_label("//a/b:b")


def test_parse_relative_label_uses_the_given_package() -> None:
    assert parse_label(":c", package="libs/core") == Label("libs/core", "c")


def test_parse_root_package_label() -> None:
    assert parse_label("//:root") == Label("", "root")


def test_parse_ignores_a_trailing_slash_on_the_package() -> None:
    assert parse_label("//a/b/:c") == Label("a/b", "c")


def test_parse_refuses_text_without_slashes_or_colon_prefix() -> None:
    with pytest.raises(InputError, match=r"'a:b' is not a label \(expected //path/to/pkg:name"):
        parse_label("a:b")


@pytest.mark.parametrize("text", ["//a/../b:c", "//./a:c", "//a//b:c", "//%2E%2E/b:c"])
def test_parse_refuses_a_bad_package_path(text: str) -> None:
    with pytest.raises(InputError, match="bad package path"):
        parse_label(text)


def test_parse_refuses_relative_label_without_package() -> None:
    with pytest.raises(InputError, match="needs a package context"):
        parse_label(":x")


@pytest.mark.parametrize("text", ["//a:", ":", "//a:b/c", "//a:b%2Fc", "//"])
def test_parse_refuses_an_empty_or_bad_name(text: str) -> None:
    with pytest.raises(InputError, match="bad target name"):
        parse_label(text, package="p")


def test_any_folder_name_is_a_package_written_with_escapes() -> None:
    # withastro/astro has members in `fixtures/astro pages` and `non-ascii-path/测试`.
    spaced = Label("test/fixtures/astro pages", "astro pages")
    assert str(spaced) == "//test/fixtures/astro%20pages:astro%20pages"
    assert spaced.short == "//test/fixtures/astro%20pages"
    assert str(Label("non-ascii-path/测试", "测试")) == "//non-ascii-path/测试:测试"
    assert str(Label("a:b#c", "it's")) == "//a%3Ab%23c:it%27s"


def test_parse_accepts_escaped_and_raw_spellings() -> None:
    assert parse_label("//test/fixtures/astro%20pages") == Label(
        "test/fixtures/astro pages", "astro pages"
    )
    assert parse_label("//test/fixtures/astro pages") == Label(
        "test/fixtures/astro pages", "astro pages"
    )
    assert parse_label("//a%3Ab:c") == Label("a:b", "c")


@pytest.mark.parametrize("text", ["//a%2:b", "//a:%zz", "//a%FF:b"])
def test_parse_refuses_a_broken_escape(text: str) -> None:
    with pytest.raises(InputError, match="escape"):
        parse_label(text)


def test_parse_errors_carry_no_location_for_callers_to_add() -> None:
    with pytest.raises(InputError) as caught:
        parse_label("nope")
    assert (caught.value.path, caught.value.line) == (None, None)


def test_str_is_the_full_spelling() -> None:
    assert str(Label("a/b", "b")) == "//a/b:b"
    assert str(Label("", "root")) == "//:root"


def test_short_drops_the_name_when_it_is_the_basename() -> None:
    assert Label("a/b", "b").short == "//a/b"
    assert Label("a/b", "test").short == "//a/b:test"
    assert Label("", "root").short == "//:root"


def test_labels_order_by_package_then_name() -> None:
    labels = [Label("b", "a"), Label("a/b", "z"), Label("a", "z"), Label("a", "b"), Label("", "x")]
    assert [str(label) for label in sorted(labels)] == [
        "//:x",
        "//a:b",
        "//a:z",
        "//a/b:z",
        "//b:a",
    ]


def test_did_you_mean_suggests_the_closest_candidate() -> None:
    candidates = ["//libs/core", "//libs/util", "//services/api"]
    assert did_you_mean("//libs/cor", candidates) == "did you mean '//libs/core'?"


def test_did_you_mean_returns_none_when_nothing_is_close() -> None:
    assert did_you_mean("zzzz", ["//libs/core", "//services/api"]) is None
    assert did_you_mean("anything", []) is None


_SEGMENT = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-@=,~",
    min_size=1,
    max_size=8,
).filter(lambda s: s not in (".", ".."))
_PACKAGE = st.lists(_SEGMENT, max_size=4).map("/".join)


@given(package=_PACKAGE, name=_SEGMENT)
def test_parse_round_trips_str(package: str, name: str) -> None:
    label = Label(package, name)
    assert parse_label(str(label)) == label
    assert parse_label(label.short) == label


# Any folder name git can hold: every character but "/" and NUL.
_ANY_SEGMENT = st.text(
    alphabet=st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=8,
).filter(lambda s: s not in (".", ".."))


@given(package=st.lists(_ANY_SEGMENT, max_size=3).map("/".join), name=_ANY_SEGMENT)
def test_any_label_round_trips_and_prints_no_separator(package: str, name: str) -> None:
    label = Label(package, name)
    written = str(label)
    assert parse_label(written) == label
    assert parse_label(label.short) == label
    assert written.count(":") == 1 and "#" not in written and " " not in written
