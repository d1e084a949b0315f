"""Root configuration: what outside a member's own manifest changes how it builds.

Every ecosystem reads settings from beyond a member's manifest: a toolchain pin
(``rust-toolchain.toml``, ``.nvmrc``), a registry or install config (``.npmrc``,
``.cargo/config.toml``), and sections of the workspace root's manifest (Cargo's
``[profile]``, npm's ``overrides``, pnpm's catalogs). The ecosystem readers read
them with the manifests and record, on each member a setting reaches, one attribute
``root_config``: ``{source: value}``. A source names the file, the section and what
it reaches; a value is the parsed setting, or the git blob id of a file graphkit does
not interpret (any byte of it may matter). A change then redefines exactly the
members it reaches, and ``describe`` names the source in the reason. Where graphkit
cannot tell whom a setting reaches, it reaches every member of the ecosystem, and
the source says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only named here: the members' readers load where manifests are parsed, and this
    # module loads on every run (`affected` describes root configuration changes).
    from graphkit.readers.manifests.members import Member

ATTR = "root_config"

# Per ecosystem, files a build reads from its folder and the folders above it
# (cargo, rustup, npm, nvm, uv all look upward): each reaches every member at or
# below its folder. A name with a slash matches the path's last two parts.
CARGO_FILES = (
    "rust-toolchain",
    "rust-toolchain.toml",
    ".cargo/config.toml",
    ".cargo/config",
    "clippy.toml",
    ".clippy.toml",
    "rustfmt.toml",
    ".rustfmt.toml",
)
NPM_FILES = (".npmrc", ".yarnrc.yml", ".yarnrc", ".nvmrc", ".node-version", ".pnpmfile.cjs")
GO_FILES = ("go.work.sum",)
PYTHON_FILES = (".python-version", "uv.toml")


def matches(path: str, names: Iterable[str]) -> bool:
    """True when ``path`` is called one of ``names`` (``.cargo/config.toml``: last two parts)."""
    return any(path == name or path.endswith("/" + name) for name in names)


def blob_id(data: bytes) -> str:
    """The git blob id of ``data``: how graphkit names a file's content everywhere."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def config_files(files: Mapping[str, bytes], names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """``{path: (folder it reaches from, blob id)}`` of the config files among ``files``."""
    names = tuple(names)
    found = {}
    for path, data in files.items():
        for name in names:
            if matches(path, [name]):
                folder = path[: -len(name)].rstrip("/")
                found[path] = (folder, blob_id(data))
                break
    return dict(sorted(found.items()))


def files_reaching(
    folder: str, configs: Mapping[str, tuple[str, str]], noun: str
) -> dict[str, object]:
    """The sources of the config files whose folder is ``folder`` or one above it."""
    sources: dict[str, object] = {}
    for path, (where, oid) in configs.items():
        if where == "" or folder == where or folder.startswith(where + "/"):
            scope = f"every {noun} under {where}" if where else f"every {noun}"
            sources[f"{path} ({scope})"] = oid
    return sources


def with_sources(member: Member, sources: Mapping[str, object]) -> Member:
    """``member`` with ``sources`` added to its ``root_config`` attribute."""
    if not sources:
        return member
    attrs = dict(member.attrs)
    merged = dict(attrs.get(ATTR) or {})  # type: ignore[call-overload]
    merged.update((source, plain(value)) for source, value in sources.items())
    attrs[ATTR] = dict(sorted(merged.items()))
    return replace(member, attrs=tuple(attrs.items()))


def plain(value: object) -> object:
    """``value`` as JSON data: TOML and YAML dates become ISO text, mapping keys text."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else str(value)


def describe(before: str | None, after: str | None) -> str | None:
    """Which source of two ``root_config`` attribute values (canonical JSON) differs.

    None when they are equal. The reason names the first differing source.
    """
    if before == after:
        return None
    old = json.loads(before) if before else {}
    new = json.loads(after) if after else {}
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if not changed:
        return None
    source = changed[0]
    verb = "added" if source not in old else "removed" if source not in new else "changed"
    return f"{source} {verb}"
