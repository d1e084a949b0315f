"""Rule definitions: ``rules/*.toml`` data files -> validated Rules.

The built-in rules ship inside the package (``graphkit/_rules`` in a wheel; the
repository's ``rules/`` folder in a checkout). A workspace adds or overrides rules
with files in the folder that ``graphkit.toml`` names as ``rules_dir``; those are
read from the revision being analyzed, like any manifest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from graphkit.errors import InputError
from graphkit.labels import check_need
from graphkit.model import Rule, TaskSpec
from graphkit.readers.manifests.build_toml import check_inputs, check_pass_env
from graphkit.tomldoc import check_keys, line_of, load_toml

_RULE_KEYS = {"description", "srcs", "tasks", "shard_unit", "infer", "test_files", "attrs"}
_TASK_KEYS = {
    "command",
    "outputs",
    "env",
    "junit",
    "needs",
    "inputs",
    "pass_env",
    "cache",
    "persistent",
}
_INFERENCE = {"python", "js", "rust", "go"}
# Target fields of BUILD.toml, and its per-task overrides (see manifests/build_toml.py).
_RESERVED_ATTRS = {
    *("name", "rule", "srcs", "deps"),
    *("needs", "inputs", "pass_env", "cache", "persistent"),
}


def _strings(value: Any, what: str, path: str, line: int | None) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{what} must be a list of strings", path=path, line=line)
    return tuple(value)


def _flag(task: Mapping[str, Any], key: str, default: bool, path: str, line: int | None) -> bool:
    value = task.get(key, default)
    if not isinstance(value, bool):
        raise InputError(f"`{key}` must be true or false", path=path, line=line)
    return value


def _check_output(template: str, what: str, path: str, line: int | None) -> None:
    """Refuse an output template that, whatever its placeholders expand to, leaves the
    workspace or lands in ``.git`` (placeholders are checked again once expanded)."""
    parts = template.split("/")
    if template.startswith("/") or "\\" in template or ".." in parts:
        raise InputError(
            f"output {template!r} of {what} leaves the workspace",
            path=path,
            line=line,
            hint="outputs are repo-relative paths: no '..', no leading '/'",
        )
    if any(part.lower() == ".git" for part in parts):
        raise InputError(f"output {template!r} of {what} is inside .git", path=path, line=line)


def _parse_task(
    name: str, task: dict[str, Any], kind: str, data: bytes, path: str, task_line: int
) -> TaskSpec:
    """One ``[rule.<kind>.tasks.<name>]`` table; errors name the line of the field."""
    what = f"task {name!r} of rule {kind!r}"
    check_keys(task, _TASK_KEYS, what=f"task {name!r}", path=path, data=data, start=task_line)

    def at(key: str) -> int:
        return line_of(data, key, start=task_line) or task_line

    junit = task.get("junit")
    if junit is not None and not isinstance(junit, str):
        raise InputError("`junit` must be a string", path=path, line=task_line)
    outputs = _strings(task.get("outputs", []), "outputs", path, task_line)
    for output in outputs:
        _check_output(output, what, path, task_line)
    needs = task.get("needs")
    if needs is not None:
        needs = _strings(needs, "needs", path, task_line)
        for need in needs:
            check_need(need, what, path, task_line)
    inputs = task.get("inputs")
    if inputs is not None:
        inputs = check_inputs(inputs, what, path, at("inputs"))
    pass_env = _strings(task.get("pass_env", []), "pass_env", path, at("pass_env"))
    return TaskSpec(
        name=name,
        command=task["command"],
        outputs=outputs,
        env=tuple(sorted(_strings(task.get("env", []), "env", path, task_line))),
        junit=junit,
        needs=needs,
        inputs=inputs,
        pass_env=check_pass_env(list(pass_env), what, path, at("pass_env")),
        cache=_flag(task, "cache", True, path, at("cache")),
        persistent=_flag(task, "persistent", False, path, at("persistent")),
    )


def parse_rules(data: bytes, path: str) -> tuple[Rule, ...]:
    """Parse one rule file: ``[rule.<kind>]`` tables with ``[rule.<kind>.tasks.<name>]``."""
    doc = load_toml(data, path)
    check_keys(doc, {"rule"}, what="a rule file", path=path, data=data)
    table = doc.get("rule", {})
    if not isinstance(table, dict):
        raise InputError(
            "`rule` must be a table of rule kinds", path=path, line=line_of(data, "rule")
        )
    rules = []
    for kind, body in table.items():
        start = line_of(data, f"rule.{kind}") or 1
        if not isinstance(body, dict):
            raise InputError(f"rule {kind!r} must be a table", path=path, line=start)
        check_keys(body, _RULE_KEYS, what=f"rule {kind!r}", path=path, data=data, start=start)

        def at(key: str, start: int = start) -> int | None:
            return line_of(data, key, start=start)

        tasks = []
        task_tables = body.get("tasks", {})
        if not isinstance(task_tables, dict):
            raise InputError(f"tasks of rule {kind!r} must be tables", path=path, line=at("tasks"))
        for name, task in sorted(task_tables.items()):
            task_line = line_of(data, f"rule.{kind}.tasks.{name}") or start
            if not isinstance(task, dict) or not isinstance(task.get("command"), str):
                raise InputError(
                    f"task {name!r} of rule {kind!r} needs a `command` string",
                    path=path,
                    line=task_line,
                )
            tasks.append(_parse_task(name, task, kind, data, path, task_line))
        shard_unit = body.get("shard_unit", "target")
        if shard_unit not in ("target", "file"):
            raise InputError(
                f"shard_unit must be 'target' or 'file', found {shard_unit!r}",
                path=path,
                line=at("shard_unit"),
            )
        infer = _strings(body.get("infer", []), "infer", path, at("infer"))
        unknown = sorted(set(infer) - _INFERENCE)
        if unknown:
            raise InputError(
                f"unknown inference {unknown[0]!r} (known: {', '.join(sorted(_INFERENCE))})",
                path=path,
                line=at("infer"),
            )
        attrs = _strings(body.get("attrs", []), "attrs", path, at("attrs"))
        if _RESERVED_ATTRS & set(attrs):
            raise InputError(
                f"attrs may not redefine {sorted(_RESERVED_ATTRS & set(attrs))}",
                path=path,
                line=at("attrs"),
            )
        description = body.get("description", "")
        rules.append(
            Rule(
                kind=kind,
                default_srcs=_strings(body.get("srcs", []), "srcs", path, at("srcs")),
                tasks=tuple(tasks),
                shard_unit=shard_unit,
                infer=infer,
                test_files=_strings(
                    body.get("test_files", []), "test_files", path, at("test_files")
                ),
                attrs=tuple(sorted(attrs)),
                description=description if isinstance(description, str) else "",
                source=path,
            )
        )
    return tuple(rules)


def merge_rules(files: Iterable[tuple[str, bytes]]) -> dict[str, Rule]:
    """Rules from several files, in order; a later file overrides an earlier kind."""
    merged: dict[str, Rule] = {}
    for path, data in files:
        for rule in parse_rules(data, path):
            merged[rule.kind] = rule
    return merged


def builtin_rule_files() -> list[tuple[str, bytes]]:
    """The built-in rule files as (name, bytes), sorted by name."""
    shipped = resources.files("graphkit") / "_rules"
    folder: Any = shipped if shipped.is_dir() else Path(__file__).resolve().parents[2] / "rules"
    return sorted(
        (f"builtin:{entry.name}", entry.read_bytes())
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def load_rules(workspace_files: Mapping[str, bytes]) -> dict[str, Rule]:
    """The built-in rules overridden by the workspace's rule files ({path: bytes})."""
    return merge_rules([*builtin_rule_files(), *sorted(workspace_files.items())])
