"""go.work / go.mod -> Packages: the modfile subset, members, require/replace deps, errors."""

from __future__ import annotations

import pytest

from graphkit.errors import InputError
from graphkit.labels import Label
from graphkit.readers.manifests.go import (
    MANIFESTS,
    Directive,
    parse_directives,
    read_packages,
    read_workspace,
)

WORK = b"""\
go 1.22.5

toolchain go1.22.5

// Services and shared libraries of the Acme platform.
use (
	.
	./libs/core
	./libs/proto // generated protobuf types
	"./services/api"
	./services/worker
)

replace example.com/legacy/proto v1.0.0 => ./libs/proto
"""

ROOT = b"""\
module github.com/acme/platform

go 1.22

require github.com/acme/platform/libs/core v0.0.0-00010101000000-000000000000

tool golang.org/x/tools/cmd/stringer
"""

CORE = b"""\
module github.com/acme/platform/libs/core

go 1.22

require (
	github.com/google/uuid v1.6.0
	golang.org/x/sync v0.8.0 // indirect
)
"""

PROTO = b"""\
module github.com/acme/platform/libs/proto

go 1.22

require google.golang.org/protobuf v1.34.2
"""

API = b"""\
module github.com/acme/platform/services/api

go 1.22

require github.com/acme/platform/libs/core v0.0.0-00010101000000-000000000000

require (
	github.com/acme/platform/libs/proto v0.0.0
	github.com/go-chi/chi/v5 v5.1.0
)

replace github.com/acme/platform/libs/core => ../../libs/core
"""

WORKER = b"""\
module "github.com/acme/platform/services/worker"

go 1.22

godebug (
	default=go1.21
	panicnil=1
)

require (
	example.com/legacy/proto v1.0.0
	github.com/hibiken/asynq v0.24.1
)

replace (
	// Pinned to the local copy until v0.2 ships; nothing requires it directly.
	github.com/acme/platform/libs/core v0.1.0 => ../../libs/core
	github.com/acme/util => ../../libs/util
)

retract [v0.1.0, v0.1.5] // broken builds
"""

REPO = {
    "go.work": WORK,
    "go.mod": ROOT,
    "libs/core/go.mod": CORE,
    "libs/proto/go.mod": PROTO,
    "libs/util/go.mod": b"module github.com/acme/util\n",
    "services/api/go.mod": API,
    "services/worker/go.mod": WORKER,
    "tools/lint/go.mod": b"module github.com/acme/platform/tools/lint\n",
}


def summary(files: dict[str, bytes]) -> list[tuple[str, str, tuple[str, ...], list[str]]]:
    """(label, rule, aliases, deps) of every package, in order."""
    return [
        (str(t.label), t.rule, t.aliases, [str(d) for d in t.deps])
        for t in (p.targets[0] for p in read_packages(files))
    ]


def error_of(files: dict[str, bytes]) -> str:
    with pytest.raises(InputError) as caught:
        read_packages(files)
    return str(caught.value)


def test_manifests_names_the_files_to_collect() -> None:
    assert MANIFESTS == ("go.mod", "go.work", "go.work.sum")


def test_parse_directives_reads_blocks_quotes_and_comments() -> None:
    data = b"""\
module `example.com/x` // the module
require (
\t"example.com/y" v1.0.0 // indirect

\texample.com/z v2.0.0+incompatible
)
exclude ()
replace example.com/q => "./local dir"
"""
    assert parse_directives(data, "go.mod") == (
        Directive("module", ("example.com/x",), 1),
        Directive("require", ("example.com/y", "v1.0.0"), 3),
        Directive("require", ("example.com/z", "v2.0.0+incompatible"), 5),
        Directive("replace", ("example.com/q", "=>", "./local dir"), 8),
    )


def test_go_work_uses_modules_and_links_require_and_replace() -> None:
    assert summary(REPO) == [
        ("//:root", "go_module", ("github.com/acme/platform",), ["//libs/core:core"]),
        ("//libs/core:core", "go_module", ("github.com/acme/platform/libs/core",), []),
        ("//libs/proto:proto", "go_module", ("github.com/acme/platform/libs/proto",), []),
        (
            "//services/api:api",
            "go_module",
            ("github.com/acme/platform/services/api",),
            ["//libs/core:core", "//libs/proto:proto"],
        ),
        (
            # libs/core by its own replace; libs/proto by go.work's replace of what it
            # requires. libs/util is replaced into but is no member of the workspace.
            "//services/worker:worker",
            "go_module",
            ("github.com/acme/platform/services/worker",),
            ["//libs/core:core", "//libs/proto:proto"],
        ),
    ]


def test_target_records_manifest_and_module_line() -> None:
    worker = read_packages(REPO)[-1]
    target = worker.targets[0]
    assert (worker.path, worker.manifest, target.manifest, target.line) == (
        "services/worker",
        "services/worker/go.mod",
        "services/worker/go.mod",
        1,
    )
    assert (target.srcs, target.label) == (None, Label("services/worker", "worker"))


def test_single_line_use_and_a_use_outside_the_repo() -> None:
    work = b"go 1.22\nuse ./app\n"
    files = {"go.work": work, "app/go.mod": b"module example.com/app\n", "go.mod": ROOT}
    assert [label for label, *_ in summary(files)] == ["//app:app"]
    # A module graphkit cannot see would drop its edges silently: an error.
    outside = {**files, "go.work": work + b"use ../../etc\n"}
    assert error_of(outside) == (
        "go.work:3: use '../../etc': the folder is outside the repository "
        "(graphkit reads the modules of this repository only)"
    )


def test_a_nul_byte_in_go_mod_is_an_error() -> None:
    files = {"go.work": b"use ./app\n", "app/go.mod": b"module example.com/app\x00\n"}
    assert error_of(files) == "app/go.mod:1: NUL byte in a text file"


def test_without_go_work_an_unreadable_go_mod_is_a_warning() -> None:
    files = {"app/go.mod": b"module example.com/app\n", "fixtures/bad/go.mod": b'module "x\n'}
    found = read_workspace(files)
    assert [p.path for p in found.packages] == ["app"]
    assert [str(w) for w in found.warnings] == [
        "fixtures/bad/go.mod:1: unterminated quoted string; not a workspace member"
    ]


def test_go_work_reads_only_the_modules_it_uses() -> None:
    files = {"go.work": b"use ./app\n", "app/go.mod": b"module example.com/app\n"}
    files["fixtures/bad/go.mod"] = b'module "x\n'
    assert [label for label, *_ in summary(files)] == ["//app:app"]


def test_without_go_work_every_module_but_testdata_is_a_package() -> None:
    files = {
        "go.mod": ROOT,
        "libs/core/go.mod": CORE,
        "libs/core/testdata/mod/go.mod": b"module example.com/fixture\n",
        "tools/lint/go.mod": (
            b"module github.com/acme/platform/tools/lint\n\n"
            b"require github.com/acme/platform/libs/core v0.1.0\n"
        ),
    }
    assert summary(files) == [
        ("//:root", "go_module", ("github.com/acme/platform",), ["//libs/core:core"]),
        ("//libs/core:core", "go_module", ("github.com/acme/platform/libs/core",), []),
        (
            "//tools/lint:lint",
            "go_module",
            ("github.com/acme/platform/tools/lint",),
            ["//libs/core:core"],
        ),
    ]


def test_a_comment_keeps_the_definition_and_a_version_bump_changes_it() -> None:
    before = read_packages(REPO)
    commented = CORE.replace(b"go 1.22\n", b"go 1.22 // minimum\n")
    assert read_packages({**REPO, "libs/core/go.mod": commented}) == before
    bumped = CORE.replace(b"uuid v1.6.0", b"uuid v1.6.1")
    assert read_packages({**REPO, "libs/core/go.mod": bumped}) != before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (CORE.replace(b"\n)\n", b"\n"), "libs/core/go.mod:5: require block is never closed"),
        (CORE + b")\n", "libs/core/go.mod:9: unexpected ')'"),
        (
            CORE.replace(b"uuid v1.6.0", b"uuid"),
            "libs/core/go.mod:6: malformed require: expected 'module version', "
            "found 'github.com/google/uuid'",
        ),
        (
            CORE + b"replace github.com/google/uuid ./uuid\n",
            "libs/core/go.mod:9: malformed replace: expected 'module [version] => "
            "target [version]', found 'github.com/google/uuid ./uuid'",
        ),
        (
            CORE.replace(b"module github.com/acme/platform/libs/core", b""),
            "libs/core/go.mod:1: no module directive",
        ),
        (
            CORE.replace(b"module github.com/acme/platform/libs/core", b"module"),
            "libs/core/go.mod:1: malformed module: expected 'module path', found ''",
        ),
        (
            CORE.replace(b"golang.org/x/sync", b'"golang.org/x/sync'),
            "libs/core/go.mod:7: unterminated quoted string",
        ),
    ],
)
def test_malformed_go_mod_names_file_and_line(data: bytes, message: str) -> None:
    assert error_of({**REPO, "libs/core/go.mod": data}) == message


def test_unknown_directives_are_ignored() -> None:
    data = CORE + b"frobnicate example.com/x\nignore (\n\t./node_modules\n)\n"
    assert read_packages({**REPO, "libs/core/go.mod": data})[1].targets[0].deps == ()


def test_a_use_without_go_mod_is_an_error() -> None:
    work = WORK.replace(b"./services/worker", b"./services/mailer")
    assert error_of({**REPO, "go.work": work}) == (
        "go.work:11: use './services/mailer': no go.mod in that folder"
    )


def test_two_modules_with_one_path_name_both_files() -> None:
    files = {**REPO, "libs/proto/go.mod": PROTO.replace(b"libs/proto", b"libs/core")}
    assert error_of(files) == (
        "libs/proto/go.mod:1: two Go modules named 'github.com/acme/platform/libs/core': "
        "libs/core/go.mod and libs/proto/go.mod (names must be unique within a workspace)"
    )
