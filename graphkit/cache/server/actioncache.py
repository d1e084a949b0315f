"""The ActionCache service: GetActionResult and UpdateActionResult.

A result is served only while every blob it references is present (see
actions.complete_dependencies); otherwise the answer is NOT_FOUND, so the client runs
the action again instead of failing on a download. Results found complete are
remembered by the store (updates are checked right away), so a repeated lookup is
answered from memory until one of the blobs is evicted.

Both calls answer with the serialized ActionResult bytes (the server registers a
serializer that passes bytes through): the stored bytes are already the response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc

from graphkit.cache.actions import complete_dependencies, direct_blobs, parse_action_result
from graphkit.cache.deadline import Deadline
from graphkit.cache.digest import Digest, digest
from graphkit.cache.names import instance_name
from graphkit.cache.protocol import re_grpc
from graphkit.cache.server.calls import Refused, deadline_of, unary
from graphkit.cache.server.cas import check_digest_function
from graphkit.cache.server.metrics import Metrics
from graphkit.cache.store.base import ServedStore, get_blob

log = logging.getLogger("graphkit.cache.server")


class ActionCacheService(re_grpc.ActionCacheServicer):
    """REAPI ActionCache over a ServedStore per instance name."""

    def __init__(self, stores: Callable[[str, Deadline], ServedStore], metrics: Metrics) -> None:
        self._stores = stores
        self.metrics = metrics

    @unary("GetActionResult")
    def GetActionResult(self, request: Any, context: grpc.ServicerContext) -> bytes:
        check_digest_function(request.digest_function)
        store = self._stores(instance_name(request.instance_name), deadline_of(context))
        action = digest(request.action_digest.hash, request.action_digest.size_bytes)
        data = store.recall_complete_result(action)
        if data is None:
            data = self._checked(store, action)
        if data is None:
            self.metrics.add("ac_misses")
            raise Refused(grpc.StatusCode.NOT_FOUND, f"no result for action {action}")
        self.metrics.add("ac_hits")
        return data

    def _checked(self, store: ServedStore, action: Digest) -> bytes | None:
        """The stored result if it parses and is complete (then remembered), else None."""
        data = store.get_action_result(action)
        if data is None:
            return None
        result = parse_action_result(data)
        if result is None:
            log.warning(
                "stored result for %s does not parse; treating as a miss",
                action,
                extra={"event": "corrupt_action_result"},
            )
            return None
        blobs = complete_dependencies(result, store.find_missing, lambda d: get_blob(store, d))
        if blobs is None:
            log.debug(
                "result for %s references evicted blobs",
                action,
                extra={"event": "incomplete_action_result"},
            )
            return None
        store.remember_complete_result(action, data, blobs)
        return data

    @unary("UpdateActionResult")
    def UpdateActionResult(self, request: Any, context: grpc.ServicerContext) -> bytes:
        check_digest_function(request.digest_function)
        store = self._stores(instance_name(request.instance_name), deadline_of(context))
        action = digest(request.action_digest.hash, request.action_digest.size_bytes)
        result = request.action_result
        direct_blobs(result)  # Validates every digest the result references.
        data: bytes = result.SerializeToString(deterministic=True)
        store.put_action_result(action, data)
        # Clients upload outputs before the result, so it is usually complete now;
        # checking here lets the first GetActionResult be answered from memory.
        blobs = complete_dependencies(result, store.find_missing, lambda d: get_blob(store, d))
        if blobs is not None:
            store.remember_complete_result(action, data, blobs)
        return data
