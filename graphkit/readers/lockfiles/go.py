"""Go ``go.sum`` plus its ``go.mod`` -> Lock, keyed by **module path**.

go.sum alone is a bag of hashes: it says nothing about which module needs what, and
it keeps hashes of versions no longer used. The graph comes from ``go.mod``: since
Go 1.17 a module's ``require`` lines (direct and ``// indirect``) list every module
that provides a package to its build, so they are its closure, and go.sum supplies
each one's ``h1:`` hash (of the module zip, else of its ``go.mod``).

``replace`` directives are applied: ``x => y v1.2.0`` resolves ``x`` to ``y``'s
version and hash (version-specific replacements first); ``x => ./local`` makes ``x``
a folder of the repository, which the graph covers, so it leaves the closure.
One Lock covers one module (one ``go.mod``/``go.sum`` pair); ``go.work.sum`` is not
read. ``exclude`` and ``retract`` do not change what is required, and are ignored.
"""

from __future__ import annotations

import posixpath

from graphkit.errors import InputError
from graphkit.readers.lockfiles.model import Lock, Resolved, decode
from graphkit.readers.manifests.go import Directive, parse_directives

ECOSYSTEM = "go"
_LOCAL_PREFIXES = ("./", "../", "/")


def parse_go(go_mod: bytes, go_sum: bytes, path: str) -> Lock:
    """The closure of the module whose ``go.sum`` is at ``path`` (``go.mod`` beside it).

    The Lock has one key, the ``module`` path. A replaced requirement is reported as
    ``Resolved(path, "=> new/path v1.2.0", hash)``. Raises InputError naming the file
    and line for a malformed go.mod or go.sum line, or a go.mod without ``module``.
    """
    mod_path = posixpath.join(posixpath.dirname(path), "go.mod")
    # go.mod is read by the same parser the Go manifest reader uses.
    directives = list(parse_directives(go_mod, mod_path))
    module = next((d.args for d in directives if d.verb == "module"), None)
    if module is None or len(module) != 1:
        raise InputError("no 'module' directive", path=mod_path, line=1)
    sums = _sums(go_sum, path)
    replaces = _replacements(directives, mod_path)
    closure: set[Resolved] = set()
    for directive in directives:
        if directive.verb != "require":
            continue
        if len(directive.args) != 2:
            raise InputError("expected 'require path version'", path=mod_path, line=directive.line)
        name, version = directive.args
        target = replaces.get((name, version)) or replaces.get((name, ""))
        if target is None:
            closure.add(Resolved(name, version, sums.get((name, version))))
        elif not target[0].startswith(_LOCAL_PREFIXES):
            closure.add(Resolved(name, f"=> {target[0]} {target[1]}", sums.get(target)))
    return Lock.of(path, ECOSYSTEM, {module[0]: frozenset(closure)})


def _replacements(directives: list[Directive], path: str) -> dict[tuple[str, str], tuple[str, str]]:
    """``(old path, old version or "")`` -> ``(new path, new version or "")``."""
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for directive in directives:
        if directive.verb != "replace":
            continue
        args = directive.args
        if "=>" not in args:
            raise InputError("expected 'replace old => new'", path=path, line=directive.line)
        arrow = args.index("=>")
        old, new = args[:arrow], args[arrow + 1 :]
        if len(old) not in (1, 2) or len(new) not in (1, 2):
            raise InputError(
                "expected 'replace old [v] => new [v]'", path=path, line=directive.line
            )
        found[(old[0], old[1] if len(old) == 2 else "")] = (new[0], new[1] if len(new) == 2 else "")
    return found


def _sums(data: bytes, path: str) -> dict[tuple[str, str], str]:
    """``(module, version)`` -> the ``h1:`` hash of its zip, else of its go.mod."""
    zips: dict[tuple[str, str], str] = {}
    mods: dict[tuple[str, str], str] = {}
    for number, text in enumerate(decode(data, path).splitlines(), start=1):
        fields = text.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise InputError(
                f"expected 'module version hash', found {text.strip()!r}", path=path, line=number
            )
        module, version, digest = fields
        if version.endswith("/go.mod"):
            mods[(module, version.removesuffix("/go.mod"))] = digest
        else:
            zips[(module, version)] = digest
    return mods | zips
