"""NDJSON imports parse their later chunks in a worker process (IMPORT_PROCESSES): the same
results as parsing in the server, no process for a short import, a dead worker costs
nothing, and a killed server leaves no worker behind."""

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from tests.conftest import HTTP_TIMEOUT, LiveServer, empty_tables, ndjson_import, seed_text
from tests.site_server import Site, article_html
from tests.test_faults import wait_until

CHUNK = 20
NDJSON = {"content-type": "application/x-ndjson"}
ENV = {"IMPORT_CHUNK_SIZE": str(CHUNK), "FETCH_ALLOWED_NETWORKS": "127.0.0.1/32"}


def children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))):
            state, parent = stat
            if parent == pid and state != "Z":
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def _stat(pid: int) -> tuple[str, int] | None:
    try:
        fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return fields[0], int(fields[1])


def mixed_items(site: Site) -> list[Any]:
    """Every kind of item, bad lines, repeats and a revision, over several chunks."""
    items: list[Any] = []
    for i in range(70):
        kind = i % 5
        if kind == 0:
            items.append({"headline": f"Fields story {i}", "body": f"Body of story {i}.\n\nMore."})
        elif kind == 1:
            items.append({"text": f"Text story {i}\n\nSource: Wire {i % 3}\n\nIt happened {i}."})
        elif kind == 2:
            html = article_html(f"Page story {i}", [f"Paragraph of page {i}."], f"/c/{i}")
            items.append({"html": html, "url": f"https://news.example/p/{i}"})
        elif kind == 3:
            path = f"/news/{i}"
            site.page(path, article_html(f"Fetched {i}", [f"Fetched body {i}."], path))
            items.append({"url": site.base + path})
        else:
            items.append(items[i - 23] if i >= 23 else items[i - 4])  # some of an earlier chunk
    items[33] = "not json"
    items[47] = {"headline": "no body"}
    items.append({"text": seed_text()})
    revised = article_html("Page story 2", ["A corrected paragraph of page 2."], "/c/2")
    items.append({"html": revised, "url": "https://news.example/p/2"})  # a revision
    return items


def body(items: list[Any]) -> bytes:
    return b"".join(
        (item if isinstance(item, str) else json.dumps(item)).encode() + b"\n" for item in items
    )


def archive(url: str) -> list[dict[str, Any]]:
    """The exported archive, without what differs between two runs (times)."""
    exported = httpx.get(f"{url}/v1/export?format=jsonl", timeout=HTTP_TIMEOUT).text.splitlines()
    rows = [json.loads(line) for line in exported]
    drop = {"created_at", "updated_at", "fetched_at"}
    return sorted(({k: v for k, v in r.items() if k not in drop} for r in rows), key=str)


def revisions(url: str, article_id: int) -> list[str]:
    response = httpx.get(f"{url}/v1/articles/{article_id}/revisions", timeout=HTTP_TIMEOUT)
    return [r["content_hash"] for r in response.json()["items"]]


@pytest.fixture
def server(db: Engine, database_url: str) -> Iterator[LiveServer]:
    live = LiveServer(database_url, env={**ENV, "IMPORT_PROCESSES": "1"})
    yield live
    live.stop()


def test_worker_process_gives_the_same_results_as_parsing_in_the_server(
    db: Engine, database_url: str, site: Site
) -> None:
    items = mixed_items(site)
    runs = []
    for processes in ("0", "1"):
        live = LiveServer(database_url, env={**ENV, "IMPORT_PROCESSES": processes})
        try:
            response = httpx.post(
                f"{live.url}/v1/imports", content=body(items), headers=NDJSON, timeout=HTTP_TIMEOUT
            )
            assert response.status_code == 200, response.text
            workers = children(live.process.pid)
            results = ndjson_import(response)
            revised = next(r["id"] for r in results["results"] if r["status"] == "updated")
            runs.append((results, archive(live.url), revisions(live.url, revised), workers))
        finally:
            live.stop()
        empty_tables(db)
    (in_server, archive0, revisions0, workers0), (in_worker, archive1, revisions1, workers1) = runs
    assert workers0 == []
    assert workers1 != []
    assert in_worker == in_server
    counts = in_worker["counts"]
    assert counts["created"] == 55
    assert counts["duplicate"] == 14
    assert counts["error"] == 2
    assert counts["updated"] == 1
    assert in_worker["results"][33]["status"] == "error"
    assert archive1 == archive0
    assert len(archive1) == 55
    assert revisions1 == revisions0
    assert len(revisions1) == 2


def test_an_import_of_one_chunk_starts_no_process(server: LiveServer) -> None:
    items = [{"headline": f"Short {i}", "body": f"Body {i}."} for i in range(CHUNK)]
    response = httpx.post(
        f"{server.url}/v1/imports", content=body(items), headers=NDJSON, timeout=HTTP_TIMEOUT
    )
    assert ndjson_import(response)["counts"]["created"] == CHUNK
    assert children(server.process.pid) == []


def test_a_worker_killed_mid_import_costs_nothing(server: LiveServer) -> None:
    items = [{"headline": f"Story {i}", "body": f"Body of story {i}."} for i in range(10 * CHUNK)]
    killed: list[int] = []

    def stream() -> Iterator[bytes]:
        for i, item in enumerate(items):
            if i == 4 * CHUNK:  # chunks 2 and 3 went to the worker: kill it
                assert wait_until(lambda: children(server.process.pid) != [], HTTP_TIMEOUT)
                for pid in children(server.process.pid):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            yield json.dumps(item).encode() + b"\n"

    response = httpx.post(
        f"{server.url}/v1/imports", content=stream(), headers=NDJSON, timeout=HTTP_TIMEOUT
    )
    assert response.status_code == 200, response.text
    counts = ndjson_import(response)["counts"]
    assert counts == {**counts, "created": 10 * CHUNK}
    listing = httpx.get(f"{server.url}/v1/articles?limit=200", timeout=HTTP_TIMEOUT).json()["items"]
    assert {a["headline"] for a in listing} == {i["headline"] for i in items}
    assert killed

    again = [{"headline": f"Later {i}", "body": f"Later body {i}."} for i in range(3 * CHUNK)]
    response = httpx.post(
        f"{server.url}/v1/imports", content=body(again), headers=NDJSON, timeout=HTTP_TIMEOUT
    )
    assert ndjson_import(response)["counts"]["created"] == 3 * CHUNK
    new_workers = children(server.process.pid)
    assert new_workers
    assert not set(new_workers) & set(killed)


def test_a_killed_server_leaves_no_worker_behind(server: LiveServer) -> None:
    items = [{"headline": f"Story {i}", "body": f"Body {i}."} for i in range(3 * CHUNK)]
    response = httpx.post(
        f"{server.url}/v1/imports", content=body(items), headers=NDJSON, timeout=HTTP_TIMEOUT
    )
    assert response.status_code == 200
    workers = children(server.process.pid)
    assert workers
    server.stop(kill=True)
    assert wait_until(lambda: not any(alive(pid) for pid in workers), HTTP_TIMEOUT), workers
