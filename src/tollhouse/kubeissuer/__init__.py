"""A stand-in Kubernetes service-account OIDC issuer, for development and tests.

It plays the two parts of a cluster that workload identity federation relies on (entra.md §3.2,
§5): kube-apiserver publishing `{issuer}/.well-known/openid-configuration` and
`{issuer}/openid/v1/jwks`, and the kubelet writing a projected service-account token to a file
and rotating it at 80 % of its lifetime. `ServiceAccountIssuer` is the sans-I/O core;
`TokenFileWriter`, `create_app` and `run` are the shells around it.
"""

from tollhouse.kubeissuer._app import create_app
from tollhouse.kubeissuer._issuer import (
    DEFAULT_AUDIENCE,
    DEFAULT_LIFETIME_SECONDS,
    MIN_LIFETIME_SECONDS,
    ServiceAccountIssuer,
    key_id,
)
from tollhouse.kubeissuer._server import (
    DEFAULT_NAMESPACE,
    DEFAULT_SERVICE_ACCOUNT,
    KubeIssuerConfig,
    load_or_create_signing_key,
    run,
)
from tollhouse.kubeissuer._tokenfile import (
    MAX_TOKEN_AGE_SECONDS,
    ROTATE_FRACTION,
    TokenFileWriter,
    write_atomically,
)

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_LIFETIME_SECONDS",
    "DEFAULT_NAMESPACE",
    "DEFAULT_SERVICE_ACCOUNT",
    "MAX_TOKEN_AGE_SECONDS",
    "MIN_LIFETIME_SECONDS",
    "ROTATE_FRACTION",
    "KubeIssuerConfig",
    "ServiceAccountIssuer",
    "TokenFileWriter",
    "create_app",
    "key_id",
    "load_or_create_signing_key",
    "run",
    "write_atomically",
]
