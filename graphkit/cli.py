"""The graphkit command line: parse -> call -> render -> print.

This is the only module that prints and the only one that imports click. Library
modules are imported inside the commands so that ``graphkit --help`` starts fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from graphkit import __version__
from graphkit.errors import GraphkitError

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    """Print a GraphkitError as one ``graphkit: error: ...`` line and exit with its code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GraphkitError as exc:
            click.echo(f"graphkit: error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="graphkit")
def main() -> None:
    """graphkit: which targets does this change affect? Build, test and cache exactly those."""


FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for machines",
)
ON_UNKNOWN = click.option(
    "--on-unknown",
    type=click.Choice(["error", "all"]),
    default="error",
    show_default=True,
    help="when the base cannot be known (shallow clone, broken manifest): fail, or affect all",
)
BASE = click.option(
    "--base", metavar="REV", help="base revision [default: merge-base with the default branch]"
)
HEAD = click.option("--head", metavar="REV", help="head revision [default: the worktree]")


def _emit(fmt: str, data: Any, text: str) -> None:
    from graphkit.render import to_json

    click.echo(to_json(data) if fmt == "json" else text)


def _session() -> Any:
    from graphkit.session import Session

    return Session.open(".")


@main.command()
@BASE
@HEAD
@click.option(
    "--rule",
    "rules",
    multiple=True,
    metavar="KIND",
    help="only targets of this rule kind (repeatable)",
)
@click.option(
    "--files",
    "list_files",
    is_flag=True,
    help="also list the test files that must run, for rules that shard by file",
)
@ON_UNKNOWN
@FORMAT
@reports_errors
def affected(
    base: str | None,
    head: str | None,
    rules: tuple[str, ...],
    list_files: bool,
    on_unknown: str,
    fmt: str,
) -> None:
    """List the targets a change affects, each with its reason.

    Compares BASE with HEAD; without --head, the worktree (staged, unstaged and
    untracked files). Exits 0 whether or not anything is affected.
    """
    from graphkit import render

    with _session() as session:
        result = session.compare(base, head, on_unknown=on_unknown)
        found = result.affected
        if rules:
            unknown = sorted(set(rules) - set(result.head.graph.rules))
            if unknown:
                from graphkit.errors import InputError
                from graphkit.labels import did_you_mean

                raise InputError(
                    f"unknown rule kind {unknown[0]!r}",
                    hint=did_you_mean(unknown[0], result.head.graph.rules),
                )
            base_graph = result.base_side.graph if result.base_side else None
            found = found.only_rules(result.head.graph, base_graph, set(rules))
        head_sha = result.head.revision.sha
        data = render.affected_json(result.base.sha, head_sha, found)
        text = render.affected_text(result.base.sha, head_sha, found)
        if list_files:
            from graphkit.filetests import select_test_files

            loaded = result.head
            selection = select_test_files(
                loaded.graph, loaded.side.snapshot, session.workspace.read, found
            )
            data = render.with_files(data, selection)
            text = f"{text}\n{render.files_text(selection)}"
        _emit(fmt, data, text)


@main.command()
@click.argument("label")
@BASE
@HEAD
@ON_UNKNOWN
@FORMAT
@reports_errors
def why(label: str, base: str | None, head: str | None, on_unknown: str, fmt: str) -> None:
    """Show the chain from a changed file to LABEL."""
    from graphkit import render

    with _session() as session:
        result = session.compare(base, head, on_unknown=on_unknown)
        resolved = result.head.graph.resolve(label)
        _emit(
            fmt,
            render.why_json(resolved, result.affected),
            render.why_text(resolved, result.affected),
        )


@main.command()
@click.argument("label")
@click.option("--rev", metavar="REV", help="revision to explain [default: the worktree]")
@click.option("--diff", "diff_base", metavar="BASE", help="name the inputs that differ from BASE")
@FORMAT
@reports_errors
def explain(label: str, rev: str | None, diff_base: str | None, fmt: str) -> None:
    """Print every input of LABEL's content key (or, with --diff, those that changed)."""
    from graphkit import render
    from graphkit.keys import trace_difference

    with _session() as session:
        head = session.load(rev)
        if diff_base is None:
            resolved = head.graph.resolve(label)
            record = head.keys(only=[resolved])[resolved]
            _emit(
                fmt,
                render.key_json(record, head.graph),
                render.key_text(record, head.graph),
            )
            return
        base = session.load(diff_base)
        graph = head.graph if label_in(head.graph, label) else base.graph
        resolved = graph.resolve(label)
        after = _records(head, resolved)
        before = _records(base, resolved)
        levels = trace_difference(before, after, resolved)
        _emit(
            fmt,
            render.key_diff_json(resolved, before.get(resolved), after.get(resolved), levels),
            render.key_diff_text(resolved, before.get(resolved), after.get(resolved), levels),
        )


def label_in(graph: Any, text: str) -> bool:
    """True when ``text`` names a target of ``graph``."""
    from graphkit.errors import InputError

    try:
        graph.resolve(text)
    except InputError:
        return False
    return True


def _records(loaded: Any, label: Any) -> Any:
    """Key records of ``label`` and everything it depends on, or {} if it is absent."""
    if label not in loaded.graph.targets:
        return {}
    return loaded.keys(only=[label])


@main.command()
@click.option("--check", is_flag=True, help="change nothing; exit 1 when deps are missing (CI)")
@FORMAT
@reports_errors
def tidy(check: bool, fmt: str) -> None:
    """Add the deps that imports need to BUILD.toml files (or, with --check, list them)."""
    from graphkit import render
    from graphkit.errors import TaskFailed
    from graphkit.tidy import add_deps, find_drift, manifest_edits
    from graphkit.tomldoc import load_toml

    with _session() as session:
        loaded = session.load(None)
        drift = find_drift(loaded.graph, loaded.side.snapshot, session.workspace.read)
        edits = manifest_edits(loaded.graph, drift)
        root = session.workspace.root
    _emit(fmt, render.drift_json(drift, edits, check), render.drift_text(drift, edits, check))
    if check:
        if not drift.clean:
            raise TaskFailed(f"{len(drift.missing)} target(s) import what they do not depend on")
        return
    # Edit every manifest in memory and check it still parses before writing any.
    new_texts = {}
    for manifest, additions in edits.items():
        text = add_deps((root / manifest).read_text(), manifest, additions)
        load_toml(text.encode(), manifest)
        new_texts[manifest] = text
    for manifest, text in new_texts.items():
        _write_file(str(root / manifest), text)


@main.group()
def query() -> None:
    """Ask the graph: deps, rdeps, owners, unowned."""


@query.command("deps")
@click.argument("label")
@click.option("--transitive", is_flag=True, help="all the way down")
@click.option("--rev", metavar="REV", help="revision [default: the worktree]")
@FORMAT
@reports_errors
def query_deps(label: str, transitive: bool, rev: str | None, fmt: str) -> None:
    """What LABEL depends on."""
    _query_edges(label, transitive, rev, fmt, reverse=False)


@query.command("rdeps")
@click.argument("label")
@click.option("--transitive", is_flag=True, help="all the way up")
@click.option("--rev", metavar="REV", help="revision [default: the worktree]")
@FORMAT
@reports_errors
def query_rdeps(label: str, transitive: bool, rev: str | None, fmt: str) -> None:
    """What depends on LABEL."""
    _query_edges(label, transitive, rev, fmt, reverse=True)


def _query_edges(label: str, transitive: bool, rev: str | None, fmt: str, *, reverse: bool) -> None:
    from graphkit.render import labels_text

    with _session() as session:
        graph = session.load(rev).graph
        resolved = graph.resolve(label)
        found = (graph.rdeps if reverse else graph.deps)(resolved, transitive=transitive)
        key = "rdeps" if reverse else "deps"
        _emit(
            fmt,
            {"label": str(resolved), "transitive": transitive, key: [str(x) for x in found]},
            labels_text(found),
        )


@query.command("owners")
@click.argument("paths", nargs=-1, required=True)
@click.option("--rev", metavar="REV", help="revision [default: the worktree]")
@FORMAT
@reports_errors
def query_owners(paths: tuple[str, ...], rev: str | None, fmt: str) -> None:
    """The targets whose inputs include each PATH (repo-relative or relative to here)."""
    with _session() as session:
        graph = session.load(rev).graph
        owners = {p: [str(x) for x in graph.owners(_repo_relative(session, p))] for p in paths}
        text = "\n".join(f"{p}: {' '.join(o) or '(unowned)'}" for p, o in owners.items())
        _emit(fmt, {"owners": owners}, text)


def _repo_relative(session: Any, path: str) -> str:
    from pathlib import Path

    from graphkit.paths import repo_path

    full = (Path.cwd() / path).resolve()
    root = session.workspace.root
    if full == root or root in full.parents:
        return repo_path(full.relative_to(root).as_posix())
    return repo_path(path)


@query.command("unowned")
@click.option("--rev", metavar="REV", help="revision [default: the worktree]")
@FORMAT
@reports_errors
def query_unowned(rev: str | None, fmt: str) -> None:
    """Files that lie outside every package."""
    with _session() as session:
        loaded = session.load(rev)
        found = loaded.graph.unowned(loaded.side.snapshot)
        _emit(fmt, {"unowned": found}, "\n".join(found))


@main.command("graph")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "dot"]), default="json", show_default=True
)
@click.option("--rev", metavar="REV", help="revision [default: the worktree]")
@click.option(
    "--affected", "only_affected", is_flag=True, help="only affected targets and their files"
)
@BASE
@reports_errors
def graph_command(fmt: str, rev: str | None, only_affected: bool, base: str | None) -> None:
    """Print the file graph (targets, files; deps and owns edges)."""
    from graphkit import render
    from graphkit.graph import file_graph

    with _session() as session:
        loaded = session.load(rev)
        full = file_graph(loaded.graph, loaded.side.snapshot)
        if only_affected:
            hit = {str(x) for x in session.compare(base, rev).affected.targets}
            keep = hit | {
                b for a, b in full.edges if a in hit and full.edges[a, b]["kind"] == "owns"
            }
            full = full.subgraph(keep)
        click.echo(
            render.to_json(render.graph_json(full)) if fmt == "json" else render.graph_dot(full)
        )


SHARDS = click.option(
    "--shards",
    default="auto",
    show_default=True,
    metavar="N|auto",
    help="how many shards: a number, or auto (from recorded durations)",
)


def _shards(text: str) -> Any:
    if text == "auto":
        return "auto"
    if not text.isdigit() or int(text) < 1:
        from graphkit.errors import InputError

        raise InputError(f"--shards must be a positive number or 'auto', not {text!r}")
    return int(text)


def _cache_root(session: Any, cache_dir: str | None) -> Any:
    """Where this machine keeps its cache and history: --cache-dir, graphkit.toml, .git/graphkit."""
    from pathlib import Path

    configured = session.load(None).graph.config.cache_dir
    if cache_dir:
        return Path(cache_dir)
    if configured:
        return session.workspace.root / configured
    return session.workspace.git_dir / "graphkit"


def _history(session: Any, cache_dir: str | None) -> Any:
    from graphkit.history import History

    return History(_cache_root(session, cache_dir) / "history")


@main.command()
@click.argument("task")
@click.argument("labels", nargs=-1)
@click.option("--affected", "only_affected", is_flag=True, help="only targets the change affects")
@BASE
@click.option("--shard", metavar="I/N", help="run only shard I of N")
@click.option("--plan-digest", metavar="D", help="refuse to run unless the plan digest is D")
@click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True)
@click.option("--remote-cache", metavar="URL", help="grpc://HOST:PORT or grpcs://HOST:PORT")
@click.option("--cache-dir", metavar="PATH", help="local cache [default: .git/graphkit]")
@click.option("--no-cache-read", is_flag=True, help="run every task, even when cached")
@click.option("--no-cache-write", is_flag=True, help="store nothing (untrusted builds)")
@click.option("--retries", type=click.IntRange(0), default=0, show_default=True)
@click.option("--junit", "junit_out", metavar="FILE", help="write a merged JUnit summary here")
@ON_UNKNOWN
@FORMAT
@reports_errors
def run(
    task: str,
    labels: tuple[str, ...],
    only_affected: bool,
    base: str | None,
    shard: str | None,
    plan_digest: str | None,
    jobs: int,
    remote_cache: str | None,
    cache_dir: str | None,
    no_cache_read: bool,
    no_cache_write: bool,
    retries: int,
    junit_out: str | None,
    on_unknown: str,
    fmt: str,
) -> None:
    """Run TASK for the selected targets, in dependency order, from the cache when possible.

    With no LABELS and no --affected, every target whose rule has TASK runs.
    """
    import datetime
    import os

    from graphkit import render, workflow
    from graphkit.errors import TaskFailed
    from graphkit.plan import parse_shard
    from graphkit.run import RunOptions, run_tasks

    with _session() as session:
        selection = workflow.select(
            session, task, labels, affected=only_affected, base=base, on_unknown=on_unknown
        )
        history = _history(session, cache_dir)
        with history:
            store = _store(session, cache_dir, remote_cache)
            if shard is not None:
                index, count = parse_shard(shard)
                unit_ids = workflow.shard_units(
                    selection,
                    history,
                    index,
                    count,
                    plan_digest,
                    _cache_root(session, cache_dir),
                    store,
                )
            else:
                unit_ids = [u.id for u in workflow.units(selection, None)]
            if not unit_ids:
                from graphkit.run import Summary

                _emit(fmt, render.results_json(Summary()), "nothing to run")
                return
            runs = workflow.tasks_for(selection, unit_ids, os.environ)
            reporter = _reporter(fmt, interactive=fmt == "text" and sys.stdout.isatty())
            try:
                summary = run_tasks(
                    session.workspace.root,
                    runs,
                    store,
                    RunOptions(jobs, not no_cache_read, not no_cache_write, retries),
                    environ=os.environ,
                    report=reporter,
                    recorder=workflow.HistoryRecorder(history),
                    muting=workflow.Quarantine.load(session.workspace.root, datetime.date.today()),
                )
            finally:
                reporter.stop()
        _emit(fmt, render.results_json(summary), render.summary_text(summary))
        if junit_out:
            _write_file(junit_out, render.junit_summary(summary))
        if summary.failed:
            raise TaskFailed(f"{summary.count('failed')} task(s) failed")


def _reporter(fmt: str, interactive: bool) -> Any:
    """Progress: plain lines (CI logs, stderr under --format json), or a live line on a TTY."""
    from graphkit.render import event_line

    status = None
    if interactive:
        from rich.console import Console

        status = Console(stderr=True).status("running tasks")
        status.start()
    done = [0]

    def report(event: Any) -> None:
        if event.kind == "finish":
            done[0] += 1
            if status is not None:
                status.update(f"{done[0]} task(s) done; last: {event.run.name}")
        line = event_line(event)
        if line is not None:
            click.echo(line, err=fmt == "json" or event.kind == "warning")

    report.stop = status.stop if status is not None else (lambda: None)  # type: ignore[attr-defined]
    return report


def _write_file(path: str, text: str) -> None:
    """Write a report whole or not at all (a reader never sees half a file)."""
    import os
    import tempfile
    from pathlib import Path

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.replace(temp, target)


def _store(session: Any, cache_dir: str | None, remote: str | None) -> Any:
    """The tiered store: local diskcache, then the remote cache when one is named."""
    import os

    from graphkit.cache.local import open_local_store

    local = open_local_store(_cache_root(session, cache_dir) / "cas", 10 * 1024**3)
    url = remote or session.load(None).graph.config.remote_cache
    if not url:
        return local
    from graphkit.cache.remote import RemoteOptions, RemoteStore
    from graphkit.cache.tiered import TieredStore

    # The token comes from the environment, never from a flag that `ps` would show.
    options = RemoteOptions(url=url, token=os.environ.get("GRAPHKIT_REMOTE_TOKEN"))
    return TieredStore(
        local,
        RemoteStore(options),
        lambda message: click.echo(f"graphkit: warning: {message}", err=True),
    )


@main.command("plan")
@click.argument("task")
@click.argument("labels", nargs=-1)
@click.option("--affected", "only_affected", is_flag=True, help="only targets the change affects")
@BASE
@SHARDS
@click.option("--cache-dir", metavar="PATH", help="where duration history lives")
@click.option("--remote-cache", metavar="URL", help="also publish the plan there")
@ON_UNKNOWN
@FORMAT
@reports_errors
def plan_command(
    task: str,
    labels: tuple[str, ...],
    only_affected: bool,
    base: str | None,
    shards: str,
    cache_dir: str | None,
    remote_cache: str | None,
    on_unknown: str,
    fmt: str,
) -> None:
    """Split TASK's work into shards balanced by recorded durations (LPT)."""
    from graphkit import render, workflow
    from graphkit.plan import plan_json

    with _session() as session:
        selection = workflow.select(
            session, task, labels, affected=only_affected, base=base, on_unknown=on_unknown
        )
        with _history(session, cache_dir) as history:
            plan = workflow.plan_for(selection, history, _shards(shards))
        store = _store(session, cache_dir, remote_cache)
        workflow.publish_plan(plan, _cache_root(session, cache_dir), store)
        _emit(fmt, plan_json(plan), render.plan_text(plan))


@main.command("matrix")
@click.argument("task")
@click.argument("labels", nargs=-1)
@click.option("--affected", "only_affected", is_flag=True, help="only targets the change affects")
@BASE
@SHARDS
@click.option("--ci", type=click.Choice(["github", "gitlab", "buildkite", "json"]), required=True)
@click.option("--cache-dir", metavar="PATH", help="where duration history lives")
@click.option("--remote-cache", metavar="URL", help="written into the generated shard jobs")
@ON_UNKNOWN
@reports_errors
def matrix(
    task: str,
    labels: tuple[str, ...],
    only_affected: bool,
    base: str | None,
    shards: str,
    ci: str,
    cache_dir: str | None,
    remote_cache: str | None,
    on_unknown: str,
) -> None:
    """Print the CI job matrix for TASK: one job per shard."""
    from graphkit import ci as ci_render
    from graphkit import workflow

    limits = ci_render.MAX_JOBS
    with _session() as session:
        selection = workflow.select(
            session, task, labels, affected=only_affected, base=base, on_unknown=on_unknown
        )
        with _history(session, cache_dir) as history:
            plan = workflow.plan_for(selection, history, _shards(shards), limits.get(ci))
        store = _store(session, cache_dir, remote_cache)
        workflow.publish_plan(plan, _cache_root(session, cache_dir), store)
    if ci == "github":
        click.echo(ci_render.github_output(plan))
    elif ci == "gitlab":
        click.echo(ci_render.gitlab_pipeline(plan, task=task, remote_cache=remote_cache))
    elif ci == "buildkite":
        click.echo(ci_render.buildkite_pipeline(plan, task=task, remote_cache=remote_cache))
    else:
        click.echo(ci_render.json_matrix(plan))


@main.command()
@click.option("--min-samples", type=click.IntRange(1), default=5, show_default=True)
@click.option("--cache-dir", metavar="PATH", help="where the history lives")
@FORMAT
@reports_errors
def flaky(min_samples: int, cache_dir: str | None, fmt: str) -> None:
    """Per-test flake rates from recorded runs (same inputs, different outcome)."""
    from graphkit import render

    with _session() as session, _history(session, cache_dir) as history:
        stats = history.flake_report(min_samples)
    _emit(fmt, render.flaky_json(stats, min_samples), render.flaky_text(stats, min_samples))


# --- cache commands (owned by the remote-cache work; edit this block only) ---
_CACHE_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for machines",
)
_FILE = click.Path(dir_okay=False)


@main.group()
def cache() -> None:
    """Run and inspect the REAPI v2 remote cache (Bazel, Buck2, Pants and graphkit clients)."""


@cache.command("serve")
@click.option("--listen", required=True, metavar="HOST:PORT", help="address to serve gRPC on")
@click.option(
    "--dir",
    "directory",
    required=True,
    metavar="PATH",
    type=click.Path(file_okay=False),
    help="cache directory",
)
@click.option("--max-size", required=True, metavar="SIZE", help="e.g. 50GiB; LRU beyond it")
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
@_CACHE_FORMAT
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
    fmt: str,
) -> None:
    """Serve a cache-only Remote Execution API v2 endpoint until SIGTERM."""
    import json
    from pathlib import Path

    from graphkit.cache import logs, options, server

    def path(text: str | None) -> Path | None:
        return Path(text) if text is not None else None

    opts = options.ServeOptions(
        listen=options.parse_address(listen),
        directory=Path(directory),
        max_size=options.parse_size(max_size),
        tokens=path(tokens),
        allow_unauthenticated_reads=allow_unauthenticated_reads,
        tls=options.tls_files(path(tls_cert), path(tls_key), path(tls_client_ca)),
        metrics_listen=(
            options.parse_address(metrics_listen, option="--metrics-listen")
            if metrics_listen
            else None
        ),
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

    server.serve(opts, ready)


@cache.command("stats")
@click.option(
    "--dir",
    "directory",
    required=True,
    metavar="PATH",
    type=click.Path(file_okay=False),
    help="cache directory",
)
@_CACHE_FORMAT
@reports_errors
def cache_stats(directory: str, fmt: str) -> None:
    """Entries, bytes and hit rates of a cache directory."""
    import json
    from pathlib import Path

    from graphkit.cache.stats import read_stats

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
    ]
    width = max(len(k) for k, _ in rows)
    click.echo("\n".join(f"{k:<{width}}  {v}" for k, v in rows))


# --- end of cache commands ---
