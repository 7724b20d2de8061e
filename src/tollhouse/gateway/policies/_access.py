"""Access-control policies: check-header, ip-filter, cors.

A refusal is a `PolicyRuntimeError` carrying APIM's response, so `on-error` sees it in
`context.LastError` (Source = the policy) and may replace the response, as in APIM.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from ._document import Element
from ._errors import PolicyRuntimeError
from ._execute import PolicyContext, PolicyResponse, apim_error, header_values
from ._registry import CompileContext, Registry
from ._values import ValueSource

Address = IPv4Address | IPv6Address


@dataclass(frozen=True)
class _CheckHeader:
    name: ValueSource
    status: int
    message: ValueSource
    ignore_case: bool
    values: tuple[ValueSource, ...]

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        present = header_values(ctx.request.headers, self.name.evaluate(ctx))
        if not present:
            self._fail(ctx, "HeaderNotFound")
        if self.values:
            allowed = {v.evaluate(ctx) for v in self.values}
            if self.ignore_case:
                allowed = {v.lower() for v in allowed}
            # Each comma-separated value of each field line counts (RFC 9110 §5.3).
            got = [p.strip() for line in present for p in line.split(",")]
            if self.ignore_case:
                got = [v.lower() for v in got]
            if not any(v in allowed for v in got):
                self._fail(ctx, "HeaderValueNotAllowed")
        return None

    def _fail(self, ctx: PolicyContext, reason: str) -> None:
        message = self.message.evaluate(ctx)
        raise PolicyRuntimeError(
            "check-header", reason, message, response=apim_error(self.status, message)
        )


def compile_check_header(element: Element, cctx: CompileContext) -> _CheckHeader:
    required = ("name", "failed-check-httpcode", "failed-check-error-message", "ignore-case")
    cctx.check_attributes(element, required, required=required)
    cctx.check_children(element, ("value",))
    code = element.attributes["failed-check-httpcode"]
    if not code.isdigit() or not 100 <= int(code) <= 599:
        raise cctx.error(element, "<check-header>: failed-check-httpcode is not an HTTP status")
    ignore_case = element.attributes["ignore-case"].lower()
    if ignore_case not in ("true", "false"):
        raise cctx.error(element, "<check-header>: ignore-case must be true or false")
    return _CheckHeader(
        cctx.value(element, element.attributes["name"]),
        int(code),
        cctx.value(element, element.attributes["failed-check-error-message"]),
        ignore_case == "true",
        tuple(cctx.value(v, v.text) for v in element.children),
    )


@dataclass(frozen=True)
class _IpFilter:
    allow: bool
    addresses: frozenset[Address]
    ranges: tuple[tuple[Address, Address], ...]

    def listed(self, address: Address) -> bool:
        if address in self.addresses:
            return True
        return any(
            low.version == address.version and low <= address <= high  # type: ignore[operator]
            for low, high in self.ranges
        )

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        try:
            address: Address | None = ip_address(ctx.request.client_ip)
        except ValueError:
            address = None
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address is not None and self.listed(address) == self.allow:
            return None
        raise PolicyRuntimeError(
            "ip-filter",
            "CallerIpNotAllowed",
            f"Caller IP address {ctx.request.client_ip} is not allowed. Access denied.",
            response=apim_error(403, "Forbidden"),
        )


def compile_ip_filter(element: Element, cctx: CompileContext) -> _IpFilter:
    cctx.check_attributes(element, ("action",), required=("action",))
    cctx.check_children(element, ("address", "address-range"))
    action = element.attributes["action"]
    if action not in ("allow", "forbid"):
        raise cctx.error(element, "<ip-filter>: action must be allow or forbid")
    if not element.children:
        raise cctx.error(element, "<ip-filter> needs at least one address or address-range")
    addresses: set[Address] = set()
    ranges: list[tuple[Address, Address]] = []
    for child in element.children:
        try:
            if child.name == "address":
                cctx.check_attributes(child, ())
                addresses.add(ip_address(child.text.strip()))
                continue
            cctx.check_attributes(child, ("from", "to"), required=("from", "to"))
            low = ip_address(child.attributes["from"])
            high = ip_address(child.attributes["to"])
        except ValueError:
            raise cctx.error(child, f"<{child.name}>: not an IP address") from None
        if low.version != high.version or low > high:  # type: ignore[operator]
            raise cctx.error(child, "<address-range>: from and to are not an ascending range")
        ranges.append((low, high))
    return _IpFilter(action == "allow", frozenset(addresses), tuple(ranges))


@dataclass(frozen=True)
class _Cors:
    origins: frozenset[str]  # lower-case; "*" for any
    methods: frozenset[str]  # upper-case; "*" for any
    headers: frozenset[str]  # lower-case; "*" for any
    expose: tuple[str, ...]
    credentials: bool
    max_age: int | None
    terminate_unmatched: bool

    def _origin_allowed(self, origin: str) -> bool:
        return "*" in self.origins or origin.lower() in self.origins

    def _allow_origin(self, origin: str) -> str:
        # Fetch standard: a credentialed response may not use "*"; echo the origin.
        return "*" if "*" in self.origins and not self.credentials else origin

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        origins = header_values(ctx.request.headers, "origin")
        if not origins:
            return None
        origin = origins[0]
        requested = header_values(ctx.request.headers, "access-control-request-method")
        if ctx.request.method == "OPTIONS" and requested:
            return self._preflight(ctx, origin, requested[0])
        if not self._origin_allowed(origin):
            if self.terminate_unmatched and ctx.request.method in ("GET", "HEAD"):
                # APIM cors, terminate-unmatched-request: an unmatched simple cross-origin
                # request ends "with an empty 200 OK response"; false lets it through.
                return PolicyResponse(200)
            return None
        ctx.final_headers.append(("Access-Control-Allow-Origin", self._allow_origin(origin)))
        if self.credentials:
            ctx.final_headers.append(("Access-Control-Allow-Credentials", "true"))
        if self.expose:
            ctx.final_headers.append(("Access-Control-Expose-Headers", ",".join(self.expose)))
        if "*" not in self.origins or self.credentials:
            ctx.final_headers.append(("Vary", "Origin"))
        return None

    def _preflight(self, ctx: PolicyContext, origin: str, method: str) -> PolicyResponse | None:
        wanted = [
            h.strip().lower()
            for line in header_values(ctx.request.headers, "access-control-request-headers")
            for h in line.split(",")
            if h.strip()
        ]
        matched = (
            self._origin_allowed(origin)
            and ("*" in self.methods or method.upper() in self.methods)
            and ("*" in self.headers or all(h in self.headers for h in wanted))
        )
        if not matched:
            # APIM terminate-unmatched-request: an unmatched preflight ends with an empty 200
            # (the browser then refuses). With false APIM first tries the other cors policies
            # of the inbound section; that fallback is not implemented, so it ends the same.
            return PolicyResponse(200)
        headers = [("Access-Control-Allow-Origin", self._allow_origin(origin))]
        headers.append(("Access-Control-Allow-Methods", method.upper()))
        if wanted:
            headers.append(("Access-Control-Allow-Headers", ",".join(wanted)))
        if self.credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        if self.max_age is not None:
            headers.append(("Access-Control-Max-Age", str(self.max_age)))
        headers.append(("Vary", "Origin"))
        return PolicyResponse(200, headers=headers)


def _items(parent: Element | None, child: str, cctx: CompileContext) -> list[str]:
    if parent is None:
        return []
    cctx.check_children(parent, (child,))
    return [c.text.strip() for c in parent.children if c.text.strip()]


def compile_cors(element: Element, cctx: CompileContext) -> _Cors:
    cctx.check_attributes(element, ("allow-credentials", "terminate-unmatched-request"))
    cctx.check_children(
        element, ("allowed-origins", "allowed-methods", "allowed-headers", "expose-headers")
    )

    def only(name: str) -> Element | None:
        found = element.children_named(name)
        if len(found) > 1:
            raise cctx.error(found[1], f"<cors>: <{name}> appears more than once")
        return found[0] if found else None

    def flag(name: str, default: bool) -> bool:
        text = element.attributes.get(name, str(default)).lower()
        if text not in ("true", "false"):
            raise cctx.error(element, f"<cors>: {name} must be true or false")
        return text == "true"

    origins_element = only("allowed-origins")
    if origins_element is None:
        raise cctx.error(element, "<cors>: <allowed-origins> is required")
    origins = frozenset(o.lower() for o in _items(origins_element, "origin", cctx))
    if not origins:
        raise cctx.error(origins_element, "<cors>: no <origin> is allowed")
    credentials = flag("allow-credentials", False)
    if credentials and "*" in origins:
        # APIM refuses this combination when the policy is saved.
        raise cctx.error(element, "<cors>: allow-credentials cannot be used with origin *")
    methods_element = only("allowed-methods")
    max_age: int | None = None
    if methods_element is not None:
        cctx.check_attributes(methods_element, ("preflight-result-max-age",))
        age = methods_element.attributes.get("preflight-result-max-age")
        if age is not None:
            if not age.isdigit():
                raise cctx.error(methods_element, "preflight-result-max-age is not a number")
            max_age = int(age)
    # APIM: without <allowed-methods>, GET and POST are allowed.
    methods = _items(methods_element, "method", cctx) if methods_element else ["GET", "POST"]
    return _Cors(
        origins=origins,
        methods=frozenset(m.upper() for m in methods),
        headers=frozenset(h.lower() for h in _items(only("allowed-headers"), "header", cctx)),
        expose=tuple(_items(only("expose-headers"), "header", cctx)),
        credentials=credentials,
        max_age=max_age,
        terminate_unmatched=flag("terminate-unmatched-request", True),
    )


def register(registry: Registry) -> None:
    registry.register("check-header", compile_check_header, ("inbound",))
    registry.register("ip-filter", compile_ip_filter, ("inbound",))
    registry.register("cors", compile_cors, ("inbound",))
