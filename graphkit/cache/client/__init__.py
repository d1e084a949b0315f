"""The REAPI v2 client graphkit's runner uses to reach a remote cache.

It implements the Store interface (structurally) and imports only the cache's shared
modules and ``errors``; never ``server``.
"""
