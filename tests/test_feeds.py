"""Feed subscriptions end to end, through real HTTP and real background work: the API server
and (Postgres) `python -m app worker` processes, or (SQLite) the server's own in-process
worker, polling a loopback publisher built from the feed corpus."""

import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.conftest import HTTP_TIMEOUT, LiveServer
from tests.feed_site import Failure, FeedSite
from tests.job_workers import FAST_JOBS, Worker, empty_job_queue, wait_for

POSTGRES = bool(os.environ.get("TEST_DATABASE_URL"))

# Polls happen when a test asks (POST .../poll) unless it lowers these.
QUIET = {"FEED_MIN_INTERVAL": "3600", "FEED_MAX_INTERVAL": "7200"}


@dataclass
class Services:
    """The API, and where the background work runs."""

    server: LiveServer
    workers: list[Worker] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.url + path, params=params, timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.url + path, timeout=HTTP_TIMEOUT, **kwargs)

    def feed(self, feed_id: int) -> dict[str, Any]:
        return self.get(f"/v1/feeds/{feed_id}")  # type: ignore[no-any-return]

    def articles(self, feed_id: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"feed_id": feed_id, "limit": 200, **({"cursor": cursor} if cursor else {})}
            page = self.get("/v1/articles", **params)
            found += page["items"]
            if not (cursor := page["next_cursor"]):
                return found

    def subscribe(self, url: str, **body: Any) -> dict[str, Any]:
        response = self.post("/v1/feeds", json={"url": url, **body})
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]


Start = Callable[..., Services]


@pytest.fixture
def site() -> Iterator[FeedSite]:
    with FeedSite() as running:
        yield running


@pytest.fixture
def start(db: Engine, database_url: str) -> Iterator[Start]:
    """Start the API and its background work with these settings (environment names)."""
    started: list[Services] = []

    def _start(workers: int = 1, **env: str) -> Services:
        environ = {**FAST_JOBS, **QUIET, **env}
        if POSTGRES:
            services = Services(LiveServer(database_url, env=environ))
            services.workers = [Worker(database_url, env=environ) for _ in range(workers)]
        else:  # SQLite: the server runs the jobs itself, no other process
            services = Services(LiveServer(database_url, env={**environ, "WORKER_IN_SERVER": "1"}))
        started.append(services)
        return services

    yield _start
    for services in started:
        for worker in services.workers:
            worker.kill()
        services.server.stop()
    empty_job_queue(db)


def test_subscribe_poll_store_with_provenance_then_a_conditional_poll(
    site: FeedSite, start: Start, db: Engine
) -> None:
    feed_url, pages = site.corpus_feed("atom-heise-developer-2016.xml", "/developer.atom")
    services = start()
    subscribed = services.subscribe(feed_url)
    assert subscribed["created"] == 1
    assert subscribed["found"] == [
        {"url": feed_url, "kind": "atom", "title": subscribed["found"][0]["title"],
         "found_in": "document"}
    ]  # fmt: skip
    feed_id = subscribed["feeds"][0]["id"]

    feed = wait_for(
        lambda: (f := services.feed(feed_id))["articles_created"] == len(pages) and f,
        "every entry of the feed stored as an article",
    )
    assert feed["kind"] == "atom"
    assert feed["last_status"] == 200
    assert feed["error_count"] == 0
    assert feed["entries_seen"] == len(pages)
    assert feed["etag"]
    assert feed["next_poll_at"]
    articles = services.articles(feed_id)
    assert sorted(a["url"] for a in articles) == sorted(pages)
    # the pages name no author and no date: the feed's entries did
    assert all(a["authors"] and a["published_at"] for a in articles)
    assert all(a["extraction"]["fields"]["authors"] == "feed" for a in articles)
    assert services.get("/v1/articles", feed_id=feed_id + 1)["items"] == []

    polls = len(site.requests_to("/developer.atom"))
    assert services.post(f"/v1/feeds/{feed_id}/poll").json() == {"queued": True}
    wait_for(lambda: services.feed(feed_id)["last_status"] == 304, "a second, conditional poll")
    second = site.requests_to("/developer.atom")[polls]
    assert second.if_none_match
    assert second.if_modified_since
    assert services.feed(feed_id)["articles_created"] == len(pages)
    assert len(services.articles(feed_id)) == len(pages)
    with db.connect() as conn:  # and nothing was fetched again
        assert conn.execute(text("SELECT count(*) FROM article")).scalar() == len(pages)
    assert all(len(site.requests_to(p.removeprefix(site.base))) == 1 for p in pages)

    metrics = httpx.get(services.url + "/metrics", timeout=HTTP_TIMEOUT).text
    assert 'feeds{state="active"} 1.0' in metrics
    assert 'jobs{status="succeeded"}' in metrics
    assert "job_queue_depth" in metrics or 'jobs{status="todo"} 0.0' in metrics
    # the workers' fetches and polls, from the database (Postgres: other processes)
    assert f'feed_entries_last_day{{status="stored"}} {float(len(pages))}' in metrics
    assert 'feed_entries_last_day{status="failed"} 0.0' in metrics
    longest = re.search(r'feed_poll_seconds_last_hour\{stat="max"\} (\S+)', metrics)
    assert longest is not None
    assert float(longest.group(1)) > 0


def test_a_failing_feed_backs_off_stays_visible_and_recovers(site: FeedSite, start: Start) -> None:
    feed_url, pages = site.corpus_feed("sitemap-news-shinpaideshou-2017.xml", "/news.xml")
    services = start(FEED_MIN_INTERVAL="1", FEED_MAX_INTERVAL="4")
    feed_id = services.subscribe(feed_url)["feeds"][0]["id"]
    wait_for(lambda: services.feed(feed_id)["articles_created"] == len(pages), "the first poll")

    before = len(site.requests_to("/news.xml"))
    site.failures["/news.xml"] = Failure(500)
    failing = wait_for(
        lambda: (f := services.feed(feed_id))["error_count"] >= 4 and f,
        "four failed polls in a row",
    )
    assert failing["last_status"] == 500
    assert "HTTP 500" in failing["last_error"]
    assert failing["state"] == "active"  # never dropped
    assert [e["status"] for e in failing["recent_errors"][:3]] == [500, 500, 500]
    listed = services.get("/v1/feeds", failing=True)["items"]
    assert [f["id"] for f in listed] == [feed_id]
    # after the third failure in a row the next poll waits 4 s (1 s, 2 s, 4 s, capped)
    failed = [h.at for h in site.requests_to("/news.xml")][before : before + 4]
    assert failed[3] - failed[2] >= 3.9

    del site.failures["/news.xml"]
    recovered = wait_for(
        lambda: (f := services.feed(feed_id))["error_count"] == 0 and f, "a successful poll"
    )
    assert recovered["last_status"] in (200, 304)
    assert recovered["last_error"] is None
    assert recovered["articles_created"] == len(pages)


def test_retry_after_is_obeyed(site: FeedSite, start: Start) -> None:
    feed_url, _ = site.corpus_feed("rss2-il-giornale-cronache-2022.xml", "/cronache.xml")
    services = start(FEED_MIN_INTERVAL="1", FEED_MAX_INTERVAL="2")
    site.failures["/cronache.xml"] = Failure(503, {"Retry-After": "6"})
    response = services.post("/v1/feeds", json={"url": feed_url})
    assert response.status_code == 502  # subscribing fetches it: the site is down
    del site.failures["/cronache.xml"]
    feed_id = services.subscribe(feed_url)["feeds"][0]["id"]
    wait_for(lambda: services.feed(feed_id)["last_status"] == 200, "the first poll")

    site.failures["/cronache.xml"] = Failure(503, {"Retry-After": "6"})
    before = len(site.requests_to("/cronache.xml"))
    services.post(f"/v1/feeds/{feed_id}/poll")
    wait_for(lambda: services.feed(feed_id)["last_status"] == 503, "the refused poll")
    del site.failures["/cronache.xml"]
    wait_for(lambda: services.feed(feed_id)["error_count"] == 0, "the poll after the wait")
    refused, after = site.requests_to("/cronache.xml")[before : before + 2]
    # the backoff alone (1 s, capped at 2 s) would have come back sooner
    assert after.at - refused.at >= 6


def test_discovery_from_a_home_page(site: FeedSite, start: Start) -> None:
    feed_url, _ = site.corpus_feed("jsonfeed-npr-technology-2021.json", "/technology.json")
    atom_url, _ = site.corpus_feed("atom-usgs-earthquakes-2018.xml", "/quakes.atom", "/q")
    sitemap_url, _ = site.corpus_feed("sitemap-urlset-sitemaps-org-2016.xml", "/map.xml", "/m")
    home = site.serve(
        "/",
        "text/html",
        "<html><head><title>Home</title>"
        '<link rel="alternate" type="application/feed+json" href="/technology.json" title="Tech">'
        '<link rel="alternate" type="application/atom+xml" href="/quakes.atom">'
        '<link rel="alternate" type="application/json" href="/wp-json/wp/v2/posts">'
        "</head><body><p>Welcome</p></body></html>",
    )
    site.serve("/robots.txt", "text/plain", "User-agent: *\nDisallow:\nSitemap: /map.xml\n")
    services = start()

    subscribed = services.subscribe(home)
    assert [(f["url"], f["kind"], f["found_in"]) for f in subscribed["found"]] == [
        (feed_url, "jsonfeed", "link"),
        (atom_url, "atom", "link"),
        (sitemap_url, "sitemap", "robots.txt"),
    ]
    assert subscribed["created"] == 2
    assert [f["url"] for f in subscribed["feeds"]] == [feed_url, atom_url]
    again = services.post("/v1/feeds", json={"url": home})
    assert again.status_code == 200
    assert again.json()["created"] == 0
    sitemaps = services.subscribe(home, kind="sitemap")
    assert [f["url"] for f in sitemaps["feeds"]] == [sitemap_url]

    page = site.serve("/about", "text/html", "<html><head></head><body>x</body></html>")
    refused = services.post("/v1/feeds", json={"url": page, "kind": "feed"})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"


def test_opml_round_trip(site: FeedSite, start: Start) -> None:
    services = start()
    opml = (
        '<?xml version="1.0"?><opml version="2.0"><head><title>mine</title></head><body>'
        f'<outline text="News"><outline text="One" type="rss" xmlUrl="{site.base}/one.xml"/>'
        f'<outline text="Two" xmlUrl="{site.base}/two.atom" htmlUrl="{site.base}/"/></outline>'
        '<outline text="bad" xmlUrl="ftp://example.com/feed"/>'
        "</body></opml>"
    )
    response = services.post(
        "/v1/feeds/opml", content=opml, headers={"Content-Type": "text/x-opml"}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["created"], result["existing"], len(result["refused"])) == (2, 0, 1)
    again = services.post("/v1/feeds/opml", content=opml).json()
    assert (again["created"], again["existing"]) == (0, 2)

    exported = httpx.get(services.url + "/v1/feeds/opml", timeout=HTTP_TIMEOUT)
    assert exported.headers["content-type"].startswith("text/x-opml")
    back = services.post("/v1/feeds/opml", content=exported.content).json()
    assert (back["created"], back["existing"], back["refused"]) == (0, 2, [])
    assert f'xmlUrl="{site.base}/one.xml"' in exported.text
    junk = services.post("/v1/feeds/opml", content=b"<html><body>no</body></html>")
    assert junk.status_code == 422


def test_pause_resume_and_delete(site: FeedSite, start: Start) -> None:
    feed_url, _ = site.corpus_feed("rss2-nbc-new-york-2023.xml", "/nbc.xml")
    services = start()
    feed_id = services.subscribe(feed_url)["feeds"][0]["id"]
    patch = httpx.patch(
        f"{services.url}/v1/feeds/{feed_id}", json={"state": "paused", "interval": 900}
    )
    assert patch.status_code == 200
    assert patch.json()["state"] == "paused"
    assert patch.json()["fixed_interval"] == 900
    assert services.post(f"/v1/feeds/{feed_id}/poll").status_code == 409
    assert services.get("/v1/feeds", state="paused")["items"][0]["id"] == feed_id
    resumed = httpx.patch(f"{services.url}/v1/feeds/{feed_id}", json={"state": "active"})
    assert resumed.json()["state"] == "active"
    bad = httpx.patch(f"{services.url}/v1/feeds/{feed_id}", json={"interval": 1})
    assert bad.status_code == 422
    assert httpx.delete(f"{services.url}/v1/feeds/{feed_id}").status_code == 204
    assert httpx.get(f"{services.url}/v1/feeds/{feed_id}").status_code == 404


def test_host_politeness_holds_across_workers(site: FeedSite, start: Start) -> None:
    """One request at a time to the host and a second between requests (robots.txt, the
    subscription's own fetch and every page included), however many workers (two processes
    on Postgres) and jobs at once (four each)."""
    feed_url, pages = site.corpus_feed("rss2-yahoo-music-top-songs-2006.xml", "/top.xml")
    site.slow["/articles/"] = 0.2
    services = start(
        workers=2, WORKER_CONCURRENCY="4", FEED_HOST_CONCURRENCY="1", FEED_HOST_DELAY="1"
    )
    feed_id = services.subscribe(feed_url)["feeds"][0]["id"]
    wait_for(lambda: services.feed(feed_id)["articles_created"] == len(pages), "every entry")
    assert site.most_in_flight == 1
    starts = sorted(h.at for h in site.hits)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # each request takes its turn in the database just before it leaves: the turns are a
    # second apart, the arrivals as well but for the loopback's own jitter
    assert min(gaps) >= 0.9, gaps


def test_one_hosts_backlog_takes_turns_with_other_hosts(site: FeedSite, start: Start) -> None:
    """Three feeds of one publisher, then one of another, polled in that order (one OPML
    list): the second publisher's entries are fetched in turn with the first's, not after
    all of them (which would hold every worker on one host's politeness)."""
    with FeedSite("127.0.0.2") as other:
        names = [
            "rss2-yahoo-music-top-songs-2006.xml",
            "rss1-slashdot-2005.xml",
            "rss2-donthitsave-bom-2019.xml",
        ]  # 10 each
        feeds = [site.corpus_feed(name, f"/a{n}.xml", f"/a{n}")[0] for n, name in enumerate(names)]
        feeds.append(other.corpus_feed("atom-touchnokia-ru-2009.xml", "/b.xml", "/b")[0])  # 15
        outlines = "".join(f'<outline text="f{n}" xmlUrl="{url}"/>' for n, url in enumerate(feeds))
        opml = f'<?xml version="1.0"?><opml version="2.0"><body>{outlines}</body></opml>'
        services = start(WORKER_CONCURRENCY="1")  # one job at a time: the queue's order
        response = services.post("/v1/feeds/opml", content=opml)
        assert response.json()["created"] == 4, response.text
        ids = [feed["id"] for feed in services.get("/v1/feeds")["items"]]
        wait_for(
            lambda: sum(services.feed(i)["articles_created"] for i in ids) == 45, "every entry"
        )
        pages = sorted(
            [(h.at, "a") for h in site.hits if h.path.startswith("/a") and "." not in h.path]
            + [(h.at, "b") for h in other.hits if h.path.startswith("/b/")]
        )
    order = "".join(host for _, host in pages)
    assert order.count("a") == 30, order
    assert order.count("b") == 15, order
    # each publisher's entries take ranks 0, 1, 2...; equal ranks run oldest first: a, b, a,
    # b... until b's 15 are done, then a's other 15 (not a's 30 first, nor a, a, a, b)
    assert order.rindex("b") < 31, order


def test_the_feeds_command(site: FeedSite, database_url: str, db: Engine) -> None:
    """`python -m app feeds add | list | poll | host`: real processes on the test database."""
    feed_url, _ = site.corpus_feed("rss2-huffpost-canada-2017.xml", "/huff.xml")
    env = {**os.environ, **FAST_JOBS, "DATABASE_URL": database_url}

    def run(*args: str) -> list[dict[str, Any]]:
        done = subprocess.run(
            [sys.executable, "-m", "app", "feeds", *args],
            env=env, capture_output=True, text=True, timeout=HTTP_TIMEOUT, check=True,
        )  # fmt: skip
        return [json.loads(line) for line in done.stdout.splitlines()]

    added = run("add", feed_url)
    assert [(a["url"], a["created"]) for a in added] == [(feed_url, True)]
    assert run("add", feed_url)[0]["created"] is False
    listed = run("list")
    assert [(f["id"], f["url"], f["state"]) for f in listed] == [
        (added[0]["id"], feed_url, "active")
    ]
    assert run("poll", str(added[0]["id"])) == [{"id": added[0]["id"], "queued": False}]
    assert run("host", "news.example", "--concurrency", "3")[0]["concurrency"] == 3
    with db.begin() as conn:
        conn.execute(text("DELETE FROM procrastinate_jobs"))


@pytest.mark.skipif(not POSTGRES, reason="workers in separate processes need Postgres")
def test_a_worker_killed_mid_job_loses_nothing_and_stores_nothing_twice(
    site: FeedSite, start: Start, db: Engine
) -> None:
    feed_url, pages = site.corpus_feed("rss2-jornal-de-noticias-iso-8859-1-2018.xml", "/jn.xml")
    site.slow["/articles/"] = 0.5  # long enough to kill a worker in the middle of fetches
    services = start(workers=2, WORKER_CONCURRENCY="4")
    feed_id = services.subscribe(feed_url)["feeds"][0]["id"]

    def running() -> int:
        with db.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM procrastinate_jobs j JOIN procrastinate_workers w"
                        " ON w.id = j.worker_id WHERE j.status = 'doing'"
                        " AND j.task_name = 'feeds:fetch'"
                    )
                ).scalar_one()
            )

    wait_for(lambda: running() >= 4, "fetch jobs running on the workers")
    services.workers[0].kill()  # SIGKILL: no chance to finish or hand anything back
    wait_for(
        lambda: services.feed(feed_id)["articles_created"] == len(pages),
        "every entry stored, the dead worker's jobs retried by the other",
    )
    articles = services.articles(feed_id)
    assert sorted(a["url"] for a in articles) == sorted(pages)
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM article")).scalar() == len(pages)
        statuses = conn.execute(
            text("SELECT status, count(*) FROM feed_entry GROUP BY status")
        ).all()
        assert statuses == [("stored", len(pages))]
        # nothing half-stored: every article has its URL aliases and its page snapshot
        orphans = conn.execute(
            text(
                "SELECT count(*) FROM article a WHERE NOT EXISTS (SELECT 1 FROM article_url u"
                " WHERE u.article_id = a.id) OR NOT EXISTS (SELECT 1 FROM page_snapshot s"
                " WHERE s.article_id = a.id)"
            )
        ).scalar()
        assert orphans == 0
