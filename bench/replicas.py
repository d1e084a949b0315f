"""The object-storage side of ``cache_bench.py --backend``: moto's S3 server on loopback
and BuildGrid's S3 configuration pointed at it.

moto (``moto[server]``, a dev dependency) is started from this interpreter as its own
process; graphkit's replicas and BuildGrid talk plain-http S3 to it, each in its own
bucket, so both pay the same server for every request.

moto runs at the lowest CPU priority (nice 19): in a deployment the bucket is not on
the cache server's machine, so it should not take CPU from the server under test and
its clients. Only what no other process wants is left to it, which slows the requests
to it (those of the cold front and of BuildGrid on S3 alike) and not the server's own work.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
}

# moto's nice value: the lowest CPU priority (see the module's docstring).
MOTO_NICE = 19


@dataclass
class Moto:
    """A running moto server."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def environment(self) -> dict[str, str]:
        """What an S3 client reads to reach this server."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def create_bucket(self, name: str) -> None:
        boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="bench",
                     aws_secret_access_key="bench",
                     region_name="us-east-1").create_bucket(Bucket=name)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_moto(log: Path) -> Moto:
    """moto's standalone server on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    out = open(log, "wb")  # noqa: SIM115 - closed with the process
    # Niced in the child before it starts (its threads inherit it): an absolute 19,
    # not `nice -n 19`, which from the bench's -15 would leave it at 4.
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                "-p", str(port)], stdout=out, stderr=subprocess.STDOUT,
                               env={**os.environ, **CREDENTIALS}, preexec_fn=lowest_priority)
    moto = Moto(process, port)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{moto.endpoint}/moto-api/", timeout=1).close()
            return moto
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                moto.stop()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.2)


def lowest_priority() -> None:
    """Run this process at the lowest CPU priority (what nothing else wants)."""
    os.setpriority(os.PRIO_PROCESS, 0, MOTO_NICE)


def queue_drained(directory: Path) -> bool:
    """Whether a replica's upload queue (in its cache directory) is empty."""
    queue = directory / "upload-queue"
    return not queue.is_dir() or not [p for p in os.listdir(queue) if not p.startswith(".")]


# BuildGrid's cache-only services over the storage and action cache a config names
# (shared with cache_bench.py's disk-storage config).
BUILDGRID_SERVICES = """\
instances:
  - name: ''
    description: cache only
    services:
      - !action-cache
        cache: *build-cache
      - !cas
        storage: *cas-storage
      - !bytestream
        storage: *cas-storage

thread-pool-size: 100
"""

BUILDGRID_S3_CONFIG = """\
server:
  - !channel
    address: "127.0.0.1:{port}"
    insecure-mode: true

description: cache-only BuildGrid with S3 storage, for graphkit's benchmark

storages:
  - !s3-storage &cas-storage
    bucket: {cas_bucket}
    endpoint: {endpoint}
    access-key: bench
    secret-key: bench

caches:
  - !s3action-cache &build-cache
    storage: *cas-storage
    allow-updates: true
    cache-failed-actions: true
    entry-type: action-result
    bucket: {ac_bucket}
    endpoint: {endpoint}
    access-key: bench
    secret-key: bench

""" + BUILDGRID_SERVICES
