import pytest
from release.version import bump, tag_name


def test_bump() -> None:
    assert bump("1.4.2", "patch") == "1.4.3"
    assert bump("1.4.2", "minor") == "1.5.0"
    assert bump("1.4.2", "major") == "2.0.0"
    with pytest.raises(ValueError):
        bump("1.4", "patch")


def test_tag_name() -> None:
    assert tag_name("libs/core", "1.0.0") == "libs-core-v1.0.0"
