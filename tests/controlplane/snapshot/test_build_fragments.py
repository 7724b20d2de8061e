"""Policy fragments in a gateway's configuration: every fragment of the service, as XML."""

from __future__ import annotations

import json

from tests.controlplane.snapshot.test_build import SERVICE, R, service
from tollhouse.contracts import FragmentConfig, parse_configuration
from tollhouse.controlplane.snapshot import build_configuration

RAW = '<fragment><set-variable name="v" value="@(1 < 2)" /></fragment>'
USES_NAMED_VALUE = (
    '<fragment><set-header name="x-key"><value>{{Unused}}</value></set-header></fragment>'
)


def with_fragments() -> list[R]:
    return [
        *service(),
        R("policyFragments/raw", "policyFragments", {"value": RAW, "format": "rawxml"}),
        R("policyFragments/Keyed", "policyFragments", {"value": USES_NAMED_VALUE}),
    ]


def test_every_fragment_of_the_service_travels_to_every_gateway() -> None:
    for gateway in ("gw", "lonely"):
        config = build_configuration(gateway, SERVICE, 4, with_fragments())
        assert [f.name for f in config.fragments] == ["Keyed", "raw"]


def test_a_rawxml_fragment_travels_in_its_xml_form() -> None:
    config = build_configuration("gw", SERVICE, 4, with_fragments())
    raw = next(f for f in config.fragments if f.name == "raw")
    assert raw == FragmentConfig(
        "raw", '<fragment><set-variable name="v" value="@(1 &lt; 2)" /></fragment>'
    )


def test_named_values_a_fragment_uses_travel_with_it() -> None:
    config = build_configuration("lonely", SERVICE, 4, with_fragments())
    assert [n.display_name for n in config.named_values] == ["Unused"]
    without = build_configuration("lonely", SERVICE, 4, service())
    assert without.fragments == () and without.named_values == ()


def test_fragments_round_trip_and_older_snapshots_without_them_still_load() -> None:
    config = build_configuration("gw", SERVICE, 4, with_fragments())
    document = json.loads(json.dumps(config.to_json()))
    assert parse_configuration(document) == config
    del document["fragments"]
    assert parse_configuration(document).fragments == ()
