"""nx.json, project.json and package.json ``nx`` -> the tasks of each project of an nx
workspace.

An nx project is a workspace package (package.json) or a folder with a
project.json (both, merged, when a folder has both). Its targets, as nx infers them:
every package.json script (``nx:run-script``), then the package.json ``nx.targets``
and the project.json ``targets`` over them; nx.json ``targetDefaults`` (by target
name, executor or glob) sit under each. A target runs ``nx:run-commands``
(``command``, ``commands``, ``cwd``; from the workspace root by default, as in nx) or
``nx:run-script`` (the script, from the project folder); another executor is a
plugin graphkit cannot run: one warning, and the target is left out.

``dependsOn`` (``^x``, ``x``, ``{"target", "projects" | "dependencies"}``) -> needs;
``outputs`` (``{projectRoot}``, ``{workspaceRoot}``, ``{options.outputPath}``) ->
outputs (a path whose last part has no extension is taken as a folder); ``inputs``
(named inputs from ``namedInputs``, ``{projectRoot}/...``, ``{workspaceRoot}/...``,
``!``, ``{"env"}``) -> inputs; ``cache`` (false unless set, as in nx 17+) and
``continuous`` -> cache and persistent. ``^named`` inputs need no mapping: a task's key
already covers its dependencies' interface keys.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphkit.errors import InputError, InputWarning
from graphkit.labels import Label, is_task_name
from graphkit.model import Package, Target, TaskSpec
from graphkit.readers.manifests.members import label_of
from graphkit.readers.pipelines.jsonc import line_of, load_jsonc
from graphkit.readers.pipelines.projects import (
    NPM_RULE,
    Imported,
    Project,
    input_glob,
    output_glob,
    repo_glob,
    script_command,
    template_text,
)

NX_FILE = "nx.json"
PROJECT_FILE = "project.json"
PACKAGE_JSON = "package.json"

RUN_COMMANDS = "nx:run-commands"
RUN_SCRIPT = "nx:run-script"
_TOKENS = re.compile(r"\{(projectRoot|projectName|workspaceRoot)\}")
# nx.json settings that shape no task graph.
_IGNORED_ROOT = {
    "$schema",
    "affected",
    "analytics",
    "cli",
    "defaultBase",
    "defaultProject",
    "generators",
    "installation",
    "neverConnectToCloud",
    "npmScope",
    "tui",
    "useDaemonProcess",
    "useInferencePlugins",
    "workspaceLayout",
}
_MAPPED_ROOT = {"targetDefaults", "namedInputs", "tasksRunnerOptions", "extends"}
_UNMAPPED_ROOT = {
    "nxCloudAccessToken": "point `graphkit run --remote-cache` at a REAPI cache (docs/cache.md)",
    "nxCloudId": "point `graphkit run --remote-cache` at a REAPI cache (docs/cache.md)",
    "nxCloudUrl": "point `graphkit run --remote-cache` at a REAPI cache (docs/cache.md)",
    "plugins": "targets that plugins infer are not imported; declare them in project.json",
    "parallel": "use `graphkit run -j N`",
    "cacheDirectory": "graphkit's cache is set in graphkit.toml [cache] or --cache-dir",
    "release": "",
    "sync": "",
    "implicitDependencies": "list the files in graphkit.toml global_inputs instead",
}
_TARGET_KEYS = {
    "executor",
    "command",
    "options",
    "dependsOn",
    "outputs",
    "inputs",
    "cache",
    "continuous",
    "metadata",
    "includedScripts",
}


@dataclass(frozen=True)
class _At:
    """Where in which file a setting was written: the path of keys that leads to it."""

    path: str
    data: bytes
    keys: tuple[str, ...]

    def line(self, *more: str) -> int | None:
        """The line of the setting (or of ``more`` keys below it)."""
        return line_of(self.data, *self.keys, *more)


@dataclass
class _Read:
    """An nx workspace as read: nx.json's parts and warnings, shared while mapping."""

    data: bytes
    named: dict[str, Any]
    defaults: dict[str, Any]
    cacheable: frozenset[str]
    warnings: list[InputWarning]


def import_nx(
    files: Mapping[str, bytes], manifests: Mapping[str, bytes], projects: Mapping[str, Project]
) -> Imported:
    """The tasks nx.json and the project.json files (``files``) give each project.

    ``manifests`` holds the package.json bytes (scripts, the ``nx`` field);
    ``projects`` the workspace's npm packages. A project.json in a folder that is no
    npm package adds a package of its own.
    """
    data = files[NX_FILE]
    doc = load_jsonc(data, NX_FILE)
    warnings: list[InputWarning] = []
    for key in doc:
        if key in _UNMAPPED_ROOT:
            warnings.append(_unmapped(NX_FILE, data, (key,), _UNMAPPED_ROOT[key]))
        elif key not in _IGNORED_ROOT | _MAPPED_ROOT:
            warnings.append(_unmapped(NX_FILE, data, (key,), "not an nx.json setting"))
    named = _object(doc, "namedInputs", NX_FILE, data)
    defaults = _object(doc, "targetDefaults", NX_FILE, data)
    # nx before 17 cached the targets its default runner lists; later, `cache: true`.
    runner: Any = doc
    for key in ("tasksRunnerOptions", "default", "options", "cacheableOperations"):
        runner = runner.get(key, {}) if isinstance(runner, dict) else {}
    cacheable = [n for n in runner if isinstance(n, str)] if isinstance(runner, list) else []
    read = _Read(data, named, defaults, frozenset(cacheable), warnings)

    docs: dict[str, tuple[str, bytes, dict[str, Any]]] = {}  # folder -> the nx config doc
    added: dict[str, Package] = {}
    all_projects = dict(projects)
    for path, raw in sorted(files.items()):
        if path.rpartition("/")[2] != PROJECT_FILE:
            continue
        folder = path.rpartition("/")[0]
        project_doc = load_jsonc(raw, path)
        docs[folder] = (path, raw, project_doc)
        if folder not in all_projects:
            name = project_doc.get("name")
            name = name if isinstance(name, str) else folder.rpartition("/")[2] or "root"
            label = label_of(folder, path)
            all_projects[folder] = Project(folder, label, name)
            target = Target(label, NPM_RULE, None, (), aliases=(name,), manifest=path, line=1)
            added[folder] = Package(folder, path, (target,))
    for folder in projects:
        manifest = f"{folder}/{PACKAGE_JSON}" if folder else PACKAGE_JSON
        package_doc = load_jsonc(manifests.get(manifest, b"{}"), manifest)
        nx_field = package_doc.get("nx")
        if isinstance(nx_field, dict) and folder not in docs:
            docs[folder] = (manifest, manifests[manifest], nx_field)
    by_name = {p.name: p for p in all_projects.values() if p.name}
    found: dict[str, tuple[TaskSpec, ...]] = {}
    for folder, project in sorted(all_projects.items()):
        own = docs.get(folder)
        # The workspace root is a project only with a project.json or an `nx` field.
        found[folder] = _tasks_of(project, own, by_name, read) if folder or own else ()
    extra: dict[str, tuple[Label, ...]] = {}
    for folder, (path, raw, config) in sorted(docs.items()):
        names = config.get("implicitDependencies", [])
        if not isinstance(names, list):
            raise InputError(
                "implicitDependencies must be a list of project names",
                path=path,
                line=line_of(raw, "implicitDependencies"),
            )
        plain = [n for n in names if not (isinstance(n, str) and set(n) & set("!*:"))]
        if len(plain) < len(names):
            why = "only project names are read, not patterns or `!` exclusions"
            warnings.append(_unmapped(path, raw, ("implicitDependencies",), why))
        labels = [_project(name, by_name, path, raw, "implicitDependencies") for name in plain]
        if labels:
            extra[folder] = tuple(sorted(set(labels)))
    return Imported(found, (), tuple(dict.fromkeys(warnings)), added, extra)


def _tasks_of(
    project: Project,
    config: tuple[str, bytes, dict[str, Any]] | None,
    by_name: Mapping[str, Project],
    read: _Read,
) -> tuple[TaskSpec, ...]:
    """One project's targets as tasks: scripts, then its own targets, over the defaults."""
    path, data, doc = config if config is not None else (NX_FILE, read.data, {})
    included = doc.get("includedScripts")  # package.json nx field: the scripts nx sees
    scripts = [s for s in project.scripts if not isinstance(included, list) or s in included]
    targets: dict[str, dict[str, Any]] = {
        script: {"executor": RUN_SCRIPT, "options": {"script": script}}
        for script in sorted(scripts)
    }
    own = doc.get("targets", {})
    if not isinstance(own, dict):
        raise InputError("`targets` must be an object", path=path, line=line_of(data, "targets"))
    for name, body in own.items():
        if not isinstance(body, dict):
            raise InputError(
                f"target {name!r} must be an object", path=path, line=line_of(data, name)
            )
        targets[name] = {**targets.get(name, {}), **body}
    named = {**read.named, **_object(doc, "namedInputs", path, data)}
    specs = []
    for name, body in sorted(targets.items()):
        merged, default = _with_defaults(name, body, read.defaults)

        own_at = _At(path, data, ("targets", name))
        default_at = _At(NX_FILE, read.data, ("targetDefaults", default or ""))

        def origin(
            field: str, body: Mapping[str, Any] = body, own: _At = own_at, other: _At = default_at
        ) -> _At:
            """Where a field of the merged target was written: its project, or nx.json."""
            return own if field in body or not other.keys[1] else other

        spec = _spec(project, name, merged, named, by_name, read, origin)
        if spec is not None:
            specs.append(spec)
    return tuple(specs)


def _with_defaults(
    name: str, body: dict[str, Any], defaults: Mapping[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """A target over its targetDefaults entry (by name, else executor, else a glob),
    and that entry's key."""
    executor = body.get("executor")
    key: str | None = name if name in defaults else None
    if key is None and isinstance(executor, str) and executor in defaults:
        key = executor
    if key is None:
        key = next((k for k in defaults if "*" in k and fnmatch.fnmatchcase(name, k)), None)
    base = defaults.get(key) if key is not None else None
    if not isinstance(base, dict):
        return body, None
    merged = {**base, **body}
    if isinstance(base.get("options"), dict) and isinstance(body.get("options"), dict):
        merged["options"] = {**base["options"], **body["options"]}
    return merged, key


def _spec(
    project: Project,
    name: str,
    body: Mapping[str, Any],
    named: Mapping[str, Any],
    by_name: Mapping[str, Project],
    read: _Read,
    origin: Callable[[str], _At],
) -> TaskSpec | None:
    at = origin("executor")
    if not is_task_name(name):
        read.warnings.append(
            InputWarning(at.path, at.line(), f"target name {name!r} is not supported")
        )
        return None
    for key in body:
        if key not in _TARGET_KEYS:
            field = origin(key)
            read.warnings.append(_unmapped(field.path, field.data, (*field.keys, key), ""))
    options = body.get("options", {})
    if not isinstance(options, dict):
        where = origin("options")
        raise InputError(f"{name}.options must be an object", path=where.path, line=where.line())
    found = _command(name, body, options, read, at.path, at.data, at.keys)
    if found is None:
        return None
    command, script = found
    env: list[str] = []
    inputs = body.get("inputs")
    mapped = None
    if inputs is not None:
        i = origin("inputs")
        mapped = tuple(
            _inputs(project.folder, inputs, named, env, read, i.path, i.data, i.keys, set())
        )
    cache = body.get("cache", name in read.cacheable)
    continuous = body.get("continuous", False)
    for key, value in (("cache", cache), ("continuous", continuous)):
        if not isinstance(value, bool):
            where = origin(key)
            raise InputError(
                f"{name}.{key} must be true or false", path=where.path, line=where.line(key)
            )
    o, d = origin("outputs"), origin("dependsOn")
    return TaskSpec(
        name=name,
        command=command,
        outputs=tuple(
            _outputs(project.folder, body.get("outputs", []), options, o.path, o.line("outputs"))
        ),
        env=tuple(sorted(set(env))),
        needs=tuple(_needs(name, body.get("dependsOn", []), by_name, read, d.path, d.data, d.keys)),
        inputs=mapped,
        cache=cache,
        persistent=continuous,
        script=script,
    )


def _command(
    name: str,
    body: Mapping[str, Any],
    options: Mapping[str, Any],
    read: _Read,
    path: str,
    data: bytes,
    keys: tuple[str, ...],
) -> tuple[str, str | None] | None:
    """The command of a target, and the package.json script it runs (None: none)."""
    executor = body.get("executor")
    if "command" in body or (executor is None and "commands" in options):
        executor = RUN_COMMANDS
        options = {**options, "command": body.get("command", options.get("command"))}
    if executor == RUN_SCRIPT or executor is None:
        script = options.get("script", name)
        if not isinstance(script, str):
            raise InputError(f"{name}.options.script must be a string", path=path)
        return script_command(script), script
    if executor != RUN_COMMANDS:
        why = "graphkit runs nx:run-commands and nx:run-script only; this target is left out"
        read.warnings.append(_unmapped(path, data, (*keys, "executor"), f"{executor!r}: {why}"))
        return None
    raw = options.get("commands") if options.get("command") is None else [options["command"]]
    if not isinstance(raw, list) or not raw:
        raise InputError(f"{name}: nx:run-commands needs `command` or `commands`", path=path)
    commands = [c.get("command") if isinstance(c, dict) else c for c in raw]
    if not all(isinstance(c, str) for c in commands):
        raise InputError(f"{name}.options.commands must be strings", path=path)
    for unmapped in ("env", "envFile", "args", "readyWhen", "parallel"):
        if unmapped in options and not (unmapped == "parallel" and len(commands) == 1):
            read.warnings.append(_unmapped(path, data, (*keys, "options", unmapped), ""))
    cwd = options.get("cwd", ".")
    if not isinstance(cwd, str):
        raise InputError(f"{name}.options.cwd must be a string", path=path)
    cwd_path = repo_glob(cwd, what="cwd", path=path, line=None) or "."
    body_text = " && ".join(f"({_command_text(str(c), read, path)})" for c in commands)
    prefix = 'NX_WORKSPACE_ROOT="$PWD" && export NX_WORKSPACE_ROOT && '
    return f"{prefix}cd {_command_text(cwd_path, read, path)} && {body_text}", None


def _command_text(command: str, read: _Read, path: str) -> str:
    """An nx command as a graphkit template: ``{projectRoot}`` -> ``{package}``,
    ``{workspaceRoot}`` -> the root, ``{projectName}`` -> ``{name}``; other braces kept."""
    parts = _TOKENS.split(command)
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            if re.search(r"\{args\.", part):
                read.warnings.append(
                    InputWarning(path, None, f"{{args.*}} in {command!r} is not supported")
                )
            out.append(template_text(part))
        else:
            out.append(
                {"projectRoot": "{package}", "projectName": "{name}"}.get(
                    part, '"$NX_WORKSPACE_ROOT"'
                )
            )
    return "".join(out)


def _needs(
    name: str,
    depends_on: Any,
    by_name: Mapping[str, Project],
    read: _Read,
    path: str,
    data: bytes,
    keys: tuple[str, ...],
) -> list[str]:
    if not isinstance(depends_on, list):
        raise InputError(f"{name}.dependsOn must be a list", path=path, line=line_of(data, *keys))
    needs: list[str] = []
    for entry in depends_on:
        if isinstance(entry, str):
            needs.append(entry)
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("target"), str):
            raise InputError(
                f"{name}.dependsOn entries are target names or objects with a `target`",
                path=path,
                line=line_of(data, *keys, "dependsOn"),
            )
        task = entry["target"]
        projects = entry.get("projects")
        if entry.get("dependencies") is True or projects in ("dependencies", "{dependencies}"):
            needs.append(f"^{task}")
        elif projects in (None, "self", "{self}"):
            needs.append(task)
        elif isinstance(projects, list) and all(
            isinstance(p, str) and p in by_name for p in projects
        ):
            needs += [f"{by_name[p].label}#{task}" for p in projects]
        elif isinstance(projects, list) and all(
            isinstance(p, str) and not set(p) & set("*:!") for p in projects
        ):
            unknown = next(p for p in projects if p not in by_name)
            raise InputError(
                f"{name}.dependsOn names project {unknown!r}, which is not a project",
                path=path,
                line=line_of(data, *keys, "dependsOn"),
            )
        else:
            read.warnings.append(
                _unmapped(path, data, (*keys, "dependsOn"), f"projects {projects!r}")
            )
    for need in needs:
        task = need.lstrip("^").rpartition("#")[2]
        if not is_task_name(task):
            raise InputError(f"{name} depends on {need!r}, not a target", path=path)
    return needs


def _inputs(
    folder: str,
    inputs: Any,
    named: Mapping[str, Any],
    env: list[str],
    read: _Read,
    path: str,
    data: bytes,
    keys: tuple[str, ...],
    seen: set[str],
) -> list[str]:
    """nx inputs as TaskSpec.inputs: named inputs expanded, file sets mapped, env kept."""
    if not isinstance(inputs, list):
        raise InputError("inputs must be a list", path=path, line=line_of(data, *keys, "inputs"))
    out: list[str] = []
    for entry in inputs:
        if isinstance(entry, dict):
            if isinstance(entry.get("env"), str):
                env.append(entry["env"])
            elif isinstance(entry.get("fileset"), str):
                out += _inputs(folder, [entry["fileset"]], named, env, read, path, data, keys, seen)
            elif isinstance(entry.get("input"), str) and entry.get("projects") is None:
                out += _inputs(folder, [entry["input"]], named, env, read, path, data, keys, seen)
            elif "externalDependencies" in entry or "input" in entry:
                continue  # locked externals and dependencies' inputs are in every key
            else:
                what = ", ".join(sorted(entry))
                read.warnings.append(_unmapped(path, data, (*keys, "inputs"), f"input {{{what}}}"))
            continue
        if not isinstance(entry, str):
            raise InputError("inputs must be strings or objects", path=path)
        if entry.startswith("^"):
            continue  # dependencies' inputs: a key covers its dependencies' keys already
        body = entry.removeprefix("!")
        negated = "!" if entry.startswith("!") else ""
        if body.startswith("{projectRoot}/"):
            glob = body[len("{projectRoot}/") :]
            out.append(negated + input_glob(folder, glob, what="input", path=path, line=None))
        elif body.startswith("{workspaceRoot}/"):
            glob = body[len("{workspaceRoot}/") :]
            out.append(negated + "//" + repo_glob(glob, what="input", path=path, line=None))
        elif entry in named and entry not in seen:
            nested = named[entry]
            out += _inputs(folder, nested, named, env, read, path, data, keys, seen | {entry})
        elif entry == "default":
            out.append("$default")
        elif entry == "production":
            out.append("$interface")
        else:
            raise InputError(
                f"input {entry!r} is neither a named input nor a {{projectRoot}} or "
                "{workspaceRoot} path",
                path=path,
                line=line_of(data, *keys, "inputs"),
            )
    return out


def _outputs(
    folder: str, outputs: Any, options: Mapping[str, Any], path: str, where: int | None
) -> list[str]:
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise InputError("outputs must be a list of strings", path=path, line=where)
    found = []
    for output in outputs:
        for option, value in options.items():
            if isinstance(value, str):
                output = output.replace(f"{{options.{option}}}", value)
        if "{options." in output:
            raise InputError(
                f"output {output!r} names an option the target does not set", path=path, line=where
            )
        body = output.removeprefix("!")
        negated = "!" if output.startswith("!") else ""
        last = body.rstrip("/").rpartition("/")[2]
        # nx outputs name files or folders alike; graphkit must know which.
        if not set(last) & set("*?[") and "." not in last.lstrip("."):
            body = body.rstrip("/") + "/"
        if body.startswith("{projectRoot}/"):
            glob = body[len("{projectRoot}/") :]
            found.append(negated + output_glob(folder, glob, what="output", path=path, line=where))
        else:
            glob = body.removeprefix("{workspaceRoot}/").replace(
                "{projectRoot}/", f"{folder}/" if folder else ""
            )
            found.append(negated + repo_glob(glob, what="output", path=path, line=where))
    return found


def _project(name: Any, by_name: Mapping[str, Project], path: str, data: bytes, key: str) -> Label:
    if not isinstance(name, str) or name not in by_name:
        raise InputError(
            f"{key} names {name!r}, which is not a project", path=path, line=line_of(data, key)
        )
    return by_name[name].label


def _object(doc: Mapping[str, Any], key: str, path: str, data: bytes) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise InputError(f"`{key}` must be an object", path=path, line=line_of(data, key))
    return value


def _unmapped(path: str, data: bytes, keys: tuple[str, ...], why: str) -> InputWarning:
    because = f" ({why})" if why else ""
    return InputWarning(
        path, line_of(data, *keys), f"{'.'.join(keys)} is not supported; ignored{because}"
    )
