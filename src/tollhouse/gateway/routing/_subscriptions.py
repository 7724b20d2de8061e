"""Subscription keys: who may call the API a request was routed to
(`api-management-subscriptions.md`, "How API Management handles requests with or without
subscription keys").

The key is read from the API's header (`Ocp-Apim-Subscription-Key` unless the API names
another); "the query parameter is checked only if the header isn't present" (`subscription-key`
unless renamed). A header or parameter present with an empty value is no key.

With a key: "Check if it's a valid key associated with an active subscription, either: a
subscription scoped to the API, a subscription scoped to a product that's assigned to the API,
a subscription scoped to all APIs … Otherwise, access is denied (401 Access denied error)." A
key that is valid for another API, or belongs to a suspended (or submitted, expired, …)
subscription, is an invalid key — even for an API that needs none.

Without a key: "Check first for the existence of a product that includes the API but doesn't
require a subscription (an open product) … If an open product including the API isn't found,
check whether the API requires a subscription … If no configured product or API is found, then
access is denied."

Product state: "API access in a product context is the same, whether the product is published
or not" — the default here; `published_products_only=True` makes unpublished products grant
nothing (neither their subscriptions nor, when open, anonymous access).

Keys are compared by their SHA-256 (`contracts.hash_key`), the only form the configuration
carries. Whatever the outcome, the pipeline removes the API's key header and query parameter
before forwarding: the backend never sees a subscription key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from tollhouse.contracts import (
    ApiConfig,
    GatewayConfiguration,
    ProductConfig,
    SubscriptionConfig,
    hash_key,
)
from tollhouse.gateway.routing._errors import RoutingError
from tollhouse.gateway.routing._query import query_value
from tollhouse.gateway.routing._table import RouteMatch

ACCESS_DENIED_STATUS = 401
# The body APIM answers, and `context.LastError` ("Predefined errors for built-in steps").
MISSING_KEY_REASON = "SubscriptionKeyNotFound"
MISSING_KEY_MESSAGE = (
    "Access denied due to missing subscription key. "
    "Make sure to include subscription key when making requests to an API."
)
INVALID_KEY_REASON = "SubscriptionKeyInvalid"
INVALID_KEY_MESSAGE = (
    "Access denied due to invalid subscription key. "
    "Make sure to provide a valid key for an active subscription."
)
ACTIVE = "active"
PUBLISHED = "published"


class SubscriptionDecision(NamedTuple):
    """Whether the request may proceed, in which context, and what to strip from it. A named
    tuple, cheap to build per request; its repr never shows the key."""

    allowed: bool
    # context.Subscription: the subscription whose key was presented (None without a key).
    subscription: SubscriptionConfig | None
    # context.Product: the subscription's product, or the open product of a keyless call.
    # None for API- and all-APIs-scoped subscriptions: product policies do not apply to them.
    product: ProductConfig | None
    # context.Subscription.Key: the key presented, when it was valid.
    key: str | None
    # Remove every header of this name (lower-case) and every query parameter of this name
    # (case-insensitive, `remove_query_parameter`) before forwarding.
    remove_header: bytes
    remove_query: str
    # When refused: 401 and APIM's reason and message (also context.LastError's).
    status: int | None = None
    reason: str | None = None
    message: str | None = None

    @property
    def error_source(self) -> str:
        """context.LastError.Source of a refusal."""
        return "authorization"

    def to_json(self) -> dict[str, Any]:
        """APIM's error body for a refusal."""
        return {"statusCode": self.status, "message": self.message}

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={'***' if name == 'key' and value is not None else repr(value)}"
            for name, value in zip(self._fields, self, strict=True)
        )
        return f"SubscriptionDecision({fields})"


@dataclass(frozen=True, slots=True)
class _Access:
    """What the index knows of one API, with the answers that do not depend on a key."""

    header: bytes
    query: str
    base_name: str  # lower-case, without `;rev=n`: what scopes and products name
    products: dict[str, ProductConfig]  # lower-case name → product containing the API
    anonymous: SubscriptionDecision  # the answer without a key
    invalid: SubscriptionDecision


# An active subscription under one of its key hashes: (subscription, scope type, scope name
# lower-case or "").
_Entry = tuple[SubscriptionConfig, str, str]


def _base_name(api: ApiConfig) -> str:
    return api.name.partition(";")[0].lower()


class SubscriptionIndex:
    """The subscriptions and products of one configuration, by key hash and by API."""

    __slots__ = ("_access", "_by_hash", "_products")

    def __init__(
        self, by_hash: dict[str, tuple[_Entry, ...]], products: tuple[ProductConfig, ...]
    ) -> None:
        self._by_hash = by_hash
        # Each product with the (lower-case) names of its APIs.
        self._products = tuple((p, frozenset(a.lower() for a in p.apis)) for p in products)
        self._access: dict[str, _Access] = {}

    @classmethod
    def compile(
        cls, config: GatewayConfiguration, *, published_products_only: bool = False
    ) -> SubscriptionIndex:
        """Index `config`; raises RoutingError for an API in more than one open product
        ("An API can be associated with at most one open product")."""
        by_hash: dict[str, list[_Entry]] = {}
        for subscription in config.subscriptions:
            # Only active subscriptions grant anything; the others' keys are invalid keys.
            if subscription.state != ACTIVE:
                continue
            entry = (subscription, subscription.scope_type, (subscription.scope_name or "").lower())
            for digest in {subscription.primary_key_hash, subscription.secondary_key_hash}:
                by_hash.setdefault(digest.lower(), []).append(entry)
        products = tuple(
            p for p in config.products if not published_products_only or p.state == PUBLISHED
        )
        index = cls({k: tuple(v) for k, v in by_hash.items()}, products)
        for api in config.apis:
            index._access[api.name.lower()] = index._describe(api)
        return index

    def _describe(self, api: ApiConfig) -> _Access:
        base = _base_name(api)
        products = {p.name.lower(): p for p, apis in self._products if base in apis}
        open_products = [p for p in products.values() if not p.subscription_required]
        if len(open_products) > 1:
            names = ", ".join(sorted(p.name for p in open_products))
            raise RoutingError(
                f"is in more than one product without subscription ({names}); "
                "an API can be in at most one open product",
                api=api.name,
            )
        header = api.subscription_key_header.lower().encode("ascii", "replace")
        query = api.subscription_key_query
        if open_products:
            anonymous = SubscriptionDecision(True, None, open_products[0], None, header, query)
        elif not api.subscription_required:
            anonymous = SubscriptionDecision(True, None, None, None, header, query)
        else:
            anonymous = _refusal(header, query, MISSING_KEY_REASON, MISSING_KEY_MESSAGE)
        return _Access(
            header=header,
            query=query,
            base_name=base,
            products=products,
            anonymous=anonymous,
            invalid=_refusal(header, query, INVALID_KEY_REASON, INVALID_KEY_MESSAGE),
        )

    def check(
        self, match: RouteMatch, headers: Sequence[tuple[bytes, bytes]], query: str
    ) -> SubscriptionDecision:
        """Decide for one routed request; `headers` as the HTTP layer gives them (lower-case
        names), `query` the raw query string."""
        api = match.api
        access = self._access.get(api.name.lower())
        if access is None:  # an API of another configuration: index it on the way
            access = self._describe(api)

        presented: bytes | str | None = None
        for header, value in headers:
            if header == access.header:
                presented = value
                break
        if presented is None:
            presented = query_value(query, access.query)
        if not presented:
            return access.anonymous
        key = _text(presented)
        if key is None:
            return access.invalid

        for subscription, scope, name in self._by_hash.get(hash_key(key), ()):
            if scope == "all" or (scope == "api" and name == access.base_name):
                return SubscriptionDecision(
                    True, subscription, None, key, access.header, access.query
                )
            if scope == "product":
                product = access.products.get(name)
                if product is not None:
                    return SubscriptionDecision(
                        True, subscription, product, key, access.header, access.query
                    )
        return access.invalid


def _refusal(header: bytes, query: str, reason: str, message: str) -> SubscriptionDecision:
    return SubscriptionDecision(
        False, None, None, None, header, query, ACCESS_DENIED_STATUS, reason, message
    )


def _text(value: bytes | str) -> str | None:
    """The key as text; None when it is not UTF-8, which no key set as text can be."""
    if isinstance(value, str):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None
