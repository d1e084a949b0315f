"""The remote cache server commands: cache serve, cache stats, cache verify."""

from __future__ import annotations

import sys
from typing import Any

import click

from graphkit.cli import (
    FORMAT,
    main,
    reports_errors,
)

_FILE = click.Path(dir_okay=False)
_DIR = click.option(
    "--dir",
    "directory",
    required=True,
    metavar="PATH",
    type=click.Path(file_okay=False),
    help="cache directory",
)


@main.group()
def cache() -> None:
    """Run and inspect the REAPI v2 remote cache (Bazel, Buck2, Pants and graphkit clients)."""


@cache.command("serve")
@click.option("--listen", required=True, metavar="HOST:PORT", help="address to serve gRPC on")
@_DIR
@click.option("--max-size", required=True, metavar="SIZE", help="e.g. 50GiB; LRU beyond it")
@click.option(
    "--max-blob-size",
    metavar="SIZE",
    help="largest blob accepted (default: a quarter of --max-size)",
)
@click.option("--tokens", type=_FILE, help="TOML file of bearer tokens (name, scope, sha256)")
@click.option(
    "--allow-unauthenticated-reads",
    is_flag=True,
    help="with --tokens: let callers without a token read",
)
@click.option("--tls-cert", type=_FILE, help="server certificate (PEM)")
@click.option("--tls-key", type=_FILE, help="server private key (PEM)")
@click.option("--tls-client-ca", type=_FILE, help="require client certificates from this CA")
@click.option("--metrics-listen", metavar="HOST:PORT", help="serve Prometheus /metrics here")
@click.option(
    "--max-concurrent-calls",
    metavar="N",
    default="64",
    show_default=True,
    help="calls in progress at once; more get RESOURCE_EXHAUSTED",
)
@click.option(
    "--idle-timeout",
    metavar="DURATION",
    default="60s",
    show_default=True,
    help="end a call that waits this long on its client",
)
@click.option(
    "--keepalive",
    metavar="DURATION",
    default="60s",
    show_default=True,
    help="ping quiet connections this often; close them if unanswered",
)
@click.option(
    "--max-connection-age",
    metavar="DURATION",
    default="1h",
    show_default=True,
    help="ask clients to reconnect after this long (calls get 5 min to finish)",
)
@click.option(
    "--backend",
    metavar="URL",
    help="shared bucket behind the local store: s3://bucket/prefix, gs://..., az://...",
)
@click.option("--backend-endpoint", metavar="URL", help="S3 endpoint [or AWS_ENDPOINT_URL]")
@click.option("--backend-region", metavar="REGION", help="bucket region [or AWS_REGION]")
@click.option(
    "--backend-timeout",
    metavar="DURATION",
    default="10s",
    show_default=True,
    help="longest a call to the bucket may take before the front answers alone",
)
@click.option(
    "--max-queued-uploads",
    metavar="N",
    default="100000",
    show_default=True,
    help="writes queued for the bucket; past it a write uploads before it is acknowledged",
)
@FORMAT
@reports_errors
def cache_serve(
    listen: str,
    directory: str,
    max_size: str,
    tokens: str | None,
    allow_unauthenticated_reads: bool,
    tls_cert: str | None,
    tls_key: str | None,
    tls_client_ca: str | None,
    metrics_listen: str | None,
    max_concurrent_calls: str,
    idle_timeout: str,
    keepalive: str,
    max_connection_age: str,
    fmt: str,
    max_blob_size: str | None = None,
    backend: str | None = None,
    backend_endpoint: str | None = None,
    backend_region: str | None = None,
    backend_timeout: str = "10s",
    max_queued_uploads: str = "100000",
) -> None:
    """Serve a cache-only Remote Execution API v2 endpoint until SIGTERM."""
    import json
    from pathlib import Path

    from graphkit.cache.server import logs, options, serve
    from graphkit.cache.store.objects import BackendOptions, parse_backend_url

    def path(text: str | None) -> Path | None:
        return Path(text) if text is not None else None

    size_limit = options.parse_size(max_size)
    opts = options.ServeOptions(
        listen=options.parse_address(listen),
        directory=Path(directory),
        max_size=size_limit,
        max_blob_size=options.parse_max_blob_size(max_blob_size, size_limit),
        tokens=path(tokens),
        allow_unauthenticated_reads=allow_unauthenticated_reads,
        tls=options.tls_files(path(tls_cert), path(tls_key), path(tls_client_ca)),
        metrics_listen=(
            options.parse_address(metrics_listen, option="--metrics-listen")
            if metrics_listen
            else None
        ),
        max_concurrent_calls=options.parse_count(
            max_concurrent_calls, option="--max-concurrent-calls"
        ),
        idle_timeout_seconds=options.parse_seconds(idle_timeout, option="--idle-timeout"),
        keepalive_seconds=options.parse_seconds(keepalive, option="--keepalive"),
        max_connection_age_seconds=options.parse_seconds(
            max_connection_age, option="--max-connection-age"
        ),
        backend=(
            BackendOptions(
                parse_backend_url(backend),
                endpoint=backend_endpoint,
                region=backend_region,
                timeout_seconds=options.parse_seconds(backend_timeout, option="--backend-timeout"),
            )
            if backend
            else None
        ),
        max_queued_uploads=options.parse_count(max_queued_uploads, option="--max-queued-uploads"),
    )
    logs.configure()

    def ready(endpoints: Any) -> None:
        data = {
            "event": "serving",
            "host": opts.listen.host,
            "port": endpoints.grpc_port,
            "metrics_port": endpoints.metrics_port,
            "directory": str(directory),
        }
        text = f"graphkit cache: serving on {opts.listen.host}:{endpoints.grpc_port}"
        if endpoints.metrics_port is not None:
            text += f" (metrics on port {endpoints.metrics_port})"
        click.echo(json.dumps(data, sort_keys=True) if fmt == "json" else text)
        sys.stdout.flush()

    serve.serve(opts, ready)


@cache.command("stats")
@_DIR
@FORMAT
@reports_errors
def cache_stats(directory: str, fmt: str) -> None:
    """Entries, bytes and hit rates of a cache directory."""
    import json
    from pathlib import Path

    from graphkit.cache.server.stats import read_stats

    stats = read_stats(Path(directory))
    if fmt == "json":
        click.echo(json.dumps(stats.as_json(), sort_keys=True))
        return

    def rate(value: float | None, hits: int, misses: int) -> str:
        return (
            "n/a (no lookups yet)"
            if value is None
            else (f"{value:.1%} ({hits} of {hits + misses})")
        )

    c = stats.counts
    rows = [
        ("directory", stats.directory),
        ("entries", str(stats.entries)),
        ("bytes", f"{stats.bytes} ({stats.bytes / 2**20:.1f} MiB)"),
        ("action cache hit rate", rate(stats.ac_hit_rate, c.ac_hits, c.ac_misses)),
        ("blob hit rate", rate(stats.cas_hit_rate, c.cas_hits, c.cas_misses)),
        ("bytes received", str(c.bytes_in)),
        ("bytes sent", str(c.bytes_out)),
        ("evictions", str(c.evictions)),
        ("upload queue", str(stats.upload_queue)),
    ]
    width = max(len(k) for k, _ in rows)
    click.echo("\n".join(f"{k:<{width}}  {v}" for k, v in rows))


@cache.command("verify")
@_DIR
@click.option("--repair", is_flag=True, help="remove damaged entries and orphaned files")
@FORMAT
@reports_errors
def cache_verify(directory: str, repair: bool, fmt: str) -> None:
    """Check every entry of a cache directory against its digest.

    Exits 0 when nothing is damaged (or, with --repair, when the damage was removed),
    1 when damage was found and left in place, 2 when DIR is not a cache directory.
    """
    import json
    from pathlib import Path

    from graphkit.cache.store.verify import verify_cache
    from graphkit.errors import TaskFailed

    report = verify_cache(Path(directory), repair=repair)
    if fmt == "json":
        click.echo(json.dumps(report.as_json(), sort_keys=True))
    else:
        done = "removed" if repair else "found"
        lines = [f"checked {report.entries} entries in {report.directory}"]
        if report.index_problem is not None:
            fix = "moved aside to cache.db.damaged, rebuilt empty" if repair else "not checked"
            lines.append(f"index damaged: {report.index_problem} ({fix})")
        lines += [f"damaged {d.key}: {d.problem}" for d in report.damaged]
        if report.orphans.files:
            lines.append(
                f"orphaned files {done}: {report.orphans.files} ({report.orphans.bytes} bytes)"
            )
        if report.clean:
            lines.append("no damage found")
        else:
            lines.append(f"{len(report.damaged)} damaged entries {done}")
        click.echo("\n".join(lines))
    if not report.clean and not repair:
        raise TaskFailed("the cache has damage; run with --repair to remove it")
