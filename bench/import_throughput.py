"""Import throughput: seed-format articles through POST /v1/imports vs raw sqlite3 inserts.

    python bench/import_throughput.py [--articles 10000] [--batch 500] [--ndjson 100000]

Prints articles/s for the service (a real uvicorn process on SQLite, batches of JSON
`{"items": [{"text": ...}]}`) and for the ceiling (the same rows inserted by
`sqlite3.executemany` in one transaction into the same migrated tables), their ratio, and
the server's peak RSS during an NDJSON import streamed from a generator.
"""

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import ArticleMaker
from util import Server, migrate

from app.parsing.normalize import content_hash
from app.parsing.seed_text import parse_seed_text


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


def ndjson_peak_rss(count: int, workdir: Path) -> tuple[float, float, float]:
    url = f"sqlite:///{workdir / 'ndjson.db'}"
    migrate(url)
    server = Server(url)
    maker = ArticleMaker(seed=2)

    def body():
        for text in maker.texts(count):
            yield (json.dumps({"text": text}) + "\n").encode()

    try:
        started = time.perf_counter()
        response = httpx.post(
            f"{server.url}/v1/imports",
            content=body(),
            headers={"content-type": "application/x-ndjson"},
            timeout=3600,
        )
        response.raise_for_status()
        rate = count / (time.perf_counter() - started)
        assert response.json()["counts"]["created"] == count
        return server.peak_rss_mb(), server.children_peak_rss_mb(), rate
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=2, help="concurrent requests")
    parser.add_argument("--ndjson", type=int, default=100_000, help="0 to skip")
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


if __name__ == "__main__":
    main()
