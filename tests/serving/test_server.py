"""The HTTPS server shell: real TLS, and the header deadline uvicorn lacks (slowloris)."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from tollhouse.pki import CertificateAuthority
from tollhouse.serving import ServerHandle, build_server, start_in_thread
from tollhouse.serving._server import free_port

HEADER_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerHandle, Path]]:
    work = tmp_path_factory.mktemp("serving")
    ca = CertificateAuthority.create()
    (work / "ca.pem").write_bytes(ca.certificate_pem)
    ca.issue_server(["127.0.0.1"]).write(work / "tls.pem", work / "tls.key")
    app = FastAPI()

    @app.get("/")
    def index() -> dict[str, str]:
        return {"ok": "yes"}

    handle = start_in_thread(
        build_server(
            app,
            host="127.0.0.1",
            port=free_port(),
            certfile=work / "tls.pem",
            keyfile=work / "tls.key",
            header_timeout=HEADER_TIMEOUT,
        )
    )
    yield handle, work / "ca.pem"
    handle.stop()


def connect(handle: ServerHandle, ca: Path) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(ca))
    raw = socket.create_connection(("127.0.0.1", handle.port), timeout=10)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def trickle(tls: ssl.SSLSocket, byte: int) -> bool:
    """Sends one byte, waits, and tells whether the server has closed the connection."""
    try:
        tls.sendall(bytes([byte]))
        time.sleep(0.3)
        tls.settimeout(0.01)
        return tls.recv(1) == b""
    except (TimeoutError, ssl.SSLWantReadError):
        return False
    except OSError:
        return True


def test_a_complete_request_is_served(server: tuple[ServerHandle, Path]) -> None:
    with connect(*server) as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := tls.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200")


def test_a_header_block_trickling_in_is_cut_at_the_deadline(
    server: tuple[ServerHandle, Path],
) -> None:
    with connect(*server) as tls:
        started = time.monotonic()
        tls.sendall(b"GET / HTTP/1.1\r\n")
        # One header byte every 0.3 s: each arrives before a read timeout would fire.
        closed = any(trickle(tls, byte) for byte in b"X-Slow: " + b"a" * 40)
        elapsed = time.monotonic() - started
    assert closed
    assert HEADER_TIMEOUT <= elapsed < HEADER_TIMEOUT + 5
