"""Rust includes: the literal paths of include_bytes!/include_str!/include!, resolved."""

from __future__ import annotations

from graphkit.readers.infer.resolve import ImportRef, Resolution
from graphkit.readers.infer.rust import RustResolver, imports

SOURCE = b"""\
// include_str!("commented.txt")
pub const LANGUAGES: &[u8] = include_bytes!("../../languages.toml");
const QUOTE: char = '"'; fn f<'a>(x: &'a str) -> &'a str { x }
const FAKE: &str = "include_str!(\\"in-a-string.txt\\")";
const RAW: &str = include_str!(r#"../data/raw.txt"#);
const HIDDEN: &str = r##"include!("in-a-raw-string.rs")"##;
include!(concat!(env!("OUT_DIR"), "/generated.rs"));
/* include!("block-commented.rs") */ include!("parts/mod.rs");
"""


def test_reads_the_literal_includes_and_nothing_in_comments_or_strings() -> None:
    assert [(r.module, r.line) for r in imports(SOURCE, "helix-loader/src/lib.rs")] == [
        ("../../languages.toml", 2),
        ("../data/raw.txt", 5),
        ("parts/mod.rs", 8),
    ]


def test_resolves_against_the_including_files_folder() -> None:
    resolver = RustResolver(frozenset({"languages.toml", "helix-loader/src/parts/mod.rs"}))
    ref = ImportRef("../../languages.toml", 2, "relative")
    assert resolver.resolve(ref, "helix-loader/src/lib.rs") == Resolution(
        "resolved", ("languages.toml",)
    )
    inside = resolver.resolve(ImportRef("parts/mod.rs", 8, "relative"), "helix-loader/src/lib.rs")
    assert inside.files == ("helix-loader/src/parts/mod.rs",)
    assert resolver.resolve(ImportRef("../../../x", 1, "relative"), "a/src/lib.rs").kind == (
        "external"
    )
    assert resolver.resolve(ImportRef("gone.txt", 1, "relative"), "a/lib.rs").kind == "unresolved"
