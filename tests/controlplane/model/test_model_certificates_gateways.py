"""Certificates, gateways, gateway API assignments, hostname configurations and CAs."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    pkcs12,
)
from cryptography.x509.oid import NameOID

from tollhouse.controlplane.model import (
    MAX_CERTIFICATE_BYTES,
    ModelError,
    Resource,
    ResourcePath,
    list_secrets,
    normalize_resource,
    parse_resource_path,
    referenced_paths,
    regenerate_gateway_key,
    to_arm,
)

SERVICE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc"
EXPIRY = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)


def put(path: str, properties: dict[str, Any], existing: Resource | None = None) -> Resource:
    return normalize_resource(parse_resource_path(path), properties, existing)


def refused(path: str, properties: dict[str, Any]) -> ModelError:
    with pytest.raises(ModelError) as raised:
        put(path, properties)
    return raised.value


def make_certificate() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Contoso"),
            x509.NameAttribute(NameOID.COMMON_NAME, "api.contoso.test"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(EXPIRY - timedelta(days=365))
        .not_valid_after(EXPIRY)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


KEY, CERTIFICATE = make_certificate()
THUMBPRINT = CERTIFICATE.fingerprint(hashes.SHA1()).hex().upper()
DER = CERTIFICATE.public_bytes(Encoding.DER)
PEM = CERTIFICATE.public_bytes(Encoding.PEM)


def pfx(password: bytes | None) -> str:
    encryption = BestAvailableEncryption(password) if password else NoEncryption()
    data = pkcs12.serialize_key_and_certificates(b"api", KEY, CERTIFICATE, None, encryption)
    return base64.b64encode(data).decode()


EXPECTED = {
    "subject": "CN=api.contoso.test, O=Contoso, C=NL",
    "thumbprint": THUMBPRINT,
    "expirationDate": "2031-05-06T07:08:09Z",
}


def test_a_pfx_with_its_password_yields_its_public_description() -> None:
    data = pfx(b"pfx-pass")
    certificate = put("certificates/tls", {"data": data, "password": "pfx-pass"})
    assert certificate.properties == EXPECTED
    assert certificate.secrets == {"data": data, "password": "pfx-pass"}
    rendered = repr(to_arm(certificate, SERVICE))
    assert data not in rendered and "pfx-pass" not in rendered


def test_a_pfx_without_a_password_is_accepted() -> None:
    certificate = put("certificates/tls", {"data": pfx(None)})
    assert certificate.properties["thumbprint"] == THUMBPRINT
    assert "password" not in certificate.secrets


@pytest.mark.parametrize(
    "data",
    [
        base64.b64encode(DER).decode(),
        base64.b64encode(PEM).decode(),
        PEM.decode(),
        "\n".join(re.findall(".{1,64}", base64.b64encode(DER).decode())),
    ],
    ids=["base64-der", "base64-pem", "pem-text", "wrapped-base64-der"],
)
def test_a_certificate_without_a_key_is_stored_as_der(data: str) -> None:
    certificate = put("certificates/ca", {"data": data})
    assert certificate.properties == EXPECTED
    assert base64.b64decode(certificate.secrets["data"]) == DER


def test_a_wrong_password_is_named() -> None:
    error = refused("certificates/tls", {"data": pfx(b"right"), "password": "wrong"})
    assert error.target == "properties.password"


def test_an_encrypted_pfx_without_its_password_is_refused() -> None:
    error = refused("certificates/tls", {"data": pfx(b"right")})
    assert error.target == "properties.data"
    assert "password" in error.message


@pytest.mark.parametrize(
    "data",
    [
        "not base64!",
        base64.b64encode(b"garbage").decode(),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        base64.b64encode(b"\0" * (MAX_CERTIFICATE_BYTES + 1)).decode(),
    ],
    ids=["not-base64", "garbage", "bad-pem", "too-big"],
)
def test_data_that_is_no_certificate_is_refused(data: str) -> None:
    assert refused("certificates/c", {"data": data}).target == "properties.data"


def test_a_pem_private_key_is_refused() -> None:
    key_pem = KEY.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    error = refused("certificates/c", {"data": (PEM + key_pem).decode()})
    assert "PKCS#12" in error.message


def test_certificate_data_is_required_and_kept_on_update() -> None:
    assert refused("certificates/c", {}).target == "properties.data"
    first = put("certificates/c", {"data": pfx(b"pw"), "password": "pw"})
    again = put("certificates/c", dict(first.properties), first)
    assert again == first


def test_key_vault_certificates_are_not_supported() -> None:
    error = refused("certificates/c", {"keyVault": {"secretIdentifier": "https://kv/x"}})
    assert error.code == "UnsupportedFeature"


# Gateways


def test_a_gateway_gets_two_distinct_generated_keys() -> None:
    gateway = put("gateways/edge", {"locationData": {"name": "Amsterdam DC"}})
    assert gateway.properties == {"locationData": {"name": "Amsterdam DC"}}
    primary, secondary = gateway.secrets["primary"], gateway.secrets["secondary"]
    assert len(base64.b64decode(primary, validate=True)) == 64
    assert len(base64.b64decode(secondary, validate=True)) == 64
    assert primary != secondary
    assert list_secrets(gateway) == {"primary": primary, "secondary": secondary}
    rendered = repr(to_arm(gateway, SERVICE))
    assert primary not in rendered and secondary not in rendered


def test_a_gateway_keeps_its_location_and_description() -> None:
    gateway = put(
        "gateways/edge",
        {
            "locationData": {
                "name": "dc1",
                "city": "Amsterdam",
                "district": "Noord",
                "countryOrRegion": "NL",
            },
            "description": "Edge",
        },
    )
    assert gateway.properties == {
        "locationData": {
            "name": "dc1",
            "city": "Amsterdam",
            "district": "Noord",
            "countryOrRegion": "NL",
        },
        "description": "Edge",
    }


def test_gateway_keys_survive_updates_and_change_only_when_regenerated() -> None:
    first = put("gateways/edge", {"locationData": {"name": "dc1"}})
    updated = put("gateways/edge", {"locationData": {"name": "dc2"}}, first)
    assert updated.secrets == first.secrets
    rotated = regenerate_gateway_key(updated, "Primary")
    assert rotated.secrets["secondary"] == first.secrets["secondary"]
    assert rotated.secrets["primary"] != first.secrets["primary"]
    with pytest.raises(ModelError) as raised:
        regenerate_gateway_key(updated, "tertiary")
    assert raised.value.target == "keyType"


@pytest.mark.parametrize(
    ("properties", "target"),
    [
        ({}, "properties.locationData"),
        ({"locationData": {}}, "properties.locationData.name"),
        ({"locationData": "dc1"}, "properties.locationData"),
        ({"locationData": {"name": "n", "city": 3}}, "properties.locationData.city"),
        ({"locationData": {"name": "n"}, "description": "d" * 1001}, "properties.description"),
    ],
)
def test_invalid_gateways_are_refused(properties: dict[str, Any], target: str) -> None:
    assert refused("gateways/edge", properties).target == target


def test_a_gateway_api_assignment_refers_to_its_api() -> None:
    assignment = put("gateways/edge/apis/echo", {})
    assert assignment.properties == {"provisioningState": "created"}
    assert referenced_paths(assignment) == (ResourcePath("apis", ("echo",)),)


def test_a_hostname_configuration_gets_defaults_and_a_service_relative_certificate() -> None:
    configuration = put(
        "gateways/edge/hostnameConfigurations/main",
        {"hostname": "API.Contoso.test", "certificateId": f"{SERVICE}/certificates/tls"},
    )
    assert configuration.properties == {
        "hostname": "api.contoso.test",
        "negotiateClientCertificate": False,
        "tls10Enabled": False,
        "tls11Enabled": False,
        "http2Enabled": False,
        "certificateId": "/certificates/tls",
    }
    assert to_arm(configuration, SERVICE)["properties"]["certificateId"] == (
        f"{SERVICE}/certificates/tls"
    )
    assert referenced_paths(configuration) == (ResourcePath("certificates", ("tls",)),)


@pytest.mark.parametrize("hostname", ["*.contoso.test", "*", "localhost", "a-b.c"])
def test_wildcard_and_plain_host_names_are_accepted(hostname: str) -> None:
    configuration = put("gateways/edge/hostnameConfigurations/h", {"hostname": hostname})
    assert configuration.properties["hostname"] == hostname


@pytest.mark.parametrize(
    ("properties", "target"),
    [
        ({}, "properties.hostname"),
        ({"hostname": "a..b"}, "properties.hostname"),
        ({"hostname": "-a.b"}, "properties.hostname"),
        ({"hostname": "a b"}, "properties.hostname"),
        ({"hostname": "a.*.b"}, "properties.hostname"),
        ({"hostname": "h", "certificateId": "/apis/echo"}, "properties.certificateId"),
        ({"hostname": "h", "certificateId": "tls"}, "properties.certificateId"),
        ({"hostname": "h", "http2Enabled": 1}, "properties.http2Enabled"),
    ],
)
def test_invalid_hostname_configurations_are_refused(
    properties: dict[str, Any], target: str
) -> None:
    assert refused("gateways/edge/hostnameConfigurations/h", properties).target == target


def test_a_certificate_authority_is_named_after_its_certificate() -> None:
    authority = put("gateways/edge/certificateAuthorities/root-ca", {"isTrusted": True})
    assert authority.properties == {"isTrusted": True}
    assert put("gateways/edge/certificateAuthorities/ca", {}).properties == {"isTrusted": False}
    assert referenced_paths(authority) == (ResourcePath("certificates", ("root-ca",)),)
    assert refused("gateways/edge/certificateAuthorities/ca", {"isTrusted": "yes"}).target == (
        "properties.isTrusted"
    )
