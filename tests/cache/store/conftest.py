"""Fixtures shared by the object-store tests: one S3-protocol server per module, and a
client on a bucket prefix of its own per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from graphkit.cache.store.objects import BackendOptions, ObjectStore
from tests.s3server import S3Server, s3_server


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture
def objects(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[ObjectStore]:
    for name, value in s3.environment.items():
        monkeypatch.setenv(name, value)
    store = ObjectStore(BackendOptions(s3.url(request.node.name)))
    yield store
    store.close()
