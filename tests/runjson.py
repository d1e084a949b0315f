"""`graphkit run --format json` through the CLI fixture, for the task tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result

Cli = Callable[..., Result]


def run_json(cli: Cli, root: Path, *args: str, code: int = 0, **kwargs: Any) -> dict[str, Any]:
    """``graphkit run ARGS --format json`` in ``root``: its report, once it exits ``code``."""
    result = cli(root, "run", *args, "--format", "json", **kwargs)
    assert result.exit_code == code, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def statuses(data: dict[str, Any]) -> dict[str, str]:
    """Each task of a run report, ``LABEL#TASK``, with its status."""
    return {f"{t['label']}#{t['task']}": t["status"] for t in data["tasks"]}
