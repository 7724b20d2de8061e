"""Transformation policies: set-header, set-query-parameter, set-method, set-status,
set-variable, set-body, rewrite-uri, set-backend-service (APIM "Transformation" and "Routing"
policy references)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from tollhouse.gateway.http import Body

from ._document import Element
from ._errors import PolicyRuntimeError
from ._execute import HeaderPairs, PolicyContext, PolicyResponse, parse_query
from ._registry import CompileContext, Registry
from ._values import ValueSource, is_expression

EXISTS_ACTIONS = ("override", "skip", "append", "delete")


def _values(element: Element, cctx: CompileContext) -> tuple[ValueSource, ...]:
    cctx.check_children(element, ("value",))
    return tuple(cctx.value(v, v.text) for v in element.children)


def _exists_action(element: Element, cctx: CompileContext) -> str:
    action = element.attributes.get("exists-action", "override")
    if action not in EXISTS_ACTIONS:
        raise cctx.error(
            element, f"<{element.name}>: exists-action must be one of {', '.join(EXISTS_ACTIONS)}"
        )
    return action


def _apply(
    pairs: HeaderPairs, name: str, action: str, values: list[str], *, ignore_case: bool
) -> None:
    folded = name.lower()
    kept = [(k, v) for k, v in pairs if (k.lower() != folded if ignore_case else k != name)]
    exists = len(kept) != len(pairs)
    if action == "skip" and exists:
        return
    if action in ("override", "delete"):
        pairs[:] = kept
    if action != "delete":
        pairs.extend((name, v) for v in values)


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 §5.6.2 token
# RFC 9110 §5.5: field values never carry CR, LF or NUL (they would split the message).
_FIELD_VALUE = re.compile(r"^[^\r\n\x00]*$")


def _check_header(name: str, values: list[str]) -> None:
    if not _TOKEN.match(name) or not all(_FIELD_VALUE.match(v) for v in values):
        raise PolicyRuntimeError(
            "set-header", "InvalidHeader", "header name or value not allowed in HTTP"
        )


@dataclass(frozen=True)
class _SetPairs:
    name: ValueSource
    action: str
    values: tuple[ValueSource, ...]
    query: bool
    on_response: bool

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        name = self.name.evaluate(ctx)
        values = [v.evaluate(ctx) for v in self.values]
        if self.query:
            # Query parameter names are case-sensitive; header names are not (RFC 9110 §5.1).
            _apply(ctx.request.query, name, self.action, values, ignore_case=False)
        elif self.on_response:
            _check_header(name, values)
            _apply(ctx.response.headers, name, self.action, values, ignore_case=True)
        else:
            _check_header(name, values)
            _apply(ctx.request.headers, name, self.action, values, ignore_case=True)
        return None


def compile_set_header(element: Element, cctx: CompileContext) -> _SetPairs:
    cctx.check_attributes(element, ("name", "exists-action"), required=("name",))
    name = element.attributes["name"]
    if not name.startswith("@") and not _TOKEN.match(name):
        raise cctx.error(element, f"<set-header>: '{name}' is not a header name")
    for value in element.children:
        # An expression may span lines; what it evaluates to is checked when it runs.
        if not is_expression(value.text) and not _FIELD_VALUE.match(value.text):
            raise cctx.error(value, "<set-header>: a header value cannot contain CR, LF or NUL")
    return _SetPairs(
        cctx.value(element, element.attributes["name"]),
        _exists_action(element, cctx),
        _values(element, cctx),
        query=False,
        on_response=cctx.targets_response,
    )


def compile_set_query_parameter(element: Element, cctx: CompileContext) -> _SetPairs:
    cctx.check_attributes(element, ("name", "exists-action"), required=("name",))
    return _SetPairs(
        cctx.value(element, element.attributes["name"]),
        _exists_action(element, cctx),
        _values(element, cctx),
        query=True,
        on_response=False,
    )


@dataclass(frozen=True)
class _SetMethod:
    method: ValueSource

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        method = self.method.evaluate(ctx).strip()
        if not _TOKEN.match(method):
            raise PolicyRuntimeError("set-method", "InvalidMethod", "not an HTTP method")
        ctx.request.method = method.upper()
        return None


def compile_set_method(element: Element, cctx: CompileContext) -> _SetMethod:
    cctx.check_attributes(element, ())
    cctx.check_children(element, ())
    if not element.text.strip():
        raise cctx.error(element, "<set-method> needs a method")
    return _SetMethod(cctx.value(element, element.text.strip()))


@dataclass(frozen=True)
class _SetStatus:
    code: ValueSource
    reason: ValueSource | None

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        code = self.code.evaluate(ctx)
        if not code.isdigit() or not 100 <= int(code) <= 599:
            raise PolicyRuntimeError("set-status", "InvalidStatusCode", "not an HTTP status code")
        ctx.response.status = int(code)
        ctx.response.reason = self.reason.evaluate(ctx) if self.reason is not None else ""
        return None


def compile_set_status(element: Element, cctx: CompileContext) -> _SetStatus:
    cctx.check_attributes(element, ("code", "reason"), required=("code",))
    cctx.check_children(element, ())
    code = element.attributes["code"]
    if not code.startswith("@") and not (code.isdigit() and 100 <= int(code) <= 599):
        raise cctx.error(element, f"<set-status>: code '{code}' is not an HTTP status code")
    reason = element.attributes.get("reason")
    return _SetStatus(
        cctx.value(element, code), cctx.value(element, reason) if reason is not None else None
    )


@dataclass(frozen=True)
class _SetVariable:
    name: str
    value: ValueSource

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        # APIM set-variable: a literal is a string; an expression keeps its type (int, bool,
        # JObject, …) for the expressions that read the variable.
        ctx.variables[self.name] = self.value.typed(ctx)
        return None


def compile_set_variable(element: Element, cctx: CompileContext) -> _SetVariable:
    cctx.check_attributes(element, ("name", "value"), required=("name", "value"))
    cctx.check_children(element, ())
    return _SetVariable(
        element.attributes["name"], cctx.value(element, element.attributes["value"])
    )


@dataclass(frozen=True)
class _SetBody:
    text: ValueSource
    on_response: bool

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        body = Body(data=self.text.evaluate(ctx).encode("utf-8"))
        if self.on_response:
            ctx.response.body = body
        else:
            ctx.request.body = body
        return None


def compile_set_body(element: Element, cctx: CompileContext) -> _SetBody:
    # template="liquid" and xsi-nil are not implemented: refused rather than ignored.
    cctx.check_attributes(element, ())
    cctx.check_children(element, ())
    return _SetBody(cctx.value(element, element.text), cctx.targets_response)


_PARAMETER = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class _RewriteUri:
    template: ValueSource
    copy_unmatched: bool

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        template = self.template.evaluate(ctx)
        params = ctx.request.matched_parameters
        used: set[str] = set()

        def fill(match: re.Match[str], *, in_query: bool) -> str:
            name = match.group(1)
            key = name.lstrip("*")
            value = params.get(name, params.get(key))
            if value is None:
                raise PolicyRuntimeError(
                    "rewrite-uri", "TemplateParameterNotFound", f"no parameter '{key}' to fill"
                )
            used.add(key)
            # A wildcard parameter ({*rest}) keeps its slashes.
            return quote(value, safe="/" if name.startswith("*") and not in_query else "")

        path, _, query = template.partition("?")
        path = _PARAMETER.sub(lambda m: fill(m, in_query=False), path)
        pairs = [
            (k, _PARAMETER.sub(lambda m: fill(m, in_query=True), v)) for k, v in parse_query(query)
        ]
        if self.copy_unmatched:
            # Parameters the operation's template did not match travel on unchanged.
            named = {k for k, _ in pairs}
            pairs.extend(
                (k, v)
                for k, v in ctx.request.query
                if k not in params and k not in used and k not in named
            )
        ctx.request.path = path if path.startswith("/") else "/" + path
        ctx.request.query = pairs
        return None


def compile_rewrite_uri(element: Element, cctx: CompileContext) -> _RewriteUri:
    cctx.check_attributes(element, ("template", "copy-unmatched-params"), required=("template",))
    cctx.check_children(element, ())
    return _RewriteUri(
        cctx.value(element, element.attributes["template"]),
        _boolean(element, cctx, "copy-unmatched-params", default=True),
    )


def _boolean(element: Element, cctx: CompileContext, name: str, *, default: bool) -> bool:
    text = element.attributes.get(name)
    if text is None:
        return default
    if text.lower() not in ("true", "false"):
        raise cctx.error(element, f"<{element.name}>: {name} must be true or false")
    return text.lower() == "true"


@dataclass(frozen=True)
class _SetBackendService:
    base_url: ValueSource

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        url = self.base_url.evaluate(ctx)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PolicyRuntimeError(
                "set-backend-service", "InvalidBackendUrl", "base-url is not an http(s) URL"
            )
        ctx.backend_url = url
        return None


def compile_set_backend_service(element: Element, cctx: CompileContext) -> _SetBackendService:
    # backend-id and the Dapr attributes are not implemented: refused rather than ignored.
    cctx.check_attributes(element, ("base-url",), required=("base-url",))
    cctx.check_children(element, ())
    url = element.attributes["base-url"]
    if not url.startswith("@"):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise cctx.error(element, "<set-backend-service>: base-url is not an http(s) URL")
    return _SetBackendService(cctx.value(element, url))


def register(registry: Registry) -> None:
    registry.register("set-header", compile_set_header)
    registry.register("set-query-parameter", compile_set_query_parameter, ("inbound", "backend"))
    registry.register("set-method", compile_set_method, ("inbound", "on-error"))
    registry.register("set-status", compile_set_status)
    registry.register("set-variable", compile_set_variable)
    registry.register("set-body", compile_set_body)
    registry.register("rewrite-uri", compile_rewrite_uri, ("inbound",))
    registry.register("set-backend-service", compile_set_backend_service, ("inbound", "backend"))
