"""The REAPI client Store and the tiered (local, then remote) store, against real servers."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from cacheservers import LOCALHOST, client, options, pdigest, running
from prometheus_client.parser import text_string_to_metric_families

from graphkit.cache.client.remote import RemoteOptions, RemoteStore
from graphkit.cache.digest import digest_of
from graphkit.cache.protocol import bs_pb2, re_grpc, re_pb2
from graphkit.cache.server.options import Address
from graphkit.cache.server.serve import CacheServer
from graphkit.cache.store.local import open_local_store
from graphkit.cache.store.tiered import TieredStore
from graphkit.errors import CacheError, InputError

KIB = 1024


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[CacheServer, RemoteStore]]:
    """A server with a 64 KiB batch limit (so batching and ByteStream both get used)."""
    with running(tmp_path / "server", max_batch_bytes=64 * KIB) as (server, port):
        remote = RemoteStore(RemoteOptions(f"grpc://{LOCALHOST}:{port}", instance="ci/main"))
        yield server, remote
        remote.close()


def requests_of(server: CacheServer, method: str) -> int:
    text = server.metrics.render()[0].decode()
    return sum(
        int(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "graphkit_cache_requests_total" and s.labels["method"] == method
    )


def test_small_blobs_are_batched_by_the_servers_limit_and_large_ones_streamed(
    served: tuple[CacheServer, RemoteStore],
) -> None:
    server, remote = served
    small = [f"small blob {i}".encode() * 300 for i in range(40)]  # ~4 KiB each
    large = b"L" * (300 * KIB)
    blobs = [(digest_of(b), b) for b in [*small, large]]
    assert remote.put_many(blobs) == [None] * len(blobs)
    assert requests_of(server, "BatchUpdateBlobs") >= 3  # 160 KiB in 64 KiB batches
    assert requests_of(server, "Write") == 1
    assert remote.find_missing([d for d, _ in blobs]) == []
    assert remote.get_many([d for d, _ in blobs]) == dict(blobs)
    assert requests_of(server, "BatchReadBlobs") >= 3
    assert requests_of(server, "Read") == 1


def test_put_many_skips_blobs_the_server_already_has(
    served: tuple[CacheServer, RemoteStore],
) -> None:
    server, remote = served
    big = b"B" * (200 * KIB)
    remote.put_many([(digest_of(big), big)])
    remote.put_many([(digest_of(big), big)])
    assert requests_of(server, "Write") == 1


def test_streaming_open_and_writer_round_trip(served: tuple[CacheServer, RemoteStore]) -> None:
    _server, remote = served
    data = bytes(range(256)) * (12 * KIB)  # 3 MiB
    d = digest_of(data)
    assert remote.open(d) is None
    writer = remote.writer(d)
    for i in range(0, len(data), 100 * KIB):
        writer.write(data[i : i + 100 * KIB])
    writer.commit()
    handle = remote.open(d)
    assert handle is not None
    with handle:
        assert handle.read() == data


def test_action_results_round_trip_and_miss_is_none(
    served: tuple[CacheServer, RemoteStore],
) -> None:
    _server, remote = served
    remote.put_many([(digest_of(b"out"), b"out")])
    result = re_pb2.ActionResult(output_files=[
        re_pb2.OutputFile(path="o", digest=re_pb2.Digest(hash=digest_of(b"out").hash,
                                                         size_bytes=3))]).SerializeToString()
    assert remote.get_action_result(digest_of(b"act")) is None
    remote.put_action_result(digest_of(b"act"), result)
    assert remote.get_action_result(digest_of(b"act")) == result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return int(s.getsockname()[1])


def test_unavailable_is_retried_with_growing_backoff_until_the_server_is_up(
    tmp_path: Path,
) -> None:
    port = _free_port()
    delays: list[float] = []
    started: list[CacheServer] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 2:  # Come up after the second failed attempt.
            server = CacheServer(options(tmp_path, listen=Address(LOCALHOST, port)))
            server.start()
            started.append(server)
        time.sleep(seconds)

    remote = RemoteStore(RemoteOptions(f"grpc://{LOCALHOST}:{port}", timeout_seconds=5),
                         sleep=sleep)
    try:
        assert remote.find_missing([digest_of(b"x")]) == [digest_of(b"x")]
    finally:
        remote.close()
        for server in started:
            server.stop(0)
    assert len(delays) == 2
    assert 0.1 <= delays[0] <= 0.2 <= delays[1] <= 0.4  # 0.2 s, then 0.4 s, with jitter


def test_a_busy_server_is_retried_with_backoff_until_a_call_slot_frees(tmp_path: Path) -> None:
    release = threading.Event()
    data = b"z" * 100

    def stalled() -> Iterator[Any]:
        d = pdigest(data)
        name = f"uploads/u/blobs/{d.hash}/{d.size_bytes}"
        yield bs_pb2.WriteRequest(resource_name=name, data=data[:10])
        release.wait(10)
        yield bs_pb2.WriteRequest(write_offset=10, data=data[10:], finish_write=True)

    with running(tmp_path / "c", max_concurrent_calls=1) as (server, port), client(port) as c:
        upload = c.bytestream.Write.future(stalled())
        delays: list[float] = []

        def sleep(seconds: float) -> None:  # The busy call frees its slot during the backoff.
            delays.append(seconds)
            release.set()
            upload.result(10)
            time.sleep(seconds)

        remote = RemoteStore(RemoteOptions(f"grpc://{LOCALHOST}:{port}"), sleep=sleep)
        try:
            wait_until_busy = time.monotonic() + 10
            while server.calls_in_flight < 1 and time.monotonic() < wait_until_busy:
                time.sleep(0.01)
            assert remote.find_missing([digest_of(b"x")]) == [digest_of(b"x")]
        finally:
            release.set()
            remote.close()
    assert len(delays) == 1


def test_a_server_that_stays_down_is_a_cache_error_after_the_attempts(tmp_path: Path) -> None:
    remote = RemoteStore(RemoteOptions(f"grpc://{LOCALHOST}:{_free_port()}", attempts=3,
                                       token="s3cret-token"), sleep=lambda _s: None)
    with pytest.raises(CacheError, match="FindMissingBlobs failed: UNAVAILABLE") as info:
        remote.find_missing([digest_of(b"x")])
    assert "s3cret-token" not in str(info.value)
    remote.close()


def test_a_read_only_token_cannot_write(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('[[token]]\nname = "pr"\nscope = "read"\nsha256 = "'
                      + hashlib.sha256(b"pr-token").hexdigest() + '"\n')
    with running(tmp_path / "c", tokens=tokens) as (_server, port):
        remote = RemoteStore(RemoteOptions(f"grpc://{LOCALHOST}:{port}", token="pr-token"))
        assert remote.find_missing([digest_of(b"x")]) == [digest_of(b"x")]
        with pytest.raises(CacheError, match="PERMISSION_DENIED"):
            remote.put_many([(digest_of(b"x"), b"x")])
        remote.close()


class _LyingCas(re_grpc.ContentAddressableStorageServicer):
    """A broken server: answers every read with bytes that do not match the digest."""

    def BatchReadBlobs(self, request: Any, context: Any) -> Any:
        return re_pb2.BatchReadBlobsResponse(responses=[
            re_pb2.BatchReadBlobsResponse.Response(digest=d, data=b"tampered")
            for d in request.digests])


def test_blobs_that_do_not_match_their_digest_are_rejected() -> None:
    server = grpc.server(ThreadPoolExecutor(2))
    re_grpc.add_ContentAddressableStorageServicer_to_server(_LyingCas(), server)
    port = server.add_insecure_port(f"{LOCALHOST}:0")
    server.start()
    try:
        remote = RemoteStore(RemoteOptions(f"grpc://{LOCALHOST}:{port}"))
        remote._max_batch = 4 * 1024 * 1024  # This fake serves no Capabilities.
        with pytest.raises(CacheError, match="corrupt blob"):
            remote.get_many([digest_of(b"original")])
        remote.close()
    finally:
        server.stop(0)


# --- Tiered -------------------------------------------------------------------------


def test_tiered_reads_remote_hits_and_back_fills_local(
    tmp_path: Path, served: tuple[CacheServer, RemoteStore],
) -> None:
    _server, remote = served
    data, big = b"from the remote", b"R" * (500 * KIB)
    remote.put_many([(digest_of(data), data), (digest_of(big), big)])
    remote.put_action_result(digest_of(b"a"), b"")
    local = open_local_store(tmp_path / "local", 1 << 30)
    warnings: list[str] = []
    tiered = TieredStore(local, remote, warnings.append)
    assert tiered.get_many([digest_of(data)]) == {digest_of(data): data}
    handle = tiered.open(digest_of(big))
    assert handle is not None
    with handle:
        assert handle.read() == big
    assert tiered.get_action_result(digest_of(b"a")) == b""
    assert local.find_missing([digest_of(data), digest_of(big)]) == []
    assert local.get_action_result(digest_of(b"a")) == b""
    assert warnings == []


def test_tiered_writes_reach_both_tiers(
    tmp_path: Path, served: tuple[CacheServer, RemoteStore],
) -> None:
    _server, remote = served
    local = open_local_store(tmp_path / "local", 1 << 30)
    tiered = TieredStore(local, remote, lambda m: None)
    tiered.put_many([(digest_of(b"both"), b"both")])
    data = b"S" * (400 * KIB)
    writer = tiered.writer(digest_of(data))
    writer.write(data)
    writer.commit()
    for store in (local, remote):
        assert store.find_missing([digest_of(b"both"), digest_of(data)]) == []


def test_tiered_with_the_remote_down_warns_once_and_keeps_working(tmp_path: Path) -> None:
    remote = RemoteStore(RemoteOptions(f"grpc://{LOCALHOST}:{_free_port()}", attempts=2),
                         sleep=lambda _s: None)
    local = open_local_store(tmp_path / "local", 1 << 30)
    warnings: list[str] = []
    tiered = TieredStore(local, remote, warnings.append)
    assert tiered.get_many([digest_of(b"x")]) == {}
    assert tiered.put_many([(digest_of(b"x"), b"x")]) == [None]
    assert tiered.get_many([digest_of(b"x")]) == {digest_of(b"x"): b"x"}
    assert tiered.get_action_result(digest_of(b"a")) is None
    assert len(warnings) == 1
    assert "UNAVAILABLE" in warnings[0] and "continuing without the remote cache" in warnings[0]
    remote.close()


def test_tiered_with_a_read_only_token_still_reads(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(
        '[[token]]\nname = "w"\nscope = "write"\nsha256 = "'
        + hashlib.sha256(b"w-token").hexdigest() + '"\n'
        '[[token]]\nname = "r"\nscope = "read"\nsha256 = "'
        + hashlib.sha256(b"r-token").hexdigest() + '"\n')
    with running(tmp_path / "server", tokens=tokens) as (_server, port):
        url = f"grpc://{LOCALHOST}:{port}"
        RemoteStore(RemoteOptions(url, token="w-token")).put_many([(digest_of(b"s"), b"s")])
        warnings: list[str] = []
        tiered = TieredStore(open_local_store(tmp_path / "local", 1 << 30),
                             RemoteStore(RemoteOptions(url, token="r-token")), warnings.append)
        tiered.put_many([(digest_of(b"mine"), b"mine")])
        assert tiered.get_many([digest_of(b"s")]) == {digest_of(b"s"): b"s"}
        assert len(warnings) == 1 and "PERMISSION_DENIED" in warnings[0]


@pytest.mark.parametrize(
    ("url", "files", "message"),
    [
        ("grpc://127.0.0.1:1", {"tls_ca": "ca.pem"}, "TLS files need a grpcs:// URL"),
        ("grpcs://127.0.0.1:1", {"tls_ca": "missing.pem"}, "missing.pem: cannot read"),
        ("grpcs://127.0.0.1:1", {"tls_ca": "garbage.pem"}, "garbage.pem: not a PEM file"),
        (
            "grpcs://127.0.0.1:1",
            {"tls_client_cert": "ca.pem"},
            "a TLS client certificate and its key go together",
        ),
    ],
)
def test_bad_tls_files_are_input_errors_naming_the_file(
    tmp_path: Path, url: str, files: dict[str, str], message: str
) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n"
    (tmp_path / "ca.pem").write_text(pem)
    (tmp_path / "garbage.pem").write_bytes(b"\x00not a certificate")
    paths = {field: tmp_path / name for field, name in files.items()}
    with pytest.raises(InputError, match=message):
        RemoteStore(RemoteOptions(url=url, **paths))  # type: ignore[arg-type]
