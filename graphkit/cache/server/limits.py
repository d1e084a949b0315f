"""Bounded work per client: a budget of concurrent calls, idle calls ended, health kept free.

grpcio's synchronous server runs each call on a thread and waits there, without a
deadline, for the client's next message. Thirty-two Write streams that never finish
once held all of its threads, and GetCapabilities and the health check queued behind
them forever. ``CallLimiter`` is a server interceptor that gives every call a place:

- **Heavy calls** (everything but the two below) take a slot from a budget of
  ``--max-concurrent-calls`` when they arrive and run on a pool of exactly that many
  threads. With no slot free, the call is answered RESOURCE_EXHAUSTED at once (Bazel
  and graphkit's client retry it with backoff) instead of queueing behind stuck ones.
- **Light calls** (``Health/Check``, ``GetCapabilities``) run on a small pool of their
  own, so a saturated server still tells load balancers and clients that it is alive.
- **Idle calls end.** A call that has waited on its client longer than
  ``--idle-timeout`` — for the next request message, or for the client to take the
  response being sent — is ended with DEADLINE_EXCEEDED and its slot freed. Light calls
  get a few seconds at most: their one small request arrives with the call.

Every method is handed to grpcio as client-streaming, whatever its proto says, so that
waiting for even a unary request happens in code that can be watched; the single
message is then passed to the service as grpcio would have. Rejections never read the
request. What this cannot prevent: more stalled light calls than their pool has
threads delay health answers until the stalled ones are cut (a few seconds).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from graphkit.cache.server.calls import Refused
from graphkit.cache.server.metrics import Metrics

log = logging.getLogger("graphkit.cache.server")

LIGHT_METHODS = frozenset(
    {
        "/grpc.health.v1.Health/Check",
        "/build.bazel.remote.execution.v2.Capabilities/GetCapabilities",
    }
)
# Threads for light calls and for answering rejections; one more than the light
# budget, so a rejection never waits behind light calls.
LIGHT_CALLS = 16
# A light call's one request travels with the call; waiting longer is an attack.
LIGHT_WAIT_SECONDS = 5.0


class _Budget:
    """A counter of free slots, taken without blocking."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._free = slots
        self._lock = threading.Lock()
        self.last_given = time.monotonic()  # When a slot was last given back.

    def take(self) -> bool:
        with self._lock:
            if self._free == 0:
                return False
            self._free -= 1
            return True

    def give(self) -> None:
        with self._lock:
            self._free += 1
            self.last_given = time.monotonic()

    @property
    def used(self) -> int:
        with self._lock:
            return self.slots - self._free


class _Call:
    """One admitted call: when it started waiting on its client, and its slot."""

    __slots__ = ("_budget", "_done", "context", "idle_limit", "method", "timed_out", "waiting")

    def __init__(
        self, method: str, context: grpc.ServicerContext, budget: _Budget, idle_limit: float
    ) -> None:
        self.method = method
        self.context = context
        self.idle_limit = idle_limit
        self.waiting: float | None = None  # time.monotonic() when it began waiting
        self.timed_out = False
        self._budget = budget
        self._done = threading.Lock()

    def exit(self) -> None:
        """Give the slot back, once, whichever way the call ended."""
        if self._done.acquire(blocking=False):
            self._budget.give()

    def _wait_error(self, exc: grpc.RpcError | None) -> Refused:
        if self.timed_out:
            return Refused(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"no message from the client for {self.idle_limit:g} s (--idle-timeout)",
            )
        return Refused(grpc.StatusCode.CANCELLED, "the client went away during the call")

    def requests(self, iterator: Iterator[Any]) -> Iterator[Any]:
        """Pass the request messages through, timing each wait for the next one."""
        while True:
            self.waiting = time.monotonic()
            try:
                item = next(iterator)
            except StopIteration:
                return
            except grpc.RpcError as exc:  # The call was cancelled: by the client or by us.
                raise self._wait_error(exc) from None
            finally:
                self.waiting = None
            yield item

    def one(self, iterator: Iterator[Any]) -> Any:
        """The single request of a unary method."""
        for item in self.requests(iterator):
            return item
        raise Refused(
            grpc.StatusCode.UNIMPLEMENTED, f"{self.method} requires exactly one request message"
        )

    def responses(self, iterator: Iterator[Any]) -> Iterator[Any]:
        """Pass responses on, timing how long the client takes to accept each one."""
        try:
            for item in iterator:
                self.waiting = time.monotonic()  # grpcio asks for the next once this is sent
                yield item
                self.waiting = None
        finally:
            self.exit()


def _short(method: str) -> str:
    return method.rsplit("/", 1)[-1]


def _on_pool(behavior: Callable[..., Any], pool: ThreadPoolExecutor) -> Callable[..., Any]:
    # grpcio runs a behavior carrying this attribute on that pool instead of the server's.
    behavior.experimental_thread_pool = pool  # type: ignore[attr-defined]
    return behavior


class CallLimiter(grpc.ServerInterceptor):  # type: ignore[misc]
    """The interceptor, its two thread pools, and the watchdog that ends idle calls."""

    def __init__(self, max_calls: int, idle_timeout: float, metrics: Metrics) -> None:
        self._heavy = _Budget(max_calls)
        self._light = _Budget(LIGHT_CALLS)
        self._idle_timeout = idle_timeout
        self._metrics = metrics
        self.pool = ThreadPoolExecutor(max_workers=max_calls, thread_name_prefix="rpc")
        self._light_pool = ThreadPoolExecutor(
            max_workers=LIGHT_CALLS + 1, thread_name_prefix="rpc-light"
        )
        self._calls: set[_Call] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="idle-calls", daemon=True)
        self._watchdog.start()

    @property
    def in_flight(self) -> int:
        """Heavy calls holding a slot now."""
        return self._heavy.used

    def idle_for(self) -> float:
        """Seconds since the last heavy call ended; 0 while one is in flight."""
        if self._heavy.used:
            return 0.0
        return max(0.0, time.monotonic() - self._heavy.last_given)

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        # Runs on grpcio's polling thread: it must never block.
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        light = method in LIGHT_METHODS
        budget = self._light if light else self._heavy
        if not budget.take():
            return self._rejection(method, budget.slots, light)
        pool = self._light_pool if light else self.pool
        idle = min(self._idle_timeout, LIGHT_WAIT_SECONDS) if light else self._idle_timeout
        return self._admitted(handler, method, budget, pool, idle)

    def _rejection(self, method: str, slots: int, light: bool) -> Any:
        what = "health and capabilities calls" if light else "calls (--max-concurrent-calls)"
        message = f"server busy: all {slots} {what} are in progress; retry with backoff"
        metrics = self._metrics

        def reject(_requests: Any, context: grpc.ServicerContext) -> Any:
            metrics.observe(_short(method), "RESOURCE_EXHAUSTED", 0.0)
            metrics.add("calls_rejected")
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, message)

        # Client-streaming, so that the request is never waited for.
        return grpc.stream_unary_rpc_method_handler(_on_pool(reject, self._light_pool))

    def _admitted(
        self, handler: Any, method: str, budget: _Budget, pool: ThreadPoolExecutor, idle: float
    ) -> Any:
        behavior = (
            handler.unary_unary
            or handler.unary_stream
            or handler.stream_unary
            or handler.stream_stream
        )
        request_streaming = handler.request_streaming
        response_streaming = handler.response_streaming

        def run(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            call = self._enter(method, context, budget, idle)
            handed_on = False
            try:
                argument = call.requests(requests) if request_streaming else call.one(requests)
                result = behavior(argument, context)
                if response_streaming:
                    handed_on = True
                    return call.responses(result)
                return result
            except Refused as exc:  # Only from waiting for the request; services map their own.
                context.abort(exc.code, exc.message)
            finally:
                if not handed_on:
                    call.exit()

        make = (
            grpc.stream_stream_rpc_method_handler
            if response_streaming
            else grpc.stream_unary_rpc_method_handler
        )
        return make(
            _on_pool(run, pool),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _enter(
        self, method: str, context: grpc.ServicerContext, budget: _Budget, idle: float
    ) -> _Call:
        call = _Call(method, context, budget, idle)
        with self._lock:
            self._calls.add(call)

        def leave() -> None:
            with self._lock:
                self._calls.discard(call)
            call.exit()

        # Runs when the call ends however it ends, even if grpcio never asks for the
        # response iterator; call.exit() makes a second release a no-op.
        if not context.add_callback(leave):
            leave()
        return call

    def _watch(self) -> None:
        tick = max(0.05, min(1.0, self._idle_timeout / 4))
        while not self._stop.wait(tick):
            now = time.monotonic()
            with self._lock:
                idle = [
                    c
                    for c in self._calls
                    if c.waiting is not None and not c.timed_out and now - c.waiting > c.idle_limit
                ]
            for call in idle:
                self._end_idle(call)

    def _end_idle(self, call: _Call) -> None:
        call.timed_out = True
        message = f"no message from the client for {call.idle_limit:g} s (--idle-timeout)"
        self._metrics.add("calls_timed_out")
        log.info(
            "%s -> DEADLINE_EXCEEDED: %s",
            _short(call.method),
            message,
            extra={
                "event": "call_idle",
                "method": _short(call.method),
                "code": "DEADLINE_EXCEEDED",
                "peer": call.context.peer(),
            },
        )
        # grpcio's public cancel() tells the client only CANCELLED; the core call under
        # it can say why. Fall back to the public one should that attribute ever go.
        core = getattr(getattr(call.context, "_rpc_event", None), "call", None)
        try:
            core.cancel(grpc.StatusCode.DEADLINE_EXCEEDED.value[0], message)  # type: ignore[union-attr]
        except (AttributeError, TypeError):
            call.context.cancel()

    def close(self) -> None:
        """Stop the watchdog and let the pools' threads end once their calls have."""
        self._stop.set()
        self.pool.shutdown(wait=False)
        self._light_pool.shutdown(wait=False)
