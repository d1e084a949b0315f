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

from collections.abc import Callable, Iterable, Mapping

from graphkit.analysis.graph import BuildGraph, matcher
from graphkit.labels import Label

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


def test_files(graph: BuildGraph, label: Label) -> Callable[[str], bool] | None:
    """A predicate on repo paths naming ``label``'s test files, or None when its rule
    names none (every BUILD.toml rule: all of such a target's edges carry)."""
    patterns = TEST_FILES.get(graph.targets[label].rule)
    if patterns is None:
        return None
    match = matcher(patterns)
    prefix = len(label.package) + 1 if label.package else 0
    return lambda path: match(path[prefix:])


def non_interface_files(graph: BuildGraph, label: Label, files: Iterable[str]) -> frozenset[str]:
    """The input files of ``label`` that are not in its interface: they key its own
    tasks and are hidden from its dependents.

    None yet: every input file is in the interface (unknown means affected, for
    dependents too). This is where per-ecosystem classification (tests, docs, files
    the build cannot read) plugs in; ``compute_keys`` and the affected walk already
    honour whatever it returns.
    """
    return frozenset()
