"""A farm of loopback news sites for bench/feeds.py: hosts × feeds × entries, article pages
taken from the vendored extraction corpus, each host recording its politeness.

Every host (127.0.0.2, 127.0.0.3, …, all on one port) serves
- `/robots.txt` (everything allowed),
- `/feeds/{n}.xml`: feed n of that host, RSS 2.0 for even n and Atom for odd n, with
  `entries` items, an ETag and a Last-Modified, answering 304 to a matching conditional GET,
- `/news/{n}/{e}.html`: a corpus page made unique (its title and every paragraph carry the
  entry's reference, so no two entries extract to the same text),
- `/_farm/stats` (JSON, not counted) and `POST /_farm/reset` (zeroes the counters).

Per host it counts requests and statuses, the most requests in flight at once and the
shortest gap between two request arrivals; a request that arrives while `concurrency`
others are in flight, or sooner than `delay` after the previous one (less `tolerance`, for
the loopback's own jitter), is a politeness violation. Violations are answered normally
(the bench reports them; refusing would turn them into retries and hide them). Per page it
counts full (200) answers, so the bench can tell fetched-twice from stored-twice.

Run alone: `python bench/feedfarm.py --port 8900` and then
`curl http://127.0.0.2:8900/feeds/0.xml`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import hashlib
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import uvicorn

CORPUS = Path(__file__).resolve().parent / "data" / "extraction"
LAST_MODIFIED = formatdate(1_765_000_000, usegmt=True)


def host_addresses(count: int) -> list[str]:
    """127.0.0.2 … 127.0.0.(count+1): loopback only (the fetcher needs FETCH_ALLOWED_NETWORKS)."""
    if not 0 < count < 250:
        raise ValueError("between 1 and 249 hosts")
    return [f"127.0.0.{i}" for i in range(2, count + 2)]


def load_pages(limit: int | None = None) -> list[bytes]:
    files = sorted(CORPUS.glob("*.html.gz"))[:limit]
    return [gzip.decompress(path.read_bytes()) for path in files]


def usable_pages(pages: list[bytes]) -> list[bytes]:
    """The pages whose extracted body carries the entry's reference (a few corpus pages keep
    their text outside `<p>`: served as entries, they would all extract to the same body)."""
    from app.errors import Unprocessable
    from app.parsing.html import extract_page

    usable = []
    for page in pages:
        try:
            body = extract_page(unique_page(page, "probe"), "http://127.0.0.2/p").article.body
        except Unprocessable:
            continue
        if "[probe]" in body:
            usable.append(page)
    return usable


def unique_page(page: bytes, ref: str) -> bytes:
    """The corpus page with `ref` in its title and at the end of every paragraph."""
    tag = f" [{ref}]".encode()
    page = page.replace(b"</title>", tag + b"</title>", 1)
    return page.replace(b"</p>", tag + b"</p>")


@dataclass
class HostRecord:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    last_arrival: float | None = None
    min_gap: float | None = None
    concurrency_violations: int = 0
    delay_violations: int = 0
    last_path: str = ""
    examples: list = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "max_in_flight": self.max_in_flight,
            "min_gap_ms": None if self.min_gap is None else round(self.min_gap * 1000, 3),
            "concurrency_violations": self.concurrency_violations,
            "delay_violations": self.delay_violations,
            "examples": self.examples,
        }


class Farm:
    """The ASGI app behind every host of the farm."""

    def __init__(
        self,
        *,
        port: int,
        feeds_per_host: int,
        entries: int,
        pages: list[bytes],
        concurrency: int,
        delay: float,
        tolerance: float,
    ) -> None:
        self.port = port
        self.feeds_per_host = feeds_per_host
        self.entries = entries
        self.pages = pages
        self.concurrency = concurrency
        self.delay = delay
        self.tolerance = tolerance
        self.hosts: dict[str, HostRecord] = {}
        self.page_fetches: Counter = Counter()
        self.feed_statuses: Counter = Counter()

    def reset(self) -> None:
        self.hosts.clear()
        self.page_fetches.clear()
        self.feed_statuses.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "hosts": {host: record.as_dict() for host, record in sorted(self.hosts.items())},
            "pages_fetched": len(self.page_fetches),
            "pages_fetched_twice": sum(1 for n in self.page_fetches.values() if n > 1),
            "feed_statuses": {str(k): v for k, v in sorted(self.feed_statuses.items())},
        }

    # -- ASGI ---------------------------------------------------------------------------

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        host = scope["server"][0]
        path = scope["path"]
        if path.startswith("/_farm/"):
            await self._control(path, send)
            return
        record = self.hosts.setdefault(host, HostRecord())
        self._arrive(record, path)
        try:
            status, headers, body = self._answer(host, path, dict(scope["headers"]))
            record.statuses[status] += 1
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            record.in_flight -= 1

    def _arrive(self, record: HostRecord, path: str) -> None:
        now = time.monotonic()
        record.requests += 1
        if record.in_flight >= self.concurrency:
            record.concurrency_violations += 1
            self._example(record, f"{path}: {record.in_flight} others in flight")
        record.in_flight += 1
        record.max_in_flight = max(record.max_in_flight, record.in_flight)
        if record.last_arrival is not None:
            gap = now - record.last_arrival
            record.min_gap = gap if record.min_gap is None else min(record.min_gap, gap)
            if gap < self.delay - self.tolerance:
                record.delay_violations += 1
                self._example(record, f"{path} {gap * 1000:.1f} ms after {record.last_path}")
        record.last_arrival = now
        record.last_path = path

    @staticmethod
    def _example(record: HostRecord, what: str) -> None:
        if len(record.examples) < 5:
            record.examples.append(what)

    async def _control(self, path: str, send: Any) -> None:
        if path == "/_farm/reset":
            self.reset()
        body = json.dumps(self.stats()).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _answer(self, host: str, path: str, headers: dict[bytes, bytes]) -> tuple:
        if path == "/robots.txt":
            return 200, [(b"content-type", b"text/plain")], b"User-agent: *\nAllow: /\n"
        parts = path.strip("/").split("/")
        try:
            if len(parts) == 2 and parts[0] == "feeds" and parts[1].endswith(".xml"):
                return self._feed(host, int(parts[1][:-4]), headers)
            if len(parts) == 3 and parts[0] == "news" and parts[2].endswith(".html"):
                return self._page(host, int(parts[1]), int(parts[2][:-5]))
        except ValueError:
            pass
        return 404, [(b"content-type", b"text/plain")], b"not found"

    def _feed(self, host: str, number: int, headers: dict[bytes, bytes]) -> tuple:
        if not 0 <= number < self.feeds_per_host:
            return 404, [(b"content-type", b"text/plain")], b"no such feed"
        body = self.feed_document(host, number)
        etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'.encode()
        validators = [(b"etag", etag), (b"last-modified", LAST_MODIFIED.encode())]
        if headers.get(b"if-none-match") == etag:
            self.feed_statuses[304] += 1
            return 304, validators, b""
        self.feed_statuses[200] += 1
        kind = b"application/rss+xml" if number % 2 == 0 else b"application/atom+xml"
        return 200, [(b"content-type", kind + b"; charset=utf-8"), *validators], body

    def _page(self, host: str, number: int, entry: int) -> tuple:
        if not (0 <= number < self.feeds_per_host and 0 <= entry < self.entries):
            return 404, [(b"content-type", b"text/plain")], b"no such page"
        self.page_fetches[(host, number, entry)] += 1
        index = (number * self.entries + entry) * 7919 % len(self.pages)
        page = unique_page(self.pages[index], f"{host} {number}-{entry}")
        return 200, [(b"content-type", b"text/html")], page

    # -- documents ----------------------------------------------------------------------

    def base(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    def feed_urls(self, host: str) -> list[str]:
        return [f"{self.base(host)}/feeds/{n}.xml" for n in range(self.feeds_per_host)]

    def entry_urls(self, host: str, number: int) -> list[str]:
        return [f"{self.base(host)}/news/{number}/{e}.html" for e in range(self.entries)]

    def feed_document(self, host: str, number: int) -> bytes:
        links = self.entry_urls(host, number)
        title = f"Feed {number} of {host}"
        if number % 2 == 0:
            items = "".join(
                f"<item><title>Story {number}-{e}</title><link>{escape(link)}</link>"
                f"<guid>{escape(link)}</guid>"
                f"<pubDate>{formatdate(1_765_000_000 - e * 3600, usegmt=True)}</pubDate></item>"
                for e, link in enumerate(links)
            )
            xml = (
                f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>{escape(title)}</title><link>{self.base(host)}/</link>{items}</channel></rss>"
            )
        else:
            items = "".join(
                f'<entry><title>Story {number}-{e}</title><link href="{escape(link)}"/>'
                f"<id>{escape(link)}</id><updated>2025-12-06T{e % 24:02d}:00:00Z</updated></entry>"
                for e, link in enumerate(links)
            )
            xml = (
                f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>{escape(title)}</title><id>{self.base(host)}/feeds/{number}</id>"
                f"<updated>2025-12-06T00:00:00Z</updated>{items}</feed>"
            )
        return xml.encode()


async def serve(farm: Farm, hosts: list[str]) -> None:
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                farm,
                host=host,
                port=farm.port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                http="h11",
            )
        )
        for host in hosts
    ]
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    while not all(server.started for server in servers):
        if any(task.done() for task in tasks):
            sys.exit("the farm could not bind every host")
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    await asyncio.gather(*tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--feeds-per-host", type=int, default=125)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=2, help="allowed in flight per host")
    parser.add_argument("--delay", type=float, default=0.0, help="least seconds between requests")
    parser.add_argument("--tolerance", type=float, default=0.002)
    args = parser.parse_args()
    # The farm stands in for other machines, and its clock readings are the politeness record:
    # ahead of the workers for the CPU, so that their load on this machine does not delay
    # its readings of when requests arrive (where the system allows it).
    with contextlib.suppress(OSError):
        os.nice(-10)
    farm = Farm(
        port=args.port,
        feeds_per_host=args.feeds_per_host,
        entries=args.entries,
        pages=usable_pages(load_pages()),
        concurrency=args.concurrency,
        delay=args.delay,
        tolerance=args.tolerance,
    )
    asyncio.run(serve(farm, host_addresses(args.hosts)))


if __name__ == "__main__":
    main()
