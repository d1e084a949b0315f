"""nx.json and project.json -> the tasks of each project of an nx workspace."""

from __future__ import annotations

from collections.abc import Mapping

from graphkit.readers.pipelines.projects import Imported, Project

NX_FILE = "nx.json"
PROJECT_FILE = "project.json"


def import_nx(
    files: Mapping[str, bytes], manifests: Mapping[str, bytes], projects: Mapping[str, Project]
) -> Imported:
    """The tasks nx.json and the project.json files give each project."""
    return Imported({})
