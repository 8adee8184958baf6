"""Which address a request came from, believing X-Forwarded-For only as far as trusted proxies wrote it.

Behind a load balancer every request arrives from the balancer's address; the balancer names the client in
``X-Forwarded-For``, appending the address it saw to whatever the client sent. So the header is read from the
right: each hop added by a trusted proxy (``SHUBBAK_TRUSTED_PROXIES``) is skipped, and the first address that
is not a trusted proxy is the client. A request that does not come from a trusted proxy is its own client,
whatever its header says: anybody can write the header.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# A header longer than this is cut: the hops that matter are at its right end.
_MAX_HOPS = 32


@lru_cache(maxsize=8)
def networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(t.strip(), strict=False) for t in trusted if t.strip())


def _trusted(address: str, nets: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in nets)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[str]) -> str:
    """The client's address: ``peer`` (the socket's), or the rightmost hop of ``forwarded_for`` (the header's
    values, in order) that a trusted proxy did not add."""
    nets = networks(tuple(trusted))
    address = peer or "unknown"
    if not nets or not _trusted(address, nets):
        return address
    hops = [h.strip() for value in forwarded_for for h in value.split(",")][-_MAX_HOPS:]
    for hop in reversed(hops):
        if not hop:
            continue
        if not _trusted(hop, nets):
            return hop[:64]
        address = hop
    return address


def counted_as(address: str) -> str:
    """What a per-address limit counts: an IPv6 address's /64 network (one subscriber's, the smallest an ISP
    hands out, whose 2**64 addresses one client may walk through), an IPv4 address as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
