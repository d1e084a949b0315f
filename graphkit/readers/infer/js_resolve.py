"""JavaScript and TypeScript import resolution: ImportRefs -> repo files.

Resolution, in TypeScript's order: relative specifiers against the importing
file's folder; the nearest ``tsconfig.json`` (or ``jsconfig.json``) ``paths`` and
``baseUrl``, following ``extends``; workspace packages by name (``@acme/ui`` and
``@acme/ui/sub``) through their ``package.json``; everything else is ``external``.

``extends`` names any file (``../../tsconfig.base.json``, ``./tsconfig.build``), a
list of them (TypeScript 5), or a package's config (``@tsconfig/node20/tsconfig.json``,
read from a ``node_modules`` folder of the repository when one holds it, else an
external config that maps nothing). A config graphkit cannot read (an ``extends``
naming a generated file such as ``.nuxt/tsconfig.server.json`` that git does not
hold, a missing file, or a broken config inside a test-fixture folder) is a warning:
the config's own ``paths``/``baseUrl`` still apply, and a bare specifier it does
not resolve is ``unresolved`` rather than ``external``, since the unread config
could have mapped it into the repository. A broken config elsewhere, or an
``extends`` cycle, is an error.
A file is tried as written, then with ``.ts .tsx .d.ts .mts .cts .js .jsx .mjs
.cjs .json``, then as a folder (``package.json`` ``main``, then ``index.*``); ``./x.js``
also finds ``x.ts``, as TypeScript's node16 and bundler resolution do.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from graphkit.errors import InputError, InputWarning
from graphkit.paths import parent_dirs
from graphkit.readers.infer.js import CONFIG_NAMES, EXTENSIONS, JS_TO_TS, SUFFIXES, imports
from graphkit.readers.infer.resolve import ImportRef, Resolution
from graphkit.tomldoc import TOO_DEEP


@dataclass(frozen=True)
class TsPaths:
    """The module-resolution settings of one tsconfig, after ``extends``.

    ``base_url`` is a repo folder (``compilerOptions.baseUrl``); ``paths`` are
    ``(pattern, substitutions)`` in file order, None when no config declares them.
    Substitutions are relative to ``base_url`` when set, else to ``paths_base``, the
    folder of the tsconfig that declared ``paths`` (TypeScript's rule since 4.1).
    """

    base_url: str | None
    paths: tuple[tuple[str, tuple[str, ...]], ...] | None
    paths_base: str
    # The config graphkit could not read in full (an extends it could not follow), if any.
    unread: str | None = None

    def substitutions(self, specifier: str) -> tuple[str, ...] | None:
        """Repo paths to try for ``specifier``; None when no pattern matches it.

        An exact pattern wins; among ``*`` patterns the longest prefix wins, as in tsc.
        """
        best: tuple[int, str, tuple[str, ...]] | None = None
        for pattern, targets in self.paths or ():
            if pattern == specifier:
                best = (len(pattern) + 1, "", targets)
                break
            prefix, star, suffix = pattern.partition("*")
            fits = specifier.startswith(prefix) and specifier.endswith(suffix)
            fits = fits and len(specifier) >= len(prefix) + len(suffix)
            if star and fits and (best is None or len(prefix) > best[0]):
                best = (len(prefix), specifier[len(prefix) : len(specifier) - len(suffix)], targets)
        if best is None:
            return None
        base = self.base_url if self.base_url is not None else self.paths_base
        return tuple(_join(base, t.replace("*", best[1])) for t in best[2])


class JsResolver:
    """Resolves JS/TS ImportRefs to repo files (see the module docstring)."""

    suffixes: tuple[str, ...] = SUFFIXES

    def __init__(
        self,
        files: Iterable[str],
        tsconfigs: Mapping[str, bytes],
        packages: Mapping[str, str] | None = None,
        package_jsons: Mapping[str, bytes] | None = None,
    ) -> None:
        """Index the repository for resolution.

        ``files``: every repo file path. ``tsconfigs``: path -> bytes of every
        ``tsconfig*.json``/``jsconfig.json`` (extended ones included). ``packages``:
        workspace package name -> folder. ``package_jsons``: path -> bytes of the
        ``package.json`` files, read for ``exports``/``main`` (and for the names
        when ``packages`` is not given). Raises InputError for a malformed config.
        """
        self._files = frozenset(files)
        self.warnings: list[InputWarning] = []  # the configs read in part, in path order
        reader = _ConfigReader(tsconfigs, self.warnings)
        self._configs = {
            posixpath.dirname(path): reader.read(path, ())
            for path in sorted(tsconfigs)  # the last wins: tsconfig.json over jsconfig.json
            if posixpath.basename(path) in CONFIG_NAMES and not is_installed(path)
        }
        self._manifests = {
            posixpath.dirname(path): _load_jsonc(data, path)
            for path, data in (package_jsons or {}).items()
        }
        if packages is None:
            named = self._manifests.items()
            packages = {d["name"]: f for f, d in named if isinstance(d.get("name"), str)}
        self._packages = dict(packages)

    def imports(self, source: bytes, path: str) -> tuple[ImportRef, ...]:
        """The ImportRefs of one JS/TS file (see ``imports``)."""
        return imports(source, path)

    def resolve(self, ref: ImportRef, from_path: str) -> Resolution:
        """Where ``ref``, found in the repo file ``from_path``, leads."""
        spec = ref.module
        if ref.kind == "relative":
            if found := self._file_or_folder(_join(posixpath.dirname(from_path), spec)):
                return Resolution("resolved", found)
            return Resolution("unresolved", reason=f"no file for {spec} next to {from_path}")
        if ref.kind != "absolute":
            return Resolution("unresolved", reason=f"{ref.kind} import has no module to resolve")
        config = self._config_for(from_path)
        subs = config.substitutions(spec) if config else None
        for candidate in subs or ():
            if found := self._file_or_folder(candidate):
                return Resolution("resolved", found, "tsconfig paths")
        base_url = config.base_url if config is not None else None
        if base_url is not None and (found := self._file_or_folder(_join(base_url, spec))):
            return Resolution("resolved", found, "tsconfig baseUrl")
        if found := self._workspace_package(spec):
            return Resolution("resolved", found, "workspace package")
        if subs is not None:
            return Resolution("unresolved", reason="matches tsconfig paths, but no file exists")
        if config is not None and config.unread is not None:
            return Resolution(
                "unresolved", reason=f"{config.unread}, which could map it, cannot be read"
            )
        return Resolution("external", reason="not a workspace package")

    def _config_for(self, path: str) -> TsPaths | None:
        """The settings of the nearest tsconfig.json/jsconfig.json above ``path``."""
        return next((self._configs[d] for d in parent_dirs(path) if d in self._configs), None)

    def _file(self, target: str) -> str | None:
        """``target`` as written, with an extension added, or ``x.js`` written for ``x.ts``."""
        if target in self._files:
            return target
        for ext in EXTENSIONS:
            if target + ext in self._files:
                return target + ext
        stem, ext = posixpath.splitext(target)
        return next((stem + t for t in JS_TO_TS.get(ext, ()) if stem + t in self._files), None)

    def _file_or_folder(self, path: str) -> tuple[str, ...]:
        """The files ``path`` names: a file, else a folder's package entry or index."""
        target = _normalize(path)
        if target is None:
            return ()
        if found := self._file(target):
            return (found,)
        if target in self._manifests:
            return self._entries(target)
        index = self._file(_join(target, "index"))
        return (index,) if index else ()

    def _entries(self, folder: str, subpath: str = ".") -> tuple[str, ...]:
        """A package's files for ``subpath``: ``exports`` (every condition), ``main``/``module``.

        When none of them is in the repo (they usually name a build output such as
        ``dist/``), the source is tried: ``<sub>`` and ``src/<sub>``, or for the
        package itself ``src/index.*`` then ``index.*``.
        """
        doc = self._manifests.get(folder, {})
        named = _export_targets(doc.get("exports"), subpath)
        if subpath == ".":
            named += [doc[k] for k in ("main", "module") if isinstance(doc.get(k), str)]
        targets = [t for t in (_normalize(_join(folder, n)) for n in named) if t is not None]
        found = [self._file(t) or self._file(_join(t, "index")) for t in targets]
        fallbacks = ("src/index", "index") if subpath == "." else (subpath, f"src/{subpath[2:]}")
        for fallback in fallbacks if not any(found) else ():
            target = _normalize(_join(folder, fallback))
            found.append(self._file(target) if target else None)
            if found[-1]:
                break
        return tuple(dict.fromkeys(f for f in found if f))

    def _workspace_package(self, spec: str) -> tuple[str, ...]:
        """``@acme/ui`` or ``@acme/ui/sub/path`` through the workspace package's folder."""
        parts = spec.split("/")
        size = 2 if spec.startswith("@") else 1
        folder = self._packages.get("/".join(parts[:size]))
        if folder is None:
            return ()
        return self._entries(folder, "./" + "/".join(parts[size:]) if parts[size:] else ".")


def _join(base: str, relative: str) -> str:
    """``base/relative`` with ``""`` as the repository root."""
    return f"{base}/{relative}" if base else relative


def _normalize(path: str) -> str | None:
    """A joined path made repo-relative; None when it climbs out of the repository."""
    norm = posixpath.normpath(path)
    if norm == ".":
        return ""
    return None if norm.startswith(("../", "/")) or norm == ".." else norm


def _export_targets(exports: Any, subpath: str) -> list[str]:
    """Every path ``exports`` maps ``subpath`` to, under any condition (all may load)."""
    if isinstance(exports, str | list) or (
        isinstance(exports, dict) and not any(k.startswith(".") for k in exports)
    ):
        exports = {".": exports}  # the sugar forms: one entry point, maybe with conditions
    if not isinstance(exports, dict):
        return []
    if subpath in exports:
        return list(_strings(exports[subpath]))
    matches = [
        (key.index("*"), key) for key in exports
        if key.count("*") == 1 and subpath.startswith(key.split("*")[0])
        and subpath.endswith(key.split("*")[1])
    ]  # fmt: skip
    if not matches:
        return []
    cut, key = max(matches)
    star = subpath[cut : len(subpath) - len(key) + cut + 1]
    return [s.replace("*", star) for s in _strings(exports[key])]


def _strings(value: Any) -> Iterator[str]:
    """The strings of a conditions value: a string, a list, or nested condition objects."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | dict):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _strings(item)


# Folders whose files are test data: a broken tsconfig there is a warning, not an error.
# A playground holds the small apps a tool's end-to-end tests build (vite's
# playground/tsconfig-json-load-error is broken on purpose).
FIXTURE_FOLDERS = frozenset(
    {"fixtures", "fixture", "__fixtures__", "test-fixtures", "testdata", "test", "tests",
     "__tests__", "playground", "playgrounds"}
)  # fmt: skip


def is_installed(path: str) -> bool:
    """True for a file under a ``node_modules`` folder: installed code, even when
    committed, is never scanned and its configs govern nothing."""
    return "node_modules" in path.split("/")[:-1]


def is_config(path: str) -> bool:
    """True for ``tsconfig*.json`` and ``jsconfig*.json`` (``tsconfig.build.json`` too)."""
    name = posixpath.basename(path)
    return name.endswith(".json") and name.startswith(("tsconfig", "jsconfig"))


def config_files(paths: Iterable[str], read: Callable[[str], bytes]) -> dict[str, bytes]:
    """Every tsconfig/jsconfig of the repository and every file their ``extends`` reach
    (whatever its name), as ``{path: bytes}``: what ``JsResolver`` reads."""
    known = set(paths)
    found: dict[str, bytes] = {}
    pending = sorted(p for p in known if is_config(p) and not is_installed(p))
    while pending:
        path = pending.pop()
        if path in found:
            continue
        found[path] = read(path)
        try:
            doc = _load_jsonc(found[path], path)
        except InputError:
            continue  # reported when the resolver reads it
        for name in _extends_list(doc.get("extends")) or ():
            target = _extended(posixpath.dirname(path), name, known)
            if target is not None and target in known and target not in found:
                pending.append(target)
    return found


def _extends_list(value: Any) -> list[str] | None:
    """``extends`` as a list of names; None when it is neither a string nor a list of them."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


class _ConfigReader:
    """Reads tsconfigs with what they extend, each once, collecting warnings."""

    def __init__(self, configs: Mapping[str, bytes], warnings: list[InputWarning]) -> None:
        self.configs = configs
        self.warnings = warnings
        self.done: dict[str, TsPaths] = {}

    def read(self, path: str, seen: tuple[str, ...]) -> TsPaths:
        """The TsPaths of the tsconfig at ``path``, merged over what it ``extends``.

        ``seen`` is the chain of configs extending this one (to report a cycle).
        """
        if path not in self.done:
            try:
                self.done[path] = self._read(path, seen)
            except InputError as exc:
                if not FIXTURE_FOLDERS.intersection(path.split("/")[:-1]):
                    raise
                self._warn(
                    path, f"{exc.message}; read as a config that maps nothing known", exc.line
                )
                self.done[path] = TsPaths(None, None, posixpath.dirname(path), unread=path)
        return self.done[path]

    def _read(self, path: str, seen: tuple[str, ...]) -> TsPaths:
        doc = _load_jsonc(self.configs[path], path)
        folder = posixpath.dirname(path)
        merged = TsPaths(None, None, folder)
        names = _extends_list(doc.get("extends"))
        if names is None:
            raise InputError("`extends` must be a string or a list of strings", path=path)
        for name in names:
            target = _extended(folder, name, self.configs)
            if target is None:
                continue  # a package's config outside the repository: it maps nothing here
            if target in seen or target == path:
                raise InputError(f"extends {name!r}: {target} cycles", path=path)
            if target not in self.configs:
                # A generated file (.nuxt/, .svelte-kit/) or a missing one: its paths are
                # unknown, so imports it could map resolve conservatively.
                self._warn(
                    path,
                    f"extends {name!r}: {target} is not in the repository "
                    "(generated?); imports it could map are treated as unresolved",
                )
                merged = replace(merged, unread=path)
                continue
            merged = _over(merged, self.read(target, (*seen, path)))
        options = doc.get("compilerOptions") or {}
        return _over(merged, _own_paths(options, folder, path))

    def _warn(self, path: str, message: str, line: int | None = None) -> None:
        self.warnings.append(InputWarning(path, line, message))


def _own_paths(options: Any, folder: str, path: str) -> TsPaths:
    """The baseUrl/paths one config declares itself (None where it declares none)."""
    base = options.get("baseUrl") if isinstance(options, dict) else None
    paths = options.get("paths") if isinstance(options, dict) else None
    if not isinstance(paths, dict | None) or not isinstance(base, str | None):
        raise InputError("compilerOptions.paths/baseUrl have the wrong type", path=path)
    entries = None
    if paths is not None:
        entries = tuple(
            (k, tuple(v for v in vs if isinstance(v, str)))
            for k, vs in paths.items()
            if isinstance(vs, list)
        )
    base_url = None if base is None else _normalize(_join(folder, base))
    return TsPaths(base_url, entries, folder)


def _over(inherited: TsPaths, own: TsPaths) -> TsPaths:
    """``own`` settings over ``inherited`` ones, field by field, as ``extends`` merges."""
    base = own.base_url if own.base_url is not None else inherited.base_url
    unread = own.unread or inherited.unread
    if own.paths is not None:
        return TsPaths(base, own.paths, own.paths_base, unread)
    return TsPaths(base, inherited.paths, inherited.paths_base, unread)


def _extended(folder: str, name: str, known: Collection[str]) -> str | None:
    """The repo path an ``extends`` value names (it may not exist); None for a package's
    config that no ``node_modules`` folder of the repository holds."""
    if name.startswith(("./", "../", "/")) or name in (".", ".."):
        # An absolute path or one climbing out names a file outside the repository.
        target = _normalize(_join(folder, name)) if not name.startswith("/") else None
        target = target if target is not None else name
        return target if target in known or target.endswith(".json") else f"{target}.json"
    # A package specifier: node_modules/<spec> in this folder or above, as node looks.
    for parent in (folder, *parent_dirs(folder)) if folder else ("",):
        base = _join(_join(parent, "node_modules"), name)
        for candidate in (base, f"{base}.json", f"{base}/tsconfig.json"):
            if candidate in known:
                return candidate
    return None


def _load_jsonc(data: bytes, path: str) -> dict[str, Any]:
    """JSON with comments and trailing commas (tsconfig's dialect), as a dict."""
    text = data.decode("utf-8-sig", errors="replace")
    out: list[str] = []
    last = -1  # index in ``out`` of the last character that was not blank
    i = 0
    while i < len(text):
        if text[i] == '"':
            end = i + 1
            while end < len(text) and text[end] not in '"\n':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i : end + 1])
            last, i = len(out) - 1, end + 1
        elif text.startswith(("//", "/*"), i):
            close = text.find("\n" if text[i + 1] == "/" else "*/", i + 2)
            end = len(text) if close < 0 else close + (text[i + 1] == "*") * 2
            out.append("\n" * text.count("\n", i, end))  # keep line numbers for errors
            i = end
        else:
            if text[i] in "}]" and last >= 0 and out[last] == ",":
                out[last] = " "  # a trailing comma
            out.append(text[i])
            last = last if text[i].isspace() else len(out) - 1
            i += 1
    try:
        doc = json.loads("".join(out))
    except json.JSONDecodeError as err:
        raise InputError(f"invalid JSON: {err.msg}", path=path, line=err.lineno) from None
    except RecursionError:
        raise InputError(TOO_DEEP, path=path) from None
    if not isinstance(doc, dict):
        raise InputError("expected a JSON object", path=path, line=1)
    return doc
