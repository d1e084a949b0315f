"""The persistent upload queue of a replica: entries on disk, oldest first."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphkit.cache.digest import digest_of
from graphkit.cache.store.uploads import (
    QUEUE_DIRECTORY,
    QueueFull,
    UploadQueue,
    queued_uploads,
)


def test_a_batch_of_blobs_is_one_entry_and_survives_a_restart(tmp_path: Path) -> None:
    blobs = [digest_of(b"one"), digest_of(b"two"), digest_of(b"three")]
    queue = UploadQueue(tmp_path)
    queue.add_blobs("ci/main", blobs)
    queue.add_result("ci/main", digest_of(b"action"), b"result\0bytes")
    assert len(queue) == 4
    assert len(list((tmp_path / QUEUE_DIRECTORY).iterdir())) == 2

    again = UploadQueue(tmp_path)
    assert len(again) == queued_uploads(tmp_path) == 4
    first = again.oldest(timeout=0)
    assert first is not None
    assert (first.kind, first.instance, first.digests) == ("cas", "ci/main", tuple(blobs))
    again.done(first.name)
    second = again.oldest(timeout=0)
    assert second is not None
    assert (second.kind, second.digests, second.result) == (
        "ac", (digest_of(b"action"),), b"result\0bytes")
    again.done(second.name)
    assert len(again) == 0 and again.oldest(timeout=0) is None


def test_an_entry_of_the_first_format_is_still_uploaded(tmp_path: Path) -> None:
    d = digest_of(b"queued by the first release")
    (tmp_path / QUEUE_DIRECTORY).mkdir()
    (tmp_path / QUEUE_DIRECTORY / f"{7:020d}-cas-{d.hash}-{d.size}").write_bytes(b"")
    queue = UploadQueue(tmp_path)
    entry = queue.oldest(timeout=0)
    assert entry is not None and entry.digests == (d,) and entry.instance == ""
    queue.add_blobs("", [d])
    assert sorted(p.name for p in (tmp_path / QUEUE_DIRECTORY).iterdir())[-1].startswith(
        f"{8:020d}-blobs-1")


def test_a_damaged_entry_is_dropped_not_uploaded(tmp_path: Path) -> None:
    queue = UploadQueue(tmp_path)
    queue.add_blobs("", [digest_of(b"x")])
    [entry] = list((tmp_path / QUEUE_DIRECTORY).iterdir())
    entry.write_bytes(b"\0not-a-digest\n")
    assert queue.oldest(timeout=0) is None
    assert len(queue) == 0 and not list((tmp_path / QUEUE_DIRECTORY).iterdir())


def test_the_bound_counts_uploads_not_entries(tmp_path: Path) -> None:
    queue = UploadQueue(tmp_path, max_entries=3)
    queue.add_blobs("", [digest_of(b"a"), digest_of(b"b")])
    with pytest.raises(QueueFull):
        queue.add_blobs("", [digest_of(b"c"), digest_of(b"d")])
    queue.add_blobs("", [digest_of(b"c")])
    assert len(queue) == 3


def test_the_results_queued_after_a_result_come_as_one_run_up_to_a_blob_entry(
    tmp_path: Path,
) -> None:
    queue = UploadQueue(tmp_path)
    actions = [digest_of(b"action %d" % i) for i in range(5)]
    for action in actions[:3]:
        queue.add_result("ci", action, b"result of %s" % action.hash.encode())
    queue.add_blobs("ci", [digest_of(b"an output")])
    for action in actions[3:]:
        queue.add_result("ci", action, b"")
    first = queue.oldest(timeout=0)
    assert first is not None and first.digests == (actions[0],)

    run = queue.results_after(first, limit=10)
    # The blob entry ends the run: results behind it wait until its blobs are up.
    assert [r.digests for r in run] == [(actions[1],), (actions[2],)]
    assert run[0].result == b"result of %s" % actions[1].hash.encode()
    assert [r.digests for r in queue.results_after(first, limit=1)] == [(actions[1],)]

    for entry in (first, *run):
        queue.done(entry.name)
    blobs = queue.oldest(timeout=0)
    assert blobs is not None and blobs.kind == "cas"
    assert queue.results_after(blobs, limit=10) == []
    queue.done(blobs.name)
    last = queue.oldest(timeout=0)
    assert last is not None and [r.result for r in queue.results_after(last, 10)] == [b""]
