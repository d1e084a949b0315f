"""``BUILD.toml`` bytes -> Package (pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from graphkit.errors import InputError
from graphkit.labels import Label, check_need, did_you_mean, parse_label
from graphkit.model import TASK_OVERRIDES, Package, Rule, Target
from graphkit.paths import glob_problem, input_problem
from graphkit.tomldoc import check_keys, line_of, load_toml

BUILD_FILE = "BUILD.toml"
_TARGET_KEYS = {"name", "rule", "srcs", "deps", *TASK_OVERRIDES}
_ATTR = re.compile(r"\{attr:([^}]+)\}")
_PASS_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\*?|\*")


def check_pass_env(names: list[str], what: str, path: str, line: int | None) -> tuple[str, ...]:
    """Variables a task sees unkeyed: names, or ``PREFIX_*`` for every variable so named."""
    for name in names:
        if not _PASS_ENV.fullmatch(name):
            raise InputError(
                f"pass_env {name!r} of {what} is not a variable name",
                path=path,
                line=line,
                hint="write NAME, or PREFIX_* for every variable whose name starts so",
            )
    return tuple(sorted(set(names)))


def check_inputs(value: Any, what: str, path: str, line: int | None) -> tuple[str, ...]:
    """A task's ``inputs``: package-relative globs, ``!glob`` and the named sets."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError("inputs must be a list of strings", path=path, line=line)
    entries = tuple(value)
    for entry in entries:
        problem = input_problem(entry)
        if problem is not None:
            raise InputError(
                f"input {entry!r} of {what} {problem.removeprefix('it ')}",
                path=path,
                line=line,
                hint="inputs are globs relative to the package, '!glob', '$default' "
                "(the target's full inputs) or '$interface' (what its dependents observe)",
            )
    return entries


def check_glob(pattern: str, *, path: str, line: int | None) -> str:
    """Refuse a src glob that is absolute or climbs out of its package."""
    body = pattern[1:] if pattern.startswith("!") else pattern
    if not body or body.startswith("/") or ".." in body.split("/") or "\\" in body:
        raise InputError(
            f"glob {pattern!r} escapes the package",
            path=path,
            line=line,
            hint="globs are relative to the package folder; no '..', no leading '/'",
        )
    problem = glob_problem(pattern)
    if problem is not None:
        raise InputError(f"glob {pattern!r}: {problem}", path=path, line=line)
    return pattern


def _templated(rule: Rule) -> set[str]:
    """The attributes a rule's task templates fill in (``{attr:cmd}``)."""
    texts = [t for task in rule.tasks for t in (task.command, *task.outputs)]
    return {name for text in texts for name in _ATTR.findall(text)}


def _check_attr(name: str, value: Any, *, target: str, path: str, line: int) -> None:
    """An attribute that fills a command or output template is a scalar or a list of
    scalars: a table would be pasted into a shell command as its Python spelling."""
    scalar = (str, int, float, bool)
    if isinstance(value, scalar) or (
        isinstance(value, list) and all(isinstance(v, scalar) for v in value)
    ):
        return
    raise InputError(
        f"attribute {name!r} of target {target!r} must be a string, number, boolean "
        f"or a list of them, found {type(value).__name__}",
        path=path,
        line=line,
    )


def _needs(
    value: Any, rule: Rule, target: str, package: str, manifest: str, line: int
) -> dict[str, list[str]]:
    """``needs = { build = ["^build", ":codegen#build"] }``: per task, what it needs here
    instead of what its rule says; labels are made absolute."""
    found: dict[str, list[str]] = {}
    for task, needs in _per_task("needs", value, rule, target, manifest, line):
        if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
            raise InputError(f"`needs.{task}` must be a list of strings", path=manifest, line=line)
        absolute = []
        for need in needs:
            check_need(need, f"task {task!r} of target {target!r}", manifest, line)
            text, hash_, name = need.rpartition("#")
            if hash_ and not need.startswith("^") and text.startswith((":", "//")):
                try:
                    text = str(parse_label(text, package=package))
                except InputError as exc:
                    raise InputError(exc.message, path=manifest, line=line) from None
            absolute.append(f"{text}#{name}" if hash_ and not need.startswith("^") else need)
        found[task] = absolute
    return found


def _per_task(
    key: str, value: Any, rule: Rule, target: str, manifest: str, line: int
) -> list[tuple[str, Any]]:
    """The ``task = value`` pairs of a per-task table, each task one its rule defines."""
    if not isinstance(value, dict):
        raise InputError(
            f"`{key}` of target {target!r} must be a table of task = value",
            path=manifest,
            line=line,
        )
    for task in sorted(value):
        if rule.task(task) is None:
            raise InputError(
                f"`{key}` of target {target!r} names task {task!r}, which rule "
                f"{rule.kind!r} does not define",
                path=manifest,
                line=line,
            )
    return sorted(value.items())


def _overrides(
    key: str, value: Any, rule: Rule, target: str, manifest: str, line: int
) -> dict[str, Any]:
    """``inputs = { test = ["src/**", "tests/**"] }`` (and ``pass_env``, ``cache``,
    ``persistent``): per task, what the target says instead of its rule."""
    for task, entry in _per_task(key, value, rule, target, manifest, line):
        if key in ("cache", "persistent"):
            if not isinstance(entry, bool):
                raise InputError(f"`{key}.{task}` must be true or false", path=manifest, line=line)
            continue
        if not isinstance(entry, list) or not all(isinstance(n, str) for n in entry):
            raise InputError(f"`{key}.{task}` must be a list of strings", path=manifest, line=line)
        if key == "pass_env":
            check_pass_env(entry, f"task {task!r} of target {target!r}", manifest, line)
        if key == "inputs":
            check_inputs(entry, f"task {task!r} of target {target!r}", manifest, line)
    return dict(sorted(value.items()))


def parse_build(data: bytes, manifest: str, package: str, rules: Mapping[str, Rule]) -> Package:
    """Parse ``BUILD.toml`` of ``package``, checking fields, rule kinds and labels."""
    doc = load_toml(data, manifest)
    check_keys(doc, {"target"}, what="BUILD.toml", path=manifest, data=data)
    raw_targets = doc.get("target", [])
    if not isinstance(raw_targets, list) or not all(isinstance(t, dict) for t in raw_targets):
        raise InputError(
            "`target` must be an array of tables ([[target]])",
            path=manifest,
            line=line_of(data, "target"),
        )
    targets: dict[str, Target] = {}
    for index, raw in enumerate(raw_targets):
        line = line_of(data, "target", occurrence=index) or 1
        target = _parse_target(raw, data, manifest, package, rules, line)
        if target.label.name in targets:
            first = targets[target.label.name].line
            raise InputError(
                f"duplicate target {target.label.name!r} (first defined on line {first})",
                path=manifest,
                line=line,
            )
        targets[target.label.name] = target
    return Package(path=package, manifest=manifest, targets=tuple(targets.values()))


def _parse_target(
    raw: Any,
    data: bytes,
    manifest: str,
    package: str,
    rules: Mapping[str, Rule],
    line: int,
) -> Target:
    def at(key: str) -> int:
        return line_of(data, key, start=line) or line

    def strings(key: str) -> list[str] | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"`{key}` must be a list of strings", path=manifest, line=at(key))
        return value

    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InputError("a target needs a `name` string", path=manifest, line=line)
    rule_kind = raw.get("rule")
    if not isinstance(rule_kind, str):
        raise InputError(f"target {name!r} needs a `rule` string", path=manifest, line=line)
    rule = rules.get(rule_kind)
    if rule is None:
        raise InputError(
            f"unknown rule {rule_kind!r} for target {name!r}",
            path=manifest,
            line=at("rule"),
            hint=did_you_mean(rule_kind, rules) or f"known rules: {', '.join(sorted(rules))}",
        )
    check_keys(
        raw,
        _TARGET_KEYS | set(rule.attrs),
        what=f"target {name!r}",
        path=manifest,
        data=data,
        start=line,
    )
    if "/" in name or "\0" in name or name in (".", ".."):
        raise InputError(
            f"bad target name {name!r}", path=manifest, line=line, hint="no '/', not '.' or '..'"
        )
    label = Label(package, name)
    srcs = strings("srcs")
    for pattern in srcs or ():
        check_glob(pattern, path=manifest, line=at("srcs"))
    deps: set[Label] = set()
    for text in strings("deps") or ():
        try:
            deps.add(parse_label(text, package=package))
        except InputError as exc:
            raise InputError(exc.message, path=manifest, line=at("deps")) from None
    for key in sorted(_templated(rule) & set(raw)):
        _check_attr(key, raw[key], target=name, path=manifest, line=at(key))
    values = {key: raw[key] for key in rule.attrs if key in raw}
    if "needs" in raw:
        values["needs"] = _needs(raw["needs"], rule, name, package, manifest, at("needs"))
    for key in TASK_OVERRIDES[1:]:
        if key in raw:
            values[key] = _overrides(key, raw[key], rule, name, manifest, at(key))
    attrs = tuple(
        sorted(
            (key, json.dumps(value, sort_keys=True, separators=(",", ":"), default=str))
            for key, value in values.items()
        )
    )
    return Target(
        label=label,
        rule=rule_kind,
        srcs=tuple(srcs) if srcs is not None else None,
        deps=tuple(sorted(deps)),
        attrs=attrs,
        manifest=manifest,
        line=line,
    )
