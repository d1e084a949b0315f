"""The REAPI v2 services over a real grpc server on 127.0.0.1:0, called with real stubs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cacheservers import Client, client, pdigest, running
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import given
from hypothesis import strategies as st

from graphkit.cache.digest import digest_of
from graphkit.cache.protocol import bs_pb2, re_pb2
from graphkit.cache.wire import (
    BatchEntry,
    batch_read_response,
    encode_write_request,
    found_blobs_response,
    read_response,
    read_response_from,
    unfilled_bytes,
    write_request,
)

MIB = 1024 * 1024


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Client]:
    with running(tmp_path / "cache") as (_server, port), client(port) as c:
        yield c


def code_of(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


# --- Capabilities -------------------------------------------------------------------


def test_capabilities_satisfy_a_bazel_4_2_client(cache: Client) -> None:
    caps = cache.caps.GetCapabilities(re_pb2.GetCapabilitiesRequest())
    assert (caps.low_api_version.major, caps.low_api_version.minor) == (2, 0)
    assert caps.high_api_version.major == 2
    assert list(caps.cache_capabilities.digest_functions) == [re_pb2.DigestFunction.SHA256]
    assert caps.cache_capabilities.action_cache_update_capabilities.update_enabled
    assert caps.cache_capabilities.max_batch_total_size_bytes == 4 * MIB
    assert not caps.HasField("execution_capabilities")


# --- CAS batch operations -----------------------------------------------------------


def test_batch_upload_then_find_missing_then_batch_read(cache: Client) -> None:
    blobs = [b"alpha", b"beta" * 1000, b"gamma" * 30000]
    response = cache.upload(*blobs)
    assert [r.status.code for r in response.responses] == [0, 0, 0]
    assert cache.missing(b"alpha", b"not there") == [pdigest(b"not there").hash]
    read = cache.cas.BatchReadBlobs(
        re_pb2.BatchReadBlobsRequest(digests=[pdigest(b) for b in [*blobs, b"nope"]]))
    assert [r.data for r in read.responses[:3]] == blobs
    assert read.responses[3].status.code == grpc.StatusCode.NOT_FOUND.value[0]


def test_batch_upload_rejects_only_the_blob_whose_bytes_do_not_match(cache: Client) -> None:
    good = re_pb2.BatchUpdateBlobsRequest.Request(digest=pdigest(b"good"), data=b"good")
    bad = re_pb2.BatchUpdateBlobsRequest.Request(digest=pdigest(b"claim!"), data=b"poison")
    response = cache.cas.BatchUpdateBlobs(re_pb2.BatchUpdateBlobsRequest(requests=[good, bad]))
    statuses = [(r.status.code, r.status.message) for r in response.responses]
    assert statuses[0] == (0, "")
    assert statuses[1][0] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "do not match" in statuses[1][1]
    assert cache.missing(b"good", b"claim!") == [pdigest(b"claim!").hash]


def test_batch_upload_with_wrong_size_is_rejected_per_blob(cache: Client) -> None:
    wrong = re_pb2.Digest(hash=pdigest(b"abc").hash, size_bytes=4)
    response = cache.cas.BatchUpdateBlobs(re_pb2.BatchUpdateBlobsRequest(
        requests=[re_pb2.BatchUpdateBlobsRequest.Request(digest=wrong, data=b"abc")]))
    assert response.responses[0].status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "has 3 bytes" in response.responses[0].status.message


def test_oversize_batches_are_invalid_with_a_message(cache: Client) -> None:
    data = b"x" * (2 * MIB + 100_000)  # Two of them: over the 4 MiB batch limit.
    req = re_pb2.BatchUpdateBlobsRequest.Request(digest=pdigest(data), data=data)
    code, message = code_of(lambda: cache.cas.BatchUpdateBlobs(
        re_pb2.BatchUpdateBlobsRequest(requests=[req, req])))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "exceeds max_batch_total_size_bytes" in message
    too_big = re_pb2.Digest(hash="a" * 64, size_bytes=5 * MIB)
    code, message = code_of(lambda: cache.cas.BatchReadBlobs(
        re_pb2.BatchReadBlobsRequest(digests=[too_big])))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("bad_hash", ["../../etc/passwd", "A" * 64, "a" * 63, "sha1:" + "a" * 40])
def test_malformed_digests_are_invalid_argument(cache: Client, bad_hash: str) -> None:
    code, message = code_of(lambda: cache.cas.FindMissingBlobs(re_pb2.FindMissingBlobsRequest(
        blob_digests=[re_pb2.Digest(hash=bad_hash, size_bytes=1)])))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a SHA-256 hash" in message


def test_other_digest_functions_are_refused(cache: Client) -> None:
    code, message = code_of(lambda: cache.cas.FindMissingBlobs(re_pb2.FindMissingBlobsRequest(
        digest_function=re_pb2.DigestFunction.SHA1)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "SHA1" in message


def test_empty_blob_is_always_available(cache: Client) -> None:
    assert cache.missing(b"") == []
    read = cache.cas.BatchReadBlobs(re_pb2.BatchReadBlobsRequest(digests=[pdigest(b"")]))
    assert read.responses[0].status.code == 0


def test_instance_names_are_separate_namespaces(cache: Client) -> None:
    cache.upload(b"main only", instance="ci/main")
    assert cache.missing(b"main only", instance="ci/main") == []
    assert cache.missing(b"main only", instance="ci/pr") == [pdigest(b"main only").hash]
    assert cache.missing(b"main only") == [pdigest(b"main only").hash]
    code, _ = code_of(lambda: cache.missing(b"x", instance="ci/blobs"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


# --- ByteStream ---------------------------------------------------------------------


def test_bytestream_write_like_bazel_then_read(cache: Client) -> None:
    data = bytes(range(256)) * (5 * 4096)  # 5 MiB in 16 KiB chunks
    assert cache.write(data).committed_size == len(data)
    assert cache.read(pdigest(data)) == data


def test_bytestream_read_with_offset_and_limit(cache: Client) -> None:
    data = bytes(range(256)) * 1000
    cache.write(data)
    assert cache.read(pdigest(data), offset=1000, limit=500) == data[1000:1500]
    code, _ = code_of(lambda: cache.read(pdigest(data), offset=len(data) + 1))
    assert code == grpc.StatusCode.OUT_OF_RANGE


def test_bytestream_read_of_a_missing_blob_is_not_found(cache: Client) -> None:
    code, message = code_of(lambda: cache.read(pdigest(b"never written")))
    assert code == grpc.StatusCode.NOT_FOUND
    assert "not in the cache" in message


def test_bytestream_write_of_wrong_bytes_is_invalid_and_not_stored(cache: Client) -> None:
    data = b"y" * 100_000
    claimed = pdigest(b"z" * 100_000)
    name = f"uploads/u/blobs/{claimed.hash}/{claimed.size_bytes}"
    code, message = code_of(lambda: cache.write(data, name=name))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "do not match" in message
    assert cache.missing(b"z" * 100_000) == [claimed.hash]


def test_bytestream_write_with_a_size_mismatch_is_invalid(cache: Client) -> None:
    data = b"q" * 50_000
    d = pdigest(data)
    code, message = code_of(lambda: cache.write(
        data, name=f"uploads/u/blobs/{d.hash}/{d.size_bytes - 10}"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "more than" in message


def test_bytestream_write_with_a_gap_in_offsets_is_invalid(cache: Client) -> None:
    data = b"w" * 40_000
    d = pdigest(data)
    name = f"uploads/u/blobs/{d.hash}/{d.size_bytes}"
    requests = [bs_pb2.WriteRequest(resource_name=name, write_offset=0, data=data[:10_000]),
                bs_pb2.WriteRequest(write_offset=20_000, data=data[20_000:], finish_write=True)]
    code, message = code_of(lambda: cache.bytestream.Write(iter(requests)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "does not follow" in message


def test_bytestream_write_without_finish_is_invalid_and_not_stored(cache: Client) -> None:
    data = b"u" * 40_000
    d = pdigest(data)
    requests = [bs_pb2.WriteRequest(resource_name=f"uploads/u/blobs/{d.hash}/{d.size_bytes}",
                                    data=data)]
    code, message = code_of(lambda: cache.bytestream.Write(iter(requests)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "without finish_write" in message
    assert cache.missing(data) == [d.hash]


def test_bytestream_write_of_a_present_blob_ends_early_with_full_size(cache: Client) -> None:
    data = b"p" * 200_000
    cache.write(data)
    d = pdigest(data)
    first = bs_pb2.WriteRequest(resource_name=f"uploads/u2/blobs/{d.hash}/{d.size_bytes}",
                                data=data[:16384])
    assert cache.bytestream.Write(iter([first])).committed_size == len(data)


@pytest.mark.parametrize("name", ["../../etc/passwd", "blobs/xyz/1", "blobs/../../x/1",
                                  "ci//blobs/" + "a" * 64 + "/1"])
def test_bytestream_bad_resource_names_are_invalid(cache: Client, name: str) -> None:
    def read() -> None:
        list(cache.bytestream.Read(bs_pb2.ReadRequest(resource_name=name)))

    code, _ = code_of(read)
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_query_write_status(cache: Client) -> None:
    data = b"s" * 70_000
    d = pdigest(data)
    name = f"uploads/u/blobs/{d.hash}/{d.size_bytes}"
    code, _ = code_of(lambda: cache.bytestream.QueryWriteStatus(
        bs_pb2.QueryWriteStatusRequest(resource_name=name)))
    assert code == grpc.StatusCode.UNIMPLEMENTED
    cache.write(data)
    status = cache.bytestream.QueryWriteStatus(bs_pb2.QueryWriteStatusRequest(resource_name=name))
    assert (status.committed_size, status.complete) == (len(data), True)


# --- GetTree ------------------------------------------------------------------------


def _directory(files: dict[str, bytes], dirs: dict[str, Any]) -> Any:
    return re_pb2.Directory(
        files=[re_pb2.FileNode(name=n, digest=pdigest(b)) for n, b in sorted(files.items())],
        directories=[re_pb2.DirectoryNode(name=n, digest=pdigest(d.SerializeToString()))
                     for n, d in sorted(dirs.items())],
    )


def test_get_tree_returns_every_directory_with_pagination(cache: Client) -> None:
    leaves = {f"d{i}": _directory({"f": f"file {i}".encode()}, {}) for i in range(5)}
    root = _directory({"top": b"top"}, leaves)
    cache.upload(root.SerializeToString(), *(d.SerializeToString() for d in leaves.values()))
    request = re_pb2.GetTreeRequest(root_digest=pdigest(root.SerializeToString()), page_size=2)
    pages = list(cache.cas.GetTree(request))
    assert [len(p.directories) for p in pages] == [2, 2, 2]
    assert pages[0].directories[0] == root
    assert [p.next_page_token for p in pages] == ["2", "4", ""]
    resumed = list(cache.cas.GetTree(re_pb2.GetTreeRequest(
        root_digest=request.root_digest, page_token="4")))
    assert [d for p in resumed for d in p.directories] == list(pages[2].directories)


@pytest.mark.parametrize("token", ["9" * 5000, "1" * 13, "\u00b2", "\uff15", "-1", "1e3"])
def test_get_tree_refuses_page_tokens_it_never_issued(cache: Client, token: str) -> None:
    root = _directory({"top": b"top"}, {})
    cache.upload(root.SerializeToString())
    code, message = code_of(lambda: list(cache.cas.GetTree(re_pb2.GetTreeRequest(
        root_digest=pdigest(root.SerializeToString()), page_token=token))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "is not one this server issued" in message


def test_get_tree_of_a_missing_root_is_not_found(cache: Client) -> None:
    code, _ = code_of(lambda: list(cache.cas.GetTree(
        re_pb2.GetTreeRequest(root_digest=pdigest(b"no such dir")))))
    assert code == grpc.StatusCode.NOT_FOUND


# --- ActionCache --------------------------------------------------------------------


def _result_for(cache: Client, output: bytes) -> Any:
    cache.upload(output, b"stdout text")
    return re_pb2.ActionResult(
        output_files=[re_pb2.OutputFile(path="out/a.txt", digest=pdigest(output))],
        stdout_digest=pdigest(b"stdout text"),
        exit_code=0,
    )


def test_action_result_round_trip(cache: Client) -> None:
    action = pdigest(b"action 1")
    code, _ = code_of(lambda: cache.ac.GetActionResult(
        re_pb2.GetActionResultRequest(action_digest=action)))
    assert code == grpc.StatusCode.NOT_FOUND
    result = _result_for(cache, b"output bytes")
    cache.ac.UpdateActionResult(
        re_pb2.UpdateActionResultRequest(action_digest=action, action_result=result))
    got = cache.ac.GetActionResult(re_pb2.GetActionResultRequest(action_digest=action))
    assert got == result


def test_action_result_with_missing_outputs_is_not_found(cache: Client) -> None:
    action = pdigest(b"action 2")
    result = re_pb2.ActionResult(output_files=[
        re_pb2.OutputFile(path="never/uploaded", digest=pdigest(b"lost output"))])
    cache.ac.UpdateActionResult(
        re_pb2.UpdateActionResultRequest(action_digest=action, action_result=result))
    code, _ = code_of(lambda: cache.ac.GetActionResult(
        re_pb2.GetActionResultRequest(action_digest=action)))
    assert code == grpc.StatusCode.NOT_FOUND
    cache.upload(b"lost output")
    assert cache.ac.GetActionResult(re_pb2.GetActionResultRequest(action_digest=action))


def test_action_result_with_a_missing_file_inside_an_output_tree_is_not_found(
    cache: Client,
) -> None:
    tree = re_pb2.Tree(root=_directory({"in-tree": b"tree file"}, {}))
    cache.upload(tree.SerializeToString())
    action = pdigest(b"action 3")
    result = re_pb2.ActionResult(output_directories=[
        re_pb2.OutputDirectory(path="out", tree_digest=pdigest(tree.SerializeToString()))])
    cache.ac.UpdateActionResult(
        re_pb2.UpdateActionResultRequest(action_digest=action, action_result=result))
    code, _ = code_of(lambda: cache.ac.GetActionResult(
        re_pb2.GetActionResultRequest(action_digest=action)))
    assert code == grpc.StatusCode.NOT_FOUND
    cache.upload(b"tree file")
    assert cache.ac.GetActionResult(re_pb2.GetActionResultRequest(action_digest=action))


def test_action_result_whose_blobs_were_evicted_is_not_found(tmp_path: Path) -> None:
    with running(tmp_path, max_size=3 * MIB, max_blob_size=MIB) as (_server, port), \
            client(port) as c:
        action = pdigest(b"evicted action")
        c.write(b"o" * MIB)
        result = re_pb2.ActionResult(output_files=[
            re_pb2.OutputFile(path="big", digest=pdigest(b"o" * MIB))])
        c.ac.UpdateActionResult(
            re_pb2.UpdateActionResultRequest(action_digest=action, action_result=result))
        assert c.ac.GetActionResult(re_pb2.GetActionResultRequest(action_digest=action))
        for i in range(4):  # Push the output out of the LRU.
            c.write(bytes([i]) * MIB)
        code, _ = code_of(lambda: c.ac.GetActionResult(
            re_pb2.GetActionResultRequest(action_digest=action)))
        assert code == grpc.StatusCode.NOT_FOUND


def test_a_stored_result_that_does_not_parse_is_not_found(tmp_path: Path) -> None:
    with running(tmp_path) as (server, port), client(port) as c:
        action = pdigest(b"damaged action")
        server._store("").put_action_result(digest_of(b"damaged action"), b"\xff\xff junk")
        code, _ = code_of(lambda: c.ac.GetActionResult(
            re_pb2.GetActionResultRequest(action_digest=action)))
        assert code == grpc.StatusCode.NOT_FOUND


def test_update_action_result_with_a_malformed_output_digest_is_invalid(cache: Client) -> None:
    result = re_pb2.ActionResult(output_files=[
        re_pb2.OutputFile(path="x", digest=re_pb2.Digest(hash="nothex", size_bytes=1))])
    code, _ = code_of(lambda: cache.ac.UpdateActionResult(re_pb2.UpdateActionResultRequest(
        action_digest=pdigest(b"a"), action_result=result)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


# --- Health -------------------------------------------------------------------------


def test_health_service_reports_serving(cache: Client) -> None:
    stub = health_pb2_grpc.HealthStub(cache.channel)
    for service in ["", "build.bazel.remote.execution.v2.ContentAddressableStorage"]:
        response = stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_read_response_framing_is_what_protobuf_serializes() -> None:
    for size in (1, 127, 128, 16383, 16384, MIB, 3 * MIB + 5):
        data = bytes(range(256)) * (size // 256) + b"\x00" * (size % 256)
        assert read_response(data) == bs_pb2.ReadResponse(data=data).SerializeToString()
    # Protobuf leaves an empty field out; the explicit form still parses the same.
    assert bs_pb2.ReadResponse.FromString(read_response(b"")) == bs_pb2.ReadResponse()


def test_a_chunk_read_into_its_frame_is_what_protobuf_serializes(tmp_path: Path) -> None:
    data = bytes(range(256)) * (5 * MIB // 256) + b"tail"
    path = tmp_path / "blob"
    path.write_bytes(data)
    with open(path, "rb") as file:
        at = 0
        for size in (1, 127, 128, 16383, 16384, MIB, 3 * MIB):
            frame, got = read_response_from(file, size)
            assert got == size
            assert frame == bs_pb2.ReadResponse(data=data[at : at + size]).SerializeToString()
            at += size
        # The file ends before the chunk asked for: the bytes there are, framed as such.
        rest = len(data) - at
        frame, got = read_response_from(file, MIB)
        assert got == rest
        assert frame == bs_pb2.ReadResponse(data=data[at:]).SerializeToString()
        assert read_response_from(file, MIB) == (b"", 0)


def test_chunks_are_read_into_the_bytes_that_are_sent() -> None:
    # The path without a copy is taken on CPython: a new bytes object filled in place.
    frame, view = unfilled_bytes(11)
    assert view is not None
    view[:] = b"filled here"
    del view
    assert frame == b"filled here"
    assert hash(frame) == hash(b"filled here")


def _protobuf_batch_response(entries: list[BatchEntry]) -> bytes:
    response = re_pb2.BatchReadBlobsResponse()
    for entry in entries:
        out = response.responses.add()
        out.digest.hash, out.digest.size_bytes = entry.hash, entry.size
        if entry.data is None:
            out.status.code, out.status.message = entry.code, entry.message
        else:
            out.data = entry.data
            out.status.SetInParent()
    return response.SerializeToString()


_hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
_batch_entry = st.one_of(
    st.builds(lambda h, data: BatchEntry(h, len(data), data), _hex64, st.binary(max_size=20000)),
    st.builds(
        lambda h, size, message: BatchEntry(h, size, None, 5, message),
        st.one_of(_hex64, st.text(max_size=80)),
        st.integers(0, 2**62),
        st.text(max_size=300),
    ),
)


@given(entries=st.lists(_batch_entry, max_size=12))
def test_batch_read_response_encoding_is_what_protobuf_serializes(
    entries: list[BatchEntry],
) -> None:
    assert batch_read_response(entries) == _protobuf_batch_response(entries)


@given(blobs=st.lists(st.tuples(_hex64, st.binary(max_size=20000)), max_size=12))
def test_an_all_found_batch_encodes_as_the_general_batch_response(
    blobs: list[tuple[str, bytes]],
) -> None:
    entries = [BatchEntry(h, len(data), data) for h, data in blobs]
    found = found_blobs_response([h for h, _data in blobs], [data for _h, data in blobs])
    assert found == batch_read_response(entries) == _protobuf_batch_response(entries)


def test_batch_read_response_encoding_at_varint_boundaries() -> None:
    sizes = (0, 1, 60, 61, 62, 127, 128, 16_300, 16_383, 16_384, 70_000, 2 * MIB + 1)
    entries = [BatchEntry("a" * 64, n, bytes(n)) for n in sizes]
    assert batch_read_response(entries) == _protobuf_batch_response(entries)
    found = found_blobs_response(["a" * 64] * len(sizes), [bytes(n) for n in sizes])
    assert found == batch_read_response(entries)


@given(
    name=st.text(max_size=40),
    offset=st.integers(-(2**63), 2**63 - 1),
    finish=st.booleans(),
    data=st.binary(max_size=3000),
)
def test_write_request_parsing_agrees_with_protobuf(
    name: str, offset: int, finish: bool, data: bytes
) -> None:
    message = bs_pb2.WriteRequest(
        resource_name=name, write_offset=offset, finish_write=finish, data=data
    )
    parsed = write_request(message.SerializeToString())
    fields = (parsed.resource_name, parsed.write_offset, parsed.finish_write)
    assert fields == (name, offset, finish)
    assert bytes(parsed.data) == data


@given(
    name=st.text(max_size=40),
    offset=st.integers(0, 2**63 - 1),
    finish=st.booleans(),
    data=st.binary(max_size=3000),
)
def test_write_request_encoding_is_what_protobuf_serializes(
    name: str, offset: int, finish: bool, data: bytes
) -> None:
    expected = bs_pb2.WriteRequest(
        resource_name=name, write_offset=offset, finish_write=finish, data=data
    ).SerializeToString()
    assert encode_write_request(name, offset, data, finish_write=finish) == expected


def test_write_request_parsing_skips_unknown_fields_and_refuses_garbage() -> None:
    known = bs_pb2.WriteRequest(resource_name="r", data=b"abc").SerializeToString()
    unknown = b"\x20\x05" + b"\x29" + b"\x00" * 8 + b"\x3a\x02hi" + b"\x45" + b"\x00" * 4
    assert bytes(write_request(unknown + known).data) == b"abc"
    for garbage in (b"\x52\x05ab", b"\x0a", b"\x0b\x00", b"\x52" + b"\xff" * 11, b"\x0a\x01\xff"):
        with pytest.raises(ValueError):
            write_request(garbage)


def test_a_malformed_write_request_is_invalid_argument(cache: Client) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        cache.channel.stream_unary("/google.bytestream.ByteStream/Write")(iter([b"\x52\x05ab"]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed WriteRequest" in (caught.value.details() or "")


def test_a_remembered_result_is_not_served_after_an_update_replaces_it(cache: Client) -> None:
    action = pdigest(b"replaced action")
    first, second = _result_for(cache, b"first output"), _result_for(cache, b"second output")
    for result in (first, second):
        cache.ac.UpdateActionResult(
            re_pb2.UpdateActionResultRequest(action_digest=action, action_result=result))
        got = cache.ac.GetActionResult(re_pb2.GetActionResultRequest(action_digest=action))
        assert got == result
