"""The graph page's data and HTML, made by the real CLI on real repositories."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result
from gitrepo import GitRepo

Cli = Callable[..., Result]


def page_of(html: str) -> dict[str, Any]:
    """The data a page embeds, as the page's script reads it."""
    found = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', html, re.S)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_page_marks_affected_targets_with_reason_and_chain(
    cli: Cli, monorepo: GitRepo, tmp_path: Path
) -> None:
    monorepo.append("libs/util/src/util/strings.py", "\n# x\n")
    out = tmp_path / "page.html"
    result = cli(monorepo.root, "graph", "--format", "html", "--base", "HEAD", "-o", str(out))
    assert result.exit_code == 0, result.output
    data = page_of(out.read_text())
    targets = {t["id"]: t for t in data["targets"]}
    assert len(targets) == 25  # the whole graph: --base colours, --affected would cut
    util = targets["//libs/util:util"]
    assert util["reason"] == "libs/util/src/util/strings.py modified"
    assert util["reason_kind"] != "dependency"
    assert targets["//libs/core:core"]["via"] == "//libs/util:util"
    assert targets["//tools/lint:lint"]["reason"] is None
    assert data["changed"] == [
        {"path": "libs/util/src/util/strings.py", "status": "modified", "old_path": None}
    ]
    assert targets["//js/ui:ui"]["names"] == ["@acme/ui"]
    # The key on the page is the key `explain` prints.
    explained = json.loads(cli(monorepo.root, "explain", "//libs/core", "--format", "json").output)
    assert targets["//libs/core:core"]["key"] == explained["key"]
    assert data["command"].startswith("graphkit graph --format html --base ")


def test_affected_page_holds_only_affected_targets_and_their_edges(
    cli: Cli, monorepo: GitRepo, tmp_path: Path
) -> None:
    monorepo.append("libs/util/src/util/strings.py", "\n# x\n")
    out = tmp_path / "page.html"
    cli(monorepo.root, "graph", "--format", "html", "--affected", "--base", "HEAD", "-o", str(out))
    data = page_of(out.read_text())
    affected = json.loads(
        cli(monorepo.root, "affected", "--base", "HEAD", "--format", "json").output
    )["affected"]
    assert sorted(t["id"] for t in data["targets"]) == affected
    ids = set(affected)
    assert data["edges"] and all(e["from"] in ids and e["to"] in ids for e in data["edges"])
    assert {"from": "//libs/core:core", "to": "//libs/util:util"}.items() <= next(
        e for e in data["edges"] if e["from"] == "//libs/core:core"
    ).items()


def test_edges_tell_declared_from_inferred_imports(
    make_repo: Callable[..., GitRepo], cli: Cli
) -> None:
    repo = make_repo(
        {
            "a/BUILD.toml": '[[target]]\nname = "a"\nrule = "python_library"\nsrcs = ["*.py"]\n',
            "a/a.py": "import b\n",
            "b/BUILD.toml": '[[target]]\nname = "b"\nrule = "python_library"\nsrcs = ["*.py"]\n'
            'deps = ["//c"]\n',
            "b/b.py": "",
            "c/BUILD.toml": '[[target]]\nname = "c"\nrule = "python_library"\nsrcs = ["*.py"]\n',
            "c/c.py": "",
        }
    )
    result = cli(repo.root, "graph", "--format", "html")
    assert result.exit_code == 0, result.output
    edges = {(e["from"], e["to"]): e for e in page_of(result.output)["edges"]}
    assert edges[("//b:b", "//c:c")]["kind"] == "declared"
    assert edges[("//a:a", "//b:b")]["kind"] == "import"
    assert edges[("//a:a", "//b:b")]["import"].startswith("a/a.py:1")


def test_page_is_self_contained(cli: Cli, monorepo: GitRepo) -> None:
    html = cli(monorepo.root, "graph", "--format", "html").output
    # Everything inlined: no element loads anything, and the page's policy forbids it.
    assert not re.search(r"<(script|img|iframe|link)\b[^>]*\b(src|href)=", html, re.I)
    assert "default-src 'none'" in html
    assert "cytoscape" in html.lower()


def test_hostile_file_names_cannot_end_the_data_script(
    make_repo: Callable[..., GitRepo], cli: Cli
) -> None:
    repo = make_repo(
        {
            "a/BUILD.toml": '[[target]]\nname = "a"\nrule = "python_library"\nsrcs = ["*"]\n',
            "a/x.py": "",
        }
    )
    repo.write("a/</script><script>alert(1)</script>.py", "")
    html = cli(repo.root, "graph", "--format", "html", "--base", "HEAD").output
    assert html.count("</script>") == 4  # the data, the library, the layout and the page
    data = page_of(html)
    assert data["changed"][0]["path"] == "a/</script><script>alert(1)</script>.py"


def test_output_file_is_written_whole(cli: Cli, monorepo: GitRepo, tmp_path: Path) -> None:
    out = tmp_path / "deep" / "graph.json"
    result = cli(monorepo.root, "graph", "--format", "json", "-o", str(out))
    assert result.exit_code == 0 and result.output == ""
    assert json.loads(out.read_text())["nodes"]
    assert [p.name for p in out.parent.iterdir()] == ["graph.json"]  # no temp file left


def test_unknown_base_is_an_input_error(cli: Cli, monorepo: GitRepo, tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    result = cli(monorepo.root, "graph", "--format", "html", "--base", "nope", "-o", str(out))
    assert result.exit_code == 2
    assert "nope" in result.output
    assert not out.exists()


def test_edges_tell_test_only_deps_and_shared_cycles(
    make_repo: Callable[..., GitRepo], cli: Cli
) -> None:
    # helix's shape: view dev-depends on tui (test-only), tui depends on view; and a
    # jest-like npm pair whose devDependency cycle carries, so its members share inputs.
    def crate(name: str, table: str, dep: str) -> str:
        return f'[package]\nname = "{name}"\nversion = "0.1.0"\n\n[{table}]\n{dep}\n'

    def npm(name: str, **deps: dict[str, str]) -> str:
        return json.dumps({"name": name, "version": "1.0.0", **deps})

    repo = make_repo(
        {
            "Cargo.toml": '[workspace]\nmembers = ["view", "tui"]\n',
            "view/Cargo.toml": crate("view", "dev-dependencies", 'tui = { path = "../tui" }'),
            "view/src/lib.rs": "",
            "tui/Cargo.toml": crate("tui", "dependencies", 'view = { path = "../view" }'),
            "tui/src/lib.rs": "",
            "package.json": json.dumps({"name": "root", "workspaces": ["js/*"]}),
            "js/snap/package.json": npm("snap", devDependencies={"config": "*"}),
            "js/config/package.json": npm("config", dependencies={"snap": "*"}),
        }
    )
    result = cli(repo.root, "graph", "--format", "html")
    assert result.exit_code == 0, result.output
    edges = {(e["from"], e["to"]): e for e in page_of(result.output)["edges"]}
    test_only = edges[("//view:view", "//tui:tui")]
    assert (test_only["kind"], test_only["label"], test_only["cycle"]) == ("test", "dev", False)
    assert edges[("//tui:tui", "//view:view")]["cycle"] is False  # a test edge closes no cycle
    npm_dev = edges[("//js/snap:snap", "//js/config:config")]
    assert (npm_dev["kind"], npm_dev["label"], npm_dev["cycle"]) == ("declared", "dev", True)
    assert edges[("//js/config:config", "//js/snap:snap")]["cycle"] is True
