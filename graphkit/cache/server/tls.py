"""The server's TLS files, checked before gRPC sees them.

gRPC reports any problem with a certificate or key as "Failed to bind to address",
which sends an operator looking for a port conflict. Each file is read and loaded with
the standard library's ``ssl`` first, so a missing, unreadable, malformed, encrypted or
mismatched file is one line naming the file and what is wrong with it.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc

from graphkit.cache.server.options import TlsFiles
from graphkit.errors import InputError


class _Encrypted(Exception):
    """Raised instead of prompting for a key's passphrase on the terminal."""


def _read(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else exc.strerror
        raise InputError(f"{option}: cannot read: {reason}", path=str(path)) from exc


def _passphrase() -> str:
    raise _Encrypted


def _check_pair(cert_path: Path, cert: bytes, key_path: Path, key: bytes) -> None:
    if b"-----BEGIN CERTIFICATE-----" not in cert:
        raise InputError("--tls-cert is not a PEM certificate", path=str(cert_path))
    if b"PRIVATE KEY-----" not in key:
        raise InputError("--tls-key is not a PEM private key", path=str(key_path))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_path, key_path, password=_passphrase)
    except _Encrypted:
        raise InputError(
            "--tls-key is encrypted; the server needs it without a passphrase",
            path=str(key_path),
        ) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise InputError(
                f"--tls-key does not belong to the certificate in {cert_path}",
                path=str(key_path),
            ) from None
        raise InputError(
            f"--tls-cert and --tls-key cannot be loaded together ({exc.reason or exc})",
            path=str(cert_path),
        ) from None


def _check_client_ca(path: Path, data: bytes) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_verify_locations(cadata=data.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError):
        raise InputError(
            "--tls-client-ca is not a bundle of PEM certificates", path=str(path)
        ) from None


def server_credentials(tls: TlsFiles) -> grpc.ServerCredentials:
    """Credentials for ``add_secure_port``; an ``InputError`` names any bad file."""
    cert = _read(tls.cert, "--tls-cert")
    key = _read(tls.key, "--tls-key")
    _check_pair(tls.cert, cert, tls.key, key)
    ca = None
    if tls.client_ca is not None:
        ca = _read(tls.client_ca, "--tls-client-ca")
        _check_client_ca(tls.client_ca, ca)
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
    )
