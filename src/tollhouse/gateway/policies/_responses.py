"""Policies that decide the response or the forwarding: return-response, mock-response,
forward-request."""

from __future__ import annotations

from dataclasses import dataclass, replace

from tollhouse.gateway.http import Body

from ._document import Element
from ._errors import PolicyRuntimeError
from ._execute import ForwardSettings, PolicyContext, PolicyResponse, Step, run_steps
from ._registry import CompileContext, Registry

# APIM forward-request: "timeout … Maximum value: 240 seconds" for the classic tiers; the
# self-hosted gateway accepts larger values, so the bound here is the pipeline's default.
MAX_FORWARD_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class _ReturnResponse:
    steps: tuple[Step, ...]

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        # A fresh response built by the children; the pipeline ends with it.
        building, ctx.response = ctx.response, PolicyResponse()
        try:
            await run_steps(self.steps, ctx)
            return ctx.response
        finally:
            ctx.response = building


def compile_return_response(element: Element, cctx: CompileContext) -> _ReturnResponse:
    # response-variable-name needs send-request's response objects: not implemented yet.
    cctx.check_attributes(element, ())
    cctx.check_children(element, ("set-status", "set-header", "set-body"))
    nested = replace(cctx, on_response=True)
    return _ReturnResponse(nested.steps(element.children, cctx.path))


@dataclass(frozen=True)
class _MockResponse:
    status: int
    content_type: str
    sample: bytes | None

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        if self.sample is None:
            return PolicyResponse(self.status)
        return PolicyResponse(
            self.status, headers=[("content-type", self.content_type)], body=Body(data=self.sample)
        )


def compile_mock_response(element: Element, cctx: CompileContext) -> _MockResponse:
    cctx.check_attributes(element, ("status-code", "content-type"))
    cctx.check_children(element, ())
    code = element.attributes.get("status-code", "200")
    if not code.isdigit() or not 100 <= int(code) <= 599:
        raise cctx.error(element, f"<mock-response>: status-code '{code}' is not an HTTP status")
    # APIM: status-code and content-type "select the corresponding example"; without a
    # content-type, application/json, else the status's first example; no example: no body.
    status = int(code)
    asked = element.attributes.get("content-type")
    content_type = (asked or "application/json").lower()
    sample = cctx.samples.get((status, content_type))
    if sample is None and asked is None:
        content_type, sample = next(
            ((ct, body) for (st, ct), body in cctx.samples.items() if st == status),
            (content_type, None),
        )
    return _MockResponse(status, content_type, sample)


@dataclass(frozen=True)
class _ForwardRequest:
    settings: ForwardSettings

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        ctx.forward = self.settings
        if ctx.send is None:
            raise PolicyRuntimeError("forward-request", "NoBackend", "nothing to forward to")
        # APIM: the backend's response becomes context.Response for what follows.
        ctx.response = await ctx.send(ctx)
        return None


def forward_settings(step: object) -> ForwardSettings | None:
    """The settings of a forward-request step; None for any other step."""
    return step.settings if isinstance(step, _ForwardRequest) else None


def compile_forward_request(element: Element, cctx: CompileContext) -> _ForwardRequest:
    # follow-redirects, buffer-response, fail-on-error-status-code and http-version are not
    # implemented: refused rather than ignored.
    cctx.check_attributes(element, ("timeout", "buffer-request-body"))
    cctx.check_children(element, ())
    timeout: float | None = None
    text = element.attributes.get("timeout")
    if text is not None:
        if not text.isdigit() or not 0 < int(text) <= MAX_FORWARD_TIMEOUT_SECONDS:
            raise cctx.error(
                element,
                f"<forward-request>: timeout must be 1 to {MAX_FORWARD_TIMEOUT_SECONDS} seconds",
            )
        timeout = float(text)
    buffer = element.attributes.get("buffer-request-body", "false").lower()
    if buffer not in ("true", "false"):
        raise cctx.error(element, "<forward-request>: buffer-request-body must be true or false")
    return _ForwardRequest(ForwardSettings(timeout, buffer == "true"))


def register(registry: Registry) -> None:
    registry.register("return-response", compile_return_response)
    registry.register("mock-response", compile_mock_response, ("inbound", "outbound", "on-error"))
    registry.register("forward-request", compile_forward_request, ("backend",))
