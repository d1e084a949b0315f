"""docs/ci/ and the pipelines graphkit writes pass the CI vendors' published schemas.

check-jsonschema ships the schemas (``vendor.github-workflows``, ``vendor.gitlab-ci``,
``vendor.buildkite``), so this needs no network. An edit that a vendor would reject
fails here before anyone copies it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from graphkit.config import ShardSettings
from graphkit.execution import ci
from graphkit.execution.plan import Plan, Unit, make_plan

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ci"
SCHEMAS = {
    "github.yml": "vendor.github-workflows",
    "gitlab-ci.yml": "vendor.gitlab-ci",
    "buildkite.yml": "vendor.buildkite",
}


def validate(path: Path, schema: str) -> subprocess.CompletedProcess[str]:
    checker = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert checker is not None, "check-jsonschema is a dev dependency; install '.[dev]'"
    return subprocess.run(
        [checker, "--builtin-schema", schema, str(path)], capture_output=True, text=True
    )


def plan_of(busy: int, shards: int) -> Plan:
    units = [Unit(f"//p{i}:t", f"//p{i}:t", "test", "python_test", None, 1.0) for i in range(busy)]
    return make_plan("test", units, shards, ShardSettings())


def test_every_ci_example_is_covered() -> None:
    assert sorted(p.name for p in DOCS.glob("*.yml")) == sorted(SCHEMAS)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_ci_example_passes_its_vendor_schema(name: str) -> None:
    result = validate(DOCS / name, SCHEMAS[name])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("busy", [0, 3])
def test_generated_gitlab_pipeline_passes_the_schema(busy: int, tmp_path: Path) -> None:
    out = tmp_path / "shards.yml"
    out.write_text(ci.gitlab_pipeline(plan_of(busy, 2), task="test", remote_cache="grpc://c:1"))
    result = validate(out, "vendor.gitlab-ci")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("busy", [0, 3])
def test_generated_buildkite_pipeline_passes_the_schema(busy: int, tmp_path: Path) -> None:
    out = tmp_path / "shards.yml"
    out.write_text(ci.buildkite_pipeline(plan_of(busy, 2), task="test"))
    result = validate(out, "vendor.buildkite")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_example_is_caught(tmp_path: Path) -> None:
    # The negative control: the checker really rejects what GitLab would.
    broken = tmp_path / "gitlab-ci.yml"
    broken.write_text("plan:\n  stage: plan\n  script: 5\n")
    assert validate(broken, "vendor.gitlab-ci").returncode != 0
