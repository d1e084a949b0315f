"""``graphkit.toml`` bytes -> WorkspaceConfig (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphkit.errors import InputError
from graphkit.paths import glob_problem
from graphkit.tomldoc import check_keys, line_of, load_toml

CONFIG_FILE = "graphkit.toml"


@dataclass(frozen=True, slots=True)
class ShardSettings:
    """How ``--shards auto`` picks a shard count."""

    target_s: float = 300.0  # aim for shards of about this many seconds
    overhead_s: float = 30.0  # fixed cost of starting one shard (checkout, install)
    max_shards: int = 32


@dataclass(frozen=True, slots=True)
class CacheTls:
    """Files for a ``grpcs://`` remote cache, relative to the workspace root: the CA
    that signed the server's certificate (else the system's roots), and the client
    certificate and key for a server that requires one."""

    ca: str | None = None
    client_cert: str | None = None
    client_key: str | None = None


@dataclass(frozen=True, slots=True)
class RuleInputs:
    """``[inputs.RULE]``: package-relative globs of the files of that rule's targets
    that are outside their interface (``interface_exclude``: they key the target's own
    tasks only) or no input at all (``ignore``: a change there affects nothing)."""

    rule: str
    interface_exclude: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WorkspaceConfig:
    """Workspace settings from ``graphkit.toml``; every field has a default."""

    default_branch: str | None = None  # None: origin/HEAD's branch, else main, else master
    global_inputs: tuple[str, ...] = ()  # globs, repo-relative: a change here affects everything
    rules_dir: str | None = None  # a folder of workspace rule files, added to the built-ins
    # Tasks of the workspace root's own manifest that run without being named (turbo's
    # `//#task`): the root's scripts usually drive the whole repository.
    root_tasks: tuple[str, ...] = ()
    # Folder globs, repo-relative: no member discovery and no import scan below them.
    exclude: tuple[str, ...] = ()
    cache_dir: str | None = None
    remote_cache: str | None = None
    cache_tls: CacheTls = CacheTls()
    shards: ShardSettings = ShardSettings()
    inputs: tuple[RuleInputs, ...] = ()  # sorted by rule

    def inputs_of(self, rule: str) -> RuleInputs | None:
        """The ``[inputs.RULE]`` settings of ``rule``, if graphkit.toml has them."""
        return next((entry for entry in self.inputs if entry.rule == rule), None)

    @property
    def excluded_files(self) -> tuple[str, ...]:
        """``exclude`` as file globs: everything below a folder that a pattern matches."""
        return tuple(f"{pattern.rstrip('/')}/**" for pattern in self.exclude)


_SECTIONS: dict[str, set[str]] = {
    "workspace": {"default_branch", "global_inputs", "rules_dir", "root_tasks", "exclude"},
    "cache": {"dir", "remote", "tls_ca", "tls_client_cert", "tls_client_key"},
    "shards": {"target_s", "overhead_s", "max_shards"},
}
_INPUT_FIELDS = {"interface_exclude", "ignore"}


def parse_config(data: bytes, path: str = CONFIG_FILE) -> WorkspaceConfig:
    """Parse and validate ``graphkit.toml``; raise InputError naming the line of a bad field."""
    doc = load_toml(data, path)
    check_keys(doc, {*_SECTIONS, "inputs"}, what="graphkit.toml", path=path, data=data)
    for section, allowed in _SECTIONS.items():
        table = doc.get(section, {})
        if not isinstance(table, dict):
            raise InputError(f"[{section}] must be a table", path=path, line=line_of(data, section))
        check_keys(table, allowed, what=f"[{section}]", path=path, data=data)
    ws, cache, shards = doc.get("workspace", {}), doc.get("cache", {}), doc.get("shards", {})

    def get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = table.get(key, default)
        if value is not default and (not isinstance(value, kind) or isinstance(value, bool)):
            expected = kind.__name__ if isinstance(kind, type) else "number"
            raise InputError(
                f"{key!r} must be a {expected}, found {type(value).__name__}",
                path=path,
                line=line_of(data, key),
            )
        return value

    global_inputs = get(ws, "global_inputs", list, [])
    for pattern in global_inputs:
        bad = not isinstance(pattern, str) or glob_problem(pattern) is not None
        if bad or pattern.startswith("/") or ".." in pattern.split("/"):
            raise InputError(
                f"global input {pattern!r} must be a repo-relative glob",
                path=path,
                line=line_of(data, "global_inputs"),
            )
    exclude = get(ws, "exclude", list, [])
    for pattern in exclude:
        problem = glob_problem(pattern) if isinstance(pattern, str) else "it is not a string"
        if problem is None and pattern.startswith("!"):
            problem = "'!' negation is not supported here"
        elif problem is None and pattern.strip("./") == "":
            problem = "it excludes the whole repository"
        if problem is not None:
            raise InputError(
                f"exclude pattern {pattern!r}: {problem}",
                path=path,
                line=line_of(data, "exclude"),
                hint="exclude takes folder globs relative to the repository root",
            )
    rules_dir = get(ws, "rules_dir", str, None)
    if rules_dir is not None:
        rules_dir = rules_dir.rstrip("/")
        bad_part = any(p in ("", ".", "..") for p in rules_dir.split("/"))
        if rules_dir.startswith("/") or "\\" in rules_dir or bad_part:
            raise InputError(
                f"rules_dir {rules_dir!r} must be a folder inside the repository",
                path=path,
                line=line_of(data, "rules_dir"),
            )
    tls = CacheTls(
        ca=get(cache, "tls_ca", str, None),
        client_cert=get(cache, "tls_client_cert", str, None),
        client_key=get(cache, "tls_client_key", str, None),
    )
    if (tls.client_cert is None) != (tls.client_key is None):
        raise InputError(
            "tls_client_cert and tls_client_key go together",
            path=path,
            line=line_of(data, "tls_client_cert" if tls.client_cert else "tls_client_key"),
        )
    root_tasks = get(ws, "root_tasks", list, [])
    if not all(isinstance(task, str) for task in root_tasks):
        raise InputError(
            "'root_tasks' must be a list of task names", path=path, line=line_of(data, "root_tasks")
        )
    numbers = (int, float)
    return WorkspaceConfig(
        inputs=_rule_inputs(doc.get("inputs", {}), path, data),
        default_branch=get(ws, "default_branch", str, None),
        global_inputs=tuple(global_inputs),
        rules_dir=rules_dir,
        root_tasks=tuple(root_tasks),
        exclude=tuple(p.removeprefix("./") for p in exclude),
        cache_dir=get(cache, "dir", str, None),
        remote_cache=get(cache, "remote", str, None),
        cache_tls=tls,
        shards=ShardSettings(
            target_s=float(get(shards, "target_s", numbers, 300.0)),
            overhead_s=float(get(shards, "overhead_s", numbers, 30.0)),
            max_shards=int(get(shards, "max_shards", int, 32)),
        ),
    )


def _rule_inputs(table: object, path: str, data: bytes) -> tuple[RuleInputs, ...]:
    """``[inputs.RULE]`` tables (rule names are checked against the rules later, when
    they are known: see ``graphkit.analysis.graph.load_graph``)."""
    if not isinstance(table, dict):
        raise InputError("[inputs] must be a table", path=path, line=line_of(data, "inputs"))
    found = []
    for rule, fields in sorted(table.items()):
        if not isinstance(fields, dict):
            raise InputError(
                f"[inputs.{rule}] must be a table", path=path, line=line_of(data, f"inputs.{rule}")
            )
        check_keys(fields, _INPUT_FIELDS, what=f"[inputs.{rule}]", path=path, data=data)
        globs: dict[str, tuple[str, ...]] = {}
        for name in sorted(_INPUT_FIELDS):
            patterns = fields.get(name, [])
            problem = None if isinstance(patterns, list) else "it is not a list"
            for pattern in patterns if problem is None else []:
                problem = glob_problem(pattern) if isinstance(pattern, str) else None
                if not isinstance(pattern, str):
                    problem = f"{pattern!r} is not a string"
                elif problem is None and (pattern.startswith(("/", "!")) or ".." in pattern):
                    problem = f"{pattern!r} must be a glob relative to the package folder"
                elif problem is not None:
                    problem = f"{pattern!r}: {problem}"
                if problem is not None:
                    break
            if problem is not None:
                raise InputError(
                    f"[inputs.{rule}] {name}: {problem}",
                    path=path,
                    line=line_of(data, name),
                    hint="a list of globs relative to each package folder",
                )
            globs[name] = tuple(patterns)
        found.append(RuleInputs(rule, globs["interface_exclude"], globs["ignore"]))
    return tuple(found)
