"""The keep-alive connection pool the gateway forwards requests through.

`UpstreamPool.request(UpstreamRequest) -> Response` is the whole contract. Connections are
pooled per origin: scheme, host, port and TLS settings (whether to verify, which extra CAs), so
two backends on one host that trust different CAs never share a connection. Redirects are not
followed: the gateway is a proxy, and a 3xx goes back to the client as it came.

Deadlines: the request's `timeout` bounds everything up to the response head (waiting for a
pooled connection, connecting, sending, the backend thinking), as APIM's `forward-request
timeout` does; `connect_timeout` bounds each connection attempt inside it; `body_timeout` bounds
each wait for response body bytes, and for the backend to accept request body bytes.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from tollhouse.gateway.http._errors import (
    UpstreamConnectError,
    UpstreamEgressDenied,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRequestError,
    UpstreamTimeout,
)
from tollhouse.gateway.http._messages import Headers, Response, Started, UpstreamRequest
from tollhouse.gateway.http._upstream_connection import (
    StaleConnection,
    UpstreamConnection,
    body_of,
)
from tollhouse.gateway.http._upstream_egress import EgressPolicy
from tollhouse.gateway.http._upstream_request import (
    body_length,
    check_method,
    outgoing_headers,
    parse_url,
    replayable,
    serialise_head,
)

# Envoy's and httpx's default cap on connections to one upstream is in the hundreds; 100 is
# httpx's, and keeps one slow backend from taking every file descriptor.
MAX_CONNECTIONS_PER_ORIGIN = 100
# As many as may be open: under steady concurrency every connection is reused (closing the
# surplus after each burst and reconnecting cost a third of the throughput); idle ones close
# after IDLE_TIMEOUT. nginx's reference configuration keeps 64 per worker.
MAX_IDLE_PER_ORIGIN = MAX_CONNECTIONS_PER_ORIGIN
# Below the 5 s keep-alive timeout of Node.js and many other servers (undici uses 4 s), so the
# pool seldom sends a request into a connection the backend is closing.
IDLE_TIMEOUT = 4.0
# Envoy's default cluster connect_timeout.
CONNECT_TIMEOUT = 5.0
# nginx's proxy_read_timeout: the longest silence between two reads of a response body.
BODY_TIMEOUT = 60.0
# Envoy's max_request_headers_kb default (60 KiB) rounded to 64 KiB; nginx's proxy buffers
# are smaller (4-8 KiB) and real backends stay far below either.
MAX_RESPONSE_HEAD_SIZE = 64 * 1024
# Envoy's max_headers_count default.
MAX_RESPONSE_HEADERS = 100
# A body in memory up to this size goes out in the same write as the head: one segment for
# the common small request, no copy of a large one.
_COALESCE_LIMIT = 16 * 1024


@dataclass(frozen=True)
class UpstreamLimits:
    """The pool's limits; each default is the constant of the same name above.

    Settings (Tollhouse keys): `net.client.http.maxConnectionsPerOrigin`,
    `net.client.http.maxIdlePerOrigin`, `net.client.http.idleTimeout`,
    `net.client.http.connectTimeout`, `net.client.http.bodyTimeout`,
    `net.client.http.maxResponseHeadSize`, `net.client.http.maxResponseHeaders`.
    """

    max_connections_per_origin: int = MAX_CONNECTIONS_PER_ORIGIN
    max_idle_per_origin: int = MAX_IDLE_PER_ORIGIN
    idle_timeout: float = IDLE_TIMEOUT
    connect_timeout: float = CONNECT_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    max_response_head_size: int = MAX_RESPONSE_HEAD_SIZE
    max_response_headers: int = MAX_RESPONSE_HEADERS

    def __post_init__(self) -> None:
        if self.max_connections_per_origin < 1:
            raise ValueError("max_connections_per_origin must be at least 1")
        if self.max_idle_per_origin < 0:
            raise ValueError("max_idle_per_origin must not be negative")
        for name in ("idle_timeout", "connect_timeout", "body_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")


_HEAD_TIMEOUT_MESSAGE = "no response head from the backend in time"


def _head_timed_out(head: asyncio.Future[tuple[int, Headers]]) -> None:
    if not head.done():
        head.set_exception(UpstreamTimeout(_HEAD_TIMEOUT_MESSAGE))


class _OriginKey(NamedTuple):
    scheme: str
    host: str
    port: int
    verify_tls: bool
    ca_certificates: tuple[bytes, ...]


class _Origin:
    """The connections to one origin: idle ones on a stack (the most recently used is taken
    first, so surplus ones age out), a count of all of them, and callers waiting for a slot.

    The stack is ordered by the time each connection went idle, oldest first, so one timer
    serves them all: it fires when the oldest has been idle for the idle timeout, closes
    whatever has, and is set again for the next oldest."""

    def __init__(self, pool: UpstreamPool, key: _OriginKey) -> None:
        self.pool = pool
        self.key = key
        self.limits = pool.limits
        self.loop = asyncio.get_running_loop()
        self.idle: list[UpstreamConnection] = []
        self.connections: set[UpstreamConnection] = set()
        self.opening = 0
        self.waiters: deque[asyncio.Future[None]] = deque()
        self._expiry: asyncio.TimerHandle | None = None

    @property
    def size(self) -> int:
        return len(self.connections) + self.opening

    def take_idle(self) -> UpstreamConnection | None:
        """An idle connection still usable, if there is one (no waiting)."""
        idle = self.idle
        while idle:
            connection = idle.pop()
            if connection.usable:
                return connection
            connection.close()
        return None

    async def acquire(self, *, fresh: bool = False) -> UpstreamConnection:
        """A connection to use, idle or new (`fresh`: new, closing an idle one for room)."""
        limit = self.limits.max_connections_per_origin
        while True:
            if not fresh:
                connection = self.take_idle()
                if connection is not None:
                    return connection
            if fresh and self.idle and self.size >= limit:
                self.idle[0].close()
            if self.size < limit:
                self.opening += 1
                try:
                    connection = await self.pool._connect(self)
                except BaseException:
                    self.opening -= 1
                    self._wake()
                    self._forget_if_unused()
                    raise
                self.opening -= 1
                self.connections.add(connection)
                if connection.closed:  # lost between connecting and here
                    self._closed(connection)
                    raise UpstreamConnectError("backend closed the connection")
                return connection
            waiter = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # our turn came as we gave up: pass it on
                else:
                    self.waiters.remove(waiter)
                raise

    def release(self, connection: UpstreamConnection, reusable: bool) -> None:
        if (
            reusable
            and not self.pool.is_closed
            and len(self.idle) < self.limits.max_idle_per_origin
            and connection in self.connections
        ):
            now = self.loop.time()
            connection.idle(now)
            self.idle.append(connection)
            if self._expiry is None:
                self._expiry = self.loop.call_at(now + self.limits.idle_timeout, self._expire)
            if self.waiters:
                self._wake()
        else:
            connection.close()
            self._forget_if_unused()

    def _expire(self) -> None:
        """Close the connections idle for the idle timeout; wait for the next oldest."""
        self._expiry = None
        timeout = self.limits.idle_timeout
        now = self.loop.time()
        idle = self.idle
        while idle and idle[0].idle_since + timeout <= now:
            idle.pop(0).close()
        if idle:
            self._expiry = self.loop.call_at(idle[0].idle_since + timeout, self._expire)

    def _closed(self, connection: UpstreamConnection) -> None:
        self.connections.discard(connection)
        if connection in self.idle:
            self.idle.remove(connection)
        self._wake()
        self._forget_if_unused()

    def _wake(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _forget_if_unused(self) -> None:
        if not self.size and not self.waiters:
            if self._expiry is not None:
                self._expiry.cancel()
                self._expiry = None
            self.pool._forget(self)

    def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        for connection in list(self.connections):
            connection.close()
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(UpstreamConnectError("the upstream pool is closed"))


class UpstreamPool:
    """Keep-alive HTTP/1.1 connections to backends, shared by every request of a gateway.

    `egress`, when given, is checked against every resolved backend address before connecting
    (and the connection goes to the checked address).
    """

    def __init__(
        self, limits: UpstreamLimits | None = None, *, egress: EgressPolicy | None = None
    ) -> None:
        self.limits = limits or UpstreamLimits()
        self._egress = egress
        self._origins: dict[_OriginKey, _Origin] = {}
        self._tls: dict[tuple[bool, tuple[bytes, ...]], ssl.SSLContext] = {}
        self._closed = False

    @property
    def is_closed(self) -> bool:
        return self._closed

    async def request(self, request: UpstreamRequest) -> Response:
        """Send `request` and return the backend's response once its head has arrived; the
        body streams from the backend. Raises `UpstreamError` (see `_errors`), or whatever the
        request body's own stream raises."""
        if self._closed:
            raise UpstreamConnectError("the upstream pool is closed")
        prepared = _Prepared.of(request)
        # One deadline for a connection and the response head (APIM forward-request timeout).
        deadline = asyncio.get_running_loop().time() + request.timeout
        return await self._request(prepared, deadline, fresh=False)

    def start(
        self, request: UpstreamRequest, on_done: Callable[[Response | UpstreamError], None]
    ) -> Started | None:
        """`request` without a task, when its body is in memory and an idle connection to its
        origin is at hand: `on_done` gets the response once its head has arrived, or the
        `UpstreamError`, from the event loop. None when that is not so (use `request`).
        Raises `UpstreamError` for a request that cannot be sent at all."""
        if self._closed or request.body.buffered is None:
            return None
        prepared = _Prepared.of(request)
        origin = self._origins.get(prepared.key)
        connection = origin.take_idle() if origin is not None else None
        if origin is None or connection is None:
            return None
        deadline = origin.loop.time() + request.timeout
        return _Started(self, origin, connection, prepared, deadline, on_done)

    async def _request(self, prepared: _Prepared, deadline: float, *, fresh: bool) -> Response:
        retry = prepared.retry and not fresh
        while True:
            origin = self._origin(prepared.key)
            # An idle connection needs no waiting: the common case pays for no timeout scope.
            connection = None if fresh else origin.take_idle()
            if connection is None:
                scope = asyncio.timeout_at(deadline)
                try:
                    async with scope:
                        connection = await origin.acquire(fresh=fresh)
                except TimeoutError:
                    if scope.expired():
                        raise UpstreamTimeout(_HEAD_TIMEOUT_MESSAGE) from None
                    raise
            try:
                return await self._exchange(origin, connection, prepared, deadline)
            except StaleConnection:
                if not retry:
                    raise _not_replayed() from None
                # Once, on a new connection: the other idle ones may be as stale.
                retry, fresh = False, True

    async def _exchange(
        self,
        origin: _Origin,
        connection: UpstreamConnection,
        prepared: _Prepared,
        deadline: float,
    ) -> Response:
        response_head = connection.begin(prepared.method)
        sender: asyncio.Task[None] | None = None
        # At the deadline the head fails with UpstreamTimeout (cheaper than a timeout scope).
        timer = origin.loop.call_at(deadline, _head_timed_out, response_head)
        try:
            body = prepared.request.body
            if body.buffered is not None:
                _write_whole(connection, prepared.head, body.buffered)
            else:
                connection.write(prepared.head)
                sender = origin.loop.create_task(
                    connection.send_body(body.chunks(), prepared.length)
                )
                await asyncio.wait((response_head, sender), return_when=asyncio.FIRST_COMPLETED)
                if not response_head.done():
                    sender.result()  # the body failed to send: its error is the answer
            status, headers = await response_head
        except BaseException:
            if sender is not None:
                sender.cancel()
                sender.add_done_callback(_retrieve)
            origin.release(connection, False)
            raise
        finally:
            timer.cancel()
        if sender is not None:
            connection.attach_sender(sender)
        return Response(status, headers, body_of(connection, origin.release))

    def _origin(self, key: _OriginKey) -> _Origin:
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = _Origin(self, key)
        return origin

    def _forget(self, origin: _Origin) -> None:
        if self._origins.get(origin.key) is origin:
            del self._origins[origin.key]

    async def _connect(self, origin: _Origin) -> UpstreamConnection:
        key = origin.key
        limits = self.limits
        loop = asyncio.get_running_loop()
        context = (
            self._tls_context(key.verify_tls, key.ca_certificates)
            if key.scheme == "https"
            else None
        )

        def protocol() -> UpstreamConnection:
            return UpstreamConnection(
                on_close=origin._closed,
                max_head_size=limits.max_response_head_size,
                max_headers=limits.max_response_headers,
                body_timeout=limits.body_timeout,
            )

        try:
            async with asyncio.timeout(limits.connect_timeout):
                addresses = await self._addresses(key.host, key.port)
                last: OSError | None = None
                for address in addresses:
                    try:
                        _, connection = await loop.create_connection(
                            protocol,
                            address,
                            key.port,
                            ssl=context,
                            server_hostname=key.host if context is not None else None,
                        )
                        return connection
                    except OSError as exc:
                        last = exc
                raise _connect_error(last)
        except TimeoutError:
            raise UpstreamTimeout("connecting to the backend timed out") from None

    async def _addresses(self, host: str, port: int) -> Sequence[str]:
        """Where to connect: the host itself when no egress policy applies (the loop resolves
        it), else each resolved address the policy permits."""
        if self._egress is None:
            return [host]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except OSError:
            raise UpstreamConnectError("backend host name did not resolve") from None
        resolved = list(dict.fromkeys(str(info[4][0]) for info in infos))
        permitted = [address for address in resolved if self._egress.permits(address)]
        if not permitted:
            raise UpstreamEgressDenied("backend address not allowed by the egress policy")
        return permitted

    def _tls_context(self, verify: bool, cas: tuple[bytes, ...]) -> ssl.SSLContext:
        context = self._tls.get((verify, cas))
        if context is None:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            # APIM's backend defaults: TLS 1.2 and 1.3 on, older versions off.
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.set_alpn_protocols(["http/1.1"])
            if cas:
                try:
                    context.load_verify_locations(cadata=b"\n".join(cas).decode("ascii"))
                except (ssl.SSLError, ValueError):
                    raise UpstreamRequestError("backend CA certificate is not valid PEM") from None
            if not verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._tls[(verify, cas)] = context
        return context

    async def close(self) -> None:
        """Close every connection, in use or idle, and refuse further requests."""
        self._closed = True
        for origin in list(self._origins.values()):
            origin.close()
        self._origins.clear()
        await asyncio.sleep(0)


class _Prepared(NamedTuple):
    """A request made ready to write: its origin, validated head and framing."""

    request: UpstreamRequest
    key: _OriginKey
    method: bytes
    head: bytearray
    length: int | None
    retry: bool

    @classmethod
    def of(cls, request: UpstreamRequest) -> _Prepared:
        method = check_method(request.method)
        target = parse_url(request.url)
        headers = outgoing_headers(request.headers)
        length = body_length(request.method, request.headers, request.body)
        if target.scheme == "https":
            key = _OriginKey(
                "https",
                target.host,
                target.port,
                request.verify_tls,
                tuple(request.ca_certificates),
            )
        else:
            key = _OriginKey("http", target.host, target.port, True, ())
        return cls(
            request,
            key,
            method,
            serialise_head(method, target, headers, length),
            length,
            replayable(request.method, request.headers, request.body),
        )


class _Started:
    """One exchange on an idle connection driven by callbacks (`UpstreamPool.start`): the
    head's future calls back instead of a task awaiting it. A stale connection is retried
    once on a fresh one, as `request` does, by a task."""

    def __init__(
        self,
        pool: UpstreamPool,
        origin: _Origin,
        connection: UpstreamConnection,
        prepared: _Prepared,
        deadline: float,
        on_done: Callable[[Response | UpstreamError], None],
    ) -> None:
        self._pool = pool
        self._origin = origin
        self._connection = connection
        self._prepared = prepared
        self._deadline = deadline
        self._on_done: Callable[[Response | UpstreamError], None] | None = on_done
        self._retry: asyncio.Task[Response] | None = None
        head = connection.begin(prepared.method)
        self._timer = origin.loop.call_at(deadline, _head_timed_out, head)
        try:
            _write_whole(connection, prepared.head, prepared.request.body.buffered or b"")
        except BaseException:
            self._timer.cancel()
            origin.release(connection, False)
            raise
        head.add_done_callback(self._headed)

    def cancel(self) -> None:
        if self._on_done is None:
            return
        self._on_done = None
        self._timer.cancel()
        if self._retry is not None:
            self._retry.cancel()
        else:
            # The response will never be read: the connection cannot be reused.
            self._connection.close()

    def _headed(self, head: asyncio.Future[tuple[int, Headers]]) -> None:
        self._timer.cancel()
        on_done = self._on_done
        if on_done is None:
            return
        connection, origin = self._connection, self._origin
        error = head.exception() if not head.cancelled() else UpstreamProtocolError("cancelled")
        if error is None:
            self._on_done = None
            status, headers = head.result()
            on_done(Response(status, headers, body_of(connection, origin.release)))
            return
        origin.release(connection, False)
        if isinstance(error, StaleConnection) and self._prepared.retry:
            # Once, on a new connection: the other idle ones may be as stale.
            self._retry = asyncio.get_running_loop().create_task(
                self._pool._request(self._prepared, self._deadline, fresh=True)
            )
            self._retry.add_done_callback(self._retried)
            return
        self._on_done = None
        if isinstance(error, StaleConnection):
            error = _not_replayed()
        if not isinstance(error, UpstreamError):
            raise error
        on_done(error)

    def _retried(self, task: asyncio.Task[Response]) -> None:
        on_done, self._on_done = self._on_done, None
        if on_done is None or task.cancelled():
            return
        error = task.exception()
        if error is None:
            on_done(task.result())
        elif isinstance(error, UpstreamError):
            on_done(error)
        else:
            raise error


def _write_whole(connection: UpstreamConnection, head: bytearray, body: bytes) -> None:
    """A request whose body is in memory: one write when it is small, no copy when not."""
    if len(body) <= _COALESCE_LIMIT:
        connection.write(head + body)
    else:
        connection.write(head)
        connection.write(body)


def _not_replayed() -> UpstreamProtocolError:
    """A stale connection's failure for a request that may not be sent again."""
    return UpstreamProtocolError("backend closed the connection before responding")


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a discarded task's outcome as seen: the caller already has the error that matters."""
    if not task.cancelled():
        task.exception()


def _connect_error(exc: OSError | None) -> UpstreamConnectError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return UpstreamConnectError("backend TLS certificate not trusted")
    if isinstance(exc, ssl.SSLError):
        return UpstreamConnectError("TLS handshake with the backend failed")
    if isinstance(exc, socket.gaierror):
        return UpstreamConnectError("backend host name did not resolve")
    return UpstreamConnectError("cannot connect to the backend")
