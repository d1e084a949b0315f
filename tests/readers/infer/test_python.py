"""Python import inference: ast extraction, resolution over source roots, and file edges."""

from __future__ import annotations

from budget import within

from graphkit.readers.infer.python import PythonResolver, default_roots, imports
from graphkit.readers.infer.resolve import (
    MAX_SOURCE_BYTES,
    ImportEdge,
    ImportRef,
    Problem,
    RefKind,
    Resolution,
    edges,
)

ROUTES = b'''\
"""HTTP routes of the Acme API."""

from __future__ import annotations

import json
import os.path
from typing import TYPE_CHECKING

import requests
from acme.core import models, CURRENCY
from acme.core.util import text as text_utils

if TYPE_CHECKING:
    from acme.core.models import Invoice

try:
    import ujson as fast_json
except ImportError:
    fast_json = json


class Router:
    import acme.core.util

    def export(self, fmt: str) -> bytes:
        import csv

        return b""
'''

TEXT = b"""\
from __future__ import annotations

from .. import models
from . import nothing_here
from ...api import routes
from .slug import slugify
"""

PLUGINS = b"""\
import importlib
from importlib import import_module


def load(name: str) -> object:
    builtin = importlib.import_module("acme.core.models")
    relative = importlib.import_module(".util", __package__)
    anchored = import_module("..models", package="acme.core.util")
    return import_module(f"acme.plugins.{name}")


loader = __import__("acme.core.util.text")
legacy = __import__(name_from_config)
"""


Item = tuple[str, int, RefKind, bool] | tuple[str, int, RefKind, bool, bool]


def refs(*items: Item) -> tuple[ImportRef, ...]:
    """ImportRefs from (module, line, kind, conditional[, from_name]) tuples."""
    return tuple(ImportRef(*item) for item in items)


def test_absolute_imports_record_from_names_as_candidates_and_flag_conditional_ones() -> None:
    assert imports(ROUTES, "libs/api/src/acme/api/routes.py") == refs(
        ("__future__", 3, "absolute", False),
        ("__future__.annotations", 3, "absolute", False, True),
        ("json", 5, "absolute", False),
        ("os.path", 6, "absolute", False),
        ("typing", 7, "absolute", False),
        ("typing.TYPE_CHECKING", 7, "absolute", False, True),
        ("requests", 9, "absolute", False),
        ("acme.core", 10, "absolute", False),
        ("acme.core.CURRENCY", 10, "absolute", False, True),
        ("acme.core.models", 10, "absolute", False, True),
        ("acme.core.util", 11, "absolute", False),
        ("acme.core.util.text", 11, "absolute", False, True),
        ("acme.core.models", 14, "absolute", True),
        ("acme.core.models.Invoice", 14, "absolute", True, True),
        ("ujson", 17, "absolute", True),
        ("acme.core.util", 23, "absolute", False),  # a class body runs at import time
        ("csv", 26, "absolute", True),
    )


def test_relative_imports_keep_their_dots() -> None:
    assert imports(TEXT, "libs/core/src/acme/core/util/text.py") == refs(
        ("__future__", 1, "absolute", False),
        ("__future__.annotations", 1, "absolute", False, True),
        ("..", 3, "relative", False),
        ("..models", 3, "relative", False, True),
        (".", 4, "relative", False),
        (".nothing_here", 4, "relative", False, True),
        ("...api", 5, "relative", False),
        ("...api.routes", 5, "relative", False, True),
        (".slug", 6, "relative", False),
        (".slug.slugify", 6, "relative", False, True),
    )


def test_importlib_literals_are_imports_and_other_arguments_are_dynamic() -> None:
    assert imports(PLUGINS, "libs/core/src/acme/core/plugins.py") == refs(
        ("importlib", 1, "absolute", False),
        ("importlib", 2, "absolute", False),
        ("importlib.import_module", 2, "absolute", False, True),
        ("acme.core.models", 6, "absolute", True),
        (".util", 7, "relative", True),
        ("acme.core.models", 8, "absolute", True),
        ("f'acme.plugins.{name}'", 9, "dynamic", True),
        ("acme.core.util.text", 12, "absolute", False),
        ("name_from_config", 13, "dynamic", False),
    )


def test_syntax_error_is_an_unparseable_marker_at_its_line() -> None:
    source = b"import os\n\ndef broken(:\n    pass\n"
    assert imports(source, "tools/broken.py") == refs(("invalid syntax", 3, "unparseable", False))
    assert imports(b"x = 1\0", "tools/nul.py")[0].kind == "unparseable"


# A uv-style monorepo: two src-layout libraries sharing the namespace package "acme",
# two services that both ship a module "shared.config", and a flat tools folder.
FILES = (
    "pyproject.toml",
    "libs/core/pyproject.toml",
    "libs/core/src/acme/core/__init__.py",
    "libs/core/src/acme/core/models.py",
    "libs/core/src/acme/core/util.py",  # shadowed by the util/ package beside it
    "libs/core/src/acme/core/util/__init__.py",
    "libs/core/src/acme/core/util/slug.py",
    "libs/core/src/acme/core/util/text.py",
    "libs/core/tests/test_models.py",
    "libs/api/pyproject.toml",
    "libs/api/src/acme/api/__init__.py",
    "libs/api/src/acme/api/routes.py",
    "services/billing/pyproject.toml",
    "services/billing/src/shared/config.py",
    "services/shipping/pyproject.toml",
    "services/shipping/src/shared/config.py",
    "tools/BUILD.toml",
    "tools/logging.py",
    "tools/release.py",
    "vendor/src/__init__.py",
    "vendor/src/thing.py",
    "web/src/index.ts",
)
ROOTS = default_roots(FILES)
RESOLVER = PythonResolver(FILES, ROOTS)
API = "libs/api/src/acme/api/routes.py"


def absolute(name: str, from_path: str = API) -> Resolution:
    return RESOLVER.resolve(ImportRef(name, 1, "absolute"), from_path)


def relative(name: str, from_path: str) -> Resolution:
    return RESOLVER.resolve(ImportRef(name, 1, "relative"), from_path)


def test_default_roots_are_manifest_folders_and_src_folders_that_are_not_packages() -> None:
    assert ROOTS == (
        "",
        "libs/api",
        "libs/api/src",
        "libs/core",
        "libs/core/src",
        "services/billing",
        "services/billing/src",
        "services/shipping",
        "services/shipping/src",
        "tools",
    )


def test_src_layout_module_resolves_with_the_package_inits_it_runs() -> None:
    assert absolute("acme.core.util.slug") == Resolution(
        "resolved",
        (
            "libs/core/src/acme/core/util/slug.py",
            "libs/core/src/acme/core/__init__.py",
            "libs/core/src/acme/core/util/__init__.py",
        ),
    )
    assert absolute("acme.core").files == ("libs/core/src/acme/core/__init__.py",)


def test_package_wins_over_a_module_of_the_same_name() -> None:
    assert absolute("acme.core.util").files == (
        "libs/core/src/acme/core/util/__init__.py",
        "libs/core/src/acme/core/__init__.py",
    )


def test_namespace_package_spanning_roots_resolves_to_no_file() -> None:
    assert absolute("acme") == Resolution("resolved", (), "namespace package: loads no file")
    assert absolute("acme.api.routes").files == (
        "libs/api/src/acme/api/routes.py",
        "libs/api/src/acme/api/__init__.py",
    )


def test_module_under_two_roots_is_ambiguous_with_both_candidates() -> None:
    res = absolute("shared.config", "tools/release.py")
    assert res.kind == "ambiguous"
    assert res.files == (
        "services/billing/src/shared/config.py",
        "services/shipping/src/shared/config.py",
    )


def test_stdlib_and_third_party_are_external() -> None:
    assert absolute("json") == Resolution("external", (), "standard library")
    assert absolute("os.path").kind == "external"
    assert absolute("requests") == Resolution(
        "external", (), "third-party: not under any source root"
    )


def test_repo_module_shadows_the_stdlib_only_under_the_importers_own_root() -> None:
    assert absolute("logging", "tools/release.py").files == ("tools/logging.py",)
    assert absolute("logging", API) == Resolution("external", (), "standard library")


def test_missing_submodule_of_a_repo_package_is_unresolved() -> None:
    assert absolute("acme.core.missing") == Resolution(
        "unresolved", (), "package acme.core has no missing"
    )
    assert absolute("acme.core.models.Invoice").kind == "unresolved"
    # "acme" is a namespace package: another portion may be installed from outside.
    assert absolute("acme.billing").kind == "external"


def test_relative_imports_resolve_against_the_files_package() -> None:
    text = "libs/core/src/acme/core/util/text.py"
    assert relative("..", text).files == ("libs/core/src/acme/core/__init__.py",)
    assert relative("..models", text).files == ("libs/core/src/acme/core/models.py",)
    assert relative(".slug", text).files[0] == "libs/core/src/acme/core/util/slug.py"
    assert relative(".nothing_here", text).kind == "unresolved"
    # Two dots up from acme.core.util is the namespace package acme, whose "api"
    # portion lives under another root.
    assert relative("...api.routes", text).files[0] == "libs/api/src/acme/api/routes.py"


def test_relative_import_beyond_the_top_level_package_is_unresolved() -> None:
    models = "libs/core/src/acme/core/models.py"
    assert relative("..", models).kind == "resolved"
    assert relative("...", models) == Resolution(
        "unresolved", (), "relative import beyond the top-level package"
    )
    assert relative(".", "tools/release.py").kind == "unresolved"


def test_edges_link_files_skip_names_and_report_every_problem() -> None:
    sources = {
        API: ROUTES,
        "libs/core/src/acme/core/util/text.py": TEXT,
        "libs/core/src/acme/core/plugins.py": PLUGINS,
        "tools/release.py": b"import shared.config\nimport acme.core.missin\n",
        "tools/broken.py": b"def broken(:\n",
        "web/src/index.ts": b'import "./x";\n',
    }
    result = edges(sources, RESOLVER)
    core = "libs/core/src/acme/core"
    assert result.edges == (
        ImportEdge(API, f"{core}/__init__.py", 10, False),
        ImportEdge(API, f"{core}/models.py", 10, False),
        ImportEdge(API, f"{core}/util/__init__.py", 11, False),
        ImportEdge(API, f"{core}/util/text.py", 11, False),
        # First imported lazily at line 6, then for certain by __import__ at line 12.
        ImportEdge(f"{core}/plugins.py", f"{core}/__init__.py", 6, False),
        ImportEdge(f"{core}/plugins.py", f"{core}/models.py", 6, True),
        ImportEdge(f"{core}/plugins.py", f"{core}/util/__init__.py", 7, False),
        ImportEdge(f"{core}/plugins.py", f"{core}/util/text.py", 12, False),
        ImportEdge(f"{core}/util/text.py", "libs/api/src/acme/api/__init__.py", 5, False),
        ImportEdge(f"{core}/util/text.py", "libs/api/src/acme/api/routes.py", 5, False),
        ImportEdge(f"{core}/util/text.py", f"{core}/__init__.py", 3, False),
        ImportEdge(f"{core}/util/text.py", f"{core}/models.py", 3, False),
        ImportEdge(f"{core}/util/text.py", f"{core}/util/__init__.py", 4, False),
        ImportEdge(f"{core}/util/text.py", f"{core}/util/slug.py", 6, False),
    )
    assert [str(p) for p in result.problems] == [
        f"{core}/plugins.py:9: dynamic import \"f'acme.plugins.{{name}}'\" (not a literal)",
        f"{core}/plugins.py:13: dynamic import 'name_from_config' (not a literal)",
        "tools/broken.py:1: cannot read imports: invalid syntax",
        "tools/release.py:1: ambiguous import 'shared.config' (candidates: "
        "services/billing/src/shared/config.py, services/shipping/src/shared/config.py)",
        "tools/release.py:2: unresolved import 'acme.core.missin' "
        "(package acme.core has no missin)",
    ]
    assert result.problems[0] == Problem(
        f"{core}/plugins.py", 9, "dynamic", "f'acme.plugins.{name}'", "not a literal"
    )


def test_file_over_the_size_limit_is_imports_unknown() -> None:
    # A 10 MB generated module took 23 s to parse; past the limit it is not read.
    source = b"import os\n" * (MAX_SOURCE_BYTES // 10 + 1)
    with within(15):
        refs = imports(source, "gen/big.py")
    assert [(r.line, r.kind) for r in refs] == [(1, "unparseable")]
    assert "over the 2 MiB limit" in refs[0].module


def test_dynamic_argument_nested_too_deep_to_show_is_still_dynamic() -> None:
    source = b"import_module(" + b"a+" * 900 + b"a)\n"
    assert imports(source, "x.py") == (ImportRef("(BinOp nested too deep to show)", 1, "dynamic"),)
