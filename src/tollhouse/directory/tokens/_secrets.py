"""Client secrets: generated here, shown once, stored as a salted hash.

Secrets are 40 random characters in Entra's format (a three-character hint, then `8Q~`), so
a fast keyed hash is the right tool: a KDF defends low-entropy passwords, these have 200+ bits,
and the token endpoint verifies one per request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits + "_-.~"
SECRET_LENGTH = 40
HINT_LENGTH = 3
_SCHEME = "sha256"


def generate_secret() -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH - HINT_LENGTH - 3))
    head = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(HINT_LENGTH))
    return f"{head}8Q~{body}"


def secret_hint(secret: str) -> str:
    return secret[:HINT_LENGTH]


def hash_secret(secret: str) -> str:
    salt = secrets.token_hex(16)
    digest = hmac.new(bytes.fromhex(salt), secret.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{_SCHEME}${salt}${digest}"


def verify_secret(secret: str, stored: str) -> bool:
    """Constant-time comparison against a stored hash; False for anything malformed."""
    try:
        scheme, salt, digest = stored.split("$")
        key = bytes.fromhex(salt)
    except ValueError:
        return False
    if scheme != _SCHEME:
        return False
    candidate = hmac.new(key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return hmac.compare_digest(candidate, digest)
