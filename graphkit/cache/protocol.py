"""The generated REAPI v2 modules, imported in one place under short names.

The modules are generated at build time from ``graphkit/cache/protos`` by
``hatch_build.py``; a checkout that was never installed has none, and this import
says how to fix that instead of failing with a bare ModuleNotFoundError.
"""

from __future__ import annotations

try:
    from google.rpc import status_pb2

    from graphkit.cache._proto.build.bazel.remote.execution.v2 import (
        remote_execution_pb2 as re_pb2,
    )
    from graphkit.cache._proto.build.bazel.remote.execution.v2 import (
        remote_execution_pb2_grpc as re_grpc,
    )
    from graphkit.cache._proto.build.bazel.semver import semver_pb2
    from graphkit.cache._proto.google.bytestream import bytestream_pb2 as bs_pb2
    from graphkit.cache._proto.google.bytestream import bytestream_pb2_grpc as bs_grpc
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
    raise ModuleNotFoundError(
        f"{exc}: the REAPI protocol modules are generated at install time; run "
        "`pip install -e .` (or `python hatch_build.py`) in the graphkit checkout"
    ) from exc

__all__ = ["bs_grpc", "bs_pb2", "re_grpc", "re_pb2", "semver_pb2", "status_pb2"]
