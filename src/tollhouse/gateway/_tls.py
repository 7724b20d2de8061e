"""TLS for the HTTPS listener: a certificate per hostname by SNI from the configuration, a
default certificate otherwise."""

from __future__ import annotations

import base64
import logging
import os
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from tollhouse.contracts import GatewayConfiguration
from tollhouse.pki import self_signed_certificate

log = logging.getLogger("tollhouse.gateway.tls")


def _context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # load_cert_chain reads files only: a private temporary directory, removed at once.
    with tempfile.TemporaryDirectory() as work:
        cert, key = Path(work) / "cert.pem", Path(work) / "key.pem"
        cert.write_bytes(cert_pem)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key_pem)
        context.load_cert_chain(cert, key)
    return context


def _from_certificate(data: str, password: str | None) -> tuple[bytes, bytes] | None:
    """PEM certificate and key from a certificate resource's base64 PFX; None without a key."""
    raw = base64.b64decode(data)
    try:
        key, cert, chain = pkcs12.load_key_and_certificates(
            raw, password.encode() if password else None
        )
    except ValueError:
        return None
    if key is None or cert is None:
        return None
    pem = cert.public_bytes(serialization.Encoding.PEM)
    pem += b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain or ())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, key_pem


class CertificateSelector:
    """The HTTPS listener's contexts; `update` takes a new configuration's hostnames."""

    def __init__(self, default_cert: Path | None = None, default_key: Path | None = None) -> None:
        if default_cert is not None and default_key is not None:
            cert_pem, key_pem = default_cert.read_bytes(), default_key.read_bytes()
        else:
            pair = self_signed_certificate("tollhouse-gateway")
            cert_pem, key_pem = pair.certificate_pem, pair.private_key_pem
        self.default = _context(cert_pem, key_pem)
        self._by_host: dict[str, ssl.SSLContext] = {}
        self._built: dict[str, ssl.SSLContext] = {}
        self.default.sni_callback = self._select

    def update(self, config: GatewayConfiguration) -> None:
        certificates = {c.name.lower(): c for c in config.certificates}
        hosts: dict[str, ssl.SSLContext] = {}
        for hostname in config.hostnames:
            if hostname.certificate_name is None:
                continue
            certificate = certificates.get(hostname.certificate_name.lower())
            if certificate is None:
                continue
            context = self._built.get(certificate.thumbprint)
            if context is None:
                material = _from_certificate(certificate.data, certificate.password)
                if material is None:
                    log.warning("certificate %s has no private key: not served", certificate.name)
                    continue
                context = self._built[certificate.thumbprint] = _context(*material)
            hosts[hostname.hostname.lower()] = context
        self._by_host = hosts

    def _select(self, connection: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        if name is None:
            return
        host = name.lower()
        context = self._by_host.get(host)
        if context is None and "." in host:
            context = self._by_host.get("*." + host.split(".", 1)[1])
        if context is not None:
            connection.context = context


def certificate_subject(pem: bytes) -> str:
    return x509.load_pem_x509_certificate(pem).subject.rfc4514_string()
