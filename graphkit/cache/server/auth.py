"""Bearer-token authorization for the cache server.

The tokens file (``--tokens``) is TOML; it holds the SHA-256 of each token, never the
token itself, so a leaked file grants nothing::

    [[token]]
    name = "ci-main"          # shown in logs and error messages
    scope = "write"           # "read" or "write" (write implies read)
    sha256 = "9f86d08...."    # printf %s "$TOKEN" | sha256sum

Clients send ``authorization: Bearer <token>`` metadata (Bazel:
``--remote_header=authorization=Bearer <token>``). Read-only tokens are how builds of
untrusted code (pull requests from forks) use the cache without being able to poison
it: their writes are refused with PERMISSION_DENIED, never silently dropped.
Tokens are never logged; only their names are.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import grpc
import tomli

from graphkit.errors import InputError

log = logging.getLogger(__name__)

# Calls that change the cache; every other call only reads it.
WRITE_METHODS = frozenset(
    {
        "/build.bazel.remote.execution.v2.ActionCache/UpdateActionResult",
        "/build.bazel.remote.execution.v2.ContentAddressableStorage/BatchUpdateBlobs",
        "/google.bytestream.ByteStream/Write",
    }
)
# Load balancers and orchestrators probe health without credentials.
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
_HEX64 = re.compile(r"[0-9a-f]{64}")


class Scope(Enum):
    """What a token may do."""

    READ = "read"
    WRITE = "write"


@dataclass(frozen=True)
class Token:
    """One entry of the tokens file."""

    name: str
    scope: Scope
    sha256: str


class Denied(Exception):
    """A call refused, with the gRPC status to answer and a message safe to show."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def load_tokens(path: Path) -> tuple[Token, ...]:
    """Parse and validate a tokens file."""
    try:
        data = tomli.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read tokens file: {exc.strerror}", path=str(path)) from exc
    except tomli.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path=str(path)) from exc
    entries = data.get("token", [])
    if not isinstance(entries, list) or not entries:
        raise InputError(
            "expected one or more [[token]] tables",
            path=str(path),
            hint='name = "...", scope = "read" | "write", sha256 = "<64 hex>"',
        )
    tokens: list[Token] = []
    for index, entry in enumerate(entries, start=1):
        tokens.append(_token(entry, f"token #{index}", path))
    names = [t.name for t in tokens]
    hashes = [t.sha256 for t in tokens]
    if len(set(names)) != len(names) or len(set(hashes)) != len(hashes):
        raise InputError("token names and hashes must be unique", path=str(path))
    return tuple(tokens)


def _token(entry: Any, where: str, path: Path) -> Token:
    if not isinstance(entry, dict) or set(entry) != {"name", "scope", "sha256"}:
        raise InputError(f"{where} must have exactly name, scope and sha256", path=str(path))
    name, scope, digest = entry["name"], entry["scope"], entry["sha256"]
    if not isinstance(name, str) or not name:
        raise InputError(f"{where}: name must be a non-empty string", path=str(path))
    if scope not in ("read", "write"):
        raise InputError(
            f"{where} ({name}): scope must be 'read' or 'write', not {scope!r}", path=str(path)
        )
    if not isinstance(digest, str) or _HEX64.fullmatch(digest) is None:
        raise InputError(
            f"{where} ({name}): sha256 must be 64 lowercase hex characters",
            path=str(path),
            hint='printf %s "$TOKEN" | sha256sum',
        )
    return Token(name, Scope(scope), digest)


class Authorizer:
    """Decides, from a call's metadata, who is calling and whether they may."""

    def __init__(self, tokens: Sequence[Token], *, allow_unauthenticated_reads: bool) -> None:
        self._by_hash = {t.sha256: t for t in tokens}
        self._open_reads = allow_unauthenticated_reads

    def caller(self, metadata: Sequence[tuple[str, Any]] | None) -> Token | None:
        """The token presented, None when there is none; Denied when it is not valid."""
        header = next((v for k, v in metadata or () if k == "authorization"), None)
        if header is None:
            return None
        scheme, _, secret = str(header).partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Denied(
                grpc.StatusCode.UNAUTHENTICATED, "authorization metadata must be 'Bearer <token>'"
            )
        token = self._by_hash.get(hashlib.sha256(secret.strip().encode()).hexdigest())
        if token is None:
            raise Denied(
                grpc.StatusCode.UNAUTHENTICATED, "the bearer token is not one this cache knows"
            )
        return token

    def check(self, method: str, metadata: Sequence[tuple[str, Any]] | None) -> Token | None:
        """Return the caller if it may call ``method``; raise Denied if not."""
        if method.startswith(OPEN_PREFIXES):
            return None
        token = self.caller(metadata)
        write = method in WRITE_METHODS
        if token is None:
            if self._open_reads and not write:
                return None
            need = "a token with write scope" if write else "a bearer token"
            raise Denied(
                grpc.StatusCode.UNAUTHENTICATED,
                f"{_short(method)} needs {need} (send 'authorization: Bearer <token>')",
            )
        if write and token.scope is not Scope.WRITE:
            raise Denied(
                grpc.StatusCode.PERMISSION_DENIED,
                f"token {token.name!r} has read scope; {_short(method)} needs write",
            )
        return token

    def can_write(self, metadata: Sequence[tuple[str, Any]] | None) -> bool:
        """Whether the caller may update the action cache (for GetCapabilities)."""
        try:
            token = self.caller(metadata)
        except Denied:
            return False
        return token is not None and token.scope is Scope.WRITE


def _short(method: str) -> str:
    return method.rsplit("/", 1)[-1]


def _refuse(denied: Denied) -> Callable[[Any, grpc.ServicerContext], Any]:
    def abort(_request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(denied.code, denied.message)

    return abort


class AuthInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Enforces the Authorizer on every call before any service code runs."""

    def __init__(self, authorizer: Authorizer) -> None:
        self._authorizer = authorizer

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        method = handler_call_details.method
        try:
            self._authorizer.check(method, handler_call_details.invocation_metadata)
        except Denied as denied:
            log.info(
                "refused %s: %s",
                method,
                denied.message,
                extra={"event": "auth_refused", "method": _short(method), "code": denied.code.name},
            )
            handler = continuation(handler_call_details)
            if handler is None:
                return None
            refuse = _refuse(denied)
            if handler.request_streaming and handler.response_streaming:
                return grpc.stream_stream_rpc_method_handler(refuse)
            if handler.request_streaming:
                return grpc.stream_unary_rpc_method_handler(refuse)
            if handler.response_streaming:
                return grpc.unary_stream_rpc_method_handler(refuse)
            return grpc.unary_unary_rpc_method_handler(refuse)
        return continuation(handler_call_details)
