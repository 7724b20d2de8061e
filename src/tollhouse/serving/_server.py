from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# security-and-faults.md C.4 / case 13: a client must finish its header block within this
# many seconds of starting a request (slowloris); uvicorn has no such deadline of its own.
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
STARTUP_TIMEOUT_SECONDS = 30.0
# uvicorn's shutdown sequence: stop accepting, let in-flight requests finish for this long,
# then cancel them.
DEFAULT_GRACEFUL_SHUTDOWN_SECONDS = 10


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's header block."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_late(self) -> None:
        self._header_deadline = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_deadline is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()


def _protocol(header_timeout: float) -> type[HeaderDeadlineProtocol]:
    return type(
        "HeaderDeadlineProtocolWithTimeout",
        (HeaderDeadlineProtocol,),
        {"header_timeout": header_timeout},
    )


class _Server(uvicorn.Server):
    """uvicorn's server, calling `on_shutdown` as soon as it stops accepting (before it waits
    for open connections): long-held requests can be answered instead of waited out."""

    def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], None] | None) -> None:
        super().__init__(config)
        self.on_shutdown = on_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.on_shutdown is not None:
            self.on_shutdown()
        await super().shutdown(sockets)


def build_server(
    app: Any,
    *,
    host: str,
    port: int,
    certfile: Path,
    keyfile: Path,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT_SECONDS,
    keepalive_timeout: int = 5,
    log_level: str = "warning",
    limit_concurrency: int | None = 1000,
    graceful_shutdown: int = DEFAULT_GRACEFUL_SHUTDOWN_SECONDS,
    on_shutdown: Callable[[], None] | None = None,
) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(certfile),
        ssl_keyfile=str(keyfile),
        http=_protocol(header_timeout),
        loop="uvloop",
        timeout_keep_alive=keepalive_timeout,
        limit_concurrency=limit_concurrency,
        log_level=log_level,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=int(graceful_shutdown),
    )
    return _Server(config, on_shutdown)


@dataclass
class ServerHandle:
    """A server running in a background thread (tests, `tollhouse dev`)."""

    server: uvicorn.Server
    thread: threading.Thread
    port: int

    def stop(self, grace: float = 1.0, timeout: float = 10.0) -> None:
        """Graceful stop; idle keep-alive connections are not waited for beyond `grace`."""
        self.server.should_exit = True
        self.thread.join(grace)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def start_in_thread(server: uvicorn.Server) -> ServerHandle:
    """Starts `server` on its own event loop in a thread; returns once it listens."""
    thread = threading.Thread(target=server.run, daemon=True, name="tollhouse-server")
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server stopped while starting")
        if time.monotonic() > deadline:
            raise TimeoutError("the server did not start in time")
        time.sleep(0.02)
    return ServerHandle(server, thread, server.config.port)
