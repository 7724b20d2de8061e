"""The server over real TLS with a private CA: the scheme is https, the SNI name the client
asked for reaches the request, and a certificate-selecting sni_callback set on the context
still runs."""

from __future__ import annotations

import ssl
from pathlib import Path

from tests.gateway.http.server_support import (
    connect,
    parse_responses,
    read_response,
    read_until_closed,
    request,
    run,
    serving,
)
from tollhouse.pki import CertificateAuthority


def contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext, list[str | None]]:
    ca = CertificateAuthority.create()
    pair = ca.issue_server(["localhost", "api.example.com", "127.0.0.1"])
    pair.write(tmp_path / "server.pem", tmp_path / "server.key")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    seen: list[str | None] = []

    def select_certificate(
        ssl_object: ssl.SSLObject, server_name: str, context: ssl.SSLContext
    ) -> None:
        # Stands in for the lead's per-hostname certificate selection.
        seen.append(server_name)

    server.sni_callback = select_certificate
    client = ssl.create_default_context(cadata=ca.certificate_pem.decode("ascii"))
    return server, client, seen


def test_a_tls_request_carries_https_and_the_sni_name(tmp_path: Path) -> None:
    server_context, client_context, seen = contexts(tmp_path)

    async def scenario() -> None:
        async with serving(ssl_context=server_context) as served:
            reader, writer = await connect(served.port, client_context, "api.example.com")
            writer.write(request("/secure", host="API.example.com:8081"))
            echoed = (await read_response(reader)).json()
            assert (echoed["scheme"], echoed["server_name"]) == ("https", "api.example.com")
            assert echoed["host"] == "api.example.com"
            # Without a Host (HTTP/1.0), the SNI name is the host.
            writer.write(b"GET /old HTTP/1.0\r\n\r\n")
            (old,) = parse_responses(await read_until_closed(reader))
            assert old.json()["host"] == "api.example.com"
            writer.close()

            reader, writer = await connect(served.port, client_context, "localhost")
            writer.write(request("/other", host="localhost", headers=[("Connection", "close")]))
            (response,) = parse_responses(await read_until_closed(reader))
            assert response.json()["server_name"] == "localhost"
            writer.close()

    run(scenario())
    assert seen == ["api.example.com", "localhost"]


def test_a_bad_request_over_tls_is_refused_and_closed(tmp_path: Path) -> None:
    server_context, client_context, _ = contexts(tmp_path)

    async def scenario() -> None:
        async with serving(ssl_context=server_context) as served:
            reader, writer = await connect(served.port, client_context, "localhost")
            writer.write(
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            )
            (response,) = parse_responses(await read_until_closed(reader))
            assert response.status == 400 and response.closes
            assert served.recorder.requests == []
            writer.close()

    run(scenario())
