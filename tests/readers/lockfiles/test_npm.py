"""package-lock.json v3 -> Lock: hoisting, nested installs, workspace links, errors."""

from __future__ import annotations

import pytest

from graphkit.errors import InputError
from graphkit.readers.lockfiles import changed_members, parse_lockfile
from graphkit.readers.lockfiles.model import Resolved
from graphkit.readers.lockfiles.npm import parse

# Integrity hashes are cut short to fit the line length.
# apps/web -> @acme/ui (workspace link) -> lodash 4 (hoisted); apps/web -> react ->
# loose-envify -> js-tokens; packages/util -> lodash 3 (nested under the member, as
# npm installs a second major); the root has a dev dependency only.
LOCK = b"""\
{
  "name": "acme",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {
      "name": "acme",
      "workspaces": ["apps/*", "packages/*"],
      "devDependencies": {
        "typescript": "^5.4.5"
      }
    },
    "apps/web": {
      "name": "web",
      "version": "0.1.0",
      "dependencies": {
        "@acme/ui": "*",
        "react": "^18.2.0"
      }
    },
    "node_modules/@acme/ui": {
      "resolved": "packages/ui",
      "link": true
    },
    "node_modules/@acme/util": {
      "resolved": "packages/util",
      "link": true
    },
    "node_modules/js-tokens": {
      "version": "4.0.0",
      "resolved": "https://registry.npmjs.org/js-tokens/-/js-tokens-4.0.0.tgz",
      "integrity": "sha512-RdJUflcE3cUzKiMqQgsCu06FPu9UdIJO0beYbPhH=="
    },
    "node_modules/lodash": {
      "version": "4.17.20",
      "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.20.tgz",
      "integrity": "sha512-PlhdFcillOINfeV7Ni6oF1TAEayyZBoZ8bcshTHq=="
    },
    "node_modules/loose-envify": {
      "version": "1.4.0",
      "resolved": "https://registry.npmjs.org/loose-envify/-/loose-envify-1.4.0.tgz",
      "integrity": "sha512-lyuxPGr/Wfhrlem2CL/UcnUc1zcqKAImBDzukY7Y==",
      "dependencies": {
        "js-tokens": "^3.0.0 || ^4.0.0"
      },
      "bin": {
        "loose-envify": "cli.js"
      }
    },
    "node_modules/react": {
      "version": "18.2.0",
      "resolved": "https://registry.npmjs.org/react/-/react-18.2.0.tgz",
      "integrity": "sha512-/3IjMdb2L9QbBdWiW5e3P2/npwMBaU9mHCSCUzNl==",
      "dependencies": {
        "loose-envify": "^1.1.0"
      },
      "engines": {
        "node": ">=0.10.0"
      }
    },
    "node_modules/typescript": {
      "version": "5.4.5",
      "resolved": "https://registry.npmjs.org/typescript/-/typescript-5.4.5.tgz",
      "integrity": "sha512-vcI4UpRgg81oIRUFwR0WSIHKt11nJ7SAVlYNIu+Q==",
      "dev": true
    },
    "node_modules/web": {
      "resolved": "apps/web",
      "link": true
    },
    "packages/ui": {
      "name": "@acme/ui",
      "version": "1.0.0",
      "dependencies": {
        "lodash": "^4.17.20"
      },
      "devDependencies": {
        "vitest": "^1.6.0"
      }
    },
    "packages/util": {
      "name": "@acme/util",
      "version": "1.0.0",
      "dependencies": {
        "lodash": "^3.10.1"
      }
    },
    "packages/util/node_modules/lodash": {
      "version": "3.10.1",
      "resolved": "https://registry.npmjs.org/lodash/-/lodash-3.10.1.tgz",
      "integrity": "sha512-9mDDwqVIma6OZX79ZlDACZl8sBm0TEnkf99zV3iM=="
    }
  }
}
"""

LODASH_4_17_21 = LOCK.replace(b"lodash-4.17.20.tgz", b"lodash-4.17.21.tgz").replace(
    b'"version": "4.17.20"', b'"version": "4.17.21"'
)


def test_closure_follows_hoisting_and_nesting_and_stops_at_links() -> None:
    # apps/web links packages/ui: ui's lodash is ui's own, reached through ui's key.
    lock = parse(LOCK, "package-lock.json")
    names = {member: sorted(str(r) for r in found) for member, found in lock.closure.items()}
    assert names == {
        "": ["typescript 5.4.5"],
        "apps/web": ["js-tokens 4.0.0", "loose-envify 1.4.0", "react 18.2.0"],
        "packages/ui": ["lodash 4.17.20"],
        "packages/util": ["lodash 3.10.1"],
    }
    assert dict(lock.links) == {"apps/web": frozenset({"packages/ui"})}


def test_bump_hoisted_dependency_changes_its_dependents_only() -> None:
    before = parse(LOCK, "package-lock.json")
    after = parse(LODASH_4_17_21, "package-lock.json")
    assert dict(changed_members(before, after) or {}) == {
        "packages/ui": "lodash 4.17.20 -> 4.17.21",
    }


def test_bump_two_levels_down_changes_the_member_at_the_top() -> None:
    after = LOCK.replace(b'"version": "4.0.0"', b'"version": "4.0.1"')
    changed = changed_members(parse(LOCK, "package-lock.json"), parse(after, "package-lock.json"))
    assert dict(changed or {}) == {"apps/web": "js-tokens 4.0.0 -> 4.0.1"}


def test_same_version_new_integrity_is_a_change() -> None:
    after = LOCK.replace(b"sha512-/3IjMdb2", b"sha512-AAAAAAAA")
    changed = changed_members(parse(LOCK, "package-lock.json"), parse(after, "package-lock.json"))
    assert dict(changed or {}) == {"apps/web": "react 18.2.0 integrity changed"}


def test_member_added_is_changed() -> None:
    after = LOCK.replace(
        b'    "packages/util": {',
        b'    "packages/new": {"name": "new", "dependencies": {"react": "^18"}},\n'
        b'    "packages/util": {',
    )
    changed = changed_members(parse(LOCK, "package-lock.json"), parse(after, "package-lock.json"))
    assert dict(changed or {}) == {"packages/new": "new in package-lock.json"}


def test_lockfile_in_a_subfolder_keys_members_repo_relative() -> None:
    lock = parse_lockfile(LOCK, "frontend/package-lock.json")
    assert sorted(lock.closure) == ["frontend", "frontend/apps/web", "frontend/packages/ui",
                                    "frontend/packages/util"]  # fmt: skip
    assert (
        Resolved(
            "typescript",
            "5.4.5",
            "sha512-vcI4UpRgg81oIRUFwR0WSIHKt11nJ7SAVlYNIu+Q==",
        )
        in lock.closure["frontend"]
    )


def test_unchanged_lockfile_changes_nothing_and_unparseable_is_unknown() -> None:
    lock = parse(LOCK, "package-lock.json")
    same = changed_members(lock, parse(LOCK, "package-lock.json"))
    assert same is not None and dict(same) == {}
    assert changed_members(None, lock) is None
    assert changed_members(lock, None) is None


def test_invalid_json_names_file_and_line() -> None:
    broken = LOCK.replace(b'"version": "18.2.0",', b'"version": "18.2.0"')
    with pytest.raises(InputError) as caught:
        parse(broken, "package-lock.json")
    assert caught.value.path == "package-lock.json"
    # The missing comma is reported where the next member starts.
    line = broken.decode().splitlines().index('      "version": "18.2.0"') + 2
    assert caught.value.line == line
    assert str(caught.value).startswith(f"package-lock.json:{line}: invalid JSON")


def test_wrong_shape_names_the_entry_line() -> None:
    broken = LOCK.replace(b'"lodash": "^3.10.1"', b'"lodash": "^3.10.1", "x": 1').replace(
        b'"dependencies": {\n        "lodash": "^3.10.1", "x": 1\n      }', b'"dependencies": [1]'
    )
    with pytest.raises(InputError) as caught:
        parse(broken, "package-lock.json")
    assert caught.value.line == broken.decode().splitlines().index('      "dependencies": [1]') + 1


def test_lockfile_version_1_is_rejected() -> None:
    with pytest.raises(InputError, match="lockfileVersion 1") as caught:
        parse(b'{\n  "name": "x",\n  "lockfileVersion": 1,\n  "dependencies": {}\n}\n', "p.json")
    assert caught.value.line == 3
