"""Remote-cache benchmark: graphkit cache serve vs BuildGrid vs a bare grpcio server.

Usage::

    python bench/cache_bench.py                  # 1 and 4 client processes, all servers
    python bench/cache_bench.py --rounds 3       # as recorded in RESULTS.md
    python bench/cache_bench.py --clients 1 --skip-buildgrid
    python bench/cache_bench.py --workloads BatchReadBlobs "ByteStream Read" --skip-bare
    python bench/cache_bench.py --backend --json r1.json   # one round per invocation, then
    python bench/cache_bench.py --combine r1.json r2.json r3.json   # medians and ratios
    python bench/cache_bench.py --client native ...  # reads from bench/native's C++ client
    python bench/cache_bench.py --backend --interleave 16 --clients 4 ...  # A/B, see below

Every workload runs in N client *processes* (not threads: one Python process cannot
saturate a server), started together on a barrier; throughput is total work divided
by the slowest client's wall time. Workloads (from issue 4):

- FindMissingBlobs / BatchUpdateBlobs / BatchReadBlobs of 2,000 x 1 KiB blobs
  (``--batch-blobs``; blobs/s and MB/s), repeated ``--batches`` times per client;
- ByteStream Write and Read of 4 x 64 MiB blobs in 1 MiB chunks (MB/s);
- UpdateActionResult and GetActionResult (calls/s);
- the bare ceiling: a no-op unary call (calls/s), a client->server stream of 1 MiB
  chunks into a server that drops them (MB/s), the same stream into a server that
  only hashes it (SHA-256) and writes it to a file, on helper threads (MB/s): the
  least any disk-backed cache does with an upload; and 4 x 64 MiB read from a server
  that sends one ready-framed 1 MiB ReadResponse over and over (MB/s): the most any
  Python gRPC server can send to these clients.

``--client native`` runs the timed read phases (BatchReadBlobs, ByteStream Read and the
bare read stream) in a C++ client instead (``bench/native``, built by
``bench/native/build.sh``): the same requests and checks, started on the same barrier
by each client process, which still makes the uploads. Real REAPI clients are not
Python, and the Python clients' own CPU per MiB bounds the read figures before the
servers do.

Each phase also records CPU time: the server's (from /proc) and the clients', per MiB
or per 1,000 blobs. On a machine shared with other work these hold better than wall
times, and they say whether the server or the clients are the bottleneck.

Every phase starts with the machine's dirty pages written out (``os.sync``), so no
phase pays for the disk writeback of the ones before it. ``--workloads`` times only
the named phases; the uploads a timed read needs still run first, untimed.

``--interleave N`` runs graphkit and BuildGrid at once and times each phase N times on
each, alternating in ABBA order, with both servers idle before every phase; it judges
the graphkit / BuildGrid ratio of ABBA quads against the goals with a 95% interval of
their median. ``--backend --interleave N`` does the same for the local-only server and
a warm front, judging warm / local against 0.9 (bench/RESULTS.md, "Replicas,
interleaved A/B").

BuildGrid (PyPI ``buildgrid`` 0.4.x) runs from its own virtualenv (``--buildgrid-venv``,
default ``bench/.work/bgvenv``) as a cache-only server with disk storage. All servers
listen on 127.0.0.1 only; data lives under ``bench/.work``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import multiprocessing as mp
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
sys.path.insert(0, str(ROOT))

from machine import cpu_model  # noqa: E402  (bench/machine.py, beside this script)
from replicas import BUILDGRID_S3_CONFIG, BUILDGRID_SERVICES, Moto, queue_drained, start_moto  # noqa: E402

from graphkit.cache.protocol import bs_grpc, bs_pb2, re_grpc, re_pb2  # noqa: E402
from graphkit.cache.wire import encode_write_request  # noqa: E402

KIB, MIB = 1024, 1024 * 1024
SMALL_COUNT = 2000
LARGE_COUNT, LARGE_SIZE, CHUNK = 4, 64 * MIB, MIB
AC_CALLS = 2000
BARE_CALLS = 4000
BARE_STREAM_BYTES = 512 * MIB
NATIVE_SOURCES = ROOT / "bench" / "native"
NATIVE = WORK / "native" / "reapi_read"
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 64 * MIB),
                   ("grpc.max_send_message_length", 64 * MIB)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            grpc.channel_ready_future(channel).result(timeout=1)
            channel.close()
            return
        except grpc.FutureTimeoutError:
            continue
    raise RuntimeError("server did not start listening")


# --- servers --------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    instance: str
    process: subprocess.Popen[bytes]
    # Where read phases go, when not to ``port`` (a second replica: a cold front).
    read_port: int | None = None
    # A replica's cache directory: each phase starts once its upload queue is empty.
    settle: Path | None = None
    helpers: tuple[Server, ...] = ()

    def stop(self) -> None:
        for server in (self, *self.helpers):
            server.process.terminate()
            try:
                server.process.wait(30)
            except subprocess.TimeoutExpired:
                server.process.kill()


def start_graphkit(data: Path, root: Path = ROOT, extra: tuple[str, ...] = (),
                   env: dict[str, str] | None = None, directory: str = "graphkit",
                   name: str = "graphkit (disk)") -> Server:
    """``graphkit cache serve`` from the source tree at ``root`` (this one by default)."""
    port = free_port()
    cmd = [sys.executable, "-m", "graphkit", "cache", "serve", "--listen", f"127.0.0.1:{port}",
           "--dir", str(data / directory), "--max-size", "20GiB", *extra]
    process = subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL,
                               env={**os.environ, **(env or {}), "PYTHONPATH": str(root)})
    wait_listening(port, process)
    where = "" if root == ROOT else f" from {root}"
    return Server(f"{name}{where}", port, "", process)


def start_replica(data: Path, moto: Moto, cold: bool) -> Server:
    """graphkit with ``--backend`` on moto; ``cold``: reads go to a second replica whose
    front is empty, so every read goes through the bucket once."""
    bucket = f"graphkit-{uuid.uuid4().hex[:12]}"
    moto.create_bucket(bucket)
    extra = ("--backend", f"s3://{bucket}/cache")
    writer = start_graphkit(data, extra=extra, env=moto.environment, directory="replica-1",
                            name="graphkit replica (warm front)")
    writer.settle = data / "replica-1"
    if not cold:
        return writer
    reader = start_graphkit(data, extra=extra, env=moto.environment, directory="replica-2",
                            name="graphkit replica (cold front)")
    writer.name, writer.read_port, writer.helpers = reader.name, reader.port, (reader,)
    return writer


BUILDGRID_CONFIG = """\
server:
  - !channel
    address: "127.0.0.1:{port}"
    insecure-mode: true

description: cache-only BuildGrid with disk storage, for graphkit's benchmark

storages:
  - !disk-storage &cas-storage
    path: {path}

caches:
  - !lru-action-cache &build-cache
    storage: *cas-storage
    max-cached-refs: 1000000
    allow-updates: true
    cache-failed-actions: true

""" + BUILDGRID_SERVICES


def with_moto(data: Path, start: Callable[..., Server], *args: Any) -> Server:
    """``start(data, moto, *args)`` with a moto server of its own, stopped with it."""
    moto = start_moto(data / "moto.log")
    try:
        server = start(data, moto, *args)
    except BaseException:
        moto.stop()
        raise
    server.helpers = (*server.helpers, Server("moto", moto.port, "", moto.process))
    return server


def start_buildgrid(data: Path, venv: Path, moto: Moto | None = None) -> Server:
    """BuildGrid with disk storage, or with S3 storage on ``moto``."""
    bgd = venv / "bin" / "bgd"
    if not bgd.exists():
        raise RuntimeError(f"{bgd} not found (pip install 'buildgrid==0.4.*' into {venv})")
    port = free_port()
    config = data / "buildgrid.yml"
    env = dict(os.environ)
    if moto is None:
        config.write_text(BUILDGRID_CONFIG.format(port=port, path=data / "buildgrid-cas"))
    else:
        suffix = uuid.uuid4().hex[:12]
        cas_bucket, ac_bucket = f"bgd-cas-{suffix}", f"bgd-ac-{suffix}"
        moto.create_bucket(cas_bucket)
        moto.create_bucket(ac_bucket)
        config.write_text(BUILDGRID_S3_CONFIG.format(
            port=port, endpoint=moto.endpoint, cas_bucket=cas_bucket, ac_bucket=ac_bucket))
        env.update(moto.environment)
    log = open(data / "buildgrid.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([str(bgd), "server", "start", str(config)], stdout=log,
                               stderr=subprocess.STDOUT, env=env)
    wait_listening(port, process)
    return Server(f"BuildGrid 0.4 ({'disk' if moto is None else 'S3'})", port, "", process)


BARE_SERVER = r"""
import hashlib, os, queue, sys, tempfile, threading
from concurrent.futures import ThreadPoolExecutor
import grpc

def unary(request, context):
    return b""

def stream(requests, context):
    for _ in requests:
        pass
    return b""

def stored_stream(requests, context):
    # The least any disk-backed cache must do with an upload: SHA-256 and a file
    # write, each on its own thread so both overlap with receiving (as graphkit does).
    digest, to_hash, to_write = hashlib.sha256(), queue.Queue(1), queue.Queue(1)
    fd, path = tempfile.mkstemp(dir=sys.argv[2])
    def hasher():
        while (chunk := to_hash.get()) is not None:
            digest.update(chunk)
            to_write.put(chunk)
        to_write.put(None)
    def writer():
        while (chunk := to_write.get()) is not None:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
    helpers = [threading.Thread(target=hasher), threading.Thread(target=writer)]
    for helper in helpers:
        helper.start()
    for chunk in requests:
        to_hash.put(chunk)
    to_hash.put(None)
    for helper in helpers:
        helper.join()
    os.close(fd)
    return digest.digest()

# The least any server sends for a 64 MiB ByteStream Read: the same ready-framed
# 1 MiB ReadResponse, 64 times; nothing read, nothing hashed.
CHUNK = 1 << 20
FRAMED = b"\x52\x80\x80\x40" + os.urandom(CHUNK)

def read_stream(request, context):
    for _ in range(64):
        yield FRAMED

handlers = grpc.method_handlers_generic_handler("bare.Bare", {
    "ReadStream": grpc.unary_stream_rpc_method_handler(read_stream),
    "Unary": grpc.unary_unary_rpc_method_handler(unary),
    "Stream": grpc.stream_unary_rpc_method_handler(stream),
    "StoredStream": grpc.stream_unary_rpc_method_handler(stored_stream),
})
server = grpc.server(ThreadPoolExecutor(32), handlers=[handlers],
                     options=[("grpc.max_receive_message_length", 64 << 20)])
server.add_insecure_port("127.0.0.1:" + sys.argv[1])
server.start()
server.wait_for_termination()
"""


def start_bare(data: Path) -> Server:
    port = free_port()
    stored = data / "bare-stored"
    stored.mkdir()
    process = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port), str(stored)])
    wait_listening(port, process)
    return Server("bare grpcio", port, "", process)


# --- client workloads (run in child processes) ----------------------------------------


def blob(client: int, i: int, size: int = KIB) -> bytes:
    seed = f"{client}-{i}-{uuid.uuid4()}".encode()
    return (hashlib.sha256(seed).digest() * (size // 32 + 1))[:size]


def digest(data: bytes) -> Any:
    return re_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


# A server writes the uses its reads recorded once a second (graphkit/cache/store/local.py),
# and its stats every 30 s: work a phase leaves behind for up to a second after it ends.
QUIET_AFTER_SECONDS = 1.05
QUIET_WINDOW_SECONDS = 0.2
QUIET_LONGEST_SECONDS = 10.0


def quiesce(pids: tuple[int, ...]) -> None:
    """Wait until the processes ``pids`` have done the work the last phase left them:
    ``QUIET_AFTER_SECONDS``, then until they use at most one clock tick of CPU between
    them in ``QUIET_WINDOW_SECONDS`` (``QUIET_LONGEST_SECONDS`` at most)."""
    time.sleep(QUIET_AFTER_SECONDS)
    tick = 1 / os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + QUIET_LONGEST_SECONDS
    while time.monotonic() < deadline:
        before = sum(process_cpu(pid) for pid in pids)
        time.sleep(QUIET_WINDOW_SECONDS)
        if sum(process_cpu(pid) for pid in pids) - before <= tick:
            return


def start_together(barrier: Any, client: int, settle: str | None = None,
                   quiet: tuple[int, ...] = ()) -> float:
    """Start a timed phase in every client at once, with no disk writeback pending.

    The kernel writes dirty pages back on its own schedule (after ~30 s), so without
    the sync a phase would pay, in shared CPU, for the writes of the phases before it:
    the bare no-op unary call runs first on a quiet machine, GetActionResult last
    after a GiB of uploads. With ``settle`` (a replica's directory), the phase also
    waits until the replica has uploaded everything queued, for the same reason, and
    the seconds that took are returned. With ``quiet``, it then waits until those
    processes are idle (``quiesce``).
    """
    waited = 0.0
    if client == 0:
        if settle is not None:
            started = time.perf_counter()
            while not queue_drained(Path(settle)):
                time.sleep(0.01)
            waited = time.perf_counter() - started
        if quiet:
            quiesce(quiet)
        os.sync()
    barrier.wait()
    return waited


def timed_phase(out: dict[str, tuple[float, ...]], name: str,
                func: Callable[[], tuple[int, int]] | NativeReads, barrier: Any, client: int,
                server_pid: int, settle: str | None = None,
                watch: tuple[int, ...] = ()) -> float:
    """Run ``func`` in every client at once; record (seconds, items, bytes, CPU).

    CPU seconds hold better than wall time on a loaded machine: they say what each
    side spent, whoever else ran. The server's are read by client 0 once every client
    is done (the second barrier), so they cover the whole phase. A native client's
    phase is timed by the native client itself; its CPU is added to this process's.
    The phase starts once the processes ``watch`` are idle (``quiesce``), and the
    CPU seconds they used during it (client 0 reads them; 0 in the others) follow:
    what servers not under test did meanwhile.
    """
    waited = start_together(barrier, client, settle, watch)
    watched = [process_cpu(pid) if client == 0 else 0.0 for pid in watch]
    server_cpu, own_cpu = process_cpu(server_pid), time.process_time()
    start = time.perf_counter()
    if isinstance(func, NativeReads):
        items, nbytes, seconds, native_cpu = func.run()
    else:
        items, nbytes = func()
        seconds, native_cpu = time.perf_counter() - start, 0.0
    own_cpu = time.process_time() - own_cpu + native_cpu
    barrier.wait()
    server_cpu = process_cpu(server_pid) - server_cpu if client == 0 else 0.0
    watched = [process_cpu(pid) - cpu if client == 0 else 0.0
               for pid, cpu in zip(watch, watched, strict=True)]
    out[name] = (seconds, items, nbytes, server_cpu, own_cpu, *watched)
    return waited


# The bare phases each cache workload is compared with (when --workloads names some).
BARE_FOR = {
    "GetActionResult": ("no-op unary",),
    "ByteStream Write": ("1 MiB-chunk stream", "... + SHA-256 + file"),
    "ByteStream Read": ("1 MiB-chunk stream", "1 MiB-chunk read stream"),
}
# Phases whose CPU is counted per blob (not per MiB): 1 KiB blobs in batches.
SMALL_BLOB_PHASES = frozenset({"BatchUpdateBlobs", "FindMissingBlobs", "BatchReadBlobs"})
# The phase that stores what a read phase reads.
NEEDS = {"BatchReadBlobs": "BatchUpdateBlobs", "FindMissingBlobs": "BatchUpdateBlobs",
         "ByteStream Read": "ByteStream Write", "GetActionResult": "UpdateActionResult"}


class NativeReads:
    """One timed read phase run by the C++ client (``bench/native/reapi_read.cc``).

    Started, connected, and its requests built before the phase's barrier, as the
    Python client's are; ``run`` starts it and returns (items, bytes, seconds, CPU
    seconds) over the reads alone, as the native client measured them.
    """

    def __init__(self, port: int, instance: str, mode: str, spec: str) -> None:
        self.process = subprocess.Popen(
            [str(NATIVE), f"127.0.0.1:{port}", instance, mode, spec],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        if self.stdout.readline() != b"ready\n":
            raise RuntimeError(f"{NATIVE} {mode} did not start (exit {self.process.wait()})")

    def run(self) -> tuple[int, int, float, float]:
        self.stdin.write(b"go\n")
        self.stdin.flush()
        line = self.stdout.readline()
        if self.process.wait() != 0 or not line:
            raise RuntimeError(f"{NATIVE} failed (exit {self.process.returncode})")
        seconds, items, nbytes, cpu = line.split()
        return int(items), int(nbytes), float(seconds), float(cpu)


def native_spec(prefix: str, write: Callable[[Any], None]) -> str:
    """A spec file for the native client under bench/.work (removed with the phase)."""
    with tempfile.NamedTemporaryFile("wb", dir=WORK, prefix=prefix, delete=False) as f:
        write(f)
    return f.name


def native_ready() -> str | None:
    """Why ``--client native`` cannot run, or None: the binary exists and is current.

    Current by content, not by time: a checkout or a rebase gives the sources new
    modification times without changing them.
    """
    stamp = NATIVE.with_name("reapi_read.sources")
    if not NATIVE.exists() or not stamp.exists():
        return f"{NATIVE} not found: run bench/native/build.sh"
    sources = hashlib.sha256()
    for path in sorted(p for p in NATIVE_SOURCES.iterdir() if p.is_file()):
        sources.update(path.read_bytes())
    if stamp.read_text().strip() != sources.hexdigest():
        return f"{NATIVE} was built from other sources than {NATIVE_SOURCES}: run its build.sh"
    return None


def gather(procs: list[Any], results: Any, timeout: float) -> list[Any]:
    """Start the client processes; what each put on ``results``, once all are done."""
    for p in procs:
        p.start()
    outs = [results.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join()
    return outs


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc; 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sizes:
    """How much one client writes and reads in each phase."""

    batches: int = 5
    batch_blobs: int = SMALL_COUNT
    large_count: int = LARGE_COUNT
    action_calls: int = AC_CALLS
    read_passes: int = 1
    # ByteStream Read's passes (read_passes when None): 64 MiB blobs take longer to read
    # than a batch, so the two kinds of read phase need different counts to last alike.
    stream_passes: int | None = None


class CacheCalls:
    """One client's REAPI workload against one server: what it writes, and the calls
    that write and read it (issue 4's phases).

    ``prepare`` makes what the named phases need (random blobs, encoded requests)
    before their clock starts; each instance writes blobs and results of its own.
    """

    def __init__(self, channel: grpc.Channel, reads: grpc.Channel, read_port: int,
                 instance: str, client: int, sizes: Sizes) -> None:
        self.instance, self.client, self.sizes, self.read_port = instance, client, sizes, read_port
        self.cas = re_grpc.ContentAddressableStorageStub(channel)
        self.read_cas = re_grpc.ContentAddressableStorageStub(reads)
        self.bs = bs_grpc.ByteStreamStub(reads)
        self.write = channel.stream_unary(
            "/google.bytestream.ByteStream/Write", request_serializer=None,
            response_deserializer=bs_pb2.WriteResponse.FromString)
        # Requests are encoded before the clock starts, as the bare unary client sends
        # ready-made bytes: protobuf work in the client shares the CPUs with the server.
        self.update_action = channel.unary_unary(
            "/build.bazel.remote.execution.v2.ActionCache/UpdateActionResult")
        self.get_action = reads.unary_unary(
            "/build.bazel.remote.execution.v2.ActionCache/GetActionResult")
        self.prefix = f"{instance}/" if instance else ""
        self.small: list[list[bytes]] = []
        self.digests: list[list[Any]] = []
        self.large: list[bytes] = []
        self.large_digests: list[Any] = []
        self.uploads: list[list[bytes]] = []
        self.updates: list[bytes] = []
        self.gets: list[bytes] = []
        self.expected = b""
        self.result: Any = None
        # The blob an action result names as its output (the first small blob, unless
        # set before ``prepare``): the server serves a result only if it has its blobs.
        self.output: bytes | None = None

    def prepare(self, names: frozenset[str]) -> None:
        sizes, client = self.sizes, self.client
        if names & {"BatchUpdateBlobs", "FindMissingBlobs", "BatchReadBlobs"} and not self.small:
            count = sizes.batch_blobs
            self.small = [[blob(client, b * count + i) for i in range(count)]
                          for b in range(sizes.batches)]
            self.digests = [[digest(b) for b in batch] for batch in self.small]
        if names & {"ByteStream Write", "ByteStream Read"} and not self.large_digests:
            self.large = [blob(client, 10**6 + i, LARGE_SIZE) for i in range(sizes.large_count)]
            # Hashed before the clock starts, like the small blobs: the client shares the
            # CPUs with the server, and the bare stream's client hashes nothing.
            self.large_digests = [digest(data) for data in self.large]
            self.uploads = [self.write_requests(data, d)
                            for data, d in zip(self.large, self.large_digests, strict=True)]
        if names & {"UpdateActionResult", "GetActionResult"} and not self.updates:
            if self.output is None:
                self.prepare(frozenset({"BatchUpdateBlobs"}))
                self.output = self.small[0][0]
            actions = [digest(f"action {client} {i} {uuid.uuid4()}".encode())
                       for i in range(sizes.action_calls)]
            self.result = re_pb2.ActionResult(output_files=[
                re_pb2.OutputFile(path="out/file", digest=digest(self.output))], exit_code=0)
            self.updates = [re_pb2.UpdateActionResultRequest(
                instance_name=self.instance, action_digest=a,
                action_result=self.result).SerializeToString() for a in actions]
            self.gets = [re_pb2.GetActionResultRequest(
                instance_name=self.instance, action_digest=a).SerializeToString()
                for a in actions]
            self.expected = self.result.SerializeToString(deterministic=True)

    def release(self) -> None:
        """Drop the large blobs' bytes (what reads them needs only their digests)."""
        self.large, self.uploads = [], []

    def phase(self, name: str, native: bool) -> Callable[[], tuple[int, int]] | NativeReads:
        """What runs in phase ``name``: a Python function, or a started native client."""
        if native and name == "BatchReadBlobs":
            return self.native_read()
        if native and name == "ByteStream Read":
            return self.native_read_large()
        return {"BatchUpdateBlobs": self.update, "FindMissingBlobs": self.find,
                "BatchReadBlobs": self.read, "ByteStream Write": self.write_large,
                "ByteStream Read": self.read_large, "UpdateActionResult": self.update_ac,
                "GetActionResult": self.get_ac}[name]

    def update(self) -> tuple[int, int]:
        for batch, ds in zip(self.small, self.digests, strict=True):
            response = self.cas.BatchUpdateBlobs(re_pb2.BatchUpdateBlobsRequest(
                instance_name=self.instance, requests=[
                    re_pb2.BatchUpdateBlobsRequest.Request(digest=d, data=b)
                    for d, b in zip(ds, batch, strict=True)]))
            assert all(r.status.code == 0 for r in response.responses)
        count = self.sizes.batches * self.sizes.batch_blobs
        return count, count * KIB

    # The read phases go over what was written ``read_passes`` times: a read phase is
    # much faster than the writes before it, and without more passes it would last a
    # tenth of a second, too short to time on a shared machine.
    def find(self) -> tuple[int, int]:
        passes = self.sizes.read_passes
        for ds in self.digests * passes:
            response = self.read_cas.FindMissingBlobs(re_pb2.FindMissingBlobsRequest(
                instance_name=self.instance, blob_digests=ds))
            assert not response.missing_blob_digests
        count = passes * self.sizes.batches * self.sizes.batch_blobs
        return count, count * KIB

    def read(self) -> tuple[int, int]:
        passes = self.sizes.read_passes
        for batch, ds in zip(self.small * passes, self.digests * passes, strict=True):
            response = self.read_cas.BatchReadBlobs(re_pb2.BatchReadBlobsRequest(
                instance_name=self.instance, digests=ds))
            assert [r.data for r in response.responses] == batch
        count = passes * self.sizes.batches * self.sizes.batch_blobs
        return count, count * KIB

    def native_read(self) -> NativeReads:
        passes = self.sizes.read_passes

        def write(f: Any) -> None:
            # Each pass is written out again: the native client reads its batches once.
            f.write(f"{passes * self.sizes.batches} {self.sizes.batch_blobs}\n".encode())
            for batch, ds in zip(self.small * passes, self.digests * passes, strict=True):
                for data, d in zip(batch, ds, strict=True):
                    f.write(f"{d.hash} {d.size_bytes}\n".encode())
                    f.write(data)
        return NativeReads(self.read_port, self.instance, "batch", native_spec("batch-", write))

    def write_requests(self, data: bytes, d: Any) -> list[bytes]:
        # Encoded as graphkit's own client does (one copy per chunk), and before the
        # clock starts: the bare stream's client sends ready-made chunks, so encoding
        # work on the CPUs the client shares with the server would count against it.
        name = f"{self.prefix}uploads/{uuid.uuid4()}/blobs/{d.hash}/{d.size_bytes}"
        view = memoryview(data)
        return [encode_write_request(name if off == 0 else "", off, view[off : off + CHUNK],
                                     finish_write=off + CHUNK >= len(data))
                for off in range(0, len(data), CHUNK)]

    def write_large(self) -> tuple[int, int]:
        for data, requests in zip(self.large, self.uploads, strict=True):
            assert self.write(iter(requests)).committed_size == len(data)
        return self.sizes.large_count, self.sizes.large_count * LARGE_SIZE

    @property
    def stream_passes(self) -> int:
        return self.sizes.stream_passes or self.sizes.read_passes

    def read_large(self) -> tuple[int, int]:
        total = 0
        for d in self.large_digests * self.stream_passes:
            for response in self.bs.Read(bs_pb2.ReadRequest(
                    resource_name=f"{self.prefix}blobs/{d.hash}/{d.size_bytes}")):
                total += len(response.data)
        assert total == self.stream_passes * self.sizes.large_count * LARGE_SIZE
        return self.stream_passes * self.sizes.large_count, total

    def native_read_large(self) -> NativeReads:
        def write(f: Any) -> None:
            for d in self.large_digests * self.stream_passes:
                f.write(f"{self.prefix}blobs/{d.hash}/{d.size_bytes} {d.size_bytes}\n".encode())
        return NativeReads(self.read_port, self.instance, "bytestream",
                           native_spec("bytestream-", write))

    def same_result(self, answer: bytes) -> bool:
        return answer == self.expected or re_pb2.ActionResult.FromString(answer) == self.result

    def update_ac(self) -> tuple[int, int]:
        for request in self.updates:
            self.update_action(request)
        return self.sizes.action_calls, 0

    def get_ac(self) -> tuple[int, int]:
        for request in self.gets * self.sizes.read_passes:
            assert self.same_result(self.get_action(request))
        return self.sizes.read_passes * self.sizes.action_calls, 0


PHASES = ("BatchUpdateBlobs", "FindMissingBlobs", "BatchReadBlobs", "ByteStream Write",
          "ByteStream Read", "UpdateActionResult", "GetActionResult")


def run_cache_client(port: int, instance: str, client: int, sizes: Sizes, barrier: Any,
                     results: Any, workloads: frozenset[str] | None = None,
                     server_pid: int = 0, read_port: int | None = None,
                     settle: str | None = None, read_pid: int = 0, *,
                     native: bool = False) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS)
    reads = channel
    if read_port is not None:
        reads = grpc.insecure_channel(f"127.0.0.1:{read_port}", options=CHANNEL_OPTIONS)
    calls = CacheCalls(channel, reads, read_port or port, instance, client, sizes)
    calls.prepare(frozenset(PHASES))
    # name -> (seconds, items, bytes[, server CPU seconds, this client's CPU seconds])
    out: dict[str, tuple[float, ...]] = {}
    last_write: list[tuple[str, int, int]] = []

    for name in PHASES:
        if workloads is not None and name not in workloads:
            if any(NEEDS.get(w) == name for w in workloads):
                phase = calls.phase(name, native=False)
                assert not isinstance(phase, NativeReads)
                phase()  # Untimed: it stores what a timed phase reads.
                last_write[:] = []
            continue
        # A read phase through a second replica: that replica's CPU is the server's.
        pid = read_pid if read_pid and name in NEEDS else server_pid
        func = calls.phase(name, native)
        try:
            waited = timed_phase(out, name, func, barrier, client, pid, settle)
        finally:
            if isinstance(func, NativeReads):
                Path(func.process.args[-1]).unlink(missing_ok=True)
        if last_write and settle is not None and client == 0:
            # How long the replica took to put the last write phase into the bucket.
            written, items, nbytes = last_write.pop()
            out[f"{written} -> bucket"] = (waited, items, nbytes)
        if name not in NEEDS:
            last_write[:] = [(name, int(out[name][1]), int(out[name][2]))]
    channel.close()
    reads.close()
    results.put(out)


def run_bare_client(port: int, instance: str, client: int, sizes: Sizes, barrier: Any,
                    results: Any, workloads: frozenset[str] | None = None,
                    server_pid: int = 0, *_unused: object, native: bool = False) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS)
    unary = channel.unary_unary("/bare.Bare/Unary")
    stream = channel.stream_unary("/bare.Bare/Stream")
    stored = channel.stream_unary("/bare.Bare/StoredStream")
    # Parsed as the ByteStream Read client parses its responses.
    read = channel.unary_stream("/bare.Bare/ReadStream",
                                response_deserializer=bs_pb2.ReadResponse.FromString)
    chunk = os.urandom(CHUNK)
    out: dict[str, tuple[float, ...]] = {}

    def calls() -> tuple[int, int]:
        for _ in range(BARE_CALLS):
            unary(b"")
        return BARE_CALLS, 0

    def upload(into: Callable[..., Any]) -> Callable[[], tuple[int, int]]:
        def run() -> tuple[int, int]:
            into(iter([chunk] * (BARE_STREAM_BYTES // CHUNK)))
            return 1, BARE_STREAM_BYTES
        return run

    def download() -> tuple[int, int]:
        total = 0
        for _ in range(LARGE_COUNT):
            for response in read(b""):
                total += len(response.data)
        return LARGE_COUNT, total

    phases = [("no-op unary", calls), ("1 MiB-chunk stream", upload(stream)),
              ("... + SHA-256 + file", upload(stored)), ("1 MiB-chunk read stream", download)]
    for name, func in phases:
        if workloads is None or any(name in BARE_FOR.get(w, ()) for w in workloads):
            if native and func is download:
                timed_phase(out, name, NativeReads(port, "", "bare", str(LARGE_COUNT)),
                            barrier, client, server_pid)
            else:
                timed_phase(out, name, func, barrier, client, server_pid)
    channel.close()
    results.put(out)


def measure(server: Server, clients: int, sizes: Sizes, target: Callable[..., None],
            workloads: frozenset[str] | None = None,
            native: bool = False) -> dict[str, dict[str, float]]:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(clients), ctx.Queue()
    settle = None if server.settle is None else str(server.settle)
    read_pid = next((h.process.pid for h in server.helpers if h.port == server.read_port), 0)
    procs = [ctx.Process(target=target, args=(server.port, server.instance, i, sizes,
                                              barrier, results, workloads,
                                              server.process.pid, server.read_port,
                                              settle, read_pid),
                         kwargs={"native": native})
             for i in range(clients)]
    return per_phase(gather(procs, results, 900))


def per_phase(outs: list[dict[str, tuple[float, ...]]]) -> dict[str, dict[str, float]]:
    """The clients' rows of each phase as one: all the work over the slowest client's
    time, and CPU per unit of work (per MiB, or per item: a 1 KiB blob, a call)."""
    table: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(n for o in outs for n in o):  # Client 0 may add a row.
        seconds = max(o[name][0] for o in outs if name in o)
        items = sum(o[name][1] for o in outs if name in o)
        nbytes = sum(o[name][2] for o in outs if name in o)
        if name.endswith(" -> bucket"):
            # Client 0 waited for every client's writes to reach the bucket.
            items, nbytes = items * len(outs), nbytes * len(outs)
        table[name] = {"per_s": items / seconds, "mb_per_s": nbytes / seconds / 1e6,
                       "seconds": seconds}
        rows = [o[name] for o in outs if name in o]
        if len(rows[0]) > 3:  # CPU per unit of work, server and clients apart.
            phase = name.partition("|")[0]  # An interleaved row is "phase|server|pair".
            unit = nbytes / MIB if nbytes and phase not in SMALL_BLOB_PHASES else items
            table[name]["server_cpu_ms"] = sum(r[3] for r in rows) / unit * 1000
            table[name]["client_cpu_ms"] = sum(r[4] for r in rows) / unit * 1000
            # What the watched processes used, as a share of one CPU over the phase.
            for i in range(5, len(rows[0])):
                table[name][f"watched_{i - 5}"] = sum(r[i] for r in rows) / seconds
    return table


# --- interleaved A/B: two servers at once, phase by phase (--interleave) ----------------
#
# Issue 16 item 6 asks whether a warm front stays within 10% of the local-only server,
# and issue 12 how graphkit reads against BuildGrid. Rounds that run every phase on one
# server, then on the other minutes later, do not resolve a 10% question on a 2-CPU VM
# whose speed drifts by more than that for seconds to minutes. Here both servers run at
# once, with the same data written to each, and every phase alternates between them in
# ABBA order (A B, B A, A B, ...), so a drift slower than one pair cancels out of the
# per-pair ratios and a faster one only widens their spread.


@dataclass(frozen=True)
class Comparison:
    """What an interleaved run compares: the server judged against the other one, and
    the ratio each phase must reach (None: shown, not judged)."""

    judged: str
    other: str
    title: str
    goals: dict[str, float]


COMPARISONS = {
    # --backend: a warm front within 10% of the local-only server. The action-cache
    # calls are not judged: a replica also PUTs each result to the bucket.
    "warm": Comparison("warm", "graphkit", "warm front / local-only", {
        name: 0.9 for name in ("BatchUpdateBlobs", "FindMissingBlobs", "BatchReadBlobs",
                               "ByteStream Write", "ByteStream Read")}),
    # Without it: graphkit against BuildGrid, with the goals the rounds judge (GOALS).
    "buildgrid": Comparison("graphkit", "buildgrid", "graphkit / BuildGrid", {
        "BatchUpdateBlobs": 3.0, "FindMissingBlobs": 3.0, "BatchReadBlobs": 3.0,
        "ByteStream Read": 1.5}),
}


def comparison_of(table: dict[str, dict[str, list[dict[str, float]]]]) -> Comparison:
    """The comparison an interleaved table holds, from its servers' names."""
    names = {key for by_server in table.values() for key in by_server}
    return next(c for key, c in COMPARISONS.items() if key in names)


def run_interleaved_client(targets: list[tuple[str, int, int]], client: int, sizes: Sizes,
                           barrier: Any, results: Any, workloads: frozenset[str] | None,
                           settle: str | None, watch: tuple[int, ...], pairs: int, *,
                           native: bool = False) -> None:
    """Every phase ``pairs`` times on each server (``targets``: name, port, pid), in ABBA
    order; the rows are named "phase|server|pair".

    A write phase writes new blobs (or results) each time: a server that has a blob does
    not store it again. A read phase reads what the server's first write of that kind
    stored. Before every timed phase a replica's upload queue is drained (``settle``)
    and dirty pages are written out, whichever server is timed: the idle server does
    nothing meanwhile, and ``watch`` (every server's and moto's pid) records that it
    did not.
    """
    channels = {key: grpc.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS)
                for key, port, _ in targets}
    timed = frozenset(PHASES if workloads is None else workloads)
    # The action result names a small blob, which the server must have to serve it.
    needed = timed | {NEEDS[n] for n in timed if n in NEEDS} | (
        {"BatchUpdateBlobs"} if timed & {"UpdateActionResult", "GetActionResult"} else set())
    out: dict[str, tuple[float, ...]] = {}
    stored: dict[tuple[str, str], CacheCalls] = {}  # (server, write phase) -> its first
    for name in (n for n in PHASES if n in needed):
        for pair in range(pairs if name in timed else 1):
            for key, port, pid in targets if pair % 2 == 0 else targets[::-1]:
                if name in NEEDS:
                    calls = stored[(key, NEEDS[name])]
                else:
                    calls = CacheCalls(channels[key], channels[key], port, "", client, sizes)
                    if name == "UpdateActionResult":
                        calls.output = stored[(key, "BatchUpdateBlobs")].small[0][0]
                    calls.prepare(frozenset({name}))
                if name not in timed:
                    phase = calls.phase(name, native=False)
                    assert not isinstance(phase, NativeReads)
                    phase()  # Untimed: it stores what a timed phase reads.
                else:
                    phase = calls.phase(name, native)
                    try:
                        timed_phase(out, f"{name}|{key}|{pair}", phase, barrier, client, pid,
                                    settle, watch)
                    finally:
                        if isinstance(phase, NativeReads):
                            Path(phase.process.args[-1]).unlink(missing_ok=True)
                if name not in NEEDS and pair == 0:
                    stored[(key, name)] = calls
                calls.release()  # Reads of large blobs need only their digests.
    for channel in channels.values():
        channel.close()
    results.put(out)


def interleave(servers: dict[str, Server], pair: tuple[str, str], clients: int,
               sizes: Sizes, workloads: frozenset[str] | None, pairs: int,
               native: bool) -> dict[str, dict[str, list[dict[str, float]]]]:
    """phase -> server -> one row per pair (as ``per_phase`` makes them), with the
    share of a CPU each other server and moto used meanwhile ("idle <name>")."""
    settle = next((str(servers[key].settle) for key in pair if servers[key].settle), None)
    targets = [(key, servers[key].port, servers[key].process.pid) for key in pair]
    watched = [(key, servers[key].process.pid) for key in pair]
    watched += [(h.name, h.process.pid) for key in pair for h in servers[key].helpers
                if h.name == "moto"]
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(clients), ctx.Queue()
    procs = [ctx.Process(target=run_interleaved_client,
                         args=(targets, i, sizes, barrier, results, workloads, settle,
                               tuple(pid for _, pid in watched), pairs),
                         kwargs={"native": native})
             for i in range(clients)]
    outs = gather(procs, results, 3600)
    table: dict[str, dict[str, list[dict[str, float]]]] = {}
    for name, row in per_phase(outs).items():
        phase, key, _pair = name.split("|")
        for i, (who, _pid) in enumerate(watched):
            share = row.pop(f"watched_{i}")
            if who != key:
                row[f"idle {who}"] = share
        table.setdefault(phase, {}).setdefault(key, []).append(row)
    return table


def median_interval(values: list[float]) -> tuple[float, float]:
    """A distribution-free 95% confidence interval of the median of ``values``: the
    order statistics k and n+1-k, k the largest with P(Binomial(n, 1/2) < k) <= 2.5%.
    With fewer than six values there is none at 95%: the whole range is returned."""
    ordered, n = sorted(values), len(values)
    k, below = 0, 0.0
    while k < n and below + math.comb(n, k) / 2**n <= 0.025:
        below += math.comb(n, k) / 2**n
        k += 1
    if k == 0:
        return ordered[0], ordered[-1]
    return ordered[k - 1], ordered[n - k]


def interleaved_summary(runs: list[dict[str, dict[str, list[dict[str, float]]]]],
                        clients: int) -> list[str]:
    """Per phase: the judged server's figure over the other's in each pair, their median
    with its 95% interval and range; the same of each ABBA quad (two pairs in a row,
    each server first once), the geometric mean of its two ratios, which cancels what
    running second in a pair is worth and any drift linear over the four phases; the
    ratio of the two servers' medians, the machine-normalised server CPU per unit, and
    the most CPU the idle server and moto used while the other was timed.

    A figure is judged on the quads: met when their median's interval starts at the
    goal or above, not met when it ends below, unresolved otherwise."""
    compare = comparison_of(runs[0])
    judged, other = compare.judged, compare.other
    lines = [f"\n{compare.title}, {clients} client process(es): per-pair ratios"]
    for phase in PHASES:
        tables = [run[phase] for run in runs if phase in run]
        pairs = [(o, j) for t in tables for o, j in zip(t[other], t[judged], strict=True)]
        if not pairs:
            continue
        unit = "mb_per_s" if pairs[0][0]["mb_per_s"] and phase not in SMALL_BLOB_PHASES \
            else "per_s"
        walls = [j[unit] / o[unit] for o, j in pairs]
        quads = [math.sqrt(a * b) for t in tables
                 for ratios in [[j[unit] / o[unit] for o, j in zip(
                     t[other], t[judged], strict=True)]]
                 for a, b in zip(ratios[::2], ratios[1::2], strict=False)] or [math.nan]
        # /proc counts CPU in 10 ms ticks: a pair with a zero figure says nothing.
        cpus = [(j["server_cpu_ms"] / o["server_cpu_ms"])
                / (j["client_cpu_ms"] / o["client_cpu_ms"]) for o, j in pairs
                if min(j["server_cpu_ms"], o["server_cpu_ms"], j["client_cpu_ms"],
                       o["client_cpu_ms"]) > 0] or [math.nan]
        low, high = median_interval(walls)
        wall = statistics.median(walls)
        quad_low, quad_high = median_interval(quads)
        of_medians = (statistics.median(j[unit] for _, j in pairs)
                      / statistics.median(o[unit] for o, _ in pairs))
        goal = compare.goals.get(phase)
        verdict = "shown, not judged"
        if goal is not None:
            verdict = (f"met (goal {goal})" if quad_low >= goal
                       else f"NOT met (goal {goal})" if quad_high < goal
                       else f"unresolved (goal {goal})")
        idle_judged = max(o[f"idle {judged}"] for o, _ in pairs)
        idle_other = max(j[f"idle {other}"] for _, j in pairs)
        moto = any("idle moto" in o for o, _ in pairs)
        idle_moto = max(o.get("idle moto", 0.0) for o, _ in pairs)
        busy_moto = statistics.median(j.get("idle moto", 0.0) for _, j in pairs)
        seconds = statistics.median(r["seconds"] for pair in pairs for r in pair)
        lines.append(
            f"  {phase:<18} {wall:5.2f} (95% {low:.2f}-{high:.2f}, range {min(walls):.2f}-"
            f"{max(walls):.2f}, {len(walls)} pairs) medians {of_medians:.2f}  server CPU"
            f" {statistics.median(cpus):.2f} ({min(cpus):.2f}-{max(cpus):.2f})")
        lines.append(
            f"  {'':<18} ABBA quads {statistics.median(quads):5.2f} (95% {quad_low:.2f}-"
            f"{quad_high:.2f}, range {min(quads):.2f}-{max(quads):.2f}, {len(quads)} quads)"
            f"  {verdict}")
        lines.append(
            f"  {'':<18} {other} {statistics.median(o[unit] for o, _ in pairs):,.0f}"
            f" / {judged} {statistics.median(j[unit] for _, j in pairs):,.0f}"
            f" {'MB/s' if unit == 'mb_per_s' else '/s'}, {seconds:.2f} s a phase; idle CPU"
            f" at most: {other} {idle_other:.1%}, {judged} {idle_judged:.1%}"
            + (f", moto {idle_moto:.1%} (moto while the {judged} is timed: median"
               f" {busy_moto:.1%})" if moto else ""))
    return lines


GOALS = [  # (server, workload, compared with, on server, goal ratio)
    ("graphkit", "BatchUpdateBlobs", "BatchUpdateBlobs", "buildgrid", 3.0),
    ("graphkit", "FindMissingBlobs", "FindMissingBlobs", "buildgrid", 3.0),
    ("graphkit", "BatchReadBlobs", "BatchReadBlobs", "buildgrid", 3.0),
    ("graphkit", "ByteStream Write", "1 MiB-chunk stream", "bare", 0.6),
    ("graphkit", "ByteStream Write", "... + SHA-256 + file", "bare", None),
    ("graphkit", "ByteStream Read", "1 MiB-chunk stream", "bare", 0.6),
    ("graphkit", "ByteStream Read", "ByteStream Read", "buildgrid", 1.5),  # Issue 12.
    ("graphkit", "ByteStream Read", "1 MiB-chunk read stream", "bare", None),
    # The most any Python gRPC server sends these clients, against BuildGrid.
    ("bare", "1 MiB-chunk read stream", "ByteStream Read", "buildgrid", None),
    ("graphkit", "GetActionResult", "no-op unary", "bare", 0.9),
]
# --backend (issue 16): "the batch and ByteStream figures with a warm front stay within
# 10% of the local-only server"; reads through a cold front against BuildGrid on the
# same S3 server. The action-cache calls are shown beside them, not judged: a replica
# under sustained UpdateActionResult load also PUTs each result to the bucket, work
# the local-only server never does.
BACKEND_GOALS = [
    *((("warm", name, name, "graphkit", 0.9)) for name in (
        "BatchUpdateBlobs", "FindMissingBlobs", "BatchReadBlobs", "ByteStream Write",
        "ByteStream Read")),
    *((("warm", name, name, "graphkit", None)) for name in (
        "UpdateActionResult", "GetActionResult")),
    *((("cold", name, name, "buildgrid-s3", None)) for name in (
        "FindMissingBlobs", "BatchReadBlobs", "ByteStream Read", "GetActionResult")),
    *((("warm", f"{name} -> bucket", name, "buildgrid-s3", None)) for name in (
        "BatchUpdateBlobs", "ByteStream Write")),
]


def ratios(rounds: list[dict[str, Any]], clients: int,
           goals: list[tuple[str, str, str, str, float | None]]) -> list[str]:
    """graphkit's figures as ratios of the ones the goals compare them with.

    Each ratio is taken within a round, where the servers ran one right after the
    other, and the median of those is judged: on a shared VM the machine's speed
    drifts by 15-20% over a run, more than some of the margins measured.
    """
    lines = []
    for server, name, other_name, other, goal in goals:
        per_round = []
        for results in rounds:
            ours = results.get(f"{server} x{clients}", {}).get(name)
            theirs = results.get(f"{other} x{clients}", {}).get(other_name)
            if ours is None or theirs is None:
                continue
            unit = "mb_per_s" if theirs["mb_per_s"] else "per_s"  # Streams compare bytes.
            per_round.append(ours[unit] / theirs[unit])
        if not per_round:
            continue
        ratio = statistics.median(per_round)
        spread = f" ({min(per_round):.2f}-{max(per_round):.2f})" if len(per_round) > 1 else ""
        verdict = ""
        if goal is not None:
            verdict = f"  goal >= {goal:g}: {'met' if ratio >= goal else 'NOT met'}"
        mine = "" if server == "graphkit" else f"{server} "
        lines.append(f"  {mine}{name:<18} / {other} {other_name:<22} {ratio:6.2f}{spread}"
                     f"{verdict}")
    return lines


def baseline_ratios(rounds: list[dict[str, Any]], clients: int) -> list[str]:
    """This tree's figures over the baseline tree's, median of the per-round ratios."""
    lines = []
    names = {n for results in rounds for n in results.get(f"graphkit x{clients}", {})}
    for name in sorted(names):
        per_round = [
            results[f"graphkit x{clients}"][name]["per_s"]
            / results[f"baseline x{clients}"][name]["per_s"]
            for results in rounds
            if name in results.get(f"baseline x{clients}", {})
        ]
        if per_round:
            spread = f" ({min(per_round):.2f}-{max(per_round):.2f})" if len(per_round) > 1 else ""
            lines.append(f"  {name:<18} {statistics.median(per_round):6.2f}{spread}")
    return lines


def medians(tables: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Each figure's median over the rounds."""
    names = dict.fromkeys(name for t in tables for name in t)  # A round may lack a row.
    return {name: {unit: statistics.median(t[name][unit] for t in tables if name in t)
                   for unit in next(t[name] for t in tables if name in t)} for name in names}


def print_table(title: str, table: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    for name, row in table.items():
        cpu = ""
        if "server_cpu_ms" in row:
            unit = "1,000 items" if name in SMALL_BLOB_PHASES or not row["mb_per_s"] else "MiB"
            scale = 1000 if unit != "MiB" else 1
            cpu = (f"   CPU ms per {unit}: server {row['server_cpu_ms'] * scale:,.2f},"
                   f" clients {row['client_cpu_ms'] * scale:,.2f}")
        print(f"  {name:<20} {row['per_s']:>12,.0f} /s {row['mb_per_s']:>10,.1f} MB/s{cpu}")


def summarize(rounds: list[dict[str, Any]], clients: list[int], backend: bool,
              baseline: bool) -> None:
    """Each server's medians over the rounds, then the ratios the goals judge."""
    if len(rounds) > 1:
        for run in sorted({run for results in rounds for run in results}):
            tables = [results[run] for results in rounds if run in results]
            print_table(f"{run}, median of {len(tables)} rounds", medians(tables))
    for count in clients:
        print(f"\ngraphkit vs the goals, {count} client process(es)")
        print("\n".join(ratios(rounds, count, BACKEND_GOALS if backend else GOALS)))
        if baseline:
            print(f"\ngraphkit vs the baseline tree, {count} client process(es)")
            print("\n".join(baseline_ratios(rounds, count)))


def machine() -> str:
    cpu = cpu_model()
    return (f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"grpcio {grpc.__version__}, {platform.system()} {platform.release()}")


def run_interleaved(client_counts: list[int], sizes: Sizes, workloads: frozenset[str] | None,
                    pairs: int, client: str, into: Path | None,
                    buildgrid_venv: Path | None) -> None:
    """--interleave: the local-only server and a warm front (on its moto), or graphkit
    and BuildGrid (``buildgrid_venv``), both running, ``pairs`` ABBA pairs of each phase,
    for each client count."""
    other = "warm" if buildgrid_venv is None else "buildgrid"
    load = [os.getloadavg()]
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    tables: dict[str, Any] = {}
    for clients in client_counts:
        data = Path(tempfile.mkdtemp(dir=WORK, prefix="interleave-"))
        servers: dict[str, Server] = {}
        try:
            servers["graphkit"] = start_graphkit(data)
            servers[other] = (with_moto(data, start_replica, False) if buildgrid_venv is None
                              else start_buildgrid(data, buildgrid_venv))
            tables[f"x{clients}"] = interleave(servers, ("graphkit", other), clients, sizes,
                                               workloads, pairs, client == "native")
        finally:
            for server in servers.values():
                server.stop()
            shutil.rmtree(data, ignore_errors=True)
        print_pairs(tables[f"x{clients}"], clients)
    load.append(os.getloadavg())
    report = {"machine": machine(), "client": client, "started": started,
              "ended": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
              "load": load, "sizes": dataclasses.asdict(sizes), "interleaved": tables}
    if into is not None:
        into.write_text(json.dumps(report, indent=2))
    report_interleaved([report])


def print_pairs(table: dict[str, dict[str, list[dict[str, float]]]], clients: int) -> None:
    """Each pair's figures, the other server's then the judged one's."""
    compare = comparison_of(table)
    print(f"\n{compare.other} / {compare.judged}, {clients} client process(es), pair by pair")
    for phase, by_server in table.items():
        large = phase not in SMALL_BLOB_PHASES and by_server[compare.judged][0]["mb_per_s"]
        unit = "mb_per_s" if large else "per_s"
        figures = "  ".join(f"{o[unit]:,.0f}/{j[unit]:,.0f}" for o, j in zip(
            by_server[compare.other], by_server[compare.judged], strict=True))
        print(f"  {phase:<18} {figures}")


def report_interleaved(reports: list[dict[str, Any]]) -> None:
    """The per-pair ratios of one or more --interleave runs, by client count."""
    counts = sorted({key for report in reports for key in report["interleaved"]},
                    key=lambda key: int(key[1:]))
    for key in counts:
        runs = [report["interleaved"][key] for report in reports if key in report["interleaved"]]
        print("\n".join(interleaved_summary(runs, int(key[1:]))))
    for report in reports:
        before, after = report["load"]
        print(f"run {report['started']} - {report['ended']}: load {before[0]:.2f} before,"
              f" {after[0]:.2f} after; sizes {report['sizes']}")
    for where in dict.fromkeys(report["machine"] for report in reports):
        print(f"machine: {where}")
    timed_by = dict.fromkeys(report["client"] for report in reports)
    print(f"read phases timed by the {' and '.join(timed_by)} client")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--batches", type=int, default=5, help="2,000-blob batches per client")
    parser.add_argument("--skip-buildgrid", action="store_true")
    parser.add_argument("--skip-bare", action="store_true")
    parser.add_argument("--baseline", type=Path, metavar="TREE",
                        help="also run graphkit from another source tree (e.g. a `git archive`"
                             " of an earlier commit) and print this tree's ratios to it")
    parser.add_argument("--workloads", nargs="+", metavar="NAME",
                        help="time only these phases (e.g. BatchReadBlobs 'ByteStream Read')")
    parser.add_argument("--buildgrid-venv", type=Path, default=WORK / "bgvenv")
    parser.add_argument("--backend", action="store_true",
                        help="replicas over moto's S3 server: a warm front against the "
                             "local-only server, a cold front against BuildGrid on S3")
    parser.add_argument("--only", nargs="+", metavar="SERVER",
                        help="run only these servers (graphkit, buildgrid, bare, baseline; "
                             "with --backend: warm, cold, buildgrid-s3)")
    parser.add_argument("--large-count", type=int, default=LARGE_COUNT,
                        help="64 MiB blobs per client for the ByteStream phases")
    parser.add_argument("--batch-blobs", type=int, default=SMALL_COUNT,
                        help="1 KiB blobs per batch (the object-store runs take one request"
                             " per blob: smaller batches keep them short)")
    parser.add_argument("--action-calls", type=int, default=AC_CALLS,
                        help="UpdateActionResult and GetActionResult calls per client")
    parser.add_argument("--read-passes", type=int, default=1,
                        help="read phases go over what was written this many times")
    parser.add_argument("--stream-read-passes", type=int, metavar="N",
                        help="ByteStream Read's passes (default: --read-passes)")
    parser.add_argument("--interleave", type=int, metavar="PAIRS",
                        help="run graphkit and BuildGrid (with --backend: the local-only"
                             " server and a warm front) at once and time each phase PAIRS"
                             " times on each, alternating in ABBA order; ratios are"
                             " medians of the pairs'")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat every server in turn; ratios are medians of rounds")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--combine", type=Path, nargs="+", metavar="JSON",
                        help="run nothing: report the rounds of these --json files together"
                             " (one round per invocation keeps each one short)")
    parser.add_argument("--client", choices=["python", "native"], default="python",
                        help="who runs the timed read phases: the Python clients, or the "
                             "C++ client of bench/native (build it with its build.sh)")
    args = parser.parse_args()
    if args.combine:
        reports = [json.loads(path.read_text()) for path in args.combine]
        if all("interleaved" in report for report in reports):
            report_interleaved(reports)
            return
        rounds = [r for report in reports for r in report["rounds"]]
        backend = any(run.startswith(("warm ", "cold ")) for r in rounds for run in r)
        summarize(rounds, sorted({int(run.rpartition("x")[2]) for r in rounds for run in r}),
                  backend, any(run.startswith("baseline ") for r in rounds for run in r))
        for where in dict.fromkeys(report["machine"] for report in reports):
            print(f"machine: {where}")
        timed_by = dict.fromkeys(report.get("client", "python") for report in reports)
        print(f"read phases timed by the {' and '.join(timed_by)} client")
        return
    WORK.mkdir(parents=True, exist_ok=True)
    native = args.client == "native"
    if native and (why := native_ready()) is not None:
        parser.error(why)
    workloads = frozenset(args.workloads) if args.workloads else None
    sizes = Sizes(args.batches, args.batch_blobs, args.large_count, args.action_calls,
                  args.read_passes, args.stream_read_passes)
    if args.interleave is not None:
        if args.rounds != 1 or args.only or args.baseline or (
                args.skip_buildgrid and not args.backend):
            parser.error("--interleave compares graphkit with BuildGrid (or, with --backend,"
                         " with a warm front), and takes the place of --rounds")
        run_interleaved(args.clients, sizes, workloads, args.interleave, args.client,
                        args.json, None if args.backend else args.buildgrid_venv)
        return
    starters: list[tuple[str, Callable[[Path], Server], Callable[..., None]]] = [
        ("graphkit", start_graphkit, run_cache_client),
    ]
    if args.baseline is not None:
        baseline = args.baseline.resolve()
        starters.append(("baseline", lambda d: start_graphkit(d, baseline), run_cache_client))
    if args.backend:
        starters += [("warm", lambda d: with_moto(d, start_replica, False), run_cache_client),
                     ("cold", lambda d: with_moto(d, start_replica, True), run_cache_client)]
        if not args.skip_buildgrid:
            starters.append(("buildgrid-s3", lambda d: with_moto(
                d, lambda d, moto: start_buildgrid(d, args.buildgrid_venv, moto)),
                run_cache_client))
    else:
        if not args.skip_bare:
            starters.append(("bare", start_bare, run_bare_client))
        if not args.skip_buildgrid:
            starters.insert(1, ("buildgrid", lambda d: start_buildgrid(d, args.buildgrid_venv),
                                run_cache_client))
    if args.only:
        starters = [s for s in starters if s[0] in args.only]
    rounds: list[dict[str, Any]] = []
    unavailable: dict[str, str] = {}  # Server -> why it could not start (not retried).
    for number in range(1, args.rounds + 1):
        results: dict[str, Any] = {}
        rounds.append(results)
        # Servers inner, client counts outer: the figures a ratio compares are taken
        # as close together in time as they can be.
        for clients in args.clients:
            for key, start, client in starters:
                if key in unavailable:
                    continue
                data = Path(tempfile.mkdtemp(dir=WORK, prefix=f"{key}-"))
                try:
                    server = start(data)
                except Exception as exc:  # Recorded: why a comparison could not run.
                    unavailable[key] = str(exc)
                    print(f"{key}: could not start: {exc}", file=sys.stderr)
                    shutil.rmtree(data, ignore_errors=True)
                    continue
                try:
                    table = measure(server, clients, sizes, client, workloads, native)
                finally:
                    server.stop()
                    shutil.rmtree(data, ignore_errors=True)
                results[f"{key} x{clients}"] = table
                print_table(f"round {number}: {server.name}, {clients} {args.client} client"
                            f" process(es)", table)
    summarize(rounds, args.clients, args.backend, args.baseline is not None)
    where = machine()
    print(f"\nmachine: {where}; read phases timed by the {args.client} client")
    if args.json:
        report = {"machine": where, "client": args.client, "unavailable": unavailable,
                  "rounds": rounds}
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
