"""A loopback publisher for the feed tests: feeds built from the corpus in tests/data/feeds
(their entry links rewritten to this site), an article page for every entry, a home page
declaring its feeds, a robots.txt with Sitemap: lines; ETag and Last-Modified validators;
failures and slow pages on demand; and a record of every request."""

import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from app.parsing.feeds import parse_feed

CORPUS = Path(__file__).resolve().parent / "data" / "feeds" / "files"
LAST_MODIFIED = "Mon, 07 Dec 2026 06:00:00 GMT"

# An article page without a byline or a date: the feed's entry supplies those.
PAGE = """<!DOCTYPE html><html lang="en"><head><title>{title}</title>
<link rel="canonical" href="{url}"></head><body><nav><a href="/">Home</a></nav>
<article><h1>{title}</h1>
<p>{lead} This report was filed for the archive's feed tests and names entry {n}.</p>
<p>The second paragraph keeps the text long enough to be taken for an article body by
the extractor, with a few plain sentences about the subject of entry {n}.</p>
<p>A third paragraph, so that the body has the shape of a short news story about {n}.</p>
</article></body></html>"""


@dataclass
class Hit:
    path: str
    at: float  # time.monotonic()
    if_none_match: str | None
    if_modified_since: str | None


@dataclass
class Failure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


class FeedSite:
    """Serve `documents[path] = (content_type, body)`; `failures[path]` answers an error
    instead; `slow[path prefix] = seconds` delays answers."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        self.documents: dict[str, tuple[str, bytes]] = {}
        self.failures: dict[str, Failure] = {}
        self.slow: dict[str, float] = {}
        self.hits: list[Hit] = []
        self.in_flight = 0  # requests being answered now
        self.most_in_flight = 0
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((address, 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.site = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,))

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def serve(self, path: str, content_type: str, body: bytes | str) -> str:
        data = body.encode() if isinstance(body, str) else body
        with self.lock:
            self.documents[path] = (content_type, data)
        return self.base + path

    def corpus_feed(self, name: str, path: str, prefix: str = "/articles") -> tuple[str, list[str]]:
        """Serve corpus file `name` at `path`, every entry link pointing at an article page
        of this site (served too); returns the feed URL and the article URLs in order."""
        raw = (CORPUS / name).read_bytes()
        parsed = parse_feed(raw, "https://example.org/feed.xml")
        text = raw.decode("latin-1")  # byte-preserving: links are ASCII
        links = list(dict.fromkeys(e.link for e in parsed.entries if e.link))
        articles = [f"{self.base}{prefix}/{n}" for n in range(len(links))]
        # longest first: a link that is a prefix of another must not eat into it
        for link, url in sorted(zip(links, articles, strict=True), key=lambda p: -len(p[0])):
            for spelling in _spellings(link):
                text = text.replace(spelling, url)
        for n, url in enumerate(articles):
            title = f"Feed test story {name[:20]} number {n}"
            self.serve(
                url.removeprefix(self.base), "text/html; charset=utf-8", _page(title, url, n)
            )
        content_type = "application/json" if name.endswith(".json") else "application/xml"
        return self.serve(path, content_type, text.encode("latin-1")), articles

    def requests_to(self, path: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.path == path]

    def __enter__(self) -> "FeedSite":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def _spellings(link: str) -> list[str]:
    """How a link may be written in the raw document (XML-escaped, JSON-escaped)."""
    return [link.replace("&", "&amp;"), link.replace("/", "\\/"), link]


def _page(title: str, url: str, n: int) -> str:
    return PAGE.format(title=title, url=url, n=n, lead=f"Story {n} begins here.")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        site: FeedSite = self.server.site  # type: ignore[attr-defined]
        path = self.path.split("?")[0]
        with site.lock:
            site.hits.append(
                Hit(
                    path,
                    time.monotonic(),
                    self.headers.get("If-None-Match"),
                    self.headers.get("If-Modified-Since"),
                )
            )
            failure = site.failures.get(path)
            document = site.documents.get(path)
            delay = max((s for p, s in site.slow.items() if path.startswith(p)), default=0.0)
            site.in_flight += 1
            site.most_in_flight = max(site.most_in_flight, site.in_flight)
        try:
            self._answer(site, path, failure, document, delay)
        finally:
            with site.lock:
                site.in_flight -= 1

    def _answer(
        self,
        site: "FeedSite",
        path: str,
        failure: Failure | None,
        document: tuple[str, bytes] | None,
        delay: float,
    ) -> None:
        if delay:
            time.sleep(delay)
        if failure is not None:
            return self._send(failure.status, "text/plain", b"failing on purpose", failure.headers)
        if document is None:
            return self._send(404, "text/plain", b"not found")
        content_type, body = document
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        validators = {"ETag": etag, "Last-Modified": LAST_MODIFIED}
        if self.headers.get("If-None-Match") == etag:
            return self._send(304, None, b"", validators)
        return self._send(200, content_type, body, validators)

    def _send(
        self,
        status: int,
        content_type: str | None,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
