"""The diskcache-backed store: true LRU, atomic staged writes, bounded size, namespaces."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from graphkit.cache.digest import EMPTY, InvalidRequest, digest_of
from graphkit.cache.server.stats import read_stats
from graphkit.cache.store.local import STAGING, DiskBackend, LocalStore, open_local_store
from graphkit.cache.store.recent import RecentResults
from graphkit.errors import InputError

KIB = 1024


def blob(tag: int, size: int = 300 * KIB) -> bytes:
    return (f"{tag:08d}".encode() * (size // 8 + 1))[:size]


def _stored_oldest_first(store: LocalStore) -> list[bytes]:
    """Four 300 KiB blobs stored one after another, blob 0 the oldest write."""
    blobs = [blob(i) for i in range(4)]
    for b in blobs:
        store.put_many([(digest_of(b), b)])
        time.sleep(0.01)
    return blobs


def test_put_get_and_find_missing_round_trip(tmp_path: Path) -> None:
    store = open_local_store(tmp_path, 1 << 30)
    small, large = b"small blob", blob(1)
    assert store.put_many([(digest_of(small), small), (digest_of(large), large)]) == [None, None]
    assert store.get_many([digest_of(small), digest_of(large)]) == {
        digest_of(small): small, digest_of(large): large}
    absent = digest_of(b"never stored")
    assert store.find_missing([digest_of(small), absent, digest_of(large)]) == [absent]


def test_put_rejects_bytes_that_do_not_match_their_digest(tmp_path: Path) -> None:
    store = open_local_store(tmp_path, 1 << 30)
    claimed = digest_of(b"the real content")
    verdicts = store.put_many([(claimed, b"poisoned content"), (claimed, b"the real content")])
    assert verdicts[0] is not None and "do not match" in verdicts[0]
    assert verdicts[1] is None
    assert store.get_many([claimed]) == {claimed: b"the real content"}


def test_empty_blob_is_always_present(tmp_path: Path) -> None:
    store = open_local_store(tmp_path, 1 << 30)
    assert store.find_missing([EMPTY]) == []
    assert store.get_many([EMPTY]) == {EMPTY: b""}


def test_find_missing_refreshes_age_so_lru_keeps_the_blob(tmp_path: Path) -> None:
    backend = DiskBackend(tmp_path, max_size=1500 * KIB)
    store = backend.namespace()
    blobs = _stored_oldest_first(store)
    # Blob 0 is the oldest write; a FindMissingBlobs that reports it present must
    # make it the youngest, so the next eviction takes blob 1 instead.
    assert store.find_missing([digest_of(blobs[0])]) == []
    time.sleep(0.01)
    newcomer = blob(99)
    store.put_many([(digest_of(newcomer), newcomer)])
    missing = store.find_missing([digest_of(b) for b in blobs])
    assert digest_of(blobs[0]) not in missing
    assert digest_of(blobs[1]) in missing


def test_a_blob_used_twice_before_the_uses_are_written_keeps_its_latest_use(
    tmp_path: Path,
) -> None:
    # Uses are written in rounds (see DiskBackend.touch); one round holding an early
    # and a late use of blob 0 must leave it younger than blob 1, used in between.
    store = DiskBackend(tmp_path, max_size=1500 * KIB).namespace()
    blobs = _stored_oldest_first(store)
    for i in (0, 1, 2, 3, 0):
        assert store.find_missing([digest_of(blobs[i])]) == []
        time.sleep(0.01)
    newcomer = blob(99)
    store.put_many([(digest_of(newcomer), newcomer)])
    missing = store.find_missing([digest_of(b) for b in blobs])
    assert missing == [digest_of(blobs[1])]


def test_without_a_refresh_the_oldest_blob_is_evicted(tmp_path: Path) -> None:
    """Negative control for the LRU test: same writes, no FindMissingBlobs in between."""
    store = DiskBackend(tmp_path, max_size=1500 * KIB).namespace()
    blobs = _stored_oldest_first(store)
    newcomer = blob(99)
    store.put_many([(digest_of(newcomer), newcomer)])
    assert digest_of(blobs[0]) in store.find_missing([digest_of(blobs[0])])


def test_a_peek_is_no_use_and_the_oldest_blob_is_still_evicted(tmp_path: Path) -> None:
    # A replica reads what it uploads with peek_many: that says nothing about whether
    # clients still want the blob, so it must not make the blob young (get_many does).
    store = DiskBackend(tmp_path, max_size=1500 * KIB).namespace()
    blobs = _stored_oldest_first(store)
    assert store.peek_many([digest_of(blobs[0])]) == {digest_of(blobs[0]): blobs[0]}
    assert store.get_many([digest_of(blobs[1])]) == {digest_of(blobs[1]): blobs[1]}
    time.sleep(0.01)
    newcomer = blob(99)
    store.put_many([(digest_of(newcomer), newcomer)])
    missing = store.find_missing([digest_of(b) for b in blobs[:3]])
    assert digest_of(blobs[0]) in missing
    assert digest_of(blobs[1]) not in missing


def test_size_stays_under_max_size_and_evictions_are_reported(tmp_path: Path) -> None:
    evicted: list[int] = []
    backend = DiskBackend(tmp_path, max_size=2 * 1024 * KIB, on_evict=evicted.append)
    store = backend.namespace()
    for i in range(20):
        b = blob(i, 200 * KIB)
        store.put_many([(digest_of(b), b)])
        assert backend.volume() <= backend.max_size
    assert sum(evicted) > 0
    assert backend.entries() < 20


def test_streaming_writer_commits_only_verified_bytes(tmp_path: Path) -> None:
    store = open_local_store(tmp_path, 1 << 30)
    data = blob(7, 3 * 1024 * KIB)
    d = digest_of(data)
    writer = store.writer(d)
    for i in range(0, len(data), 64 * KIB):
        writer.write(data[i : i + 64 * KIB])
    assert store.find_missing([d]) == [d]  # Not visible before commit.
    writer.commit()
    handle = store.open(d)
    assert handle is not None
    with handle:
        assert handle.read() == data
    assert list((tmp_path / STAGING).iterdir()) == []


def test_streaming_writer_rejects_wrong_bytes_and_leaves_nothing(tmp_path: Path) -> None:
    store = open_local_store(tmp_path, 1 << 30)
    data = blob(8, 200 * KIB)
    d = digest_of(data)
    writer = store.writer(d)
    writer.write(data[:-1] + b"!")
    with pytest.raises(InvalidRequest, match="do not match"):
        writer.commit()
    assert store.find_missing([d]) == [d]
    assert list((tmp_path / STAGING).iterdir()) == []


def test_streaming_writer_refuses_more_bytes_than_the_digest_says(tmp_path: Path) -> None:
    store = open_local_store(tmp_path, 1 << 30)
    d = digest_of(b"four")
    writer = store.writer(d)
    with pytest.raises(InvalidRequest, match="more than 4 bytes"):
        writer.write(b"fourteen")
    assert list((tmp_path / STAGING).iterdir()) == []


def test_stale_staged_uploads_of_dead_processes_are_removed_at_open(tmp_path: Path) -> None:
    (tmp_path / STAGING).mkdir()
    leftover = tmp_path / STAGING / "up-999999999-abc"  # No such pid.
    leftover.write_bytes(b"partial")
    live = tmp_path / STAGING / f"up-{os.getppid()}-abc"  # A running process's upload.
    live.write_bytes(b"in flight")
    DiskBackend(tmp_path, 1 << 30).close()
    assert not leftover.exists()
    assert live.exists()


def test_instances_are_separate_namespaces(tmp_path: Path) -> None:
    backend = DiskBackend(tmp_path, 1 << 30)
    a, b = backend.namespace("ci/main"), backend.namespace("ci/pr")
    data = b"only in main"
    a.put_many([(digest_of(data), data)])
    a.put_action_result(digest_of(b"action"), b"result-bytes")
    assert b.find_missing([digest_of(data)]) == [digest_of(data)]
    assert b.get_action_result(digest_of(b"action")) is None
    assert a.get_action_result(digest_of(b"action")) == b"result-bytes"


def test_stats_of_a_directory(tmp_path: Path) -> None:
    store = open_local_store(tmp_path, 1 << 30)
    store.put_many([(digest_of(b"x"), b"x")])
    stats = read_stats(tmp_path)
    assert stats.entries == 1
    assert stats.bytes > 0
    assert stats.ac_hit_rate is None


def test_stats_of_a_folder_that_is_not_a_cache_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a graphkit cache directory"):
        read_stats(tmp_path)


def test_batch_reads_return_bytes_unchanged_inline_and_from_files(tmp_path: Path) -> None:
    store = open_local_store(tmp_path, 1 << 30)
    # NULs, bytes that are not UTF-8, an empty-looking prefix, and file-backed blobs.
    blobs = [b"\x00", b"\xff\xfe\x00abc", b"\x00" * 5000, bytes(range(256)) * 3,
             blob(1, 100 * KIB), blob(2, 70 * KIB), b"plain text"]
    assert store.put_many([(digest_of(b), b) for b in blobs]) == [None] * len(blobs)
    absent = digest_of(b"absent")
    wanted = [digest_of(b) for b in blobs]
    got = store.get_many([absent, *reversed(wanted), wanted[0]])
    assert got == {digest_of(b): b for b in blobs}


def test_a_batch_read_answers_position_by_position_in_request_order(tmp_path: Path) -> None:
    store = open_local_store(tmp_path, 1 << 30)
    blobs = [f"blob {i}".encode() for i in range(300)] + [blob(1, 100 * KIB)]
    store.put_many([(digest_of(b), b) for b in blobs])
    absent = digest_of(b"absent")
    asked = [absent, *(digest_of(b) for b in reversed(blobs)), EMPTY, digest_of(blobs[0]), absent]
    expected = [None, *reversed(blobs), b"", blobs[0], None]
    assert store.read_batch(asked) == expected
    assert store.read_batch([digest_of(b) for b in blobs]) == blobs  # All found, in order.
    assert store.read_batch([]) == []


def test_a_batch_read_drops_a_damaged_small_blob_once_and_serves_the_rest(
    tmp_path: Path,
) -> None:
    backend = DiskBackend(tmp_path, 1 << 30)
    store = backend.namespace()
    good, bad = b"good blob", b"blob to be damaged"
    store.put_many([(digest_of(good), good), (digest_of(bad), bad)])
    with backend.cache._transact(retry=True) as (sql, _cleanup):
        sql("UPDATE Cache SET value = ? WHERE value = ?", (b"blob to be DAMAGED", bad))
    asked = [digest_of(bad), digest_of(good), digest_of(bad)]
    assert store.read_batch(asked) == [None, good, None]
    assert store.find_missing(asked) == [digest_of(bad), digest_of(bad)]


def test_find_missing_of_a_large_batch_matches_asking_one_by_one(tmp_path: Path) -> None:
    store = open_local_store(tmp_path, 1 << 30)
    present = [f"present {i}".encode() for i in range(1500)]
    store.put_many([(digest_of(b), b) for b in present])
    asked = [digest_of(f"{kind} {i}".encode()) for i in range(1500)
             for kind in ("present", "absent")] + [EMPTY]
    one_by_one = [d for d in asked if store.find_missing([d])]
    assert store.find_missing(asked) == one_by_one
    assert len(one_by_one) == 1500


def test_a_remembered_result_is_forgotten_when_a_blob_it_needs_is_evicted(
    tmp_path: Path,
) -> None:
    backend = DiskBackend(tmp_path, max_size=1500 * KIB)
    store = backend.namespace()
    output, action = blob(1), digest_of(b"action")
    store.put_many([(digest_of(output), output)])
    store.put_action_result(action, b"result")
    store.remember_complete_result(action, b"result", [digest_of(output)])
    assert store.recall_complete_result(action) == b"result"
    for i in range(2, 6):  # Push the output (and the result) out of the LRU.
        time.sleep(0.01)
        store.put_many([(digest_of(blob(i)), blob(i))])
    assert store.find_missing([digest_of(output)]) == [digest_of(output)]
    assert store.recall_complete_result(action) is None


def test_a_result_is_not_remembered_while_a_blob_it_needs_is_missing(tmp_path: Path) -> None:
    store = open_local_store(tmp_path, 1 << 30)
    action = digest_of(b"action")
    store.put_action_result(action, b"result")
    store.remember_complete_result(action, b"result", [digest_of(b"never stored")])
    assert store.recall_complete_result(action) is None
    store.remember_complete_result(action, b"other result", [])  # Not what is stored.
    assert store.recall_complete_result(action) is None
    store.remember_complete_result(action, b"result", [])  # Control: this one is kept.
    assert store.recall_complete_result(action) == b"result"


def test_an_entry_checked_while_rows_were_evicted_is_not_remembered() -> None:
    recent = RecentResults()
    generation = recent.generation
    recent.forget([7])  # An eviction between reading the rows and remembering.
    recent.remember("a|x", b"result", [7, 8], generation, now=0.0)
    assert recent.get("a|x", now=0.0) is None
    recent.remember("a|x", b"result", [7, 8], recent.generation, now=0.0)
    assert recent.get("a|x", now=0.0) is not None
    recent.forget([8])
    assert recent.get("a|x", now=0.0) is None
    assert len(recent) == 0


def test_a_remembered_result_records_a_use_of_its_rows_at_most_once_a_minute() -> None:
    recent = RecentResults(use_interval=60.0)
    recent.remember("a|x", b"result", [7, 8], recent.generation, now=1000.0)
    hits = [recent.get("a|x", now=t) for t in (1030.0, 1060.0, 1090.0, 1119.0, 1120.0)]
    assert [hit[0].rows_json for hit in hits if hit] == ["[7,8]"] * 5
    assert [hit[1] for hit in hits if hit] == [False, True, False, False, True]


def test_a_recalled_result_refreshes_the_age_of_its_blobs_when_a_use_is_due(
    tmp_path: Path,
) -> None:
    def evicted_after_recall(directory: Path, use_interval: float) -> list[int]:
        backend = DiskBackend(directory, max_size=1500 * KIB)
        backend.recent = RecentResults(use_interval=use_interval)
        store = backend.namespace()
        blobs = _stored_oldest_first(store)
        action = digest_of(b"action")
        store.put_action_result(action, b"result")
        store.remember_complete_result(action, b"result", [digest_of(blobs[0])])
        time.sleep(0.01)
        assert store.recall_complete_result(action) == b"result"
        time.sleep(0.01)
        store.put_many([(digest_of(blob(99)), blob(99))])
        missing = store.find_missing([digest_of(b) for b in blobs])
        return [i for i, b in enumerate(blobs) if digest_of(b) in missing]

    # Blob 0 is the oldest write; a recall whose use is due makes it young again.
    assert evicted_after_recall(tmp_path / "due", use_interval=0.0) == [1]
    # Remembered a moment ago, the same recall records nothing: blob 0 goes first.
    assert evicted_after_recall(tmp_path / "not-due", use_interval=60.0) == [0]


def test_streaming_writer_with_large_chunks_verifies_every_byte(tmp_path: Path) -> None:
    store = open_local_store(tmp_path, 1 << 30)
    data = b"head" + blob(9, 5 * 1024 * KIB)
    d = digest_of(data)
    writer = store.writer(d)
    writer.write(data[:4])  # Small first chunk in place, then handed-off large ones.
    for i in range(4, len(data), 1024 * KIB):
        writer.write(data[i : i + 1024 * KIB])
    writer.commit()
    handle = store.open(d)
    assert handle is not None
    with handle:
        assert handle.read() == data
    bad = store.writer(digest_of(data[::-1]))
    for i in range(0, len(data), 1024 * KIB):
        bad.write(data[i : i + 1024 * KIB])
    with pytest.raises(InvalidRequest, match="do not match"):
        bad.commit()
    assert list((tmp_path / STAGING).iterdir()) == []


def test_a_result_checked_while_its_blob_is_being_evicted_is_not_remembered(
    tmp_path: Path,
) -> None:
    # The interleaving: an eviction has chosen the output blob and is inside its DELETE
    # transaction when a lookup checks the result (the row is still visible to it) and
    # remembers it. Once the DELETE commits, the memo must not serve the result.
    backend = DiskBackend(tmp_path, max_size=1500 * KIB)
    store = backend.namespace()
    output, action = blob(1), digest_of(b"action")
    store.put_many([(digest_of(output), output)])
    time.sleep(0.01)
    store.put_action_result(action, b"result")
    for i in range(2, 5):
        time.sleep(0.01)
        store.put_many([(digest_of(blob(i)), blob(i))])
    deleting, checked = threading.Event(), threading.Event()

    def pause_in_delete(statement: str) -> None:
        if statement.startswith("DELETE FROM Cache WHERE rowid IN"):
            deleting.set()
            assert checked.wait(10)

    def evict() -> None:
        backend.cache._con.set_trace_callback(pause_in_delete)
        try:
            store.put_many([(digest_of(blob(99)), blob(99))])  # Evicts the output.
        finally:
            backend.cache._con.set_trace_callback(None)

    evictor = threading.Thread(target=evict)
    evictor.start()
    assert deleting.wait(10)
    store.remember_complete_result(action, b"result", [digest_of(output)])
    checked.set()
    evictor.join(10)
    assert store.find_missing([digest_of(output)]) == [digest_of(output)]
    assert store.recall_complete_result(action) is None
