"""Commands that analyze the graph: affected, why, explain, query, graph, tidy."""

from __future__ import annotations

from typing import Any

import click

from graphkit.cli import (
    BASE,
    FORMAT,
    HEAD,
    ON_UNKNOWN,
    emit,
    main,
    open_session,
    reports_errors,
    write_file,
)


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
@click.option(
    "--remote-cache",
    metavar="URL",
    help="share the analysis memo through this cache [or [cache] remote in graphkit.toml]; "
    "needs GRAPHKIT_MEMO_SIGNATURE_KEY",
)
@reports_errors
def affected(
    base: str | None,
    head: str | None,
    rules: tuple[str, ...],
    list_files: bool,
    on_unknown: str,
    fmt: str,
    remote_cache: str | None,
) -> None:
    """List the targets a change affects, each with its reason.

    Compares BASE with HEAD; without --head, the worktree (staged, unstaged and
    untracked files). Exits 0 whether or not anything is affected.
    """
    from graphkit.views import render

    with open_session(remote_cache) as session:
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
        data["warnings"] = [str(w) for w in session.warnings]
        if session.remote_memo is not None:
            data["remote_memo"] = session.remote_memo
        text = render.affected_text(result.base.sha, head_sha, found)
        if list_files:
            from graphkit.analysis.filetests import select_test_files

            loaded = result.head
            selection = select_test_files(
                loaded.graph, loaded.side.snapshot, session.workspace.read, found
            )
            data = render.with_files(data, selection)
            text = f"{text}\n{render.files_text(selection)}"
        emit(fmt, data, text)


@main.command()
@click.argument("label")
@BASE
@HEAD
@ON_UNKNOWN
@FORMAT
@reports_errors
def why(label: str, base: str | None, head: str | None, on_unknown: str, fmt: str) -> None:
    """Show the chain from a changed file to LABEL."""
    from graphkit.views import render

    with open_session() as session:
        result = session.compare(base, head, on_unknown=on_unknown)
        resolved = result.head.graph.resolve(label)
        emit(
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
    from graphkit.analysis.keys import trace_difference
    from graphkit.views import render

    with open_session() as session:
        head = session.load(rev)
        if diff_base is None:
            resolved = head.graph.resolve(label)
            record = head.keys(only=[resolved])[resolved]
            emit(
                fmt,
                render.key_json(record),
                render.key_text(record),
            )
            return
        base = session.load(diff_base)
        graph = head.graph if label_in(head.graph, label) else base.graph
        resolved = graph.resolve(label)
        after = _records(head, resolved)
        before = _records(base, resolved)
        levels = trace_difference(before, after, resolved)
        emit(
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
    """Add the deps that imports need to BUILD.toml files (or, with --check, list them).

    Ecosystem manifests (package.json, pyproject.toml, Cargo.toml) are never rewritten:
    the exact line to add is printed, and tidy exits 1 until it is added.
    """
    from graphkit.analysis.tidy import add_deps, find_drift, hand_edits, manifest_edits
    from graphkit.errors import TaskFailed
    from graphkit.tomldoc import load_toml
    from graphkit.views import render

    with open_session() as session:
        loaded = session.load(None)
        drift = find_drift(loaded.graph, session.import_scan(loaded).problems)
        edits = manifest_edits(loaded.graph, drift)
        hand = hand_edits(loaded.graph, drift, loaded.side.snapshot)
        root = session.workspace.root
    emit(
        fmt,
        render.drift_json(drift, edits, check, hand),
        render.drift_text(drift, edits, check, hand),
    )
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
        write_file(str(root / manifest), text)
    if hand:
        raise TaskFailed(f"{len(hand)} dep(s) to add by hand to ecosystem manifests (listed above)")


@main.group()
def query() -> None:
    """Ask the graph: deps, rdeps, cycles, owners, unowned."""


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
    from graphkit.views.render import labels_text

    with open_session() as session:
        graph = session.load(rev).graph
        resolved = graph.resolve(label)
        found = (graph.rdeps if reverse else graph.deps)(resolved, transitive=transitive)
        key = "rdeps" if reverse else "deps"
        emit(
            fmt,
            {"label": str(resolved), "transitive": transitive, key: [str(x) for x in found]},
            labels_text(found),
        )


@query.command("cycles")
@click.option("--rev", metavar="REV", help="revision [default: the worktree]")
@FORMAT
@reports_errors
def query_cycles(rev: str | None, fmt: str) -> None:
    """Cycles of deps and imports, with the edges that close them."""
    from graphkit.analysis.graph import cycles
    from graphkit.views.render import cycles_json, cycles_text

    with open_session() as session:
        found = cycles(session.load(rev).graph)
        emit(fmt, cycles_json(found), cycles_text(found))


@query.command("owners")
@click.argument("paths", nargs=-1, required=True)
@click.option("--rev", metavar="REV", help="revision [default: the worktree]")
@FORMAT
@reports_errors
def query_owners(paths: tuple[str, ...], rev: str | None, fmt: str) -> None:
    """The targets whose inputs include each PATH (repo-relative or relative to here)."""
    from graphkit.errors import InputError

    with open_session() as session:
        loaded = session.load(rev)
        owners = {}
        for path in paths:
            relative = _repo_relative(session, path)
            if not _exists(loaded.side.snapshot, relative):
                where = f"revision {rev}" if rev else "the worktree"
                raise InputError(f"{path}: no such file in {where}", hint="check the path")
            owners[path] = [str(x) for x in loaded.graph.owners(relative)]
        text = "\n".join(f"{p}: {' '.join(o) or '(unowned)'}" for p, o in owners.items())
        emit(fmt, {"owners": owners}, text)


def _exists(snapshot: Any, path: str) -> bool:
    """True when ``path`` is a file of ``snapshot``, or a folder holding one."""
    if path in snapshot or path == "":
        return True
    return any(p.startswith(f"{path}/") for p in snapshot)


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
    with open_session() as session:
        loaded = session.load(rev)
        found = loaded.graph.unowned(loaded.side.snapshot)
        emit(fmt, {"unowned": found}, "\n".join(found))


@main.command("graph")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "dot", "html"]),
    default="json",
    show_default=True,
    help="json and dot: the file graph; html: a page to explore the target graph offline",
)
@click.option("--rev", "--head", "rev", metavar="REV", help="revision [default: the worktree]")
@click.option(
    "--affected", "only_affected", is_flag=True, help="only affected targets and their files"
)
@BASE
@ON_UNKNOWN
@click.option(
    "-o", "--output", metavar="FILE", help="write to FILE (whole, or not at all) instead of stdout"
)
@reports_errors
def graph_command(
    fmt: str,
    rev: str | None,
    only_affected: bool,
    base: str | None,
    on_unknown: str,
    output: str | None,
) -> None:
    """Print the file graph (targets, files; deps, owns and imports edges), or write
    the graph page (--format html): affected targets coloured when --base or
    --affected is given."""
    from graphkit.analysis.graph import file_graph
    from graphkit.views import render

    with open_session() as session:
        if fmt == "html":
            text = _graph_page(session, rev, base, only_affected, on_unknown)
        else:
            loaded = session.load(rev)
            scanned = session.import_scan(loaded).files.values()
            imports = [(e.importer, e.imported) for f in scanned for e in f.resolved.edges]
            full = file_graph(loaded.graph, loaded.side.snapshot, imports)
            if only_affected:
                found = session.compare(base, rev, on_unknown=on_unknown).affected
                hit = {str(x) for x in found.targets}
                keep = hit | {
                    b for a, b in full.edges if a in hit and full.edges[a, b]["kind"] == "owns"
                }
                full = full.subgraph(keep)
            text = (
                render.to_json(render.graph_json(full)) if fmt == "json" else render.graph_dot(full)
            )
    if output is None:
        click.echo(text)
    else:
        write_file(output, text if text.endswith("\n") else text + "\n")


def _graph_page(
    session: Any, rev: str | None, base: str | None, only_affected: bool, on_unknown: str
) -> str:
    """The HTML graph page for ``rev``, affected targets marked when a base is asked for."""
    import shlex

    from graphkit.views.page import page_data, render_page

    affected = None
    if only_affected or base is not None:
        result = session.compare(base, rev, on_unknown=on_unknown)
        loaded, affected, base_sha = result.head, result.affected, result.base.sha
    else:
        loaded, base_sha = session.load(rev), None
    words = ["graphkit", "graph", "--format", "html"]
    if only_affected:
        words.append("--affected")
    if base_sha is not None:
        words += ["--base", base_sha]
    if rev is not None:
        words += ["--head", loaded.revision.sha]
    keys = {label: record.key for label, record in loaded.keys().items()}
    data = page_data(
        loaded.graph,
        loaded.inputs,
        keys,
        affected,
        head=loaded.revision.sha,
        base=base_sha,
        command=shlex.join(words),
        only_affected=only_affected,
    )
    return render_page(data)
