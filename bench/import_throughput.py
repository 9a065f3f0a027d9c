"""Import throughput: seed-format articles through POST /v1/imports vs raw sqlite3 inserts.

    python bench/import_throughput.py [--articles 10000] [--batch 500] [--ndjson 100000]
        [--rss-lines 100000,2000000]

Prints articles/s for the service (a real uvicorn process on SQLite, batches of JSON
`{"items": [{"text": ...}]}`) and for the ceiling (the same rows inserted by
`sqlite3.executemany` in one transaction into the same migrated tables), their ratio, and
the server's peak RSS during an NDJSON import streamed from a generator, and during imports
of 100,000 and 2,000,000 one-byte NDJSON lines side by side (flat: results leave the server as
they are produced).
"""

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import ArticleMaker
from util import Server, migrate

from app.parsing.seed_text import parse_seed_text
from app.text.normalize import content_hash


def through_service(texts: list[str], batch: int, workdir: Path, in_flight: int) -> float:
    """Articles/s through HTTP; request bodies are encoded before the clock starts."""
    url = f"sqlite:///{workdir / 'service.db'}"
    migrate(url)
    server = Server(url)
    bodies = [
        json.dumps({"items": [{"text": t} for t in texts[i : i + batch]]}).encode()
        for i in range(0, len(texts), batch)
    ]
    try:
        with httpx.Client(base_url=server.url, timeout=300) as client:

            def send(body: bytes) -> int:
                response = client.post(
                    "/v1/imports", content=body, headers={"content-type": "application/json"}
                )
                response.raise_for_status()
                return response.json()["counts"]["created"]

            started = time.perf_counter()
            with ThreadPoolExecutor(in_flight) as pool:
                created = sum(pool.map(send, bodies))
            elapsed = time.perf_counter() - started
        assert created == len(texts), f"only {created} of {len(texts)} created"
        return len(texts) / elapsed
    finally:
        server.stop()


def raw_ceiling(texts: list[str], workdir: Path) -> float:
    """The same rows by sqlite3.executemany, one transaction (parsing done beforehand)."""
    url = f"sqlite:///{workdir / 'raw.db'}"
    migrate(url)
    articles = [parse_seed_text(t) for t in texts]
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    sources = sorted({a.source for a in articles if a.source})
    source_ids = {name: i + 1 for i, name in enumerate(sources)}
    conn = sqlite3.connect(workdir / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO source (id, name, key, created_at) VALUES (?, ?, ?, ?)",
        [(i, name, name.casefold(), now) for name, i in source_ids.items()],
    )
    conn.executemany(
        "INSERT INTO article (id, headline, body, source_id, authors, content_hash, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, '[]', ?, ?, ?)",
        [
            (
                i + 1,
                a.headline,
                a.body,
                source_ids[a.source],
                content_hash(a.headline, a.body),
                now,
                now,
            )
            for i, a in enumerate(articles)
        ],
    )
    conn.executemany(
        "INSERT INTO related_link (article_id, position, title, url) VALUES (?, ?, ?, ?)",
        [
            (i + 1, pos, link.title, link.url)
            for i, a in enumerate(articles)
            for pos, link in enumerate(a.related_links)
        ],
    )
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(texts) / elapsed


def stream_import(server: Server, body: Iterator[bytes]) -> dict[str, int]:
    """POST an NDJSON body and read the answer as it comes; the final counts."""
    with httpx.stream(
        "POST",
        f"{server.url}/v1/imports",
        content=body,
        headers={"content-type": "application/x-ndjson"},
        timeout=3600,
    ) as response:
        response.raise_for_status()
        last = ""
        for line in response.iter_lines():
            last = line or last
    counts: dict[str, int] = json.loads(last)["counts"]
    return counts


def ndjson_peak_rss(count: int, workdir: Path) -> tuple[float, float, float]:
    url = f"sqlite:///{workdir / 'ndjson.db'}"
    migrate(url)
    server = Server(url)
    maker = ArticleMaker(seed=2)

    def body() -> Iterator[bytes]:
        for text in maker.texts(count):
            yield (json.dumps({"text": text}) + "\n").encode()

    try:
        started = time.perf_counter()
        counts = stream_import(server, body())
        rate = count / (time.perf_counter() - started)
        assert counts["created"] == count, counts
        return server.peak_rss_mb(), server.children_peak_rss_mb(), rate
    finally:
        server.stop()


def lines_peak_rss(lines: int, workdir: Path) -> float:
    """The server's peak RSS (MB) through one NDJSON import of `lines` one-byte lines (each
    an item error, so the cost is the stream and its results, not the articles); a new
    server for each, so the peak is this import's."""
    url = f"sqlite:///{workdir / f'lines-{lines}.db'}"
    migrate(url)
    server = Server(url)

    def body() -> Iterator[bytes]:
        for start in range(0, lines, 10_000):
            yield b"x\n" * min(10_000, lines - start)

    try:
        counts = stream_import(server, body())
        assert counts["error"] == lines, counts
        return server.peak_rss_mb()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=2, help="concurrent requests")
    parser.add_argument("--ndjson", type=int, default=100_000, help="0 to skip")
    parser.add_argument(
        "--rss-lines",
        default="100000,2000000",
        help="server peak RSS through NDJSON imports of this many one-byte lines ('' to skip)",
    )
    args = parser.parse_args()
    texts = list(ArticleMaker().texts(args.articles))
    size = sum(len(t.encode()) for t in texts) / len(texts)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        service = through_service(texts, args.batch, workdir, args.in_flight)
        ceiling = raw_ceiling(texts, workdir)
        print(f"articles: {args.articles} seed texts, {size / 1024:.1f} KiB each on average")
        print(
            f"service  POST /v1/imports (batches of {args.batch}, {args.in_flight} in flight):"
            f" {service:,.0f} articles/s"
        )
        print(f"ceiling  sqlite3.executemany, one transaction:   {ceiling:,.0f} articles/s")
        print(f"ratio    {service / ceiling:.1%} of the raw ceiling (target >= 25%)")
        if args.ndjson:
            rss, workers, rate = ndjson_peak_rss(args.ndjson, workdir)
            print(
                f"ndjson   {args.ndjson:,} articles streamed: {rate:,.0f} articles/s, "
                f"server peak RSS {rss:.0f} MB (target < 300 MB), "
                f"its import worker processes {workers:.0f} MB"
            )
        if args.rss_lines:
            sizes = [int(n) for n in args.rss_lines.split(",")]
            peaks = [f"{n:,} lines {lines_peak_rss(n, workdir):.0f} MB" for n in sizes]
            print(f"memory   server peak RSS, NDJSON of one-byte lines: {' | '.join(peaks)}")


if __name__ == "__main__":
    main()
