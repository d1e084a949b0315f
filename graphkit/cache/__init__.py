"""The content-addressed cache: REAPI v2 digests, stores, the client and the server.

``store`` holds blobs and action results (local diskcache, tiered), ``client`` talks
to a remote REAPI cache, ``server`` serves one. What all three share sits here:
``digest``, ``names``, ``wire``, ``protocol`` and ``actions``. The only package
that imports grpc; it imports nothing of graphkit but ``errors``.
"""
