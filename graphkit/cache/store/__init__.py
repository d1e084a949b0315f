"""Where cache data lives: the Store interface, the local diskcache and the tiered pair.

Imports only the cache's shared modules and ``errors``.
"""
