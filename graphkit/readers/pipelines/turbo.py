"""turbo.json -> the tasks of each package of an npm, yarn or pnpm workspace.

turbo 2 names its task table ``tasks``, turbo 1 ``pipeline``; both read alike. A
task ``build`` is defined for every package but the root, ``pkg#build`` for one
package (it replaces the generic definition there), ``//#build`` for the root package
only. A package's own ``turbo.json`` (``extends: ["//"]``) overrides the root's
definition field by field; ``$TURBO_EXTENDS$`` in a list keeps the inherited items.

Each task runs the package's script of the same name through npm (see
``projects.script_command``); a package without the script skips it, as turbo does.
The fields map one to one onto TaskSpec: ``dependsOn`` -> needs (``^x``, ``x``,
``pkg#x`` with pkg a package name, ``//#x`` the root's), ``outputs`` (package-relative
globs, ``!`` excludes) -> outputs, ``inputs`` (``$TURBO_DEFAULT$`` -> ``$default``,
``$TURBO_ROOT$/x`` -> repo-relative) -> inputs, ``env`` (wildcards kept) -> env,
``passThroughEnv`` -> pass_env, ``cache``, ``persistent``. ``globalDependencies`` are
inputs of every key; ``globalEnv`` and ``globalPassThroughEnv`` reach every task.
Settings with no graphkit meaning are one warning each; a malformed file, a field of
the wrong type or a package name that is no package is an InputError with its line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphkit.errors import InputError, InputWarning
from graphkit.labels import is_task_name
from graphkit.model import TaskSpec
from graphkit.readers.pipelines.jsonc import line_of, load_jsonc
from graphkit.readers.pipelines.projects import (
    Imported,
    Project,
    input_glob,
    output_glob,
    repo_glob,
    script_command,
)

TURBO_FILE = "turbo.json"
ROOT_TASK = "//#"
EXTENDS = "$TURBO_EXTENDS$"
DEFAULT_INPUTS = "$TURBO_DEFAULT$"
TURBO_ROOT = "$TURBO_ROOT$/"

_LISTS = ("dependsOn", "outputs", "inputs", "env", "passThroughEnv")
_BOOLS = ("cache", "persistent")
# Task fields graphkit has no use for: each is one warning where it appears.
_UNMAPPED_TASK = {
    "outputLogs": "graphkit prints every task's output on failure only",
    "outputMode": "graphkit prints every task's output on failure only",
    "interactive": "graphkit tasks read no terminal input",
    "interruptible": "persistent tasks are not restarted by graphkit",
    "dotEnv": "list the .env files in `inputs` instead",
    "with": "graphkit runs no sibling tasks; name them in `graphkit run`",
    "description": "",
}
_IGNORED_ROOT = {"$schema", "ui", "daemon", "noUpdateNotifier"}  # display only
_UNMAPPED_ROOT = {
    "cacheDir": "graphkit's cache is set in graphkit.toml [cache] or --cache-dir",
    "remoteCache": "point `graphkit run --remote-cache` at a REAPI cache (docs/cache.md)",
    "envMode": "graphkit always runs tasks with only their declared variables (strict)",
    "concurrency": "use `graphkit run -j N`",
    "globalDotEnv": "list the .env files in globalDependencies instead",
    "dangerouslyDisablePackageManagerCheck": "",
    "futureFlags": "",
    "boundaries": "",
    "tags": "",
    "extends": "",
}


def import_turbo(files: Mapping[str, bytes], projects: Mapping[str, Project]) -> Imported:
    """The tasks turbo.json files (``{path: bytes}``) give each of ``projects``."""
    root = files.get(TURBO_FILE)
    if root is None:
        return Imported({})
    warnings: list[InputWarning] = []
    doc = load_jsonc(root, TURBO_FILE)
    at = line_of(root, "globalDependencies")
    global_inputs = tuple(
        repo_glob(glob.removeprefix(TURBO_ROOT), what="global input", path=TURBO_FILE, line=at)
        for glob in _strings(doc, "globalDependencies", root, TURBO_FILE)
    )
    global_env = _strings(doc, "globalEnv", root, TURBO_FILE)
    global_pass = _strings(doc, "globalPassThroughEnv", root, TURBO_FILE)
    for key in doc:
        if key in _UNMAPPED_ROOT:
            warnings.append(_unmapped(TURBO_FILE, root, (key,), _UNMAPPED_ROOT[key]))
        elif key not in _IGNORED_ROOT | {"tasks", "pipeline"} and not key.startswith("global"):
            warnings.append(_unmapped(TURBO_FILE, root, (key,), "not a turbo.json setting"))
    tasks = _task_table(doc, root, TURBO_FILE, warnings, package=False)
    by_name = {p.name: p for p in projects.values() if p.name}
    for key, (_body, where) in tasks.items():
        owner, _, _task = key.rpartition("#")
        if owner and owner != "//" and owner not in by_name:
            raise InputError(
                f"task {key!r} names package {owner!r}, which is not a workspace package",
                path=TURBO_FILE,
                line=where,
            )
    context = _Context(projects, by_name, global_env, global_pass, warnings)
    found: dict[str, tuple[TaskSpec, ...]] = {}
    for folder, project in sorted(projects.items()):
        own = _package_config(files, folder, projects, warnings)
        found[folder] = context.tasks_of(project, tasks, own)
    for path in sorted(files):
        folder = path.rpartition("/")[0]
        if path != TURBO_FILE and folder not in projects:
            warnings.append(
                InputWarning(path, None, "not in a workspace package; this turbo.json is ignored")
            )
    return Imported(found, global_inputs, tuple(dict.fromkeys(warnings)))


# One task definition as read: {field: value}, with the file and line it came from.
_Definition = tuple[dict[str, Any], int | None]
_Source = tuple[str, bytes]


def _task_table(
    doc: Mapping[str, Any], data: bytes, path: str, warnings: list[InputWarning], *, package: bool
) -> dict[str, _Definition]:
    key = "tasks" if "tasks" in doc else "pipeline"
    table = doc.get(key, {})
    if not isinstance(table, dict):
        raise InputError(f"`{key}` must be an object of tasks", path=path, line=line_of(data, key))
    found: dict[str, _Definition] = {}
    for name, body in table.items():
        where = line_of(data, key, name)
        if not isinstance(body, dict):
            raise InputError(f"task {name!r} must be an object", path=path, line=where)
        task = name.rpartition("#")[2]
        if package and "#" in name:
            raise InputError(
                f"task {name!r}: a package's turbo.json names its own tasks without 'pkg#'",
                path=path,
                line=where,
            )
        if not is_task_name(task):
            warnings.append(InputWarning(path, where, f"task name {task!r} is not supported"))
            continue
        checked: dict[str, Any] = {}
        for field, value in body.items():
            at = line_of(data, key, name, field)
            if field in _LISTS:
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise InputError(
                        f"{name}.{field} must be a list of strings", path=path, line=at
                    )
                checked[field] = value
            elif field in _BOOLS:
                if not isinstance(value, bool):
                    raise InputError(f"{name}.{field} must be true or false", path=path, line=at)
                checked[field] = value
            elif field in _UNMAPPED_TASK:
                warnings.append(_unmapped(path, data, (key, name, field), _UNMAPPED_TASK[field]))
            else:
                warnings.append(_unmapped(path, data, (key, name, field), "not a task setting"))
        found[name] = (checked, where)
    return found


def _package_config(
    files: Mapping[str, bytes],
    folder: str,
    projects: Mapping[str, Project],
    warnings: list[InputWarning],
) -> tuple[str, bytes, dict[str, _Definition]] | None:
    """A package's own turbo.json, read (the root's is not one)."""
    path = f"{folder}/{TURBO_FILE}"
    data = files.get(path) if folder else None
    if data is None:
        return None
    doc = load_jsonc(data, path)
    extends = doc.get("extends")
    if extends != ["//"]:
        warnings.append(
            InputWarning(
                path,
                line_of(data, "extends"),
                f'extends {extends!r} is not supported (only ["//"]); read as ["//"]',
            )
        )
    for key in doc:
        if key not in {"$schema", "extends", "tasks", "pipeline"}:
            warnings.append(_unmapped(path, data, (key,), "not a package turbo.json setting"))
    return path, data, _task_table(doc, data, path, warnings, package=True)


class _Context:
    """The workspace-wide facts every package's tasks are made from."""

    def __init__(
        self,
        projects: Mapping[str, Project],
        by_name: Mapping[str, Project],
        global_env: list[str],
        global_pass: list[str],
        warnings: list[InputWarning],
    ) -> None:
        self.projects = projects
        self.by_name = by_name
        self.global_env = global_env
        self.global_pass = global_pass
        self.warnings = warnings

    def tasks_of(
        self,
        project: Project,
        root: Mapping[str, _Definition],
        own: tuple[str, bytes, dict[str, _Definition]] | None,
    ) -> tuple[TaskSpec, ...]:
        """The tasks of one package: the root's generic (or ``pkg#``/``//#``) ones,
        overridden by its own turbo.json."""
        chosen: dict[str, tuple[dict[str, Any], _Source, int | None]] = {}
        source: _Source = (TURBO_FILE, b"")
        for key, (body, where) in root.items():
            owner, _, task = key.rpartition("#")
            if project.folder == "":
                if key.startswith(ROOT_TASK):
                    chosen[task] = (body, source, where)
            elif owner == "" and task not in chosen:
                chosen[task] = (body, source, where)
            elif owner and owner == project.name:
                chosen[task] = (body, source, where)  # pkg#task replaces the generic one
        if own is not None:
            path, data, table = own
            for task, (body, where) in table.items():
                base = chosen.get(task, ({}, (path, data), where))[0]
                chosen[task] = (_override(base, body), (path, data), where)
        return tuple(
            self._spec(project, task, body, src, where)
            for task, (body, src, where) in sorted(chosen.items())
        )

    def _spec(
        self,
        project: Project,
        task: str,
        body: Mapping[str, Any],
        source: _Source,
        where: int | None,
    ) -> TaskSpec:
        path = source[0]
        folder = project.folder
        needs: list[str] = []
        env = list(self.global_env)
        for need in body.get("dependsOn", []):
            if need.startswith("$"):  # turbo 1: an environment variable
                env.append(need[1:])
            else:
                needs.append(self._need(need, task, path, where))
        env += body.get("env", [])
        outputs = tuple(_output(folder, o, path=path, line=where) for o in body.get("outputs", []))
        inputs = body.get("inputs")
        return TaskSpec(
            name=task,
            command=script_command(task),
            script=task,
            outputs=outputs,
            env=tuple(sorted(set(env))),
            needs=tuple(needs),
            inputs=None
            if inputs is None
            else tuple(_input(folder, i, path, where) for i in inputs),
            pass_env=tuple(sorted(set(self.global_pass) | set(body.get("passThroughEnv", [])))),
            cache=body.get("cache", True),
            persistent=body.get("persistent", False),
        )

    def _need(self, need: str, task: str, path: str, where: int | None) -> str:
        """turbo's dependsOn entry in graphkit's words (``pkg#x`` -> ``//label#x``)."""
        caret = need.startswith("^")
        owner, hash_, name = (need[1:] if caret else need).rpartition("#")
        if not is_task_name(name) or (caret and hash_):
            raise InputError(
                f"task {task!r} depends on {need!r}, not a task", path=path, line=where
            )
        if not hash_:
            return need
        if owner == "//":
            target = self.projects.get("")
            if target is None:
                raise InputError(
                    f"task {task!r} depends on {need!r}, but the root has no package.json",
                    path=path,
                    line=where,
                )
            return f"{target.label}#{name}"
        other = self.by_name.get(owner)
        if other is None:
            raise InputError(
                f"task {task!r} depends on {need!r}: {owner!r} is not a workspace package",
                path=path,
                line=where,
            )
        return f"{other.label}#{name}"


def _override(base: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """A package's task definition over the root's: each field it sets replaces the
    root's, except that ``$TURBO_EXTENDS$`` in a list keeps the root's items first."""
    merged = dict(base)
    for field, value in own.items():
        if isinstance(value, list) and EXTENDS in value:
            kept = [v for v in value if v != EXTENDS]
            merged[field] = [*base.get(field, []), *kept]
        else:
            merged[field] = value
    return merged


def _output(folder: str, glob: str, *, path: str, line: int | None) -> str:
    if glob.removeprefix("!").startswith(TURBO_ROOT):
        negated = "!" if glob.startswith("!") else ""
        return negated + repo_glob(
            glob.removeprefix("!")[len(TURBO_ROOT) :], what="output", path=path, line=line
        )
    return output_glob(folder, glob, what="output", path=path, line=line)


def _input(folder: str, glob: str, path: str, line: int | None) -> str:
    if glob == DEFAULT_INPUTS:
        return "$default"
    negated = "!" if glob.startswith("!") else ""
    body = glob.removeprefix("!")
    if body.startswith(TURBO_ROOT):
        return (
            negated + "//" + repo_glob(body[len(TURBO_ROOT) :], what="input", path=path, line=line)
        )
    return input_glob(folder, glob, what="input", path=path, line=line)


def _strings(doc: Mapping[str, Any], key: str, data: bytes, path: str) -> list[str]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"`{key}` must be a list of strings", path=path, line=line_of(data, key))
    return value


def _unmapped(path: str, data: bytes, keys: tuple[str, ...], why: str) -> InputWarning:
    field = ".".join(keys)
    because = f" ({why})" if why else ""
    return InputWarning(path, line_of(data, *keys), f"{field} is not supported; ignored{because}")
