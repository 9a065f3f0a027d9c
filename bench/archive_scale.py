"""Archive at scale: import, search, listing and size of N articles, service vs raw database.

    python bench/archive_scale.py [--articles 100000] [--postgres-url URL] [--workdir DIR]

Builds an archive of N synthetic articles (bench/corpus.py: Zipf words, ~2.9 KB bodies, 300
sources, 3 related links, a URL and a publication time each; 5 % are near duplicates: an
earlier article's body under a new headline, with a paragraph added or a word or two
changed) on SQLite (a fresh file in a temp dir) and, with --postgres-url, on Postgres (a
fresh `bench_<random>` database created on that server and dropped at the end: the
database in the URL is only used to connect). Per database it prints:

1. import: the NDJSON is written to a file before the clock starts, then streamed in one
   `POST /v1/imports` to a real uvicorn process (500 articles per transaction). The ceiling
   is the same rows (parsed, hashed, signed and clustered beforehand, untimed) inserted with
   no service into a second fresh database: sqlite3.executemany or psycopg COPY, in one
   transaction, into the same tables with the same search index (FTS5 triggers / generated
   tsvector + GIN) and near-duplicate band rows, with the service's SQLite pragmas.
2. latency through HTTP (httpx, sequential; median and p95 of 200 requests, timed after one
   untimed pass over the same requests): a two-word search, top 20 by rank, of common
   words (each in 15-45 % of articles) with a different pair each time; listing page 1 and
   page 500 (limit 50; page 500 by its keyset cursor); one article by a random id.
3. the floor: the ranked top-20 SQL of app/search/repository.py, same word pairs, straight on
   the service's database (sqlite3 / psycopg, no service). Each search through HTTP is
   followed by its floor query, and page 1 requests alternate with page 500 ones, so that
   the load of other processes on a shared machine weighs on both sides of each ratio.
4. page 500 / page 1; 5. size on disk per 1,000 articles (SQLite: file + WAL after a
   checkpoint; Postgres: pg_database_size after VACUUM ANALYZE).
6. export: the whole archive as JSONL through GET /v1/export, read as it streams, with the
   server's resident memory before and its peak during the export (flat: the peak stays
   near the starting RSS whatever the archive's size).
Targets: import >= 50 % of raw; search p95 <= 2x floor p95; page 500 <= 1.5x page 1;
export of 100,000 articles < 30 s.
Also printed: the 1-minute load average after each phase (the import and the raw ceiling
run one after the other, so only those figures are exposed to a change of load).
Progress goes to stderr; the server's own log to a file in the work directory.
"""

import argparse
import json
import os
import platform
import random
import re
import secrets
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import ArticleMaker
from util import Server, migrate, ndjson_answer

from app.ingest import Prepared, prepare
from app.ingest.clusters import OLDEST_PER_BAND
from app.ingest.store import article_row, link_rows
from app.models import utcnow
from app.neardup import DEFAULT as NEAR_DUPLICATES
from app.neardup import Signature
from app.repositories import source_key
from app.search.engines import to_fts5, to_tsquery
from app.search.query import parse_query

SAMPLES = 200
PAGE_SIZE = 50
DEEP_PAGE = 500
DUPLICATE_SHARE = 0.05
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
CHUNK = 5_000  # articles per executemany / COPY call of the raw ceiling (one transaction)
WORD = re.compile(r"[a-z]+")

# The service's SQLite connection settings (app/db.py), for the ceiling and the floor.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA cache_size=-65536",
    "PRAGMA wal_autocheckpoint=10000",
)
# The ranked query of app/search/repository.py as SQLAlchemy compiles it (the service also
# fetches snippets and the 20 articles; those are the service's cost, not the floor's).
# (With no filter the service reads the FTS5 index alone, without joining `article`.)
SQLITE_RANKED = """SELECT anon_1.id, anon_1.score
FROM (SELECT article_fts.rowid AS id, -bm25(article_fts, 4.0, 1.0) AS score
FROM article_fts
WHERE article_fts MATCH ?) AS anon_1 ORDER BY anon_1.score DESC, anon_1.id DESC
 LIMIT ? OFFSET ?"""
PG_QUERY = (
    "to_tsquery('english'::regconfig, %(to_tsquery_1)s::VARCHAR) || "
    "to_tsquery('simple'::regconfig, %(to_tsquery_2)s::VARCHAR)"
)
PG_RANKED = f"""SELECT anon_1.id, anon_1.score
FROM (SELECT article.id AS id, CAST(ts_rank(search_vector, {PG_QUERY}, \
%(ts_rank_1)s::INTEGER) AS FLOAT) AS score
FROM article
WHERE search_vector @@ ({PG_QUERY})) AS anon_1 ORDER BY anon_1.score DESC, anon_1.id DESC
 LIMIT %(param_1)s::INTEGER"""
COLUMNS = {
    "source": ("id", "name", "key", "created_at"),
    "related_link": ("article_id", "position", "title", "url"),
    "article_url": ("article_id", "url_key", "url"),
    "article_band": ("band_key", "article_id"),
    "change": ("article_id", "kind", "at"),
}


def progress(iterable: Any = None, **kwargs: Any) -> tqdm:
    return tqdm(iterable, file=sys.stderr, dynamic_ncols=True, **kwargs)


# --- the corpus -------------------------------------------------------------------------


class Corpus:
    """Import items for the archive: the same index always gives the same item."""

    def __init__(self, seed: int = 1) -> None:
        self.maker = ArticleMaker(seed=seed)  # 300 sources
        self.seed = seed

    def _rng(self, index: int, salt: int) -> random.Random:
        return random.Random((self.seed * 1_000_003 + index) * 7 + salt)

    def is_duplicate(self, index: int) -> bool:
        return index > 0 and self._rng(index, 1).random() < DUPLICATE_SHARE

    def item(self, index: int) -> dict[str, Any]:
        parts = self.maker.parts(index)
        paragraphs = self._republished(index) if self.is_duplicate(index) else parts["paragraphs"]
        host = parts["source"].lower().replace(" ", "") + ".example"
        published = EPOCH + timedelta(minutes=3 * index)
        return {
            "headline": parts["headline"],
            "body": "\n\n".join(paragraphs),
            "source": parts["source"],
            "related_links": [{"title": title, "url": url} for title, url in parts["links"]],
            "url": f"https://{host}/news/{published:%Y/%m/%d}/story-{index}",
            "published_at": published.isoformat().replace("+00:00", "Z"),
            "language": "en",
        }

    def _republished(self, index: int) -> list[str]:
        """An earlier original's paragraphs with one paragraph added or a word or two changed."""
        rng = self._rng(index, 2)
        original = rng.randrange(index)
        while self.is_duplicate(original):
            original = rng.randrange(index)
        paragraphs = list(self.maker.parts(original)["paragraphs"])
        if rng.random() < 0.5:
            return [*paragraphs, self.maker.paragraph(rng)]
        for _ in range(rng.randint(1, 2)):
            at = rng.randrange(len(paragraphs))
            words = paragraphs[at].split(" ")
            i = rng.randrange(len(words))
            words[i] = rng.choice(self.maker.words) + ("." if words[i].endswith(".") else "")
            paragraphs[at] = " ".join(words)
        return paragraphs


def write_corpus(count: int, path: Path) -> tuple[list[dict[str, Any]], int]:
    """The items, also written as NDJSON to `path`; and how many are near duplicates."""
    corpus = Corpus()
    items = []
    with path.open("w") as out:
        for index in progress(range(count), desc="generate articles", unit="art"):
            items.append(corpus.item(index))
            out.write(json.dumps(items[-1]) + "\n")
    return items, sum(map(corpus.is_duplicate, range(count)))


def word_pairs(items: Sequence[dict[str, Any]], count: int) -> list[tuple[str, str]]:
    """Distinct pairs of common-ish words: each in 15-45 % of articles, so a pair matches
    about 2-20 % of the archive (thousands of articles at 100k)."""
    sample = items[:3000]
    frequency: Counter[str] = Counter()
    for item in sample:
        frequency.update(set(WORD.findall(f"{item['headline']} {item['body']}".lower())))
    words = sorted(w for w, n in frequency.items() if 0.15 <= n / len(sample) <= 0.45)
    rng = random.Random(5)
    pairs: list[tuple[str, str]] = []
    while len(pairs) < min(count, len(words) * (len(words) - 1) // 2):
        a, b = rng.sample(words, 2)
        if (a, b) not in pairs and (b, a) not in pairs:
            pairs.append((a, b))
    return pairs


# --- the raw rows: what the service writes, computed without it ----------------------------


@dataclass
class Rows:
    """Every row the service stores for the corpus (ids 1..N in import order)."""

    sources: list[tuple[Any, ...]]
    articles: list[dict[str, Any]]
    links: list[list[tuple[Any, ...]]]  # per article
    urls: list[list[tuple[Any, ...]]]
    bands: list[list[int]]
    now: datetime

    def chunks(self, convert: Callable[[Any], Any]) -> list[dict[str, list[tuple[Any, ...]]]]:
        """Rows per table for CHUNK articles at a time, converted for the driver."""
        chunks = []
        for start in range(0, len(self.articles), CHUNK):
            ids = range(start + 1, min(start + CHUNK, len(self.articles)) + 1)
            at = convert(self.now)
            chunks.append(
                {
                    "article": [tuple(map(convert, self.articles[i - 1].values())) for i in ids],
                    "related_link": [row for i in ids for row in self.links[i - 1]],
                    "article_url": [row for i in ids for row in self.urls[i - 1]],
                    "article_band": [(key, i) for i in ids for key in self.bands[i - 1]],
                    "change": [(i, "created", at) for i in ids],
                }
            )
        return chunks


def build_rows(items: Sequence[dict[str, Any]]) -> Rows:
    prepared: list[Prepared] = []
    for item in progress(items, desc="prepare raw rows", unit="art"):
        ready = prepare(item, None)
        assert isinstance(ready, Prepared), ready
        prepared.append(ready)
    names = sorted({p.article.source for p in prepared if p.article.source})
    source_ids = {name: i for i, name in enumerate(names, 1)}
    now = utcnow()
    signatures = [p.signature for p in prepared]
    bands = [sorted(set(NEAR_DUPLICATES.band_keys(s))) for s in signatures]
    roots = cluster_roots(signatures, bands)
    return Rows(
        sources=[(i, name, source_key(name), now) for name, i in source_ids.items()],
        articles=[
            article_row(p, source_ids, now) | {"id": i, "cluster_id": roots.get(i)}
            for i, p in enumerate(prepared, 1)
        ],
        links=[[tuple(r.values()) for r in link_rows(i, p)] for i, p in enumerate(prepared, 1)],
        urls=[[(i, *kv) for kv in p.url_keys.items()] for i, p in enumerate(prepared, 1)],
        bands=bands,
        now=now,
    )


def cluster_roots(signatures: list[Signature], bands: list[list[int]]) -> dict[int, int]:
    """Article id -> its cluster root, as app/ingest/clusters.py assigns them in order."""
    owners: dict[int, list[int]] = {}
    roots: dict[int, int] = {}
    for article_id, (sig, keys) in enumerate(zip(signatures, bands, strict=True), 1):
        oldest = {o for key in keys for o in owners.get(key, [])[:OLDEST_PER_BAND]}
        for older in sorted(oldest):
            if NEAR_DUPLICATES.is_near_duplicate(sig, signatures[older - 1]):
                roots[article_id] = roots.get(older, older)
                break
        for key in keys:
            owners.setdefault(key, []).append(article_id)
    return roots


def sqlite_value(value: Any) -> Any:
    """What SQLAlchemy stores on SQLite: naive UTC timestamps, JSON as text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return json.dumps(value) if isinstance(value, dict | list) else value


def pg_value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


# --- measuring ----------------------------------------------------------------------------


# A call, its argument, and a check of its result (run outside the clock).
Probe = tuple[Callable[[Any], Any], Any, Callable[[Any], None]]


def timed(probes: Sequence[Probe], desc: str) -> list[float]:
    """Milliseconds per probe, in order, sequential, after one untimed pass over them all."""
    for call, arg, check in progress(probes, desc=f"{desc} (warm-up)", leave=False):
        check(call(arg))
    times = []
    for call, arg, check in progress(probes, desc=desc, leave=False):
        started = time.perf_counter()
        result = call(arg)
        times.append((time.perf_counter() - started) * 1000)
        check(result)
    return times


def load_average() -> float:
    """The 1-minute load average: other processes on this shared machine count too."""
    return os.getloadavg()[0]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def p95(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94]


@contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Child processes started inside write their stderr to `path` (the service logs every
    request there, which would bury the progress bars)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_through_service(base_url: str, ndjson: Path, count: int) -> tuple[float, list[int]]:
    """Seconds to stream the NDJSON file through POST /v1/imports; the new article ids."""
    size = ndjson.stat().st_size
    with progress(total=size, desc="import via HTTP", unit="B", unit_scale=True) as bar:

        def body() -> Iterator[bytes]:
            with ndjson.open("rb") as source:
                while chunk := source.read(1 << 18):
                    bar.update(len(chunk))
                    yield chunk

        started = time.perf_counter()
        response = httpx.post(
            f"{base_url}/v1/imports",
            content=body(),
            headers={"content-type": "application/x-ndjson"},
            timeout=None,
        )
        elapsed = time.perf_counter() - started
    response.raise_for_status()
    results, last = ndjson_answer(response)
    assert last["counts"]["created"] == count, last["counts"]
    return elapsed, [r["id"] for r in results]


def search_path(pair: tuple[str, str]) -> str:
    return f"/v1/articles?q={pair[0]}+{pair[1]}&limit=20"


def expect(items: int) -> Callable[[Any], None]:
    def check(response: httpx.Response) -> None:
        response.raise_for_status()
        assert len(response.json()["items"]) == items, response.text[:300]

    return check


def latencies(
    base_url: str, pairs: list[tuple[str, str]], floor: "Floor", ids: list[int], deep_page: int
) -> dict[str, list[float]]:
    """Each search through HTTP followed by the same query straight on the database, and
    page 1 alternating with the deep page: drift on a shared machine hits both sides alike."""
    with httpx.Client(base_url=base_url, timeout=120) as client:
        probes: list[Probe] = []
        for pair, params in zip(pairs, floor.params, strict=True):
            probes += [
                (client.get, search_path(pair), expect(20)),
                (floor.run, params, expect_rows(21)),
            ]
        search = timed(probes, "search: HTTP, then the database")
        first = f"/v1/articles?limit={PAGE_SIZE}"
        cursor = None
        for _ in progress(range(deep_page - 1), desc=f"walk to page {deep_page}", leave=False):
            response = client.get(first + (f"&cursor={cursor}" if cursor else ""))
            response.raise_for_status()
            cursor = response.json()["next_cursor"]
        deep = f"{first}&cursor={cursor}" if cursor else first
        page = (client.get, first, expect(PAGE_SIZE)), (client.get, deep, expect(PAGE_SIZE))
        pages = timed(page * SAMPLES, f"list pages 1 and {deep_page}")
        sample = random.Random(3).sample(ids, min(SAMPLES, len(ids)))
        by_id = timed([(client.get, f"/v1/articles/{i}", expect_ok) for i in sample], "get by id")
    return {
        "search": search[0::2],
        "floor": search[1::2],
        "page1": pages[0::2],
        "deep": pages[1::2],
        "by_id": by_id,
    }


def expect_ok(response: httpx.Response) -> None:
    response.raise_for_status()


def expect_rows(count: int) -> Callable[[list[Any]], None]:
    def check(result: list[Any]) -> None:
        assert len(result) == count, len(result)

    return check


@dataclass
class Floor:
    """The service's ranked search SQL on a direct connection: one parameter set per pair."""

    run: Callable[[Any], list[Any]]
    params: list[Any]
    count: Callable[[Any], int]  # matching articles


# --- export --------------------------------------------------------------------------------


@dataclass
class Export:
    seconds: float
    lines: int
    mb: float  # size of the JSONL
    rss_before_mb: float  # server resident memory just before the export
    rss_peak_mb: float  # the server's peak resident memory during the export


def export_timing(server: Server, count: int) -> Export:
    """The whole archive through GET /v1/export?format=jsonl, read as it streams (lines
    counted, nothing kept); the server's peak RSS is reset first (/proc/PID/clear_refs) so
    the peak is the export's own."""
    pid = server.process.pid
    rss_before = _status_mb(pid, "VmRSS")
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # 5: reset VmHWM to the current RSS
    lines = size = 0
    started = time.perf_counter()
    with (
        httpx.Client(base_url=server.url, timeout=600) as client,
        client.stream("GET", "/v1/export", params={"format": "jsonl"}) as response,
    ):
        response.raise_for_status()
        for chunk in response.iter_bytes():
            lines += chunk.count(b"\n")
            size += len(chunk)
    seconds = time.perf_counter() - started
    if lines != count:
        raise RuntimeError(f"export gave {lines:,} lines for {count:,} articles")
    return Export(seconds, lines, size / 1e6, rss_before, _status_mb(pid, "VmHWM"))


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- the databases -------------------------------------------------------------------------


class SqliteTarget:
    kind = "sqlite"

    def __init__(self, workdir: Path) -> None:
        self.name = f"SQLite {sqlite3.sqlite_version}"
        self.service_path = workdir / "service.db"
        self.raw_path = workdir / "raw.db"
        self.service_url = f"sqlite:///{self.service_path}"
        self.raw_url = f"sqlite:///{self.raw_path}"

    @contextmanager
    def databases(self) -> Iterator[None]:
        yield

    def settle(self) -> str:
        return ""

    def connect(self, path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            conn.execute(pragma)
        return conn

    def settings(self) -> str:
        return "the service's pragmas (app/db.py) on the raw and floor connections"

    @contextmanager
    def floor(self, pairs: list[tuple[str, str]]) -> Iterator[Floor]:
        conn = self.connect(self.service_path)
        count = "SELECT count(*) FROM article_fts WHERE article_fts MATCH ?"
        try:
            yield Floor(
                run=lambda p: conn.execute(SQLITE_RANKED, p).fetchall(),
                params=[(to_fts5(parse_query(f"{a} {b}")), 21, 0) for a, b in pairs],
                count=lambda p: conn.execute(count, p[:1]).fetchone()[0],
            )
        finally:
            conn.close()

    def size(self) -> tuple[int, list[tuple[str, int]]]:
        conn = sqlite3.connect(self.service_path)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            wal = self.service_path.with_name(self.service_path.name + "-wal")
            total = self.service_path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
            try:
                query = "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
                parts = [(name, int(size)) for name, size in conn.execute(query)]
            except sqlite3.OperationalError:  # no dbstat in this SQLite build
                parts = []
        finally:
            conn.close()
        return total, parts

    def insert_raw(self, rows: Rows) -> float:
        chunks = rows.chunks(sqlite_value)
        sources = [tuple(map(sqlite_value, r)) for r in rows.sources]
        columns = COLUMNS | {"article": tuple(rows.articles[0])}
        statements = {
            table: f'INSERT INTO "{table}" ({", ".join(cols)}) VALUES ({",".join("?" * len(cols))})'
            for table, cols in columns.items()
        }
        conn = self.connect(self.raw_path)
        try:
            started = time.perf_counter()
            conn.execute("BEGIN")
            conn.executemany(statements["source"], sources)
            for chunk in progress(chunks, desc="raw inserts (sqlite3)", unit="chunk"):
                for table, values in chunk.items():
                    conn.executemany(statements[table], values)
            conn.execute("COMMIT")
            return time.perf_counter() - started
        finally:
            conn.close()


class PostgresTarget:
    kind = "postgres"

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        token = secrets.token_hex(4)
        self.service_db, self.raw_db = f"bench_{token}", f"bench_{token}_raw"
        self.service_url = self._url(self.service_db, "postgresql+psycopg")
        self.raw_url = self._url(self.raw_db, "postgresql+psycopg")
        with psycopg.connect(self._url(None)) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        self.name = f"PostgreSQL {version[0].split()[0] if version else '?'}"

    def _url(self, database: str | None, driver: str = "postgresql") -> str:
        url = self.url.set(drivername=driver)
        url = url.set(database=database) if database else url
        return url.render_as_string(hide_password=False)

    def _admin(self, statement: str, database: str) -> None:
        with psycopg.connect(self._url(None), autocommit=True) as conn:
            conn.execute(sql.SQL(statement).format(sql.Identifier(database)))

    @contextmanager
    def databases(self) -> Iterator[None]:
        """Fresh databases for the service and for the ceiling, dropped however the run ends."""
        created = []
        try:
            for name in (self.service_db, self.raw_db):
                self._admin("CREATE DATABASE {}", name)
                created.append(name)
            yield
        finally:
            for name in created:
                self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)

    def settle(self) -> str:
        """What autovacuum does after a bulk load: statistics, and the GIN pending list
        merged into the index."""
        started = time.perf_counter()
        with psycopg.connect(self._url(self.service_db), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        return f"VACUUM ANALYZE after the import: {time.perf_counter() - started:.1f} s"

    def settings(self) -> str:
        names = ("autovacuum", "jit", "shared_buffers", "random_page_cost")
        with psycopg.connect(self._url(None)) as conn:
            values = [conn.execute(f"SHOW {name}").fetchone() for name in names]
        return "server settings: " + ", ".join(
            f"{name}={value[0] if value else '?'}"
            for name, value in zip(names, values, strict=True)
        )

    @contextmanager
    def floor(self, pairs: list[tuple[str, str]]) -> Iterator[Floor]:
        params = []
        for a, b in pairs:
            query = to_tsquery(parse_query(f"{a} {b}"))
            params.append({"to_tsquery_1": query, "to_tsquery_2": query})
        count = f"SELECT count(*) FROM article WHERE search_vector @@ ({PG_QUERY})"
        limits = {"ts_rank_1": 1, "param_1": 21}
        with psycopg.connect(self._url(self.service_db), autocommit=True) as conn:
            yield Floor(
                run=lambda p: conn.execute(PG_RANKED, p | limits).fetchall(),
                params=params,
                count=lambda p: conn.execute(count, p).fetchone()[0],  # type: ignore[index]
            )

    def size(self) -> tuple[int, list[tuple[str, int]]]:
        query = """SELECT relname, CASE relkind WHEN 'r' THEN pg_table_size(oid)
                   ELSE pg_relation_size(oid) END FROM pg_class
                   WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'i')
                   ORDER BY 2 DESC"""
        with psycopg.connect(self._url(self.service_db)) as conn:
            total = conn.execute("SELECT pg_database_size(current_database())").fetchone()
            parts = [(name, int(size)) for name, size in conn.execute(query)]
        return int(total[0]) if total else 0, parts

    def insert_raw(self, rows: Rows) -> float:
        chunks = rows.chunks(pg_value)
        columns = COLUMNS | {"article": tuple(rows.articles[0])}
        with psycopg.connect(self._url(self.raw_db)) as conn, conn.cursor() as cur:
            started = time.perf_counter()
            with conn.transaction():
                self._copy(cur, "source", columns["source"], rows.sources)
                for chunk in progress(chunks, desc="raw COPY (psycopg)", unit="chunk"):
                    for table, values in chunk.items():
                        self._copy(cur, table, columns[table], values)
            return time.perf_counter() - started

    @staticmethod
    def _copy(cur: psycopg.Cursor, table: str, columns: Sequence[str], values: list[Any]) -> None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with cur.copy(statement) as copy:
            for row in values:
                copy.write_row(row)


Target = SqliteTarget | PostgresTarget


def clustered(url: str) -> int:
    """Articles stored as near duplicates of an earlier one."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = text("SELECT count(*) FROM article WHERE cluster_id IS NOT NULL")
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


# --- one database, start to end ----------------------------------------------------------


@dataclass
class Figures:
    name: str
    articles: int
    duplicates: int
    import_s: float
    export: Export
    rss_mb: float
    http: dict[str, list[float]]
    deep_page: int
    matches: list[int]
    size: int
    parts: list[tuple[str, int]]
    settle: str
    clustered: int
    raw_s: float
    raw_clustered: int
    load: dict[str, float]
    settings: str


def measure(target: Target, ndjson: Path, rows: Rows, pairs: list, duplicates: int) -> Figures:
    count = len(rows.articles)
    deep_page = min(DEEP_PAGE, count // PAGE_SIZE)
    log = ndjson.with_name(f"server-{target.kind}.log")
    with stderr_to(log):
        migrate(target.service_url)
        # Thousands of sequential requests from one address: the per-client rate limit
        # (a setting that may not exist yet in older trees; unknown ones are ignored) is off.
        server = Server(target.service_url, RATE_LIMIT_PER_MINUTE="0")
    load = {}
    try:
        import_s, ids = import_through_service(server.url, ndjson, count)
        load["import"] = load_average()
        rss = server.peak_rss_mb()
        settle = target.settle()
        with target.floor(pairs) as floor:
            http = latencies(server.url, pairs, floor, ids, deep_page)
            load["reads"] = load_average()
            matches = [floor.count(params) for params in floor.params]
        export = export_timing(server, count)
        load["export"] = load_average()
    except BaseException:
        print(
            f"server log tail ({log}):",
            *log.read_text().splitlines()[-20:],
            sep="\n  ",
            file=sys.stderr,
        )
        raise
    finally:
        server.stop()
    size, parts = target.size()
    with stderr_to(log):
        migrate(target.raw_url)
    raw_s = target.insert_raw(rows)
    load["raw"] = load_average()
    return Figures(
        target.name, count, duplicates, import_s, export, rss, http, deep_page, matches,
        size, parts, settle, clustered(target.service_url), raw_s, clustered(target.raw_url),
        load, target.settings(),
    )  # fmt: skip


# --- the table -----------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def row(label: str, service: str = "", raw: str = "", ratio: str = "", target: str = "") -> str:
    return f"{label:<38} {service:>15} {raw:>15} {ratio:>13}  {target}".rstrip()


def ms(values: Sequence[float]) -> str:
    return f"{median(values):.1f} / {p95(values):.1f}"


def render(f: Figures) -> str:
    service_rate, raw_rate = f.articles / f.import_s, f.articles / f.raw_s
    http, floor = f.http, f.http["floor"]
    search = (median(http["search"]) / median(floor), p95(http["search"]) / p95(floor))
    pages = (median(http["deep"]) / median(http["page1"]), p95(http["deep"]) / p95(http["page1"]))
    parts = ", ".join(f"{name} {size / f.size:.0%}" for name, size in f.parts[:5])
    ex = f.export
    lines = [
        f"== {f.name}: {f.articles:,} articles ({f.duplicates:,} near duplicates)",
        row("", "service", "raw database", "ratio", "target"),
        row("import, articles/s", f"{service_rate:,.0f}", f"{raw_rate:,.0f}",
            f"{service_rate / raw_rate:.0%}",
            f">= 50% of raw: {verdict(service_rate >= raw_rate / 2)}"),
        row("import, seconds", f"{f.import_s:,.1f}", f"{f.raw_s:,.1f}"),
        row("search 2 words, top 20: median ms", f"{median(http['search']):.1f}",
            f"{median(floor):.1f}", f"{search[0]:.2f}x"),
        row("search 2 words, top 20: p95 ms", f"{p95(http['search']):.1f}", f"{p95(floor):.1f}",
            f"{search[1]:.2f}x", f"<= 2x raw p95: {verdict(search[1] <= 2)}"),
        row("  matches per query: min/median/max",
            f"{min(f.matches):,}/{median(f.matches):,.0f}/{max(f.matches):,}"),
        row("list page 1 (50): median / p95 ms", ms(http["page1"])),
        row(f"list page {f.deep_page}: median / p95 ms", ms(http["deep"]), "",
            f"{pages[0]:.2f}x/{pages[1]:.2f}x", f"median <= 1.5x: {verdict(pages[0] <= 1.5)}"),
        row("get article by id: median / p95 ms", ms(http["by_id"])),
        row("size on disk per 1,000 articles", f"{f.size / f.articles / 1e3:.2f} MB"),
        row(f"  total {f.size / 1e6:,.0f} MB: {parts}"),
        row("export, JSONL: seconds", f"{ex.seconds:,.1f}", "", "",
            f"< 30 s for 100,000: {verdict(ex.seconds * 100_000 / f.articles < 30)}"),
        row("  articles/s, MB streamed", f"{f.articles / ex.seconds:,.0f}", f"{ex.mb:,.0f} MB"),
        row("  server RSS before / peak during",
            f"{ex.rss_before_mb:,.0f} / {ex.rss_peak_mb:,.0f} MB", "",
            f"+{ex.rss_peak_mb - ex.rss_before_mb:,.0f} MB"),
        row("near duplicates clustered", f"{f.clustered:,}", f"{f.raw_clustered:,}", "",
            f"generated: {f.duplicates:,}"),
        row("server peak RSS", f"{f.rss_mb:,.0f} MB"),
    ]  # fmt: skip
    if f.deep_page != DEEP_PAGE:
        lines.append(f"note: page {f.deep_page}, the last full page (page 500 needs 25,000+)")
    if f.settle:
        lines.append(f"note: {f.settle}")
    load = ", ".join(f"{phase} {value:.1f}" for phase, value in f.load.items())
    lines.append(f"note: {f.settings}")
    lines.append(f"note: 1-min load average at the end of: {load} ({os.cpu_count()} CPUs)")
    return "\n".join(lines)


def machine() -> str:
    meminfo = Path("/proc/meminfo").read_text()
    ram = int(re.search(r"MemTotal:\s+(\d+)", meminfo)[1]) / 1024**2  # type: ignore[index]
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return (
        f"machine: {len(os.sched_getaffinity(0))} CPUs (nproc){f', {cpu[1]}' if cpu else ''}, "
        f"{ram:.1f} GiB RAM, Python {platform.python_version()}"
    )


def main() -> None:
    # Clean up (server, scratch databases, temp dir) on Ctrl-C and on kill, also when
    # started in the background, where the shell makes SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--postgres-url", help="a server to create a scratch database on")
    parser.add_argument("--workdir", type=Path, help="where the temp dir goes (default: $TMPDIR)")
    args = parser.parse_args()
    if args.articles < 1000:
        parser.error("--articles: at least 1,000 (every search must find 20 articles)")
    print(machine(), flush=True)
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="archive_scale_") as tmp:
        workdir = Path(tmp)
        ndjson = workdir / "articles.ndjson"
        items, duplicates = write_corpus(args.articles, ndjson)
        pairs = word_pairs(items, SAMPLES)
        rows = build_rows(items)
        body = statistics.mean(len(a["body"].encode()) for a in rows.articles)
        del items
        print(
            f"corpus: {args.articles:,} articles, {body / 1024:.1f} KiB bodies on average, "
            f"{len(rows.sources)} sources, 3 related links each, NDJSON "
            f"{ndjson.stat().st_size / 1e6:,.0f} MB; {len(pairs)} search word pairs",
            flush=True,
        )
        targets: list[Target] = [SqliteTarget(workdir)]
        if args.postgres_url:
            targets.append(PostgresTarget(args.postgres_url))
        for target in targets:
            with target.databases():
                figures = measure(target, ndjson, rows, pairs, duplicates)
            print(render(figures), flush=True)


if __name__ == "__main__":
    main()
