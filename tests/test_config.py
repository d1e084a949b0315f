"""graphkit.toml bytes -> WorkspaceConfig, and the errors for bad settings."""

from __future__ import annotations

import pytest

from graphkit.config import CacheTls, RuleInputs, ShardSettings, WorkspaceConfig, parse_config
from graphkit.errors import InputError


def error_of(data: bytes) -> str:
    with pytest.raises(InputError) as caught:
        parse_config(data)
    return str(caught.value)


def test_empty_config_is_all_defaults() -> None:
    config = parse_config(b"")
    assert config == WorkspaceConfig()
    assert config == WorkspaceConfig(
        default_branch=None,
        global_inputs=(),
        rules_dir=None,
        cache_dir=None,
        remote_cache=None,
        shards=ShardSettings(target_s=300.0, overhead_s=30.0, max_shards=32),
    )


def test_every_field_is_read() -> None:
    data = b"""
[workspace]
default_branch = "trunk"
global_inputs = ["tools/ci.toml", ".github/workflows/*.yml"]
rules_dir = "build/rules/"

[cache]
dir = "/var/cache/graphkit"
remote = "grpcs://cache:8980"
tls_ca = "ci/cache-ca.pem"
tls_client_cert = "/etc/ci/runner.pem"
tls_client_key = "/etc/ci/runner.key"

[shards]
target_s = 120
overhead_s = 12.5
max_shards = 8
"""
    assert parse_config(data) == WorkspaceConfig(
        default_branch="trunk",
        global_inputs=("tools/ci.toml", ".github/workflows/*.yml"),
        rules_dir="build/rules",
        cache_dir="/var/cache/graphkit",
        remote_cache="grpcs://cache:8980",
        cache_tls=CacheTls(
            ca="ci/cache-ca.pem", client_cert="/etc/ci/runner.pem", client_key="/etc/ci/runner.key"
        ),
        shards=ShardSettings(target_s=120.0, overhead_s=12.5, max_shards=8),
    )


def test_integer_seconds_become_floats() -> None:
    shards = parse_config(b"[shards]\ntarget_s = 60\n").shards
    assert shards.target_s == 60.0
    assert isinstance(shards.target_s, float)


def test_malformed_toml_names_graphkit_toml_and_line() -> None:
    assert error_of(b"[workspace]\ndefault_branch = main\n").startswith(
        "graphkit.toml:2: invalid TOML: "
    )


def test_error_names_the_path_it_was_given() -> None:
    with pytest.raises(InputError) as caught:
        parse_config(b"[nope]\n", "sub/graphkit.toml")
    assert caught.value.path == "sub/graphkit.toml"


def test_unknown_section_names_line_and_suggests_a_section() -> None:
    assert error_of(b"[workspace]\n\n[shard]\nmax_shards = 2\n") == (
        "graphkit.toml:3: unknown field 'shard' in graphkit.toml (did you mean 'shards'?)"
    )


def test_unknown_field_names_line_and_suggests_the_field() -> None:
    data = b'[workspace]\nglobal_inputs = []\ndefualt_branch = "main"\n'
    assert error_of(data) == (
        "graphkit.toml:3: unknown field 'defualt_branch' in [workspace] "
        "(did you mean 'default_branch'?)"
    )


def test_section_that_is_not_a_table() -> None:
    assert error_of(b'workspace = "main"\n') == "graphkit.toml:1: [workspace] must be a table"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"[workspace]\ndefault_branch = 1\n",
            "graphkit.toml:2: 'default_branch' must be a str, found int",
        ),
        (
            b'[workspace]\nglobal_inputs = "ci.toml"\n',
            "graphkit.toml:2: 'global_inputs' must be a list, found str",
        ),
        (
            b"[workspace]\nrules_dir = false\n",
            "graphkit.toml:2: 'rules_dir' must be a str, found bool",
        ),
        (
            b"[workspace]\nroot_tasks = [1]\n",
            "graphkit.toml:2: 'root_tasks' must be a list of task names",
        ),
        (b"[cache]\nremote = 8980\n", "graphkit.toml:2: 'remote' must be a str, found int"),
        (b"[cache]\ntls_ca = 1\n", "graphkit.toml:2: 'tls_ca' must be a str, found int"),
        (
            b'[cache]\ntls_client_cert = "c.pem"\n',
            "graphkit.toml:2: tls_client_cert and tls_client_key go together",
        ),
        (
            b'[shards]\n\ntarget_s = "5m"\n',
            "graphkit.toml:3: 'target_s' must be a number, found str",
        ),
        (
            b"[shards]\nmax_shards = 2.5\n",
            "graphkit.toml:2: 'max_shards' must be a int, found float",
        ),
        (
            b"[shards]\nmax_shards = true\n",
            "graphkit.toml:2: 'max_shards' must be a int, found bool",
        ),
        (
            b"[shards]\noverhead_s = true\n",
            "graphkit.toml:2: 'overhead_s' must be a number, found bool",
        ),
    ],
)
def test_wrong_types_name_the_field_expected_and_found(data: bytes, expected: str) -> None:
    assert error_of(data) == expected


@pytest.mark.parametrize("pattern", ["../shared/*.toml", "/etc/ci.toml", "tools/../../x", 3])
def test_global_inputs_must_stay_in_the_repository(pattern: object) -> None:
    value = f'"{pattern}"' if isinstance(pattern, str) else str(pattern)
    data = f'[workspace]\n\nglobal_inputs = ["ok.toml", {value}]\n'.encode()
    assert error_of(data) == (
        f"graphkit.toml:3: global input {pattern!r} must be a repo-relative glob"
    )


@pytest.mark.parametrize("folder", ["../rules", "rules/../../x", "/", ""])
def test_rules_dir_must_be_a_folder_inside_the_repository(folder: str) -> None:
    message = error_of(f'[workspace]\nrules_dir = "{folder}"\n'.encode())
    assert message.startswith("graphkit.toml:2: rules_dir ")
    assert message.endswith("must be a folder inside the repository")


@pytest.mark.parametrize("folder", ["/opt/rules", ".", "./rules", "build//rules"])
def test_rules_dir_refuses_absolute_and_unnormalized_folders(folder: str) -> None:
    with pytest.raises(InputError, match="rules_dir"):
        parse_config(f'[workspace]\nrules_dir = "{folder}"\n'.encode())


def test_exclude_is_a_list_of_folder_globs() -> None:
    config = parse_config(b'[workspace]\nexclude = ["./examples", "**/fixtures/"]\n')
    assert config.exclude == ("examples", "**/fixtures/")
    assert config.excluded_files == ("examples/**", "**/fixtures/**")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('["../x"]', "exclude pattern '../x': it leaves its folder with '..'"),
        ('["[z-a]"]', "exclude pattern '[z-a]': '[z-a]' holds the reversed range z-a"),
        ('["!x"]', "exclude pattern '!x': '!' negation is not supported here"),
        ('["."]', "exclude pattern '.': it excludes the whole repository"),
        ("[1]", "exclude pattern 1: it is not a string"),
        ('"x"', "'exclude' must be a list, found str"),
    ],
)
def test_bad_exclude_patterns_are_errors(value: str, message: str) -> None:
    assert error_of(b"[workspace]\nexclude = " + value.encode() + b"\n").startswith(
        "graphkit.toml:2: " + message
    )


def test_a_misspelt_exclude_gets_a_suggestion() -> None:
    assert error_of(b'[workspace]\nexcludes = ["x"]\n') == (
        "graphkit.toml:2: unknown field 'excludes' in [workspace] (did you mean 'exclude'?)"
    )


def test_inputs_per_rule_are_read() -> None:
    config = parse_config(
        b'[inputs.npm_package]\ninterface_exclude = ["stories/**"]\nignore = ["docs/**"]\n'
        b'\n[inputs.python_library]\nignore = ["*.ipynb"]\n'
    )
    assert config.inputs == (
        RuleInputs("npm_package", ("stories/**",), ("docs/**",)),
        RuleInputs("python_library", (), ("*.ipynb",)),
    )
    assert config.inputs_of("npm_package") == config.inputs[0]
    assert config.inputs_of("go_module") is None


def test_a_misspelt_inputs_field_gets_a_suggestion() -> None:
    message = error_of(b'[inputs.npm_package]\ninterface_exlude = ["x/**"]\n')
    assert message == (
        "graphkit.toml:2: unknown field 'interface_exlude' in [inputs.npm_package] "
        "(did you mean 'interface_exclude'?)"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[inputs]\nnpm_package = 1\n", "[inputs.npm_package] must be a table"),
        (b'[inputs.x]\nignore = "docs/**"\n', "[inputs.x] ignore: it is not a list"),
        (b"[inputs.x]\nignore = [1]\n", "[inputs.x] ignore: 1 is not a string"),
        (b'[inputs.x]\nignore = ["../up/**"]\n', "[inputs.x] ignore: '../up/**'"),
        (b'[inputs.x]\nignore = ["/abs"]\n', "[inputs.x] ignore: '/abs'"),
    ],
)
def test_bad_inputs_are_errors(data: bytes, message: str) -> None:
    assert message in error_of(data)
