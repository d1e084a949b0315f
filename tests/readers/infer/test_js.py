"""JS/TS import inference: tokenizer-based extraction, resolution, tsconfig and packages."""

from __future__ import annotations

import pytest
from budget import within
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphkit.errors import InputError
from graphkit.readers.infer.js import _imports, imports
from graphkit.readers.infer.js_resolve import JsResolver, config_files
from graphkit.readers.infer.resolve import (
    MAX_SOURCE_BYTES,
    ImportEdge,
    ImportRef,
    RefKind,
    Resolution,
    edges,
)


def specifiers(source: bytes, path: str = "apps/web/src/main.tsx") -> list[tuple[str, int, str]]:
    """(module, line, kind) of every ref, for compact expectations."""
    return [(r.module, r.line, r.kind) for r in imports(source, path)]


MAIN = b"""\
#!/usr/bin/env node
import React, { useState } from "react";
import type { Invoice } from './types';
import * as format from "../util/format.js";
import "./styles.css";
import {
  Button,
  type ButtonProps,
  "kebab-name" as kebab,
} from "@acme/ui/button";
import typeof Flow from "flow-thing";
import legacy = require("./legacy");
export { formatDate } from "./dates";
export * from './all';
export * as icons from "@acme/ui/icons/star";
export type { Props } from "./props";
export const answer = 42;
export { answer as default };
const fs = require('node:fs');
const meta = import.meta.url;
"""


def test_every_import_form_is_read_with_its_line() -> None:
    assert specifiers(MAIN) == [
        ("react", 2, "absolute"),
        ("./types", 3, "relative"),
        ("../util/format.js", 4, "relative"),
        ("./styles.css", 5, "relative"),
        ("@acme/ui/button", 6, "absolute"),
        ("flow-thing", 11, "absolute"),
        ("./legacy", 12, "relative"),
        ("./dates", 13, "relative"),
        ("./all", 14, "relative"),
        ("@acme/ui/icons/star", 15, "absolute"),
        ("./props", 16, "relative"),
        ("node:fs", 19, "absolute"),
    ]


def test_imports_inside_comments_strings_templates_and_regexes_are_ignored() -> None:
    source = b"""\
// import fake from "line-comment";
/* require("block-comment");
   import("also-block") */
const s = "import q from 'in-a-string'";
const t = 'require("single-quoted")';
const u = `export * from "in-a-template"`;
const re = /import\\("in-a-regex"\\)/g;
const ratio = total / count; const v = require("after-division");
const obj = { import: 1, require: 2 };
loader.require("a-method-call");
function require(name) { return name; }
const real = require("./real");
"""
    assert specifiers(source, "lib/index.js") == [
        ("after-division", 8, "absolute"),
        ("./real", 12, "relative"),
    ]


def test_template_literals_nest_and_only_literal_ones_resolve() -> None:
    source = b"""\
const page = `${prefix}/${`nested ${require("./inside-substitution")}`}`;
const lazy = () => import(`./pages/home`);
const chosen = await import(`./pages/${name}.js`);
"""
    assert imports(source, "app.mjs") == (
        ImportRef("./inside-substitution", 1, "relative", False),
        ImportRef("./pages/home", 2, "relative", True),
        ImportRef("`./pages/${name}.js`", 3, "dynamic", True),
    )


def test_non_literal_require_and_import_are_dynamic_and_nested_require_conditional() -> None:
    source = b"""\
const plugin = require(path.join(__dirname, "plugins", name));
export async function load(locale) {
  const messages = await import("./locales/" + locale + ".json");
  return require("./fallback");
}
"""
    assert imports(source, "i18n.js") == (
        ImportRef('path.join(__dirname, "plugins", name)', 1, "dynamic", False),
        ImportRef('"./locales/" + locale + ".json"', 3, "dynamic", True),
        ImportRef("./fallback", 4, "relative", True),
    )


def test_jsx_text_with_an_apostrophe_hides_nothing_on_later_lines() -> None:
    source = b"""\
export const Empty = () => <p>Don't panic, nothing here</p>;
const chart = require("./chart");
"""
    assert specifiers(source, "Empty.jsx") == [("./chart", 2, "relative")]


def test_unterminated_comment_is_unparseable_after_the_refs_before_it() -> None:
    source = b'import a from "./a";\n/* never closed\nimport b from "./b";\n'
    assert imports(source, "broken.ts") == (
        ImportRef("./a", 1, "relative"),
        ImportRef("unterminated /* comment", 2, "unparseable"),
    )


def test_a_template_ending_in_a_lone_backslash_is_unterminated_where_it_opens() -> None:
    source = b'import a from "./a";\nconst t = `x ${1} \\$ \\` still text\n\\'
    assert imports(source, "t.ts") == (
        ImportRef("./a", 1, "relative"),
        ImportRef("unterminated template literal", 2, "unparseable"),
    )


def test_lines_count_newlines_inside_strings_templates_and_comments() -> None:
    source = (
        b"/* one\n two */ const s = 'a\\\nb';\nconst t = `\n${x}\n`;\n"
        b"// import no from './no'\n  require('./late')"
    )
    assert specifiers(source, "l.js") == [("./late", 8, "relative")]


# ``imports`` matches runs of tokens no walk needs in C and keeps only their last; the
# reference reads every token. They must agree on any text, and on the tricky parts
# above all: regex literals, templates nesting ``${}``, comments naming imports.
TRICKY = b"""\
#!/usr/bin/env node
// import fake from "line-comment"; require("no")
/* import("block") */ import a from "./a"; const r = /import\\("x"\\)[/]/g, d = a / 2 / 3;
const t = `${`${require("./deep")} ${ {a: `}`}.a }`}` + `/${x}/`; q = 'it\\'s'; require(`./t`);
if (x) { const m = require(name + "x"); } export { b } from './b'; export * as c from "./c";
const o = { import: 1, "require": require('./o') }.import; x = y /* c */ / require("./div");
return /re/.test(s) ? import('./lazy') : obj.require("./method"); import x = require("./ts");
export type { T } from "./types"; import {
  a1, a2,
  "str" as s3,
} from "./clause"; module.exports = require.resolve("./res") + import.meta.url;
"""

FRAGMENTS = [
    "import", "export", "require", "(", ")", "{", "}", "${", "`", "'", '"', "/", "/*", "*/",
    "//", "\n", " ", "from", '"./x"', "'./y'", "`./z`", ".", "...", "function", "return",
    "typeof", "\\", "a", "1", ",", "*", "type", "\u00a0", "[", "]", "=", ";", "as",
    "/re[/]x/g", "import(", "require(", "export {", "import {", "} from ", "\u2028", "é",
]  # fmt: skip


def test_tricky_sources_read_the_same_every_token_or_not() -> None:
    expected = [
        ("./a", 3, "relative"),
        ("./deep", 4, "relative"),
        ("./t", 4, "relative"),
        ("./b", 5, "relative"),
        ("./c", 5, "relative"),
        ('name + "x"', 5, "dynamic"),
        ("./div", 6, "relative"),
        ("./o", 6, "relative"),
        ("./lazy", 7, "relative"),
        ("./ts", 7, "relative"),
        ("./clause", 8, "relative"),
        ("./types", 8, "relative"),
    ]  # by line, then specifier
    assert specifiers(TRICKY, "tricky.ts") == expected
    assert _imports(TRICKY, every_token=True) == imports(TRICKY, "tricky.ts")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=80))
def test_any_text_reads_the_same_every_token_or_not(parts: list[str]) -> None:
    source = "".join(parts).encode()
    assert _imports(source, every_token=False) == _imports(source, every_token=True)


def test_a_long_file_reads_the_same_every_token_or_not() -> None:
    # Long enough that the stretch shown of a dynamic argument ends inside it.
    source = TRICKY * 40 + b"require(x +" + b" 'y' + z" * 200 + b")" + TRICKY
    assert _imports(source, every_token=False) == _imports(source, every_token=True)


TSCONFIG_BASE = b"""\
{
  // Shared by every app; tsc accepts comments and trailing commas here.
  "compilerOptions": {
    "strict": true,
    "baseUrl": ".",
    "paths": {
      "@app/*": ["apps/web/src/*"],
      "@shared/config": ["packages/config/src/index.ts"],
      "@legacy/*": ["vendor/legacy/*", "packages/legacy-shim/*",],
    },
  },
}
"""
WEB_TSCONFIG = b'{ "extends": "../../tsconfig.base", "compilerOptions": { "jsx": "react-jsx" } }'
# No baseUrl anywhere in its chain: its paths are relative to its own folder.
ADMIN_TSCONFIG = b'{ "compilerOptions": { "paths": { "~/*": ["./src/*"] } } }'
UI_PACKAGE = b"""\
{
  "name": "@acme/ui",
  "exports": {
    ".": { "types": "./src/index.ts", "import": "./dist/index.mjs" },
    "./button": "./src/button.tsx",
    "./icons/*": "./dist/icons/*.js"
  }
}
"""
PACKAGE_JSONS = {
    "packages/ui/package.json": UI_PACKAGE,
    "packages/config/package.json": b'{"name": "@acme/config", "main": "dist/index.js"}',
    "packages/utils/package.json": b'{"name": "utils-lib", "main": "lib/main.js"}',
}
FILES = (
    "tsconfig.base.json",
    "apps/web/tsconfig.json",
    "apps/web/src/main.tsx",
    "apps/web/src/App.tsx",
    "apps/web/src/components/index.ts",
    "apps/web/src/components/Button.tsx",
    "apps/web/src/data/strings.json",
    "apps/web/src/util/format.ts",
    "apps/admin/tsconfig.json",
    "apps/admin/src/index.ts",
    "apps/admin/src/pages/home.ts",
    "packages/ui/src/index.ts",
    "packages/ui/src/button.tsx",
    "packages/ui/src/icons/star.tsx",
    "packages/config/src/index.ts",
    "packages/utils/lib/main.js",
    "packages/utils/lib/strings.js",
    "vendor/legacy/dates.js",
    "scripts/build.mjs",
    *PACKAGE_JSONS,
)
RESOLVER = JsResolver(
    FILES,
    {
        "tsconfig.base.json": TSCONFIG_BASE,
        "apps/web/tsconfig.json": WEB_TSCONFIG,
        "apps/admin/tsconfig.json": ADMIN_TSCONFIG,
    },
    package_jsons=PACKAGE_JSONS,
)
WEB = "apps/web/src/main.tsx"


def resolve(spec: str, from_path: str = WEB) -> Resolution:
    kind: RefKind = "relative" if spec.startswith(".") else "absolute"
    return RESOLVER.resolve(ImportRef(spec, 1, kind), from_path)


def files(spec: str, from_path: str = WEB) -> tuple[str, ...]:
    return resolve(spec, from_path).files


def test_relative_specifiers_try_extensions_then_index_then_ts_for_js() -> None:
    assert files("./App") == ("apps/web/src/App.tsx",)
    assert files("./components") == ("apps/web/src/components/index.ts",)
    assert files("./components/Button.tsx") == ("apps/web/src/components/Button.tsx",)
    assert files("./data/strings.json") == ("apps/web/src/data/strings.json",)
    assert files("./util/format.js") == ("apps/web/src/util/format.ts",)
    assert files("../../admin/src") == ("apps/admin/src/index.ts",)
    assert resolve("./Missing") == Resolution(
        "unresolved", (), "no file for ./Missing next to apps/web/src/main.tsx"
    )
    assert resolve("../../../../outside").kind == "unresolved"


def test_tsconfig_paths_with_wildcard_are_read_through_extends() -> None:
    assert resolve("@app/util/format") == Resolution(
        "resolved", ("apps/web/src/util/format.ts",), "tsconfig paths"
    )
    assert files("@shared/config") == ("packages/config/src/index.ts",)
    assert files("@legacy/dates") == ("vendor/legacy/dates.js",)
    assert resolve("@app/nowhere") == Resolution(
        "unresolved", (), "matches tsconfig paths, but no file exists"
    )


def test_tsconfig_base_url_and_paths_relative_to_their_own_config() -> None:
    assert resolve("packages/utils/lib/strings").files == ("packages/utils/lib/strings.js",)
    assert resolve("packages/utils/lib/strings").reason == "tsconfig baseUrl"
    admin = "apps/admin/src/index.ts"
    assert files("~/pages/home", admin) == ("apps/admin/src/pages/home.ts",)
    # Outside every tsconfig, an alias is just an unknown package.
    assert resolve("@app/util/format", "scripts/build.mjs").kind == "external"


def test_workspace_packages_resolve_through_exports_main_and_src_index() -> None:
    assert resolve("@acme/ui") == Resolution(
        "resolved", ("packages/ui/src/index.ts",), "workspace package"
    )
    assert files("@acme/ui/button") == ("packages/ui/src/button.tsx",)
    # "./icons/*" names dist/, which is not in the repo: the source under src/ is used.
    assert files("@acme/ui/icons/star") == ("packages/ui/src/icons/star.tsx",)
    assert files("@acme/config", "scripts/build.mjs") == ("packages/config/src/index.ts",)
    assert files("utils-lib", "scripts/build.mjs") == ("packages/utils/lib/main.js",)
    assert files("utils-lib/lib/strings", "scripts/build.mjs") == ("packages/utils/lib/strings.js",)


def test_other_bare_specifiers_are_external() -> None:
    for spec in ("react", "node:fs", "lodash/merge", "@types/node"):
        assert resolve(spec) == Resolution("external", (), "not a workspace package")


def test_explicit_package_map_wins_over_package_json_names() -> None:
    resolver = JsResolver(FILES, {}, {"ui": "packages/ui"}, PACKAGE_JSONS)
    ref = ImportRef("ui/button", 1, "absolute")
    assert resolver.resolve(ref, WEB).files == ("packages/ui/src/button.tsx",)
    assert resolver.resolve(ImportRef("@acme/ui", 1, "absolute"), WEB).kind == "external"


def test_malformed_tsconfig_is_an_input_error_with_file_and_line() -> None:
    broken = b'{\n  "compilerOptions": {\n    "baseUrl": "."\n    "paths": {}\n  }\n}\n'
    with pytest.raises(InputError) as err:
        JsResolver(FILES, {"apps/web/tsconfig.json": broken})
    assert str(err.value).startswith("apps/web/tsconfig.json:4: invalid JSON")


def test_tsconfig_extending_a_generated_file_is_a_warning_and_resolves_conservatively() -> None:
    # trpc/trpc: examples/nuxt/server/tsconfig.json extends ../.nuxt/tsconfig.server.json,
    # which `nuxt prepare` writes and git does not hold.
    config = (
        b'{"extends": "../.nuxt/tsconfig.server.json",'
        b' "compilerOptions": {"paths": {"~/*": ["./*"]}}}'
    )
    files = ("examples/nuxt/server/api/hello.ts", "examples/nuxt/server/utils/db.ts")
    resolver = JsResolver(files, {"examples/nuxt/server/tsconfig.json": config})
    assert [str(w) for w in resolver.warnings] == [
        "examples/nuxt/server/tsconfig.json: extends '../.nuxt/tsconfig.server.json': "
        "examples/nuxt/.nuxt/tsconfig.server.json is not in the repository (generated?); "
        "imports it could map are treated as unresolved"
    ]
    api = "examples/nuxt/server/api/hello.ts"
    # Its own paths still apply.
    assert resolver.resolve(ImportRef("~/utils/db", 1, "absolute"), api).files == (
        "examples/nuxt/server/utils/db.ts",
    )
    # A bare specifier the unread config could have mapped is not called external.
    assert resolver.resolve(ImportRef("#imports", 1, "absolute"), api) == Resolution(
        "unresolved",
        (),
        "examples/nuxt/server/tsconfig.json, which could map it, cannot be read",
    )


def test_extends_of_any_file_name_arrays_and_packages() -> None:
    configs = {
        "tsconfig.base.json": b'{"compilerOptions": {"paths": {"@b/*": ["./b/*"]}}}',
        "configs/strict.json": b'{"compilerOptions": {"strict": true}}',
        # TypeScript 5: a list of configs, later ones win.
        "apps/web/tsconfig.json": (
            b'{"extends": ["@tsconfig/node20/tsconfig.json", "../../configs/strict",'
            b' "../../tsconfig.base.json", "./tsconfig.build"]}'
        ),
        "apps/web/tsconfig.build.json": b'{"compilerOptions": {"paths": {"@w/*": ["src/*"]}}}',
    }
    files = ("apps/web/src/a.ts", "b/c.ts", *configs)
    resolver = JsResolver(files, configs)
    web = "apps/web/src/a.ts"
    assert resolver.warnings == []
    assert resolver.resolve(ImportRef("@w/a", 1, "absolute"), web).files == ("apps/web/src/a.ts",)
    # @tsconfig/node20 is not installed in the repository: an external config, no paths.
    assert resolver.resolve(ImportRef("react", 1, "absolute"), web).kind == "external"


def test_extends_a_package_config_from_a_committed_node_modules() -> None:
    configs = {
        "node_modules/@acme/tsconfig/tsconfig.json": (
            b'{"compilerOptions": {"paths": {"@lib/*": ["./lib/*"]}}}'
        ),
        "app/tsconfig.json": b'{"extends": "@acme/tsconfig"}',
    }
    files = ("app/src/x.ts", "node_modules/@acme/tsconfig/lib/y.ts", *configs)
    resolver = JsResolver(files, configs)
    assert resolver.resolve(ImportRef("@lib/y", 1, "absolute"), "app/src/x.ts").files == (
        "node_modules/@acme/tsconfig/lib/y.ts",
    )


def test_config_files_follows_extends_of_any_name() -> None:
    blobs = {
        "apps/web/tsconfig.json": b'{"extends": "../../configs/base.json"}',
        "apps/web/tsconfig.build.json": b"{}",
        "configs/base.json": b'{"extends": "./root"}',
        "configs/root.json": b"{}",
        "configs/unrelated.json": b"{}",
        "node_modules/x/tsconfig.json": b"{}",
    }
    assert sorted(config_files(blobs, blobs.__getitem__)) == [
        "apps/web/tsconfig.build.json",
        "apps/web/tsconfig.json",
        "configs/base.json",
        "configs/root.json",
    ]


def test_a_broken_tsconfig_in_a_test_fixture_is_a_warning() -> None:
    # withastro/astro ships invalid tsconfigs as test fixtures.
    broken = b'{\n  "compilerOptions": {,\n}'
    path = "packages/astro/test/fixtures/bad-config/tsconfig.json"
    resolver = JsResolver(("packages/astro/test/fixtures/bad-config/src/a.ts",), {path: broken})
    [warning] = resolver.warnings
    assert str(warning).startswith(f"{path}:3: invalid JSON: ")
    assert str(warning).endswith("; read as a config that maps nothing known")
    # The same file outside a fixture folder is an error.
    with pytest.raises(InputError, match="invalid JSON"):
        JsResolver((), {"packages/astro/tsconfig.json": broken})
    # vite's end-to-end tests build the apps of playground/, one broken on purpose.
    vite = "playground/tsconfig-json-load-error/has-error/tsconfig.json"
    assert [w.path for w in JsResolver((), {vite: broken}).warnings] == [vite]
    ref = ImportRef("astro", 1, "absolute")
    assert resolver.resolve(ref, "packages/astro/test/fixtures/bad-config/src/a.ts").kind == (
        "unresolved"
    )


def test_edges_link_files_and_report_dynamic_and_unresolved_imports() -> None:
    sources = {
        WEB: b'import App from "./App";\nimport { Button } from "@acme/ui";\n'
        b'import "./nope";\nconst page = import(`./pages/${name}`);\n',
        "apps/web/src/App.tsx": b'export * from "@app/components";\nimport React from "react";\n',
        "apps/web/src/data/strings.json": b'{"import": "x"}',
    }
    result = edges(sources, RESOLVER)
    assert result.edges == (
        ImportEdge("apps/web/src/App.tsx", "apps/web/src/components/index.ts", 1, False),
        ImportEdge(WEB, "apps/web/src/App.tsx", 1, False),
        ImportEdge(WEB, "packages/ui/src/index.ts", 2, False),
    )
    assert [str(p) for p in result.problems] == [
        f"{WEB}:3: unresolved import './nope' (no file for ./nope next to {WEB})",
        f"{WEB}:4: dynamic import '`./pages/${{name}}`' (not a literal)",
    ]


def test_tsconfig_json_wins_over_jsconfig_json_in_one_folder() -> None:
    configs = {
        "apps/web/jsconfig.json": b'{"compilerOptions": {"paths": {"@app/*": ["nowhere/*"]}}}',
        "apps/web/tsconfig.json": b'{"compilerOptions": {"paths": {"@app/*": ["src/*"]}}}',
    }
    ref = ImportRef("@app/App", 1, "absolute")
    assert JsResolver(FILES, configs).resolve(ref, WEB).files == ("apps/web/src/App.tsx",)


def test_tsconfig_extends_cycle_is_an_input_error() -> None:
    configs = {
        "apps/web/tsconfig.json": b'{"extends": "./tsconfig.app.json"}',
        "apps/web/tsconfig.app.json": b'{"extends": "./tsconfig.json"}',
    }
    with pytest.raises(InputError, match="cycles"):
        JsResolver(FILES, configs)


# Each of these took time quadratic in its size (8,000 repetitions: 7 to 34 s). At
# 100,000 a quadratic scan needs 20 minutes to hours, a linear one a second or two:
# the budget is generous for a loaded machine and a small fraction of the quadratic time.
HOSTILE = {
    "unclosed require": b"require(" * 100_000,
    "unclosed import call": b"import(" * 100_000,
    "import clauses that never end": b"import a " * 100_000,
    "export lists that never end": b"export {" * 100_000,
    "regex literals that never close": b"x=(/[" * 100_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_source_scans_in_linear_time(name: str) -> None:
    with within(30):
        refs = imports(HOSTILE[name], "bundle.js")
    assert all(len(ref.module) <= 120 for ref in refs)


def test_unclosed_require_is_dynamic_with_an_excerpt_of_its_start() -> None:
    source = b'const a = require(name +\n  "x" + ' + b"more + " * 20_000
    excerpt = ('name + "x" + ' + "more + " * 20)[:120]
    assert specifiers(source) == [(excerpt, 1, "dynamic")]


def test_file_over_the_size_limit_is_imports_unknown() -> None:
    source = b'import "./a";\n' * (MAX_SOURCE_BYTES // 14 + 1)
    with within(15):
        refs = imports(source, "dist/bundle.js")
    assert [(r.line, r.kind) for r in refs] == [(1, "unparseable")]
    assert "over the 2 MiB limit" in refs[0].module


def test_tsconfig_nested_50000_deep_is_an_input_error() -> None:
    deep = b'{"compilerOptions": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    with pytest.raises(InputError) as err:
        JsResolver(FILES, {"apps/web/tsconfig.json": deep})
    assert str(err.value).startswith("apps/web/tsconfig.json: nested too deeply to read")
