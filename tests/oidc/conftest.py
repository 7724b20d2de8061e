"""Keys, hand-made tokens, a key source that counts, and a socket that records connections."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tollhouse.oidc import UnknownSigningKeyError


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segment(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def rs256(key: rsa.RSAPrivateKey, signing_input: str) -> bytes:
    return key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())


def compact(header: dict[str, Any], claims: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
    """An RS256 compact JWS with exactly this header and these claims."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    return f"{signing_input}.{b64(rs256(key, signing_input))}"


def new_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@pytest.fixture(scope="session")
def issuer_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="session")
def attacker_key() -> rsa.RSAPrivateKey:
    return new_key()


class FakeKeySource:
    """Serves fixed keys by (issuer, kid) and records every lookup."""

    def __init__(self, keys: dict[tuple[str, str], rsa.RSAPublicKey]) -> None:
        self.keys = keys
        self.calls: list[tuple[str, str]] = []
        self.error: Exception | None = None

    async def signing_key(self, issuer: str, kid: str) -> rsa.RSAPublicKey:
        self.calls.append((issuer, kid))
        if self.error is not None:
            raise self.error
        key = self.keys.get((issuer, kid))
        if key is None:
            raise UnknownSigningKeyError(issuer, f"no key with kid {kid[:64]!a}")
        return key


class Listener:
    """A TCP socket that never answers: it only counts the connections made to it."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.setblocking(False)
        self.url = f"https://127.0.0.1:{self._socket.getsockname()[1]}"

    def connections(self) -> int:
        count = 0
        while True:
            try:
                connection, _ = self._socket.accept()
            except BlockingIOError:
                return count
            connection.close()
            count += 1

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    made = Listener()
    yield made
    made.close()
