"""``graphkit cache serve``: a cache-only REAPI v2 server over grpcio.

Assembles the services (Capabilities here; CAS, ActionCache and ByteStream in their
modules), the standard gRPC health service, bearer-token auth, TLS, metrics, and the
process lifecycle: SIGTERM or SIGINT marks the server NOT_SERVING, stops accepting
calls, and lets calls in flight finish within the grace period.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message_factory
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from graphkit.cache.deadline import NO_DEADLINE, Deadline
from graphkit.cache.names import instance_name
from graphkit.cache.protocol import bs_pb2, re_grpc, re_pb2, semver_pb2
from graphkit.cache.server.actioncache import ActionCacheService
from graphkit.cache.server.auth import AuthInterceptor, Authorizer, load_tokens
from graphkit.cache.server.bytestream import ByteStreamService
from graphkit.cache.server.calls import unary
from graphkit.cache.server.cas import CasService
from graphkit.cache.server.limits import CallLimiter
from graphkit.cache.server.metrics import Counts, Metrics
from graphkit.cache.server.metrics_endpoint import MetricsServer
from graphkit.cache.server.options import ServeOptions
from graphkit.cache.server.stats import load_counts, save_counts
from graphkit.cache.server.tls import server_credentials
from graphkit.cache.store.base import ServedStore
from graphkit.cache.store.fronted import QUIET_SECONDS, BackendHealth, FrontedStore, Uploader
from graphkit.cache.store.local import DiskBackend, LocalStore
from graphkit.cache.store.objects import ObjectStore
from graphkit.cache.store.uploads import UploadQueue
from graphkit.errors import CacheError, InputError

log = logging.getLogger("graphkit.cache.server")

SERVICES = (
    "build.bazel.remote.execution.v2.ActionCache",
    "build.bazel.remote.execution.v2.Capabilities",
    "build.bazel.remote.execution.v2.ContentAddressableStorage",
    bs_pb2.DESCRIPTOR.services_by_name["ByteStream"].full_name,
)
STATS_FLUSH_SECONDS = 30.0
# Health service name that is NOT_SERVING while the object store fails (the server
# itself stays SERVING: it answers from its front store).
BACKEND_SERVICE = "graphkit.cache.ObjectStore"


class CapabilitiesService(re_grpc.CapabilitiesServicer):
    """What this server supports, in the form Bazel 4.2 checks before any build."""

    def __init__(self, metrics: Metrics, max_batch: int, can_write: Callable[[Any], bool]) -> None:
        self.metrics = metrics
        self._max_batch = max_batch
        self._can_write = can_write

    @unary("GetCapabilities")
    def GetCapabilities(self, request: Any, context: grpc.ServicerContext) -> Any:
        instance_name(request.instance_name)
        cache = re_pb2.CacheCapabilities(
            digest_functions=[re_pb2.DigestFunction.SHA256],
            action_cache_update_capabilities=re_pb2.ActionCacheUpdateCapabilities(
                update_enabled=self._can_write(context.invocation_metadata())
            ),
            cache_priority_capabilities=re_pb2.PriorityCapabilities(
                priorities=[re_pb2.PriorityCapabilities.PriorityRange()]
            ),
            max_batch_total_size_bytes=self._max_batch,
            # A cache-only server never materializes outputs, so any target is fine.
            symlink_absolute_path_strategy=re_pb2.SymlinkAbsolutePathStrategy.ALLOWED,
        )
        # Bazel 4.2 speaks exactly 2.0 and rejects a server whose low version is unset.
        return re_pb2.ServerCapabilities(
            cache_capabilities=cache,
            deprecated_api_version=semver_pb2.SemVer(major=2),
            low_api_version=semver_pb2.SemVer(major=2),
            high_api_version=semver_pb2.SemVer(major=2, minor=3),
        )


def _to_wire(response: Any) -> bytes:
    """Serialize a response message, or pass through bytes a handler already encoded."""
    if isinstance(response, bytes):
        return response
    data: bytes = response.SerializeToString()
    return data


_HANDLER_KINDS = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def add_service(
    server: grpc.Server, service: Any, servicer: Any, raw_requests: frozenset[str] = frozenset()
) -> None:
    """Register every method of ``service`` (a protobuf ServiceDescriptor).

    What the generated ``add_*Servicer_to_server`` functions do, except that a handler
    may answer with bytes it already encoded: the action cache stores results
    serialized, and ByteStream and batch reads frame blob bytes without first copying
    them into a message (see ``wire``). Methods named in ``raw_requests`` get their
    requests as received bytes (ByteStream Write parses them without a copy).
    """
    handlers = {}
    for method in service.methods:
        make = _HANDLER_KINDS[(method.client_streaming, method.server_streaming)]
        parse = message_factory.GetMessageClass(method.input_type).FromString
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=None if method.name in raw_requests else parse,
            response_serializer=_to_wire,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    server.add_registered_method_handlers(service.full_name, handlers)


def server_options(opts: ServeOptions) -> list[tuple[str, int]]:
    """grpcio channel arguments of the server: message sizes, memory, connection lifetime."""

    def ms(seconds: float) -> int:
        return max(1, round(seconds * 1000))

    return [
        # Room for a full batch plus per-blob framing.
        ("grpc.max_receive_message_length", opts.max_batch_bytes + (1 << 20)),
        ("grpc.max_send_message_length", -1),
        # Never share a port silently with another process.
        ("grpc.so_reuseport", 0),
        # Bounded memory: with bandwidth-delay probing gRPC grows each stream's
        # flow-control window to several MiB, all of it buffered in the server
        # when uploads arrive faster than they are hashed, so 16 concurrent
        # uploads peaked anywhere between 240 and 330 MiB depending on timing.
        # Without it the fixed windows keep the peak near 170 MiB at the same
        # load-test speed.
        ("grpc.http2.bdp_probe", 0),
        # Keepalive: ping every client connection when it has been quiet this long and
        # close it if the ping is not answered, so a vanished peer (no FIN, e.g. a killed
        # VM) does not hold its calls and their slots forever. Pings are sent whether or
        # not data flows (max_pings_without_data 0: no limit).
        ("grpc.keepalive_time_ms", ms(opts.keepalive_seconds)),
        ("grpc.keepalive_timeout_ms", ms(min(opts.keepalive_seconds, 20.0))),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.keepalive_permit_without_calls", 1),
        # Clients may ping as often as every 10 s (Bazel's --grpc_keepalive_time) without
        # being told "too many pings" and disconnected.
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
        # No connection lives forever: past its age it is asked to go away (clients
        # reconnect, behind a load balancer possibly elsewhere) and calls still running
        # get the grace period, then the connection is closed.
        ("grpc.max_connection_age_ms", ms(opts.max_connection_age_seconds)),
        ("grpc.max_connection_age_grace_ms", ms(opts.connection_age_grace_seconds)),
    ]


@dataclass(frozen=True)
class Endpoints:
    """Where a started server listens (ports resolved when 0 was asked for)."""

    grpc_port: int
    metrics_port: int | None


class CacheServer:
    """One running cache server: gRPC services, health, optional metrics endpoint."""

    def __init__(self, options: ServeOptions, metrics: Metrics | None = None) -> None:
        self.options = options
        # Checked first: a bad TLS file is an input error before anything is opened.
        self._credentials = None if options.tls is None else server_credentials(options.tls)
        self.metrics = metrics or Metrics()
        self._backend = DiskBackend(
            options.directory,
            options.max_size,
            max_blob_size=options.max_blob_size,
            on_evict=lambda n: self.metrics.add("evictions", n),
            orphan_grace=0.0,  # The server owns its directory: every orphan is stale.
        )
        if self._backend.swept.files:
            log.warning(
                "removed %d files left by an earlier process (%d bytes)",
                self._backend.swept.files,
                self._backend.swept.bytes,
                extra={
                    "event": "orphans_swept",
                    "files": self._backend.swept.files,
                    "bytes": self._backend.swept.bytes,
                },
            )
        self._base_counts = _saved_counts(options)
        self._namespaces: dict[str, ServedStore] = {}
        self._fronts: dict[str, LocalStore] = {}
        self._health = health.HealthServicer(experimental_non_blocking=True)
        self._objects: ObjectStore | None = None
        self._uploader: Uploader | None = None
        if options.backend is not None:
            self._attach_backend(options)
        self._metrics_http: MetricsServer | None = None
        self._stop_flush = threading.Event()
        self._limiter = CallLimiter(
            options.max_concurrent_calls, options.idle_timeout_seconds, self.metrics
        )
        self.metrics.gauge("calls_in_flight", lambda: self._limiter.in_flight)
        self.endpoints: Endpoints | None = None
        self._server = self._build()

    @property
    def calls_in_flight(self) -> int:
        """Calls holding one of the ``max_concurrent_calls`` slots now."""
        return self._limiter.in_flight

    def _attach_backend(self, options: ServeOptions) -> None:
        """Put the shared bucket behind the local store (which becomes its front)."""
        assert options.backend is not None
        self._objects = ObjectStore(options.backend)
        self._queue = UploadQueue(options.directory, options.max_queued_uploads)
        self._backend_health = BackendHealth(self._backend_health_changed)
        self._uploader = Uploader(
            self._queue,
            self._objects,
            self._front,
            self._backend_health,
            on_lost=lambda n: self.metrics.add("uploads_lost", n),
            # Calls first: busy until no call has run for QUIET_SECONDS (one client's
            # gap between two calls is not a pause). The limiter exists by the time
            # the uploader starts.
            busy=lambda: self._limiter.idle_for() < QUIET_SECONDS,
        )
        self.metrics.gauge("upload_queue_entries", lambda: len(self._queue))
        self.metrics.gauge("backend_degraded", lambda: int(self._backend_health.degraded))

    def _backend_health_changed(self, degraded: bool) -> None:
        status = health_pb2.HealthCheckResponse
        self._health.set(BACKEND_SERVICE, status.NOT_SERVING if degraded else status.SERVING)

    def _front(self, instance: str) -> LocalStore:
        store = self._fronts.get(instance)
        if store is None:
            store = self._fronts.setdefault(instance, self._backend.namespace(instance))
        return store

    def _store(self, instance: str, deadline: Deadline = NO_DEADLINE) -> ServedStore:
        """The store of an instance name, for one call ending by ``deadline``."""
        store = self._namespaces.get(instance)
        if store is None:
            front = self._front(instance)
            served: ServedStore = front
            if self._objects is not None:
                served = FrontedStore(
                    front, instance, self._objects, self._queue, self._backend_health
                )
            store = self._namespaces.setdefault(instance, served)
        if isinstance(store, FrontedStore):
            return store.within(deadline)
        return store

    def _build(self) -> grpc.Server:
        opts = self.options
        # The limiter comes first: a call past the budget is refused before anything else.
        interceptors: list[grpc.ServerInterceptor] = [self._limiter]
        can_write: Callable[[Any], bool] = lambda _metadata: True  # noqa: E731
        if opts.tokens is not None:
            authorizer = Authorizer(
                load_tokens(opts.tokens),
                allow_unauthenticated_reads=opts.allow_unauthenticated_reads,
            )
            interceptors.append(AuthInterceptor(authorizer))
            can_write = authorizer.can_write
        elif opts.allow_unauthenticated_reads:
            raise InputError("--allow-unauthenticated-reads needs --tokens")
        server = grpc.server(
            self._limiter.pool, interceptors=interceptors, options=server_options(opts)
        )
        metrics, max_batch = self.metrics, opts.max_batch_bytes
        re_services = re_pb2.DESCRIPTOR.services_by_name
        add_service(
            server, re_services["Capabilities"], CapabilitiesService(metrics, max_batch, can_write)
        )
        add_service(
            server,
            re_services["ContentAddressableStorage"],
            CasService(self._store, metrics, max_batch),
        )
        add_service(server, re_services["ActionCache"], ActionCacheService(self._store, metrics))
        add_service(
            server,
            bs_pb2.DESCRIPTOR.services_by_name["ByteStream"],
            ByteStreamService(self._store, metrics),
            raw_requests=frozenset({"Write"}),
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        return server

    def start(self) -> Endpoints:
        """Bind, start serving, and report the bound ports."""
        address = str(self.options.listen)
        credentials = self._credentials
        try:
            if credentials is None:
                port = self._server.add_insecure_port(address)
            else:
                port = self._server.add_secure_port(address, credentials)
        except RuntimeError as exc:
            raise CacheError(f"cannot listen on {address}: {exc}") from exc
        self._server.start()
        for name in ("", *SERVICES):
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        if self._uploader is not None:
            self._backend_health_changed(self._backend_health.degraded)
            self._uploader.start()
        metrics_port = None
        if self.options.metrics_listen is not None:
            m = self.options.metrics_listen
            try:
                self._metrics_http = MetricsServer(self.metrics, m.host, m.port)
            except OSError as exc:
                raise CacheError(f"cannot serve metrics on {m}: {exc.strerror}") from exc
            self._metrics_http.start()
            metrics_port = self._metrics_http.port
        threading.Thread(target=self._flush_loop, name="stats-flush", daemon=True).start()
        self.endpoints = Endpoints(port, metrics_port)
        log.info(
            "serving on %s:%d",
            self.options.listen.host,
            port,
            extra={
                "event": "serving",
                "port": port,
                "directory": str(self.options.directory),
                "max_size": self.options.max_size,
                "max_blob_size": self._backend.max_blob_size,
                "auth": self.options.tokens is not None,
                "tls": self.options.tls is not None,
                "max_concurrent_calls": self.options.max_concurrent_calls,
                "idle_timeout_seconds": self.options.idle_timeout_seconds,
                "backend": self.options.backend.url if self.options.backend else None,
            },
        )
        return self.endpoints

    def _flush_loop(self) -> None:
        while not self._stop_flush.wait(STATS_FLUSH_SECONDS):
            self.flush_stats()

    def flush_stats(self) -> None:
        """Persist hit/miss counters for ``graphkit cache stats``."""
        try:
            save_counts(self.options.directory, self._base_counts + self.metrics.counts())
        except OSError as exc:
            log.warning("cannot save statistics: %s", exc, extra={"event": "stats_failed"})

    def stop(self, grace: float | None = None) -> None:
        """Refuse new calls, let calls in flight finish within ``grace`` seconds, close."""
        grace = self.options.grace_seconds if grace is None else grace
        self._health.enter_graceful_shutdown()
        self._server.stop(grace).wait()
        self._limiter.close()
        if self._uploader is not None:
            self._uploader.stopping()
        if self._objects is not None:
            self._objects.close()  # Cancels the requests in flight, the uploader's too.
        if self._uploader is not None:
            self._uploader.stop()  # What is left stays queued on disk for the next start.
        self._stop_flush.set()
        self.flush_stats()
        if self._metrics_http is not None:
            self._metrics_http.close()
        self._backend.close()
        log.info("stopped", extra={"event": "stopped"})


def _saved_counts(options: ServeOptions) -> Counts:
    """The saved counters, or zeros (with a warning) when ``stats.json`` is damaged.

    Statistics are not worth refusing to serve for; the next save replaces the file.
    """
    try:
        return load_counts(options.directory)
    except InputError as exc:
        log.warning(
            "%s; counting from zero", exc, extra={"event": "stats_damaged", "error": str(exc)}
        )
        return Counts()


def serve(options: ServeOptions, on_ready: Callable[[Endpoints], None]) -> None:
    """Run a server until SIGTERM or SIGINT, then shut it down gracefully."""
    server = CacheServer(options)
    stop = threading.Event()
    received: list[int] = []

    def request_stop(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        on_ready(server.start())
        while not stop.wait(1.0):  # A timeout keeps the main thread responsive to signals.
            pass
        log.info(
            "shutting down",
            extra={
                "event": "shutting_down",
                "signal": signal.Signals(received[0]).name,
                "grace_seconds": options.grace_seconds,
            },
        )
        server.stop()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
