"""A tiny loopback web site for ingest tests: pages can change, redirect and honour ETags."""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ARTICLE = """<!DOCTYPE html><html lang="en"><head>
<title>{headline} | Example News</title>
<meta property="og:title" content="{headline}">
<meta property="og:site_name" content="Example News">
<meta property="article:published_time" content="2026-11-20T08:30:00+02:00">
<link rel="canonical" href="{canonical}">
</head><body>
<nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article><h1>{headline}</h1>
<p class="byline">By Jane Doe</p>
{paragraphs}
<p>Read more: <a href="/news/2026/11/19/earlier-storm-story">Earlier storm hit the coast</a></p>
</article>
<footer><a href="/about">About us</a></footer>
</body></html>"""


def article_html(headline: str, paragraphs: list[str], canonical: str) -> str:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return ARTICLE.format(headline=headline, paragraphs=body, canonical=canonical)


class Site:
    """Serve `pages[path] = (content_type, body)` and `redirects[path] = location`; a page's
    ETag is a hash of its body unless `etags[path]` says otherwise."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.redirects: dict[str, str] = {}
        self.etags: dict[str, str] = {}
        self.hits: list[tuple[str, str | None]] = []  # (path, If-None-Match)
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, 0), _Handler)
        self._httpd.site = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,))

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def page(self, path: str, html: str, content_type: str = "text/html; charset=utf-8") -> str:
        self.pages[path] = (content_type, html.encode())
        return self.base + path

    def __enter__(self) -> "Site":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        site: Site = self.server.site  # type: ignore[attr-defined]
        path = self.path.split("?")[0]
        with site.lock:
            site.hits.append((path, self.headers.get("If-None-Match")))
        if path == "/robots.txt":
            return self._send(404, "text/plain", b"")
        if path in site.redirects:
            self.send_response(301)
            self.send_header("Location", site.redirects[path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if path not in site.pages:
            return self._send(404, "text/html", b"<h1>not found</h1>")
        content_type, body = site.pages[path]
        etag = site.etags.get(path) or '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return None
        return self._send(200, content_type, body, etag)

    def _send(self, status: int, content_type: str, body: bytes, etag: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)
