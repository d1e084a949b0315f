"""The graph page: one self-contained HTML file that draws the target graph.

``page_data`` gathers what the page shows (targets with rule, input count, content
key and affected reason; edges with their kind) as plain JSON; ``render_page``
inlines it with the page's script and style and the vendored drawing library
(Cytoscape.js with the dagre layered layout, see ``vendor/VERSIONS``), so the file
opens offline and makes no network request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from graphkit.analysis.affected import Affected
from graphkit.analysis.graph import BuildGraph, components
from graphkit.labels import Label

# Bump when the shape of the embedded data changes; the page checks it.
PAGE_FORMAT = 2


def page_data(
    graph: BuildGraph,
    inputs: Mapping[Label, Sequence[str]],
    keys: Mapping[Label, str],
    affected: Affected | None,
    *,
    head: str,
    base: str | None,
    command: str,
    only_affected: bool = False,
) -> dict[str, Any]:
    """The page's data: targets, edges and the change, as JSON-ready values.

    With ``only_affected`` the page holds just the affected targets and the edges
    among them; otherwise every target, the affected ones carrying their reason.
    """
    hit = affected.targets if affected is not None else {}
    shown = [label for label in sorted(graph.targets) if not only_affected or label in hit]
    keep = set(shown)
    names: dict[Label, list[str]] = {}
    for alias, label in graph.aliases.items():
        names.setdefault(label, []).append(alias)
    # Cycles whose members share their inputs: closed by edges that carry.
    cycle_of = {
        label: index
        for index, members in enumerate(
            c for c in components(graph, test_edges=False) if len(c) > 1
        )
        for label in members
    }
    targets = []
    for label in shown:
        reason = hit.get(label)
        targets.append(
            {
                "id": str(label),
                "names": sorted(names.get(label, [])),
                "rule": graph.targets[label].rule,
                "group": _group(label),
                "inputs": len(inputs.get(label, ())),
                "key": keys.get(label),
                "reason": str(reason) if reason is not None else None,
                "reason_kind": reason.kind if reason is not None else None,
                "via": str(reason.via) if reason is not None and reason.via else None,
            }
        )
    edges = []
    for label in shown:
        for dep in sorted(graph.direct_deps(label)):
            if dep not in keep:
                continue
            via = graph.via_import(label, dep)
            carries = graph.carries(label, dep)
            edges.append(
                {
                    "from": str(label),
                    "to": str(dep),
                    # declared, import or test (test-only: it never reaches dependents)
                    "kind": "test" if not carries else "import" if via is not None else "declared",
                    "label": graph.edge_kind(label, dep),
                    "import": str(via) if via is not None else None,
                    "cycle": carries and label in cycle_of and cycle_of[label] == cycle_of.get(dep),
                }
            )
    changed = affected.changed if affected is not None else ()
    return {
        "format": PAGE_FORMAT,
        "head": head,
        "base": base,
        "command": command,
        "only_affected": only_affected,
        "targets": targets,
        "edges": edges,
        "changed": [
            {"path": c.path, "status": str(c.status), "old_path": c.old_path} for c in changed
        ],
        "removed": [str(label) for label in affected.removed] if affected is not None else [],
    }


def render_page(data: Mapping[str, Any]) -> str:
    """The whole page as one HTML string, scripts, style and data inlined."""
    files = resources.files("graphkit.views")
    page = (files / "page" / "page.html").read_text(encoding="utf-8")
    parts = {
        "/*STYLE*/": (files / "page" / "page.css").read_text(encoding="utf-8"),
        "/*CYTOSCAPE*/": (files / "vendor" / "cytoscape.min.js").read_text(encoding="utf-8"),
        "/*DAGRE*/": (files / "vendor" / "cytoscape-dagre.min.js").read_text(encoding="utf-8"),
        "/*PAGE*/": (files / "page" / "page.js").read_text(encoding="utf-8"),
        "/*DATA*/": _script_json(data),
        "<!--TITLE-->": _escape_html(f"graphkit graph · {data['head']}"),
    }
    for marker, text in parts.items():
        before, found, after = page.partition(marker)
        assert found, f"page.html lacks {marker}"
        page = before + _script_safe(text) + after
    return page


def _group(label: Label) -> str:
    """The top-level folder a target lives under (``(root)`` for the root package)."""
    return label.package.split("/", 1)[0] if label.package else "(root)"


def _script_json(data: Mapping[str, Any]) -> str:
    # File names and reasons are repository data: with every "<" escaped, none of
    # them can end the <script> element or open a comment inside it.
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c")


def _script_safe(text: str) -> str:
    """Text that cannot close the <script> or <style> element it is inlined in."""
    return text.replace("</", "<\\/")


def _escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
