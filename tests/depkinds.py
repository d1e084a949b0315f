"""Expected edge kinds for the ecosystem reader tests: Target fields from a small dict."""

from __future__ import annotations

from typing import Any

from graphkit.labels import Label

# The kinds each ecosystem treats as test-only (npm devDependencies carry).
TEST_ONLY_KINDS = {"dev"}


def edge_kinds(kinds: dict[str, str] | None, *, dev_carries: bool = False) -> dict[str, Any]:
    """``dep_kinds`` and ``test_deps`` of a Target from ``{dep folder: kind}``."""
    found = {
        Label(folder, folder.rsplit("/", 1)[-1]): kind for folder, kind in (kinds or {}).items()
    }
    return {
        "dep_kinds": tuple(
            sorted((label, kind) for label, kind in found.items() if kind != "normal")
        ),
        "test_deps": tuple(
            sorted(label for label, kind in found.items() if kind == "dev" and not dev_carries)
        ),
    }
