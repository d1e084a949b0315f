"""Cargo workspaces -> Packages: members, path and workspace deps, crate names, errors."""

from __future__ import annotations

import tomllib
from dataclasses import replace

import pytest
from depkinds import edge_kinds

from graphkit.errors import InputError
from graphkit.labels import Label
from graphkit.model import Package, Target, canonical_json
from graphkit.readers.manifests.cargo import MANIFESTS, crate_name, read_packages, read_workspace

ROOT = b"""\
[workspace]
resolver = "2"
members = ["crates/*", "tools/xtask"]
exclude = ["crates/legacy"]

[workspace.package]
version = "0.4.0"
edition = "2021"
license = "MIT OR Apache-2.0"

[workspace.dependencies]
acme-core = { path = "crates/acme-core", version = "0.4.0" }
acme-macros = { path = "crates/acme-macros" }
serde = { version = "1.0", features = ["derive"] }
tokio = "1.40"

[patch.crates-io]
acme-proto = { path = "crates/proto" }

[profile.release]
lto = "thin"
"""

CORE = b"""\
[package]
name = "acme-core"
version.workspace = true
edition.workspace = true

[dependencies]
serde.workspace = true
acme-macros = { workspace = true }

[dev-dependencies]
tokio = { workspace = true, features = ["macros", "rt"] }
"""

MACROS = b"""\
[package]
name = "acme_macros"
version = "0.4.0"
edition = "2021"

[lib]
proc-macro = true

[dependencies]
syn = { version = "2", features = ["full"] }
quote = "1"
"""

CLI = b"""\
[package]
name = "acme-cli"
version = "0.4.0"
edition = "2021"

[[bin]]
name = "acme"
path = "src/main.rs"

[dependencies]
core = { package = "acme-core", path = "../acme-core" }
acme-proto = "0.3"
clap = { version = "4.5", features = ["derive"] }

[target.'cfg(unix)'.dependencies]
acme-unix = { path = "../../platform/unix" }

[build-dependencies]
cc = "1.1"
"""

PROTO = b'[package]\nname = "acme-proto"\nversion = "0.3.1"\n'
UNIX = b'[package]\nname = "acme-unix"\nversion = "0.1.0"\n\n[dependencies]\nlibc = "0.2"\n'
XTASK = b"""\
[package]
name = "xtask"
version = "0.0.0"
publish = false

[dev-dependencies]
acme-cli = { path = "../../crates/cli" }
"""

REPO = {
    "Cargo.toml": ROOT,
    "crates/acme-core/Cargo.toml": CORE,
    "crates/acme-macros/Cargo.toml": MACROS,
    "crates/cli/Cargo.toml": CLI,
    "crates/proto/Cargo.toml": PROTO,
    "crates/legacy/Cargo.toml": b'[package]\nname = "acme-legacy"\n',
    "platform/unix/Cargo.toml": UNIX,
    "tools/xtask/Cargo.toml": XTASK,
    # In no member glob and no member's path dependency: outside the workspace.
    "examples/demo/Cargo.toml": b'[package]\nname = "demo"\n',
}


def package(
    folder: str, data: bytes, alias: str, deps: list[str], *, kinds: dict[str, str] | None = None
) -> Package:
    """The Package a member should become, its attribute computed from its own bytes."""
    name = folder.rsplit("/", 1)[-1] if folder else "root"
    manifest = f"{folder}/Cargo.toml" if folder else "Cargo.toml"
    target = Target(
        label=Label(folder, name),
        rule="cargo_crate",
        srcs=None,
        deps=tuple(Label(d, d.rsplit("/", 1)[-1]) for d in deps),
        attrs=(("manifest_doc", canonical_json(tomllib.loads(data.decode()))),),
        aliases=(alias,),
        **edge_kinds(kinds),
        manifest=manifest,
        line=1,
    )
    return Package(path=folder, manifest=manifest, targets=(target,))


def error_of(files: dict[str, bytes]) -> str:
    with pytest.raises(InputError) as caught:
        read_packages(files)
    return str(caught.value)


def deps_by_folder(files: dict[str, bytes]) -> dict[str, list[str]]:
    return {p.path: [str(d) for d in p.targets[0].deps] for p in read_packages(files)}


def test_manifests_names_the_files_to_collect() -> None:
    assert MANIFESTS == (
        "Cargo.toml",
        "rust-toolchain",
        "rust-toolchain.toml",
        ".cargo/config.toml",
        ".cargo/config",
        "clippy.toml",
        ".clippy.toml",
        "rustfmt.toml",
        ".rustfmt.toml",
    )


def test_crate_names_treat_dash_and_underscore_alike() -> None:
    assert crate_name("acme-core") == crate_name("acme_core") == "acme_core"


def test_cargo_workspace_reads_members_path_workspace_and_patched_deps() -> None:
    assert own(read_packages(REPO)) == (
        package("crates/acme-core", CORE, "acme_core", ["crates/acme-macros"]),
        package("crates/acme-macros", MACROS, "acme_macros", []),
        package(
            "crates/cli", CLI, "acme_cli", ["crates/acme-core", "crates/proto", "platform/unix"]
        ),
        package("crates/proto", PROTO, "acme_proto", []),
        # No glob names it: a member's path dependency on it makes it one, as in Cargo.
        package("platform/unix", UNIX, "acme_unix", []),
        package("tools/xtask", XTASK, "xtask", ["crates/cli"], kinds={"crates/cli": "dev"}),
    )


def test_dev_dependencies_are_test_only_and_may_close_a_cycle() -> None:
    """helix: helix-view dev-depends on helix-tui, which depends on helix-view. Both
    edges are kept; the dev one serves helix-view's tests only. A crate named in
    [dependencies] and [dev-dependencies] is a normal dep; build and optional deps carry."""
    root = b'[workspace]\nmembers = ["helix-*"]\n'
    view = b"""\
[package]
name = "helix-view"
version = "0.1.0"

[dependencies]
helix-core = { path = "../helix-core" }
helix-lsp = { path = "../helix-lsp", optional = true }

[build-dependencies]
helix-loader = { path = "../helix-loader" }

[dev-dependencies]
helix-tui = { path = "../helix-tui" }
helix-core = { path = "../helix-core", features = ["test"] }
"""
    tui = (
        b'[package]\nname = "helix-tui"\n[dependencies]\nhelix-view = { path = "../helix-view" }\n'
    )
    files = {"Cargo.toml": root, "helix-view/Cargo.toml": view, "helix-tui/Cargo.toml": tui}
    for name in ("helix-core", "helix-lsp", "helix-loader"):
        files[f"{name}/Cargo.toml"] = f'[package]\nname = "{name}"\n'.encode()
    by_folder = {p.path: p.targets[0] for p in read_packages(files)}
    view_target = by_folder["helix-view"]
    assert view_target.dep_kinds == (
        (Label("helix-loader", "helix-loader"), "build"),
        (Label("helix-lsp", "helix-lsp"), "optional"),
        (Label("helix-tui", "helix-tui"), "dev"),
    )
    assert view_target.test_deps == (Label("helix-tui", "helix-tui"),)
    assert by_folder["helix-tui"].deps == (Label("helix-view", "helix-view"),)


def test_a_root_package_is_the_root_member() -> None:
    root = b"""\
[package]
name = "acme"
version = "1.0.0"

[workspace]
members = ["crates/*"]

[dependencies]
acme-core = { path = "crates/core" }
"""
    files = {"Cargo.toml": root, "crates/core/Cargo.toml": b'[package]\nname = "acme-core"\n'}
    packages = read_packages(files)
    assert [(p.targets[0].label, p.targets[0].aliases) for p in packages] == [
        (Label("", "root"), ("acme",)),
        (Label("crates/core", "core"), ("acme_core",)),
    ]
    assert packages[0].targets[0].deps == (Label("crates/core", "core"),)


def test_exclude_wins_over_a_path_dependency_and_covers_subfolders() -> None:
    root = b'[workspace]\nmembers = ["crates/*"]\nexclude = ["third_party"]\n'
    files = {
        "Cargo.toml": root,
        "crates/app/Cargo.toml": (
            b'[package]\nname = "app"\n\n'
            b'[dependencies]\nzlib = { path = "../../third_party/zlib" }\n'
        ),
        "third_party/zlib/Cargo.toml": b'[package]\nname = "zlib"\n',
    }
    assert deps_by_folder(files) == {"crates/app": []}


def test_without_a_workspace_every_crate_is_a_package_linked_by_path() -> None:
    files = {
        "server/Cargo.toml": (
            b'[package]\nname = "server"\n[dependencies]\nshared = { path = "../shared" }\n'
        ),
        "shared/Cargo.toml": b'[package]\nname = "shared"\n',
        # A registry crate that shares a local crate's name is not that crate.
        "client/Cargo.toml": b'[package]\nname = "client"\n[dependencies]\nshared = "1.0"\n',
    }
    assert deps_by_folder(files) == {
        "client": [],
        "server": ["//shared:shared"],
        "shared": [],
    }


def test_a_comment_keeps_the_definition_and_a_feature_changes_it() -> None:
    before = read_packages(REPO)
    commented = MACROS.replace(b"[lib]", b"# procedural macros\n[lib]")
    assert read_packages({**REPO, "crates/acme-macros/Cargo.toml": commented}) == before
    featured = MACROS.replace(b'["full"]', b'["full", "extra-traits"]')
    assert read_packages({**REPO, "crates/acme-macros/Cargo.toml": featured}) != before


def test_toml_1_1_inline_tables_over_several_lines_are_read() -> None:
    """biome: a member's workspace dependency written as an inline table over several
    lines with a trailing comma (TOML 1.1, which Cargo reads). Reading TOML 1.0 only
    stopped every run on the repository with exit 2."""
    spread = CORE.replace(
        b"acme-macros = { workspace = true }",
        b'acme-macros = {\n  workspace = true,\n  features  = ["derive"],\n}',
    )
    assert (
        deps_by_folder({**REPO, "crates/acme-core/Cargo.toml": spread})["crates/acme-core"]
        == deps_by_folder(REPO)["crates/acme-core"]
        == ["//crates/acme-macros:acme-macros"]
    )


def test_separate_nested_workspaces_may_reuse_a_crate_name() -> None:
    # Fixture workspaces below a root that is no workspace, each with a crate `demo`.
    def fixture(root: str) -> dict[str, bytes]:
        return {
            f"{root}/Cargo.toml": b'[workspace]\nmembers = ["demo"]\n',
            f"{root}/demo/Cargo.toml": b'[package]\nname = "demo"\nversion = "0.1.0"\n',
        }

    files = {**fixture("tests/fixtures/a"), **fixture("tests/fixtures/b")}
    assert [p.path for p in read_packages(files)] == [
        "tests/fixtures/a/demo",
        "tests/fixtures/b/demo",
    ]
    clash = {
        **files,
        "tests/fixtures/a/Cargo.toml": b'[workspace]\nmembers = ["demo", "other"]\n',
        "tests/fixtures/a/other/Cargo.toml": b'[package]\nname = "demo"\nversion = "0.1.0"\n',
    }
    assert "two crates named 'demo'" in error_of(clash)


def test_a_patch_that_is_no_table_is_an_error() -> None:
    root = b'patch = 5\n[workspace]\nmembers = ["a"]\n'
    files = {"Cargo.toml": root, "a/Cargo.toml": b'[package]\nname = "a"\n'}
    assert error_of(files) == "Cargo.toml:1: `patch` must be a table of registries"


def test_invalid_toml_names_file_and_line() -> None:
    broken = CLI.replace(b'cc = "1.1"', b'cc = "1.1')
    assert error_of({**REPO, "crates/cli/Cargo.toml": broken}) == (
        "crates/cli/Cargo.toml:19: invalid TOML: Illegal character '\\n'"
    )


def test_a_workspace_dependency_missing_from_the_root_is_an_error() -> None:
    broken = CORE.replace(b"serde.workspace = true", b"serde_json.workspace = true")
    assert error_of({**REPO, "crates/acme-core/Cargo.toml": broken}) == (
        "crates/acme-core/Cargo.toml:7: dependency 'serde_json' has `workspace = true` "
        "but [workspace.dependencies] has no 'serde_json'"
    )


def test_two_crates_whose_names_differ_only_by_dash_are_an_error() -> None:
    files = {**REPO, "crates/proto/Cargo.toml": PROTO.replace(b"acme-proto", b"acme_core")}
    assert error_of(files) == (
        "crates/proto/Cargo.toml:1: two crates named 'acme_core': "
        "crates/acme-core/Cargo.toml and crates/proto/Cargo.toml "
        "(names must be unique within a workspace)"
    )


def test_members_without_a_manifest_or_package_are_errors() -> None:
    root = ROOT.replace(b'"tools/xtask"]', b'"tools/xtask", "tools/gen"]')
    assert error_of({**REPO, "Cargo.toml": root}) == (
        "Cargo.toml:3: workspace member 'tools/gen' has no Cargo.toml"
    )
    nested = {**REPO, "crates/nested/Cargo.toml": b'[workspace]\nmembers = ["a"]\n'}
    assert error_of(nested) == (
        "crates/nested/Cargo.toml:1: workspace member 'crates/nested' has no [package] table "
        "(add one, or exclude it in Cargo.toml)"
    )


def test_wrongly_typed_fields_point_at_their_lines() -> None:
    spec = CLI.replace(b'acme-proto = "0.3"', b"acme-proto = 3")
    assert error_of({**REPO, "crates/cli/Cargo.toml": spec}) == (
        "crates/cli/Cargo.toml:12: dependency 'acme-proto' must be a version string or a table"
    )
    unnamed = PROTO.replace(b'name = "acme-proto"\n', b"")
    assert error_of({**REPO, "crates/proto/Cargo.toml": unnamed}) == (
        "crates/proto/Cargo.toml:1: [package] needs a `name` string"
    )
    members = ROOT.replace(b'members = ["crates/*", "tools/xtask"]', b'members = "crates/*"')
    assert error_of({**REPO, "Cargo.toml": members}) == (
        "Cargo.toml:3: `workspace.members` must be a list of paths or globs"
    )


def own(packages: tuple[Package, ...]) -> tuple[Package, ...]:
    """The packages without the root configuration that reaches them (tested apart)."""
    return tuple(
        replace(
            p,
            targets=tuple(
                replace(t, attrs=tuple(a for a in t.attrs if a[0] != "root_config"))
                for t in p.targets
            ),
        )
        for p in packages
    )


def test_a_declared_workspace_never_reads_the_crates_it_does_not_reach() -> None:
    # astral-sh/ruff: test fixtures hold Cargo.toml files that are broken on purpose.
    files = {
        "Cargo.toml": b'[workspace]\nmembers = ["crates/*"]\n',
        "crates/ruff/Cargo.toml": b'[package]\nname = "ruff"\n',
        "crates/ruff/resources/test/fixtures/bad/Cargo.toml": b"[package\n",
        "crates/ruff/resources/test/fixtures/twice/Cargo.toml": b'[package]\nname = "ruff"\n',
    }
    found = read_workspace(files)
    assert [p.path for p in found.packages] == ["crates/ruff"]
    assert found.warnings == ()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ('["../*"]', "workspace.members pattern '../*': it leaves its folder with '..'"),
        ('["crates/[z-a]"]', "workspace.members pattern 'crates/[z-a]': '[z-a]' holds"),
    ],
)
def test_member_globs_that_match_nothing_they_mean_are_errors(members: str, message: str) -> None:
    root = b"[workspace]\nmembers = " + members.encode() + b"\n"
    files = {"Cargo.toml": root, "crates/a/Cargo.toml": b'[package]\nname = "a"\n'}
    assert error_of(files).startswith("Cargo.toml:2: " + message)


def test_without_a_workspace_an_unreadable_cargo_toml_is_a_warning() -> None:
    files = {
        "a/Cargo.toml": b'[package]\nname = "a"\n',
        "tests/fixtures/bad/Cargo.toml": b"[package\n",
        "tests/fixtures/dup/Cargo.toml": b'[package]\nname = "a"\n',
    }
    found = read_workspace(files)
    assert [p.path for p in found.packages] == ["a"]
    assert [str(w) for w in found.warnings] == [
        "tests/fixtures/bad/Cargo.toml:1: invalid TOML: Expected ']' at the end of a table "
        "declaration; not a workspace member",
        "tests/fixtures/dup/Cargo.toml:1: two crates named 'a': a/Cargo.toml and "
        "tests/fixtures/dup/Cargo.toml; not a workspace member",
    ]


def test_a_member_of_a_nested_workspace_root_must_be_valid() -> None:
    # A polyglot repository: the Rust workspace lives in rust/, not at the root.
    files = {
        "rust/Cargo.toml": b'[workspace]\nmembers = ["crates/*"]\n',
        "rust/crates/a/Cargo.toml": b'[package]\nname = "a"\n',
        "tools/fixtures/bad/Cargo.toml": b"[package\n",
    }
    found = read_workspace(files)
    assert [p.path for p in found.packages] == ["rust/crates/a"]
    assert [w.path for w in found.warnings] == ["tools/fixtures/bad/Cargo.toml"]
    assert error_of({**files, "rust/crates/a/Cargo.toml": b"[package\n"}).startswith(
        "rust/crates/a/Cargo.toml:1: invalid TOML"
    )
    assert error_of({**files, "rust/crates/a/Cargo.toml": b"[lib]\n"}).startswith(
        "rust/crates/a/Cargo.toml:1: [package] needs a `name` string"
    )
    outside = {**files, "rust/Cargo.toml": b'[workspace]\nmembers = ["../../*"]\n'}
    assert error_of(outside).startswith(
        "rust/Cargo.toml:2: workspace.members pattern '../../*': it leaves its folder"
    )
