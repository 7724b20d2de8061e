"""Policies: send-request, send-one-way-request (APIM "Integration and logging"; the
send-request-policy and send-one-way-request-policy references).

Both build an `OutgoingCall` from the policy's children and hand it to the pipeline
(`PolicyContext.call` / `call_one_way`): no I/O here. send-request waits for the answer and
stores it, read into memory, in `context.Variables[response-variable-name]` as an `IResponse`
(`StatusCode`, `StatusReason`, `Headers`, `Body.As<T>()`). send-one-way-request does not wait:
`OneWayCalls` runs it in the background, bounded per gateway, and only logs how it ended.

Children that would need a security feature Tollhouse does not have (client certificates,
managed identity, an HTTP proxy) are refused at compile time rather than ignored: a call
silently made without its credentials is worse than no call.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

from tollhouse.gateway.http import UpstreamError, UpstreamRequestError, UpstreamTimeout

# The defaults of this module's operator limits (`PolicyLimits`, `policies.send-*`).
from ._capacity import MAX_COPIED_BODY_BYTES as MAX_COPIED_BODY_BYTES
from ._capacity import MAX_ONE_WAY_IN_FLIGHT as MAX_ONE_WAY_IN_FLIGHT
from ._capacity import MAX_RESPONSE_BODY_BYTES as MAX_RESPONSE_BODY_BYTES
from ._document import Element
from ._errors import PolicyRuntimeError
from ._execute import Call, HeaderPairs, OutgoingCall, PolicyContext, PolicyResponse
from ._http import backend_target
from ._registry import CompileContext, Registry
from ._transformation import (
    _TOKEN,
    _apply,
    _boolean,
    _check_header,
    _SetPairs,
    compile_set_body,
    compile_set_header,
    compile_set_method,
)
from ._values import ValueSource, is_expression

log = logging.getLogger("tollhouse.gateway.policies")

SEND_REQUEST = "send-request"
SEND_ONE_WAY = "send-one-way-request"
# APIM: timeout "The timeout interval in seconds before the call to the URL fails", default 60.
DEFAULT_TIMEOUT_SECONDS = 60
# No outgoing call outlives forward-request's own default timeout (300 s).
MAX_TIMEOUT_SECONDS = 300

# Children whose implementation would be a security feature we do not have.
_REFUSED_CHILDREN = {
    "authentication-certificate": "client certificates for outgoing calls are not supported",
    "authentication-managed-identity": "managed identity tokens are not supported",
    "proxy": "HTTP proxies are not supported",
}
_MODES = ("new", "copy")
# Body.As<T>: what a response body can be read as; JObject/JArray/JToken parse the text.
_TEXT_TYPES = frozenset({"string", "String", "JObject", "JArray", "JToken"})


class _ResponseBody:
    """`IResponse.Body`: APIM's IMessageBody over bytes already in memory."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def As(self, type_name: str, preserveContent: bool = False) -> object:
        if type_name not in _TEXT_TYPES:
            raise ValueError(f"Body.As<{type_name}> is not supported")
        data = self._data
        if not preserveContent:
            # APIM: without preserveContent the body is consumed; a later read gets nothing.
            self._data = b""
        return data.decode("utf-8", errors="replace")


class ResponseObject:
    """What send-request stores: APIM's `IResponse`."""

    # The C# types expressions may cast this to: `(IResponse)context.Variables["r"]`.
    csharp_types = frozenset({"IResponse"})

    def __init__(self, status: int, reason: str, headers: HeaderPairs, body: bytes) -> None:
        self.StatusCode = status
        self.StatusReason = reason or _phrase(status)
        grouped: dict[str, list[str]] = {}
        for name, value in headers:
            grouped.setdefault(name, []).append(value)
        self.Headers = grouped
        self.Body = _ResponseBody(body)

    def __repr__(self) -> str:  # never the headers or the body
        return f"IResponse(StatusCode={self.StatusCode})"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class _CallFailed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


async def _exchange(
    call: Call, outgoing: OutgoingCall, max_body: int
) -> tuple[PolicyResponse, bytes]:
    """The answer to `outgoing` with its body (at most `max_body` bytes) in memory, within
    the call's timeout."""
    try:
        async with asyncio.timeout(outgoing.timeout):
            answer = await call(outgoing)
            try:
                data = await answer.body.read(limit=max_body)
            except ValueError:
                raise _CallFailed(
                    "ResponseBodyTooLarge",
                    f"the response body is larger than {max_body} bytes",
                ) from None
    except (UpstreamTimeout, TimeoutError):
        raise _CallFailed("Timeout", "no complete response within the timeout") from None
    except UpstreamRequestError as exc:
        raise _CallFailed("InvalidRequest", exc.reason) from None
    except UpstreamError as exc:
        # UpstreamError reasons are fixed phrases: never the URL, headers or backend text.
        raise _CallFailed("BackendConnectionFailure", exc.reason) from None
    return answer, data


def _http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _where(url: str) -> str:
    """The scheme, host and port of `url`, for logs: path, query and user info may carry
    secrets."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}"
    except ValueError:
        return "(invalid URL)"


@dataclass(frozen=True)
class _Outgoing:
    """The request a send-request or send-one-way-request makes, compiled."""

    source: str
    mode: ValueSource
    url: ValueSource | None
    method: ValueSource | None
    headers: tuple[_SetPairs, ...]
    body: ValueSource | None
    timeout: ValueSource
    # APIM: "In the outbound policy section, mode=copy does not initialize the request body."
    copy_body: bool
    # The client's body copied by mode="copy" (`policies.send-request.maxCopiedBodySize`).
    max_copied_body: int = MAX_COPIED_BODY_BYTES

    async def build(self, ctx: PolicyContext) -> OutgoingCall:
        mode = self.mode.evaluate(ctx).strip().lower()
        if mode not in _MODES:
            raise PolicyRuntimeError(self.source, "InvalidMode", "mode must be new or copy")
        method, url, headers, body = "GET", "", [], b""
        if mode == "copy":
            # A copy of the current request goes where forward-request would send it.
            method = ctx.request.method
            headers = list(ctx.request.headers)
            if ctx.backend_url:
                url = backend_target(ctx.backend_url, ctx.request, "")
            if self.copy_body:
                body = await self._client_body(ctx)
        if self.url is not None:
            url = self.url.evaluate(ctx).strip()
        if not url:
            raise PolicyRuntimeError(self.source, "InvalidUrl", "the request has no URL")
        if not _http_url(url):
            # Not the URL itself in the message: it may carry secrets.
            raise PolicyRuntimeError(self.source, "InvalidUrl", "the URL is not an http(s) URL")
        if self.method is not None:
            method = self.method.evaluate(ctx).strip().upper()
            if not _TOKEN.match(method):
                raise PolicyRuntimeError(self.source, "InvalidMethod", "not an HTTP method")
        for header in self.headers:
            name = header.name.evaluate(ctx)
            values = [v.evaluate(ctx) for v in header.values]
            _check_header(name, values)
            _apply(headers, name, header.action, values, ignore_case=True)
        if self.body is not None:
            body = self.body.evaluate(ctx).encode("utf-8")
        return OutgoingCall(method, url, tuple(headers), body, self._timeout(ctx))

    async def _client_body(self, ctx: PolicyContext) -> bytes:
        try:
            # Read into memory and kept there, so forward-request still sends it.
            return await ctx.request.body.read(limit=self.max_copied_body)
        except ValueError:
            raise PolicyRuntimeError(
                self.source,
                "RequestBodyTooLarge",
                f"the request body to copy is larger than {self.max_copied_body} bytes",
            ) from None

    def _timeout(self, ctx: PolicyContext) -> float:
        text = self.timeout.evaluate(ctx).strip()
        if not text.isdigit() or not 1 <= int(text) <= MAX_TIMEOUT_SECONDS:
            raise PolicyRuntimeError(
                self.source,
                "InvalidTimeout",
                f"timeout must be whole seconds from 1 to {MAX_TIMEOUT_SECONDS}",
            )
        return float(text)


def _compile_outgoing(element: Element, cctx: CompileContext) -> _Outgoing:
    policy = element.name
    for child in element.children:
        reason = _REFUSED_CHILDREN.get(child.name)
        if reason is not None:
            raise cctx.error(child, f"<{policy}>: <{child.name}> cannot be used: {reason}")
    cctx.check_children(element, ("set-url", "set-method", "set-header", "set-body"))
    seen: set[str] = set()
    url: ValueSource | None = None
    method: ValueSource | None = None
    body: ValueSource | None = None
    headers: list[_SetPairs] = []
    for child in element.children:
        if child.name != "set-header":
            if child.name in seen:
                raise cctx.error(child, f"<{policy}>: <{child.name}> appears more than once")
            seen.add(child.name)
        if child.name == "set-url":
            url = _compile_url(child, cctx)
        elif child.name == "set-method":
            method = compile_set_method(child, cctx).method
        elif child.name == "set-body":
            body = compile_set_body(child, cctx).text
        else:
            headers.append(compile_set_header(child, cctx))

    mode = element.attributes.get("mode", "new")
    if not is_expression(mode) and mode.strip().lower() not in _MODES:
        raise cctx.error(element, f"<{policy}>: mode must be new or copy")
    # APIM: set-url and set-method are required unless mode=copy. A missing set-method is
    # accepted as GET; a missing URL has nothing to stand for it.
    if url is None and not is_expression(mode) and mode.strip().lower() == "new":
        raise cctx.error(element, f"<{policy}>: mode new needs <set-url>")

    timeout = element.attributes.get("timeout", str(DEFAULT_TIMEOUT_SECONDS))
    if not is_expression(timeout):
        text = timeout.strip()
        if not text.isdigit() or not 1 <= int(text) <= MAX_TIMEOUT_SECONDS:
            raise cctx.error(
                element,
                f"<{policy}>: timeout must be whole seconds from 1 to {MAX_TIMEOUT_SECONDS}",
            )
    return _Outgoing(
        source=policy,
        mode=cctx.value(element, mode),
        url=url,
        method=method,
        headers=tuple(headers),
        body=body,
        timeout=cctx.value(element, timeout),
        copy_body=cctx.section in ("inbound", "backend"),
        max_copied_body=cctx.limits.max_copied_body,
    )


def _compile_url(element: Element, cctx: CompileContext) -> ValueSource:
    cctx.check_attributes(element, ())
    cctx.check_children(element, ())
    text = element.text.strip()
    if not text:
        raise cctx.error(element, "<set-url> needs a URL")
    if not is_expression(text) and not _http_url(text):
        raise cctx.error(element, "<set-url>: not an http(s) URL with a host")
    return cctx.value(element, text)


@dataclass(frozen=True)
class _SendRequest:
    request: _Outgoing
    variable: ValueSource
    ignore_error: bool
    # `policies.send-request.maxResponseBodySize`.
    max_response_body: int = MAX_RESPONSE_BODY_BYTES

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        name = self.variable.evaluate(ctx)
        if not name:
            raise PolicyRuntimeError(
                SEND_REQUEST, "InvalidVariableName", "response-variable-name is empty"
            )
        outgoing = await self.request.build(ctx)
        if ctx.call is None:
            raise PolicyRuntimeError(
                SEND_REQUEST, "NotAvailable", "this gateway cannot make outgoing calls"
            )
        try:
            answer, data = await _exchange(ctx.call, outgoing, self.max_response_body)
        except _CallFailed as failed:
            log.info("send-request to %s failed: %s", _where(outgoing.url), failed.message)
            if self.ignore_error:
                # APIM ignore-error: "the response variable will contain a null value".
                ctx.variables[name] = None
                return None
            raise PolicyRuntimeError(SEND_REQUEST, failed.reason, failed.message) from None
        ctx.variables[name] = ResponseObject(answer.status, answer.reason, answer.headers, data)
        return None


def compile_send_request(element: Element, cctx: CompileContext) -> _SendRequest:
    cctx.check_attributes(
        element,
        ("mode", "response-variable-name", "timeout", "ignore-error"),
        required=("response-variable-name",),
    )
    variable = element.attributes["response-variable-name"]
    if not variable.strip():
        raise cctx.error(element, "<send-request>: response-variable-name is empty")
    return _SendRequest(
        request=_compile_outgoing(element, cctx),
        variable=cctx.value(element, variable),
        # APIM: ignore-error does not take expressions.
        ignore_error=_boolean(element, cctx, "ignore-error", default=False),
        max_response_body=cctx.limits.max_send_response_body,
    )


@dataclass(frozen=True)
class _SendOneWayRequest:
    request: _Outgoing

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        outgoing = await self.request.build(ctx)
        # APIM: "sends the provided request to the specified URL without waiting for a
        # response". What becomes of it never affects this request.
        if ctx.call_one_way is None:
            log.warning("send-one-way-request to %s dropped: no way out", _where(outgoing.url))
            return None
        ctx.call_one_way(outgoing)
        return None


def compile_send_one_way_request(element: Element, cctx: CompileContext) -> _SendOneWayRequest:
    cctx.check_attributes(element, ("mode", "timeout"))
    return _SendOneWayRequest(_compile_outgoing(element, cctx))


class OneWayCalls:
    """One gateway's send-one-way-request calls in flight, at most `limit` at a time
    (`policies.send-one-way-request.maxInFlight`), each answer's body read up to
    `max_response_body` (`policies.send-request.maxResponseBodySize`) and thrown away.

    `submit` starts a call and returns at once; its outcome is only logged (method, scheme,
    host and port, and a fixed reason: never the path, query, headers or body). `close`
    cancels what is still running, so stopping a gateway never waits for them.
    """

    def __init__(
        self,
        call: Call,
        *,
        limit: int = MAX_ONE_WAY_IN_FLIGHT,
        max_response_body: int = MAX_RESPONSE_BODY_BYTES,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if max_response_body < 1:
            raise ValueError("max_response_body must be at least 1")
        self._call = call
        self.limit = limit
        self.max_response_body = max_response_body
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def submit(self, outgoing: OutgoingCall) -> bool:
        """Start `outgoing`; False (and a log line) when the cap is reached and it is dropped."""
        if len(self._tasks) >= self.limit:
            log.warning(
                "send-one-way-request %s %s dropped: %d calls already in flight",
                outgoing.method,
                _where(outgoing.url),
                len(self._tasks),
            )
            return False
        task = asyncio.get_running_loop().create_task(self._run(outgoing))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(self, outgoing: OutgoingCall) -> None:
        try:
            answer, _ = await _exchange(self._call, outgoing, self.max_response_body)
        except _CallFailed as failed:
            log.warning(
                "send-one-way-request %s %s failed: %s",
                outgoing.method,
                _where(outgoing.url),
                failed.message,
            )
            return
        except Exception as exc:  # a background call must never end in an unseen error
            log.warning(
                "send-one-way-request %s %s failed: %s",
                outgoing.method,
                _where(outgoing.url),
                type(exc).__name__,
            )
            return
        log.debug(
            "send-one-way-request %s %s answered %d",
            outgoing.method,
            _where(outgoing.url),
            answer.status,
        )

    async def close(self) -> None:
        """Cancel the calls still in flight and wait until they have ended."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def register(registry: Registry) -> None:
    registry.register(SEND_REQUEST, compile_send_request)
    registry.register(SEND_ONE_WAY, compile_send_one_way_request)
