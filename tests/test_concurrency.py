"""Many clients at once against one real uvicorn (two worker processes), on SQLite or on
Postgres (TEST_DATABASE_URL): no 5xx, nothing acknowledged is lost, revision numbers stay
contiguous, one delete wins and a deleted article does not come back. Every invariant is
checked in the database afterwards, not through the API."""

import hashlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, Engine, text

from app.db import make_sessionmaker, writer
from app.ingest import delete_article, parse_item
from app.parsing.urls import normalize_url
from app.schemas import ArticleIn
from tests.conftest import LiveServer

URL = "https://example.com/news/contested"
Work = Callable[[httpx.Client, int, int], httpx.Response]


@pytest.fixture(scope="module")
def server(engine: Engine, database_url: str) -> Iterator[LiveServer]:
    """Two worker processes, so writers race across processes as well as threads."""
    env = {"RATE_LIMIT_PER_MINUTE": "0", "LOG_LEVEL": "WARNING"}
    live = LiveServer(database_url, workers=2, env=env)
    yield live
    live.stop()


def in_parallel(server: LiveServer, clients: int, rounds: int, work: Work) -> list[Any]:
    """`work(http, client, round)` on `clients` threads; every round starts on a barrier,
    so the requests of one round arrive together. Returns (client, round, response)."""
    barrier = threading.Barrier(clients)

    def client(number: int) -> list[tuple[int, int, httpx.Response]]:
        done = []
        # A connection per request: waiting on the barrier can outlast the server's
        # keep-alive, and a POST on a connection it just closed would fail in the client.
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=server.url, timeout=60, limits=no_reuse) as http:
            for step in range(rounds):
                barrier.wait(timeout=60)
                done.append((number, step, work(http, number, step)))
        return done

    with ThreadPoolExecutor(clients) as pool:
        return [r for rs in pool.map(client, range(clients)) for r in rs]


def digest(headline: str, body: str) -> str:
    return hashlib.sha256(f"{headline}\n{body}".encode()).hexdigest()


def history(conn: Connection, article_id: int) -> set[str]:
    """Every text the article has had (content hashes), after checking that its revision
    numbers run 1..n with n its current revision (no gap, no number twice)."""
    current, revision = conn.execute(
        text("SELECT content_hash, revision FROM article WHERE id = :id"), {"id": article_id}
    ).one()
    query = "SELECT number, content_hash FROM article_revision WHERE article_id = :id"
    rows = conn.execute(text(f"{query} ORDER BY number"), {"id": article_id}).all()
    numbers = [n for n, _ in rows]
    assert numbers == (list(range(1, revision + 1)) if revision > 1 else []), article_id
    return {current, *(h for _, h in rows)}


def articles_at(conn: Connection, url: str) -> list[int]:
    """Ids of the stored articles whose URL (or an alias of it) normalizes like `url`."""
    query = (
        "SELECT id FROM article WHERE url = :url UNION "
        "SELECT article_id FROM article_url WHERE url_key = :key"
    )
    return sorted(conn.scalars(text(query), {"url": url, "key": normalize_url(url)}))


def no_server_errors(results: list[Any]) -> None:
    failed = [(r.status_code, r.text[:300]) for _, _, r in results if r.status_code >= 500]
    assert not failed, failed


def test_different_texts_for_one_url_all_become_revisions(server: LiveServer, db: Engine) -> None:
    """6 clients x 10 posts of a new text for one URL: every acknowledged text is kept."""
    texts = {}

    def post(http: httpx.Client, client: int, step: int) -> httpx.Response:
        headline = f"Harbour closed, report {client}-{step}"
        body = f"The harbour closed at {client}:{step:02d} today.\n\nShips waited outside."
        texts[client, step] = digest(headline, body)
        if step % 2:
            item = {"text": f"{headline}\n\n{body}\n\nSource: Wire", "url": URL}
        else:
            item = {"headline": headline, "body": body, "url": URL, "source": "Wire"}
        return http.post("/v1/articles", json=item)

    results = in_parallel(server, 6, 10, post)
    no_server_errors(results)
    statuses = Counter(r.status_code for _, _, r in results)
    assert statuses == {201: 1, 200: 59}, statuses
    acknowledged = {texts[c, s] for c, s, _ in results}
    with db.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM article")) == 1
        [article_id] = articles_at(conn, URL)
        assert acknowledged <= history(conn, article_id)
        assert conn.scalar(text("SELECT revision FROM article")) == 60
        changes = Counter(conn.scalars(text("SELECT kind FROM change")))
        assert changes == {"created": 1, "updated": 59}


def page(number: int) -> str:
    return (
        f"<html><head><title>Storm update {number}</title></head><body><article>"
        f"<h1>Storm update {number}</h1>"
        f"<p>The storm closed every port on the coast for the {number}th hour running, "
        "and the coast guard asked ships to stay at sea until the wind drops.</p>"
        f"<p>Harbour masters said {number} vessels were waiting outside the breakwater "
        "on Tuesday evening, most of them container ships bound for the north.</p>"
        "</article></body></html>"
    )


def test_html_posts_for_one_url_keep_one_article_and_its_snapshot(
    server: LiveServer, db: Engine
) -> None:
    """8 clients x 8 HTML posts for one URL (raw text/html and JSON), five pages in turn."""

    def post(http: httpx.Client, client: int, step: int) -> httpx.Response:
        html = page((client + step) % 5)
        if client % 2:
            headers = {"content-type": "text/html", "content-location": URL}
            return http.post("/v1/articles", content=html.encode(), headers=headers)
        return http.post("/v1/articles", json={"html": html, "url": URL})

    results = in_parallel(server, 8, 8, post)
    no_server_errors(results)
    assert {r.status_code for _, _, r in results} <= {200, 201}
    pages = {n: parse_item(ArticleIn(html=page(n), url=URL)).content_hash for n in range(5)}
    acknowledged = {pages[(c + s) % 5] for c, s, _ in results}
    with db.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM article")) == 1
        [article_id] = articles_at(conn, URL)
        assert acknowledged <= history(conn, article_id)
        assert conn.scalar(text("SELECT count(*) FROM page_snapshot")) == 1


def test_one_delete_wins_and_the_article_does_not_come_back(server: LiveServer, db: Engine) -> None:
    """Each round, 4 clients delete one article while 4 others post for its URL: its page
    again (a duplicate that replaces the stored page) or a new text (a new revision)."""
    urls = [f"{URL}-{n}" for n in range(5)]
    with httpx.Client(base_url=server.url, timeout=60) as http:
        ids = [
            http.post("/v1/articles", json={"html": page(n), "url": u})
            .raise_for_status()
            .json()["id"]
            for n, u in enumerate(urls)
        ]

    def act(http: httpx.Client, client: int, step: int) -> httpx.Response:
        if client < 4:
            return http.delete(f"/v1/articles/{ids[step]}")
        if client < 6:
            return http.post("/v1/articles", json={"html": page(step), "url": urls[step]})
        item = {"headline": f"Story {step}", "body": f"Rewritten by {client}.", "url": urls[step]}
        return http.post("/v1/articles", json=item)

    results = in_parallel(server, 8, len(ids), act)
    no_server_errors(results)
    for step, article_id in enumerate(ids):
        deletes = sorted(r.status_code for c, s, r in results if s == step and c < 4)
        assert deletes == [204, 404, 404, 404], (article_id, deletes)
        posts = {r.status_code for c, s, r in results if s == step and c >= 4}
        assert posts <= {200, 410}, (article_id, posts)  # updated before the delete, or refused
    with db.connect() as conn:
        deleted = Counter(
            conn.scalars(text("SELECT article_id FROM change WHERE kind = 'deleted'"))
        )
        assert deleted == dict.fromkeys(ids, 1)
        assert conn.scalar(text("SELECT count(*) FROM article")) == 0  # none came back


def test_concurrent_imports_of_known_urls_keep_every_item(server: LiveServer, db: Engine) -> None:
    """4 clients x 2 JSON imports, each re-ingesting the same 30 known URLs with new texts
    (fields and HTML) in its own order, plus 3 new URLs they all share and one bad item."""
    known = [f"{URL}/known-{n}" for n in range(30)]
    shared = [f"{URL}/new-{n}" for n in range(3)]
    with httpx.Client(base_url=server.url, timeout=60) as http:
        seed = [
            {"headline": f"Known {n}", "body": "First text.", "url": u} for n, u in enumerate(known)
        ]
        counts = http.post("/v1/imports", json={"items": seed}).raise_for_status().json()["counts"]
        assert counts["created"] == 30
    sent: dict[tuple[int, int], list[tuple[str | None, str | None]]] = {}  # (url, hash) per item

    def batch(client: int, step: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        expect: list[tuple[str | None, str | None]] = []
        for n, url in enumerate([*known, *shared]):
            headline, body = f"Story {n} by {client}/{step}", f"Text {n} from {client}, {step}."
            item = {"headline": headline, "body": body, "url": url}
            if n % 5 == 0:  # an HTML page for this URL: its snapshot is replaced too
                html = page(1000 + 100 * n + 10 * client + step)
                item = {"html": html, "url": url}
                expected = parse_item(ArticleIn(html=html, url=url)).content_hash
            else:
                expected = digest(headline, body)
            items.append(item)
            expect.append((url, expected))
        order = random.Random(client * 10 + step).sample(range(len(items)), len(items))
        items = [items[i] for i in order] + [{"headline": "No body"}]
        sent[client, step] = [expect[i] for i in order] + [(None, None)]
        return items

    def post(http: httpx.Client, client: int, step: int) -> httpx.Response:
        return http.post("/v1/imports", json={"items": batch(client, step)})

    results = in_parallel(server, 4, 2, post)
    no_server_errors(results)
    acknowledged: dict[str, set[str]] = {}
    for client, step, response in results:
        assert response.status_code == 200, response.text[:300]
        outcome = response.json()["results"]
        assert [r["index"] for r in outcome] == list(range(len(sent[client, step])))
        assert outcome[-1]["status"] == "error"  # the bad item, and only it
        for result, (url, expected) in zip(outcome[:-1], sent[client, step], strict=False):
            assert result["status"] in ("created", "updated"), result
            acknowledged.setdefault(url or "", set()).add(expected or "")
    with db.connect() as conn:
        for url, hashes in acknowledged.items():
            [article_id] = articles_at(conn, url)
            assert hashes <= history(conn, article_id), url
        assert conn.scalar(text("SELECT count(*) FROM article")) == len(known) + len(shared)


def wait_until_blocked(db: Engine, request: Future[httpx.Response]) -> None:
    """Until the request waits on a lock (Postgres shows it), or has been answered."""
    if db.dialect.name != "postgresql":  # the server's write waits on SQLite's file lock
        time.sleep(1)
        return
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 30
    while not request.done() and time.monotonic() < deadline:
        with db.connect() as conn:
            if conn.scalar(query):
                return
        time.sleep(0.05)


@pytest.mark.parametrize("change", ["same page", "new text"])
def test_a_post_that_waits_on_a_delete_is_refused_once_it_commits(
    server: LiveServer, db: Engine, change: str
) -> None:
    """A post for an article whose delete has not committed yet waits for it, then gets 410:
    the page posted again (it only adds a snapshot and aliases) or a new text (a revision)."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        created = http.post("/v1/articles", json={"html": page(7), "url": URL})
        article_id = created.raise_for_status().json()["id"]
    if change == "same page":
        item: dict[str, str] = {"html": page(7), "url": URL}
    else:
        item = {"headline": "Storm update 7", "body": "A new text.", "url": URL}
    with make_sessionmaker(writer(db))() as session, ThreadPoolExecutor(1) as pool:
        assert delete_article(session, article_id)  # not committed yet
        post = pool.submit(httpx.post, f"{server.url}/v1/articles", json=item, timeout=60)
        wait_until_blocked(db, post)
        session.commit()
        response = post.result()
    assert response.status_code == 410, response.text
    with db.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM article")) == 0
