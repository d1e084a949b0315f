"""uv.lock -> Lock: editable and virtual members, extras, dependency groups, errors."""

from __future__ import annotations

import pytest

from graphkit.errors import InputError
from graphkit.readers.lockfiles import changed_members
from graphkit.readers.lockfiles.model import Lock
from graphkit.readers.lockfiles.uv import parse

PYPI = 'source = { registry = "https://pypi.org/simple" }'
FILES = "https://files.pythonhosted.org/packages"

LOCK = f"""\
version = 1
revision = 2
requires-python = ">=3.11"

[manifest]
members = [
    "acme",
    "acme-api",
    "acme-core",
]

[[package]]
name = "acme"
version = "0.1.0"
source = {{ virtual = "." }}

[package.dev-dependencies]
dev = [
    {{ name = "pytest" }},
]

[package.metadata]
requires-dist = []

[package.metadata.requires-dev]
dev = [{{ name = "pytest", specifier = ">=8" }}]

[[package]]
name = "acme-api"
version = "0.1.0"
source = {{ editable = "packages/api" }}
dependencies = [
    {{ name = "acme-core" }},
    {{ name = "httpx", extra = ["http2"] }},
]

[package.metadata]
requires-dist = [
    {{ name = "acme-core", editable = "packages/core" }},
    {{ name = "httpx", extras = ["http2"], specifier = ">=0.27" }},
]

[[package]]
name = "acme-core"
source = {{ editable = "packages/core" }}
dependencies = [
    {{ name = "pydantic" }},
]

[package.optional-dependencies]
cli = [
    {{ name = "click" }},
]

[[package]]
name = "anyio"
version = "4.4.0"
{PYPI}
dependencies = [
    {{ name = "idna" }},
]
sdist = {{ url = "{FILES}/anyio-4.4.0.tar.gz", hash = "sha256:5aadc6a1bbb7", size = 173126 }}
wheels = [
    {{ url = "{FILES}/anyio-4.4.0-py3-none-any.whl", hash = "sha256:c1b2d8f46a8a", size = 86780 }},
]

[[package]]
name = "click"
version = "8.1.7"
{PYPI}
sdist = {{ url = "{FILES}/click-8.1.7.tar.gz", hash = "sha256:ca9853ad459e", size = 336121 }}

[[package]]
name = "h2"
version = "4.1.0"
{PYPI}
sdist = {{ url = "{FILES}/h2-4.1.0.tar.gz", hash = "sha256:a83aca08fbe7", size = 2145593 }}

[[package]]
name = "httpx"
version = "0.27.0"
{PYPI}
dependencies = [
    {{ name = "anyio" }},
]
sdist = {{ url = "{FILES}/httpx-0.27.0.tar.gz", hash = "sha256:a0cb88a46f32", size = 126413 }}

[package.optional-dependencies]
http2 = [
    {{ name = "h2" }},
]
socks = [
    {{ name = "socksio" }},
]

[[package]]
name = "idna"
version = "3.7"
{PYPI}
sdist = {{ url = "{FILES}/idna-3.7.tar.gz", hash = "sha256:028ff3aadf0609c1fd", size = 189575 }}

[[package]]
name = "pydantic"
version = "2.8.2"
source = {{ git = "https://github.com/pydantic/pydantic?rev=v2.8.2#5d6ba8e2" }}

[[package]]
name = "pytest"
version = "8.2.2"
{PYPI}
sdist = {{ url = "{FILES}/pytest-8.2.2.tar.gz", hash = "sha256:de4bb8104e20", size = 1427980 }}

[[package]]
name = "socksio"
version = "1.0.0"
{PYPI}
sdist = {{ url = "{FILES}/socksio-1.0.0.tar.gz", hash = "sha256:f88beb3da5b5", size = 18055 }}
""".encode()


def names(lock: Lock) -> dict[str, list[str]]:
    return {member: sorted(str(r) for r in found) for member, found in lock.closure.items()}


def changes(after: bytes) -> dict[str, str]:
    changed = changed_members(parse(LOCK, "uv.lock"), parse(after, "uv.lock"))
    assert changed is not None
    return dict(changed)


def test_closure_of_virtual_root_and_editable_members() -> None:
    assert names(parse(LOCK, "uv.lock")) == {
        "": ["pytest 8.2.2"],
        # acme-core's cli extra is not asked for by acme-api; httpx's http2 extra is.
        # acme-api's own tree: acme-core's pydantic reaches it through acme-core's key.
        "packages/api": ["anyio 4.4.0", "h2 4.1.0", "httpx 0.27.0", "idna 3.7"],
        "packages/core": ["click 8.1.7", "pydantic 2.8.2"],
    }


def test_bump_changes_dependents_only() -> None:
    after = LOCK.replace(b'version = "4.4.0"', b'version = "4.4.1"')
    assert changes(after) == {"packages/api": "anyio 4.4.0 -> 4.4.1"}


def test_bump_two_levels_down() -> None:
    after = LOCK.replace(b'version = "3.7"', b'version = "3.8"')
    assert changes(after) == {"packages/api": "idna 3.7 -> 3.8"}


def test_unused_extra_changes_nothing() -> None:
    after = LOCK.replace(b'version = "1.0.0"', b'version = "1.0.1"')
    assert changes(after) == {}


def test_new_wheel_hash_or_git_commit_is_a_change() -> None:
    wheel = LOCK.replace(b"sha256:c1b2d8f46a8a", b"sha256:000000000000")
    assert changes(wheel) == {"packages/api": "anyio 4.4.0 integrity changed"}
    commit = LOCK.replace(b"#5d6ba8e2", b"#9f0e3c11")
    assert changes(commit) == {"packages/core": "pydantic 2.8.2 integrity changed"}


def test_member_added() -> None:
    after = LOCK + (
        b'\n[[package]]\nname = "acme-web"\nversion = "0.1.0"\n'
        b'source = { editable = "packages/web" }\n'
        b'dependencies = [\n    { name = "click" },\n]\n'
    )
    assert changes(after) == {"packages/web": "new in uv.lock"}


def test_forked_versions_are_told_apart_by_version() -> None:
    forked = LOCK.replace(
        b'    { name = "pydantic" },', b'    { name = "idna", version = "2.10" },'
    )
    forked += (
        b'\n[[package]]\nname = "idna"\nversion = "2.10"\n'
        b'source = { registry = "https://pypi.org/simple" }\n'
    )
    assert names(parse(forked, "uv.lock"))["packages/core"] == ["click 8.1.7", "idna 2.10"]


def test_invalid_toml_names_file_and_line() -> None:
    broken = LOCK.replace(b'name = "h2"', b'name = "h2')
    with pytest.raises(InputError) as caught:
        parse(broken, "uv.lock")
    line = broken.decode().splitlines().index('name = "h2') + 1
    assert (caught.value.path, caught.value.line) == ("uv.lock", line)


def test_wrong_shape_names_the_package_line() -> None:
    broken = LOCK.replace(b'    { name = "idna" },', b'    "idna",')
    with pytest.raises(InputError, match="'anyio'") as caught:
        parse(broken, "uv.lock")
    lines = broken.decode().splitlines()
    assert caught.value.line == lines.index('name = "anyio"')  # its [[package]] header
