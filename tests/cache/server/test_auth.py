"""Bearer tokens, read-only scopes, unauthenticated reads, TLS and mutual TLS."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import grpc
import pytest
from cacheservers import client, make_pki, pdigest, running

from graphkit.cache.protocol import re_pb2
from graphkit.cache.server.auth import load_tokens
from graphkit.cache.server.options import TlsFiles
from graphkit.errors import InputError

WRITER, READER = "writer-secret-token", "reader-secret-token"


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.toml"
    path.write_text(
        f'[[token]]\nname = "ci-main"\nscope = "write"\nsha256 = "{sha(WRITER)}"\n\n'
        f'[[token]]\nname = "fork-prs"\nscope = "read"\nsha256 = "{sha(READER)}"\n'
    )
    return path


def refused(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code(), info.value.details()


def test_write_token_reads_and_writes(tmp_path: Path, tokens_file: Path) -> None:
    with running(tmp_path / "c", tokens=tokens_file) as (_s, port), client(port, token=WRITER) as c:
        assert c.upload(b"data").responses[0].status.code == 0
        assert c.missing(b"data") == []
        caps = c.caps.GetCapabilities(re_pb2.GetCapabilitiesRequest(), metadata=c.metadata)
        assert caps.cache_capabilities.action_cache_update_capabilities.update_enabled


def test_read_token_reads_but_writes_are_permission_denied(
    tmp_path: Path, tokens_file: Path
) -> None:
    with running(tmp_path / "c", tokens=tokens_file) as (_s, port):
        with client(port, token=WRITER) as writer:
            writer.upload(b"shared")
        with client(port, token=READER) as reader:
            assert reader.missing(b"shared") == []
            caps = reader.caps.GetCapabilities(re_pb2.GetCapabilitiesRequest(),
                                               metadata=reader.metadata)
            assert not caps.cache_capabilities.action_cache_update_capabilities.update_enabled
            code, message = refused(lambda: reader.upload(b"poison"))
            assert code == grpc.StatusCode.PERMISSION_DENIED
            assert "'fork-prs' has read scope" in message
            code, _ = refused(lambda: reader.write(b"poison" * 10000))
            assert code == grpc.StatusCode.PERMISSION_DENIED
            code, _ = refused(lambda: reader.ac.UpdateActionResult(
                re_pb2.UpdateActionResultRequest(action_digest=pdigest(b"a"),
                                                 action_result=re_pb2.ActionResult()),
                metadata=reader.metadata))
            assert code == grpc.StatusCode.PERMISSION_DENIED
        with client(port, token=WRITER) as writer:
            assert writer.missing(b"poison") == [pdigest(b"poison").hash]


def test_missing_or_unknown_tokens_are_unauthenticated(tmp_path: Path, tokens_file: Path) -> None:
    with running(tmp_path / "c", tokens=tokens_file) as (_s, port):
        with client(port) as anonymous:
            code, message = refused(lambda: anonymous.missing(b"x"))
            assert code == grpc.StatusCode.UNAUTHENTICATED
            assert "needs a bearer token" in message
        with client(port, token="guessed") as guesser:
            code, message = refused(lambda: guesser.missing(b"x"))
            assert code == grpc.StatusCode.UNAUTHENTICATED
            assert "guessed" not in message  # Never echo a credential.


def test_unauthenticated_reads_when_allowed_but_never_writes(
    tmp_path: Path, tokens_file: Path
) -> None:
    with running(tmp_path / "c", tokens=tokens_file, allow_unauthenticated_reads=True) as (
        _s, port,
    ), client(port) as anonymous:
        assert anonymous.missing(b"x") == [pdigest(b"x").hash]
        code, message = refused(lambda: anonymous.upload(b"x"))
        assert code == grpc.StatusCode.UNAUTHENTICATED
        assert "needs a token with write scope" in message


def test_tokens_are_not_logged(
    tmp_path: Path, tokens_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="graphkit.cache")
    with running(tmp_path / "c", tokens=tokens_file) as (_s, port), client(
        port, token=READER
    ) as reader:
        refused(lambda: reader.upload(b"poison"))
    assert "fork-prs" in caplog.text
    assert READER not in caplog.text and sha(READER) not in caplog.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "expected one or more [[token]] tables"),
        ('[[token]]\nname = "a"\nscope = "admin"\nsha256 = "' + "a" * 64 + '"\n', "scope must"),
        ('[[token]]\nname = "a"\nscope = "read"\nsha256 = "plaintext"\n', "64 lowercase hex"),
        ('[[token]]\nname = "a"\nscope = "read"\ntoken = "plaintext"\n', "exactly name, scope"),
        ("[[token]\n", "not valid TOML"),
    ],
)
def test_bad_tokens_files_are_input_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(content)
    with pytest.raises(InputError, match=message.replace("[", r"\[")) as info:
        load_tokens(path)
    assert str(path) in str(info.value)


# --- TLS ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA, a server certificate for localhost, and a client certificate."""
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_tls_serves_clients_that_trust_the_ca(tmp_path: Path, pki: Path) -> None:
    tls = TlsFiles(cert=pki / "server.pem", key=pki / "server.key")
    creds = grpc.ssl_channel_credentials(root_certificates=(pki / "ca.pem").read_bytes())
    with running(tmp_path / "c", tls=tls) as (_s, port), client(port, credentials=creds) as c:
        c.upload(b"over tls")
        assert c.missing(b"over tls") == []


def test_mutual_tls_refuses_clients_without_a_certificate(tmp_path: Path, pki: Path) -> None:
    tls = TlsFiles(cert=pki / "server.pem", key=pki / "server.key", client_ca=pki / "ca.pem")
    ca = (pki / "ca.pem").read_bytes()
    with running(tmp_path / "c", tls=tls) as (_s, port):
        with client(port, credentials=grpc.ssl_channel_credentials(root_certificates=ca)) as c:
            code, _ = refused(lambda: c.missing(b"x"))
            assert code == grpc.StatusCode.UNAVAILABLE
        with_cert = grpc.ssl_channel_credentials(
            root_certificates=ca,
            private_key=(pki / "client.key").read_bytes(),
            certificate_chain=(pki / "client.pem").read_bytes(),
        )
        with client(port, credentials=with_cert) as c:
            assert c.missing(b"x") == [pdigest(b"x").hash]


def _bad_tls_files(pki: Path, tmp: Path) -> dict[str, tuple[TlsFiles, str, Path]]:
    garbage = tmp / "garbage.pem"
    garbage.write_text("not a certificate\n")
    encrypted = tmp / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", str(pki / "server.key"), "-aes256", "-passout",
                    "pass:secret", "-out", str(encrypted)], check=True, capture_output=True)
    a_directory = tmp / "key-dir"
    a_directory.mkdir()
    cert, key = pki / "server.pem", pki / "server.key"
    return {
        "missing cert": (TlsFiles(tmp / "nope.pem", key), "--tls-cert: cannot read: no such file",
                         tmp / "nope.pem"),
        "unreadable key": (TlsFiles(cert, a_directory), "--tls-key: cannot read: Is a directory",
                           a_directory),
        "garbage cert": (TlsFiles(garbage, key), "--tls-cert is not a PEM certificate", garbage),
        "cert as key": (TlsFiles(cert, cert), "--tls-key is not a PEM private key", cert),
        "mismatched key": (TlsFiles(cert, pki / "client.key"),
                           "--tls-key does not belong to the certificate in", pki / "client.key"),
        "encrypted key": (TlsFiles(cert, encrypted), "--tls-key is encrypted", encrypted),
        "garbage client CA": (TlsFiles(cert, key, client_ca=garbage),
                              "--tls-client-ca is not a bundle of PEM certificates", garbage),
    }


@pytest.mark.parametrize(
    "case",
    ["missing cert", "unreadable key", "garbage cert", "cert as key", "mismatched key",
     "encrypted key", "garbage client CA"],
)
def test_tls_misconfiguration_names_the_file_and_what_is_wrong(
    tmp_path: Path, pki: Path, case: str
) -> None:
    tls, message, path = _bad_tls_files(pki, tmp_path)[case]
    with pytest.raises(InputError) as info, running(tmp_path / "c", tls=tls):
        pass
    assert str(info.value).startswith(f"{path}: {message}")
    assert "bind" not in str(info.value)
