"""Certificates (`certificates/{id}`): Azure REST `CertificateCreateOrUpdateProperties`.

`data` is a base64 PKCS#12 (PFX) file with its `password` (a certificate with its private key,
for TLS and client authentication), or a certificate alone: base64 DER, base64 PEM, or PEM
text (a CA certificate for `gateways/{gw}/certificateAuthorities`). The public properties
APIM reports are derived from it; `data` (as base64 of the PFX or of the DER certificate) and
`password` are secrets. An update without `data` keeps the current certificate.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, TypedDict

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from tollhouse.controlplane.model._errors import invalid, unsupported
from tollhouse.controlplane.model._fields import Fields
from tollhouse.controlplane.model._paths import ResourcePath
from tollhouse.controlplane.model._resource import Resource

# A certificate chain in a PFX is a few KiB; this bounds what one upload may make us parse.
MAX_CERTIFICATE_BYTES = 64 * 1024
MAX_PASSWORD_LENGTH = 1024
_MAX_DATA_LENGTH = MAX_CERTIFICATE_BYTES * 2  # base64 or PEM text of the above, with slack


class CertificateProperties(TypedDict):
    """The normalized `properties` of a certificate, all derived from `data`."""

    subject: str  # "CN=api.contoso.com, O=Contoso"
    thumbprint: str  # SHA-1 of the DER certificate, upper-case hex
    expirationDate: str  # "2030-01-01T00:00:00Z"


class CertificateSecrets(TypedDict, total=False):
    data: str  # base64 of a PKCS#12 file or of a DER certificate; always present
    password: str  # only for PKCS#12


def normalize_certificate(
    path: ResourcePath, properties: Mapping[str, Any], existing: Resource | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = Fields.of(properties, "properties")
    if fields.has("keyVault"):
        raise unsupported(
            "properties.keyVault", "is not supported: upload the certificate as 'data'"
        )
    data = fields.text("data", max_length=_MAX_DATA_LENGTH)
    password = fields.text("password", max_length=MAX_PASSWORD_LENGTH, allow_empty=True)
    if data is None:
        if existing is None:
            raise invalid("properties.data", "is required")
        return dict(existing.properties), dict(existing.secrets)
    raw = _decode(data)
    certificate, stored, is_pkcs12 = _load(raw, password)
    secrets: dict[str, Any] = {"data": base64.b64encode(stored).decode("ascii")}
    if is_pkcs12 and password:
        secrets["password"] = password
    return describe_certificate(certificate), secrets


def describe_certificate(certificate: x509.Certificate) -> dict[str, Any]:
    return {
        # .NET's X500DistinguishedName order and separator, as APIM shows subjects.
        "subject": ", ".join(rdn.rfc4514_string() for rdn in reversed(certificate.subject.rdns)),
        "thumbprint": certificate.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303
        "expirationDate": certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _decode(data: str) -> bytes:
    if data.lstrip().startswith("-----BEGIN"):
        raw = data.encode("utf-8")
    else:
        try:
            raw = base64.b64decode("".join(data.split()), validate=True)
        except (binascii.Error, ValueError):
            raise invalid("properties.data", "must be base64") from None
    if len(raw) > MAX_CERTIFICATE_BYTES:
        raise invalid("properties.data", f"must be at most {MAX_CERTIFICATE_BYTES} bytes")
    return raw


def _load(raw: bytes, password: str | None) -> tuple[x509.Certificate, bytes, bool]:
    """The certificate, the bytes to store (the PFX as given, or the certificate as DER), and
    whether they are PKCS#12."""
    if raw.lstrip().startswith(b"-----BEGIN"):
        if b"PRIVATE KEY-----" in raw:
            raise invalid(
                "properties.data",
                "holds a private key in PEM: upload a certificate with its key as PKCS#12 "
                "(PFX) with a password",
            )
        try:
            certificate = x509.load_pem_x509_certificate(raw)
        except ValueError:
            raise invalid("properties.data", "is not a PEM certificate") from None
        return certificate, certificate.public_bytes(Encoding.DER), False
    try:
        secret = password.encode("utf-8") if password else None
        _, bundled, _ = pkcs12.load_key_and_certificates(raw, secret)
    except ValueError:
        pass
    else:
        if bundled is None:
            raise invalid("properties.data", "is a PKCS#12 file without a certificate")
        return bundled, raw, True
    if password:
        raise invalid(
            "properties.password", "does not open properties.data as a PKCS#12 (PFX) file"
        )
    try:
        return x509.load_der_x509_certificate(raw), raw, False
    except ValueError:
        raise invalid(
            "properties.data",
            "must be a PKCS#12 (PFX) file with its password, or a DER or PEM certificate",
        ) from None
