"""A real client: Bazel 4.2 (Debian ``bazel-bootstrap``) building against graphkit's cache.

Skipped with the reason when Bazel is not installed; CI installs it
(``.ci/install-bazel.sh``) so it runs there. Each Bazel call runs in ``--batch`` mode
with its own ``--output_user_root`` in the test's temp folder, so no server process
outlives the test, and with ``--spawn_strategy=local`` (no sandbox needed).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cacheservers import serve_process, wait_for
from s3server import s3_server

BAZEL = shutil.which("bazel-4") or shutil.which("bazel")
pytestmark = pytest.mark.skipif(
    BAZEL is None,
    reason="bazel is not installed (CI installs Debian bazel-bootstrap: .ci/install-bazel.sh)",
)
# Debian's bazel-bootstrap ships its install base here and normally reads these flags
# from /etc/bazel/bazelrc, which --nosystem_rc turns off.
DEBIAN_INSTALL_BASE = Path("/usr/share/bazel")
WRITE_TOKEN, READ_TOKEN = "bazel-write-token", "bazel-read-token"

BUILD = r"""
genrule(
    name = "hello",
    srcs = ["input.txt"],
    outs = ["hello.txt"],
    cmd = "tr a-z A-Z < $< > $@",
)
genrule(
    name = "big",
    outs = ["big.bin"],
    cmd = "head -c 3000000 /dev/zero | tr '\\0' x > $@",
)
genrule(
    name = "combined",
    srcs = [":hello", ":big"],
    outs = ["combined.txt"],
    cmd = "cat $(location :hello) > $@; wc -c < $(location :big) >> $@",
)
"""


class Bazel:
    """Runs Bazel in a tiny genrule workspace, isolated from the machine's rc files."""

    def __init__(self, tmp: Path) -> None:
        self.workspace = tmp / "ws"
        self.workspace.mkdir()
        (self.workspace / "WORKSPACE").write_text('workspace(name = "graphkit_cache_test")\n')
        (self.workspace / "BUILD").write_text(BUILD)
        (self.workspace / "input.txt").write_text("hello graphkit\n")
        self.startup = [str(BAZEL), "--batch", f"--output_user_root={tmp / 'bazel-root'}",
                        "--noworkspace_rc", "--nohome_rc", "--nosystem_rc"]
        if DEBIAN_INSTALL_BASE.is_dir():
            self.startup += [f"--install_base={DEBIAN_INSTALL_BASE}", "--trust_install_base"]

    def run(self, *args: str) -> str:
        done = subprocess.run([*self.startup, *args], cwd=self.workspace, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stderr

    def build(self, port: int, *flags: str) -> dict[str, int]:
        """Build //:combined against the cache; return Bazel's own process summary."""
        output = self.run("build", "//:combined", "--spawn_strategy=local",
                          "--host_javabase=@local_jdk//:jdk",
                          f"--remote_cache=grpc://127.0.0.1:{port}", *flags)
        summary = re.search(r"INFO: \d+ processes?: (.*)\.", output)
        assert summary, output[-3000:]
        counts = {}
        for part in summary[1].split(", "):
            n, kind = part.split(" ", 1)
            counts[kind] = int(n)
        return counts

    def clean(self) -> None:
        self.run("clean", "--expunge")

    def output(self) -> str:
        return (self.workspace / "bazel-bin" / "combined.txt").read_text()


def entries(directory: Path) -> int:
    from graphkit.cache.store.local import measure

    return measure(directory)[0]


def test_bazel_second_build_after_clean_is_served_entirely_from_the_cache(
    tmp_path: Path,
) -> None:
    bazel = Bazel(tmp_path)
    with serve_process(tmp_path / "cache") as server:
        first = bazel.build(server.port)
        assert first.get("local") == 3, first
        bazel.clean()
        second = bazel.build(server.port)
        assert second.get("remote cache hit") == 3, second
        assert "local" not in second, second
        assert bazel.output() == "HELLO GRAPHKIT\n3000000\n"


def test_bazel_with_bearer_tokens_and_a_read_only_token(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.toml"
    tokens.write_text("".join(
        f'[[token]]\nname = "{name}"\nscope = "{scope}"\n'
        f'sha256 = "{hashlib.sha256(secret.encode()).hexdigest()}"\n'
        for name, scope, secret in [("ci", "write", WRITE_TOKEN), ("fork", "read", READ_TOKEN)]
    ))
    bazel = Bazel(tmp_path)
    cache_dir = tmp_path / "cache"
    with serve_process(cache_dir, "--tokens", str(tokens)) as server:
        writer = f"--remote_header=authorization=Bearer {WRITE_TOKEN}"
        assert bazel.build(server.port, writer).get("local") == 3
        bazel.clean()
        assert bazel.build(server.port, writer).get("remote cache hit") == 3
        stored = entries(cache_dir)

        # A pull request from a fork: a read-only token. The server tells Bazel it may
        # not update the action cache, so the client must not try to upload.
        (bazel.workspace / "input.txt").write_text("changed by a fork\n")
        bazel.clean()
        reader = [f"--remote_header=authorization=Bearer {READ_TOKEN}",
                  "--noremote_upload_local_results"]
        counts = bazel.build(server.port, *reader)
        assert counts.get("remote cache hit") == 1, counts  # //:big is unchanged
        assert counts.get("local") == 2, counts  # //:hello and //:combined re-run
        assert bazel.output() == "CHANGED BY A FORK\n3000000\n"
        assert entries(cache_dir) == stored  # Nothing was written.


def test_bazel_gets_remote_hits_from_a_second_replica_after_the_first_stored_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graphkit.cache.store.uploads import QUEUE_DIRECTORY

    bazel = Bazel(tmp_path)
    with s3_server() as s3:
        for name, value in s3.environment.items():
            monkeypatch.setenv(name, value)
        backend = ("--backend", s3.url("bazel"))
        one, two = tmp_path / "replica-1", tmp_path / "replica-2"
        with serve_process(one, *backend) as first, serve_process(two, *backend) as second:
            assert bazel.build(first.port).get("local") == 3
            wait_for(lambda: not [n for n in os.listdir(one / QUEUE_DIRECTORY)
                                  if not n.startswith(".")], timeout=30)
            bazel.clean()
            counts = bazel.build(second.port)
            assert counts.get("remote cache hit") == 3, counts
            assert "local" not in counts, counts
            assert bazel.output() == "HELLO GRAPHKIT\n3000000\n"
        assert not (two / QUEUE_DIRECTORY).exists() or not [
            n for n in os.listdir(two / QUEUE_DIRECTORY) if not n.startswith(".")
        ]  # Replica 2 only read: it had nothing to upload.
