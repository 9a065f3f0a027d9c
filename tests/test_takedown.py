"""Takedowns stay taken down: a deleted article's text does not come back through a stored
Idempotency-Key response, and only a key that may delete may restore (`?restore=true`)."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select

from app.api.middleware.idempotency_records import Capture, request_hasher, settle
from app.db import make_sessionmaker
from app.models import Article, IdempotencyRecord, utcnow
from tests.conftest import KeyMaker, bearer

ARTICLE = {"headline": "Minister resigns over leak", "body": "The minister resigned on Monday."}
HTML = (
    "<html><head><title>Leak</title></head><body><article><h1>Minister resigns over leak</h1>"
    "<p>The minister resigned on Monday after the leak.</p></article></body></html>"
)
SECRET = b"resign"  # in the headline and body of both versions
PROBLEM = "application/problem+json"
JSON_TYPE = (b"content-type", b"application/json")


def idem(key: str, **headers: str) -> dict[str, str]:
    return {"Idempotency-Key": key, **headers}


def stored_responses(db: Engine) -> list[bytes]:
    """Everything the idempotency table keeps of its responses, as bytes."""
    with db.connect() as conn:
        rows = conn.execute(
            select(IdempotencyRecord.response_headers, IdempotencyRecord.response_body)
        ).all()
    return [json.dumps(headers).encode() + (body or b"") for headers, body in rows]


def articles(db: Engine) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Article)).scalar_one())


def assert_withdrawn(replay: Any) -> None:
    assert replay.status_code == 410
    assert replay.headers["content-type"] == PROBLEM
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["type"] == "/problems/deleted"
    assert SECRET not in replay.content


# Stored responses after a takedown


@pytest.mark.parametrize("repeat", [False, True], ids=["created", "duplicate"])
def test_a_replay_after_a_delete_shows_nothing_of_the_article(
    client: TestClient, db: Engine, repeat: bool
) -> None:
    if repeat:  # the key's response is then the 200 "already stored"
        assert client.post("/v1/articles", json=ARTICLE).status_code == 201
    first = client.post("/v1/articles", json=ARTICLE, headers=idem("take-1"))
    assert first.status_code == (200 if repeat else 201)
    assert any(SECRET in stored for stored in stored_responses(db))
    assert client.delete(first.headers["location"]).status_code == 204
    assert not any(SECRET in stored for stored in stored_responses(db))
    assert_withdrawn(client.post("/v1/articles", json=ARTICLE, headers=idem("take-1")))
    assert articles(db) == 0  # the retry did not run again either
    other = client.post("/v1/articles", json={"text": "Other\n\nStory."}, headers=idem("take-1"))
    assert other.status_code == 422  # the key is still bound to its first request


def test_a_reextract_replay_after_a_delete_shows_nothing(client: TestClient, db: Engine) -> None:
    created = client.post("/v1/articles", content=HTML, headers={"Content-Type": "text/html"})
    path = created.headers["location"] + "/reextract"
    assert SECRET in client.post(path, headers=idem("re-1")).content
    assert client.delete(created.headers["location"]).status_code == 204
    assert not any(SECRET in stored for stored in stored_responses(db))
    assert_withdrawn(client.post(path, headers=idem("re-1")))


def test_a_retried_restore_does_not_undo_a_second_takedown(
    client: TestClient, db: Engine, make_key: KeyMaker
) -> None:
    admin = bearer(make_key("admin"))
    created = client.post("/v1/articles", json=ARTICLE, headers=admin)
    assert client.delete(created.headers["location"], headers=admin).status_code == 204
    restore = idem("restore-1", **admin)
    restored = client.post("/v1/articles?restore=true", json=ARTICLE, headers=restore)
    assert restored.status_code == 201
    assert client.delete(restored.headers["location"], headers=admin).status_code == 204
    assert_withdrawn(client.post("/v1/articles?restore=true", json=ARTICLE, headers=restore))
    assert articles(db) == 0


def test_an_import_replay_keeps_its_ids_and_statuses(client: TestClient) -> None:
    """An import's response lists ids and statuses, never text: it is kept as it was."""
    items = {"items": [ARTICLE, {"headline": "Other", "body": "Another story."}]}
    first = client.post("/v1/imports", json=items, headers=idem("imp-1"))
    assert SECRET not in first.content
    assert client.delete(f"/v1/articles/{first.json()['results'][0]['id']}").status_code == 204
    again = client.post("/v1/imports", json=items, headers=idem("imp-1"))
    assert (again.status_code, again.content) == (200, first.content)
    assert again.headers["idempotent-replayed"] == "true"


def test_a_response_settled_after_the_delete_keeps_no_text(client: TestClient, db: Engine) -> None:
    """The race: the article is deleted between the route's commit and the moment its
    response is stored for the key. The foreign key refuses it; the record is withdrawn."""
    created = client.post("/v1/articles", json=ARTICLE).json()
    with db.begin() as conn:  # the request's claim on the key, still pending
        record_id = conn.execute(
            insert(IdempotencyRecord).values(
                owner="anonymous", key="late", method="POST", path="/v1/articles",
                created_at=utcnow(),
            ).returning(IdempotencyRecord.id)
        ).scalar_one()  # fmt: skip
    assert client.delete(f"/v1/articles/{created['id']}").status_code == 204
    request = json.dumps(ARTICLE).encode()
    kept = Capture(request_hasher({"headers": [JSON_TYPE]}), 1 << 20, complete=True, status=201)
    kept.hasher.update(request)
    kept.chunks, kept.article_id = [json.dumps(created).encode()], created["id"]
    settle(make_sessionmaker(db), record_id, kept)
    assert not any(SECRET in stored for stored in stored_responses(db))
    headers = idem("late", **{"Content-Type": "application/json"})
    assert_withdrawn(client.post("/v1/articles", content=request, headers=headers))


# ?restore=true needs the admin scope


@pytest.mark.parametrize("flag", ["true", "1", "yes", "on", "True"])
def test_a_write_key_cannot_restore(
    client: TestClient, db: Engine, make_key: KeyMaker, flag: str
) -> None:
    admin, writer = bearer(make_key("admin")), bearer(make_key("write"))
    created = client.post("/v1/articles", json=ARTICLE, headers=writer)
    assert client.delete(created.headers["location"], headers=admin).status_code == 204
    attempts = [
        ("/v1/articles", {"json": ARTICLE}),
        ("/v1/imports", {"json": {"items": [ARTICLE]}}),
        (
            "/v1/imports",
            {"content": json.dumps(ARTICLE), "headers": {"Content-Type": "application/x-ndjson"}},
        ),
    ]
    for path, body in attempts:
        headers = {**body.pop("headers", {}), **writer}
        refused = client.post(path, params={"restore": flag}, headers=headers, **body)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["type"] == "/problems/insufficient-scope"
        assert 'scope="admin"' in refused.headers["www-authenticate"]
    assert articles(db) == 0
    assert client.post("/v1/articles", json=ARTICLE, headers=writer).status_code == 410
    sneaky = client.post("/v1/articles?restore=false&restore=true", json=ARTICLE, headers=writer)
    assert sneaky.status_code == 403
    restored = client.post("/v1/articles", params={"restore": flag}, json=ARTICLE, headers=admin)
    assert restored.status_code == 201
    plain = client.post("/v1/articles?restore=false", json=ARTICLE, headers=writer)
    assert plain.status_code == 200  # restore=false is any writer's
