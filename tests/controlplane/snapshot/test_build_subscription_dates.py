"""Subscription dates in a gateway's configuration: created, start and expiration travel."""

from __future__ import annotations

import json

import pytest

from tests.controlplane.snapshot.test_build import SERVICE, R, service
from tollhouse.contracts import ContractError, parse_configuration
from tollhouse.controlplane.snapshot import build_configuration

DATES = {
    "createdDate": "2026-03-01T12:30:05Z",
    "startDate": "2026-04-01T00:00:00Z",
    "expirationDate": "2027-04-01T00:00:00Z",
}


def with_dates() -> list[R]:
    dated = R(
        "subscriptions/dated",
        "subscriptions",
        {"scope": "/apis", **DATES},
        {"primaryKey": "kd1", "secondaryKey": "kd2"},
    )
    return [*service(), dated]


def test_a_subscriptions_dates_travel_in_the_configuration() -> None:
    config = build_configuration("gw", SERVICE, 4, with_dates())
    dated = next(s for s in config.subscriptions if s.name == "dated")
    assert (dated.created_date, dated.start_date, dated.expiration_date) == (
        "2026-03-01T12:30:05Z",
        "2026-04-01T00:00:00Z",
        "2027-04-01T00:00:00Z",
    )
    undated = next(s for s in config.subscriptions if s.name == "all")
    assert (undated.created_date, undated.start_date, undated.expiration_date) == (None,) * 3


def test_dates_round_trip_and_older_snapshots_without_them_still_load() -> None:
    config = build_configuration("gw", SERVICE, 4, with_dates())
    document = json.loads(json.dumps(config.to_json()))
    assert parse_configuration(document) == config
    for subscription in document["subscriptions"]:
        for name in DATES:
            del subscription[name]
    old = parse_configuration(document)
    assert all(s.created_date is None and s.start_date is None for s in old.subscriptions)
    assert all(s.expiration_date is None for s in old.subscriptions)


@pytest.mark.parametrize("value", ["soon", 20260401, "2026-02-30T00:00:00Z"])
def test_a_snapshot_with_a_bad_date_is_refused_naming_the_field(value: object) -> None:
    document = build_configuration("gw", SERVICE, 4, with_dates()).to_json()
    index = next(i for i, s in enumerate(document["subscriptions"]) if s["name"] == "dated")
    document["subscriptions"][index]["startDate"] = value
    with pytest.raises(ContractError) as raised:
        parse_configuration(document)
    assert f"subscriptions[{index}].startDate" in str(raised.value)
