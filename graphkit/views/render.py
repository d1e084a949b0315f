"""Pure renderings of results as text for people and JSON for machines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from graphkit.analysis.affected import Affected
from graphkit.labels import Label

if TYPE_CHECKING:  # keep these off the `affected` path: only other commands need them
    from graphkit.analysis.filetests import FileSelection
    from graphkit.analysis.graph import Cycle
    from graphkit.analysis.keys import InputDifference, KeyRecord
    from graphkit.analysis.tidy import Drift, HandEdit
    from graphkit.execution.history import FlakeStat
    from graphkit.execution.plan import Plan
    from graphkit.execution.run import Event, Summary


def to_json(value: Any) -> str:
    """Stable JSON: sorted keys, two-space indent."""
    return json.dumps(value, indent=2, sort_keys=True)


def affected_json(base: str, head: str, affected: Affected) -> dict[str, Any]:
    """The ``graphkit affected --format json`` contract of DESIGN.md."""
    changed = []
    for change in affected.changed:
        item: dict[str, str] = {"path": change.path, "status": change.status.value}
        if change.old_path:
            item["old_path"] = change.old_path
        changed.append(item)
    return {
        "base": base,
        "head": head,
        "changed": changed,
        "affected": sorted(str(label) for label in affected.targets),
        "removed": sorted(str(label) for label in affected.removed),
        "unowned": list(affected.unowned),
        "reasons": {str(label): str(reason) for label, reason in affected.targets.items()},
    }


def with_files(data: dict[str, Any], selection: FileSelection) -> dict[str, Any]:
    """The affected JSON plus ``files`` (test files per target) and ``file_reasons``."""
    return {
        **data,
        "files": {str(label): list(files) for label, files in sorted(selection.files.items())},
        "file_reasons": dict(sorted(selection.reasons.items())),
    }


def files_text(selection: FileSelection) -> str:
    """Each file-sharded test target with the test files that must run, and why."""
    lines = ["test files to run:"]
    for label, files in sorted(selection.files.items()):
        lines.append(f"  {label}: {len(files)} file(s)")
        lines.extend(f"    {path}  ({selection.reasons[path]})" for path in files)
    return "\n".join(lines)


def affected_text(base: str, head: str, affected: Affected) -> str:
    """A readable summary: changed files, affected targets with reasons, removed, unowned."""
    lines = [f"base {base[:12]}  head {head[:12]}", f"{len(affected.changed)} changed path(s)"]
    if affected.targets:
        lines.append(f"{len(affected.targets)} affected target(s):")
        width = max(len(str(label)) for label in affected.targets)
        for label, reason in affected.targets.items():
            lines.append(f"  {label!s:<{width}}  {reason}")
    else:
        lines.append("nothing affected")
    if affected.removed:
        lines.append("removed: " + ", ".join(str(r) for r in affected.removed))
    if affected.unowned:
        lines.append("unowned (outside every package): " + ", ".join(affected.unowned))
    return "\n".join(lines)


def why_json(label: Label, affected: Affected) -> dict[str, Any]:
    """The chain from ``label`` down to the change that affected it."""
    chain = affected.chain(label)
    return {
        "label": str(label),
        "affected": bool(chain),
        "chain": [{"label": str(lbl), "kind": r.kind, "reason": str(r)} for lbl, r in chain],
    }


def why_text(label: Label, affected: Affected) -> str:
    """``//svc/api:test <- //libs/core:core <- libs/core/src/x.py modified``."""
    chain = affected.chain(label)
    if not chain:
        return f"{label} is not affected"
    lines = [f"{label} is affected:"]
    for depth, (lbl, reason) in enumerate(chain):
        lines.append(f"{'  ' * depth}{lbl}: {reason}")
    return "\n".join(lines)


def key_json(record: KeyRecord) -> dict[str, Any]:
    """Every input of a key, as hashed."""
    from graphkit.analysis.keys import encode_rule

    inputs = record.inputs
    target = inputs.target
    return {
        "label": str(inputs.label),
        "key": record.key,
        "interface_key": record.interface,
        "scheme": inputs.scheme,
        "rule": {
            "kind": inputs.rule.kind,
            "source": inputs.rule.source,
            "definition_hash": _short_hash(encode_rule(inputs.rule)),
        },
        "target": {
            "rule": target.rule,
            "srcs": list(target.srcs) if target.srcs is not None else None,
            "effective_srcs": list(target.effective_srcs(inputs.rule)),
            "deps": [str(d) for d in target.deps],
            "attrs": {k: json.loads(v) for k, v in target.attrs},
            "aliases": list(target.aliases),
            "dep_kinds": {str(label): kind for label, kind in target.dep_kinds},
            "test_deps": [str(d) for d in target.test_deps],
        },
        "files": [{"path": p, "mode": f"{m:o}", "oid": o} for p, m, o in inputs.files],
        "outside_interface": list(inputs.private),
        "deps": {str(label): key for label, key in inputs.deps},
        "test_deps": {str(label): key for label, key in inputs.test_deps},
        "import_cycle": {str(label): own for label, own in inputs.cycle},
        "externals": [str(entry) for entry in sorted(inputs.externals)],
        "global_inputs": {
            "patterns": list(inputs.global_patterns),
            "files": [{"path": p, "mode": f"{m:o}", "oid": o} for p, m, o in inputs.global_files],
        },
        "rules_dir": inputs.rules_dir,
        "symlinks": [
            {
                "path": path,
                "target": target,
                "reached": [{"path": p, "mode": f"{m:o}", "oid": o} for p, m, o in files],
            }
            for path, target, files in inputs.links
        ],
    }


def key_text(record: KeyRecord) -> str:
    """``graphkit explain``: the key, then each of its inputs on its own line."""
    data = key_json(record)
    target = data["target"]
    interface = data["interface_key"]
    kinds = {dep: kind for dep, kind in target["dep_kinds"].items()}
    kinds.update((dep, f"{kinds.get(dep, 'normal')}, test-only") for dep in target["test_deps"])
    lines = [
        f"{data['label']}  key {data['key']}",
        f"  interface key {interface}"
        + ("  (the same: nothing is hidden from dependents)" if interface == data["key"] else ""),
        f"  scheme        {data['scheme']}",
        f"  rule          {data['rule']['kind']} ({data['rule']['source']}, "
        f"definition {data['rule']['definition_hash']})",
        f"  srcs          {target['srcs'] if target['srcs'] is not None else 'rule default'}"
        f" -> {target['effective_srcs']}",
        f"  deps (decl)   {', '.join(_with_kind(d, kinds) for d in target['deps']) or '-'}",
    ]
    for name, value in target["attrs"].items():
        lines.append(f"  attr {name:<8} {json.dumps(value)}")
    lines.append(f"  files ({len(data['files'])}):")
    lines.extend(f"    {f['mode']} {f['oid']}  {f['path']}" for f in data["files"])
    if data["outside_interface"]:
        lines.append(f"  of which outside the interface ({len(data['outside_interface'])}):")
        lines.extend(f"    {path}" for path in data["outside_interface"])
    lines.append(f"  dep interface keys, declared and from imports ({len(data['deps'])}):")
    lines.extend(f"    {key}  {label}" for label, key in data["deps"].items())
    if data["test_deps"]:
        lines.append(f"  test-only dep interface keys, key only ({len(data['test_deps'])}):")
        lines.extend(f"    {key}  {label}" for label, key in data["test_deps"].items())
    if data["import_cycle"]:
        lines.append(f"  cycle, members' own interface inputs ({len(data['import_cycle'])}):")
        lines.extend(f"    {own}  {label}" for label, own in data["import_cycle"].items())
    if data["externals"]:
        lines.append(f"  locked externals ({len(data['externals'])}):")
        lines.extend(f"    {entry}" for entry in data["externals"])
    globals_ = data["global_inputs"]
    lines.append(
        f"  global inputs {globals_['patterns'] or '-'} ({len(globals_['files'])} file(s)):"
    )
    lines.extend(f"    {f['mode']} {f['oid']}  {f['path']}" for f in globals_["files"])
    if data["rules_dir"]:
        lines.append(f"  rules_dir     {data['rules_dir']}")
    for link in data["symlinks"]:
        lines.append(
            f"  symlink {link['path']} -> {link['target'] or '.'} ({len(link['reached'])} file(s)):"
        )
        lines.extend(f"    {f['mode']} {f['oid']}  {f['path']}" for f in link["reached"])
    return "\n".join(lines)


def key_diff_json(
    label: Label,
    before: KeyRecord | None,
    after: KeyRecord | None,
    levels: list[tuple[Label, list[InputDifference]]],
) -> dict[str, Any]:
    """Which inputs of a key differ between two revisions, traced through deps."""
    return {
        "label": str(label),
        "before": before.key if before else None,
        "after": after.key if after else None,
        "same": before is not None and after is not None and before.key == after.key,
        "interface_before": before.interface if before else None,
        "interface_after": after.interface if after else None,
        "differences": [
            {"input": d.input, "before": d.before, "after": d.after}
            for d in (levels[0][1] if levels else [])
        ],
        "trace": [
            {
                "label": str(lbl),
                "differences": [
                    {"input": d.input, "before": d.before, "after": d.after} for d in diffs
                ],
            }
            for lbl, diffs in levels
        ],
    }


def key_diff_text(
    label: Label,
    before: KeyRecord | None,
    after: KeyRecord | None,
    levels: list[tuple[Label, list[InputDifference]]],
) -> str:
    """``graphkit explain --diff``: the differing inputs, then down through deps to the cause."""
    if before is None or after is None:
        side = "base" if before is None else "head"
        return f"{label} does not exist at {side}"
    if before.key == after.key:
        return f"{label}: key {after.key} is the same at both revisions"
    lines = [f"{label}: key {before.key} -> {after.key}"]
    if before.interface == after.interface:
        lines.append(f"  interface key {after.interface} is the same: dependents not affected")
    else:
        lines.append(f"  interface key {before.interface} -> {after.interface}")
    for depth, (lbl, diffs) in enumerate(levels):
        indent = "  " * depth
        if depth:
            lines.append(f"{indent}{lbl}:")
        for d in diffs:
            lines.append(
                f"{indent}  {d.input}: {d.before or '(absent)'} -> {d.after or '(absent)'}"
            )
    return "\n".join(lines)


def _with_kind(dep: str, kinds: dict[str, str]) -> str:
    return f"{dep} ({kinds[dep]})" if dep in kinds else dep


def cycles_json(found: Sequence[Cycle]) -> dict[str, Any]:
    """``graphkit query cycles``: each cycle's members and the edges inside it."""
    return {
        "cycles": [
            {
                "members": [str(m) for m in cycle.members],
                "shares_inputs": cycle.shared,
                "edges": [
                    {"from": str(a), "to": str(b), "kind": kind, "carries": carries}
                    for a, b, kind, carries in cycle.edges
                ],
            }
            for cycle in found
        ]
    }


def cycles_text(found: Sequence[Cycle]) -> str:
    """One block per cycle: what kind it is, then the edges that close it."""
    lines = []
    for cycle in found:
        if cycle.shared:
            lines.append(f"cycle of {len(cycle.members)} targets (they share their inputs):")
        else:
            lines.append(
                f"cycle of {len(cycle.members)} targets through test-only edges "
                "(not a build cycle: each keeps its own key):"
            )
        for a, b, kind, carries in cycle.edges:
            lines.append(f"  {a} -> {b}  ({kind}{'' if carries else ', test-only'})")
    return "\n".join(lines) if lines else "no cycles"


def labels_text(labels: Iterable[Label]) -> str:
    """One label per line."""
    return "\n".join(str(label) for label in labels)


def graph_json(graph: Any) -> dict[str, Any]:
    """A file graph as ``{"nodes": [...], "edges": [...]}``, sorted."""
    nodes = [{"id": node, **graph.nodes[node]} for node in sorted(graph.nodes)]
    edges = [
        {"from": a, "to": b, "kind": graph.edges[a, b]["kind"]} for a, b in sorted(graph.edges)
    ]
    return {"nodes": nodes, "edges": edges}


def graph_dot(graph: Any, highlight: set[str] | None = None) -> str:
    """A file graph in Graphviz dot; highlighted nodes (e.g. affected) are filled."""
    lines = ["digraph graphkit {", "  rankdir=LR;", "  node [fontname=Helvetica];"]
    for node in sorted(graph.nodes):
        attrs = graph.nodes[node]
        shape = "box" if attrs.get("kind") == "target" else "note"
        fill = ', style=filled, fillcolor="#ffd0d0"' if highlight and node in highlight else ""
        lines.append(f"  {json.dumps(node)} [shape={shape}{fill}];")
    style = {"deps": "solid", "owns": "dotted", "imports": "dashed"}
    for a, b in sorted(graph.edges):
        kind = graph.edges[a, b]["kind"]
        lines.append(f"  {json.dumps(a)} -> {json.dumps(b)} [style={style.get(kind, 'solid')}];")
    lines.append("}")
    return "\n".join(lines)


def _short_hash(data: bytes) -> str:
    import xxhash

    return xxhash.xxh3_64_hexdigest(data)


def event_line(event: Event) -> str | None:
    """One plain line for a progress event (CI logs), or None for nothing to say."""
    if event.kind == "output":
        return event.text.rstrip("\n")
    if event.kind == "warning":
        return f"graphkit: warning: {event.text}"
    if event.kind == "finish" and event.result is not None:
        r = event.result
        extra = f", saved {r.saved_s:.1f}s" if r.status == "cached" else ""
        if r.status == "flaky":
            extra = f", attempts {'/'.join(r.attempts)}"
        if r.status == "skipped":
            return f"[skipped] {r.run.name} ({r.why})"
        return f"[{r.status}] {r.run.name} ({r.duration_s:.2f}s{extra})"
    return None


def summary_text(summary: Summary, skipped: Sequence[tuple[Label, str, str]] = ()) -> str:
    """``ran 3, cached 12, failed 0, flaky 1, muted 0; the cache saved 94.2s``
    (and ``, skipped N`` when packages lacked the task's script, or a task they need
    failed)."""
    counts = ", ".join(
        f"{status} {summary.count(status)}"
        for status in ("ran", "cached", "failed", "flaky", "muted")
    )
    if skipped or summary.count("skipped"):
        counts += f", skipped {len(skipped) + summary.count('skipped')}"
    return f"{counts}; the cache saved {summary.saved_s:.1f}s"


def skipped_line(label: Label, task: str, why: str) -> str:
    """``[skipped] //pkg:name build (pkg/package.json has no 'build' script)``."""
    return f"[skipped] {label} {task} ({why})"


def results_json(
    summary: Summary, skipped: Sequence[tuple[Label, str, str]] = ()
) -> dict[str, Any]:
    """The ``graphkit run --format json`` document (``skipped``: label, task, why)."""
    return {
        "tasks": [
            {
                "label": str(r.run.label),
                "task": r.run.task,
                "status": r.status,
                "duration_s": round(r.duration_s, 3),
                **({"why": r.why} if r.why else {}),
            }
            for r in summary.results
        ]
        + [
            {"label": str(label), "task": task, "status": "skipped", "duration_s": 0.0, "why": why}
            for label, task, why in skipped
        ],
        "summary": {
            "ran": summary.count("ran"),
            "cached": summary.count("cached"),
            "failed": summary.count("failed"),
            "flaky": summary.count("flaky"),
            "muted": summary.count("muted"),
            "skipped": len(skipped) + summary.count("skipped"),
            "saved_s": round(summary.saved_s, 3),
        },
    }


def plan_text(plan: Plan) -> str:
    """Each shard with its estimated seconds and units."""
    lines = [
        f"plan {plan.digest}: {plan.task}, {len(plan.shards)} shard(s), "
        f"{plan.total_s:.1f}s estimated ({plan.estimated} unit(s) without history)"
    ]
    for shard in plan.shards:
        lines.append(f"  shard {shard.index}: {shard.estimated_s:.1f}s, {len(shard.units)} unit(s)")
        lines.extend(f"    {unit}" for unit in shard.units)
    return "\n".join(lines)


def flaky_json(stats: Sequence[FlakeStat], min_samples: int) -> dict[str, Any]:
    """Flake rates, with the sample size below which no rate is given."""
    return {
        "min_samples": min_samples,
        "tests": [
            {
                "label": s.label,
                "task": s.task,
                "test": s.test_id,
                "runs": s.runs,
                "flaky_runs": s.flaky_runs,
                "rate": s.rate,
            }
            for s in stats
        ],
    }


def flaky_text(stats: Sequence[FlakeStat], min_samples: int) -> str:
    """A table of flake rates (tests with fewer than ``min_samples`` runs are unrated)."""
    if not stats:
        return "no recorded test runs"
    lines = [f"flake rates (rated from {min_samples} runs up):"]
    for s in stats:
        rate = f"{s.rate:.0%}" if s.rate is not None else "n/a"
        lines.append(f"  {rate:>5}  {s.flaky_runs}/{s.runs}  {s.test_id} ({s.label} {s.task})")
    return "\n".join(lines)


def junit_summary(summary: Summary) -> str:
    """One JUnit XML report of a run: a test case per task, for CI test-report UIs."""
    from xml.etree import ElementTree

    suite = ElementTree.Element(
        "testsuite",
        name="graphkit",
        tests=str(len(summary.results)),
        failures=str(summary.count("failed")),
        skipped=str(summary.count("muted") + summary.count("skipped")),
        time=f"{sum(r.duration_s for r in summary.results):.3f}",
    )
    for r in summary.results:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=str(r.run.label),
            name=r.run.task,
            time=f"{r.duration_s:.3f}",
        )
        if r.status == "failed":
            failing = ", ".join(r.failing_tests) or f"exit code {r.exit_code}"
            ElementTree.SubElement(case, "failure", message=f"failed: {failing}")
        elif r.status == "muted":
            ElementTree.SubElement(case, "skipped", message="quarantined")
        elif r.status == "skipped":
            ElementTree.SubElement(case, "skipped", message=r.why)
        ElementTree.SubElement(
            ElementTree.SubElement(case, "properties"), "property", name="status", value=r.status
        )
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True)


def drift_json(
    drift: Drift,
    edits: dict[str, dict[str, list[str]]],
    check: bool,
    hand: Sequence[HandEdit] = (),
) -> dict[str, Any]:
    """Missing deps per target with the import that needs each, problems, the edits
    written to BUILD.toml, the lines to add by hand, and the imports that close cycles."""
    return {
        "missing": {
            str(label): {str(dep): why for dep, why in needed.items()}
            for label, needed in drift.missing.items()
        },
        "problems": [str(problem) for problem in drift.problems],
        "edits": edits,
        "written": not check,
        "by_hand": [
            {"target": str(h.target), "dep": str(h.dep), "manifest": h.manifest, "add": h.add}
            for h in hand
        ],
        "cycles": {
            str(label): {str(dep): why for dep, why in closing.items()}
            for label, closing in drift.cycles.items()
        },
    }


def drift_text(
    drift: Drift,
    edits: dict[str, dict[str, list[str]]],
    check: bool,
    hand: Sequence[HandEdit] = (),
) -> str:
    """One line per missing dep, then the unresolved imports, then what was written and
    what must be added by hand, then the imports not suggested because of a cycle."""
    if drift.clean and not drift.problems and not drift.cycles:
        return "deps are tidy: every import is covered by a declared dependency"
    lines = [
        f"{label} needs {dep} ({why})"
        for label, needed in drift.missing.items()
        for dep, why in needed.items()
    ]
    lines += [f"warning: {problem}" for problem in drift.problems]
    verb = "would add" if check else "added"
    for manifest, additions in sorted(edits.items()):
        for name, labels in sorted(additions.items()):
            lines.append(f"{manifest}: {verb} {', '.join(labels)} to {name}")
    lines += [
        f"{h.manifest}: by hand: {h.add} (for {h.dep}; graphkit writes only BUILD.toml)"
        for h in hand
    ]
    lines += [
        f"note: {label} imports {dep} ({why}), which depends on {label}: "
        "not suggested, it would close a cycle"
        for label, closing in drift.cycles.items()
        for dep, why in closing.items()
    ]
    return "\n".join(lines)
