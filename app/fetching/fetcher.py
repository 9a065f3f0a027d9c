"""Fetcher: one HTML page per call, SSRF-checked, bounded, robots-aware, thread-safe."""

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from app.errors import FetchError, NotHtml, UpstreamError, UpstreamTimeout, UrlRefused
from app.fetching.limits import FetchLimits
from app.fetching.network import (
    Resolver,
    SafeBackend,
    SafeTransport,
    check_deadline,
    deadline,
    resolve,
)
from app.fetching.pacing import before_request
from app.fetching.policy import check_url
from app.fetching.response_bytes import (
    ACCEPT_ENCODING,
    HTML_TYPES,
    BoundedBody,
    looks_like_html,
    parse_content_type,
)
from app.fetching.robots import RobotsCache

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309 asks crawlers to read at least 500 KiB
ROBOTS_TIMEOUT = 5.0


@dataclass(frozen=True)
class FetchedPage:
    url: str  # as requested, normalized by check_url
    final_url: str  # after redirects
    status: int
    content_type: str | None
    charset: str | None
    body: bytes  # decompressed
    etag: str | None
    last_modified: str | None
    not_modified: bool  # True on 304 for a conditional GET (body empty)
    redirects: tuple[str, ...]  # every URL visited before final_url
    # Freshness headers (Cache-Control, Expires, Retry-After, Date), lower-case names:
    # the feed scheduler never polls sooner than they ask.
    freshness: dict[str, str] = field(default_factory=dict)


FRESHNESS_HEADERS = ("cache-control", "expires", "retry-after", "date")


class Fetcher:
    """Fetches stranger-supplied URLs; share one instance between threads."""

    def __init__(
        self,
        limits: FetchLimits,
        *,
        resolver: Resolver = resolve,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        # `resolver` is a seam for tests (DNS rebinding); production uses getaddrinfo.
        # `ssl_context` replaces the default trust (certifi), e.g. for a corporate CA.
        self.limits = limits
        backend = SafeBackend(limits.allowed_networks, resolver)
        pool = httpx.Limits(max_connections=100)
        self._client = httpx.Client(
            transport=SafeTransport(backend, pool, ssl_context),
            trust_env=False,
            follow_redirects=False,  # done by hand so every hop is checked
            timeout=httpx.Timeout(
                limits.read_timeout, connect=limits.connect_timeout, pool=limits.connect_timeout
            ),
            headers={
                "User-Agent": limits.user_agent,
                "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            # Strangers' sites must not leave state behind for the next caller.
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
        )
        self._robots = RobotsCache(limits.user_agent, self._load_robots)

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
        media_types: frozenset[str] | None = HTML_TYPES,
    ) -> FetchedPage:
        """Fetch one HTML page (or, with other `media_types`, None for any, another kind of
        document), following redirects; raise a FetchError subclass otherwise."""
        requested = check_url(url, self.limits)
        headers = {"If-None-Match": etag, "If-Modified-Since": last_modified, "Accept": accept}
        sent = {key: value for key, value in headers.items() if value}
        follow = self._follow(requested, sent, robots=self.limits.respect_robots)
        with deadline(self.limits.total_timeout), follow as (response, redirects):
            return self._page(requested, response, redirects, media_types)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _follow(
        self, url: str, headers: dict[str, str], *, robots: bool
    ) -> Iterator[tuple[httpx.Response, tuple[str, ...]]]:
        """Open `url`, following redirects; yields the final response and the URLs before it."""
        visited: list[str] = []
        while True:
            if robots:
                self._robots.check(url)
            with self._open(url, headers) as response:
                target = _redirect_target(response)
                if target is None:
                    yield response, tuple(visited)
                    return
            visited.append(url)
            if len(visited) > self.limits.max_redirects:
                raise UpstreamError(
                    f"more than {self.limits.max_redirects} redirects", reason="too-many-redirects"
                )
            url = check_url(target, self.limits)  # SafeBackend checks its address on connect

    @contextmanager
    def _open(self, url: str, headers: dict[str, str]) -> Iterator[httpx.Response]:
        """One GET with httpx errors translated; the body is left to the caller to stream."""
        before_request(url)  # a caller's per-host pacing, if any
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                yield response
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"timed out fetching {url}") from exc
        except httpx.NetworkError as exc:
            raise UpstreamError(f"cannot talk to {url}: {exc}", reason="connect") from exc
        except httpx.InvalidURL as exc:
            raise UrlRefused(f"invalid URL: {exc}", reason="bad-url") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"bad response from {url}: {exc}", reason="bad-response") from exc

    def _page(
        self,
        url: str,
        response: httpx.Response,
        redirects: tuple[str, ...],
        media_types: frozenset[str] | None = HTML_TYPES,
    ) -> FetchedPage:
        status = response.status_code
        media, charset = parse_content_type(response.headers.get("content-type"))
        freshness = {
            k: response.headers[k][:256] for k in FRESHNESS_HEADERS if k in response.headers
        }
        body = b""
        if status != 304:
            if not 200 <= status < 300:
                error = UpstreamError(f"upstream answered HTTP {status}", reason="http-status")
                error.http_status, error.freshness = status, freshness
                raise error
            if media_types is not None and media is not None and media not in media_types:
                raise NotHtml(f"content type {media!r} is not HTML")
            body = _read(response, self.limits.max_bytes)
            if media_types is HTML_TYPES and media is None and not looks_like_html(body):
                raise NotHtml("no content type, and the body does not look like HTML")
        return FetchedPage(
            url=url,
            final_url=str(response.url),
            status=status,
            content_type=media,
            charset=charset,
            body=body,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            not_modified=status == 304,
            redirects=redirects,
            freshness=freshness,
        )

    def _load_robots(self, robots_url: str) -> str | None:
        """robots.txt text, or None to allow everything.

        4xx means no rules (RFC 9309). Unlike RFC 9309, a 5xx or an unreachable robots.txt
        also allows: we fetch single pages a person asked for, not crawl, and a site whose
        robots.txt is down usually fails the page fetch too. Redirects are followed.
        """
        follow = self._follow(robots_url, {}, robots=False)
        try:
            with deadline(ROBOTS_TIMEOUT), follow as (response, _):
                if response.status_code != 200:
                    return None
                return _read(response, ROBOTS_MAX_BYTES).decode("utf-8", "replace")
        except FetchError:
            return None


def _redirect_target(response: httpx.Response) -> str | None:
    location = response.headers.get("location")
    if response.status_code not in _REDIRECTS or not location:
        return None  # a 3xx without Location is reported as an HTTP status error
    return str(response.url.join(location))


def _read(response: httpx.Response, limit: int) -> bytes:
    body = BoundedBody(response.headers.get("content-encoding"), limit)
    body.check_declared(response.headers.get("content-length"))
    # iter_raw, not iter_bytes: httpx would decompress whole chunks before we could count.
    for chunk in response.iter_raw():
        body.feed(chunk)
        check_deadline()  # the stream enforces it too; this keeps the intent visible
    return body.body
