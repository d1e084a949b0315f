"""The two faces of a target: what its own tasks see, and what its dependents observe.

A target's *full* inputs are everything its tasks read. Its *interface* is the part
a dependent can observe: the full inputs minus what reaches the target only through
test-only edges (a Cargo dev-dependency, a PEP 735 group, an import from a test
file) and minus its non-interface files. A dependent's content key takes its deps'
interface keys, so a change outside a target's interface affects the target and
nothing beyond it.

Which files are test files decides the kind of an import edge: an import from a
test file serves the importer's tests only. The globs below are the conventions of
each ecosystem; BUILD.toml rules name none, so every edge of a BUILD.toml target
carries (its interface is everything, as before).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from graphkit.analysis.graph import BuildGraph, Translation, translate
from graphkit.labels import Label
from graphkit.model import Target, canonical_json

# Package-relative globs of the test files of each ecosystem rule.
TEST_FILES: Mapping[str, tuple[str, ...]] = {
    "npm_package": (
        "**/*.test.*",
        "**/*.spec.*",
        "**/__tests__/**",
        "test/**",
        "tests/**",
        "e2e/**",
    ),
    "python_package": ("tests/**", "**/test_*.py", "**/*_test.py", "**/conftest.py"),
    "cargo_crate": ("tests/**", "benches/**", "examples/**"),
    "go_module": ("**/*_test.go", "**/testdata/**"),
}

# Test data: files under these folders are read by tests only, and never scanned for
# imports (a codemod's fixtures import packages they do not depend on).
FIXTURE_FOLDERS: tuple[str, ...] = ("__testfixtures__", "__fixtures__", "fixtures")
FIXTURES: tuple[str, ...] = tuple(f"**/{folder}/**" for folder in FIXTURE_FOLDERS)

# Docs and project chrome: no build of a dependent reads them.
CHROME: tuple[str, ...] = ("**/*.md", "**/CHANGELOG*", "**/LICENSE*", ".github/**")

# Test data of a crate: top-level folders only, since a folder below src/ may hold
# modules (`mod fixtures;`) that the crate compiles.
CRATE_FIXTURES: tuple[str, ...] = tuple(f"{folder}/**" for folder in FIXTURE_FOLDERS)

# Package-relative globs of the files outside the interface of each ecosystem rule.
# Go compiles every non-test .go file of a package folder, fixtures/ ones too.
NOT_INTERFACE: Mapping[str, tuple[str, ...]] = {
    "npm_package": TEST_FILES["npm_package"] + FIXTURES + CHROME,
    "python_package": TEST_FILES["python_package"] + FIXTURES + CHROME,
    "cargo_crate": TEST_FILES["cargo_crate"] + CRATE_FIXTURES + CHROME,
    "go_module": TEST_FILES["go_module"] + CHROME,
}

# Rules whose build reads nothing but these files (and the exposed ones: embeds): every
# other file of the target is outside its interface. Go has no build scripts; cgo
# compiles the C, C++, Objective-C, Fortran, assembly and SWIG files of a package
# folder and links its .syso files. Crates have build scripts and proc macros
# (askama templates, sqlx migrations, rust-embed folders) that read files by paths
# graphkit cannot see, so a crate has no such list: its unknown files stay.
BUILD_FILES: Mapping[str, tuple[str, ...]] = {
    "go_module": (
        "**/*.go",
        "go.mod",
        "go.sum",
        "go.work",
        "go.work.sum",
        "vendor/modules.txt",
        *(
            f"**/*.{ext}"
            for ext in (
                "c",
                "h",
                "cc",
                "cpp",
                "cxx",
                "hh",
                "hpp",
                "hxx",
                "m",
                "s",
                "S",
                "sx",
                "f",
                "F",
                "for",
                "f90",
                "swig",
                "swigcxx",
                "syso",
            )
        ),
    ),
}


def is_fixture(path: str) -> bool:
    """True when ``path`` lies under a test-data folder (see ``FIXTURE_FOLDERS``)."""
    return any(part in FIXTURE_FOLDERS for part in path.split("/")[:-1])


def test_files(graph: BuildGraph, label: Label) -> Callable[[str], bool] | None:
    """A predicate on repo paths naming ``label``'s test files, or None when its rule
    names none (every BUILD.toml rule: all of such a target's edges carry)."""
    patterns = TEST_FILES.get(graph.targets[label].rule)
    if patterns is None:
        return None
    match = graph.matcher(patterns)
    prefix = len(label.package) + 1 if label.package else 0
    return lambda path: match(path[prefix:])


def non_interface_files(graph: BuildGraph, label: Label, files: Iterable[str]) -> frozenset[str]:
    """The input files of ``label`` that are not in its interface: they key its own
    tasks and are hidden from its dependents.

    For the ecosystem rules these are test files, test data (fixture folders) and docs
    and project chrome (``NOT_INTERFACE``), and for a Go module every file its build
    cannot read (``BUILD_FILES``), unless a source reads them (``BuildGraph.exposed``:
    imported from another target or from the target's interface, embedded, included).
    Every other file stays in the interface, unknown ones too: a build script might
    read them, and unknown means affected, for dependents as well. BUILD.toml rules
    hide nothing. graphkit.toml ``[inputs.RULE] interface_exclude`` adds globs to any
    rule's.
    """
    hidden = hidden_files(graph, label)
    if hidden is None:
        return frozenset()
    return frozenset(path for path in files if hidden(path))


def hidden_files(
    graph: BuildGraph, label: Label, *, by_name: bool = False
) -> Callable[[str], bool] | None:
    """A predicate on repo paths naming the files of ``label`` outside its interface,
    or None when its rule hides none. ``by_name``: the files the names alone would
    hide, exposed ones too."""
    rule = graph.targets[label].rule
    configured = graph.config.inputs_of(rule)
    extra = configured.interface_exclude if configured is not None else ()
    patterns = NOT_INTERFACE.get(rule)
    if patterns is None and not extra:
        return None
    hide = graph.matcher((*(patterns or ()), *extra))
    build = BUILD_FILES.get(rule)
    read = graph.matcher(build) if build is not None else None
    prefix = len(label.package) + 1 if label.package else 0
    exposed = frozenset() if by_name else graph.exposed

    def hidden(path: str) -> bool:
        relative = path[prefix:]
        if path in exposed:
            return False
        return hide(relative) or (read is not None and not read(relative))

    return hidden


def with_translations(graph: BuildGraph) -> BuildGraph:
    """``graph`` with the globs of this module translated for its rules too (test files,
    files outside the interface, ignored files), so a graph from the memo matches
    them without importing wcmatch."""
    lists: set[tuple[str, ...]] = set()
    for rule in {target.rule for target in graph.targets.values()}:
        configured = graph.config.inputs_of(rule)
        extra = configured.interface_exclude if configured is not None else ()
        if configured is not None and configured.ignore:
            lists.add(configured.ignore)
        if rule in TEST_FILES:
            lists.add(TEST_FILES[rule])
        if rule in NOT_INTERFACE or extra:
            lists.add((*NOT_INTERFACE.get(rule, ()), *extra))
        if rule in BUILD_FILES:
            lists.add(BUILD_FILES[rule])
    added: dict[tuple[str, ...], Translation] = {
        patterns: translate(patterns) for patterns in lists if patterns not in graph.globs
    }
    return replace(graph, globs={**graph.globs, **added}) if added else graph


# The attribute an ecosystem reader stores its parsed manifest in (canonical JSON).
MANIFEST_DOC = "manifest_doc"

# npm scripts that only the package's own checks run: `test`, `test:unit`, `pretest`,
# `lint`, `lint:fix`, `format`, ... A dependent never runs them.
_CHECK_SCRIPT = re.compile(r"(?:pre|post)?(?:test|lint|format|typecheck)(?::.*)?")


def ignored_files(graph: BuildGraph, label: Label) -> Callable[[str], bool] | None:
    """A predicate on repo paths naming the files of ``label`` that are no input at
    all (graphkit.toml ``[inputs.RULE] ignore``), or None when it names none."""
    configured = graph.config.inputs_of(graph.targets[label].rule)
    if configured is None or not configured.ignore:
        return None
    match = graph.matcher(configured.ignore)
    prefix = len(label.package) + 1 if label.package else 0
    return lambda path: match(path[prefix:])


def definition_file(graph: BuildGraph, label: Label) -> str | None:
    """The manifest whose parsed form defines ``label`` (an ecosystem target's
    package.json, pyproject.toml, Cargo.toml or go.mod), or None.

    Its bytes are no input: the parsed document is part of the target's definition,
    so re-indenting, reordering keys or adding a comment changes nothing, and a
    changed field changes the definition (see ``interface_definition`` for which
    fields reach dependents).
    """
    target = graph.targets[label]
    if not target.manifest or not any(name == MANIFEST_DOC for name, _ in target.attrs):
        return None
    return target.manifest


def interface_definition(target: Target) -> Target:
    """The part of a target's definition its dependents observe.

    npm scripts that only check the package (``test``, ``lint``, ``format`` and
    their ``pre``/``post``/``:variant`` forms) are left out; every other field stays
    (a version bump, ``exports``, ``dependencies``, a ``build`` script reach
    dependents). A target without such scripts is its own interface.
    """
    if target.rule != "npm_package":
        return target
    attrs = dict(target.attrs)
    scripts = json.loads(attrs.get("scripts", "{}"))
    if not isinstance(scripts, dict) or not any(_CHECK_SCRIPT.fullmatch(n) for n in scripts):
        return target
    kept = {name: command for name, command in scripts.items() if not _CHECK_SCRIPT.fullmatch(name)}
    attrs["scripts"] = canonical_json(kept)
    if MANIFEST_DOC in attrs:
        doc = json.loads(attrs[MANIFEST_DOC])
        if isinstance(doc, dict):
            # No scripts left and none at all are one interface: drop the empty object.
            doc = {k: v for k, v in doc.items() if k != "scripts"}
            attrs[MANIFEST_DOC] = canonical_json({**doc, "scripts": kept} if kept else doc)
    return replace(target, attrs=tuple(sorted(attrs.items())))
