"""Go modules and workspaces: ``go.mod`` / ``go.work`` bytes -> Packages.

Membership: the root ``go.work``'s ``use`` directives when it exists (each must name
a folder with a ``go.mod``; a path outside the repository is ignored), otherwise
every ``go.mod`` of the repository except under ``testdata/`` folders, which the go
tool ignores.

A module depends on another when it ``require``s that module's path, or when a
``replace X => ./path`` (in its own ``go.mod``, or in ``go.work`` for a module it
requires) points at the other module's folder. A local replacement counts even
without a matching ``require``: an external module may pull ``X`` in, and the local
code is what gets built.

The files are parsed by hand with the subset of Go's modfile grammar these readers
need: one directive per line (``verb arg...``) or a block (``verb (`` ... ``)``, one
entry per line); ``//`` comments; arguments bare or quoted (``"..."`` with
backslash escapes, or backquoted). Known verbs are checked for their argument
counts (``module``, ``require``, ``replace``, ``use``); every other verb (``go``,
``toolchain``, ``exclude``, ``retract``, ``godebug``, ``tool``, ``ignore``, future
ones) is kept for the definition but not interpreted.

A module's own directives (``go``, ``toolchain`` included) are part of its
definition. Every directive of the root ``go.work`` (``use``, ``replace``, ``go``,
``toolchain``, ``godebug``) reaches every module of the workspace: a ``use`` or a
``replace`` can change which code any module's build list resolves to, through
external modules graphkit does not see. ``go.work.sum`` reaches every module below
its folder (see rootconfig).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from graphkit.errors import InputError
from graphkit.model import Package
from graphkit.readers.manifests import rootconfig
from graphkit.readers.manifests.members import (
    Found,
    Member,
    Sorter,
    manifests_named,
    resolve,
)

GO_MOD = "go.mod"
GO_WORK = "go.work"
# The files read_packages needs, by basename. The caller passes every such file of
# the repository except those under node_modules/, target/, .venv/ and vendor/.
MANIFESTS: tuple[str, ...] = (GO_MOD, GO_WORK, *rootconfig.GO_FILES)
RULE = "go_module"
# A token: an interpreted string, a raw string, a parenthesis, or a run of other
# non-space text. An unterminated quote matches the `["`].*` alternative and is reported.
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|["`].*|[()]|[^\s"`()]+')
_ESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True)
class Directive:
    """One directive: ``require example.com/x v1.2.0`` is ``("require", (path, version))``.

    A block (``require ( ... )``) yields one directive per entry, with the block's verb.
    """

    verb: str
    args: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Replacement:
    """``replace old => new``: ``folder`` is set when ``new`` is a path in the repository."""

    old: str
    folder: str | None


def read_packages(files: Mapping[str, bytes]) -> tuple[Package, ...]:
    """One ``go_module`` Package per workspace module (see ``read_workspace``)."""
    return read_workspace(files).packages


def read_workspace(files: Mapping[str, bytes]) -> Found:
    """One ``go_module`` Package per workspace module, with deps between them.

    ``files`` maps repo-relative paths to the bytes of every ``go.mod`` and
    ``go.work`` in the repository (see MANIFESTS); only the root ``go.work`` counts.
    With a go.work, only the modules it uses are read. Without one, a go.mod that
    cannot be read is a warning and no member. Raises InputError, with file and
    line, for a malformed line of go.work or of a module it uses, a ``use`` of a
    folder without go.mod or outside the repository, or two modules with the same
    path.
    """
    paths = manifests_named(files, GO_MOD)
    sources: dict[str, object] = {}
    if GO_WORK in files:
        folders, shared = _workspace(files[GO_WORK], paths)
        work = parse_directives(files[GO_WORK], GO_WORK)
        sources[f"{GO_WORK} (every module of the workspace)"] = sorted(
            [d.verb, *d.args] for d in work
        )
        sorter = Sorter(folders)
    else:
        folders = sorted(f for f in paths if "testdata" not in f.split("/"))
        shared = []
        sorter = Sorter(())
    configs = rootconfig.config_files(files, rootconfig.GO_FILES)
    parsed: dict[str, _Module] = {}

    def member(folder: str) -> Member:
        module = parsed[folder] = _module(folder, paths[folder], files[paths[folder]])
        found = Member(
            folder=folder,
            manifest=module.manifest,
            rule=RULE,
            alias=module.module,
            line=module.line,
            # Every directive, sorted: a version bump or a new replace redefines the
            # module, while comments, blocks and ordering do not.
            attrs=(("manifest_doc", sorted([d.verb, *d.args] for d in module.directives)),),
        )
        return rootconfig.with_sources(
            found, {**sources, **rootconfig.files_reaching(folder, configs, "module")}
        )

    members = sorter.unique(sorter.members(folders, member, paths), "Go modules")
    by_path = {m.alias: m.folder for m in members if m.alias}
    if GO_WORK in files:
        members = _with_workspace_requirements(members, parsed, by_path)
    return sorter.found(
        sorter.settle(members, lambda m: set(_local_deps(parsed[m.folder], by_path, shared)))
    )


def parse_directives(data: bytes, path: str) -> tuple[Directive, ...]:
    """The directives of a ``go.mod`` or ``go.work``, in file order.

    Raises InputError with file and line for an unterminated quote or block, or a
    ``)`` with no block open.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", path=path) from None
    if "\0" in text:
        # The go tool refuses such a file; reading past the NUL would invent a module.
        line = text.count("\n", 0, text.index("\0")) + 1
        raise InputError("NUL byte in a text file", path=path, line=line)
    directives: list[Directive] = []
    block: tuple[str, int] | None = None  # (verb, line) of the open block
    for number, raw in enumerate(text.splitlines(), start=1):
        tokens = _tokens(raw, path, number)
        if not tokens:
            continue
        if block is not None:
            if tokens == [")"]:
                block = None
            else:
                directives.append(Directive(block[0], tuple(tokens), number))
            continue
        if tokens[0] in ("(", ")"):
            raise InputError(f"unexpected {tokens[0]!r}", path=path, line=number)
        if tokens[1:] == ["("]:
            block = (tokens[0], number)
        elif tokens[1:] != ["(", ")"]:  # an empty one-line block declares nothing
            directives.append(Directive(tokens[0], tuple(tokens[1:]), number))
    if block is not None:
        raise InputError(f"{block[0]} block is never closed", path=path, line=block[1])
    return tuple(directives)


def _tokens(line: str, path: str, number: int) -> list[str]:
    tokens = []
    for match in _TOKEN.finditer(line):
        token = match.group()
        if token.startswith("//"):
            break  # a comment runs to the end of the line
        if token[0] in '"`':
            if len(token) < 2 or token[-1] != token[0]:
                raise InputError("unterminated quoted string", path=path, line=number)
            token = token[1:-1] if token[0] == "`" else _ESCAPE.sub(r"\1", token[1:-1])
        elif "//" in token:
            tokens.append(token[: token.index("//")])
            break
        tokens.append(token)
    return [t for t in tokens if t]


def _expect(directive: Directive, path: str, counts: tuple[int, ...], shape: str) -> None:
    if len(directive.args) not in counts:
        raise InputError(
            f"malformed {directive.verb}: expected {shape}, found {' '.join(directive.args)!r}",
            path=path,
            line=directive.line,
        )


def _replacement(directive: Directive, path: str, folder: str) -> Replacement:
    """Parse ``old [version] => new [version]``; ``new`` as a path is resolved from ``folder``."""
    args = directive.args
    arrow = args.index("=>") if "=>" in args else -1
    if arrow not in (1, 2) or len(args) - arrow - 1 not in (1, 2):
        raise InputError(
            f"malformed replace: expected 'module [version] => target [version]', "
            f"found {' '.join(args)!r}",
            path=path,
            line=directive.line,
        )
    new = args[arrow + 1]
    # Go: a replacement starting with ./ or ../ (or absolute) is a folder, not a module.
    local = new in (".", "..") or new.startswith(("./", "../"))
    return Replacement(args[0], resolve(folder, new) if local else None)


@dataclass(frozen=True)
class _Module:
    """One parsed ``go.mod``: its folder, path, module path and requirements."""

    folder: str
    manifest: str
    module: str
    line: int
    requires: Mapping[str, tuple[str, ...]]  # module path -> the versions required
    replacements: tuple[Replacement, ...]
    directives: tuple[Directive, ...]


def _with_workspace_requirements(
    members: list[Member], parsed: Mapping[str, _Module], by_path: Mapping[str, str]
) -> list[Member]:
    """Each module with, for every external module it requires, the versions that all
    modules of the go.work workspace require of it.

    A workspace builds every module with one build list, chosen by MVS over all their
    requirements: a bump of ``X`` in one module's go.mod changes the ``X`` that every
    other module requiring it (directly or, from go 1.17 on, as ``// indirect``) is
    built with. The versions stand in for MVS's choice, so any change to them reaches
    those modules; a module that does not require ``X`` is not reached."""
    wanted: dict[str, set[str]] = {}
    for module in parsed.values():
        for path, versions in module.requires.items():
            if path not in by_path:
                wanted.setdefault(path, set()).update(versions)
    return [
        rootconfig.with_sources(
            member,
            {
                f"{GO_WORK} workspace requirement {path} (every module requiring it)": sorted(
                    wanted[path]
                )
                for path in sorted(parsed[member.folder].requires)
                if path in wanted
            },
        )
        for member in members
    ]


def _module(folder: str, manifest: str, data: bytes) -> _Module:
    directives = parse_directives(data, manifest)
    module = None
    requires: dict[str, tuple[str, ...]] = {}
    replacements = []
    for directive in directives:
        if directive.verb == "module":
            _expect(directive, manifest, (1,), "'module path'")
            module = directive
        elif directive.verb == "require":
            _expect(directive, manifest, (2,), "'module version'")
            path, version = directive.args
            requires[path] = (*requires.get(path, ()), version)
        elif directive.verb == "replace":
            replacements.append(_replacement(directive, manifest, folder))
    if module is None:
        raise InputError("no module directive", path=manifest, line=1)
    return _Module(
        folder=folder,
        manifest=manifest,
        module=module.args[0],
        line=module.line,
        requires=requires,
        replacements=tuple(replacements),
        directives=directives,
    )


def _workspace(data: bytes, modules: Mapping[str, str]) -> tuple[list[str], list[Replacement]]:
    """The folders that ``go.work`` uses, and its replacements."""
    folders = []
    replacements = []
    for directive in parse_directives(data, GO_WORK):
        if directive.verb == "use":
            _expect(directive, GO_WORK, (1,), "'use path'")
            folder = resolve("", directive.args[0])
            if folder is None:
                # A module graphkit cannot see would drop its edges silently.
                raise InputError(
                    f"use {directive.args[0]!r}: the folder is outside the repository",
                    path=GO_WORK,
                    line=directive.line,
                    hint="graphkit reads the modules of this repository only",
                )
            if folder not in modules:
                raise InputError(
                    f"use {directive.args[0]!r}: no go.mod in that folder",
                    path=GO_WORK,
                    line=directive.line,
                )
            folders.append(folder)
        elif directive.verb == "replace":
            replacements.append(_replacement(directive, GO_WORK, ""))
    return sorted(set(folders)), replacements


def _local_deps(
    module: _Module, by_path: Mapping[str, str], shared: list[Replacement]
) -> Iterator[str]:
    """Folders of the workspace modules that ``module`` requires or replaces into."""
    folders = set(by_path.values())
    for required in module.requires:
        if required in by_path:
            yield by_path[required]
    for swap in module.replacements:
        if swap.folder is not None and swap.folder in folders:
            yield swap.folder
    # go.work's replacements apply to every module, so they count only where required.
    for swap in shared:
        if swap.old in module.requires and swap.folder is not None and swap.folder in folders:
            yield swap.folder
