"""How every service call is measured, logged, and turned into a gRPC status.

Service code raises instead of calling ``context.abort`` itself: ``InvalidRequest``
(INVALID_ARGUMENT), ``Refused`` (any other status), ``DeadlineReached`` (a backend
call cut at the client's deadline: DEADLINE_EXCEEDED) and ``CacheError`` (INTERNAL). The
wrappers here record the outcome in Metrics, log every failure as one structured
record, and answer the caller with a message that says what was wrong.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any, TypeVar

import grpc

from graphkit.cache.deadline import Deadline
from graphkit.cache.digest import InvalidRequest
from graphkit.cache.server.metrics import Metrics
from graphkit.cache.store.objects import DeadlineReached
from graphkit.errors import CacheError

log = logging.getLogger("graphkit.cache.server")

R = TypeVar("R")


class Refused(Exception):
    """A call answered with a non-OK status other than INVALID_ARGUMENT."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Expected outcomes that are part of normal traffic and would flood an INFO log.
_QUIET = {("GetActionResult", grpc.StatusCode.NOT_FOUND)}


def _status(exc: Exception) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, Refused):
        return exc.code, exc.message
    if isinstance(exc, InvalidRequest):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, DeadlineReached):
        return grpc.StatusCode.DEADLINE_EXCEEDED, str(exc)
    if isinstance(exc, CacheError):
        return grpc.StatusCode.INTERNAL, str(exc)
    log.exception("unexpected error", extra={"event": "internal_error"})
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}"


def _finish(
    metrics: Metrics,
    method: str,
    start: float,
    context: grpc.ServicerContext,
    exc: Exception | None,
) -> None:
    if exc is None:
        metrics.observe(method, "OK", time.perf_counter() - start)
        return
    code, message = _status(exc)
    metrics.observe(method, code.name, time.perf_counter() - start)
    level = logging.DEBUG if (method, code) in _QUIET else logging.INFO
    log.log(
        level,
        "%s -> %s: %s",
        method,
        code.name,
        message,
        extra={"event": "call_failed", "method": method, "code": code.name, "peer": context.peer()},
    )
    context.abort(code, message)


def deadline_of(context: grpc.ServicerContext) -> Deadline:
    """The call's deadline, as the stores take it."""
    return Deadline.after(context.time_remaining())


def unary(method: str) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Wrap a unary-response handler (unary or client-streaming request)."""

    def decorate(func: Callable[..., R]) -> Callable[..., R]:
        @wraps(func)
        def handler(self: Any, request: Any, context: grpc.ServicerContext) -> R:
            start = time.perf_counter()
            try:
                result = func(self, request, context)
            except Exception as exc:  # Mapped to a status, never swallowed.
                _finish(self.metrics, method, start, context, exc)
                raise  # Unreachable: context.abort raises.
            _finish(self.metrics, method, start, context, None)
            return result

        return handler

    return decorate


def streaming(method: str) -> Callable[[Callable[..., Iterator[R]]], Callable[..., Iterator[R]]]:
    """Wrap a server-streaming handler."""

    def decorate(func: Callable[..., Iterator[R]]) -> Callable[..., Iterator[R]]:
        @wraps(func)
        def handler(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[R]:
            start = time.perf_counter()
            try:
                yield from func(self, request, context)
            except Exception as exc:
                _finish(self.metrics, method, start, context, exc)
                raise
            _finish(self.metrics, method, start, context, None)

        return handler

    return decorate
