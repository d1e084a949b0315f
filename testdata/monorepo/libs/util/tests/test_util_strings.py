import pytest
from util.durations import parse_duration
from util.strings import slugify, truncate


def test_slugify() -> None:
    assert slugify("Hello, World!") == "hello-world"
    assert slugify("  Crème brûlée  ") == "creme-brulee"


def test_truncate() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("a long sentence", 8) == "a lon..."


def test_parse_duration() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("45s") == 45
    with pytest.raises(ValueError):
        parse_duration("soon")
