from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# 2048-bit RSA is what Entra requires at least for certificate credentials (AADSTS50032 below).
RSA_KEY_SIZE = 2048
CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both PEM."""

    certificate_pem: bytes
    private_key_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate_pem)

    @property
    def combined_pem(self) -> bytes:
        """Key then certificate in one file: the format `CertificateCredential` reads."""
        return self.private_key_pem + self.certificate_pem

    def pfx(self, password: bytes | None = None) -> bytes:
        key = serialization.load_pem_private_key(self.private_key_pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return pkcs12.serialize_key_and_certificates(
            b"tollhouse", key, self.certificate, None, encryption
        )

    def write(self, cert_path: Path, key_path: Path) -> None:
        cert_path.write_bytes(self.certificate_pem)
        _write_private(key_path, self.private_key_pem)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tollhouse"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class CertificateAuthority:
    """A private root CA that issues server certificates for loopback services."""

    def __init__(self, pair: KeyPair) -> None:
        self.pair = pair
        key = serialization.load_pem_private_key(pair.private_key_pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self._key = key
        self._cert = pair.certificate

    @classmethod
    def create(cls, common_name: str = "Tollhouse local CA") -> CertificateAuthority:
        key = _new_key()
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return cls(KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)))

    @classmethod
    def load_or_create(cls, directory: Path) -> CertificateAuthority:
        """The CA kept in `directory` (ca.pem, ca.key), made on first use."""
        cert_path, key_path = directory / "ca.pem", directory / "ca.key"
        if cert_path.exists() and key_path.exists():
            return cls(KeyPair(cert_path.read_bytes(), key_path.read_bytes()))
        directory.mkdir(parents=True, exist_ok=True)
        ca = cls.create()
        ca.pair.write(cert_path, key_path)
        return ca

    @property
    def certificate_pem(self) -> bytes:
        return self.pair.certificate_pem

    def issue_server(self, hostnames: list[str]) -> KeyPair:
        """A TLS server certificate for `hostnames` (DNS names or IP addresses)."""
        key = _new_key()
        now = _now()
        alt_names: list[x509.GeneralName] = []
        for host in hostnames:
            try:
                alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                alt_names.append(x509.DNSName(host))
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(hostnames[0]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + LEAF_VALIDITY)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def self_signed_certificate(
    common_name: str,
    *,
    not_before: dt.datetime | None = None,
    validity: dt.timedelta = LEAF_VALIDITY,
    key_size: int = RSA_KEY_SIZE,
) -> KeyPair:
    """A self-signed certificate, as `az ad app credential reset --create-cert` makes."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    start = not_before or _now() - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + validity)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def certificate_thumbprints(der: bytes) -> tuple[str, str]:
    """(SHA-1, SHA-256) thumbprints of a DER certificate, upper-case hex as Entra shows them."""
    return (
        hashlib.sha1(der, usedforsecurity=False).hexdigest().upper(),
        hashlib.sha256(der).hexdigest().upper(),
    )


def load_certificate_and_key(data: bytes, password: bytes | None = None) -> KeyPair:
    """A PEM bundle (key and certificate in either order) or a PFX, as one KeyPair."""
    if b"-----BEGIN" in data:
        cert = x509.load_pem_x509_certificate(data)
        key = serialization.load_pem_private_key(data, password=password)
    else:
        loaded_key, loaded_cert, _ = pkcs12.load_key_and_certificates(data, password)
        if loaded_key is None or loaded_cert is None:
            raise ValueError("the PFX holds no certificate with a private key")
        cert, key = loaded_cert, loaded_key
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("only RSA keys are supported")
    return KeyPair(
        cert.public_bytes(serialization.Encoding.PEM),
        _key_pem(key),
    )
