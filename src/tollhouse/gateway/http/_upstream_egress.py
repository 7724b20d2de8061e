"""Which addresses the gateway may open backend connections to (sans-I/O).

A backend URL can come from a policy expression, so it is attacker-influenced input (SSRF,
security-and-faults §C.4 and §C.5 case 16). The check is made on the resolved address, and the
pool connects to exactly the address it checked: a name that resolves to loopback, a decimal
`2130706433`, `[::ffff:127.0.0.1]` and a DNS answer that changes between check and connect
(rebinding) are all caught the same way.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _networks(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# Addresses that are not the public internet: this host, private networks (RFC 1918, RFC 6598
# shared, RFC 4193 unique-local, which holds the AWS IPv6 metadata address fd00:ec2::254),
# link-local (169.254.169.254, the cloud metadata endpoint), multicast and reserved ranges.
DEFAULT_DENIED_NETWORKS = _networks(
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
)

# RFC 6052 well-known NAT64 prefix: the last 32 bits are an IPv4 address reached through it.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _effective(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for, if it embeds one (mapped or NAT64)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


@dataclass(frozen=True)
class EgressPolicy:
    """Backend addresses in `denied` are refused unless they are also in `allowed`."""

    denied: tuple[IPNetwork, ...] = DEFAULT_DENIED_NETWORKS
    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_cidrs(
        cls, *, allowed: tuple[str, ...] = (), denied: tuple[str, ...] | None = None
    ) -> EgressPolicy:
        return cls(
            denied=DEFAULT_DENIED_NETWORKS if denied is None else _networks(*denied),
            allowed=_networks(*allowed),
        )

    def permits(self, address: str) -> bool:
        """Whether a connection to `address` (an IP literal; a zone index is ignored) is
        allowed. Anything that is not an IP address is refused."""
        try:
            ip = _effective(ipaddress.ip_address(address.split("%", 1)[0]))
        except ValueError:
            return False
        if any(_contains(net, ip) for net in self.allowed):
            return True
        return not any(_contains(net, ip) for net in self.denied)


def _contains(network: IPNetwork, address: IPAddress) -> bool:
    return network.version == address.version and address in network
