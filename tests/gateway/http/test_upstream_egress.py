"""The egress policy (security-and-faults §C.5 case 16): checked on resolved addresses, so every
spelling of an internal address is caught, and the connection goes to the address checked."""

from __future__ import annotations

import pytest

from tollhouse.gateway.http import (
    EgressPolicy,
    UpstreamEgressDenied,
    UpstreamPool,
    error_response,
)

from .upstream_backends import Runner, backend, get, ok, run

__all__ = ["run"]

INTERNAL = [
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "::ffff:127.0.0.1",
    "64:ff9b::7f00:1",  # NAT64 for 127.0.0.1
    "169.254.169.254",  # cloud metadata
    "fd00:ec2::254",  # AWS IPv6 metadata
    "fe80::1%eth0",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "255.255.255.255",
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", INTERNAL)
def test_the_default_policy_refuses_internal_addresses(address: str) -> None:
    assert not EgressPolicy().permits(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_the_default_policy_permits_public_addresses(address: str) -> None:
    assert EgressPolicy().permits(address)


def test_something_that_is_not_an_address_is_refused() -> None:
    assert not EgressPolicy().permits("localhost")
    assert not EgressPolicy().permits("2130706433")


def test_allowed_networks_override_denied_ones() -> None:
    policy = EgressPolicy.from_cidrs(allowed=("10.1.0.0/16",))
    assert policy.permits("10.1.2.3")
    assert not policy.permits("10.2.0.1")
    assert not policy.permits("127.0.0.1")


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "2130706433", "[::ffff:127.0.0.1]", "0x7f.1"]
)
def test_the_pool_never_connects_to_a_denied_address_however_it_is_spelled(
    run: Runner[None], host: str
) -> None:
    async def scenario() -> None:
        async with backend(ok()) as server:
            pool = UpstreamPool(egress=EgressPolicy())
            with pytest.raises(UpstreamEgressDenied) as caught:
                await pool.request(get(server.url(host=host)))
            assert error_response(caught.value).status == 502
            assert server.connections == 0
            await pool.close()

    run(scenario())


def test_the_denial_is_an_egress_error(run: Runner[None]) -> None:
    async def scenario() -> None:
        pool = UpstreamPool(egress=EgressPolicy())
        with pytest.raises(UpstreamEgressDenied):
            await pool.request(get("http://169.254.169.254/latest/meta-data/"))
        await pool.close()

    run(scenario())


def test_an_allowed_internal_backend_is_reached(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(ok()) as server:
            pool = UpstreamPool(egress=EgressPolicy.from_cidrs(allowed=("127.0.0.0/8",)))
            response = await pool.request(get(server.url()))
            assert (response.status, await response.body.read()) == (200, b"ok")
            await pool.close()

    run(scenario())
