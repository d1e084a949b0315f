"""pnpm-lock.yaml v9 and v6 -> Lock: importers, links, peer suffixes, aliases, errors."""

from __future__ import annotations

import pytest

from graphkit.errors import InputError
from graphkit.readers.lockfiles import changed_members
from graphkit.readers.lockfiles.model import Lock
from graphkit.readers.lockfiles.pnpm import parse

V9 = b"""\
lockfileVersion: '9.0'

settings:
  autoInstallPeers: true
  excludeLinksFromLockfile: false

importers:

  .:
    devDependencies:
      typescript:
        specifier: ^5.4.5
        version: 5.4.5

  apps/web:
    dependencies:
      '@acme/ui':
        specifier: workspace:*
        version: link:../../packages/ui
      react:
        specifier: ^18.2.0
        version: 18.2.0
      react-dom:
        specifier: ^18.2.0
        version: 18.2.0(react@18.2.0)

  packages/ui:
    dependencies:
      lodash:
        specifier: ^4.17.20
        version: 4.17.20

  packages/util:
    dependencies:
      lodash3:
        specifier: npm:lodash@^3.10.1
        version: lodash@3.10.1

packages:

  js-tokens@4.0.0:
    resolution: {integrity: sha512-RdJUflcE3cUzKiMqQgsCu06FPu9UdIJO0beYbPhH==}

  lodash@3.10.1:
    resolution: {integrity: sha512-9mDDwqVIma6OZX79ZlDACZl8sBm0TEnkf99zV3iM==}

  lodash@4.17.20:
    resolution: {integrity: sha512-PlhdFcillOINfeV7Ni6oF1TAEayyZBoZ8bcshTHq==}

  loose-envify@1.4.0:
    resolution: {integrity: sha512-lyuxPGr/Wfhrlem2CL/UcnUc1zcqKAImBDzukY7Y==}
    hasBin: true

  react-dom@18.2.0:
    resolution: {integrity: sha512-6IMTriUmvsjHUjNtEDudZfuDQUoWXVxKHhlEGSk8==}
    peerDependencies:
      react: ^18.2.0

  react@18.2.0:
    resolution: {integrity: sha512-/3IjMdb2L9QbBdWiW5e3P2/npwMBaU9mHCSCUzNl==}
    engines: {node: '>=0.10.0'}

  scheduler@0.23.0:
    resolution: {integrity: sha512-CtuThmgHNg7zIZWAXi3AsyIzA3n4xx7aNyjwC2VJ==}

  typescript@5.4.5:
    resolution: {integrity: sha512-vcI4UpRgg81oIRUFwR0WSIHKt11nJ7SAVlYNIu+Q==}
    engines: {node: '>=14.17'}
    hasBin: true

snapshots:

  js-tokens@4.0.0: {}

  lodash@3.10.1: {}

  lodash@4.17.20: {}

  loose-envify@1.4.0:
    dependencies:
      js-tokens: 4.0.0

  react-dom@18.2.0(react@18.2.0):
    dependencies:
      loose-envify: 1.4.0
      react: 18.2.0
      scheduler: 0.23.0

  react@18.2.0:
    dependencies:
      loose-envify: 1.4.0

  scheduler@0.23.0:
    dependencies:
      loose-envify: 1.4.0

  typescript@5.4.5: {}
"""

V6 = b"""\
lockfileVersion: '6.0'

settings:
  autoInstallPeers: true
  excludeLinksFromLockfile: false

importers:

  .:
    devDependencies:
      typescript:
        specifier: ^5.4.5
        version: 5.4.5

  apps/web:
    dependencies:
      '@acme/ui':
        specifier: workspace:*
        version: link:../../packages/ui
      react-dom:
        specifier: ^18.2.0
        version: 18.2.0(react@18.2.0)

  packages/ui:
    dependencies:
      lodash:
        specifier: ^4.17.20
        version: 4.17.20

packages:

  /js-tokens@4.0.0:
    resolution: {integrity: sha512-RdJUflcE3cUzKiMqQgsCu06FPu9UdIJO0beYbPhH==}
    dev: false

  /lodash@4.17.20:
    resolution: {integrity: sha512-PlhdFcillOINfeV7Ni6oF1TAEayyZBoZ8bcshTHq==}
    dev: false

  /loose-envify@1.4.0:
    resolution: {integrity: sha512-lyuxPGr/Wfhrlem2CL/UcnUc1zcqKAImBDzukY7Y==}
    hasBin: true
    dependencies:
      js-tokens: 4.0.0
    dev: false

  /react-dom@18.2.0(react@18.2.0):
    resolution: {integrity: sha512-6IMTriUmvsjHUjNtEDudZfuDQUoWXVxKHhlEGSk8==}
    peerDependencies:
      react: ^18.2.0
    dependencies:
      loose-envify: 1.4.0
      react: 18.2.0
    dev: false

  /react@18.2.0:
    resolution: {integrity: sha512-/3IjMdb2L9QbBdWiW5e3P2/npwMBaU9mHCSCUzNl==}
    engines: {node: '>=0.10.0'}
    dependencies:
      loose-envify: 1.4.0
    dev: false

  /typescript@5.4.5:
    resolution: {integrity: sha512-vcI4UpRgg81oIRUFwR0WSIHKt11nJ7SAVlYNIu+Q==}
    engines: {node: '>=14.17'}
    hasBin: true
    dev: true
"""


def names(lock: Lock) -> dict[str, list[str]]:
    return {member: sorted(str(r) for r in found) for member, found in lock.closure.items()}


def changes(before: bytes, after: bytes) -> dict[str, str]:
    changed = changed_members(parse(before, "pnpm-lock.yaml"), parse(after, "pnpm-lock.yaml"))
    assert changed is not None
    return dict(changed)


def test_v9_closure_follows_peers_and_aliases_and_stops_at_links() -> None:
    react_closure = ["js-tokens 4.0.0", "loose-envify 1.4.0", "react 18.2.0"]
    lock = parse(V9, "pnpm-lock.yaml")
    assert names(lock) == {
        "": ["typescript 5.4.5"],
        "apps/web": sorted([*react_closure, "react-dom 18.2.0", "scheduler 0.23.0"]),
        "packages/ui": ["lodash 4.17.20"],
        "packages/util": ["lodash 3.10.1"],
    }
    assert dict(lock.links) == {"apps/web": frozenset({"packages/ui"})}


def test_v9_bump_changes_the_linked_member_only() -> None:
    # apps/web reaches ui's lodash through ui's key (a dep in the graph), not its closure.
    after = V9.replace(b"4.17.20", b"4.17.21")
    assert changes(V9, after) == {"packages/ui": "lodash 4.17.20 -> 4.17.21"}


def test_v9_bump_two_levels_down() -> None:
    after = V9.replace(b"js-tokens@4.0.0", b"js-tokens@4.0.1").replace(
        b"js-tokens: 4.0.0", b"js-tokens: 4.0.1"
    )
    assert changes(V9, after) == {"apps/web": "js-tokens 4.0.0 -> 4.0.1"}


def test_v9_peer_bump_renames_the_snapshot_and_is_seen() -> None:
    after = V9.replace(b"react@18.2.0", b"react@18.3.1").replace(
        b"        version: 18.2.0\n      react-dom", b"        version: 18.3.1\n      react-dom"
    )
    after = after.replace(b"      react: 18.2.0", b"      react: 18.3.1")
    assert changes(V9, after) == {"apps/web": "react 18.2.0 -> 18.3.1"}


def test_v9_member_added() -> None:
    after = V9.replace(
        b"  packages/util:",
        b"  packages/new:\n    dependencies:\n      lodash:\n        specifier: ^4\n"
        b"        version: 4.17.20\n\n  packages/util:",
    )
    assert changes(V9, after) == {"packages/new": "new in pnpm-lock.yaml"}


def test_v6_closure_and_bump() -> None:
    assert names(parse(V6, "pnpm-lock.yaml"))["apps/web"] == [
        "js-tokens 4.0.0", "loose-envify 1.4.0", "react 18.2.0", "react-dom 18.2.0",
    ]  # fmt: skip
    after = V6.replace(b"js-tokens@4.0.0", b"js-tokens@4.0.1").replace(
        b"js-tokens: 4.0.0", b"js-tokens: 4.0.1"
    )
    assert changes(V6, after) == {"apps/web": "js-tokens 4.0.0 -> 4.0.1"}


def test_v6_single_project_has_no_importers() -> None:
    lock = parse(
        b"lockfileVersion: '6.0'\n\ndependencies:\n  lodash:\n    specifier: ^4.17.20\n"
        b"    version: 4.17.20\n\npackages:\n\n  /lodash@4.17.20:\n"
        b"    resolution: {integrity: sha512-x}\n    dev: false\n",
        "web/pnpm-lock.yaml",
    )
    assert names(lock) == {"web": ["lodash 4.17.20"]}


def test_invalid_yaml_names_file_and_line() -> None:
    broken = V9.replace(b"  react@18.2.0:\n", b"  react@18.2.0:\n   - [\n")
    with pytest.raises(InputError) as caught:
        parse(broken, "pnpm-lock.yaml")
    assert caught.value.path == "pnpm-lock.yaml"
    assert caught.value.line is not None
    assert caught.value.line > broken.decode().splitlines().index("  react@18.2.0:")


def test_wrong_shape_names_the_line() -> None:
    broken = V9.replace(b"  lodash@4.17.20: {}", b"  lodash@4.17.20: [1]")
    with pytest.raises(InputError) as caught:
        parse(broken, "pnpm-lock.yaml")
    assert caught.value.line == broken.decode().splitlines().index("  lodash@4.17.20: [1]") + 1


def test_old_lockfile_version_is_rejected() -> None:
    with pytest.raises(InputError, match="unsupported lockfileVersion") as caught:
        parse(b"lockfileVersion: 5.4\n\nspecifiers:\n  lodash: ^4\n", "pnpm-lock.yaml")
    assert caught.value.line == 1
