"""Flags of ``graphkit cache serve`` as parsed before the server starts."""

from __future__ import annotations

import pytest

from graphkit.cache.server.options import (
    Address,
    parse_address,
    parse_count,
    parse_seconds,
    parse_size,
)
from graphkit.errors import InputError


@pytest.mark.parametrize(
    ("text", "size"),
    [("1048576", 1048576), ("50GiB", 50 * 1024**3), ("500MB", 500 * 1000**2),
     (" 1.5 KiB ", 1536), ("2tb", 2 * 1000**4)],
)
def test_sizes_in_binary_and_decimal_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text",
    ["\uff15GiB", "\u00b2", "\u0663MB", "5\u00a0GiB", "lots", "", "0", "1e3", "-5MB", "5 PiB"],
)
def test_sizes_are_ascii_digits_and_a_known_unit(text: str) -> None:
    with pytest.raises(InputError, match=r"is not a size|larger than zero"):
        parse_size(text)


def test_addresses_take_ipv6_in_brackets() -> None:
    assert parse_address("[::]:8980") == Address("::", 8980)
    assert str(parse_address("0.0.0.0:0")) == "0.0.0.0:0"


@pytest.mark.parametrize("text", ["host:\uff18\uff10", "host:\u00b2", "host:65536", "host:", ":80"])
def test_ports_are_ascii_digits_in_range(text: str) -> None:
    with pytest.raises(InputError, match="is not HOST:PORT"):
        parse_address(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30.0), ("30s", 30.0), ("500ms", 0.5), ("5m", 300.0), ("1h", 3600.0), (" 2.5s ", 2.5)],
)
def test_durations_in_seconds_minutes_hours(text: str, seconds: float) -> None:
    assert parse_seconds(text, option="--idle-timeout") == seconds


@pytest.mark.parametrize("text", ["soon", "", "0", "0s", "-1s", "\uff13\uff10s", "1d", "1e3"])
def test_durations_are_ascii_and_longer_than_zero(text: str) -> None:
    with pytest.raises(InputError, match=r"--idle-timeout"):
        parse_seconds(text, option="--idle-timeout")


@pytest.mark.parametrize("text", ["0", "-1", "many", "\uff16\uff14", "1.5", "9999999999"])
def test_call_budgets_are_positive_whole_numbers(text: str) -> None:
    with pytest.raises(InputError, match=r"--max-concurrent-calls .* is not a positive"):
        parse_count(text, option="--max-concurrent-calls")
    assert parse_count("64", option="--max-concurrent-calls") == 64
