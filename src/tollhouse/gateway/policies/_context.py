"""The `context` policy expressions read (APIM's C# object model, C#-named attributes),
as a live view over the per-request `PolicyContext`.

One view serves every expression of a request (`expression_context`): its parts are built
when an expression first reads them, and those that policies can change (method, URL,
headers, status, body) are read from the `PolicyContext` at each access, so an expression
sees what earlier policies did, as in APIM.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator, Mapping
from functools import cached_property

from tollhouse.contracts import (
    ApiConfig,
    OperationConfig,
    ProductConfig,
    SubscriptionConfig,
    parse_instant,
)
from tollhouse.gateway.policies._execute import HeaderPairs, PolicyContext

# Body.As<T>: the .NET types a body can be read as; JObject/JArray/JToken parse the text.
_TEXT_TYPES = frozenset({"string", "String", "JObject", "JArray", "JToken"})
_BYTES_TYPES = frozenset({"byte[]", "Byte[]"})


class RequestFacts:
    """What the pipeline knows about one request that the policy context does not carry.
    The request id is made when first read: most requests never need one."""

    __slots__ = (
        "_request_id",
        "api",
        "gateway_id",
        "host",
        "operation",
        "product",
        "query",
        "received",
        "scheme",
        "service_name",
        "started",
        "subscription",
        "subscription_key",
    )

    def __init__(
        self,
        gateway_id: str,
        *,
        service_name: str = "",
        host: str = "",
        scheme: str = "https",
        request_id: str = "",
        started: float | None = None,
        received: float | None = None,
        query: str = "",
        api: ApiConfig | None = None,
        operation: OperationConfig | None = None,
        product: ProductConfig | None = None,
        subscription: SubscriptionConfig | None = None,
        subscription_key: str | None = None,
    ) -> None:
        self.gateway_id = gateway_id
        self.service_name = service_name
        self.host = host
        self.scheme = scheme
        self._request_id = request_id
        # perf_counter() at arrival, for Elapsed; time() at arrival, for Timestamp.
        self.started = time.perf_counter() if started is None else started
        self.received = time.time() if received is None else received
        # The query string as the client sent it (less the subscription key), forwarded
        # byte for byte unless a policy changes it.
        self.query = query
        self.api = api
        self.operation = operation
        self.product = product
        # The caller's subscription and the key it presented (context.Subscription.Key).
        self.subscription = subscription
        self.subscription_key = subscription_key

    @property
    def request_id(self) -> str:
        if not self._request_id:
            self._request_id = str(uuid.uuid4())
        return self._request_id

    @property
    def subscription_id(self) -> str | None:
        """The subscription rate-limit and quota count for."""
        return self.subscription.name if self.subscription is not None else None

    def __repr__(self) -> str:  # never the subscription key
        return f"RequestFacts(gateway_id={self.gateway_id!r}, request_id={self._request_id!r})"


def facts_of(ctx: PolicyContext) -> RequestFacts:
    if isinstance(ctx.facts, RequestFacts):
        return ctx.facts
    ctx.facts = RequestFacts(gateway_id="")
    return ctx.facts


def expression_context(ctx: PolicyContext) -> ExpressionContext:
    """The request's `context`, made on first use."""
    view = ctx.expression_view
    if not isinstance(view, ExpressionContext):
        view = ExpressionContext(ctx, facts_of(ctx))
        ctx.expression_view = view
    return view


def _multi(pairs: HeaderPairs) -> dict[str, list[str]]:
    """Query parameters: names are case-sensitive."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


class HeaderMap(Mapping[str, list[str]]):
    """Header fields as APIM's `IReadOnlyDictionary<string, string[]>`, read in place from the
    message's pairs (no copy per read): one entry per name whatever its case (RFC 9110 §5.1),
    under the case it was first seen in; lookups ignore case."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: HeaderPairs) -> None:
        self._pairs = pairs

    def __getitem__(self, name: str) -> list[str]:
        folded = name.lower()
        values = [v for k, v in self._pairs if k.lower() == folded]
        if not values:
            raise KeyError(name)
        return values

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        folded = name.lower()
        return any(k.lower() == folded for k, _ in self._pairs)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for name, _ in self._pairs:
            folded = name.lower()
            if folded not in seen:
                seen.add(folded)
                yield name

    def __len__(self) -> int:
        return len({k.lower() for k, _ in self._pairs})


class BodyView:
    """`context.Request.Body` / `context.Response.Body`. The gateway reads the body into
    memory before a policy whose expressions read it runs (`reads_body`)."""

    def __init__(self, ctx: PolicyContext, *, response: bool) -> None:
        self._ctx = ctx
        self._response = response

    def As(self, type_name: str, preserveContent: bool = False) -> object:
        message = self._ctx.response if self._response else self._ctx.request
        data = message.body.buffered
        if data is None:
            raise ValueError("the body was not read into memory before this expression ran")
        if not preserveContent:
            # APIM: without preserveContent the body is consumed; what follows (another read,
            # the backend, the caller) gets an empty body.
            message.body = type(message.body).empty()
        if type_name in _BYTES_TYPES:
            return data
        if type_name not in _TEXT_TYPES:
            raise ValueError(f"Body.As<{type_name}> is not supported")
        return data.decode("utf-8", errors="replace")


class UrlView:
    def __init__(self, ctx: PolicyContext, facts: RequestFacts) -> None:
        self._ctx = ctx
        self.Host = facts.host
        self.Scheme = facts.scheme
        self.Port = 443 if facts.scheme == "https" else 80

    @property
    def Path(self) -> str:
        return self._ctx.request.path

    @property
    def Query(self) -> dict[str, list[str]]:
        return _multi(self._ctx.request.query)

    @property
    def QueryString(self) -> str:
        return "&".join(f"{k}={v}" for k, v in self._ctx.request.query)

    def ToString(self) -> str:
        query = self.QueryString
        return f"{self.Scheme}://{self.Host}{self.Path}{'?' + query if query else ''}"


class RequestView:
    def __init__(self, ctx: PolicyContext, facts: RequestFacts) -> None:
        self._ctx = ctx
        self.Url = UrlView(ctx, facts)
        self.IpAddress = ctx.request.client_ip
        self.MatchedParameters = dict(ctx.request.matched_parameters)
        self.Body = BodyView(ctx, response=False)
        # Client certificates are not negotiated by this gateway.
        self.Certificate = None

    @property
    def Method(self) -> str:
        return self._ctx.request.method

    @property
    def Headers(self) -> HeaderMap:
        return HeaderMap(self._ctx.request.headers)

    @property
    def OriginalUrl(self) -> UrlView:
        return self.Url


class ResponseView:
    def __init__(self, ctx: PolicyContext) -> None:
        self._ctx = ctx
        self.Body = BodyView(ctx, response=True)

    @property
    def StatusCode(self) -> int:
        return self._ctx.response.status

    @property
    def StatusReason(self) -> str:
        return self._ctx.response.reason

    @property
    def Headers(self) -> HeaderMap:
        return HeaderMap(self._ctx.response.headers)


class ApiView:
    """APIM IApi."""

    def __init__(self, api: ApiConfig) -> None:
        self.Id = api.name
        self.Name = api.display_name
        self.Path = api.path
        self.Protocols = list(api.protocols)
        self.ServiceUrl = api.service_url
        self.Version = api.api_version
        self.Revision = api.api_revision
        self.IsCurrentRevision = api.is_current
        self.SubscriptionKeyParameterNames = _KeyNames(
            api.subscription_key_header, api.subscription_key_query
        )


class _KeyNames:
    def __init__(self, header: str, query: str) -> None:
        self.Header = header
        self.Query = query


class OperationView:
    """APIM IOperation."""

    def __init__(self, operation: OperationConfig) -> None:
        self.Id = operation.name
        self.Name = operation.display_name
        self.Method = operation.method
        self.UrlTemplate = operation.url_template


class ProductView:
    """APIM IProduct."""

    def __init__(self, product: ProductConfig) -> None:
        self.Id = product.name
        self.Name = product.display_name
        self.State = product.state
        self.SubscriptionRequired = product.subscription_required
        self.ApprovalRequired = False
        self.Groups: list[object] = []
        self.SubscriptionLimit = None


class SubscriptionView:
    """APIM ISubscription. The gateway holds only hashes of the keys, so PrimaryKey and
    SecondaryKey cannot be read here; Key is the key the caller presented."""

    def __init__(self, subscription: SubscriptionConfig, key: str | None) -> None:
        self.Id = subscription.name
        self.Name = subscription.display_name
        self.Key = key
        # DateTime values as the interpreter's are: aware, UTC. EndDate is APIM's expiration.
        self.CreatedDate = _instant(subscription.created_date)
        self.StartDate = _instant(subscription.start_date)
        self.EndDate = _instant(subscription.expiration_date)

    @property
    def PrimaryKey(self) -> str:
        raise ValueError("Subscription.PrimaryKey is not available: the gateway holds no keys")

    @property
    def SecondaryKey(self) -> str:
        raise ValueError("Subscription.SecondaryKey is not available: the gateway holds no keys")


def _instant(text: str | None) -> dt.datetime | None:
    return parse_instant(text) if text is not None else None


class DeploymentView:
    def __init__(self, gateway_id: str, service_name: str) -> None:
        self.GatewayId = gateway_id
        self.ServiceName = service_name
        self.Region = ""


class LastErrorView:
    def __init__(self, ctx: PolicyContext) -> None:
        error = ctx.last_error
        assert error is not None
        self.Source = error.source
        self.Reason = error.reason
        self.Message = error.message
        self.Scope = error.scope
        self.Section = error.section
        self.Path = error.path
        self.PolicyId = error.policy_id


class _Named:
    """Api/Operation/Product known only by name (a context built outside the pipeline)."""

    def __init__(self, name: str) -> None:
        self.Id = name
        self.Name = name


class ExpressionContext:
    """`context` for one request. What cannot change during the request is made once, when
    first read; what policies change (request, response, variables, errors) is read live."""

    def __init__(self, ctx: PolicyContext, facts: RequestFacts) -> None:
        self._ctx = ctx
        self._facts = facts
        self._request: RequestView | None = None
        self._response: ResponseView | None = None

    @property
    def Request(self) -> RequestView:
        if self._request is None:
            self._request = RequestView(self._ctx, self._facts)
        return self._request

    @property
    def Response(self) -> ResponseView:
        if self._response is None:
            self._response = ResponseView(self._ctx)
        return self._response

    @property
    def Variables(self) -> Mapping[str, object]:
        return self._ctx.variables

    @cached_property
    def Api(self) -> ApiView | _Named:
        api = self._facts.api
        return ApiView(api) if api is not None else _Named(self._ctx.api)

    @cached_property
    def Operation(self) -> OperationView | _Named:
        operation = self._facts.operation
        return OperationView(operation) if operation is not None else _Named(self._ctx.operation)

    @cached_property
    def Product(self) -> ProductView | _Named | None:
        if self._facts.product is not None:
            return ProductView(self._facts.product)
        return _Named(self._ctx.product) if self._ctx.product else None

    @cached_property
    def Subscription(self) -> SubscriptionView | None:
        subscription = self._facts.subscription
        if subscription is None:
            return None
        return SubscriptionView(subscription, self._facts.subscription_key)

    @property
    def User(self) -> None:
        # Subscriptions here have no owner user: APIM's context.User is null for them.
        return None

    @cached_property
    def Deployment(self) -> DeploymentView:
        return DeploymentView(self._facts.gateway_id, self._facts.service_name)

    @property
    def RequestId(self) -> str:
        return self._facts.request_id

    @cached_property
    def Timestamp(self) -> dt.datetime:
        # APIM: the point in time the request was received.
        return dt.datetime.fromtimestamp(self._facts.received, dt.UTC)

    @property
    def Elapsed(self) -> dt.timedelta:
        return dt.timedelta(seconds=time.perf_counter() - self._facts.started)

    @property
    def LastError(self) -> LastErrorView | None:
        return LastErrorView(self._ctx) if self._ctx.last_error is not None else None

    @property
    def Tracing(self) -> bool:
        return False
