"""`graphkit run` end to end on testdata/monorepo, with the real cache server on loopback."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cacheservers import running
from click.testing import Result
from gitrepo import GitRepo

from graphkit.cache.digest import Digest, digest_of
from graphkit.cache.protocol import re_pb2
from graphkit.cache.store.base import Store
from graphkit.cache.store.local import open_local_store

Cli = Callable[..., Result]
GEN_OUT = "libs/proto/gen/schema.py"
# The fixture's Python and shell targets; its npm, uv, Cargo and Go members have
# tasks too, but those need toolchains a test machine may lack.
TESTS = (
    "//libs/api:test",
    "//libs/core:test",
    "//libs/util:test",
    "//services/gateway:test",
    "//services/web:test",
    "//services/worker:test",
    "//tools/release:test",
)
BUILDS = ("//libs/proto:gen_py",)


def run_json(cli: Cli, repo: GitRepo, *args: str) -> dict[str, Any]:
    result = cli(repo.root, "run", *args, "--format", "json")
    assert result.exit_code in (0, 1), result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def statuses(data: dict[str, Any]) -> dict[str, str]:
    return {t["label"]: t["status"] for t in data["tasks"]}


@pytest.fixture
def cache_dir(tmp_path: Path) -> str:
    return str(tmp_path / "runner-cache")


def test_first_run_executes_second_run_is_cached(
    cli: Cli, monorepo: GitRepo, cache_dir: str
) -> None:
    first = run_json(cli, monorepo, "build", *BUILDS, "--cache-dir", cache_dir)
    assert statuses(first) == {"//libs/proto:gen_py": "ran"}
    produced = (monorepo.root / GEN_OUT).read_bytes()
    (monorepo.root / GEN_OUT).unlink()
    second = run_json(cli, monorepo, "build", *BUILDS, "--cache-dir", cache_dir)
    assert statuses(second) == {"//libs/proto:gen_py": "cached"}
    assert second["summary"]["ran"] == 0 and second["summary"]["cached"] == 1
    assert (monorepo.root / GEN_OUT).read_bytes() == produced


def test_tests_run_from_the_cache_and_an_edit_reruns_only_affected(
    cli: Cli, monorepo: GitRepo, cache_dir: str
) -> None:
    first = run_json(cli, monorepo, "test", *TESTS, "-j", "2", "--cache-dir", cache_dir)
    assert set(statuses(first).values()) == {"ran"}, first
    assert first["summary"]["failed"] == 0
    assert len(first["tasks"]) == 7  # six python_test targets and one sh_test
    monorepo.append("services/web/src/web/app.py", "\nLATE = 1\n")
    second = run_json(cli, monorepo, "test", *TESTS, "--cache-dir", cache_dir)
    ran = sorted(label for label, status in statuses(second).items() if status == "ran")
    assert ran == ["//services/gateway:test", "//services/web:test"]
    assert second["summary"]["cached"] == 5
    assert second["summary"]["saved_s"] > 0


def test_a_second_runner_gets_everything_from_the_remote_cache(
    cli: Cli, monorepo: GitRepo, tmp_path: Path
) -> None:
    with running(tmp_path / "server") as (_server, port):
        remote = f"grpc://127.0.0.1:{port}"
        first = run_json(
            cli,
            monorepo,
            "test",
            *TESTS,
            "--remote-cache",
            remote,
            "--cache-dir",
            str(tmp_path / "runner-a"),
        )
        assert set(statuses(first).values()) == {"ran"}
        second = run_json(
            cli,
            monorepo,
            "test",
            *TESTS,
            "--remote-cache",
            remote,
            "--cache-dir",
            str(tmp_path / "runner-b"),
        )
        assert set(statuses(second).values()) == {"cached"}


def test_failing_task_exits_1_and_is_never_cached(
    cli: Cli, monorepo: GitRepo, cache_dir: str
) -> None:
    monorepo.write("tools/release/tests/test_release_version.py", "def test_no():\n    assert 0\n")
    result = cli(monorepo.root, "run", "test", "//tools/release:test", "--cache-dir", cache_dir)
    assert result.exit_code == 1
    assert "[failed] //tools/release:test test" in result.output
    again = run_json(cli, monorepo, "test", "//tools/release:test", "--cache-dir", cache_dir)
    assert statuses(again) == {"//tools/release:test": "failed"}


def test_retries_turn_a_fail_then_pass_into_flaky(
    cli: Cli, monorepo: GitRepo, cache_dir: str, tmp_path: Path
) -> None:
    marker = tmp_path / "attempted"
    monorepo.write(
        "tools/release/tests/test_release_version.py",
        "import os, pathlib\n"
        f"MARK = pathlib.Path({str(marker)!r})\n"
        "def test_flaky():\n"
        "    first = not MARK.exists()\n"
        "    MARK.touch()\n"
        "    assert not first\n",
    )
    data = run_json(
        cli, monorepo, "test", "//tools/release:test", "--retries", "1", "--cache-dir", cache_dir
    )
    assert statuses(data) == {"//tools/release:test": "flaky"}
    assert data["summary"]["flaky"] == 1
    report = json.loads(
        cli(
            monorepo.root,
            "flaky",
            "--cache-dir",
            cache_dir,
            "--min-samples",
            "1",
            "--format",
            "json",
        ).output
    )
    assert [(t["label"], t["flaky_runs"], t["rate"]) for t in report["tests"]] == [
        ("//tools/release:test", 1, 1.0)
    ]


def test_quarantined_failure_is_muted_until_it_expires(
    cli: Cli, monorepo: GitRepo, cache_dir: str
) -> None:
    monorepo.write("tools/release/tests/test_release_version.py", "def test_no():\n    assert 0\n")
    monorepo.write(
        "graphkit-quarantine.toml",
        '[[quarantine]]\ntest = "//tools/release:test"\nowner = "release-team"\n'
        'reason = "flaky on CI"\nexpires = 2999-01-01\n',
    )
    muted = cli(monorepo.root, "run", "test", "//tools/release:test", "--cache-dir", cache_dir)
    assert muted.exit_code == 0, muted.output
    assert "[muted]" in muted.output
    monorepo.write(
        "graphkit-quarantine.toml",
        '[[quarantine]]\ntest = "//tools/release:test"\nowner = "release-team"\n'
        'reason = "flaky on CI"\nexpires = 2000-01-01\n',
    )
    expired = cli(monorepo.root, "run", "test", "//tools/release:test", "--cache-dir", cache_dir)
    assert expired.exit_code == 1


def _poison(
    cache_dir: str, action: Digest, files: dict[str, tuple[bytes, bool]], store: Store | None = None
) -> None:
    """Plant an action result for ``action`` that restores ``files`` {path: (bytes, +x)},
    in the local cache under ``cache_dir`` unless another ``store`` is given."""
    if store is None:
        store = open_local_store(Path(cache_dir) / "cas", 1 << 30)
    result = re_pb2.ActionResult(exit_code=0)
    for path, (data, executable) in files.items():
        blob = digest_of(data)
        store.put_many([(blob, data)])
        result.output_files.append(
            re_pb2.OutputFile(
                path=path,
                digest=re_pb2.Digest(hash=blob.hash, size_bytes=blob.size),
                is_executable=executable,
            )
        )
    store.put_action_result(action, result.SerializeToString())


def _gen_py_action(repo: GitRepo) -> Digest:
    from graphkit.analysis.session import Session
    from graphkit.execution.workflow import select, tasks_for

    with Session.open(repo.root) as session:
        selection = select(session, "build", BUILDS, affected=False, base=None)
        [task] = tasks_for(selection, [str(label) for label in selection.labels], os.environ)
    return task.action


@pytest.mark.parametrize("evil_path", ["../escaped.txt", "/tmp/graphkit-escaped.txt", "link/x"])
def test_poisoned_cache_entry_is_refused_and_nothing_escapes(
    cli: Cli, monorepo: GitRepo, cache_dir: str, tmp_path: Path, evil_path: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, monorepo.root / "link")
    first = run_json(cli, monorepo, "build", *BUILDS, "--cache-dir", cache_dir)
    assert statuses(first) == {"//libs/proto:gen_py": "ran"}
    _poison(cache_dir, _gen_py_action(monorepo), {evil_path: (b"owned\n", False)})
    result = cli(monorepo.root, "run", "build", *BUILDS, "--cache-dir", cache_dir)
    assert result.exit_code == 0, result.output
    assert "refusing cached result" in result.output
    assert "[ran] //libs/proto:gen_py" in result.output
    assert not (monorepo.root.parent / "escaped.txt").exists()
    assert not Path("/tmp/graphkit-escaped.txt").exists()
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("through", ["local store", "remote cache without tokens"])
def test_a_cached_result_restores_its_declared_outputs_and_nothing_else(
    cli: Cli, monorepo: GitRepo, cache_dir: str, tmp_path: Path, through: str
) -> None:
    # What a red-team pass planted through a poisoned result: the declared output, plus
    # a git hook, a source file and a manifest. The hit must be refused whole.
    from graphkit.cache.client.remote import RemoteOptions, RemoteStore

    run_json(cli, monorepo, "build", *BUILDS, "--cache-dir", cache_dir)
    before = {p: monorepo.read(p) for p in ("libs/proto/BUILD.toml", "services/web/src/web/app.py")}
    planted = {
        GEN_OUT: (b"NAMES = []\n", False),
        ".git/hooks/post-checkout": (b"#!/bin/sh\necho owned\n", True),
        "libs/proto/BUILD.toml": (b"# owned\n", False),
        "services/web/src/web/app.py": (b"import os; os.system('owned')\n", False),
    }
    with running(tmp_path / "server") as (_server, port):
        if through == "local store":
            _poison(cache_dir, _gen_py_action(monorepo), planted)
            flags = ["--cache-dir", cache_dir]
        else:
            url = f"grpc://127.0.0.1:{port}"
            _poison(cache_dir, _gen_py_action(monorepo), planted, RemoteStore(RemoteOptions(url)))
            flags = ["--cache-dir", str(tmp_path / "fresh"), "--remote-cache", url]
        result = cli(monorepo.root, "run", "build", *BUILDS, *flags)
    assert result.exit_code == 0, result.output
    assert "refusing cached result" in result.output and "not declared" in result.output
    assert "[ran] //libs/proto:gen_py" in result.output
    assert not (monorepo.root / ".git" / "hooks" / "post-checkout").exists()
    assert {p: monorepo.read(p) for p in before} == before
    assert monorepo.read(GEN_OUT) != "NAMES = []\n"


def test_no_cache_write_stores_nothing(cli: Cli, monorepo: GitRepo, cache_dir: str) -> None:
    run_json(cli, monorepo, "build", *BUILDS, "--cache-dir", cache_dir, "--no-cache-write")
    again = run_json(cli, monorepo, "build", *BUILDS, "--cache-dir", cache_dir)
    assert statuses(again) == {"//libs/proto:gen_py": "ran"}


def test_junit_summary_and_empty_selection(
    cli: Cli, monorepo: GitRepo, cache_dir: str, tmp_path: Path
) -> None:
    report = tmp_path / "reports" / "graphkit.xml"
    result = cli(
        monorepo.root, "run", "build", *BUILDS, "--cache-dir", cache_dir, "--junit", str(report)
    )
    assert result.exit_code == 0, result.output
    import defusedxml.ElementTree as SafeTree

    suite = SafeTree.fromstring(report.read_bytes())
    assert [(c.get("classname"), c.get("name")) for c in suite.iter("testcase")] == [
        ("//libs/proto:gen_py", "build")
    ]
    nothing = run_json(
        cli, monorepo, "build", *BUILDS, "--affected", "--base", "HEAD", "--cache-dir", cache_dir
    )
    assert nothing["tasks"] == [] and nothing["summary"]["ran"] == 0


def test_shards_partition_the_work_and_a_wrong_plan_digest_is_refused(
    cli: Cli, monorepo: GitRepo, cache_dir: str
) -> None:
    plan = json.loads(
        cli(
            monorepo.root,
            "plan",
            "test",
            *TESTS,
            "--shards",
            "3",
            "--cache-dir",
            cache_dir,
            "--format",
            "json",
        ).output
    )
    assert [s["index"] for s in plan["shards"]] == [1, 2, 3]
    assert plan["estimated"] == 8  # 7 python test files + 1 shell test, no history yet
    ran: list[str] = []
    for index in (1, 2, 3):
        data = run_json(
            cli,
            monorepo,
            "test",
            *TESTS,
            "--shard",
            f"{index}/3",
            "--plan-digest",
            plan["digest"],
            "--cache-dir",
            cache_dir,
        )
        ran += [t["label"] for t in data["tasks"]]
    # Each test file ran in exactly one shard; a target split across shards runs in each.
    assert set(ran) == {
        "//libs/api:test",
        "//libs/core:test",
        "//libs/util:test",
        "//services/gateway:test",
        "//services/web:test",
        "//services/worker:test",
        "//tools/release:test",
    }
    refused = cli(
        monorepo.root,
        "run",
        "test",
        *TESTS,
        "--shard",
        "1/3",
        "--plan-digest",
        "0" * 32,
        "--cache-dir",
        cache_dir,
    )
    assert refused.exit_code == 2
    assert "differs from --plan-digest" in refused.output
    after = json.loads(
        cli(
            monorepo.root,
            "plan",
            "test",
            *TESTS,
            "--shards",
            "3",
            "--cache-dir",
            cache_dir,
            "--format",
            "json",
        ).output
    )
    assert after["estimated"] == 0  # every unit now has a recorded duration


def test_matrix_for_github_matches_the_plan(cli: Cli, monorepo: GitRepo, cache_dir: str) -> None:
    out = cli(
        monorepo.root,
        "matrix",
        "test",
        *TESTS,
        "--ci",
        "github",
        "--shards",
        "2",
        "--cache-dir",
        cache_dir,
    ).output.splitlines()
    fields = dict(line.split("=", 1) for line in out)
    assert set(fields) == {"matrix", "has_work", "plan"}
    assert json.loads(fields["matrix"]) == {
        "include": [{"shard": 1, "of": 2}, {"shard": 2, "of": 2}]
    }
    plan = json.loads(
        cli(
            monorepo.root,
            "plan",
            "test",
            *TESTS,
            "--shards",
            "2",
            "--cache-dir",
            cache_dir,
            "--format",
            "json",
        ).output
    )
    assert fields["plan"] == plan["digest"] and fields["has_work"] == "true"


def test_a_plan_published_to_the_remote_cache_is_found_by_another_runner(
    tmp_path: Path,
) -> None:
    from graphkit.cache.client.remote import RemoteOptions, RemoteStore
    from graphkit.config import ShardSettings
    from graphkit.execution.plan import Unit, make_plan, plan_json
    from graphkit.execution.workflow import publish_plan, recall_plan

    units = [Unit(f"//a:t{i}", f"//a:t{i}", "test", "sh_test", None, float(i)) for i in range(5)]
    plan = make_plan("test", units, 2, ShardSettings())
    with running(tmp_path / "server") as (_server, port):
        remote = RemoteStore(RemoteOptions(url=f"grpc://127.0.0.1:{port}"))
        publish_plan(plan, tmp_path / "planner", remote)
        assert recall_plan(plan.digest, tmp_path / "runner", remote) == plan_json(plan)
        assert recall_plan("f" * 32, tmp_path / "runner", remote) is None
    assert recall_plan(plan.digest, tmp_path / "planner", None) == plan_json(plan)


def test_an_empty_shard_exits_0_without_starting_anything(
    cli: Cli, monorepo: GitRepo, cache_dir: str
) -> None:
    plan = json.loads(
        cli(
            monorepo.root,
            "plan",
            "test",
            *TESTS,
            "--shards",
            "12",
            "--cache-dir",
            cache_dir,
            "--format",
            "json",
        ).output
    )
    empty = [s["index"] for s in plan["shards"] if not s["units"]]
    assert empty, plan
    result = cli(
        monorepo.root,
        "run",
        "test",
        *TESTS,
        "--shard",
        f"{empty[0]}/12",
        "--plan-digest",
        plan["digest"],
        "--cache-dir",
        cache_dir,
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "nothing to run"
    assert not (monorepo.root / ".graphkit").exists()


def test_a_read_only_token_reads_the_remote_cache_and_never_writes_it(
    cli: Cli, monorepo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    tokens = tmp_path / "tokens.toml"
    digest_of_token = {t: hashlib.sha256(t.encode()).hexdigest() for t in ("w-token", "r-token")}
    tokens.write_text(
        f'[[token]]\nname = "ci"\nscope = "write"\nsha256 = "{digest_of_token["w-token"]}"\n\n'
        f'[[token]]\nname = "forks"\nscope = "read"\nsha256 = "{digest_of_token["r-token"]}"\n'
    )
    with running(tmp_path / "server", tokens=tokens) as (_server, port):
        remote = f"grpc://127.0.0.1:{port}"
        monkeypatch.setenv("GRAPHKIT_REMOTE_TOKEN", "r-token")
        fork = cli(
            monorepo.root,
            "run",
            "build",
            *BUILDS,
            "--remote-cache",
            remote,
            "--cache-dir",
            str(tmp_path / "fork"),
        )
        assert fork.exit_code == 0, fork.output
        assert "[ran]" in fork.output and "warning" in fork.output  # writes refused, once
        monkeypatch.setenv("GRAPHKIT_REMOTE_TOKEN", "w-token")
        trusted = run_json(
            cli,
            monorepo,
            "build",
            *BUILDS,
            "--remote-cache",
            remote,
            "--cache-dir",
            str(tmp_path / "trusted"),
        )
        assert statuses(trusted) == {"//libs/proto:gen_py": "ran"}  # the fork stored nothing
        monkeypatch.setenv("GRAPHKIT_REMOTE_TOKEN", "r-token")
        again = run_json(
            cli,
            monorepo,
            "build",
            *BUILDS,
            "--remote-cache",
            remote,
            "--cache-dir",
            str(tmp_path / "fork-2"),
        )
        assert statuses(again) == {"//libs/proto:gen_py": "cached"}  # reads still work


def test_lint_sees_only_its_srcs_not_an_untracked_note_or_a_submodule(
    cli: Cli, monorepo: GitRepo, cache_dir: str, tmp_path: Path
) -> None:
    import pygit2

    vendored = GitRepo(tmp_path / "vendored")
    vendored.write("lib.py", "X = 1\n")
    pinned = vendored.commit("vendored")
    index = monorepo.repo.index
    index.add(pygit2.IndexEntry("libs/core/vendor", pygit2.Oid(hex=pinned), 0o160000))
    index.write()
    (monorepo.root / "libs/core/vendor").mkdir()
    monorepo.write("libs/core/NOTES.txt", "remember: this is not Python\n")
    result = cli(monorepo.root, "run", "lint", "//libs/core", "--cache-dir", cache_dir)
    assert result.exit_code == 0, result.output
    assert "[ran] //libs/core:core lint" in result.output


def test_an_unset_and_an_empty_declared_variable_are_different_runs(
    cli: Cli,
    make_repo: Callable[[dict[str, str]], GitRepo],
    cache_dir: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = make_repo(
        {
            "graphkit.toml": '[workspace]\nrules_dir = "rules"\n',
            "rules/env.toml": (
                '[rule.show]\nsrcs = []\n\n[rule.show.tasks.build]\nenv = ["MODE"]\n'
                'command = "printenv MODE >/dev/null && echo MODE set:$MODE. || echo MODE unset"\n'
            ),
            "app/BUILD.toml": '[[target]]\nname = "app"\nrule = "show"\n',
        }
    )
    monkeypatch.delenv("MODE", raising=False)
    unset = cli(repo.root, "run", "build", "//app", "--cache-dir", cache_dir)
    assert "[ran]" in unset.output and "MODE unset" in unset.output, unset.output
    monkeypatch.setenv("MODE", "")
    empty = cli(repo.root, "run", "build", "//app", "--cache-dir", cache_dir)
    assert "[ran]" in empty.output and "MODE set:." in empty.output, empty.output
    monkeypatch.delenv("MODE")
    again = cli(repo.root, "run", "build", "//app", "--cache-dir", cache_dir)
    assert "[cached]" in again.output and "MODE unset" in again.output, again.output


GENRULE = {
    "gen/BUILD.toml": (
        '[[target]]\nname = "gen"\nrule = "genrule"\nsrcs = ["in.txt"]\n'
        'cmd = "cp gen/in.txt gen/out.txt"\nouts = ["gen/out.txt"]\n'
    ),
    "gen/in.txt": "made\n",
    "use/BUILD.toml": '[[target]]\nname = "use"\nrule = "genrule"\ndeps = ["//gen"]\n'
    'cmd = "cp gen/out.txt use/copy.txt"\nouts = ["use/copy.txt"]\n',
}


def test_an_output_git_does_not_ignore_is_no_input_of_the_next_key(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo], cache_dir: str
) -> None:
    repo = make_repo(GENRULE)  # no .gitignore: gen/out.txt shows as an untracked file
    runs = [
        statuses(run_json(cli, repo, "build", "//gen", "//use", "--cache-dir", cache_dir))
        for _ in range(3)
    ]
    assert runs == [
        {"//gen:gen": "ran", "//use:use": "ran"},
        {"//gen:gen": "cached", "//use:use": "cached"},
        {"//gen:gen": "cached", "//use:use": "cached"},
    ]


def test_a_committed_output_edited_by_hand_is_still_an_input(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo], cache_dir: str
) -> None:
    repo = make_repo({**GENRULE, "gen/out.txt": "made\n"})
    first = run_json(cli, repo, "build", "//gen", "--cache-dir", cache_dir)
    assert statuses(first) == {"//gen:gen": "ran"}
    again = run_json(cli, repo, "build", "//gen", "--cache-dir", cache_dir)
    assert statuses(again) == {"//gen:gen": "cached"}
    repo.write("gen/out.txt", "edited by hand\n")
    edited = run_json(cli, repo, "build", "//gen", "--cache-dir", cache_dir)
    assert statuses(edited) == {"//gen:gen": "ran"}


def test_run_uses_a_tls_cache_with_a_private_ca_and_a_client_certificate(
    cli: Cli, monorepo: GitRepo, tmp_path: Path
) -> None:
    from cacheservers import make_pki

    from graphkit.cache.server.options import TlsFiles

    (tmp_path / "pki").mkdir()
    pki = make_pki(tmp_path / "pki")
    tls = TlsFiles(cert=pki / "server.pem", key=pki / "server.key", client_ca=pki / "ca.pem")

    def build(runner: str, *flags: str) -> Result:
        where = ["--cache-dir", str(tmp_path / runner), "--format", "json"]
        return cli(monorepo.root, "run", "build", *BUILDS, *flags, *where)

    with running(tmp_path / "server", tls=tls) as (_server, port):
        remote = ["--remote-cache", f"grpcs://127.0.0.1:{port}"]
        trust = ["--tls-ca", str(pki / "ca.pem")]
        # Without the client certificate the server refuses the handshake: one warning.
        refused = build("runner-a", *remote, *trust)
        assert refused.exit_code == 0 and "warning: remote cache" in refused.stderr
        assert statuses(json.loads(refused.stdout)) == {"//libs/proto:gen_py": "ran"}
        identity = ["--tls-client-cert", str(pki / "client.pem")]
        identity += ["--tls-client-key", str(pki / "client.key")]
        first = build("runner-b", *remote, *trust, *identity)
        assert first.exit_code == 0 and "warning" not in first.stderr, first.output
        assert statuses(json.loads(first.stdout)) == {"//libs/proto:gen_py": "ran"}
        # The same from graphkit.toml, whose paths are relative to the workspace root.
        monorepo.append(
            "graphkit.toml",
            f'\n[cache]\nremote = "grpcs://127.0.0.1:{port}"\ntls_ca = "{pki / "ca.pem"}"\n'
            'tls_client_cert = "../pki/client.pem"\ntls_client_key = "../pki/client.key"\n',
        )
        second = build("runner-c")
        assert second.exit_code == 0 and "warning" not in second.stderr, second.output
        assert statuses(json.loads(second.stdout)) == {"//libs/proto:gen_py": "cached"}
