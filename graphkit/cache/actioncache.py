"""The ActionCache service: GetActionResult and UpdateActionResult.

A result is served only while every blob it references is present (see
actions.result_is_complete); otherwise the answer is NOT_FOUND, so the client runs
the action again instead of failing on a download.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from graphkit.cache.actions import direct_blobs, result_is_complete
from graphkit.cache.calls import Refused, unary
from graphkit.cache.cas import check_digest_function
from graphkit.cache.digest import digest
from graphkit.cache.metrics import Metrics
from graphkit.cache.names import instance_name
from graphkit.cache.protocol import re_grpc, re_pb2
from graphkit.cache.store import Store, get_blob

log = logging.getLogger("graphkit.cache.server")


class ActionCacheService(re_grpc.ActionCacheServicer):
    """REAPI ActionCache over a Store per instance name."""

    def __init__(self, stores: Callable[[str], Store], metrics: Metrics) -> None:
        self._stores = stores
        self.metrics = metrics

    @unary("GetActionResult")
    def GetActionResult(self, request: Any, context: grpc.ServicerContext) -> Any:
        check_digest_function(request.digest_function)
        store = self._stores(instance_name(request.instance_name))
        action = digest(request.action_digest.hash, request.action_digest.size_bytes)
        data = store.get_action_result(action)
        result = re_pb2.ActionResult()
        if data is not None:
            try:
                result.ParseFromString(data)
            except DecodeError:
                log.warning("stored result for %s does not parse; treating as a miss", action,
                            extra={"event": "corrupt_action_result"})
                data = None
        if data is not None and not result_is_complete(
            result, store.find_missing, lambda d: get_blob(store, d)
        ):
            data = None
            log.debug("result for %s references evicted blobs", action,
                      extra={"event": "incomplete_action_result"})
        if data is None:
            self.metrics.add("ac_misses")
            raise Refused(grpc.StatusCode.NOT_FOUND, f"no result for action {action}")
        self.metrics.add("ac_hits")
        return result

    @unary("UpdateActionResult")
    def UpdateActionResult(self, request: Any, context: grpc.ServicerContext) -> Any:
        check_digest_function(request.digest_function)
        store = self._stores(instance_name(request.instance_name))
        action = digest(request.action_digest.hash, request.action_digest.size_bytes)
        result = request.action_result
        direct_blobs(result)  # Validates every digest the result references.
        store.put_action_result(action, result.SerializeToString(deterministic=True))
        return result
