"""The memo of analysed commits, shared through a remote cache: a cold CI runner
fetches what another runner parsed instead of parsing it again.

Each commit's memo is stored as content-addressed pieces (the graph, the inferred
edges, the import scan) and an action-cache entry under ``memoseal.memo_action``
whose inline stdout is the signed envelope naming them. The remote is only a
cache: an unreachable server, a missing, unsigned or damaged entry is a miss and
one warning, never an error and never a different answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphkit.config import CONFIG_FILE, parse_config
from graphkit.errors import GraphkitError

if TYPE_CHECKING:
    from graphkit.analysis.memoseal import Envelope
    from graphkit.cache.digest import Digest
    from graphkit.cache.store.base import Store

# Every run reads the settings (memo_settings); the sealing, the pickles and the cache
# client load only when a remote memo is configured (see RemoteMemo).

Warn = Callable[[str], None]

# The environment variable that holds the signing key (as turbo's
# TURBO_REMOTE_CACHE_SIGNATURE_KEY does): without it no memo is stored or used.
SIGNATURE_KEY_ENV = "GRAPHKIT_MEMO_SIGNATURE_KEY"


@dataclass(frozen=True)
class Shared:
    """One commit's memo, ready to store: ``pieces`` maps a piece name to its value."""

    tree: str
    graph_key: str
    pieces: Mapping[str, object]
    # Pieces already pickled (by the local memo), by name: sent as they are.
    dumped: Mapping[str, bytes] = field(default_factory=dict)


class RemoteMemo:
    """Fetches and stores signed commit memos through one remote cache."""

    def __init__(self, store: Store, key: bytes, where: str, warn: Warn) -> None:
        self._store = store
        self._key = key
        self.where = where  # the cache's URL, for messages
        self._warn = warn
        self._down = False
        # Fetched values by id(), each kept alive beside its digest so the id stays its
        # own: storing a memo that reuses a fetched piece does not send its bytes again.
        self._digests: dict[int, tuple[object, Digest]] = {}

    def close(self) -> None:
        """Close the connection."""
        close = getattr(self._store, "close", None)
        if close is not None:
            close()

    def action(self, tree: str) -> Digest:
        """The action-cache key of ``tree``'s memo."""
        from graphkit.analysis.memoseal import memo_action

        return memo_action(tree, self._key)

    def envelope(self, tree: str) -> Envelope | None:
        """The verified envelope of ``tree``'s memo, or None (a miss, warned about
        unless the cache simply has none)."""
        from graphkit.analysis.memoseal import Refused, memo_action, unseal
        from graphkit.cache.actions import parse_action_result

        action = memo_action(tree, self._key)
        raw = self._call(lambda: self._store.get_action_result(action))
        if raw is None:
            return None
        result = parse_action_result(raw)
        try:
            if result is None:
                raise Refused("malformed action result")
            return unseal(result.stdout_raw, self._key, action, tree)
        except Refused as why:
            self._warn(f"memo of tree {tree[:12]} refused ({why}); analysing it here")
            return None

    def pieces(self, envelope: Envelope, names: Sequence[str]) -> dict[str, Any]:
        """The named pieces of a verified memo; a piece that cannot be had is absent."""
        from graphkit.analysis.memoseal import Refused, load_piece

        wanted = {name: envelope.pieces[name] for name in names if name in envelope.pieces}
        found = self._call(lambda: self._store.get_many(list(wanted.values()))) or {}
        loaded: dict[str, Any] = {}
        for name, piece in wanted.items():
            data = found.get(piece)
            if data is None:
                continue  # evicted since the entry was checked: a miss
            try:
                loaded[name] = load_piece(data, piece)
            except Refused as why:
                self._warn(f"memo of tree {envelope.tree[:12]} refused ({why}); analysing it here")
                continue
            self._digests[id(loaded[name])] = (loaded[name], piece)
        return loaded

    def store(self, shared: Shared) -> bool:
        """Upload one commit's memo: pieces first, then the signed entry naming them."""
        from graphkit.analysis.memoseal import Envelope, dump_piece, memo_action, seal
        from graphkit.cache.digest import digest_of
        from graphkit.cache.protocol import re_pb2

        if self._down:
            return False
        blobs: dict[str, tuple[Digest, bytes | None]] = {}
        for name, value in shared.pieces.items():
            known = self._digests.get(id(value))
            if known is not None and known[0] is value:  # fetched from this cache
                blobs[name] = (known[1], None)
            else:
                data = shared.dumped.get(name) or dump_piece(value)
                blobs[name] = (digest_of(data), data)
        action = memo_action(shared.tree, self._key)
        envelope = Envelope(
            action, shared.tree, shared.graph_key, {name: d for name, (d, _) in blobs.items()}
        )
        result = re_pb2.ActionResult(
            exit_code=0,
            stdout_raw=seal(envelope, self._key),
            # Named as outputs, so the cache answers the entry only while it holds them all.
            output_files=[
                re_pb2.OutputFile(
                    path=f"memo/{name}", digest=re_pb2.Digest(hash=d.hash, size_bytes=d.size)
                )
                for name, (d, _) in sorted(blobs.items())
            ],
        )

        def upload() -> bool:
            sent = [(d, data) for d, data in blobs.values() if data is not None]
            errors = [e for e in self._store.put_many(sent) if e is not None]
            if errors:
                self._warn(f"remote cache {self.where}: memo not stored: {errors[0]}")
                return False
            self._store.put_action_result(action, result.SerializeToString())
            return True

        return bool(self._call(upload))

    def _call(self, call: Callable[[], Any]) -> Any:
        """``call``'s answer, or None once the cache has failed: the first failure is
        warned about and the rest of the session runs without the remote memo."""
        if self._down:
            return None
        try:
            return call()
        except (GraphkitError, OSError) as exc:
            self._down = True
            self._warn(f"remote memo unavailable ({exc}); analysing here")
            return None


@dataclass(frozen=True)
class MemoSettings:
    """Where the remote memo lives and how to reach it."""

    url: str
    key: bytes
    token: str | None  # GRAPHKIT_REMOTE_TOKEN, as for `graphkit run`
    tls: tuple[Path | None, Path | None, Path | None]  # CA, client cert, client key


def memo_settings(
    root: Path,
    environ: Mapping[str, str],
    url: str | None = None,
    tls: tuple[str | None, str | None, str | None] = (None, None, None),
) -> MemoSettings | None:
    """The remote memo to use: the signing key from the environment, the cache from
    ``url`` (a --remote-cache flag) or ``[cache] remote`` in graphkit.toml. None when
    either is missing: without the key the memo is neither stored nor used.

    ``tls`` holds flag paths (from the current folder); each one missing comes from
    ``[cache]`` (paths from the workspace root). A graphkit.toml that does not parse
    gives no remote memo: the analysis reports it as the input error it is.
    """
    key = environ.get(SIGNATURE_KEY_ENV, "")
    if not key:
        return None
    try:
        config = parse_config((root / CONFIG_FILE).read_bytes())
    except (OSError, GraphkitError):
        config = None
    url = url or (config.remote_cache if config else None)
    if not url:
        return None
    configured = config.cache_tls if config else None
    paths = (
        (configured.ca, configured.client_cert, configured.client_key)
        if configured
        else (None, None, None)
    )
    files = tuple(
        Path(flag) if flag else root / path if path else None
        for flag, path in zip(tls, paths, strict=True)
    )
    token = environ.get("GRAPHKIT_REMOTE_TOKEN") or None
    return MemoSettings(url, key.encode(), token, (files[0], files[1], files[2]))


def open_remote_memo(settings: MemoSettings, warn: Warn) -> RemoteMemo | None:
    """A RemoteMemo over a REAPI client for ``settings``, or None with a warning when
    the client cannot be made (a bad URL, an unreadable TLS file)."""
    from graphkit.cache.client.remote import RemoteOptions, RemoteStore

    ca, cert, key = settings.tls
    options = RemoteOptions(
        url=settings.url,
        token=settings.token,
        tls_ca=ca,
        tls_client_cert=cert,
        tls_client_key=key,
        # A memo is worth less than a stalled CI job: one retry, then analyse here.
        timeout_seconds=20.0,
        attempts=2,
        backoff_seconds=0.1,
    )
    try:
        store = RemoteStore(options)
    except GraphkitError as exc:
        warn(f"remote memo unavailable ({exc}); analysing here")
        return None
    return RemoteMemo(store, settings.key, settings.url, warn)
