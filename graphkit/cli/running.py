"""Commands that run work: run, plan, matrix, flaky."""

from __future__ import annotations

import sys
from typing import Any

import click

from graphkit.cli import (
    BASE,
    FORMAT,
    ON_UNKNOWN,
    emit,
    main,
    open_session,
    reports_errors,
    write_file,
)

SHARDS = click.option(
    "--shards",
    default="auto",
    show_default=True,
    metavar="N|auto",
    help="how many shards: a number, or auto (from recorded durations)",
)


def tls_options(func: Any) -> Any:
    """--tls-ca, --tls-client-cert and --tls-client-key, for a grpcs:// remote cache."""
    for name, what in reversed(
        (
            ("--tls-ca", "CA certificate that signed the cache's (default: the system's)"),
            ("--tls-client-cert", "client certificate, for a cache that requires one"),
            ("--tls-client-key", "the client certificate's private key"),
        )
    ):
        func = click.option(name, metavar="PEM", help=f"{what} [or [cache] in graphkit.toml]")(func)
    return func


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
    from graphkit.execution.history import History

    return History(_cache_root(session, cache_dir) / "history")


@main.command()
@click.argument("words", nargs=-1, required=True, metavar="TASK... [LABELS]...")
@click.option("--affected", "only_affected", is_flag=True, help="only targets the change affects")
@BASE
@click.option("--shard", metavar="I/N", help="run only shard I of N")
@click.option("--plan-digest", metavar="D", help="refuse to run unless the plan digest is D")
@click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True)
@click.option("--remote-cache", metavar="URL", help="grpc://HOST:PORT or grpcs://HOST:PORT")
@tls_options
@click.option("--cache-dir", metavar="PATH", help="local cache [default: .git/graphkit]")
@click.option("--no-cache-read", is_flag=True, help="run every task, even when cached")
@click.option("--no-cache-write", is_flag=True, help="store nothing (untrusted builds)")
@click.option("--retries", type=click.IntRange(0), default=0, show_default=True)
@click.option(
    "--continue",
    "keep_going",
    is_flag=True,
    help="run a task even when a task it needs failed (default: skip it)",
)
@click.option("--junit", "junit_out", metavar="FILE", help="write a merged JUnit summary here")
@ON_UNKNOWN
@FORMAT
@reports_errors
def run(
    words: tuple[str, ...],
    only_affected: bool,
    base: str | None,
    shard: str | None,
    plan_digest: str | None,
    jobs: int,
    remote_cache: str | None,
    tls_ca: str | None,
    tls_client_cert: str | None,
    tls_client_key: str | None,
    cache_dir: str | None,
    no_cache_read: bool,
    no_cache_write: bool,
    retries: int,
    keep_going: bool,
    junit_out: str | None,
    on_unknown: str,
    fmt: str,
) -> None:
    """Run each TASK for the selected targets as one task graph, from the cache when possible.

    Leading words that name a task are tasks (`graphkit run build test //libs/a`); a
    task runs after the tasks its rule says it `needs`, and after the same task of
    its dependencies when it declares none. With no LABELS and no --affected, every
    target whose rule has the task runs.
    """
    import datetime
    import os

    from graphkit.errors import InputError, TaskFailed
    from graphkit.execution import workflow
    from graphkit.execution.plan import parse_shard
    from graphkit.execution.run import RunOptions, Summary, run_tasks
    from graphkit.views import render

    with open_session(remote_cache, (tls_ca, tls_client_cert, tls_client_key)) as session:
        tasks, labels = workflow.split_tasks(session.load(None).graph, words)
        if shard is not None and len(tasks) > 1:
            raise InputError("--shard runs one task; name one task, or run without --shard")
        selections = workflow.select_tasks(session, tasks, labels, only_affected, base, on_unknown)
        if labels and not only_affected and not any(s.labels or s.skipped for s in selections):
            raise InputError(f"none of the named targets has a {' or '.join(tasks)!r} task")
        history = _history(session, cache_dir)
        with history:
            tls = (tls_ca, tls_client_cert, tls_client_key)
            store = _store(session, cache_dir, remote_cache, tls)
            parts = []
            for selection in selections:
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
                parts.append((selection, unit_ids))
            # Skipped targets belong to no shard: the first shard reports them, once.
            first = shard is None or shard.startswith("1/")
            skipped = (
                [(x, s.task, why) for s in selections for x, why in s.skipped] if first else []
            )
            if fmt == "text":
                for label, task, why in skipped:
                    click.echo(render.skipped_line(label, task, why))
            if not any(unit_ids for _selection, unit_ids in parts):
                text = render.summary_text(Summary(), skipped) if skipped else "nothing to run"
                emit(fmt, render.results_json(Summary(), skipped), text)
                return
            runs = workflow.task_graph_runs(
                parts, os.environ, _cache_root(session, cache_dir) / "runs"
            )
            config = session.load(None).graph.config
            reporter = _Reporter(fmt, interactive=fmt == "text" and sys.stdout.isatty())
            try:
                summary = run_tasks(
                    session.workspace.root,
                    runs,
                    store,
                    RunOptions(
                        jobs,
                        not no_cache_read,
                        not no_cache_write,
                        retries,
                        keep_going,
                        hits_inline=not (remote_cache or config.remote_cache),
                    ),
                    environ=os.environ,
                    report=reporter,
                    recorder=workflow.HistoryRecorder(history),
                    muting=workflow.Quarantine.load(session.workspace.root, datetime.date.today()),
                )
            finally:
                reporter.stop()
        emit(
            fmt,
            render.results_json(summary, skipped),
            render.summary_text(summary, skipped),
        )
        if junit_out:
            write_file(junit_out, render.junit_summary(summary))
        if summary.failed:
            blocked = summary.count("skipped")
            extra = f", {blocked} skipped because of it" if blocked else ""
            raise TaskFailed(f"{summary.count('failed')} task(s) failed{extra}")


class _Reporter:
    """Progress: plain lines (CI logs; stderr under --format json), plus a live status
    line on a terminal."""

    def __init__(self, fmt: str, interactive: bool) -> None:
        from graphkit.views.render import event_line

        self._fmt = fmt
        self._line = event_line
        self._done = 0
        self._status: Any = None
        if interactive:
            from rich.console import Console

            self._status = Console(stderr=True).status("running tasks")
            self._status.start()

    def __call__(self, event: Any) -> None:
        if event.kind == "finish":
            self._done += 1
            if self._status is not None:
                self._status.update(f"{self._done} task(s) done; last: {event.run.name}")
        line = self._line(event)
        if line is not None:
            # Written and flushed as click.echo would, without its per-call work: a
            # fully cached run prints two lines per task.
            stream = sys.stderr if self._fmt == "json" or event.kind == "warning" else sys.stdout
            stream.write(line + "\n")
            stream.flush()

    def stop(self) -> None:
        """End the live status line, if there is one."""
        if self._status is not None:
            self._status.stop()


def _store(
    session: Any,
    cache_dir: str | None,
    remote: str | None,
    tls: tuple[str | None, str | None, str | None],
) -> Any:
    """The tiered store: local diskcache, then the remote cache when one is named.

    ``tls`` holds the --tls-ca, --tls-client-cert and --tls-client-key flags (paths
    from the current folder); each one missing comes from ``[cache]`` in
    graphkit.toml (paths from the workspace root).
    """
    import os
    from pathlib import Path

    from graphkit.cache.store.local import open_local_store

    local = open_local_store(_cache_root(session, cache_dir) / "cas", 10 * 1024**3)
    url = remote or session.load(None).graph.config.remote_cache
    if not url:
        return local
    from graphkit.cache.client.remote import RemoteOptions, RemoteStore
    from graphkit.cache.store.tiered import TieredStore

    # The token comes from the environment, never from a flag that `ps` would show.
    config = session.load(None).graph.config.cache_tls
    configured = (config.ca, config.client_cert, config.client_key)
    ca, cert, key = (
        Path(flag) if flag else session.workspace.root / path if path else None
        for flag, path in zip(tls, configured, strict=True)
    )
    options = RemoteOptions(
        url=url,
        token=os.environ.get("GRAPHKIT_REMOTE_TOKEN"),
        tls_ca=ca,
        tls_client_cert=cert,
        tls_client_key=key,
    )
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
@tls_options
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
    tls_ca: str | None,
    tls_client_cert: str | None,
    tls_client_key: str | None,
    on_unknown: str,
    fmt: str,
) -> None:
    """Split TASK's work into shards balanced by recorded durations (LPT)."""
    from graphkit.execution import workflow
    from graphkit.execution.plan import plan_json
    from graphkit.views import render

    with open_session(remote_cache, (tls_ca, tls_client_cert, tls_client_key)) as session:
        selection = workflow.select(
            session, task, labels, affected=only_affected, base=base, on_unknown=on_unknown
        )
        with _history(session, cache_dir) as history:
            plan = workflow.plan_for(selection, history, _shards(shards))
        store = _store(session, cache_dir, remote_cache, (tls_ca, tls_client_cert, tls_client_key))
        workflow.publish_plan(plan, _cache_root(session, cache_dir), store)
        emit(fmt, plan_json(plan), render.plan_text(plan))


@main.command("matrix")
@click.argument("task")
@click.argument("labels", nargs=-1)
@click.option("--affected", "only_affected", is_flag=True, help="only targets the change affects")
@BASE
@SHARDS
@click.option("--ci", type=click.Choice(["github", "gitlab", "buildkite", "json"]), required=True)
@click.option("--cache-dir", metavar="PATH", help="where duration history lives")
@click.option("--remote-cache", metavar="URL", help="written into the generated shard jobs")
@tls_options
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
    tls_ca: str | None,
    tls_client_cert: str | None,
    tls_client_key: str | None,
    on_unknown: str,
) -> None:
    """Print the CI job matrix for TASK: one job per shard."""
    from graphkit.execution import ci as ci_render
    from graphkit.execution import workflow

    limits = ci_render.MAX_JOBS
    with open_session(remote_cache, (tls_ca, tls_client_cert, tls_client_key)) as session:
        selection = workflow.select(
            session, task, labels, affected=only_affected, base=base, on_unknown=on_unknown
        )
        with _history(session, cache_dir) as history:
            plan = workflow.plan_for(selection, history, _shards(shards), limits.get(ci))
        store = _store(session, cache_dir, remote_cache, (tls_ca, tls_client_cert, tls_client_key))
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
    from graphkit.views import render

    with open_session() as session, _history(session, cache_dir) as history:
        stats = history.flake_report(min_samples)
    emit(fmt, render.flaky_json(stats, min_samples), render.flaky_text(stats, min_samples))


@main.command("tasks")
@click.argument("words", nargs=-1, metavar="[TASK...] [LABELS]...")
@click.option("--affected", "only_affected", is_flag=True, help="only targets the change affects")
@BASE
@ON_UNKNOWN
@FORMAT
@click.option(
    "--graph",
    "graph_format",
    type=click.Choice(["dot", "html"]),
    help="write the task graph instead: Graphviz dot, or the offline graph page",
)
@click.option("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
@reports_errors
def tasks_command(
    words: tuple[str, ...],
    only_affected: bool,
    base: str | None,
    on_unknown: str,
    fmt: str,
    graph_format: str | None,
    output: str | None,
) -> None:
    """Print the task graph `graphkit run TASK...` would run, without running it: each
    task's command, outputs, inputs, env, needs, cache setting and action key (as
    `turbo run --dry=json`). No TASK: every task of the selected targets."""
    import os
    import shlex

    from graphkit.execution import workflow
    from graphkit.views import tasks as views

    with open_session() as session:
        loaded = session.load(None)
        graph = loaded.graph
        tasks, labels = workflow.split_tasks(graph, words) if words else ([], [])
        if tasks and not any(
            graph.task_spec(label, tasks[0]) for label in graph.targets
        ):  # a first word that names no task is a label
            tasks, labels = [], list(words)
        runs, skipped = workflow.dry_run(
            session,
            tasks,
            labels,
            os.environ,
            affected=only_affected,
            base=base,
            on_unknown=on_unknown,
        )
        if graph_format == "dot":
            text = views.tasks_dot(runs)
        elif graph_format == "html":
            from graphkit.views.page import PAGE_FORMAT, render_page

            data = views.tasks_page_data(
                runs,
                loaded.inputs,
                head=loaded.revision.sha,
                command=shlex.join(["graphkit", "tasks", *words, "--graph", "html"]),
                page_format=PAGE_FORMAT,
            )
            text = render_page(data)
        elif fmt == "json":
            from graphkit.views.render import to_json

            text = to_json(views.tasks_json(runs, graph.task_spec, skipped))
        else:
            text = views.tasks_text(runs, skipped)
    if output is None:
        click.echo(text)
    else:
        write_file(output, text if text.endswith("\n") else text + "\n")
