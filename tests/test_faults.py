"""Faults, against real uvicorn processes on 127.0.0.1: a server killed in the middle of an
import, a database that goes away or stops answering, upstream sites that hang, reset or
send garbage, clients that hang up, and a graceful shutdown with a request in flight."""

import hashlib
import json
import os
import random
import re
import signal
import socket
import string
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from app.neardup import DEFAULT as NEAR_DUPLICATES
from app.neardup import decode
from tests.conftest import ROOT, LiveServer, free_port, ndjson_import
from tests.hostile_server import HostileServer
from tests.tcp_proxy import TcpProxy

ON_POSTGRES = bool(os.environ.get("TEST_DATABASE_URL"))
NDJSON = {"content-type": "application/x-ndjson"}
FETCH_TIMEOUT = 2.0
FETCH_ENV = {
    "FETCH_ALLOWED_NETWORKS": "127.0.0.1/32",
    "FETCH_TOTAL_TIMEOUT": str(FETCH_TIMEOUT),
    "FETCH_RESPECT_ROBOTS": "false",  # one connection per fetch: the hostile path itself
}
# A bound on waits for something that takes a second or two: far above what a loaded
# machine needs, so that it only ever fires on a hang. No test here asserts a duration.
HANG = 120.0


@contextmanager
def live(database_url: str, **env: str) -> Iterator[LiveServer]:
    server = LiveServer(database_url, env={"LOG_LEVEL": "WARNING", **env})
    try:
        yield server
    finally:
        server.stop()


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def post_article(client: httpx.Client, n: int = 0) -> httpx.Response:
    body = f"The storm closed port number {n} on Monday.\n\nShips waited offshore for a day."
    return client.post("/v1/articles", json={"headline": f"Storm closes port {n}", "body": body})


# --- 1. A server killed in the middle of a streamed import ----------------------------------

ITEMS = 2000
CHUNK = 200  # IMPORT_CHUNK_SIZE for these servers: ten transactions in one request
_rng = random.Random(20261124)
WORDS = ["".join(_rng.choices(string.ascii_lowercase, k=_rng.randint(3, 10))) for _ in range(4000)]


@cache
def batch_item(i: int) -> dict[str, Any]:
    """Item `i` of the batch: ~3 KB of text, i % 4 related links, two URLs (so two aliases)."""
    rng = random.Random(i)
    paragraphs = [" ".join(rng.choices(WORDS, k=80)).capitalize() + "." for _ in range(5)]
    return {
        "headline": f"Report {i:05d}: " + " ".join(rng.choices(WORDS, k=6)),
        "body": "\n\n".join(paragraphs),
        "source": f"Wire {i % 7}",
        "url": f"https://news.example/a/{i}",
        "canonical_url": f"https://news.example/story/{i}",
        "related_links": [
            {"title": f"Earlier report {i}-{j}", "url": f"https://news.example/r/{i}/{j}"}
            for j in range(i % 4)
        ],
    }


def expected_hash(item: dict[str, Any]) -> str:
    return hashlib.sha256(f"{item['headline']}\n{item['body']}".encode()).hexdigest()


def ndjson(count: int, hold: threading.Event | None = None, lines: int = 50) -> Iterator[bytes]:
    """The batch as NDJSON, `lines` at a time; with `hold`, the last lines wait for it, so the
    request cannot end before the test has done what it wanted to do meanwhile."""
    for start in range(0, count, lines):
        if hold is not None and start + lines >= count:
            hold.wait(120)
        stop = min(start + lines, count)
        yield "".join(json.dumps(batch_item(i)) + "\n" for i in range(start, stop)).encode()


class Upload(threading.Thread):
    """POST a streamed body in a thread; keeps the response or the transport error."""

    def __init__(self, url: str, body: Iterable[bytes]) -> None:
        super().__init__()
        self.url, self.body = url, body
        self.response: httpx.Response | None = None
        self.error: httpx.TransportError | None = None

    def run(self) -> None:
        try:
            with httpx.Client(timeout=120) as client:
                self.response = client.post(self.url, content=self.body, headers=NDJSON)
        except httpx.TransportError as exc:
            self.error = exc


def count_articles(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM article")).scalar_one())


def _grouped(conn: Connection, sql: str) -> dict[int, list[Any]]:
    groups: dict[int, list[Any]] = defaultdict(list)
    for article_id, *rest in conn.execute(text(sql)):
        groups[article_id].append(tuple(rest) if len(rest) > 1 else rest[0])
    return groups


def check_archive(engine: Engine, chunk: int = CHUNK) -> int:
    """Assert that every stored item is whole, nothing dangles, and the search index agrees;
    returns how many items are stored (always whole chunks, the first ones)."""
    with engine.connect() as conn:
        articles = conn.execute(
            text(
                "SELECT a.id, a.url, a.headline, a.content_hash, a.signature, a.cluster_id, "
                "s.name FROM article a LEFT JOIN source s ON s.id = a.source_id"
            )
        ).all()
        links = _grouped(
            conn, "SELECT article_id, position, title, url FROM related_link ORDER BY position"
        )
        aliases = _grouped(conn, "SELECT article_id, url FROM article_url")
        bands = _grouped(conn, "SELECT article_id, band_key FROM article_band")
        changes = _grouped(conn, "SELECT article_id, kind FROM change")
        other = {
            table: set(conn.execute(text(f"SELECT article_id FROM {table}")).scalars())
            for table in ("page_snapshot", "article_revision")
        }
        unused_sources = conn.execute(
            text(
                "SELECT count(*) FROM source WHERE id NOT IN "
                "(SELECT source_id FROM article WHERE source_id IS NOT NULL)"
            )
        ).scalar_one()
        check_search_index(conn, {row.id for row in articles})

    ids = {row.id for row in articles}
    for rows in (links, aliases, bands, changes, *other.values()):
        assert set(rows) <= ids, "rows of articles that are not stored"
    assert unused_sources == 0
    stored = set()
    for row in articles:
        i = int(row.url.rsplit("/", 1)[1])
        item = batch_item(i)
        stored.add(i)
        assert (row.headline, row.content_hash) == (item["headline"], expected_hash(item))
        assert row.name == item["source"]
        assert row.cluster_id is None or row.cluster_id in ids
        assert links.get(row.id, []) == [
            (position, link["title"], link["url"])
            for position, link in enumerate(item["related_links"])
        ]
        assert set(aliases[row.id]) == {item["url"], item["canonical_url"]}
        assert set(bands[row.id]) == set(NEAR_DUPLICATES.band_keys(decode(row.signature)))
        assert changes[row.id] == ["created"]
    # Chunks commit in order, each in one transaction: whole chunks from the start, or nothing.
    assert stored == set(range(len(stored)))
    assert len(stored) % chunk == 0 or len(stored) == ITEMS
    return len(stored)


def check_search_index(conn: Connection, ids: set[int]) -> None:
    if conn.dialect.name == "postgresql":
        missing = conn.execute(text("SELECT count(*) FROM article WHERE search_vector IS NULL"))
        assert missing.scalar_one() == 0
        return
    assert set(conn.execute(text("SELECT id FROM article_fts_docsize")).scalars()) == ids
    # rank 1: compare the index with the content table too; raises if they disagree.
    conn.execute(text("INSERT INTO article_fts(article_fts, rank) VALUES ('integrity-check', 1)"))
    assert conn.execute(text("PRAGMA integrity_check")).scalars().all() == ["ok"]
    assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
    conn.rollback()


def test_import_killed_mid_request_keeps_whole_chunks_and_resending_completes_it(
    db: Engine, database_url: str
) -> None:
    env = {"IMPORT_CHUNK_SIZE": str(CHUNK)}
    hold = threading.Event()
    with live(database_url, **env) as server:
        upload = Upload(f"{server.url}/v1/imports", ndjson(ITEMS, hold))
        upload.start()
        try:
            assert wait_until(lambda: count_articles(db) >= 2 * CHUNK, 120), "import too slow"
            server.stop(kill=True)  # SIGKILL: no shutdown, no rollback, no flush
        finally:
            hold.set()
            upload.join(60)
    assert upload.response is None
    assert isinstance(upload.error, httpx.TransportError)

    already = check_archive(db)
    assert 2 * CHUNK <= already < ITEMS

    with live(database_url, **env) as server, httpx.Client(timeout=300) as client:
        response = client.post(f"{server.url}/v1/imports", content=ndjson(ITEMS), headers=NDJSON)
    result = ndjson_import(response)
    assert result["counts"] == {
        "created": ITEMS - already,
        "duplicate": already,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "error": 0,
    }
    statuses = [r["status"] for r in result["results"]]
    assert statuses == ["duplicate"] * already + ["created"] * (ITEMS - already)

    assert check_archive(db) == ITEMS
    assert count_articles(db) == ITEMS
    with db.connect() as conn:
        repeated = conn.execute(
            text("SELECT content_hash FROM article GROUP BY content_hash HAVING count(*) > 1")
        )
        assert repeated.all() == []


# --- 2. The database goes away, or stops answering ------------------------------------------

needs_postgres = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="needs TEST_DATABASE_URL: SQLite is a file in the process, it cannot go away "
    "like a server (a locked file only makes writers wait busy_timeout, 30 s)",
)


@contextmanager
def behind_proxy(database_url: str) -> Iterator[tuple[TcpProxy, LiveServer, httpx.Client]]:
    """A server whose database connections all go through a proxy the test can cut."""
    url = make_url(database_url)
    with TcpProxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        via_proxy = url.set(host="127.0.0.1", port=proxy.port)
        with (
            live(via_proxy.render_as_string(hide_password=False)) as server,
            # above HANG: a request stuck on a hung connection waits for the test's reset
            httpx.Client(base_url=server.url, timeout=3 * HANG) as client,
        ):
            yield proxy, server, client


def assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"].isdigit()
    assert response.json()["type"] == "/problems/database-unavailable"


@needs_postgres
def test_database_outage_gives_503s_and_the_service_recovers_by_itself(
    db: Engine, database_url: str
) -> None:
    with behind_proxy(database_url) as (proxy, server, client):
        created = post_article(client)
        assert created.status_code == 201
        location = created.headers["location"]
        assert client.get("/readyz").status_code == 200

        proxy.down()  # refused, and every pooled connection reset
        for _ in range(2):  # the second round meets connections the first one invalidated
            readyz = client.get("/readyz")
            assert readyz.status_code == 503
            assert readyz.json() == {"status": "unavailable", "database": "unreachable"}
            assert_database_unavailable(post_article(client, 1))
            assert_database_unavailable(client.get("/v1/articles"))
            assert_database_unavailable(client.get(location))
            assert_database_unavailable(client.delete(location))
            assert client.get("/healthz").status_code == 200
        assert server.process.poll() is None

        proxy.up()
        assert wait_until(lambda: client.get("/readyz").status_code == 200, HANG)
        assert client.get(location).status_code == 200
        assert client.get("/v1/articles").json()["items"][0]["id"] == created.json()["id"]
        again = post_article(client, 1)
        assert again.status_code == 201
        assert client.get(again.headers["location"]).status_code == 200


@needs_postgres
def test_database_that_stops_answering_costs_503s_not_the_process(
    db: Engine, database_url: str
) -> None:
    with behind_proxy(database_url) as (proxy, server, client):
        location = post_article(client).headers["location"]
        proxy.hang()  # connections accepted, nothing answered; pooled ones hang too
        answers: list[httpx.Response] = []
        with ThreadPoolExecutor(30) as pool:
            futures = [pool.submit(client.get, location) for _ in range(30)]
            try:
                # New connections give up after connect_timeout (5 s), waits for a free one
                # after pool_timeout (10 s): those answer 503 while the database still hangs.
                # Only requests that took an idle pooled connection wait for the reset below,
                # so /healthz answers while they are still stuck (a bound on a hang, 120 s,
                # not a speed target: they would wait for ever).
                deadline = time.monotonic() + HANG
                while time.monotonic() < deadline and sum(f.done() for f in futures) < 25:
                    assert client.get("/healthz", timeout=30).status_code == 200
                    time.sleep(0.2)
                answers = [f.result() for f in futures if f.done()]
                assert len(answers) >= 25
                for answer in answers:
                    assert_database_unavailable(answer)
                assert server.process.poll() is None
            finally:
                proxy.up()  # the connections stuck on a hung socket are reset now
            statuses = [f.result().status_code for f in futures]
        assert set(statuses) <= {200, 503}
        assert wait_until(lambda: client.get("/readyz").status_code == 200, HANG)
        assert client.get(location).status_code == 200


# --- 3. Upstream sites that hang, reset or send garbage; clients that hang up ---------------


def test_hostile_upstream_sites_get_502_or_504(db: Engine, database_url: str) -> None:
    paths = ["/hang"] * 8 + ["/reset"] * 6 + ["/garbage"] * 6
    limits = httpx.Limits(max_connections=40)
    with (
        HostileServer() as site,
        live(database_url, **FETCH_ENV) as server,
        httpx.Client(base_url=server.url, timeout=120, limits=limits) as client,
        ThreadPoolExecutor(len(paths)) as pool,
    ):

        def fetch(path: str) -> tuple[str, int]:
            return path, client.post("/v1/articles", json={"url": site.url(path)}).status_code

        results = list(pool.map(fetch, paths))
    # Only two fetches per site run at once, and the wait for a turn counts in the time
    # limit: a reset or garbage fetch still waiting when it runs out is a 504 too. /hang never
    # answers: only the time limit ends those (else the client's timeout would fail the test).
    allowed = {"/hang": {504}, "/reset": {502, 504}, "/garbage": {502, 504}}
    assert all(status in allowed[path] for path, status in results), results
    assert site.requests  # the fetches did reach the site


def test_fetches_held_by_a_hanging_site_do_not_tie_up_the_service(
    db: Engine, database_url: str
) -> None:
    """Fetches that wait on a site that never answers (two at it, six for a turn) are held
    until the test lets them go, with the time limits far away; reads and writes are served
    meanwhile. Nothing here depends on how fast the machine is."""
    env = {**FETCH_ENV, "FETCH_TOTAL_TIMEOUT": "600", "FETCH_READ_TIMEOUT": "600"}
    with (
        HostileServer() as site,
        live(database_url, **env) as server,
        httpx.Client(base_url=server.url, timeout=120) as client,
        ThreadPoolExecutor(8) as pool,
    ):
        page = {"url": site.url("/hang")}
        hanging = [pool.submit(client.post, "/v1/articles", json=page) for _ in range(8)]
        assert site.wait_for(2, 60)  # FETCH_PER_HOST of them reached the site
        assert client.get("/healthz").status_code == 200
        assert client.get("/v1/articles").status_code == 200
        assert post_article(client).status_code == 201
        assert client.get("/readyz").status_code == 200
        assert not any(f.done() for f in hanging)  # all eight still held
        site.close()  # the site hangs up on them, and stops listening
        statuses = [f.result().status_code for f in hanging]
    assert set(statuses) == {502}, statuses


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    """The sum of the series of `name` that have these labels."""
    wanted = {f'{k}="{v}"' for k, v in labels.items()}
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        match = re.fullmatch(r"(\w+)\{(.*)\} (\S+)", line)
        if match and match[1] == name and wanted <= set(match[2].split(",")):
            total += float(match[3])
    return total


def raw_request(port: int, head: str, body: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=HANG)
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
    return sock


def test_a_client_that_hangs_up_leaves_nothing_behind(db: Engine, database_url: str) -> None:
    env = {**FETCH_ENV, "IMPORT_CHUNK_SIZE": "50"}
    with (
        HostileServer() as site,
        live(database_url, **env) as server,
        httpx.Client(base_url=server.url, timeout=HANG) as client,
    ):
        timeouts = {"method": "POST", "route": "/v1/articles", "status": "504"}
        before = metric(client, "http_requests_total", **timeouts)
        # A fetch of a site that never answers, whose client leaves after sending it: the
        # request still ends at the fetch time limit (counted as answered with 504).
        body = json.dumps({"url": site.url("/hang")}).encode()
        head = (
            f"POST /v1/articles HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\n"
            f"Content-Length: {len(body)}\n"
        )
        with raw_request(server.port, head, body):
            assert site.wait_for(1, HANG)  # the server is fetching: now the client leaves
        assert wait_until(
            lambda: metric(client, "http_requests_total", **timeouts) == before + 1, HANG
        )

        # An NDJSON import whose client leaves after 2.5 chunks: the chunks stored stay,
        # whole; the half chunk is dropped; the server goes on serving.
        head = (
            "POST /v1/imports HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/x-ndjson\n"
            "Transfer-Encoding: chunked\n"
        )
        lines = b"".join(json.dumps(batch_item(i)).encode() + b"\n" for i in range(125))
        sock = raw_request(server.port, head, f"{len(lines):x}\r\n".encode() + lines + b"\r\n")
        assert wait_until(lambda: count_articles(db) >= 100, HANG)
        imports = {"method": "POST", "route": "/v1/imports"}
        before = metric(client, "http_requests_total", **imports)
        sock.close()
        assert wait_until(lambda: metric(client, "http_requests_total", **imports) > before, HANG)
        assert count_articles(db) == 100
        assert check_archive(db, chunk=50) == 100
        gone = metric(client, "http_requests_total", status="499", **imports)
        assert gone == 1  # counted as "client closed request", not as a 500
        assert client.get("/healthz").status_code == 200
        assert post_article(client).status_code == 201
        assert server.process.poll() is None


# --- 4. Graceful shutdown --------------------------------------------------------------------


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


def test_sigterm_finishes_requests_in_flight_and_refuses_new_ones(
    db: Engine, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        **FETCH_ENV,
        "FETCH_TOTAL_TIMEOUT": "28",  # within the 30 s graceful shutdown allows
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_FORMAT": "text",
    }
    log = tmp_path / "serve.log"
    with HostileServer(slow_after=10 * HANG) as site, log.open("w") as out:  # until released
        # The production entry point (`python -m app serve`), not bare uvicorn: it sets the
        # graceful shutdown timeout.
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
        try:
            url = f"http://127.0.0.1:{port}"
            assert wait_until(lambda: _answers(f"{url}/healthz"), HANG, 0.1), log.read_text()
            with httpx.Client(base_url=url, timeout=HANG) as client, ThreadPoolExecutor(1) as slow:
                try:
                    page = {"url": site.url("/slow")}
                    in_flight = slow.submit(client.post, "/v1/articles", json=page)
                    assert site.wait_for(1, HANG)  # the request is in the server, fetching
                    process.send_signal(signal.SIGTERM)
                    assert wait_until(lambda: refused(port), HANG)  # no new connections
                    assert not in_flight.done()
                finally:
                    site.release.set()  # now the upstream answers; the request can finish
                response = in_flight.result(timeout=HANG)
            assert response.status_code == 201, response.text
            assert response.json()["headline"] == "Harbour reopens after the storm"
            # uvicorn re-raises SIGTERM once it has shut down, so the exit status is "ended
            # by SIGTERM" (143 in a shell), which supervisors count as a clean stop.
            assert process.wait(HANG) in (0, -signal.SIGTERM)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    output = log.read_text()
    assert "Finished server process" in output, output
    assert "Traceback" not in output, output
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM article")).scalar_one() == 1


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=10).status_code == 200
    except httpx.TransportError:
        return False
