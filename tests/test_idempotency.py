"""Idempotency-Key: a retried POST gets the first response and writes nothing again, whether
it creates one article, imports JSON or NDJSON, or re-extracts; concurrent duplicates run
once; another body with the same key is a 422; expired keys are forgotten."""

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from app.config import Settings
from app.main import create_app
from app.models import Article, Change, IdempotencyRecord, utcnow
from tests.conftest import KeyMaker, LiveServer, bearer, ndjson_import

ARTICLE = {"headline": "Storm closes ports", "body": "The storm closed every port."}
HTML = (
    "<html><head><title>Storm</title></head><body><article><h1>Storm closes ports</h1>"
    "<p>The storm closed every port on the coast on Monday.</p></article></body></html>"
)


def count(db: Engine, model: Any) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def idem(key: str, **headers: str) -> dict[str, str]:
    return {"Idempotency-Key": key, **headers}


def ndjson(*items: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


# Retries


def test_a_retried_article_post_gets_the_first_response(client: TestClient, db: Engine) -> None:
    first = client.post("/v1/articles", json=ARTICLE, headers=idem("a-1"))
    assert first.status_code == 201
    changes = count(db, Change)
    again = client.post("/v1/articles", json=ARTICLE, headers=idem("a-1"))
    assert again.status_code == 201  # without the key a resend would be a 200 "duplicate"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert (count(db, Article), count(db, Change)) == (1, changes)


def test_the_same_key_with_another_body_is_a_422(client: TestClient, db: Engine) -> None:
    assert client.post("/v1/articles", json=ARTICLE, headers=idem("b-1")).status_code == 201
    other = {"headline": "Another story", "body": "Something else happened."}
    refused = client.post("/v1/articles", json=other, headers=idem("b-1"))
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/idempotency-key-reused"
    elsewhere = client.post("/v1/imports", json={"items": [ARTICLE]}, headers=idem("b-1"))
    assert elsewhere.status_code == 422  # the same key on another route
    restore = client.post("/v1/articles?restore=true", json=ARTICLE, headers=idem("b-1"))
    assert restore.status_code == 422  # ... or with another query
    as_text = client.post(
        "/v1/articles",
        content=json.dumps(ARTICLE),
        headers=idem("b-1", **{"Content-Type": "text/plain"}),
    )
    assert as_text.status_code == 422  # the same bytes, meant as something else
    assert count(db, Article) == 1


def test_a_json_import_is_not_repeated(client: TestClient, db: Engine) -> None:
    items = [ARTICLE, {"headline": "Second", "body": "Body two."}, {"headline": "No body"}]
    first = client.post("/v1/imports", json={"items": items}, headers=idem("imp-1"))
    assert first.status_code == 200
    assert first.json()["counts"]["created"] == 2
    again = client.post("/v1/imports", json={"items": items}, headers=idem("imp-1"))
    assert again.status_code == 200
    assert again.content == first.content
    assert again.json()["counts"]["created"] == 2  # the first answer, not "duplicate"
    assert count(db, Article) == 2


def test_an_ndjson_import_is_not_repeated(client: TestClient, db: Engine) -> None:
    body = ndjson(*({"headline": f"H{i}", "body": f"Body {i}."} for i in range(25)))
    headers = idem("nd-1", **{"Content-Type": "application/x-ndjson"})
    first = client.post("/v1/imports", content=body, headers=headers)
    assert ndjson_import(first)["counts"]["created"] == 25

    def chunks() -> Iterator[bytes]:  # the retry arrives in pieces, as a stream
        yield from (body[i : i + 100] for i in range(0, len(body), 100))

    again = client.post("/v1/imports", content=chunks(), headers=headers)
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    changed = client.post("/v1/imports", content=body + ndjson(ARTICLE), headers=headers)
    assert changed.status_code == 422
    assert count(db, Article) == 25


def test_a_reextract_is_not_repeated(client: TestClient, db: Engine) -> None:
    article = client.post(
        "/v1/articles", content=HTML, headers={"Content-Type": "text/html"}
    ).json()
    path = f"/v1/articles/{article['id']}/reextract"
    first = client.post(path, headers=idem("re-1"))
    assert first.status_code == 200
    assert first.json()["changed"] is False
    with db.begin() as conn:  # were the route to run again, it would now change the article
        conn.execute(update(Article).values(body="Stale text.", content_hash="0" * 64))
    again = client.post(path, headers=idem("re-1"))
    assert again.json() == first.json()
    assert client.get(f"/v1/articles/{article['id']}").json()["body"] == "Stale text."
    assert client.post(path, headers=idem("re-2")).json()["changed"] is True


def test_an_error_answer_is_kept_too(client: TestClient) -> None:
    first = client.post("/v1/articles", json={"headline": "No body"}, headers=idem("e-1"))
    assert first.status_code == 422
    again = client.post("/v1/articles", json={"headline": "No body"}, headers=idem("e-1"))
    assert again.status_code == 422
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"


def test_a_request_the_route_did_not_read_in_full_is_not_kept(
    db: Engine, settings: Settings
) -> None:
    small = settings.model_copy(update={"max_body_bytes": 1024})
    big = {"headline": "Big", "body": "word " * 400}
    with TestClient(create_app(small)) as client:
        too_large = client.post("/v1/articles", json=big, headers=idem("big-1"))
        assert too_large.status_code == 413
        fixed = client.post("/v1/articles", json=ARTICLE, headers=idem("big-1"))
        assert fixed.status_code == 201  # the 413 claimed nothing


def test_a_response_over_the_size_limit_is_not_kept(db: Engine, settings: Settings) -> None:
    tiny = settings.model_copy(update={"idempotency_max_response_bytes": 1024})
    items = [{"headline": f"H{i}", "body": f"Body {i}."} for i in range(60)]
    with TestClient(create_app(tiny)) as client:
        first = client.post("/v1/imports", json={"items": items}, headers=idem("large-1"))
        assert len(first.content) > 1024
        again = client.post("/v1/imports", json={"items": items}, headers=idem("large-1"))
    assert "idempotent-replayed" not in again.headers
    assert again.json()["counts"]["duplicate"] == 60  # it ran again; nothing was duplicated
    assert count(db, Article) == 60


# Keys, owners, expiry


def test_keys_belong_to_their_api_key(client: TestClient, make_key: KeyMaker) -> None:
    crawler, other = make_key("write"), make_key("write")
    first = client.post("/v1/articles", json=ARTICLE, headers=idem("k", **bearer(crawler)))
    assert first.status_code == 201
    mine = {"headline": "Mine", "body": "A different story."}
    second = client.post("/v1/articles", json=mine, headers=idem("k", **bearer(other)))
    assert second.status_code == 201
    replay = client.post("/v1/articles", json=ARTICLE, headers=idem("k", **bearer(crawler)))
    assert replay.json()["id"] == first.json()["id"]
    refused = client.post("/v1/articles", json=mine, headers=idem("k", **bearer(crawler)))
    assert refused.status_code == 422


def test_an_expired_key_is_forgotten(client: TestClient, db: Engine) -> None:
    assert client.post("/v1/articles", json=ARTICLE, headers=idem("old")).status_code == 201
    with db.begin() as conn:
        conn.execute(update(IdempotencyRecord).values(created_at=utcnow() - timedelta(hours=25)))
    other = {"headline": "Next day", "body": "A new story with an old key."}
    fresh = client.post("/v1/articles", json=other, headers=idem("old"))
    assert fresh.status_code == 201
    assert "idempotent-replayed" not in fresh.headers
    assert count(db, Article) == 2
    assert count(db, IdempotencyRecord) == 1


def test_expired_records_are_purged(client: TestClient, db: Engine) -> None:
    for key in ("p-1", "p-2"):
        client.post("/v1/articles", json={"headline": key, "body": "B."}, headers=idem(key))
    with db.begin() as conn:
        conn.execute(update(IdempotencyRecord).values(created_at=utcnow() - timedelta(days=2)))
    with TestClient(create_app(client.app.state.settings)) as fresh:  # purges on first claim
        fresh.post("/v1/articles", json=ARTICLE, headers=idem("p-3"))
    with db.connect() as conn:
        assert conn.execute(select(IdempotencyRecord.key)).scalars().all() == ["p-3"]


@pytest.mark.parametrize("key", [b"", b"x" * 256, b"with space", "naïve".encode()])
def test_a_malformed_key_is_a_400(client: TestClient, db: Engine, key: bytes) -> None:
    response = client.post("/v1/articles", json=ARTICLE, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert count(db, Article) == 0


def test_other_routes_ignore_the_header(client: TestClient) -> None:
    assert client.get("/v1/articles", headers=idem("g")).status_code == 200
    assert client.get("/v1/articles", headers=idem("g")).headers.get("idempotent-replayed") is None


# Concurrency


def test_a_request_while_the_first_is_running_is_a_409(client: TestClient, db: Engine) -> None:
    with db.begin() as conn:  # the first request has claimed the key and is still running
        conn.execute(
            IdempotencyRecord.__table__.insert().values(
                owner="anonymous", key="busy", method="POST", path="/v1/articles",
                created_at=utcnow(),
            )
        )  # fmt: skip
    response = client.post("/v1/articles", json=ARTICLE, headers=idem("busy"))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/idempotency-in-progress"
    assert "in progress" in response.json()["detail"]
    assert count(db, Article) == 0


def test_concurrent_duplicates_run_once(live_server: LiveServer, db: Engine) -> None:
    items = [{"headline": f"Story {i}", "body": f"Body of story {i}."} for i in range(300)]
    body = json.dumps({"items": items}).encode()
    results: list[httpx.Response] = []
    start = threading.Barrier(6)

    def send() -> None:
        start.wait()
        results.append(
            httpx.post(
                f"{live_server.url}/v1/imports",
                content=body,
                headers=idem("race", **{"Content-Type": "application/json"}),
                timeout=60,
            )
        )

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {r.status_code for r in results} <= {200, 409}
    answers = [r for r in results if r.status_code == 200]
    assert answers, [r.text for r in results]
    # Had the import run twice, some answer would report duplicates instead of created.
    assert all(r.json()["counts"]["created"] == 300 for r in answers)
    assert count(db, Article) == 300
    after = httpx.post(
        f"{live_server.url}/v1/imports",
        content=body,
        headers=idem("race", **{"Content-Type": "application/json"}),
        timeout=60,
    )
    assert after.status_code == 200
    assert after.headers["idempotent-replayed"] == "true"
    assert after.content == answers[0].content
