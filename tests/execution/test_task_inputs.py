"""Per-task inputs, pass_env, cache = false, persistent tasks, and what a failure stops."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result
from gitrepo import GitRepo
from runjson import run_json, statuses

Cli = Callable[..., Result]
MakeRepo = Callable[[dict[str, str]], GitRepo]


def _repo(make_repo: MakeRepo, rule: str, extra: dict[str, str] | None = None) -> GitRepo:
    """lib, and app depending on lib, both of rule `step` defined by ``rule``."""
    return make_repo(
        {
            "graphkit.toml": '[workspace]\nrules_dir = "rules"\n',
            "rules/step.toml": '[rule.step]\nsrcs = ["**"]\n\n' + rule,
            "lib/BUILD.toml": '[[target]]\nname = "lib"\nrule = "step"\n',
            "lib/src/a.txt": "a\n",
            "lib/src/NOTES.md": "notes\n",
            "lib/tests/t.txt": "t\n",
            "lib/docs/d.txt": "d\n",
            "app/BUILD.toml": '[[target]]\nname = "app"\nrule = "step"\ndeps = ["//lib"]\n',
            "app/src/b.txt": "b\n",
            **(extra or {}),
        }
    )


def _task(name: str, command: str, **fields: str) -> str:
    lines = [f"[rule.step.tasks.{name}]", f"command = '{command}'"]
    lines += [f"{key} = {value}" for key, value in fields.items()]
    return "\n".join(lines) + "\n\n"


def _ran(data: dict[str, Any]) -> list[str]:
    return sorted(node for node, status in statuses(data).items() if status == "ran")


def test_input_globs_narrow_a_tasks_key_to_the_files_they_match(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    """Globs name files only; what a task takes from its deps comes through the keys
    of the tasks it needs (app's build needs lib's, by ^build)."""
    rule = _task("build", "true", needs='["^build"]', inputs='["src/**", "!**/*.md"]')
    rule += _task("test", "true", needs='["build"]', inputs='["src/**", "tests/**", "none/**"]')
    rule += _task("check", "true", needs="[]", inputs='["tests/**"]')
    repo = _repo(make_repo, rule)
    cache = ["--cache-dir", str(tmp_path / "cache")]

    def ran() -> list[str]:
        return _ran(run_json(cli, repo.root, "build", "test", "check", *cache))

    assert len(ran()) == 6
    repo.append("lib/docs/d.txt", "more\n")  # outside every glob: nothing runs
    assert ran() == []
    repo.append("lib/src/NOTES.md", "more\n")  # taken out of build's inputs again
    assert ran() == ["//lib:lib#test"]
    repo.append("lib/tests/t.txt", "more\n")
    assert ran() == ["//lib:lib#check", "//lib:lib#test"]
    repo.append("lib/src/a.txt", "more\n")  # lib's build, and what needs it
    assert ran() == ["//app:app#build", "//app:app#test", "//lib:lib#build", "//lib:lib#test"]


def test_a_build_toml_override_sets_a_targets_task_inputs(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = _repo(
        make_repo,
        _task("check", "true", needs="[]"),
        {
            "lib/BUILD.toml": '[[target]]\nname = "lib"\nrule = "step"\n'
            'inputs = { check = ["src/**"] }\n'
        },
    )
    cache = ["--cache-dir", str(tmp_path / "cache")]
    run_json(cli, repo.root, "check", *cache)
    repo.append("lib/docs/d.txt", "more\n")  # not under src/: lib's check stays cached
    assert statuses(run_json(cli, repo.root, "check", *cache))["//lib:lib#check"] == "cached"
    repo.append("lib/src/a.txt", "more\n")
    # app's check keeps its default inputs, which take lib's interface key.
    assert _ran(run_json(cli, repo.root, "check", *cache)) == ["//app:app#check", "//lib:lib#check"]


def test_pass_env_is_seen_by_the_task_but_not_keyed(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    seen = tmp_path / "seen.log"
    # HIDDEN is neither declared nor passed: the task sees it unset.
    command = f'echo "$GREETING $AWS_REGION [$HIDDEN]" >> {seen}'
    repo = _repo(make_repo, _task("stamp", command, needs="[]", pass_env='["GREETING", "AWS_*"]'))
    cache = ["--cache-dir", str(tmp_path / "cache"), "//lib"]
    env = {"GREETING": "hello", "AWS_REGION": "eu", "HIDDEN": "secret"}
    assert _ran(run_json(cli, repo.root, "stamp", *cache, env=env)) == ["//lib:lib#stamp"]
    assert seen.read_text() == "hello eu []\n"
    # Another value is the same key: replayed from the cache, the command not run.
    other = run_json(cli, repo.root, "stamp", *cache, env={**env, "GREETING": "bye"})
    assert statuses(other) == {"//lib:lib#stamp": "cached"}
    assert seen.read_text() == "hello eu []\n"


def test_a_task_with_cache_false_always_runs_and_is_never_stored(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    rule = _task("build", "true", needs="[]")
    rule += _task("deploy", "true", needs='["build"]', cache="false")
    repo = _repo(make_repo, rule)
    cache = ["--cache-dir", str(tmp_path / "cache"), "//lib"]
    assert _ran(run_json(cli, repo.root, "build", "deploy", *cache)) == [
        "//lib:lib#build",
        "//lib:lib#deploy",
    ]
    again = statuses(run_json(cli, repo.root, "build", "deploy", *cache))
    assert again == {"//lib:lib#build": "cached", "//lib:lib#deploy": "ran"}


def test_a_task_that_needs_a_persistent_task_is_an_input_error(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    rule = _task("dev", "true", needs="[]", persistent="true")
    rule += _task("test", "true", needs="[]")
    repo = _repo(
        make_repo,
        rule,
        {"app/BUILD.toml": '[[target]]\nname = "app"\nrule = "step"\nneeds = { test = ["dev"] }\n'},
    )
    result = cli(repo.root, "run", "test", "--cache-dir", str(tmp_path / "cache"))
    assert result.exit_code == 2, result.output
    assert (
        "app/BUILD.toml:1: task 'test' of //app:app needs //app:app#dev, which is persistent"
    ) in result.output
    assert "Traceback" not in result.output
    # Alone, a persistent task runs, and is never served from the cache.
    for _ in range(2):
        data = run_json(cli, repo.root, "dev", "//lib", "--cache-dir", str(tmp_path / "cache"))
        assert statuses(data) == {"//lib:lib#dev": "ran"}


def test_the_dependents_of_a_failed_task_are_skipped_and_independent_tasks_finish(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    rule = _task("build", "test {name} != lib", needs='["^build"]')
    rule += _task("test", "true", needs='["build"]')
    repo = _repo(
        make_repo,
        rule,
        {"solo/BUILD.toml": '[[target]]\nname = "solo"\nrule = "step"\n', "solo/s.txt": "s\n"},
    )
    cache = ["--cache-dir", str(tmp_path / "cache")]
    data = run_json(cli, repo.root, "build", "test", "-j", "2", *cache, code=1)
    assert statuses(data) == {
        "//app:app#build": "skipped",
        "//app:app#test": "skipped",
        "//lib:lib#build": "failed",
        "//lib:lib#test": "skipped",
        "//solo:solo#build": "ran",
        "//solo:solo#test": "ran",
    }
    whys = {t["why"] for t in data["tasks"] if t["status"] == "skipped"}
    assert whys == {"needs //lib:lib build, which failed"}
    assert data["summary"]["skipped"] == 3
    text = cli(repo.root, "run", "build", "test", *cache)
    assert text.exit_code == 1
    assert "[skipped] //app:app test (needs //lib:lib build, which failed)" in text.output
    assert "1 task(s) failed, 3 skipped because of it" in text.output
    # --continue runs them anyway (turbo's --continue=always).
    kept = statuses(run_json(cli, repo.root, "build", "test", "--continue", *cache, code=1))
    assert kept["//app:app#build"] == "ran" and kept["//lib:lib#test"] == "ran"


def test_a_glob_from_the_root_names_files_outside_the_package(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    """`//glob` (turbo's `$TURBO_ROOT$/`, nx's `{workspaceRoot}/`) reaches files
    outside every package, such as a shared tsconfig."""
    rule = _task("check", "true", needs="[]", inputs='["//shared/*.json", "!//shared/x.*"]')
    repo = _repo(make_repo, rule, {"shared/base.json": "{}\n", "shared/x.json": "{}\n"})
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert len(_ran(run_json(cli, repo.root, "check", *cache))) == 2
    repo.append("lib/src/a.txt", "more\n")  # not named
    repo.append("shared/x.json", "more\n")  # named, then taken out
    assert _ran(run_json(cli, repo.root, "check", *cache)) == []
    repo.append("shared/base.json", "more\n")
    assert _ran(run_json(cli, repo.root, "check", *cache)) == ["//app:app#check", "//lib:lib#check"]
