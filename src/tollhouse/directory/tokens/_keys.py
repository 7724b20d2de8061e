"""The token service's signing keys: creation, publication, rotation (sans-I/O).

entra.md §4.2 and §9.7: keys are RSA, `kid` equals `x5t` (base64url SHA-1 of the key's
certificate), the JWKS carries `x5c`. A new key is published before it signs, so verifiers
that cache the JWKS already know it; a key that stopped signing stays published for one
maximum token lifetime, so every token it signed still verifies.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tollhouse.directory.tokens._jws import b64url_encode
from tollhouse.pki import self_signed_certificate

# How long a new key is published before it signs: verifiers that refresh their JWKS at
# least this often never meet an unknown kid. Setting: directory.keys.publishAhead.
DEFAULT_PUBLISH_AHEAD_SECONDS = 600
# Signing certificates are only containers for the public key (as Entra's are).
SIGNING_CERTIFICATE_DAYS = 3650


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key_pem: bytes
    certificate_pem: bytes
    created_at: float
    signs_from: float
    # None while the key is current; set when a successor takes over.
    retire_at: float | None = None

    def private_key(self) -> rsa.RSAPrivateKey:
        return _private_key(self.private_key_pem)

    def public_key(self) -> rsa.RSAPublicKey:
        return _public_key(self.certificate_pem)

    def jwk(self) -> dict[str, Any]:
        der = x509.load_pem_x509_certificate(self.certificate_pem).public_bytes(
            serialization.Encoding.DER
        )
        numbers = self.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": b64url_encode(_int_bytes(numbers.n)),
            "e": b64url_encode(_int_bytes(numbers.e)),
            "x5c": [base64.b64encode(der).decode("ascii")],
        }


# Loading an RSA private key checks its consistency, which costs more than signing with it:
# keys are loaded once per process. A ring holds a handful of keys at most.
@functools.lru_cache(maxsize=16)
def _private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@functools.lru_cache(maxsize=16)
def _public_key(certificate_pem: bytes) -> rsa.RSAPublicKey:
    key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def new_signing_key(now: float, signs_from: float | None = None) -> SigningKey:
    pair = self_signed_certificate("accounts.tollhouse.local")
    der = pair.certificate.public_bytes(serialization.Encoding.DER)
    kid = b64url_encode(hashlib.sha1(der, usedforsecurity=False).digest())
    return SigningKey(
        kid=kid,
        private_key_pem=pair.private_key_pem,
        certificate_pem=pair.certificate_pem,
        created_at=now,
        signs_from=now if signs_from is None else signs_from,
    )


class KeyRing:
    """The set of keys at one moment; immutable, rotation returns what changed."""

    def __init__(self, keys: Iterable[SigningKey]) -> None:
        self.keys: tuple[SigningKey, ...] = tuple(sorted(keys, key=lambda k: k.signs_from))
        self._by_kid = {key.kid: key for key in self.keys}

    def signing_key(self, now: float) -> SigningKey:
        """The newest key allowed to sign at `now`."""
        candidates = [k for k in self.keys if k.signs_from <= now and _live(k, now)]
        if not candidates:
            raise LookupError("no signing key is active")
        return candidates[-1]

    def published(self, now: float) -> list[SigningKey]:
        return [key for key in self.keys if _live(key, now)]

    def jwks(self, now: float) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self.published(now)]}

    def get(self, kid: str, now: float) -> SigningKey | None:
        key = self._by_kid.get(kid)
        return key if key is not None and _live(key, now) else None

    def rotation(
        self,
        now: float,
        *,
        publish_ahead: float = DEFAULT_PUBLISH_AHEAD_SECONDS,
        max_token_lifetime: float,
    ) -> tuple[SigningKey, list[SigningKey]]:
        """A successor key and the current keys with their retirement set.

        The successor signs from `now + publish_ahead`; the keys it replaces stay published
        until every token they may still sign before then has expired.
        """
        successor = new_signing_key(now, signs_from=now + publish_ahead)
        retire_at = successor.signs_from + max_token_lifetime
        retired = [
            replace(key, retire_at=retire_at)
            for key in self.keys
            if key.retire_at is None or key.retire_at > retire_at
        ]
        return successor, retired


def _live(key: SigningKey, now: float) -> bool:
    return key.retire_at is None or key.retire_at > now
