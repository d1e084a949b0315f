"""The generated REAPI v2 modules, imported in one place under short names.

The modules are generated at build time from ``graphkit/cache/protos`` by
``hatch_build.py``; a checkout that was never installed has none, and this import
says how to fix that instead of failing with a bare ModuleNotFoundError.

The gRPC stubs (``re_grpc``, ``bs_grpc``) are imported on first use: they import
grpc, which the runner's local cache never needs, and which costs more than the rest
of a fully cached ``graphkit run`` start-up.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_HINT = (
    "the REAPI protocol modules are generated at install time; run "
    "`pip install -e .` (or `python hatch_build.py`) in the graphkit checkout"
)

try:
    from google.rpc import status_pb2

    from graphkit.cache._proto.build.bazel.remote.execution.v2 import (
        remote_execution_pb2 as re_pb2,
    )
    from graphkit.cache._proto.build.bazel.semver import semver_pb2
    from graphkit.cache._proto.google.bytestream import bytestream_pb2 as bs_pb2
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
    raise ModuleNotFoundError(f"{exc}: {_HINT}") from exc

if TYPE_CHECKING:
    from graphkit.cache._proto.build.bazel.remote.execution.v2 import (
        remote_execution_pb2_grpc as re_grpc,
    )
    from graphkit.cache._proto.google.bytestream import bytestream_pb2_grpc as bs_grpc

_STUBS = {
    "re_grpc": "graphkit.cache._proto.build.bazel.remote.execution.v2.remote_execution_pb2_grpc",
    "bs_grpc": "graphkit.cache._proto.google.bytestream.bytestream_pb2_grpc",
}


def __getattr__(name: str) -> Any:
    """``re_grpc`` and ``bs_grpc``, imported when first asked for (PEP 562)."""
    module = _STUBS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return import_module(module)
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
        raise ModuleNotFoundError(f"{exc}: {_HINT}") from exc


__all__ = ["bs_grpc", "bs_pb2", "re_grpc", "re_pb2", "semver_pb2", "status_pb2"]
