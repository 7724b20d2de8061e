"""Every limit and deadline of the downstream HTTP server, with its reason and precedent.

The constants are the defaults; `ServerLimits` collects them, and the gateway settings set its
fields. Sizes are bytes, durations seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB

# --- sizes ---------------------------------------------------------------------------------

# Request target (path and query) → 414. nginx answers 414 past one 8 KiB
# large_client_header_buffers line; RFC 9112 §3 asks servers to accept at least 8000 octets.
DEFAULT_MAX_REQUEST_TARGET = 8 * KiB
# Header section (every field line, not the request line) → 431. nginx allows 4 × 8 KiB
# buffers, Node 16 KiB, h11 16 KiB for a whole head, Envoy 60 KiB; tokens and cookies need room.
DEFAULT_MAX_HEADER_BLOCK = 32 * KiB
# Header field lines in one request (trailers count too) → 431. Envoy max_headers_count and
# Apache LimitRequestFields are both 100.
DEFAULT_MAX_HEADER_COUNT = 100
# Request body → 413: a declared Content-Length over it is answered before reading, a chunked
# body when it crosses it. Cloudflare's default request body limit; None means no limit.
DEFAULT_MAX_BODY_SIZE: int | None = 100 * MiB
# Request body the server reads and throws away after the handler answered without reading
# it all, to keep the connection; past it the connection closes. Go net/http's
# maxPostHandlerReadBytes (256 KiB).
DEFAULT_MAX_DRAIN_SIZE = 256 * KiB
# Buffered request body per request above which the server stops reading the socket until the
# handler catches up (uvicorn's HIGH_WATER_LIMIT), and below which it reads again (asyncio's
# default low-water mark: a quarter of the high one).
DEFAULT_BODY_HIGH_WATER = 64 * KiB
DEFAULT_BODY_LOW_WATER = 16 * KiB

# --- counts --------------------------------------------------------------------------------

# Requests parsed and not yet answered on one connection (the one being handled included);
# beyond it the server answers those and closes (aiohttp CVE-2026-54273: an unbounded queue
# of pipelined requests). Reading pauses as soon as one request waits, as uvicorn does, so
# only requests packed into one read can pile up.
DEFAULT_MAX_PIPELINED_REQUESTS = 16
# Open connections across every listener; beyond it a new connection gets a 503 and is closed.
# nginx's worker_connections is 512 per worker by default; 10,000 idle sockets is the C10k line.
DEFAULT_MAX_CONNECTIONS = 10_000
# Open connections from one client IP address; None means no cap, the default because a
# load balancer or an ingress in front makes every client one address.
DEFAULT_MAX_CONNECTIONS_PER_CLIENT: int | None = None
# Listen backlog of each listener: uvicorn's and Gunicorn's 2048.
DEFAULT_LISTEN_BACKLOG = 2048

# --- deadlines -----------------------------------------------------------------------------

# From a request's first byte (a new connection's start) to the end of its header block,
# whatever trickles in meanwhile (slowloris). Apache mod_reqtimeout's header=20.
DEFAULT_HEADER_TIMEOUT = 20.0
# Longest wait for the next piece of a request body (slow POST). nginx client_body_timeout.
DEFAULT_BODY_TIMEOUT = 60.0
# An idle keep-alive connection closes after this. nginx keepalive_timeout; above the 60 s idle
# timeout of common load balancers, so that they, not we, close an idle connection first.
DEFAULT_KEEPALIVE_TIMEOUT = 75.0
# Longest wait for the client to take more of a response (slow read). nginx send_timeout.
DEFAULT_WRITE_TIMEOUT = 60.0
# TLS handshake of a new connection. asyncio's default is 60 s; a handshake that takes more
# than a few seconds is an attack or a dead peer.
DEFAULT_TLS_HANDSHAKE_TIMEOUT = 10.0
# After a final response on a connection being closed, how long the server keeps reading and
# discarding what the client still sends, so that the client reads the response instead of a
# reset. nginx lingering_timeout.
DEFAULT_LINGER_TIMEOUT = 5.0
# Graceful shutdown: how long requests in flight may take to finish before they are cancelled.
# Kubernetes' default terminationGracePeriodSeconds.
DEFAULT_SHUTDOWN_GRACE = 30.0


@dataclass(frozen=True)
class ServerLimits:
    """The downstream server's limits and deadlines; the defaults are the constants above."""

    max_request_target: int = DEFAULT_MAX_REQUEST_TARGET
    max_header_block: int = DEFAULT_MAX_HEADER_BLOCK
    max_header_count: int = DEFAULT_MAX_HEADER_COUNT
    max_body_size: int | None = DEFAULT_MAX_BODY_SIZE
    max_drain_size: int = DEFAULT_MAX_DRAIN_SIZE
    body_high_water: int = DEFAULT_BODY_HIGH_WATER
    body_low_water: int = DEFAULT_BODY_LOW_WATER
    max_pipelined_requests: int = DEFAULT_MAX_PIPELINED_REQUESTS
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_connections_per_client: int | None = DEFAULT_MAX_CONNECTIONS_PER_CLIENT
    listen_backlog: int = DEFAULT_LISTEN_BACKLOG
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT
    write_timeout: float = DEFAULT_WRITE_TIMEOUT
    tls_handshake_timeout: float = DEFAULT_TLS_HANDSHAKE_TIMEOUT
    linger_timeout: float = DEFAULT_LINGER_TIMEOUT
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE

    def __post_init__(self) -> None:
        for name in (
            "max_request_target",
            "max_header_block",
            "max_header_count",
            "body_high_water",
            "max_pipelined_requests",
            "max_connections",
            "listen_backlog",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"ServerLimits.{name} must be at least 1")
        for name in ("max_drain_size", "body_low_water"):
            if getattr(self, name) < 0:
                raise ValueError(f"ServerLimits.{name} must not be negative")
        for name in ("max_body_size", "max_connections_per_client"):
            value = getattr(self, name)
            if value is not None and value < (0 if name == "max_body_size" else 1):
                raise ValueError(f"ServerLimits.{name} is out of range")
        if self.body_low_water >= self.body_high_water:
            raise ValueError("ServerLimits.body_low_water must be below body_high_water")
        for name in (
            "header_timeout",
            "body_timeout",
            "keepalive_timeout",
            "write_timeout",
            "tls_handshake_timeout",
            "linger_timeout",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"ServerLimits.{name} must be positive")
        if self.shutdown_grace < 0:
            raise ValueError("ServerLimits.shutdown_grace must not be negative")
