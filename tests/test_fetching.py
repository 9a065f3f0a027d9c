"""app.fetching against real loopback servers; no test ever connects off 127.0.0.0/8 or ::1."""

import gzip
import ipaddress
import socket
import ssl
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest
import trustme

from app.errors import (
    AppError,
    FetchError,
    NotHtml,
    RobotsDisallowed,
    UpstreamError,
    UpstreamTimeout,
    UrlRefused,
)
from app.fetching import Fetcher, FetchLimits, check_url, forbidden_reason, parse_networks
from app.fetching.network import SafeBackend
from tests.fetch_server import ETAG, LAST_MODIFIED, PAGE, FetchServer, gzip_bomb

LOCAL = parse_networks("127.0.0.1/32")
ONLY_77 = parse_networks("127.0.0.77/32")

MakeFetcher = Callable[..., Fetcher]


@pytest.fixture(scope="module")
def server() -> Iterator[FetchServer]:
    with FetchServer(bomb=gzip_bomb()) as srv:
        yield srv


@pytest.fixture(scope="module")
def server77() -> Iterator[FetchServer]:
    # Linux routes all of 127/8 to loopback, so this is a second, distinct local address.
    with FetchServer("127.0.0.77") as srv:
        yield srv


@pytest.fixture(autouse=True)
def connects(
    monkeypatch: pytest.MonkeyPatch, server: FetchServer, server77: FetchServer
) -> list[tuple[str, int]]:
    """Every TCP connect attempted; one to a non-loopback address fails before it happens."""
    server.reset()
    server77.reset()
    attempts: list[tuple[str, int]] = []
    real = socket.create_connection

    def guarded(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        attempts.append(address)
        assert ipaddress.ip_address(address[0]).is_loopback, f"tried to reach {address}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    return attempts


@pytest.fixture
def make_fetcher() -> Iterator[MakeFetcher]:
    made: list[Fetcher] = []

    def make(resolver: Any = None, ssl_context: Any = None, **limits: Any) -> Fetcher:
        limits.setdefault("allowed_networks", LOCAL)
        extra = {} if resolver is None else {"resolver": resolver}
        made.append(Fetcher(FetchLimits(**limits), ssl_context=ssl_context, **extra))
        return made[-1]

    yield make
    for fetcher in made:
        fetcher.close()


@pytest.fixture
def fetcher(make_fetcher: MakeFetcher) -> Fetcher:
    return make_fetcher()


def refused_reason(call: Callable[[], object]) -> str:
    with pytest.raises(UrlRefused) as info:
        call()
    return info.value.reason


# --- the address policy ---------------------------------------------------------------

FORBIDDEN = [
    "10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1", "127.0.0.1", "127.255.0.9",
    "169.254.169.254", "169.254.1.1", "100.64.0.1", "100.127.255.254", "224.0.0.1",
    "239.255.255.250", "0.0.0.0", "0.1.2.3", "240.0.0.1", "255.255.255.255", "198.18.0.1",
    "198.19.255.1", "192.0.2.1", "198.51.100.7", "203.0.113.9", "192.0.0.8",
    "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1", "ff0e::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
    "64:ff9b::a00:1", "64:ff9b::7f00:1", "2002:7f00:1::", "2002:a9fe:a9fe::1", "2001::1",
    "fec0::1", "100::1",
]  # fmt: skip
PUBLIC = [
    "93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8",
    "64:ff9b::808:808", "2002:808:808::1",
]  # fmt: skip


@pytest.mark.parametrize("address", FORBIDDEN)
def test_forbidden_addresses_are_refused(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


def test_allow_list_opens_only_its_own_networks() -> None:
    ip = ipaddress.ip_address
    assert forbidden_reason(ip("127.0.0.77"), ONLY_77) is None
    assert forbidden_reason(ip("::ffff:127.0.0.77"), ONLY_77) is None
    assert forbidden_reason(ip("127.0.0.1"), ONLY_77) == "loopback"
    assert forbidden_reason(ip("::1"), parse_networks("127.0.0.0/8")) is not None


def test_parse_networks() -> None:
    assert parse_networks(" 127.0.0.77/32, 10.0.0.0/8 ,fd00::/8,") == (
        ipaddress.ip_network("127.0.0.77/32"),
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
    )
    assert parse_networks("") == ()
    for junk in ("junk", "10.0.0.1/8", "10.0.0.0/33", "127.0.0.1/32; 10/8"):
        with pytest.raises(ValueError):  # noqa: PT011 - ipaddress gives no finer type
            parse_networks(junk)


# --- check_url: syntax, before any DNS ------------------------------------------------

LIMITS = FetchLimits()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "bad-scheme"),
        ("file:///etc/passwd", "bad-scheme"),
        ("javascript:alert(1)", "bad-scheme"),
        ("gopher://example.com:70/", "bad-scheme"),
        ("http://user:pw@example.com/", "credentials"),
        ("https://user@example.com/", "credentials"),
        ("http:///path", "no-host"),
        ("http://example.com:99999/", "bad-url"),
        ("http://ex\x00ample.com/", "bad-url"),
        ("http://1.2.3.999/", "bad-url"),
        ("http://example.com/" + "a" * 2100, "too-long"),
        ("http://10.1.2.3/", "forbidden-address"),
        ("http://172.16.0.1/", "forbidden-address"),
        ("http://192.168.0.1/", "forbidden-address"),
        ("http://169.254.169.254/latest/meta-data/", "forbidden-address"),
        ("http://100.64.0.1/", "forbidden-address"),
        ("http://224.0.0.1/", "forbidden-address"),
        ("http://0.0.0.0/", "forbidden-address"),
        ("http://0/", "forbidden-address"),
        ("http://[fe80::1]/", "forbidden-address"),
        ("http://[fc00::1]/", "forbidden-address"),
        ("http://[fd00:ec2::254]/", "forbidden-address"),
        ("http://[ff02::1]/", "forbidden-address"),
        ("http://[::ffff:127.0.0.1]/", "forbidden-address"),
        ("http://0x7f000001/", "forbidden-address"),
        ("http://2130706433/", "forbidden-address"),
        ("http://0177.0.0.1/", "forbidden-address"),
        ("http://127.1/", "forbidden-address"),
        ("http://0xa9.0xfe.0xa9.0xfe/", "forbidden-address"),
        ("http://127.0.0.1./", "forbidden-address"),
        # URLs that do not parse must be refused, not raise: an unclosed `[` (httpx would
        # send it to DNS), a bad IPv6 literal, an invalid punycode label, an escape in a
        # host name, a NUL in a numeric-looking host
        ("http://[::1/x", "bad-url"),
        ("https://[abc/", "bad-url"),
        ("http://[::ffff:127.0.0.077]:1/x", "bad-url"),
        ("https://xn--zz/", "bad-url"),
        ("http://a%5B.com/", "bad-url"),
        ("http://1\x00.2/", "bad-url"),
    ],
)
def test_check_url_refuses(url: str, reason: str) -> None:
    assert refused_reason(lambda: check_url(url, LIMITS)) == reason


def test_check_url_normalizes() -> None:
    cleaned = check_url("  HTTP://Example.COM:80/a b?q=1#frag ", LIMITS)
    assert cleaned == "http://example.com/a%20b?q=1"
    assert check_url("https://例え.jp/", LIMITS) == "https://xn--r8jz45g.jp/"


def test_check_url_honours_the_allow_list() -> None:
    assert check_url("http://127.0.0.77/", FetchLimits(allowed_networks=ONLY_77))
    assert refused_reason(lambda: check_url("http://127.0.0.1/", LIMITS)) == "forbidden-address"


def test_error_classes() -> None:
    expected = {
        FetchError: 502, UrlRefused: 400, RobotsDisallowed: 403, UpstreamError: 502,
        UpstreamTimeout: 504, NotHtml: 422,
    }  # fmt: skip
    for cls, status in expected.items():
        assert issubclass(cls, AppError)
        assert cls.status == status
        assert cls("x").detail == "x"
    assert UpstreamError("x", reason="too-large").reason == "too-large"
    assert UpstreamTimeout("x").reason == "timeout"


# --- the connect-time guard, with the default (empty) allow-list ---------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1", "localhost", "0x7f000001", "2130706433", "0177.0.0.1", "127.1",
        "[::1]", "[::ffff:127.0.0.1]",
    ],
)  # fmt: skip
def test_default_refuses_loopback_before_any_byte(
    host: str, server: FetchServer, make_fetcher: MakeFetcher, connects: list[Any]
) -> None:
    fetcher = make_fetcher(allowed_networks=())
    reason = refused_reason(lambda: fetcher.fetch(f"http://{host}:{server.port}/page"))
    assert reason == "forbidden-address"
    assert connects == []
    assert server.connections == 0


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "0x7f000001", "2130706433", "0177.0.0.1", "127.1", "::1"]
)
def test_backend_refuses_on_its_own(host: str, server: FetchServer, connects: list[Any]) -> None:
    # Even a URL that slipped past check_url is stopped where the socket would be opened.
    with pytest.raises(UrlRefused):
        SafeBackend().connect_tcp(host, server.port, timeout=1)
    assert connects == []
    assert server.connections == 0


def test_allowed_network_is_fetched_and_others_still_refused(
    server: FetchServer, server77: FetchServer, make_fetcher: MakeFetcher, connects: list[Any]
) -> None:
    fetcher = make_fetcher(allowed_networks=ONLY_77)
    assert fetcher.fetch(server77.url()).body == PAGE
    reason = refused_reason(lambda: fetcher.fetch(server.url()))
    assert reason == "forbidden-address"
    assert server.connections == 0
    assert {address[0] for address in connects} == {"127.0.0.77"}


def test_dns_rebinding_is_refused_at_connect(
    server77: FetchServer, make_fetcher: MakeFetcher, connects: list[Any]
) -> None:
    # The name passes while it points at an allowed address, then the attacker's DNS
    # rebinds it to a forbidden one. Nothing was resolved ahead of the connect, so the
    # address judged is the address the new connection would have used.
    answer = ["127.0.0.77"]
    fetcher = make_fetcher(lambda host, port: list(answer), allowed_networks=ONLY_77)
    url = f"http://rebind.example:{server77.port}/page"
    assert fetcher.fetch(url).body == PAGE
    answer[:] = ["127.0.0.1"]
    assert refused_reason(lambda: fetcher.fetch(url)) == "forbidden-address"
    assert {address[0] for address in connects} == {"127.0.0.77"}
    assert server77.headers["/page"]["host"] == f"rebind.example:{server77.port}"


def test_one_bad_answer_refuses_the_whole_host(
    make_fetcher: MakeFetcher, connects: list[Any]
) -> None:
    fetcher = make_fetcher(lambda host, port: ["93.184.216.34", "127.0.0.1"], allowed_networks=())
    reason = refused_reason(lambda: fetcher.fetch("http://mixed.example/page"))
    assert reason == "forbidden-address"
    assert connects == []  # not even the public answer was tried


def test_resolution_failure(make_fetcher: MakeFetcher) -> None:
    def fail(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UpstreamError) as info:
        make_fetcher(fail).fetch("http://nowhere.example/")
    assert info.value.reason == "dns"


# --- fetching real pages -------------------------------------------------------------


def test_fetches_a_page(server: FetchServer, fetcher: Fetcher) -> None:
    page = fetcher.fetch(server.url())
    assert page.url == page.final_url == server.url()
    assert (page.status, page.body, page.redirects, page.not_modified) == (200, PAGE, (), False)
    assert (page.content_type, page.charset) == ("text/html", "utf-8")
    assert (page.etag, page.last_modified) == (ETAG, LAST_MODIFIED)
    sent = server.headers["/page"]
    assert sent["user-agent"] == FetchLimits().user_agent
    assert sent["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize(
    ("content_type", "charset"),
    [("text/html; charset=ISO-8859-1", "iso-8859-1"), ("application/xhtml+xml", None), ("", None)],
)
def test_html_like_types_are_accepted(
    content_type: str, charset: str | None, server: FetchServer, fetcher: Fetcher
) -> None:
    page = fetcher.fetch(server.url(f"/typed?ct={quote(content_type)}"))
    assert page.charset == charset
    assert page.body == PAGE


@pytest.mark.parametrize(
    "query", ["ct=application/pdf", "ct=image/png", "ct=application/json", "ct=&png=1"]
)
def test_other_types_are_not_html(query: str, server: FetchServer, fetcher: Fetcher) -> None:
    with pytest.raises(NotHtml) as info:
        fetcher.fetch(server.url(f"/typed?{query}"))
    assert info.value.reason == "content-type"


def test_conditional_get(server: FetchServer, fetcher: Fetcher) -> None:
    by_etag = fetcher.fetch(server.url(), etag=ETAG)
    assert (by_etag.status, by_etag.not_modified, by_etag.body) == (304, True, b"")
    assert server.headers["/page"]["if-none-match"] == ETAG
    by_date = fetcher.fetch(server.url(), last_modified=LAST_MODIFIED)
    assert by_date.not_modified
    assert server.headers["/page"]["if-modified-since"] == LAST_MODIFIED
    changed = fetcher.fetch(server.url(), etag='"v0"')
    assert (changed.status, changed.not_modified, changed.body) == (200, False, PAGE)


def test_follows_redirects(server: FetchServer, fetcher: Fetcher) -> None:
    page = fetcher.fetch(server.url("/redirect/5"))
    assert page.final_url == server.url("/page")
    assert page.redirects == tuple(server.url(f"/redirect/{n}") for n in range(5, 0, -1))
    relative = fetcher.fetch(server.url("/redirect?to=page&status=301"))
    assert relative.final_url == server.url("/page")


def test_too_many_redirects(server: FetchServer, fetcher: Fetcher) -> None:
    with pytest.raises(UpstreamError) as info:
        fetcher.fetch(server.url("/redirect/6"))
    assert info.value.reason == "too-many-redirects"
    assert server.hits["/page"] == 0


@pytest.mark.parametrize(
    "target",
    ["http://127.0.0.1:{port}/page", "http://169.254.169.254/latest/meta-data/", "file:///etc/x"],
)
def test_redirect_to_a_forbidden_place(
    target: str,
    server: FetchServer,
    server77: FetchServer,
    make_fetcher: MakeFetcher,
    connects: list[Any],
) -> None:
    fetcher = make_fetcher(allowed_networks=ONLY_77)
    to = quote(target.format(port=server.port), safe="")
    with pytest.raises(UrlRefused):
        fetcher.fetch(server77.url(f"/redirect?to={to}"))
    assert server.connections == 0
    assert {address[0] for address in connects} == {"127.0.0.77"}


@pytest.mark.parametrize("status", [404, 410, 500, 503])
def test_upstream_error_statuses(status: int, server: FetchServer, fetcher: Fetcher) -> None:
    with pytest.raises(UpstreamError) as info:
        fetcher.fetch(server.url(f"/status/{status}"))
    assert (info.value.reason, info.value.status) == ("http-status", 502)
    assert str(status) in info.value.detail


def test_garbage_and_refused_connections(server: FetchServer, fetcher: Fetcher) -> None:
    with pytest.raises(UpstreamError) as info:
        fetcher.fetch(server.url("/garbage"))
    assert info.value.reason == "bad-response"
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(UpstreamError) as info:
        fetcher.fetch(f"http://127.0.0.1:{closed}/")
    assert info.value.reason == "connect"


def test_body_limit_is_exact(server: FetchServer, make_fetcher: MakeFetcher) -> None:
    fetcher = make_fetcher(max_bytes=100_000)
    assert len(fetcher.fetch(server.url("/big?n=100000")).body) == 100_000
    assert len(fetcher.fetch(server.url("/big?n=100000&chunked=1")).body) == 100_000
    for query in ("n=100001", "n=100001&chunked=1", "n=50000000&chunked=1"):
        with pytest.raises(UpstreamError) as info:
            fetcher.fetch(server.url(f"/big?{query}"))
        assert info.value.reason == "too-large"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_pages(encoding: str, server: FetchServer, fetcher: Fetcher) -> None:
    assert fetcher.fetch(server.url(f"/encoded?enc={encoding}")).body == PAGE


def test_unasked_encoding_is_refused(server: FetchServer, fetcher: Fetcher) -> None:
    with pytest.raises(UpstreamError) as info:
        fetcher.fetch(server.url("/encoded?enc=br"))
    assert info.value.reason == "bad-encoding"


def test_gzip_bomb_is_cut_without_ballooning(server: FetchServer, fetcher: Fetcher) -> None:
    assert len(server.bomb) < 1_100_000
    tracemalloc.start()
    try:
        with pytest.raises(UpstreamError) as info:
            fetcher.fetch(server.url("/bomb"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.reason == "too-large"
    # The budget plus one 64 KiB step, with room for httpx; naive decoding would need 1 GiB.
    assert peak < 3 * FetchLimits().max_bytes


def test_gzip_bomb_builder_makes_valid_gzip() -> None:
    # gzip.decompress checks the hand-made CRC and length trailer.
    assert gzip.decompress(gzip_bomb(mib=3)) == bytes(3 << 20)


# /drip and /stall last a minute. A fetch that one of the limits under test should end in
# a second or two, but is not ended by it, is still running after HANG_BOUND seconds: a
# bound on a hang (far above any slowness of a loaded machine), not a speed target.
HANG_BOUND = 45.0


def bounded(call: Callable[[], Any]) -> Any:
    """call()'s result (or exception); TimeoutError if it is still running after HANG_BOUND."""
    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(call).result(timeout=HANG_BOUND)
    finally:
        pool.shutdown(wait=False)  # a hung fetch ends when the server stops its drip


def test_slow_drip_is_cut_at_total_timeout(server: FetchServer, make_fetcher: MakeFetcher) -> None:
    # A byte every 0.2 s: with the read timeout far away, only the total deadline ends it.
    fetcher = make_fetcher(total_timeout=2.0, read_timeout=600.0)
    with pytest.raises(UpstreamTimeout) as info:
        bounded(lambda: fetcher.fetch(server.url("/drip")))
    assert (info.value.reason, info.value.status) == ("timeout", 504)


@pytest.mark.parametrize(
    "limits",
    [{"read_timeout": 0.5, "total_timeout": 600.0}, {"total_timeout": 0.5, "read_timeout": 600.0}],
    ids=["read", "total"],
)
def test_stalled_body_times_out(
    limits: dict[str, float], server: FetchServer, make_fetcher: MakeFetcher
) -> None:
    # Each limit alone, the other far away. With only total_timeout small, a socket read
    # would wait out the stall: the deadline caps every socket read.
    fetcher = make_fetcher(**limits)
    with pytest.raises(UpstreamTimeout):
        bounded(lambda: fetcher.fetch(server.url("/stall")))


def test_https_checks_the_name_while_connecting_to_the_checked_ip(
    make_fetcher: MakeFetcher, connects: list[Any]
) -> None:
    ca = trustme.CA()
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("news.example").configure_cert(server_side)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)

    def to_loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    with FetchServer(tls=server_side) as tls_server:
        url = f"https://news.example:{tls_server.port}/page"
        assert make_fetcher(to_loopback, trusting).fetch(url).body == PAGE
        assert tls_server.server_names[-1] == "news.example"  # SNI is the name, not the IP
        for fetcher, other in [
            (make_fetcher(to_loopback), url),  # default trust: our test CA is unknown
            (make_fetcher(to_loopback, trusting), url.replace("news.", "other.")),  # wrong name
        ]:
            with pytest.raises(UpstreamError) as info:
                fetcher.fetch(other)
            assert info.value.reason == "connect"
    assert {address[0] for address in connects} == {"127.0.0.1"}


# --- robots.txt ----------------------------------------------------------------------


def test_robots_disallow(server: FetchServer, fetcher: Fetcher) -> None:
    with pytest.raises(RobotsDisallowed) as info:
        fetcher.fetch(server.url("/private/page"))
    assert (info.value.reason, info.value.status) == ("robots", 403)
    assert server.hits["/private/page"] == 0


def test_robots_can_be_ignored(server: FetchServer, make_fetcher: MakeFetcher) -> None:
    fetcher = make_fetcher(respect_robots=False)
    assert fetcher.fetch(server.url("/private/page")).body == PAGE
    assert server.hits["/robots.txt"] == 0


def test_robots_is_cached_per_origin(server: FetchServer, fetcher: Fetcher) -> None:
    fetcher.fetch(server.url())
    fetcher.fetch(server.url("/redirect/2"))
    assert server.hits["/robots.txt"] == 1
    assert server.headers["/robots.txt"]["user-agent"] == FetchLimits().user_agent


def test_robots_applies_to_redirect_targets(server: FetchServer, fetcher: Fetcher) -> None:
    with pytest.raises(RobotsDisallowed):
        fetcher.fetch(server.url("/redirect?to=/private/page"))


@pytest.mark.parametrize("status", [404, 403, 500, 503])
def test_unavailable_robots_allows(
    status: int, server: FetchServer, make_fetcher: MakeFetcher
) -> None:
    server.robots_status = status  # 4xx per RFC 9309; 5xx is our documented choice
    assert make_fetcher().fetch(server.url("/private/page")).body == PAGE


# --- sharing ---------------------------------------------------------------------------


def test_one_fetcher_serves_many_threads(server: FetchServer, fetcher: Fetcher) -> None:
    urls = [server.url("/page"), server.url("/redirect/2"), server.url("/encoded?enc=gzip")] * 8
    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(lambda url: fetcher.fetch(url).body, urls))
    assert bodies == [PAGE] * len(urls)
