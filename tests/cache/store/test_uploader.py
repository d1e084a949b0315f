"""The uploader gives way to calls in flight, for a bounded time, and loses nothing."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from graphkit.cache.digest import Digest, digest_of
from graphkit.cache.store.fronted import BackendHealth, Uploader
from graphkit.cache.store.local import LocalStore, open_local_store
from graphkit.cache.store.objects import ObjectStore
from graphkit.cache.store.uploads import UploadQueue
from tests.s3server import S3Server

MAX_DELAY = 3.0  # Long enough that the checks below run well before it ends.


def _queued(front: LocalStore, queue: UploadQueue, data: bytes) -> Digest:
    d = digest_of(data)
    assert front.put_many([(d, data)]) == [None]
    queue.add_blobs("", [d])
    return d


def _until(condition: object, timeout: float = 20.0) -> float:
    """Seconds until ``condition()`` holds (fails after ``timeout``)."""
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - started < timeout, "not uploaded in time"
        time.sleep(0.02)
    return time.monotonic() - started


def test_uploads_wait_while_calls_are_in_flight_for_a_bounded_time(
    objects: ObjectStore, tmp_path: Path
) -> None:
    front = open_local_store(tmp_path / "front", 1 << 30)
    queue = UploadQueue(tmp_path / "front")
    busy = threading.Event()
    busy.set()
    uploader = Uploader(queue, objects, lambda _i: front, BackendHealth(),
                        busy=busy.is_set, max_delay=MAX_DELAY)
    uploader.start()
    try:
        # Calls in flight: a fresh entry stays queued (on disk) ...
        first = _queued(front, queue, b"written during a burst of calls")
        time.sleep(0.3)
        assert objects.present("", [first]) == set() and len(queue) == 1
        # ... and goes up as soon as the calls end.
        busy.clear()
        _until(lambda: objects.present("", [first]) == {first})
        _until(lambda: len(queue) == 0)

        # Under calls that never end, an entry still goes up once it is MAX_DELAY old.
        busy.set()
        queued = time.monotonic()
        second = _queued(front, queue, b"written under sustained load")
        _until(lambda: objects.present("", [second]) == {second})
        assert time.monotonic() - queued >= MAX_DELAY - 0.5

        # An entry older than that (queued before a restart) does not wait at all.
        uploader.stop()
        old = _queued(front, queue, b"queued before a restart")
        entry = next(p for p in queue.directory.iterdir() if not p.name.startswith("."))
        os.utime(entry, (time.time() - 60, time.time() - 60))
        uploader = Uploader(queue, objects, lambda _i: front, BackendHealth(),
                            busy=busy.is_set, max_delay=MAX_DELAY)
        uploader.start()
        assert _until(lambda: objects.present("", [old]) == {old}) < MAX_DELAY - 0.5
    finally:
        uploader.stop()


def test_a_large_entry_gives_way_between_slices(
    objects: ObjectStore, s3: S3Server, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    front = open_local_store(tmp_path / "front", 1 << 30)
    queue = UploadQueue(tmp_path / "front")
    blobs = [(digest_of(b"%d" % i), b"%d" % i) for i in range(400)]  # Four slices.
    assert front.put_many(blobs) == [None] * len(blobs)
    queue.add_blobs("", [d for d, _data in blobs])
    busy = threading.Event()
    uploader = Uploader(queue, objects, lambda _i: front, BackendHealth(),
                        busy=busy.is_set, max_delay=60.0)
    prefix = f"{request.node.name}/"

    def uploaded() -> int:
        return sum(key.startswith(prefix) for key in s3.object_keys())

    uploader.start()
    try:
        _until(lambda: uploaded() > 0)
        busy.set()  # Calls arrive mid-entry: the slice under way finishes, no more start.
        time.sleep(3.0)
        paused = uploaded()
        time.sleep(1.0)
        assert uploaded() == paused < len(blobs)
        assert len(queue) == len(blobs)  # Still queued whole until all of it is up.
        busy.clear()
        _until(lambda: len(queue) == 0)
        assert uploaded() == len(blobs)
    finally:
        uploader.stop()


def test_results_queued_back_to_back_all_reach_the_bucket_behind_their_blobs(
    objects: ObjectStore, tmp_path: Path
) -> None:
    front = open_local_store(tmp_path / "front", 1 << 30)
    queue = UploadQueue(tmp_path / "front")
    actions = [digest_of(b"action %d" % i) for i in range(150)]  # Three runs and more.
    for action in actions[:100]:
        queue.add_result("", action, b"result %s" % action.hash.encode())
    output = _queued(front, queue, b"an output of the last results")
    for action in actions[100:]:
        queue.add_result("", action, b"result %s" % action.hash.encode())
    uploader = Uploader(queue, objects, lambda _i: front, BackendHealth(), max_delay=0.0)
    uploader.start()
    try:
        _until(lambda: len(queue) == 0)
    finally:
        uploader.stop()
    assert objects.present("", [output]) == {output}
    for action in actions:
        assert objects.get_action_result("", action) == b"result %s" % action.hash.encode()
