"""The REAPI v2 cache server: gRPC services, auth, limits, metrics, logs and options.

Serves a ``store``; imports the cache's shared modules, never ``client``.
"""
