"""A Kubernetes service-account token issuer, sans-I/O: discovery, JWKS and projected tokens.

What kube-apiserver publishes for `--service-account-issuer` (entra.md §3.2, the self-managed
cluster discovery document) and what the kubelet writes into a projected
`serviceAccountToken` volume (entra.md §5.1, "Projected token claims").
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# entra.md §5.1: the audience the workload identity webhook asks the kubelet for.
DEFAULT_AUDIENCE = "api://AzureADTokenExchange"
# entra.md §5.1: `service-account-token-expiration` defaults to 3600 s.
DEFAULT_LIFETIME_SECONDS = 3600
# entra.md §5.2: "The minimum expirationSeconds is 10 minutes in Kubernetes".
MIN_LIFETIME_SECONDS = 600
# Kubernetes requires 2048-bit RSA service-account keys at least; so does Entra (AADSTS50032).
MIN_KEY_BITS = 2048
JWKS_PATH = "/openid/v1/jwks"
DISCOVERY_PATH = "/.well-known/openid-configuration"

# Kubernetes object names: a namespace is a DNS-1123 label, a service account a DNS-1123
# subdomain (kubernetes.io/docs/concepts/overview/working-with-objects/names).
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def key_id(public_key: rsa.RSAPublicKey) -> str:
    """The `kid` kube-apiserver gives a key: base64url SHA-256 of the DER public key.

    kubernetes pkg/serviceaccount/jwt.go `keyIDFromPublicKey`: `x509.MarshalPKIXPublicKey`,
    SHA-256, `base64.RawURLEncoding`.
    """
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _base64url(hashlib.sha256(der).digest())


class ServiceAccountIssuer:
    """Signs projected service-account tokens and describes itself as an OIDC issuer."""

    def __init__(self, issuer_url: str, signing_key_pem: bytes) -> None:
        parts = urlsplit(issuer_url)
        # OpenID Connect Discovery 1.0 §2: https, no query, no fragment.
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(
                f"the issuer URL must be https:// with no query or fragment: {issuer_url!r}"
            )
        key = serialization.load_pem_private_key(signing_key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_KEY_BITS:
            raise ValueError(f"the signing key must be an RSA key of {MIN_KEY_BITS} bits or more")
        self._issuer = issuer_url
        self._key = key
        self._kid = key_id(key.public_key())

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def kid(self) -> str:
        return self._kid

    @property
    def path(self) -> str:
        """The URL path under which the issuer's documents are served, without a final "/"."""
        return urlsplit(self._issuer).path.removesuffix("/")

    @property
    def jwks_uri(self) -> str:
        return self._issuer.removesuffix("/") + JWKS_PATH

    def discovery_document(self) -> dict[str, Any]:
        """The document served at `{issuer}/.well-known/openid-configuration`."""
        return {
            "issuer": self._issuer,
            "jwks_uri": self.jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwks(self) -> dict[str, Any]:
        """The key set served at `jwks_uri`."""
        numbers = self._key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "use": "sig",
                    "kty": "RSA",
                    "kid": self._kid,
                    "alg": "RS256",
                    "n": _base64url(_unsigned(numbers.n)),
                    "e": _base64url(_unsigned(numbers.e)),
                }
            ]
        }

    def mint(
        self,
        namespace: str,
        service_account: str,
        *,
        now: float,
        audience: str = DEFAULT_AUDIENCE,
        lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
        pod_name: str | None = None,
        pod_uid: str | None = None,
        service_account_uid: str | None = None,
        jti: str | None = None,
    ) -> str:
        """A token shaped like the kubelet's projected service-account token.

        `service_account_uid` and `pod_uid` default to stable values derived from the names,
        as a real object's uid is stable; `jti` defaults to a new GUID (Kubernetes ≥ 1.29).
        """
        if not _DNS_LABEL.fullmatch(namespace):
            raise ValueError(f"not a Kubernetes namespace name: {namespace!r}")
        if not _DNS_SUBDOMAIN.fullmatch(service_account):
            raise ValueError(f"not a Kubernetes service account name: {service_account!r}")
        if lifetime_seconds < MIN_LIFETIME_SECONDS:
            raise ValueError(f"lifetime_seconds must be at least {MIN_LIFETIME_SECONDS}")
        issued_at = int(now)
        kubernetes: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {
                "name": service_account,
                "uid": service_account_uid
                or self._stable_uid("serviceaccount", namespace, service_account),
            },
        }
        if pod_name is not None:
            kubernetes["pod"] = {
                "name": pod_name,
                "uid": pod_uid or self._stable_uid("pod", namespace, pod_name),
            }
        claims = {
            "aud": [audience],
            "exp": issued_at + lifetime_seconds,
            "iat": issued_at,
            "iss": self._issuer,
            "jti": jti or str(uuid.uuid4()),
            "kubernetes.io": kubernetes,
            "nbf": issued_at,
            "sub": f"system:serviceaccount:{namespace}:{service_account}",
        }
        # The kubelet's header is exactly {alg, kid}: no "typ".
        return jwt.encode(
            claims, self._key, algorithm="RS256", headers={"kid": self._kid, "typ": None}
        )

    def _stable_uid(self, kind: str, namespace: str, name: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self._issuer}#{kind}/{namespace}/{name}"))


def _unsigned(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
