"""Certificates for `ad app credential reset`: reading the one given, writing the one made.

Only the certificate is ever sent to the directory: a PEM file may hold the private key
beside it (as `--create-cert` writes it), and the key is ignored.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tollhouse.cli._errors import CliError
from tollhouse.pki import KeyPair


def certificate_der(data: bytes) -> bytes:
    """The certificate in `data`: PEM (the first certificate), DER, or base64 DER, as az's
    `--cert` accepts."""
    try:
        if b"-----BEGIN" in data:
            certificate = x509.load_pem_x509_certificate(data)
        else:
            certificate = x509.load_der_x509_certificate(_der(data))
    except ValueError:
        raise CliError(
            "--cert: not an X.509 certificate (give a PEM or DER file as @path, or PEM text)."
        ) from None
    return certificate.public_bytes(serialization.Encoding.DER)


def _der(data: bytes) -> bytes:
    try:
        x509.load_der_x509_certificate(data)
        return data
    except ValueError:
        pass
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except binascii.Error:
        raise ValueError("neither DER nor base64") from None


def write_new_pem(path: Path, pair: KeyPair) -> Path:
    """Key then certificate (what `CertificateCredential` reads) to a new file, mode 0600."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CliError(f"'{path}' already exists; name another file with --cert-file.") from None
    except OSError as exc:
        raise CliError(f"Cannot create '{path}': {exc.strerror}.") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pair.combined_pem)
    return path.resolve()
