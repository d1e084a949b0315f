"""The quarantine file: parsing with file:line errors, muting until expiry."""

from __future__ import annotations

import datetime

import pytest

from graphkit.errors import InputError
from graphkit.execution.quarantine import Entry, expired, is_muted, parse_quarantine

PATH = ".graphkit/quarantine.toml"

QUARANTINE = b"""\
# Tests whose failures do not fail CI, until a date. Keep this list short.

[[quarantine]]
test = "tests/test_api.py::TestLogin::test_timeout"
owner = "@platform-team"
reason = "times out on shared runners, see #412"
expires = 2026-12-31

[[quarantine]]
test = "github.com/acme/shop/cart::TestCoupon/*"
owner = "ana@acme.example"
reason = "depends on the pricing service sandbox"
expires = 2026-03-01

[[quarantine]]
test = "tests/test_math.py::test_add[1-2]"
owner = "@math"
reason = "float rounding on arm64"
expires = 2026-06-30
"""

BEFORE = datetime.date(2026, 2, 1)


def test_parse_reads_every_entry_with_its_line() -> None:
    entries = parse_quarantine(QUARANTINE, PATH)
    assert entries[0] == Entry(
        test="tests/test_api.py::TestLogin::test_timeout",
        owner="@platform-team",
        reason="times out on shared runners, see #412",
        expires=datetime.date(2026, 12, 31),
        line=3,
    )
    assert [(e.test, e.line) for e in entries] == [
        ("tests/test_api.py::TestLogin::test_timeout", 3),
        ("github.com/acme/shop/cart::TestCoupon/*", 9),
        ("tests/test_math.py::test_add[1-2]", 15),
    ]


def test_empty_file_quarantines_nothing() -> None:
    assert parse_quarantine(b"# nothing muted\n", PATH) == ()


def test_exact_id_is_muted_and_others_are_not() -> None:
    entries = parse_quarantine(QUARANTINE, PATH)
    muted = is_muted(entries, "tests/test_api.py::TestLogin::test_timeout", BEFORE)
    assert muted is entries[0]
    assert is_muted(entries, "tests/test_api.py::TestLogin::test_ok", BEFORE) is None


def test_glob_mutes_every_matching_subtest() -> None:
    entries = parse_quarantine(QUARANTINE, PATH)
    assert is_muted(entries, "github.com/acme/shop/cart::TestCoupon/expired", BEFORE) is entries[1]
    assert is_muted(entries, "github.com/acme/shop/cart::TestCoupon/a/b", BEFORE) is entries[1]
    assert is_muted(entries, "github.com/acme/shop/cart::TestCoupon", BEFORE) is None
    assert is_muted(entries, "github.com/acme/shop/cart::TestAdd", BEFORE) is None


def test_brackets_in_a_parametrized_id_are_literal() -> None:
    entries = parse_quarantine(QUARANTINE, PATH)
    assert is_muted(entries, "tests/test_math.py::test_add[1-2]", BEFORE) is entries[2]
    # As a character class "[1-2]" would have matched this one instead.
    assert is_muted(entries, "tests/test_math.py::test_add1", BEFORE) is None


def test_question_mark_matches_one_character() -> None:
    (entry,) = parse_quarantine(
        b'[[quarantine]]\ntest = "a::test_?"\nowner = "o"\nreason = "r"\nexpires = 2026-01-01\n',
        PATH,
    )
    assert entry.matches("a::test_1")
    assert not entry.matches("a::test_12")


def test_entry_mutes_through_its_expiry_day_and_not_after() -> None:
    entries = parse_quarantine(QUARANTINE, PATH)
    coupon = "github.com/acme/shop/cart::TestCoupon/expired"
    assert is_muted(entries, coupon, datetime.date(2026, 3, 1)) is entries[1]
    assert is_muted(entries, coupon, datetime.date(2026, 3, 2)) is None


def test_expired_lists_past_entries_in_file_order() -> None:
    entries = parse_quarantine(QUARANTINE, PATH)
    assert expired(entries, BEFORE) == ()
    assert [e.test for e in expired(entries, datetime.date(2026, 7, 1))] == [
        "github.com/acme/shop/cart::TestCoupon/*",
        "tests/test_math.py::test_add[1-2]",
    ]


def test_expired_entry_gives_way_to_a_later_unexpired_one() -> None:
    data = b"""\
[[quarantine]]
test = "t::*"
owner = "old"
reason = "r"
expires = 2025-01-01

[[quarantine]]
test = "t::x"
owner = "new"
reason = "r"
expires = 2027-01-01
"""
    muted = is_muted(parse_quarantine(data, PATH), "t::x", BEFORE)
    assert muted is not None and muted.owner == "new"


def _error(data: bytes) -> InputError:
    with pytest.raises(InputError) as caught:
        parse_quarantine(data, PATH)
    return caught.value


def test_unknown_field_names_its_line_and_suggests() -> None:
    error = _error(
        QUARANTINE + b'\n[[quarantine]]\ntest = "x"\nowner = "o"\nreason = "r"\n'
        b"expires = 2026-01-01\nexpire = 2026-01-02\n"
    )
    assert str(error) == (
        f"{PATH}:26: unknown field 'expire' in quarantine entry 4 (did you mean 'expires'?)"
    )


def test_unknown_top_level_table_is_an_error() -> None:
    error = _error(b'[quarantine_list]\ntest = "x"\n')
    assert error.path == PATH and error.line == 1
    assert "unknown field 'quarantine_list'" in str(error)


def test_missing_field_names_the_entry_header_line() -> None:
    error = _error(
        QUARANTINE + b'\n[[quarantine]]\ntest = "x"\nowner = "o"\nexpires = 2026-01-01\n'
    )
    assert str(error) == (
        f"{PATH}:21: quarantine entry 4 has no 'reason' "
        "(each [[quarantine]] needs test, owner, reason, expires)"
    )


@pytest.mark.parametrize(
    "expires",
    ['"2026-12-31"', "2026-12-31T00:00:00", "20261231"],
)
def test_expires_that_is_not_a_date_is_an_error(expires: str) -> None:
    data = f'[[quarantine]]\ntest = "x"\nowner = "o"\nreason = "r"\nexpires = {expires}\n'
    error = _error(data.encode())
    assert error.line == 5
    assert "'expires' of quarantine entry 1 must be a date" in str(error)
    assert error.hint == "write a bare TOML date: expires = 2026-12-31"


def test_impossible_date_is_a_toml_error_with_line() -> None:
    error = _error(b'[[quarantine]]\ntest = "x"\nowner = "o"\nreason = "r"\nexpires = 2026-02-30\n')
    assert error.path == PATH and error.line == 5


def test_empty_owner_is_an_error() -> None:
    error = _error(b'[[quarantine]]\ntest = "x"\nowner = " "\nreason = "r"\nexpires = 2026-01-01\n')
    assert str(error) == f"{PATH}:3: 'owner' of quarantine entry 1 must be a non-empty string"


def test_quarantine_as_a_plain_table_is_an_error() -> None:
    error = _error(b'[quarantine]\ntest = "x"\n')
    assert str(error) == f"{PATH}:1: 'quarantine' must be an array of tables ([[quarantine]])"
