"""pygit2, imported without reading the system's CA bundle.

On import, pygit2 points libgit2's TLS at the default certificate file and folder,
and OpenSSL parses every certificate of the file there and then: 10-40 ms of every
run, a tenth of a warm ``affected``. graphkit never opens a TLS connection through
libgit2 (a partial clone's objects are fetched by running git), so the import is
shown the certificate folder only, which OpenSSL reads when a connection needs it,
and the environment is put back as it was. Where there is no such folder, pygit2
sees the file as usual (libgit2 refuses neither).

The git side imports pygit2 from here (``from graphkit.repo.libgit import pygit2``).
"""

from __future__ import annotations

import os
import ssl
import sys

_CA_FILE = "SSL_CERT_FILE"  # the variable ssl.get_default_verify_paths reads first

_kept = os.environ.get(_CA_FILE)
_hide = "pygit2" not in sys.modules and ssl.get_default_verify_paths().capath is not None
if _hide:
    os.environ[_CA_FILE] = ""  # no such file: the default bundle is not loaded either
try:
    import pygit2
finally:
    if _hide:
        if _kept is None:
            del os.environ[_CA_FILE]
        else:
            os.environ[_CA_FILE] = _kept

__all__ = ["pygit2"]
