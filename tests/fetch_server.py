"""A loopback HTTP server serving the hostile and ordinary pages tests/test_fetching.py needs.

It counts accepted connections, so a test can prove that a refused address was never
connected to, and records each request's headers per path.
"""

import socket
import ssl
import struct
import threading
import zlib
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PAGE = b"<!DOCTYPE html><html><head><title>Hi</title></head><body><p>Hello</p></body></html>"
ETAG = '"v1"'
LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT"
ROBOTS = "User-agent: *\nDisallow: /private/\n"


def gzip_bomb(mib: int = 1024) -> bytes:
    """About 1 MB of valid gzip that expands to `mib` MiB (1 GiB) of zeros, built in ~0.1 s.

    After a full flush deflate starts afresh, so every 1 MiB block of zeros compresses to the
    same bytes: compress two, repeat the second, then close the stream by hand.
    """
    zeros = bytes(1 << 20)
    zipper = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    first = zipper.compress(zeros) + zipper.flush(zlib.Z_FULL_FLUSH)  # with the gzip header
    block = zipper.compress(zeros) + zipper.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    final = b"\x03\x00"  # an empty final fixed-Huffman block
    trailer = struct.pack("<II", crc, (mib << 20) & 0xFFFFFFFF)
    return first + block * (mib - 1) + final + trailer


class FetchServer:
    """A threaded http.server on `host`, port chosen by the OS; use as a context manager."""

    def __init__(
        self, host: str = "127.0.0.1", bomb: bytes = b"", tls: ssl.SSLContext | None = None
    ) -> None:
        self.host = host
        self.tls = tls
        self.server_names: list[str | None] = []  # SNI seen, when serving TLS
        self.bomb = bomb
        self.robots_txt: str | None = ROBOTS
        self.robots_status = 200
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.connections = 0
        self.hits: Counter[str] = Counter()
        self.headers: dict[str, dict[str, str]] = {}
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._httpd = _Server((host, 0), _Handler, self, family)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,))

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str = "/page") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    def reset(self) -> None:
        with self._lock:
            self.connections = 0
            self.hits.clear()
            self.headers.clear()
        self.robots_txt, self.robots_status = ROBOTS, 200

    def __enter__(self) -> "FetchServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()  # ends drips and stalls
        self._httpd.shutdown()
        self._httpd.server_close()  # joins the handler threads
        self._thread.join()

    def _record(self, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.hits[path] += 1
            self.headers[path] = headers

    def _count_connection(self) -> None:
        with self._lock:
            self.connections += 1


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() waits for handlers and nothing leaks
    request_queue_size = 64  # the default 5 drops concurrent SYNs, costing 1 s retransmits

    def __init__(self, address: Any, handler: Any, owner: FetchServer, family: int) -> None:
        self.address_family = family
        self.owner = owner
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        self.owner._count_connection()
        if self.owner.tls is not None:
            # Handshake lazily in the handler thread, where a failure is just handle_error.
            tls = self.owner.tls
            tls.sni_callback = lambda _sock, name, _ctx: self.owner.server_names.append(name)
            sock = tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-drip is the point of several tests


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        owner = self.server.owner
        owner._record(parts.path, {k.lower(): v for k, v in self.headers.items()})
        name = parts.path.strip("/").split("/")[0] or "page"
        route = _ROUTES.get(name, _not_found)
        route(
            self,
            owner,
            parts.path,
            {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
        )

    def reply(self, status: int, body: bytes = b"", **headers: str) -> None:
        """Send a whole response; header names use _ for -, an empty value omits the header."""
        fields = {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(body))}
        fields.update({key.replace("_", "-"): value for key, value in headers.items()})
        self.send_response(status)
        for key, value in fields.items():
            if value:
                self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


Route = Callable[[_Handler, FetchServer, str, dict[str, str]], None]


def _page(h: _Handler, owner: FetchServer, path: str, q: dict[str, str]) -> None:
    fresh = h.headers.get("If-None-Match") == ETAG
    fresh = fresh or h.headers.get("If-Modified-Since") == LAST_MODIFIED
    if fresh:
        h.send_response(304)
        h.send_header("ETag", ETAG)
        h.end_headers()
        return
    h.reply(200, PAGE, ETag=ETAG, Last_Modified=LAST_MODIFIED)


def _robots(h: _Handler, owner: FetchServer, path: str, q: dict[str, str]) -> None:
    body = (owner.robots_txt or "").encode()
    h.reply(owner.robots_status, body, Content_Type="text/plain")


def _typed(h: _Handler, owner: FetchServer, path: str, q: dict[str, str]) -> None:
    # /typed?ct=... ; an empty ct sends no Content-Type at all; &png=1 sends PNG bytes
    body = b"\x89PNG\r\n\x1a\n" + bytes(64) if q.get("png") else PAGE
    h.reply(200, body, Content_Type=q.get("ct", ""))


def _redirect(h: _Handler, owner: FetchServer, path: str, q: dict[str, str]) -> None:
    # /redirect/N -> /redirect/N-1 -> ... -> /page ; /redirect?to=URL -> URL
    left = int(path.rsplit("/", 1)[-1]) if path.count("/") > 1 else 0
    target = q.get("to") or (f"/redirect/{left - 1}" if left > 1 else "/page")
    h.reply(int(q.get("status", "302")), Location=target)


def _status(h: _Handler, owner: FetchServer, path: str, q: dict[str, str]) -> None:
    h.reply(int(path.rsplit("/", 1)[-1]), b"<html>error page</html>")


def _big(h: _Handler, owner: FetchServer, path: str, q: dict[str, str]) -> None:
    size = int(q["n"])
    if q.get("chunked"):  # no Content-Length: the body ends when the connection closes
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.end_headers()
        for start in range(0, size, 65536):
            h.wfile.write(b"a" * min(65536, size - start))
        return
    h.reply(200, b"<html>" + b"a" * (size - 6))


def _encoded(h: _Handler, owner: FetchServer, path: str, q: dict[str, str]) -> None:
    encoding = q["enc"]
    level, wbits = (6, 16 + zlib.MAX_WBITS) if encoding == "gzip" else (6, zlib.MAX_WBITS)
    zipper = zlib.compressobj(level, zlib.DEFLATED, wbits)
    h.reply(200, zipper.compress(PAGE) + zipper.flush(), Content_Encoding=encoding)


def _bomb(h: _Handler, owner: FetchServer, path: str, q: dict[str, str]) -> None:
    h.reply(200, owner.bomb, Content_Encoding="gzip")


def _drip(h: _Handler, owner: FetchServer, path: str, q: dict[str, str]) -> None:
    # One byte every 0.2 s for a minute; read timeouts never fire, only a total deadline helps.
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.send_header("Content-Length", "300")
    h.end_headers()
    for _ in range(300):
        if owner.stop.wait(0.2):
            return
        h.wfile.write(b"a")
        h.wfile.flush()


def _stall(h: _Handler, owner: FetchServer, path: str, q: dict[str, str]) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.end_headers()
    h.wfile.flush()
    owner.stop.wait(60)


def _garbage(h: _Handler, owner: FetchServer, path: str, q: dict[str, str]) -> None:
    h.wfile.write(b"\x00\x01 this is not HTTP at all\r\n\r\n")
    h.close_connection = True


def _not_found(h: _Handler, owner: FetchServer, path: str, q: dict[str, str]) -> None:
    h.reply(404, b"<html>not found</html>")


_ROUTES: dict[str, Route] = {
    "page": _page,
    "private": _page,
    "robots.txt": _robots,
    "typed": _typed,
    "redirect": _redirect,
    "status": _status,
    "big": _big,
    "encoded": _encoded,
    "bomb": _bomb,
    "drip": _drip,
    "stall": _stall,
    "garbage": _garbage,
}
