from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tollhouse.pki import CertificateAuthority


@dataclass(frozen=True)
class Pki:
    ca_path: Path
    cert_path: Path
    key_path: Path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority.create()
    (directory / "ca.pem").write_bytes(ca.certificate_pem)
    ca.issue_server(["127.0.0.1", "localhost"]).write(
        directory / "server.pem", directory / "server.key"
    )
    return Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key")


@pytest.fixture(scope="session")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def signing_key_pem(signing_key: rsa.RSAPrivateKey) -> bytes:
    return signing_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
