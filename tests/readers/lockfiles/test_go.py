"""go.mod + go.sum -> Lock: requires, replacements, hashes, errors."""

from __future__ import annotations

import pytest

from graphkit.errors import InputError
from graphkit.readers.lockfiles import changed_members
from graphkit.readers.lockfiles.go import parse_go

GO_MOD = b"""\
module github.com/acme/api

go 1.22

toolchain go1.22.4

require (
\tgithub.com/acme/core v0.0.0-00010101000000-000000000000
\tgithub.com/go-chi/chi/v5 v5.0.12
\tgolang.org/x/sync v0.7.0
)

require (
\tgithub.com/google/uuid v1.6.0 // indirect
\tgolang.org/x/text v0.15.0 // indirect
)

// The core module lives beside this one.
replace github.com/acme/core => ../core

replace golang.org/x/text v0.15.0 => github.com/acme-forks/text v0.15.1

retract [v0.1.0, v0.1.2] // published by mistake
"""

GO_SUM = b"""\
github.com/acme-forks/text v0.15.1 h1:h8I3KOdDlCkRJ7K2BS5vHPcA/wNKrdpaG2ZtXHrhuVI=
github.com/acme-forks/text v0.15.1/go.mod h1:T3xIW4BKbFVbIPIrF7YPfxn2Sk2XhnqaVTrrJVT6ic4=
github.com/go-chi/chi/v5 v5.0.12 h1:9euLV5sTrTNTRUU9POmDUvfxyj6LAABLUcEWO+JJb4s=
github.com/go-chi/chi/v5 v5.0.12/go.mod h1:DslCQbL2OYiznFReuXYUmQ2hGd1aDpCnlMNITLSKoi8=
github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=
github.com/google/uuid v1.6.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=
golang.org/x/sync v0.7.0 h1:YsImfSBoP9QPYL0xyKJPq0gcaJdG3rInoqxTWbfQu9M=
golang.org/x/sync v0.7.0/go.mod h1:Czt+wKu1gCyEFDUtn0jG5QVvpJ6rzVqr5aXyt9drQfk=
"""

MODULE = "github.com/acme/api"


def changes(go_mod: bytes, go_sum: bytes) -> dict[str, str]:
    before = parse_go(GO_MOD, GO_SUM, "services/api/go.sum")
    changed = changed_members(before, parse_go(go_mod, go_sum, "services/api/go.sum"))
    assert changed is not None
    return dict(changed)


def test_closure_is_the_requires_with_replacements_applied() -> None:
    lock = parse_go(GO_MOD, GO_SUM, "services/api/go.sum")
    assert sorted(lock.closure) == [MODULE]
    assert {(r.name, r.version): r.integrity for r in lock.closure[MODULE]} == {
        ("github.com/go-chi/chi/v5", "v5.0.12"): "h1:9euLV5sTrTNTRUU9POmDUvfxyj6LAABLUcEWO+JJb4s=",
        ("github.com/google/uuid", "v1.6.0"): "h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=",
        ("golang.org/x/sync", "v0.7.0"): "h1:YsImfSBoP9QPYL0xyKJPq0gcaJdG3rInoqxTWbfQu9M=",
        # The fork's own hash; the local replacement of acme/core is no external.
        ("golang.org/x/text", "=> github.com/acme-forks/text v0.15.1"): (
            "h1:h8I3KOdDlCkRJ7K2BS5vHPcA/wNKrdpaG2ZtXHrhuVI="
        ),
    }


def test_bump_a_require_is_a_change() -> None:
    go_mod = GO_MOD.replace(b"chi/v5 v5.0.12", b"chi/v5 v5.0.13")
    go_sum = GO_SUM.replace(b"chi/v5 v5.0.12", b"chi/v5 v5.0.13")
    assert changes(go_mod, go_sum) == {MODULE: "github.com/go-chi/chi/v5 v5.0.12 -> v5.0.13"}


def test_indirect_bump_is_a_change() -> None:
    go_mod = GO_MOD.replace(b"uuid v1.6.0", b"uuid v1.6.1")
    assert changes(go_mod, GO_SUM) == {MODULE: "github.com/google/uuid v1.6.0 -> v1.6.1"}


def test_hash_change_alone_is_a_change_and_stale_sums_are_not() -> None:
    go_sum = GO_SUM.replace(b"h1:YsImfSBoP9", b"h1:AAAAAAAAAA")
    assert changes(GO_MOD, go_sum) == {MODULE: "golang.org/x/sync v0.7.0 integrity changed"}
    stale = GO_SUM + b"golang.org/x/sync v0.6.0 h1:5BMeUDZ7vkXGfEr1x9B4bRcTH4lpkTkpdh0T/J+qjbQ=\n"
    assert changes(GO_MOD, stale) == {}


def test_comment_and_formatting_edits_change_nothing() -> None:
    go_mod = GO_MOD.replace(
        b"\tgolang.org/x/sync v0.7.0\n", b"\tgolang.org/x/sync   v0.7.0 // sync\n"
    )
    assert changes(go_mod, GO_SUM) == {}


@pytest.mark.parametrize(
    ("go_mod", "go_sum", "where"),
    [
        (GO_MOD.replace(b")\n\n// The", b"\n// The"), GO_SUM, ("services/api/go.mod", 13)),
        (GO_MOD.replace(b"uuid v1.6.0", b"uuid"), GO_SUM, ("services/api/go.mod", 14)),
        (GO_MOD.replace(b"=> ../core", b"../core"), GO_SUM, ("services/api/go.mod", 19)),
        (GO_MOD, GO_SUM.replace(b" h1:YsIm", b"h1:YsIm"), ("services/api/go.sum", 7)),
        (b"go 1.22\n", b"", ("services/api/go.mod", 1)),
    ],
    ids=["unclosed-block", "require-without-version", "replace-without-arrow", "bad-sum-line",
         "no-module"],
)  # fmt: skip
def test_errors_name_file_and_line(go_mod: bytes, go_sum: bytes, where: tuple[str, int]) -> None:
    with pytest.raises(InputError) as caught:
        parse_go(go_mod, go_sum, "services/api/go.sum")
    assert (caught.value.path, caught.value.line) == where
