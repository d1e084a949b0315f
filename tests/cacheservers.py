"""Shared helpers for the cache tests: real servers on 127.0.0.1:0 and real gRPC stubs.

Imported by the cache and runner tests; it holds no tests itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc

from graphkit.cache.protocol import bs_grpc, bs_pb2, re_grpc, re_pb2
from graphkit.cache.server.options import Address, ServeOptions
from graphkit.cache.server.serve import CacheServer

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCALHOST = "127.0.0.1"


def pdigest(data: bytes) -> Any:
    """The REAPI Digest message of ``data``."""
    return re_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


@dataclass
class Client:
    """Stubs for every service on one channel."""

    channel: grpc.Channel
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def cas(self) -> Any:
        return re_grpc.ContentAddressableStorageStub(self.channel)

    @property
    def ac(self) -> Any:
        return re_grpc.ActionCacheStub(self.channel)

    @property
    def caps(self) -> Any:
        return re_grpc.CapabilitiesStub(self.channel)

    @property
    def bytestream(self) -> Any:
        return bs_grpc.ByteStreamStub(self.channel)

    def upload(self, *blobs: bytes, instance: str = "") -> Any:
        requests = [re_pb2.BatchUpdateBlobsRequest.Request(digest=pdigest(b), data=b)
                    for b in blobs]
        return self.cas.BatchUpdateBlobs(
            re_pb2.BatchUpdateBlobsRequest(instance_name=instance, requests=requests),
            metadata=self.metadata,
        )

    def missing(self, *blobs: bytes, instance: str = "") -> list[str]:
        response = self.cas.FindMissingBlobs(
            re_pb2.FindMissingBlobsRequest(
                instance_name=instance, blob_digests=[pdigest(b) for b in blobs]),
            metadata=self.metadata,
        )
        return [d.hash for d in response.missing_blob_digests]

    def write(self, data: bytes, *, chunk: int = 16 * 1024, name: str | None = None,
              instance: str = "", timeout: float | None = None) -> Any:
        """ByteStream.Write like Bazel 4.2: resource name on the first message only."""
        d = pdigest(data)
        prefix = f"{instance}/" if instance else ""
        resource = name or f"{prefix}uploads/3f1c7a52-0000-4000-8000-000000000001/blobs/" \
                           f"{d.hash}/{d.size_bytes}"

        def requests() -> Iterator[Any]:
            offsets = range(0, max(len(data), 1), chunk)
            for i in offsets:
                yield bs_pb2.WriteRequest(
                    resource_name=resource if i == 0 else "",
                    write_offset=i,
                    data=data[i : i + chunk],
                    finish_write=i + chunk >= len(data),
                )

        return self.bytestream.Write(requests(), metadata=self.metadata, timeout=timeout)

    def read(self, data_digest: Any, *, instance: str = "", offset: int = 0,
             limit: int = 0) -> bytes:
        prefix = f"{instance}/" if instance else ""
        name = f"{prefix}blobs/{data_digest.hash}/{data_digest.size_bytes}"
        return b"".join(
            r.data for r in self.bytestream.Read(
                bs_pb2.ReadRequest(resource_name=name, read_offset=offset, read_limit=limit),
                metadata=self.metadata,
            )
        )


def options(directory: Path, **changes: Any) -> ServeOptions:
    """Serve options for a test server on 127.0.0.1, port chosen by the OS."""
    base = ServeOptions(listen=Address(LOCALHOST, 0), directory=directory, max_size=1 << 30,
                        grace_seconds=2.0)
    return replace(base, **changes)


@contextmanager
def running(directory: Path, **changes: Any) -> Iterator[tuple[CacheServer, int]]:
    """An in-process CacheServer; yields it and its port."""
    server = CacheServer(options(directory, **changes))
    endpoints = server.start()
    try:
        yield server, endpoints.grpc_port
    finally:
        server.stop(0.5)


@contextmanager
def client(port: int, *, token: str | None = None,
           credentials: grpc.ChannelCredentials | None = None) -> Iterator[Client]:
    """A real channel to 127.0.0.1:port."""
    target = f"{LOCALHOST}:{port}"
    opts = [("grpc.max_receive_message_length", 64 << 20)]
    if credentials is None:
        channel = grpc.insecure_channel(target, options=opts)
    else:
        channel = grpc.secure_channel(
            f"localhost:{port}", credentials,
            options=[*opts, ("grpc.ssl_target_name_override", "localhost")])
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    with channel:
        yield Client(channel, metadata)


@dataclass
class ServerProcess:
    """``graphkit cache serve`` as a real subprocess."""

    process: subprocess.Popen[str]
    port: int
    metrics_port: int | None

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 20.0) -> int:
        return self.process.wait(timeout)


@contextmanager
def serve_process(directory: Path, *extra: str) -> Iterator[ServerProcess]:
    """Start ``python -m graphkit cache serve`` and wait until it reports its port."""
    cmd = [sys.executable, "-m", "graphkit", "cache", "serve", "--listen", f"{LOCALHOST}:0",
           "--dir", str(directory), "--max-size", "1GiB", "--format", "json", *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, cwd=REPO_ROOT)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            process.wait(10)
            raise AssertionError(f"server did not start: {process.stderr.read()}")  # type: ignore[union-attr]
        ready = json.loads(line)
        yield ServerProcess(process, ready["port"], ready["metrics_port"])
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def make_pki(directory: Path) -> Path:
    """A throwaway CA, a server certificate for localhost and 127.0.0.1, and a client
    certificate, made with the openssl CLI in ``directory``: ca.pem, server.pem/.key,
    client.pem/.key. Skips the calling test when openssl is not installed."""
    import pytest

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed; it makes the test certificates")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=graphkit test CA")
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name in ("server", "client"):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={'localhost' if name == 'server' else 'ci-runner'}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", "san.ext")
    return directory
