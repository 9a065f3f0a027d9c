"""The knobs of one Fetcher, and parsing of the operator's allow-list setting."""

import ipaddress
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    # The whole fetch: robots.txt, every redirect hop and the body. Enforced on each socket
    # operation, so neither a slow drip nor a stall can outlive it.
    total_timeout: float = 30.0
    max_redirects: int = 5
    max_bytes: int = 5 * 1024 * 1024  # decoded bytes, counted while streaming
    max_url_length: int = 2048
    user_agent: str = "news-archive/0.1 (+https://github.com/news-archive)"
    respect_robots: bool = True
    # Operator allow-list: addresses inside these are fetched even when otherwise forbidden.
    allowed_networks: tuple[Network, ...] = ()


def parse_networks(value: str) -> tuple[Network, ...]:
    """Parse a comma-separated CIDR list such as FETCH_ALLOWED_NETWORKS; ValueError on junk."""
    # strict=True: "10.0.0.1/8" is more likely a typo than a wish to allow all of 10/8.
    return tuple(ipaddress.ip_network(part.strip()) for part in value.split(",") if part.strip())
