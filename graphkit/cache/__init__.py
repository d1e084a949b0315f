"""Content-addressed stores: local diskcache, the REAPI v2 client and server."""
