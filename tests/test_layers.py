"""The import layers of DESIGN.md hold: import-linter proves it on every test run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    linter = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert linter is not None, "import-linter is a dev dependency; install '.[dev]'"
    result = subprocess.run([linter], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_help_does_not_import_the_library() -> None:
    # `graphkit --help` must start fast: no pygit2, networkx or grpc at import time.
    code = (
        "import sys, graphkit.cli; "
        "heavy = [m for m in ('pygit2', 'networkx', 'grpc', 'diskcache') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
