"""Which URLs and addresses we refuse to fetch. No DNS and no network here."""

import ipaddress
import re
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

from app.errors import UrlRefused
from app.fetching.limits import Address, FetchLimits, Network

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Written out rather than trusting `is_global` alone: Python's answer has changed between
# releases and calls multicast global. `is_global` still runs last, as a safety net.
_FORBIDDEN: tuple[tuple[Network, str], ...] = (
    (_V4("0.0.0.0/8"), "unspecified"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "shared address space (CGNAT)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local, cloud metadata"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "IETF protocol assignments"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "6to4 relay anycast"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved, broadcast"),
    (_V6("::/96"), "unspecified, loopback, IPv4-compatible"),
    (_V6("::ffff:0:0:0/96"), "IPv4-translated"),
    (_V6("64:ff9b:1::/48"), "local-use NAT64"),
    (_V6("100::/64"), "discard-only"),
    (_V6("2001::/23"), "IETF protocol assignments, Teredo"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("fc00::/7"), "unique local, cloud metadata"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("ff00::/8"), "multicast"),
)
_NAT64 = _V6("64:ff9b::/96")
# WHATWG URL: a host whose last label is a number is an IPv4 address in some spelling
# (127.1, 0x7f000001, 2130706433, 0177.0.0.1); resolvers agree, so we must too.
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)


def forbidden_reason(ip: Address, allowed: Sequence[Network] = ()) -> str | None:
    """Why `ip` must not be connected to, or None when it may be."""
    if any(ip.version == net.version and ip in net for net in allowed):
        return None
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_v4(ip)) is not None:
        # The packet goes to the IPv4 address inside, so that is what gets judged.
        return forbidden_reason(inner, allowed)
    for net, label in _FORBIDDEN:
        if ip.version == net.version and ip in net:
            return label
    return None if ip.is_global else "not globally routable"


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def host_ip(host: str) -> Address | None:
    """The address a host names literally, in any spelling a resolver accepts; else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    bare = host.rstrip(".")
    if not _NUMERIC_LABEL.fullmatch(bare.rsplit(".", 1)[-1]):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except (OSError, ValueError):  # ValueError: an embedded NUL
        raise UrlRefused(f"{host!r} is not a valid IPv4 address", reason="bad-url") from None


def check_url(url: str, limits: FetchLimits) -> str:
    """Refuse what we never fetch, before any DNS or I/O; return the normalized URL."""
    url = url.strip()
    if len(url) > limits.max_url_length:
        raise UrlRefused(f"URL longer than {limits.max_url_length} characters", reason="too-long")
    parsed = _parse(url, limits)
    if parsed.scheme not in ("http", "https"):
        raise UrlRefused("only http and https URLs are fetched", reason="bad-scheme")
    if parsed.userinfo:
        raise UrlRefused("URLs with credentials are not fetched", reason="credentials")
    if not parsed.host:
        raise UrlRefused("URL has no host", reason="no-host")
    if "%" in parsed.host and ":" not in parsed.host:  # an IPv6 literal may carry a zone
        # No DNS name has escapes, and urllib (robots.txt rules) would decode a `%5B` in
        # the host into a `[` it then refuses to parse.
        raise UrlRefused("invalid URL: the host name has a %-escape", reason="bad-url")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise UrlRefused(f"port {parsed.port} is out of range", reason="bad-url")
    _refuse_literal(parsed.host, limits)
    cleaned = str(parsed.copy_with(fragment=None))  # fragments never reach the server
    if len(cleaned) > limits.max_url_length:
        raise UrlRefused(f"URL longer than {limits.max_url_length} characters", reason="too-long")
    return cleaned


def _parse(url: str, limits: FetchLimits) -> httpx.URL:
    # The very parser the client uses: a second parser could disagree about the host.
    try:
        parsed = httpx.URL(url)
        _ = parsed.host  # decodes an IDNA host: an invalid A-label (xn--zz) raises only here
    except (httpx.InvalidURL, ValueError) as exc:  # idna.IDNAError is a ValueError
        # httpx rejects some numeric spellings (0177.0.0.1); name the real problem if so.
        try:
            host = urlsplit(url).hostname
        except ValueError:
            host = None
        if host:
            _refuse_literal(host, limits)
        raise UrlRefused(f"invalid URL: {exc}", reason="bad-url") from None
    try:
        # The standard library must split it too: URL keys and per-host slots use it, and
        # httpx lets an unclosed `[` through (percent-encoded, off to DNS).
        urlsplit(url)
    except ValueError as exc:
        raise UrlRefused(f"invalid URL: {exc}", reason="bad-url") from None
    return parsed


def _refuse_literal(host: str, limits: FetchLimits) -> None:
    ip = host_ip(host)
    if ip is not None and (why := forbidden_reason(ip, limits.allowed_networks)):
        subject = host if host == str(ip) else f"{host} ({ip})"  # 0x7f000001 (127.0.0.1)
        raise address_refused(subject, str(ip), why)


def address_refused(subject: str, ip: str, why: str) -> UrlRefused:
    """The refusal of a non-public address, saying how an operator allows it on purpose (a
    test site, an intranet): the setting behind FetchLimits.allowed_networks."""
    address = ipaddress.ip_address(ip.partition("%")[0])  # without an IPv6 zone (%eth0)
    network = f"{address}/{address.max_prefixlen}"  # that one address
    return UrlRefused(
        f"{subject} is not a public address ({why}); to fetch from it on purpose, add "
        f"{network} to the FETCH_ALLOWED_NETWORKS setting",
        reason="forbidden-address",
    )
