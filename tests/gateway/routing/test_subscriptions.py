"""Subscription keys, as APIM checks them (api-management-subscriptions.md)."""

from __future__ import annotations

import pytest

from tollhouse.contracts import ApiConfig, GatewayConfiguration
from tollhouse.gateway.routing import (
    INVALID_KEY_MESSAGE,
    MISSING_KEY_MESSAGE,
    RouteMatch,
    RouteTable,
    RoutingError,
    SubscriptionDecision,
    SubscriptionIndex,
    remove_query_parameter,
)

from .configs import api, config, op, product, subscription

KEY = b"ocp-apim-subscription-key"


def call(
    cfg: GatewayConfiguration,
    target: str,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    published_products_only: bool = False,
) -> SubscriptionDecision:
    path, _, query = target.partition("?")
    match = RouteTable.compile(cfg).match("GET", path, query, "gw.example", "https")
    assert isinstance(match, RouteMatch), match
    index = SubscriptionIndex.compile(cfg, published_products_only=published_products_only)
    return index.check(match, headers or [], query)


def allowed(decision: SubscriptionDecision) -> SubscriptionDecision:
    assert decision.allowed, decision
    assert decision.status is None
    return decision


def invalid(decision: SubscriptionDecision) -> None:
    assert not decision.allowed
    assert decision.error_source == "authorization"
    assert decision.subscription is None and decision.key is None
    assert decision.status == 401
    assert decision.reason == "SubscriptionKeyInvalid"
    assert decision.to_json() == {
        "statusCode": 401,
        "message": "Access denied due to invalid subscription key. "
        "Make sure to provide a valid key for an active subscription.",
    }


def missing(decision: SubscriptionDecision) -> None:
    assert not decision.allowed
    assert decision.status == 401
    assert decision.reason == "SubscriptionKeyNotFound"
    assert decision.to_json() == {
        "statusCode": 401,
        "message": "Access denied due to missing subscription key. "
        "Make sure to include subscription key when making requests to an API.",
    }


def echo(
    *,
    subscription_required: bool = True,
    header: str = "Ocp-Apim-Subscription-Key",
    query: str = "subscription-key",
) -> ApiConfig:
    return api(
        "echo",
        "echo",
        op("get", "GET", "/{id}"),
        subscription_required=subscription_required,
        header=header,
        query=query,
    )


def test_the_messages_are_apims() -> None:
    assert INVALID_KEY_MESSAGE.endswith(
        "Make sure to provide a valid key for an active subscription."
    )
    assert MISSING_KEY_MESSAGE.startswith("Access denied due to missing subscription key.")


# --- where the key comes from -----------------------------------------------------------


def test_a_key_in_the_header_is_accepted() -> None:
    cfg = config(echo(), subscriptions=[subscription("s", "api", "echo", primary="k1")])
    decision = allowed(call(cfg, "/echo/1", [(KEY, b"k1")]))
    assert decision.subscription is not None and decision.subscription.name == "s"
    assert decision.product is None
    assert decision.key == "k1"


def test_a_key_in_the_query_is_accepted_when_the_header_is_absent() -> None:
    cfg = config(echo(), subscriptions=[subscription("s", "api", "echo", primary="k1")])
    assert allowed(call(cfg, "/echo/1?subscription-key=k1")).key == "k1"
    assert allowed(call(cfg, "/echo/1?Subscription-Key=k1&x=2")).key == "k1"


def test_the_query_is_not_checked_when_the_header_is_present() -> None:
    cfg = config(echo(), subscriptions=[subscription("s", "api", "echo", primary="good")])
    invalid(call(cfg, "/echo/1?subscription-key=good", [(KEY, b"bad")]))
    assert allowed(call(cfg, "/echo/1?subscription-key=bad", [(KEY, b"good")])).key == "good"


def test_the_apis_own_key_names_replace_the_defaults() -> None:
    cfg = config(
        echo(header="X-Api-Key", query="apikey"),
        subscriptions=[subscription("s", "api", "echo", primary="k1")],
    )
    allowed(call(cfg, "/echo/1", [(b"x-api-key", b"k1")]))
    allowed(call(cfg, "/echo/1?APIKEY=k1"))
    missing(call(cfg, "/echo/1?subscription-key=k1", [(KEY, b"k1")]))


def test_an_empty_key_is_no_key() -> None:
    cfg = config(echo(), subscriptions=[subscription("s", "api", "echo", primary="k1")])
    missing(call(cfg, "/echo/1", [(KEY, b"")]))
    missing(call(cfg, "/echo/1?subscription-key="))


def test_the_secondary_key_works_like_the_primary() -> None:
    cfg = config(
        echo(), subscriptions=[subscription("s", "api", "echo", primary="p", secondary="q")]
    )
    assert allowed(call(cfg, "/echo/1", [(KEY, b"q")])).subscription is not None
    invalid(call(cfg, "/echo/1", [(KEY, b"r")]))


def test_a_key_with_non_ascii_characters_is_compared_as_utf8() -> None:
    cfg = config(echo(), subscriptions=[subscription("s", "all", primary="clé")])
    allowed(call(cfg, "/echo/1", [(KEY, "clé".encode())]))
    allowed(call(cfg, "/echo/1?subscription-key=cl%C3%A9"))
    invalid(call(cfg, "/echo/1", [(KEY, b"cl\xe9")]))


# --- subscription state and scope -----------------------------------------------------------


@pytest.mark.parametrize("state", ["suspended", "submitted", "expired", "cancelled", "rejected"])
def test_a_subscription_that_is_not_active_is_an_invalid_key(state: str) -> None:
    cfg = config(echo(), subscriptions=[subscription("s", "api", "echo", state=state, primary="k")])
    invalid(call(cfg, "/echo/1", [(KEY, b"k")]))


def test_a_suspended_subscription_is_refused_even_where_no_key_is_needed() -> None:
    cfg = config(
        echo(subscription_required=False),
        subscriptions=[subscription("s", "all", state="suspended", primary="k")],
    )
    invalid(call(cfg, "/echo/1", [(KEY, b"k")]))
    allowed(call(cfg, "/echo/1"))


def test_an_all_apis_subscription_opens_every_api() -> None:
    cfg = config(
        echo(),
        api("other", "other"),
        subscriptions=[subscription("all", "all", primary="k")],
    )
    for target in ("/echo/1", "/other/x"):
        decision = allowed(call(cfg, target, [(KEY, b"k")]))
        assert decision.subscription is not None and decision.subscription.name == "all"
        assert decision.product is None


def test_an_api_subscription_does_not_open_another_api() -> None:
    cfg = config(
        echo(),
        api("other", "other"),
        subscriptions=[subscription("s", "api", "other", primary="k")],
    )
    invalid(call(cfg, "/echo/1", [(KEY, b"k")]))
    allowed(call(cfg, "/other/x", [(KEY, b"k")]))


def test_an_api_subscription_opens_every_revision_of_its_api() -> None:
    cfg = config(
        echo(),
        api("echo;rev=2", "echo", revision="2", current=False),
        subscriptions=[subscription("s", "api", "ECHO", primary="k")],
    )
    allowed(call(cfg, "/echo;rev=2/x", [(KEY, b"k")]))


def test_a_product_subscription_opens_the_apis_of_its_product() -> None:
    cfg = config(
        echo(),
        api("other", "other"),
        products=[product("starter", "echo"), product("gold", "other")],
        subscriptions=[subscription("s", "product", "starter", primary="k")],
    )
    decision = allowed(call(cfg, "/echo/1", [(KEY, b"k")]))
    assert decision.product is not None and decision.product.name == "starter"
    invalid(call(cfg, "/other/x", [(KEY, b"k")]))


def test_an_unpublished_product_still_grants_access_as_apim_documents() -> None:
    # "API access in a product context is the same, whether the product is published or not."
    cfg = config(
        echo(),
        products=[product("hidden", "echo", published=False)],
        subscriptions=[subscription("s", "product", "hidden", primary="k")],
    )
    assert allowed(call(cfg, "/echo/1", [(KEY, b"k")])).product is not None


def test_unpublished_products_can_be_made_to_grant_nothing() -> None:
    cfg = config(
        echo(),
        products=[product("hidden", "echo", published=False), product("open", "echo")],
        subscriptions=[
            subscription("s", "product", "hidden", primary="k"),
            subscription("t", "product", "open", primary="t"),
        ],
    )
    invalid(call(cfg, "/echo/1", [(KEY, b"k")], published_products_only=True))
    allowed(call(cfg, "/echo/1", [(KEY, b"t")], published_products_only=True))


def test_one_key_shared_by_two_subscriptions_uses_the_one_that_fits() -> None:
    cfg = config(
        echo(),
        api("other", "other"),
        subscriptions=[
            subscription("for-other", "api", "other", primary="same"),
            subscription("for-echo", "api", "echo", primary="same"),
        ],
    )
    decision = allowed(call(cfg, "/echo/1", [(KEY, b"same")]))
    assert decision.subscription is not None and decision.subscription.name == "for-echo"


# --- without a key ------------------------------------------------------------------------


def test_without_a_key_an_api_that_requires_one_is_refused() -> None:
    missing(call(config(echo()), "/echo/1"))


def test_without_a_key_an_open_product_lets_the_call_in_its_context() -> None:
    cfg = config(echo(), products=[product("free", "echo", subscription_required=False)])
    decision = allowed(call(cfg, "/echo/1"))
    assert decision.product is not None and decision.product.name == "free"
    assert decision.subscription is None and decision.key is None


def test_an_open_product_does_not_excuse_an_invalid_key() -> None:
    cfg = config(echo(), products=[product("free", "echo", subscription_required=False)])
    invalid(call(cfg, "/echo/1", [(KEY, b"nonsense")]))


def test_an_unpublished_open_product_is_open_unless_published_products_only() -> None:
    cfg = config(
        echo(), products=[product("free", "echo", published=False, subscription_required=False)]
    )
    allowed(call(cfg, "/echo/1"))
    missing(call(cfg, "/echo/1", published_products_only=True))


def test_without_a_key_an_api_that_needs_no_subscription_is_allowed() -> None:
    decision = allowed(call(config(echo(subscription_required=False)), "/echo/1"))
    assert (decision.subscription, decision.product) == (None, None)


def test_with_a_valid_key_an_api_that_needs_no_subscription_gets_the_subscription() -> None:
    cfg = config(
        echo(subscription_required=False),
        subscriptions=[subscription("s", "all", primary="k")],
    )
    assert allowed(call(cfg, "/echo/1", [(KEY, b"k")])).subscription is not None


def test_an_api_in_two_open_products_is_refused() -> None:
    cfg = config(
        echo(),
        products=[
            product("free", "echo", subscription_required=False),
            product("gratis", "echo", subscription_required=False),
        ],
    )
    with pytest.raises(RoutingError) as caught:
        SubscriptionIndex.compile(cfg)
    assert caught.value.api == "echo"
    assert "free" in str(caught.value) and "gratis" in str(caught.value)
    # Only published products count when unpublished ones grant nothing.
    unpublished = config(
        echo(),
        products=[
            product("free", "echo", subscription_required=False),
            product("gratis", "echo", subscription_required=False, published=False),
        ],
    )
    SubscriptionIndex.compile(unpublished, published_products_only=True)


# --- what to remove before forwarding --------------------------------------------------------


def test_the_decision_names_the_header_and_parameter_to_remove_whatever_the_outcome() -> None:
    cfg = config(
        echo(header="X-Api-Key", query="apikey"),
        subscriptions=[subscription("s", "all", primary="k")],
    )
    for decision in (
        call(cfg, "/echo/1", [(b"x-api-key", b"k")]),
        call(cfg, "/echo/1", [(b"x-api-key", b"bad")]),
        call(cfg, "/echo/1"),
    ):
        assert (decision.remove_header, decision.remove_query) == (b"x-api-key", "apikey")


def test_removing_the_key_parameter_keeps_every_other_parameter() -> None:
    assert (
        remove_query_parameter(
            "a=1&Subscription-Key=k&b=%20&subscription-key=j", "subscription-key"
        )
        == "a=1&b=%20"
    )
    assert remove_query_parameter("subscription%2Dkey=k", "subscription-key") == ""
    assert remove_query_parameter("a=1&&b", "subscription-key") == "a=1&&b"
    assert remove_query_parameter("", "subscription-key") == ""


def test_the_key_never_shows_in_a_decisions_repr() -> None:
    cfg = config(echo(), subscriptions=[subscription("s", "all", primary="secret-key")])
    decision = allowed(call(cfg, "/echo/1", [(KEY, b"secret-key")]))
    assert "secret-key" not in repr(decision)


def test_an_api_from_another_configuration_is_still_checked() -> None:
    cfg = config(echo(), subscriptions=[subscription("s", "api", "late", primary="k")])
    late = config(api("late", "late"))
    match = RouteTable.compile(late).match("GET", "/late/x", "", "h", "https")
    assert isinstance(match, RouteMatch)
    assert SubscriptionIndex.compile(cfg).check(match, [(KEY, b"k")], "").allowed
