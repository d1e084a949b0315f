"""Tasks ready to run: commands expanded from rules, and their REAPI action keys.

A task's action key covers the content key of the inputs it sees (``build`` its
target's interface, other tasks the full inputs, or what its ``inputs`` name), the
task definition, the expanded command, the values of the environment variables the
task declares, the platform, and the action keys of the tasks it declares it needs.
It is encoded as a REAPI v2 ``Action`` (with its ``Command`` and an input root
naming the content key), so results live in the same action cache Bazel and other
REAPI clients use, under a digest any of them could recompute.
"""

from __future__ import annotations

import fnmatch
import json
import platform
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cache, partial

from graphkit.analysis.filetests import test_files
from graphkit.analysis.graph import BuildGraph, components
from graphkit.analysis.keys import FileId, KeyRecord, root_inputs, task_key
from graphkit.cache.digest import Digest, digest_of
from graphkit.cache.protocol import re_pb2
from graphkit.errors import InputError
from graphkit.labels import Label
from graphkit.model import Snapshot, Target, TaskSpec
from graphkit.paths import repo_path

# Bump when the Action encoding changes: every action key changes with it.
ACTION_SCHEME = 1
_GITLINK = 0o160000  # a submodule's entry in a git tree


TaskNode = tuple[Label, str]  # one task of one target


@dataclass(frozen=True)
class TaskRun:
    """One task of one target, expanded and keyed, ready for the runner."""

    label: Label
    task: str
    rule: str
    command: str
    outputs: tuple[str, ...]  # repo-relative files the task writes and the cache restores
    # Declared variables and their values (part of the key); None: unset, which the
    # task sees as unset, and which keys apart from an empty value.
    env: tuple[tuple[str, str | None], ...]
    junit: str | None  # repo-relative or absolute path of the JUnit XML it writes, if any
    files: tuple[str, ...]  # test files this run covers (all of the target's, or one shard's)
    needs: tuple[tuple[Label, str], ...]  # (target, task) runs that must finish first
    content_key: str  # the key of the inputs this task sees (see ``default_inputs``)
    action: Digest
    manifest: str = ""  # where the target is declared, for errors about its outputs
    line: int | None = None
    # Variables the task sees without their values keying it (names; `PREFIX_*` globs).
    pass_env: tuple[str, ...] = ()
    cache: bool = True  # False: always runs, and its result is never stored

    @property
    def node(self) -> TaskNode:
        """This run's place in the task graph: (target, task)."""
        return (self.label, self.task)

    @property
    def name(self) -> str:
        """``//pkg:name test``."""
        return f"{self.label} {self.task}"


@cache
def platform_properties() -> tuple[tuple[str, str], ...]:
    """The platform an action runs on, in REAPI's property names, sorted."""
    return (("ISA", platform.machine().lower()), ("OSFamily", platform.system().lower()))


def expand(
    template: str,
    *,
    target: Target,
    graph: BuildGraph,
    srcs: Sequence[str],
    files: Sequence[str],
    outdir: str,
    junit: str | None = None,
    shell: bool = False,
) -> list[str]:
    """Fill a command or output template; a list attribute expands an output to several.

    Placeholders: ``{package}`` (the folder, ``.`` for the root), ``{name}``,
    ``{label}``, ``{srcs}`` and ``{test_files}`` (shell-quoted, space-separated),
    ``{outdir}`` (a scratch folder for this run), ``{junit}``, ``{pythonpath}`` (the
    ``src`` folders of the target's package and its transitive deps' packages) and
    ``{attr:NAME}`` (a target attribute; a list becomes several words); ``{{`` is a
    literal brace (an imported nx command's own braces). With
    ``shell``, for a command, the path and label values are shell-quoted.
    """
    label = target.label

    def pythonpath() -> str:
        packages = [label.package, *(d.package for d in graph.deps(label, transitive=True))]
        return ":".join(dict.fromkeys(f"{p}/src" if p else "src" for p in packages))

    # Filled on demand: most templates name one or two of these, and a target's
    # transitive deps or its attributes' JSON are not free for thousands of tasks.
    values: dict[str, Callable[[], str]] = {
        "package": lambda: label.package or ".",
        "name": lambda: label.name,
        "label": lambda: str(label),
        "srcs": lambda: _words(srcs),
        "test_files": lambda: _words(files),
        "outdir": lambda: outdir,
        "junit": lambda: junit or "",
        "pythonpath": pythonpath,
    }
    # Any folder name is a package (`fixtures/astro pages`): in a command, paths and
    # labels are quoted. shlex leaves plain ones as they are, so their keys keep.
    quoted = {"package", "name", "label", "outdir", "junit", "pythonpath"} if shell else set()
    attrs = (
        {name: json.loads(value) for name, value in target.attrs} if "{attr:" in template else {}
    )
    results = [""]
    rest = template
    while rest:
        start = rest.find("{")
        if start < 0:
            results = [r + rest for r in results]
            break
        if rest.startswith("{{", start):  # an escaped brace: literal text
            results = [r + rest[: start + 1] for r in results]
            rest = rest[start + 2 :]
            continue
        end = rest.find("}", start)
        if end < 0:
            raise InputError(f"unclosed '{{' in task template {template!r} of {label}")
        results = [r + rest[:start] for r in results]
        key = rest[start + 1 : end]
        rest = rest[end + 1 :]
        if key.startswith("attr:"):
            value = attrs.get(key[5:])
            if value is None:
                raise InputError(f"{label} has no attribute {key[5:]!r} for {template!r}")
            if isinstance(value, list):
                if template.strip() == "{" + key + "}":
                    return [str(v) for v in value]
                results = [r + _words(str(v) for v in value) for r in results]
            else:
                results = [r + str(value) for r in results]
        elif key in values:
            filled = values[key]()
            if key in quoted and filled:
                filled = shlex.quote(filled)
            results = [r + filled for r in results]
        else:
            raise InputError(f"unknown placeholder {{{key}}} in {template!r} of {label}")
    return results


def _words(items: Iterable[str]) -> str:
    return " ".join(shlex.quote(item) for item in items)


def action_digest(
    *,
    content_key: str,
    spec: TaskSpec,
    command: str,
    outputs: Sequence[str],
    env: Sequence[tuple[str, str | None]],
    needs: Sequence[Digest] = (),
) -> Digest:
    """The REAPI Action digest of a task: what the action cache is keyed by.

    A declared variable that is unset is left out of the Command's environment, as
    REAPI means it (the task declares it all the same: its name is in the input
    root), so unset and empty give different keys. ``needs`` are the action keys of
    the tasks this one declares it needs: a new ``build`` is a new ``test``.
    """
    cmd = re_pb2.Command(
        arguments=["sh", "-c", command],
        environment_variables=[
            re_pb2.Command.EnvironmentVariable(name=n, value=v)
            for n, v in sorted(env)
            if v is not None
        ],
        output_paths=sorted(outputs),
        platform=re_pb2.Platform(
            properties=[re_pb2.Platform.Property(name=n, value=v) for n, v in platform_properties()]
        ),
    )
    # The inputs are what the content key already names, so the input root is one
    # small file holding that key (and the task definition), not a copy of the sources.
    fields: dict[str, object] = {
        "scheme": ACTION_SCHEME,
        "content_key": content_key,
        "task": spec.name,
        "junit": spec.junit,
        "env_names": sorted(spec.env),
    }
    if needs:  # absent otherwise, so a task that needs nothing keeps its key
        fields["needs"] = sorted(d.hash for d in needs)
    if spec.inputs is not None:  # likewise: the declared inputs, in the order written
        fields["inputs"] = list(spec.inputs)
    marker = json.dumps(fields, sort_keys=True).encode()
    marker_digest = digest_of(marker)
    root = re_pb2.Directory(
        files=[
            re_pb2.FileNode(
                name="graphkit.key",
                digest=re_pb2.Digest(hash=marker_digest.hash, size_bytes=marker_digest.size),
            )
        ]
    )
    command_digest = digest_of(cmd.SerializeToString(deterministic=True))
    root_digest = digest_of(root.SerializeToString(deterministic=True))
    action = re_pb2.Action(
        command_digest=re_pb2.Digest(hash=command_digest.hash, size_bytes=command_digest.size),
        input_root_digest=re_pb2.Digest(hash=root_digest.hash, size_bytes=root_digest.size),
        do_not_cache=False,
    )
    return digest_of(action.SerializeToString(deterministic=True))


def declared_env(spec: TaskSpec, environ: Mapping[str, str]) -> tuple[tuple[str, str | None], ...]:
    """The values of the variables a task declares (None for an unset one).

    A name with ``*`` (turbo's ``NEXT_PUBLIC_*``) declares every set variable it
    matches; ``!NAME`` (a pattern too) takes variables back out.
    """
    names = {name for name in spec.env if "*" not in name and not name.startswith("!")}
    for pattern in (p for p in spec.env if "*" in p and not p.startswith("!")):
        names.update(name for name in environ if fnmatch.fnmatchcase(name, pattern))
    for pattern in (p[1:] for p in spec.env if p.startswith("!")):
        names.difference_update([n for n in names if fnmatch.fnmatchcase(n, pattern)])
    return tuple((name, environ.get(name)) for name in sorted(names))


OUT_DIR = ".graphkit/out"  # per-task scratch space; .graphkit/.gitignore keeps it out of git


def declared_outputs(graph: BuildGraph) -> set[str]:
    """Every output any task of any target declares, as far as it can be expanded.

    An output template that needs ``{srcs}`` or ``{test_files}`` is expanded without
    them, and a target whose templates do not expand (a genrule without ``outs``)
    adds nothing: what is missed here stays an input of its key, which is safe.
    """
    found: set[str] = set()
    for label, target in graph.targets.items():
        for spec in graph.task_specs(label):
            outdir = f"{OUT_DIR}/{label.package or '_root'}/{label.name}/{spec.name}"
            for template in spec.outputs:
                try:
                    found.update(
                        _rooted(o)
                        for o in expand(
                            template, target=target, graph=graph, srcs=(), files=(), outdir=outdir
                        )
                    )
                except InputError:
                    continue  # reported when the target's task is run
    return found


def make_tasks(
    graph: BuildGraph,
    records: Mapping[Label, KeyRecord],
    labels: Iterable[Label],
    task: str,
    *,
    environ: Mapping[str, str],
    files_for: Mapping[Label, Sequence[str]] | None = None,
) -> list[TaskRun]:
    """The runs of ``task`` for each of ``labels`` whose rule defines it, and of the
    tasks they need, sorted.

    ``files_for`` narrows a target's test files to one shard's share. Paths in the
    command are repo-relative, so the same task gets the same action key on every
    machine.
    """
    roots = [(label, task) for label in labels if graph.task_spec(label, task) is not None]
    edges = task_graph(graph, roots)
    shares = {(label, task): files for label, files in (files_for or {}).items()}
    return make_runs(graph, records, edges, environ=environ, files_for=shares)


def task_graph(
    graph: BuildGraph,
    roots: Iterable[TaskNode],
    skip: Callable[[TaskNode], bool] = lambda node: False,
) -> dict[TaskNode, tuple[TaskNode, ...]]:
    """Every task to run, from ``roots`` and what they need, each with the tasks it needs.

    ``^task`` is that task of each direct dependency, as in turbo; through a dependency
    without it, that one's dependencies. A need that names a task no rule of that
    target defines, or that ``skip`` says does nothing here (a package without the
    script), is left out; a task the target's rule defines is pulled in even when it
    was not selected, as turbo does. A cycle is an InputError naming it.
    """
    chosen = set(roots)
    # Targets in one import cycle cannot wait for each other; they run in any order.
    cycle_of = {label: set(members) for members in components(graph) for label in members}
    specs: dict[TaskNode, TaskSpec | None] = {}

    def spec_of(node: TaskNode) -> TaskSpec | None:  # asked once per need: remembered
        if node not in specs:
            specs[node] = graph.task_spec(*node)
        return specs[node]

    def runs(node: TaskNode) -> bool:
        return spec_of(node) is not None and not skip(node)

    edges: dict[TaskNode, tuple[TaskNode, ...]] = {}
    stack = sorted(chosen, reverse=True)
    while stack:
        node = stack.pop()
        if node in edges:
            continue
        label, task = node
        spec = spec_of(node)
        assert spec is not None
        needed: list[TaskNode] = []
        declared = spec.needs
        if declared is None:  # undeclared: the same task of the selected deps first
            needed = _nearest(graph, label, task, chosen.__contains__, cycle_of[label])
        for need in declared or ():
            if need.startswith("^"):
                needed += _nearest(graph, label, need[1:], runs, cycle_of[label])
            elif "#" in need:
                needed.append(_labelled(graph, node, need))
            else:
                needed.append((label, need))
        kept = sorted({n for n in needed if runs(n)})
        _refuse_persistent(graph, node, kept, spec_of)
        edges[node] = tuple(kept)
        stack.extend(n for n in reversed(kept) if n not in edges)
    _refuse_cycles(edges)
    return edges


def _nearest(
    graph: BuildGraph,
    label: Label,
    task: str,
    has: Callable[[TaskNode], bool],
    cycle: AbstractSet[Label],
) -> list[TaskNode]:
    """``task`` of each dep of ``label`` that ``has`` it; through a dep that has not
    (a package without the script, a target not selected), that dep's own deps, as
    if it passed the need on. Deps in ``label``'s cycle are left out: the members of
    an import cycle cannot wait for each other."""
    found: list[TaskNode] = []
    seen: set[Label] = set()
    stack = list(graph.direct_deps(label))
    while stack:
        dep = stack.pop()
        if dep in seen or dep in cycle:
            continue
        seen.add(dep)
        if has((dep, task)):
            found.append((dep, task))
        else:
            stack.extend(graph.direct_deps(dep))
    return found


def _labelled(graph: BuildGraph, node: TaskNode, need: str) -> TaskNode:
    """The task ``LABEL#task`` names, for ``node``'s need; an InputError naming the
    target's manifest when there is no such target or task."""
    label, task = node
    target = graph.targets[label]
    text, _, name = need.rpartition("#")
    try:
        other = graph.resolve(text)
    except InputError as exc:
        raise InputError(
            f"task {task!r} of {label} needs {need!r}: {exc.message}",
            path=target.manifest or None,
            line=target.line,
        ) from None
    if graph.task_spec(other, name) is None:
        raise InputError(
            f"task {task!r} of {label} needs {need!r}, but {other} has no {name!r} task",
            path=target.manifest or None,
            line=target.line,
        )
    return (other, name)


def default_inputs(spec: TaskSpec) -> tuple[str, ...]:
    """What a task's key covers: its declared ``inputs``; else ``$interface`` for
    ``build`` (what a build reads is what dependents observe: a test file never
    rebuilds) and ``$default`` (the target's full inputs) for every other task."""
    if spec.inputs is not None:
        return spec.inputs
    return ("$interface",) if spec.name == "build" else ("$default",)


def _refuse_persistent(
    graph: BuildGraph,
    node: TaskNode,
    needs: Sequence[TaskNode],
    spec_of: Callable[[TaskNode], TaskSpec | None],
) -> None:
    """A persistent task (a dev server) never finishes: a task that needs one would
    wait forever, so that is an InputError naming both."""
    for need in needs:
        spec = spec_of(need)
        if spec is not None and spec.persistent:
            target = graph.targets[node[0]]
            raise InputError(
                f"task {node[1]!r} of {node[0]} needs {need[0]}#{need[1]}, which is "
                "persistent (it never finishes)",
                path=target.manifest or None,
                line=target.line,
                hint="a persistent task cannot be needed; run it on its own",
            )


def _refuse_cycles(edges: Mapping[TaskNode, Sequence[TaskNode]]) -> None:
    """A cycle in the task graph is an InputError naming it, from the first node (in
    sorted order) that leads into one."""
    done: set[TaskNode] = set()
    for start in sorted(edges):
        if start in done:
            continue
        path = [start]
        on_path = {start}
        work = [iter(edges[start])]
        while work:
            for need in work[-1]:
                if need in on_path:
                    cycle = [*path[path.index(need) :], need]
                    raise InputError(
                        "the task graph has a cycle: "
                        + " -> ".join(f"{label}#{task}" for label, task in cycle),
                        hint="a task cannot need itself, directly or through other tasks' `needs`",
                    )
                if need not in done:
                    path.append(need)
                    on_path.add(need)
                    work.append(iter(edges[need]))
                    break
            else:
                work.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)


def topological(edges: Mapping[TaskNode, Sequence[TaskNode]]) -> list[TaskNode]:
    """The nodes, each after every node it needs (ties in sorted order)."""
    done: set[TaskNode] = set()
    order: list[TaskNode] = []
    for start in sorted(edges):
        stack: list[tuple[TaskNode, bool]] = [(start, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                if node not in done:
                    done.add(node)
                    order.append(node)
                continue
            if node in done:
                continue
            stack.append((node, True))
            stack.extend((n, False) for n in reversed(edges[node]) if n not in done)
    return order


def make_runs(
    graph: BuildGraph,
    records: Mapping[Label, KeyRecord],
    edges: Mapping[TaskNode, Sequence[TaskNode]],
    *,
    environ: Mapping[str, str],
    files_for: Mapping[TaskNode, Sequence[str]] | None = None,
    snapshot: Snapshot | None = None,
) -> list[TaskRun]:
    """The keyed runs of a task graph (see ``task_graph``), sorted by (target, task).

    A task that declares ``needs`` has the action keys of those tasks in its own key.
    ``snapshot`` (the files keys were computed from) serves repo-relative input globs
    (``//tsconfig.base.json``); without it they match nothing outside the target.
    """
    made: dict[TaskNode, TaskRun] = {}
    rooted: dict[tuple[str, ...], tuple[FileId, ...]] = {}  # targets share their globs
    for node in topological(edges):
        label, task = node
        target = graph.targets[label]
        spec = graph.task_spec(label, task)
        assert spec is not None
        key_files = records[label].inputs.files
        inputs = [path for path, _mode, _oid in key_files]
        files = list(files_for[node]) if files_for and node in files_for else None
        tests = files if files is not None else test_files(graph, label, inputs)
        outdir = f"{OUT_DIR}/{label.package or '_root'}/{label.name}/{task}"

        templates = (spec.command, spec.junit or "", *spec.outputs)
        srcs = _srcs(graph, target, key_files) if any("{srcs}" in t for t in templates) else []
        fill = partial(expand, target=target, graph=graph, srcs=srcs, files=tests, outdir=outdir)
        junit = fill(spec.junit)[0] if spec.junit else None
        command = " ".join(fill(spec.command, junit=junit, shell=True))
        outputs = tuple(sorted({_rooted(o) for template in spec.outputs for o in fill(template)}))
        for output in outputs:
            _check_output(output, target, task)
        env = declared_env(spec, environ)
        needs = tuple(edges[node])
        sees = default_inputs(spec)
        if snapshot is not None and sees not in rooted:
            rooted[sees] = root_inputs(snapshot, sees)
        content_key = task_key(records[label], label.package, sees, rooted.get(sees, ()))
        made[node] = TaskRun(
            label=label,
            task=task,
            rule=target.rule,
            command=command,
            outputs=outputs,
            env=env,
            junit=junit,
            files=tuple(tests),
            needs=needs,
            content_key=content_key,
            action=action_digest(
                content_key=content_key,
                spec=spec,
                command=command,
                outputs=outputs,
                env=env,
                needs=[made[n].action for n in needs] if spec.needs is not None else (),
            ),
            manifest=target.manifest,
            line=target.line,
            pass_env=spec.pass_env,
            # A persistent task never finishes with a result worth keeping.
            cache=spec.cache and not spec.persistent,
        )
    return [made[node] for node in sorted(made)]


def _srcs(graph: BuildGraph, target: Target, files: Iterable[FileId]) -> list[str]:
    """The files ``{srcs}`` names: those the target's srcs globs match.

    Not every input: a package's unmatched files (an untracked NOTES.txt) are inputs
    of each of its targets, but no tool was asked to read them. A submodule is a
    folder, never a src.
    """
    package = target.label.package
    prefix = len(package) + 1 if package else 0
    match = graph.matcher(target.effective_srcs(graph.rules[target.rule]))
    return [path for path, mode, _oid in files if mode != _GITLINK and match(path[prefix:])]


def _rooted(output: str) -> str:
    """``./dist/**`` (``{package}/dist/**`` of the root package) -> ``dist/**``; an
    exclusion (``!./dist/cache/**``) likewise."""
    negated = output.startswith("!")
    output = output[1:] if negated else output
    while output.startswith("./"):
        output = output[2:]
    return "!" + output if negated else output


def _check_output(output: str, target: Target, task: str) -> None:
    """An expanded output must be a plain repo-relative path outside ``.git``."""
    try:
        repo_path(output.removeprefix("!").rstrip("/"))
    except InputError:
        problem = "is absolute or leaves the workspace"
    else:
        if not any(part.lower() == ".git" for part in output.split("/")):
            return
        problem = "is inside .git"
    raise InputError(
        f"output {output!r} of task {task!r} of {target.label} {problem}",
        path=target.manifest or None,
        line=target.line,
        hint="outputs are repo-relative paths: no '..', no leading '/'",
    )
