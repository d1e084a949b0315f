"""The memo travels: a runner with an empty .git/graphkit gets the same answer from the
memo another runner stored in a real cache server, and refuses every forgery."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cacheservers import running
from click.testing import Result
from gitrepo import GitRepo

from graphkit.analysis.memoremote import SIGNATURE_KEY_ENV
from graphkit.analysis.memoseal import memo_action, seal, unseal
from graphkit.cache.client.remote import RemoteOptions, RemoteStore
from graphkit.cache.protocol import re_pb2

KEY = "runner secret"
EDIT = "libs/util/src/util/strings.py"
Cli = Callable[..., Result]


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[str]:
    with running(tmp_path / "server") as (_server, port):
        yield f"grpc://127.0.0.1:{port}"


@pytest.fixture
def history(monorepo: GitRepo) -> tuple[str, str, str]:
    """Three commits: the fixture, then two edits of a library others import."""
    first = str(monorepo.repo.head.target)
    monorepo.append(EDIT, "\nFIRST = 1\n")
    second = monorepo.commit("first edit")
    monorepo.append(EDIT, "\nSECOND = 2\n")
    third = monorepo.commit("second edit")
    return first, second, third


def _clone(repo: GitRepo, root: Path) -> Path:
    """Another runner's checkout of the same commits, with no local memo."""
    shutil.copytree(repo.root, root)
    shutil.rmtree(root / ".git" / "graphkit", ignore_errors=True)
    return root


def _affected(
    cli: Cli, root: Path, base: str, head: str, remote: str | None, key: str | None = KEY
) -> tuple[dict[str, Any], str]:
    env = {SIGNATURE_KEY_ENV: key}
    args = ["affected", "--base", base, "--head", head, "--format", "json"]
    result = cli(root, *args, *(["--remote-cache", remote] if remote else []), env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    return data, result.stderr


def _answer(data: dict[str, Any]) -> dict[str, Any]:
    return {name: data[name] for name in ("affected", "removed", "unowned", "reasons", "changed")}


def test_a_cold_runner_gets_the_same_answer_from_the_fetched_memo(
    cli: Cli, monorepo: GitRepo, history: tuple[str, str, str], remote: str, tmp_path: Path
) -> None:
    _, base, head = history
    runner_b = _clone(monorepo, tmp_path / "runner-b")
    first, _ = _affected(cli, monorepo.root, base, head, remote)  # runner A analyses, stores
    assert first["remote_memo"] == {}  # nothing to fetch yet
    assert first["affected"]
    second, stderr = _affected(cli, runner_b, base, head, remote)
    assert _answer(second) == _answer(first)
    assert stderr == ""
    assert second["remote_memo"] == {
        head: {"from": head, "pieces": ["graph", "inferred"]},  # the head is loaded first
        base: {"from": base, "pieces": ["inferred"]},  # the same graph: fetched once
    }


def test_a_runner_reads_back_the_memo_it_shared(
    cli: Cli, monorepo: GitRepo, history: tuple[str, str, str], remote: str
) -> None:
    # With a remote, the local memo keeps the pickles it shares: the next run reads them.
    _, base, head = history
    first, _ = _affected(cli, monorepo.root, base, head, remote)
    again, stderr = _affected(cli, monorepo.root, base, head, remote)
    assert _answer(again) == _answer(first)
    assert again["remote_memo"] == {} and stderr == ""  # all from the local memo


def test_the_config_alone_enables_it(
    cli: Cli, monorepo: GitRepo, history: tuple[str, str, str], remote: str, tmp_path: Path
) -> None:
    _, base, head = history
    config = monorepo.root / "graphkit.toml"
    config.write_text(config.read_text() + f'\n[cache]\nremote = "{remote}"\n')
    runner_b = _clone(monorepo, tmp_path / "runner-b")
    first, _ = _affected(cli, monorepo.root, base, head, None)
    second, _ = _affected(cli, runner_b, base, head, None)
    assert _answer(second) == _answer(first)
    assert set(second["remote_memo"]) == {base, head}


def test_only_an_older_commit_analysed_scans_on_top_of_it(
    cli: Cli, monorepo: GitRepo, history: tuple[str, str, str], remote: str, tmp_path: Path
) -> None:
    first_commit, base, head = history
    runner_b = _clone(monorepo, tmp_path / "runner-b")
    runner_c = _clone(monorepo, tmp_path / "runner-c")
    _affected(cli, monorepo.root, first_commit, first_commit, remote)  # A: the oldest only
    cold, _ = _affected(cli, runner_c, base, head, None)  # no remote memo at all
    found, _ = _affected(cli, runner_b, base, head, remote)
    assert _answer(found) == _answer(cold)
    # The head (loaded first) is derived from the oldest commit's memo (only a source's
    # body changed since: same graph, same imports), and the base from the head's.
    assert found["remote_memo"] == {
        head: {"from": first_commit, "pieces": ["graph", "inferred", "scan"]}
    }


def test_a_scan_derived_and_shared_starts_the_next_runners_scan(
    cli: Cli, monorepo: GitRepo, history: tuple[str, str, str], remote: str, tmp_path: Path
) -> None:
    # B derives the head's scan from the oldest commit's and shares it, its chunks
    # pickled again only where edits touched them; D scans a fourth commit on top of it.
    first_commit, base, head = history
    runner_b = _clone(monorepo, tmp_path / "runner-b")
    _affected(cli, monorepo.root, first_commit, first_commit, remote)
    _affected(cli, runner_b, base, head, remote)
    monorepo.append(EDIT, "\nTHIRD = 3\n")
    fourth = monorepo.commit("third edit")
    runner_c = _clone(monorepo, tmp_path / "runner-c")
    runner_d = _clone(monorepo, tmp_path / "runner-d")
    cold, _ = _affected(cli, runner_c, head, fourth, None)
    found, stderr = _affected(cli, runner_d, head, fourth, remote)
    assert _answer(found) == _answer(cold) and stderr == ""
    assert found["remote_memo"][fourth] == {"from": head, "pieces": ["graph", "inferred", "scan"]}


def test_without_the_key_nothing_is_stored_or_used(
    cli: Cli, monorepo: GitRepo, history: tuple[str, str, str], remote: str, tmp_path: Path
) -> None:
    _, base, head = history
    runner_b = _clone(monorepo, tmp_path / "runner-b")
    unkeyed, _ = _affected(cli, monorepo.root, base, head, remote, key=None)
    assert "remote_memo" not in unkeyed
    second, _ = _affected(cli, runner_b, base, head, remote)
    assert second["remote_memo"] == {}  # runner A stored nothing


def test_a_memo_signed_with_another_key_is_never_seen(
    cli: Cli, monorepo: GitRepo, history: tuple[str, str, str], remote: str, tmp_path: Path
) -> None:
    _, base, head = history
    runner_b = _clone(monorepo, tmp_path / "runner-b")
    _affected(cli, monorepo.root, base, head, remote, key="another team's key")
    second, stderr = _affected(cli, runner_b, base, head, remote)
    assert second["remote_memo"] == {}
    assert stderr == ""


def _tree(repo: GitRepo, commit: str) -> str:
    return str(repo.repo[commit].tree_id)


def _entry(store: RemoteStore, tree: str) -> re_pb2.ActionResult:
    raw = store.get_action_result(memo_action(tree, KEY.encode()))
    assert raw is not None
    result = re_pb2.ActionResult()
    result.ParseFromString(raw)
    return result


def _forge_flipped_byte(store: RemoteStore, tree: str, other_tree: str) -> None:
    result = _entry(store, tree)
    raw = bytearray(result.stdout_raw)
    raw[40] ^= 1
    result.stdout_raw = bytes(raw)
    store.put_action_result(memo_action(tree, KEY.encode()), result.SerializeToString())


def _forge_wrong_key(store: RemoteStore, tree: str, other_tree: str) -> None:
    # An attacker who can write the cache but lacks the key re-signs an envelope.
    result = _entry(store, tree)
    action = memo_action(tree, KEY.encode())
    envelope = unseal(result.stdout_raw, KEY.encode(), action, tree)
    result.stdout_raw = seal(envelope, b"guessed")
    store.put_action_result(action, result.SerializeToString())


def _forge_other_tree(store: RemoteStore, tree: str, other_tree: str) -> None:
    # A genuine memo, of another commit, replayed under this tree's key.
    result = _entry(store, other_tree)
    store.put_action_result(memo_action(tree, KEY.encode()), result.SerializeToString())


def _forge_truncated(store: RemoteStore, tree: str, other_tree: str) -> None:
    result = _entry(store, tree)
    result.stdout_raw = result.stdout_raw[: len(result.stdout_raw) // 2]
    store.put_action_result(memo_action(tree, KEY.encode()), result.SerializeToString())


def _forge_unsigned(store: RemoteStore, tree: str, other_tree: str) -> None:
    result = _entry(store, tree)
    result.stdout_raw = result.stdout_raw.rpartition(b"hmac-sha256")[0]
    store.put_action_result(memo_action(tree, KEY.encode()), result.SerializeToString())


@pytest.mark.parametrize(
    ("forge", "why"),
    [
        (_forge_flipped_byte, "bad signature"),
        (_forge_wrong_key, "bad signature"),
        (_forge_other_tree, "signed for another tree"),
        (_forge_truncated, "unsigned"),
        (_forge_unsigned, "unsigned"),
    ],
    ids=["flipped byte", "wrong key", "another tree's memo", "truncated", "unsigned"],
)
def test_a_forged_memo_is_refused_and_the_answer_is_unchanged(
    cli: Cli,
    monorepo: GitRepo,
    history: tuple[str, str, str],
    remote: str,
    tmp_path: Path,
    forge: Callable[[RemoteStore, str, str], None],
    why: str,
) -> None:
    _, base, head = history
    runner_b = _clone(monorepo, tmp_path / "runner-b")
    # The base's memo, replayed over the head, would make the head look unchanged.
    expected, _ = _affected(cli, monorepo.root, base, head, remote)
    store = RemoteStore(RemoteOptions(url=remote))
    try:
        forge(store, _tree(monorepo, head), _tree(monorepo, base))
    finally:
        store.close()
    found, stderr = _affected(cli, runner_b, base, head, remote)
    assert _answer(found) == _answer(expected)
    assert head not in found["remote_memo"] or found["remote_memo"][head]["from"] != head
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert f"memo of tree {_tree(monorepo, head)[:12]} refused ({why})" in lines[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_cache_that_is_down_is_one_warning_and_the_same_answer(
    cli: Cli, monorepo: GitRepo, history: tuple[str, str, str], tmp_path: Path
) -> None:
    _, base, head = history
    runner_b = _clone(monorepo, tmp_path / "runner-b")
    expected, _ = _affected(cli, monorepo.root, base, head, None)
    found, stderr = _affected(cli, runner_b, base, head, f"grpc://127.0.0.1:{_free_port()}")
    assert _answer(found) == _answer(expected)
    assert found["remote_memo"] == {}
    lines = stderr.splitlines()
    assert len(lines) == 1 and "remote memo unavailable" in lines[0], stderr


def test_a_bad_cache_url_is_a_warning_not_an_error(
    cli: Cli, monorepo: GitRepo, history: tuple[str, str, str]
) -> None:
    _, base, head = history
    found, stderr = _affected(cli, monorepo.root, base, head, "http://cache:80")
    assert found["affected"]
    assert "remote memo unavailable" in stderr and "grpc://" in stderr
