"""Background imports (`Prefer: respond-async`) end to end, through real HTTP and real
background work: the API server and (Postgres) `python -m app worker` processes, or (SQLite)
the server's own in-process worker, fetching from a loopback site.

No timing assertions: a gate on the site holds fetches until a test has seen what it wants
(a job running, a worker in the middle of a chunk), and every wait is a bound on a hang."""

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from app.import_jobs.chunks import GAVE_UP
from tests.conftest import HTTP_TIMEOUT, KeyMaker, LiveServer, bearer
from tests.job_workers import FAST_JOBS, Worker, empty_job_queue, wait_for

POSTGRES = bool(os.environ.get("TEST_DATABASE_URL"))
NDJSON = {"Content-Type": "application/x-ndjson"}
ASYNC = {"Prefer": "respond-async"}
LONG = 900  # seconds: a bound on a hang for the large imports, never a speed target
ENV = {
    **FAST_JOBS,
    "IMPORT_CHUNK_SIZE": "100",
    "FETCH_PER_HOST": "8",
    "WORKER_CONCURRENCY": "2",
    # fetches held by the site's gate must not time out meanwhile
    "FETCH_READ_TIMEOUT": str(LONG),
    "FETCH_TOTAL_TIMEOUT": str(LONG),
}

PAGE = """<!DOCTYPE html><html lang="en"><head><title>Report {n} | Loopback News</title>
<link rel="canonical" href="{url}"></head><body><article><h1>Report number {n}</h1>
<p>This is report {n} of the loopback site, filed for the background import tests.</p>
<p>A second paragraph keeps the body long enough to be taken for an article about {n}.</p>
<p>A third paragraph gives the page the shape of a short news story numbered {n}.</p>
</article></body></html>"""


class ArticleSite:
    """Article pages at /a/<n>; fetches of pages `held(n)` wait until `release()`."""

    def __init__(self) -> None:
        self.held: Callable[[int], bool] = lambda n: False
        self.gate = threading.Event()
        self.hits: dict[str, int] = {}
        self.arrivals: list[float] = []  # time.monotonic() of every request
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.site = self  # type: ignore[attr-defined]
        # a killed worker's held requests find their connection gone: not worth a traceback
        self._httpd.handle_error = lambda *args: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,))

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, n: int) -> str:
        return f"{self.base}/a/{n}"

    def hold(self, held: Callable[[int], bool]) -> None:
        self.held = held
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def waiting(self) -> int:
        """Requests for held pages received so far."""
        with self.lock:
            return sum(count for path, count in self.hits.items() if self._held(path))

    def _held(self, path: str) -> bool:
        number = path.removeprefix("/a/")
        return path.startswith("/a/") and number.isdigit() and self.held(int(number))

    def __enter__(self) -> "ArticleSite":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        site: ArticleSite = self.server.site  # type: ignore[attr-defined]
        path = self.path.split("?")[0]
        with site.lock:
            site.hits[path] = site.hits.get(path, 0) + 1
            site.arrivals.append(time.monotonic())
        if site._held(path):
            site.gate.wait(LONG)
        number = path.removeprefix("/a/")
        if not (path.startswith("/a/") and number.isdigit()):
            return self._send(404, b"not found", "text/plain")
        page = PAGE.format(n=number, url=site.base + path)
        return self._send(200, page.encode(), "text/html; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class Services:
    """The API, and the worker processes (Postgres) that run its jobs."""

    database_url: str
    env: dict[str, str]
    server: LiveServer
    workers: list[Worker] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        response = httpx.get(self.url + path, params=params, headers=headers, timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, response.text
        return response.json()

    def submit(self, body: str | bytes, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """POST an async import; checks the 202 and returns the job."""
        response = httpx.post(
            self.url + "/v1/imports",
            content=body,
            headers={**NDJSON, **ASYNC, **(headers or {})},
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == 202, response.text
        job = response.json()
        assert response.headers["location"] == f"/v1/jobs/{job['id']}"
        assert response.headers["preference-applied"] == "respond-async"
        return job  # type: ignore[no-any-return]

    def job(self, job_id: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
        return self.get(f"/v1/jobs/{job_id}", headers)  # type: ignore[no-any-return]

    def wait_status(self, job_id: int, status: str, timeout: float = LONG) -> dict[str, Any]:
        return wait_for(  # type: ignore[no-any-return]
            lambda: (job := self.job(job_id))["status"] == status and job,
            f"job {job_id} to be {status}",
            timeout,
        )

    def results(self, job_id: int, limit: int = 500) -> list[dict[str, Any]]:
        """Every result of a finished job, page by page."""
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            page = self.get(f"/v1/jobs/{job_id}/results", **params)
            found += page["items"]
            if not (cursor := page["next_cursor"]):
                return found

    def add_worker(self) -> None:
        concurrency = int(self.env["WORKER_CONCURRENCY"])
        self.workers.append(Worker(self.database_url, concurrency, env=self.env))

    def restart_server(self, kill: bool = False) -> None:
        """Stop the API (SIGKILL with `kill`: nothing finishes) and start a new one."""
        self.server.stop(kill=kill)
        self.server = LiveServer(self.database_url, env=self.env)


Start = Callable[..., Services]


@pytest.fixture
def site() -> Iterator[ArticleSite]:
    with ArticleSite() as running:
        yield running


@pytest.fixture
def start(db: Engine, database_url: str) -> Iterator[Start]:
    """Start the API and its background work: `workers` worker processes on Postgres, the
    server's own worker on SQLite (none at all with workers=0)."""
    started: list[Services] = []

    def _start(workers: int = 1, **env: str) -> Services:
        environ = {**ENV, **env}
        if not POSTGRES:
            environ["WORKER_IN_SERVER"] = "1" if workers else "0"
        services = Services(database_url, environ, LiveServer(database_url, env=environ))
        for _ in range(workers if POSTGRES else 0):
            services.add_worker()
        started.append(services)
        return services

    yield _start
    for services in started:
        for worker in services.workers:
            worker.kill()
        services.server.stop()
    empty_job_queue(db)


def ndjson(items: list[Any]) -> str:
    return "".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in items)


def scalar(db: Engine, sql: str, **params: Any) -> Any:
    with db.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def chunk_jobs(db: Engine) -> list[tuple[str, int]]:
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT status, attempts FROM procrastinate_jobs"
                " WHERE task_name = 'imports:chunk' ORDER BY id"
            )
        )
        return [(str(r.status), int(r.attempts)) for r in rows]


def assert_stored_once(db: Engine, count: int) -> None:
    """`count` articles, none of them half-stored (each has its URL and page snapshot)."""
    assert scalar(db, "SELECT count(*) FROM article") == count
    orphans = scalar(
        db,
        "SELECT count(*) FROM article a WHERE NOT EXISTS (SELECT 1 FROM article_url u"
        " WHERE u.article_id = a.id) OR NOT EXISTS (SELECT 1 FROM page_snapshot s"
        " WHERE s.article_id = a.id)",
    )
    assert orphans == 0
    # every result written dropped its item's bytes
    assert scalar(db, "SELECT count(*) FROM import_item WHERE payload IS NOT NULL") == 0


def test_an_async_import_of_2000_urls_completes_with_per_item_results(
    site: ArticleSite, start: Start, db: Engine
) -> None:
    site.hold(lambda n: True)  # nothing finishes until the job has been seen running
    items: list[Any] = [{"url": site.url(n)} for n in range(2000)]
    bad = {
        7: "not json at all",
        500: {"url": site.base + "/missing"},  # 404
        1200: {"url": "ftp://127.0.0.1/file"},  # refused scheme
        2001: {"url": site.url(3)},  # the same page again
    }
    for position, item in sorted(bad.items()):
        items.insert(position, item)
    services = start(workers=2)
    job = services.submit(ndjson(items))
    assert job["status"] == "queued"
    assert job["items"] == len(items)
    assert job["processed"] == 0
    running = services.wait_status(job["id"], "running")
    assert running["started_at"] is not None
    listed = services.get("/v1/jobs", status="running")["items"]
    assert [j["id"] for j in listed] == [job["id"]]
    site.release()

    done = services.wait_status(job["id"], "done")
    assert done["counts"] == {
        "created": 2000,
        "duplicate": 1,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "error": 3,
    }
    assert done["processed"] == len(items)
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]
    results = services.results(job["id"])
    assert [r["index"] for r in results] == list(range(len(items)))
    errors = {r["index"]: r for r in results if r["status"] == "error"}
    assert set(errors) == {7, 500, 1200}
    assert all(set(r) == {"index", "status", "error"} for r in errors.values())
    created = [r for r in results if r["status"] == "created"]
    assert len({r["id"] for r in created}) == 2000
    assert results[2001]["status"] == "duplicate"
    assert_stored_once(db, 2000)
    assert scalar(db, "SELECT count(DISTINCT url) FROM article") == 2000

    # the same per-item errors a synchronous import reports for the same items
    sync = httpx.post(
        services.url + "/v1/imports",
        content=ndjson([bad[7], bad[1200]]),
        headers=NDJSON,
        timeout=HTTP_TIMEOUT,
    )
    sync_errors = [json.loads(line).get("error") for line in sync.text.splitlines()[:2]]
    assert sync_errors == [errors[7]["error"], errors[1200]["error"]]
    metrics = httpx.get(services.url + "/metrics", timeout=HTTP_TIMEOUT).text
    assert 'import_jobs{status="done"} 1.0' in metrics


def test_url_items_keep_their_hosts_politeness_across_workers(
    site: ArticleSite, start: Start
) -> None:
    """URL items are background fetches like a feed's entries: requests to their host are
    FEED_HOST_DELAY apart whichever worker and chunk sends them (robots.txt included)."""
    services = start(workers=2, IMPORT_CHUNK_SIZE="3", FEED_HOST_DELAY="0.3")
    job = services.submit(ndjson([{"url": site.url(n)} for n in range(12)]))
    assert services.wait_status(job["id"], "done")["counts"]["created"] == 12
    with site.lock:
        arrivals = sorted(site.arrivals)
    assert all(site.hits[f"/a/{n}"] == 1 for n in range(12)), site.hits
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 0.25, gaps  # the turns are 0.3 s apart; the loopback adds jitter


def test_a_job_cancelled_before_it_starts_stores_nothing(start: Start, db: Engine) -> None:
    services = start(workers=0)  # nothing runs the job yet
    items = [{"text": f"Headline {n}\n\nThe body of article {n}, cancelled."} for n in range(250)]
    job = services.submit(ndjson(items))

    response = httpx.delete(f"{services.url}/v1/jobs/{job['id']}", timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_requested"] is True
    assert cancelled["finished_at"] is not None
    again = httpx.delete(f"{services.url}/v1/jobs/{job['id']}", timeout=HTTP_TIMEOUT)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    # its tasks left the queue, so a worker started now never runs them
    assert [status for status, _ in chunk_jobs(db)] == ["cancelled"] * 3
    if POSTGRES:
        services.add_worker()
    else:
        services.env["WORKER_IN_SERVER"] = "1"
        services.restart_server()
    wait_for(
        lambda: scalar(
            db,
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'jobs:recover'"
            " AND status = 'succeeded'",
        ),
        "the worker to run jobs",
    )
    assert services.job(job["id"])["status"] == "cancelled"
    assert services.results(job["id"]) == []
    assert scalar(db, "SELECT count(*) FROM article") == 0
    assert scalar(db, "SELECT count(*) FROM import_item WHERE payload IS NOT NULL") == 0
    listed = services.get("/v1/jobs", status="cancelled")["items"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_cancelling_a_running_job_lets_its_running_chunk_finish(
    site: ArticleSite, start: Start, db: Engine
) -> None:
    site.hold(lambda n: True)
    services = start(workers=1, WORKER_CONCURRENCY="1")
    job = services.submit(ndjson([{"url": site.url(n)} for n in range(300)]))
    services.wait_status(job["id"], "running")
    wait_for(site.waiting, "the first chunk's fetches")

    response = httpx.delete(f"{services.url}/v1/jobs/{job['id']}", timeout=HTTP_TIMEOUT)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "running"
    assert response.json()["cancel_requested"] is True
    site.release()

    cancelled = services.wait_status(job["id"], "cancelled")
    assert cancelled["counts"]["created"] == 100  # the chunk that had started
    assert cancelled["processed"] == 100
    assert [r["index"] for r in services.results(job["id"])] == list(range(100))
    assert_stored_once(db, 100)


def test_a_worker_killed_mid_job_has_its_chunk_retried_and_stores_every_item_once(
    site: ArticleSite, start: Start, db: Engine
) -> None:
    """SIGKILL in the middle of a chunk (its first pages fetched, the rest held): the
    stalled-job recovery hands the chunk to another worker, which stores what the dead one
    had not committed. On SQLite the worker is the API server: killing it is also the API
    restart; on Postgres the API is killed and restarted too."""
    site.hold(lambda n: n >= 130)  # chunks 0 and 1 commit; chunk 2 stops midway
    services = start(workers=1, IMPORT_CHUNK_SIZE="50")
    total = 400
    job = services.submit(ndjson([{"url": site.url(n)} for n in range(total)]))
    wait_for(lambda: services.job(job["id"])["processed"] >= 100, "two chunks stored")
    wait_for(site.waiting, "a chunk in the middle of its fetches")

    if POSTGRES:
        services.workers[0].kill()  # no chance to finish or hand anything back
        services.restart_server(kill=True)  # and the API goes down mid-job too
        assert services.job(job["id"])["status"] == "running"
        site.release()
        services.add_worker()
    else:
        services.restart_server(kill=True)  # the server and its worker, at once
        site.release()

    done = services.wait_status(job["id"], "done")
    assert done["counts"]["created"] == total
    assert done["processed"] == total
    results = services.results(job["id"], limit=97)
    assert [r["index"] for r in results] == list(range(total))
    assert {r["status"] for r in results} == {"created"}
    assert len({r["id"] for r in results}) == total
    assert_stored_once(db, total)
    assert max(attempts for _, attempts in chunk_jobs(db)) >= 1  # a chunk ran twice


def test_json_bodies_limits_and_refusals(start: Start, db: Engine) -> None:
    services = start(workers=1, MAX_NDJSON_BYTES="4096", MAX_IMPORT_ITEMS="5")
    items = [
        {"text": "A headline\n\nA body for the JSON import run in the background."},
        {"headline": "No body"},
        {"headline": "Unknown field", "body": "Body.", "colour": "red"},
    ]
    body = json.dumps({"items": items})
    job = services.submit(body, {"Content-Type": "application/json"})
    services.wait_status(job["id"], "done", timeout=120)
    results = services.results(job["id"])
    sync = httpx.post(
        f"{services.url}/v1/imports",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=HTTP_TIMEOUT,
    ).json()
    assert [r["status"] for r in results] == ["created", "error", "error"]
    assert [r.get("error") for r in results[1:]] == [r.get("error") for r in sync["results"][1:]]
    assert sync["results"][0] == {**results[0], "status": "duplicate"}

    def refused(content: bytes | str, content_type: str = NDJSON["Content-Type"]) -> int:
        response = httpx.post(
            f"{services.url}/v1/imports",
            content=content,
            headers={"Content-Type": content_type, **ASYNC},
            timeout=HTTP_TIMEOUT,
        )
        assert response.headers["content-type"] == "application/problem+json", response.text
        return response.status_code

    line = json.dumps({"text": "Headline\n\n" + "x" * 200}) + "\n"
    assert refused(line * 40) == 413  # over MAX_NDJSON_BYTES, though read a line at a time
    assert refused("\n\n") == 400  # no items
    assert refused(b"{}", "text/csv") == 415
    assert refused(json.dumps({"items": items * 2}), "application/json") == 422  # over 5
    assert refused(b'{"items": [', "application/json") == 400
    assert scalar(db, "SELECT count(*) FROM import_job") == 1  # only the first one
    assert scalar(db, "SELECT count(*) FROM import_item") == 3
    bad_cursor = httpx.get(f"{services.url}/v1/jobs/{job['id']}/results", params={"cursor": "nope"})
    assert bad_cursor.status_code == 400
    assert httpx.get(f"{services.url}/v1/jobs/999999").status_code == 404


def test_a_key_sees_and_cancels_only_its_own_jobs(
    start: Start, make_key: KeyMaker, db: Engine
) -> None:
    alice, bob, reader, admin = (
        make_key("write"),
        make_key("write"),
        make_key("read"),
        make_key("admin"),
    )
    services = start(workers=0)
    job = services.submit(
        ndjson([{"text": "Alice's headline\n\nAlice's body text."}]), bearer(alice)
    )
    path = f"{services.url}/v1/jobs/{job['id']}"
    assert httpx.get(path, headers=bearer(bob)).status_code == 404
    assert httpx.delete(path, headers=bearer(bob)).status_code == 404
    assert services.get("/v1/jobs", bearer(bob))["items"] == []
    assert httpx.get(path, headers=bearer(admin)).status_code == 200
    assert [j["id"] for j in services.get("/v1/jobs", bearer(admin))["items"]] == [job["id"]]
    assert [j["id"] for j in services.get("/v1/jobs", bearer(alice))["items"]] == [job["id"]]
    assert httpx.delete(path, headers=bearer(reader)).status_code == 403
    denied = httpx.post(
        f"{services.url}/v1/imports",
        content=ndjson([{"text": "H\n\nB."}]),
        headers={**NDJSON, **ASYNC, **bearer(reader)},
    )
    assert denied.status_code == 403
    assert httpx.delete(path, headers=bearer(alice)).status_code == 200


def test_a_taken_down_article_does_not_come_back_through_job_results(
    start: Start, db: Engine
) -> None:
    services = start(workers=1)
    secret = "Withdrawn headline about a private person"
    job = services.submit(ndjson([{"text": f"{secret}\n\nA body that was later withdrawn."}]))
    services.wait_status(job["id"], "done", timeout=120)
    article_id = services.results(job["id"])[0]["id"]
    deleted = httpx.delete(f"{services.url}/v1/articles/{article_id}", timeout=HTTP_TIMEOUT)
    assert deleted.status_code in (200, 204), deleted.text

    page = httpx.get(f"{services.url}/v1/jobs/{job['id']}/results", timeout=HTTP_TIMEOUT)
    assert secret not in page.text
    with db.connect() as conn:
        kept = conn.execute(text("SELECT payload, error FROM import_item")).all()
    assert all(payload is None and secret not in (error or "") for payload, error in kept)
    # sent again in the background, it stays deleted, as it would synchronously
    again = services.submit(ndjson([{"text": f"{secret}\n\nA body that was later withdrawn."}]))
    services.wait_status(again["id"], "done", timeout=120)
    assert [r["status"] for r in services.results(again["id"])] == ["deleted"]


def test_the_jobs_command_lists_shows_and_cancels(start: Start, database_url: str) -> None:
    services = start(workers=0)
    first = services.submit(ndjson([{"text": "First\n\nThe first job's only article."}]))
    second = services.submit(ndjson([{"text": f"Item {n}\n\nBody {n}."} for n in range(3)]))

    page = services.get("/v1/jobs", limit=1)
    assert [j["id"] for j in page["items"]] == [second["id"]]  # newest first
    rest = services.get("/v1/jobs", limit=1, cursor=page["next_cursor"])
    assert [j["id"] for j in rest["items"]] == [first["id"]]
    assert rest["next_cursor"] is None

    def jobs(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DATABASE_URL": database_url}
        command = [sys.executable, "-m", "app", "jobs", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    listed = jobs("list")
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [
        second["id"],
        first["id"],
    ]
    shown = jobs("show", str(second["id"]))
    assert json.loads(shown.stdout)["items"] == 3
    cancelled = jobs("cancel", str(first["id"]))
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    assert services.job(first["id"])["status"] == "cancelled"
    again = jobs("cancel", str(first["id"]))
    assert again.returncode == 1
    assert "cancelled already" in again.stderr
    assert [
        json.loads(line)["id"] for line in jobs("list", "--status", "queued").stdout.split()
    ] == [second["id"]]


def test_a_chunk_whose_task_is_gone_ends_with_error_results(start: Start, db: Engine) -> None:
    """A chunk task that failed for good without recording it (say the database was down at
    its last attempt) must not leave its job running for ever: the upkeep gives its items
    error results and the job ends `failed`."""
    services = start(workers=0)
    job = services.submit(
        ndjson([{"text": f"Item {n}\n\nThe body of item {n}."} for n in range(150)])
    )
    with db.begin() as conn:
        conn.execute(
            text(
                "UPDATE procrastinate_jobs SET status = 'failed' WHERE id ="
                " (SELECT min(id) FROM procrastinate_jobs WHERE task_name = 'imports:chunk')"
            )
        )
    if POSTGRES:
        services.add_worker()
    else:
        services.env["WORKER_IN_SERVER"] = "1"
        services.restart_server()
    failed = services.wait_status(job["id"], "failed", timeout=300)
    assert failed["counts"]["created"] == 50
    assert failed["counts"]["error"] == 100
    results = services.results(job["id"])
    assert [r["index"] for r in results] == list(range(150))
    assert {r["error"] for r in results[:100]} == {GAVE_UP}
    assert scalar(db, "SELECT count(*) FROM article") == 50


def test_an_idempotency_key_replays_the_same_job(start: Start, db: Engine) -> None:
    services = start(workers=0)
    body = ndjson([{"text": "Once\n\nAn import sent twice with one Idempotency-Key."}])
    key = {"Idempotency-Key": "nightly-2026-12-07"}
    first = services.submit(body, key)
    replayed = httpx.post(
        f"{services.url}/v1/imports", content=body, headers={**NDJSON, **ASYNC, **key}
    )
    assert replayed.status_code == 202
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.headers["preference-applied"] == "respond-async"
    assert replayed.json()["id"] == first["id"]
    # without Prefer it is another request (it would import at once): not a replay
    synchronous = httpx.post(f"{services.url}/v1/imports", content=body, headers={**NDJSON, **key})
    assert synchronous.status_code == 422
    assert scalar(db, "SELECT count(*) FROM import_job") == 1


POISON_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER poison BEFORE INSERT ON article WHEN NEW.headline = 'Poison'"
        " BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.headline = 'Poison' THEN RAISE EXCEPTION 'poisoned'; END IF;"
        " RETURN NEW; END $$",
        "CREATE TRIGGER poison BEFORE INSERT ON article FOR EACH ROW EXECUTE FUNCTION poison()",
    ],
}
UNPOISON = {
    "sqlite": ["DROP TRIGGER poison"],
    "postgresql": ["DROP TRIGGER poison ON article", "DROP FUNCTION poison()"],
}


def test_a_chunk_that_keeps_failing_gives_its_items_error_results(start: Start, db: Engine) -> None:
    """The database refuses one article of the first chunk every time: the chunk is retried,
    then at its last attempt each of its items gets an error result, and the job ends
    `failed` with the other chunk stored."""
    items = [{"text": f"Item {n}\n\nThe body of item {n}."} for n in range(150)]
    items[40] = {"text": "Poison\n\nThe database refuses to store this one."}
    with db.begin() as conn:
        for statement in POISON_TRIGGERS[db.dialect.name]:
            conn.execute(text(statement))
    try:
        services = start(workers=1, JOB_RETRY_ATTEMPTS="1")
        job = services.submit(ndjson(items))
        failed = services.wait_status(job["id"], "failed", timeout=300)
    finally:
        with db.begin() as conn:
            for statement in UNPOISON[db.dialect.name]:
                conn.execute(text(statement))
    assert failed["counts"]["created"] == 50
    assert failed["counts"]["error"] == 100
    results = services.results(job["id"])
    assert [r["index"] for r in results] == list(range(150))
    assert {r.get("error") for r in results[:100]} == {GAVE_UP}
    assert scalar(db, "SELECT count(*) FROM article") == 50
    assert chunk_jobs(db)[0] == ("succeeded", 2)  # tried, retried, then settled


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory so far (Linux's VmHWM), in MiB."""
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(
    not POSTGRES,
    reason="on SQLite the server's memory holds the database's page cache (64 MiB a "
    "connection), which fills with whatever is written: measured on Postgres",
)
def test_a_large_body_is_spooled_with_flat_memory(start: Start, db: Engine) -> None:
    """A 64 MiB NDJSON body (300,000 items) goes into the job a chunk at a time: the
    server's peak memory grows by far less than the body."""
    services = start(workers=0, IMPORT_CHUNK_SIZE="1000")
    services.submit(ndjson([{"text": "Warm-up\n\nFirst import, so that start-up is over."}]))
    before = peak_rss_mib(services.server.process.pid)
    filler = "x" * 180

    def body() -> Iterator[bytes]:
        for start_at in range(0, 300_000, 1000):
            yield "".join(
                json.dumps({"text": f"Item {n}\n\n{filler}"}) + "\n"
                for n in range(start_at, start_at + 1000)
            ).encode()

    job = services.submit(body())  # type: ignore[arg-type]
    assert job["items"] == 300_000
    growth = peak_rss_mib(services.server.process.pid) - before
    assert growth < 32, f"the server's peak memory grew by {growth:.0f} MiB"
    assert scalar(db, "SELECT count(*) FROM import_item") == 300_001
