"""16 concurrent clients on one real server process: overlapping uploads and reads of
small and large blobs. No corruption, no lost writes, and server memory stays bounded
(large blobs stream through the disk, never held whole)."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from pathlib import Path

from cacheservers import client, pdigest, serve_process

from graphkit.cache.protocol import re_pb2

CLIENTS = 16
ROUNDS = 4
MIB = 1024 * 1024
SMALL_POOL = [hashlib.sha256(str(i).encode()).digest() * (16 + i % 50) for i in range(300)]
LARGE_POOL = [bytes([i]) * (16 * MIB) + str(i).encode() for i in range(4)]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def worker(port: int, seed: int, errors: list[str], uploaded: set[bytes]) -> None:
    rng = random.Random(seed)
    try:
        with client(port) as c:
            for round_ in range(ROUNDS):
                batch = rng.sample(SMALL_POOL, 40)
                statuses = [r.status.code for r in c.upload(*batch).responses]
                uploaded.update(batch)  # set.update is atomic under the GIL
                if any(statuses):
                    errors.append(f"client {seed}: upload statuses {statuses}")
                large = LARGE_POOL[(seed + round_) % len(LARGE_POOL)]
                if c.write(large, chunk=MIB).committed_size != len(large):
                    errors.append(f"client {seed}: short commit")
                wanted = rng.sample(batch, 20)
                read = c.cas.BatchReadBlobs(re_pb2.BatchReadBlobsRequest(
                    digests=[pdigest(b) for b in wanted]))
                if [r.data for r in read.responses] != wanted:
                    errors.append(f"client {seed}: batch read returned other bytes")
                if c.read(pdigest(large)) != large:
                    errors.append(f"client {seed}: ByteStream read returned other bytes")
                action = pdigest(f"action {seed} {round_}".encode())
                c.ac.UpdateActionResult(re_pb2.UpdateActionResultRequest(
                    action_digest=action, action_result=re_pb2.ActionResult(
                        output_files=[re_pb2.OutputFile(path="o", digest=pdigest(large))])))
    except Exception as exc:  # Collected and asserted on by the test thread.
        errors.append(f"client {seed}: {type(exc).__name__}: {exc}")


def test_sixteen_concurrent_clients(tmp_path: Path) -> None:
    with serve_process(tmp_path) as server:
        errors: list[str] = []
        uploaded: set[bytes] = set()
        threads = [threading.Thread(target=worker, args=(server.port, seed, errors, uploaded))
                   for seed in range(CLIENTS)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        elapsed = time.monotonic() - started
        assert not any(t.is_alive() for t in threads), "clients still running after 120 s"
        assert errors == []
        with client(server.port) as c:
            assert len(uploaded) > 250
            assert c.missing(*uploaded, *LARGE_POOL) == []  # No write was lost.
            for seed in range(CLIENTS):
                for round_ in range(ROUNDS):
                    c.ac.GetActionResult(re_pb2.GetActionResultRequest(
                        action_digest=pdigest(f"action {seed} {round_}".encode())))
        rss = peak_rss_mib(server.process.pid)
        print(f"16 clients: {elapsed:.1f} s, server peak RSS {rss:.0f} MiB")
    # 16 clients x 4 rounds read and wrote 16 MiB blobs (over 1 GiB through the server).
    # What stays in memory is gRPC's per-stream flow-control buffers, not the blobs: the
    # single-stream test below shows a 128 MiB blob adds only a few MiB. With gRPC's
    # bandwidth-delay probing those windows grew to several MiB per stream and the
    # peak swung between 240 and 330 MiB with timing (this test failed now and then);
    # the server turns probing off, and the peak is about 170 MiB on 2 cores.
    assert rss < 320, f"server peak RSS {rss:.0f} MiB"
    assert elapsed < 90


def test_a_128_mib_blob_streams_through_without_being_held_in_memory(tmp_path: Path) -> None:
    data = bytes(range(256)) * (128 * MIB // 256)
    with serve_process(tmp_path) as server, client(server.port) as c:
        c.write(b"warm-up" * 100_000, chunk=MIB)
        assert c.read(pdigest(b"warm-up" * 100_000)) == b"warm-up" * 100_000
        before = peak_rss_mib(server.process.pid)
        assert c.write(data, chunk=MIB).committed_size == len(data)
        assert hashlib.sha256(c.read(pdigest(data))).digest() == hashlib.sha256(data).digest()
        growth = peak_rss_mib(server.process.pid) - before
    assert growth < 48, f"server peak RSS grew {growth:.0f} MiB for a 128 MiB blob"
