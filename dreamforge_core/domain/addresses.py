"""Which network an address lies in: what a request the server makes on a client's behalf
(a webhook, a model download's redirect) may reach."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

LOOPBACK, PRIVATE, LINK_LOCAL = "loopback", "private", "link-local"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4 addresses reached through a NAT64 gateway


def address_kind(address: str) -> str | None:
    """None for a public address; else `loopback`, `link-local` (which holds the cloud
    metadata address 169.254.169.254) or `private` (which also covers shared, reserved,
    documentation and multicast addresses). Raises ValueError for what is not an address."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # without an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.is_loopback or ip.is_unspecified:  # 0.0.0.0 reaches the host itself
        return LOOPBACK
    if ip.is_link_local:
        return LINK_LOCAL
    if ip.is_global and not ip.is_multicast:
        return None
    return PRIVATE


def refused_address(addresses: Sequence[str]) -> tuple[str, str] | None:
    """The first address that is not public, with its kind; None when all are public."""
    for address in addresses:
        try:
            kind = address_kind(address)
        except ValueError:
            kind = PRIVATE  # not an address at all: never public
        if kind is not None:
            return address, kind
    return None
