"""The SQLite full-text index after batch writes (indexed per batch, migration 0006) is the
same as one kept row by row: every article findable, FTS5's own integrity check passes,
and writers that bypass the service are still indexed by the trigger."""

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.conftest import ndjson_import
from tests.test_archive import search, story

NDJSON = {"content-type": "application/x-ndjson"}


@pytest.fixture
def sqlite_only(db: Engine) -> Engine:
    if db.dialect.name != "sqlite":
        pytest.skip("FTS5 is SQLite's; Postgres keeps a generated tsvector column")
    return db


def integrity_check(engine: Engine) -> None:
    """FTS5 compares its index with the article table (raises if they differ)."""
    check = "INSERT INTO article_fts(article_fts, rank) VALUES ('integrity-check', 1)"
    with engine.begin() as conn:
        conn.execute(text(check))


def test_batch_imports_leave_a_complete_index(client: TestClient, sqlite_only: Engine) -> None:
    items = [
        {"headline": f"Harbour report number{i}", "body": "\n\n".join(story(i, 3))}
        for i in range(120)
    ]
    body = "".join(json.dumps(item) + "\n" for item in items)
    response = client.post("/v1/imports", content=body, headers=NDJSON)
    assert ndjson_import(response)["counts"]["created"] == 120
    single = client.post("/v1/articles", json={"headline": "Lone number999", "body": "Alone."})
    assert single.status_code == 201

    integrity_check(sqlite_only)
    for i in (0, 57, 119):
        assert [a["headline"] for a in search(client, f"number{i}")] == [items[i]["headline"]]
    assert [a["id"] for a in search(client, "number999")] == [single.json()["id"]]
    assert len(search(client, "harbour", limit=200)) == 120
    with sqlite_only.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM article_fts_deferred")).scalar() == 0


def test_other_writers_are_indexed_by_the_trigger(client: TestClient, sqlite_only: Engine) -> None:
    with sqlite_only.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO article (headline, body, content_hash, authors, tags, revision, "
                "created_at, updated_at) VALUES ('Written by hand', 'A zanzibar story.', "
                "'abc', '[]', '[]', 1, '2026-12-06 00:00:00.000000', '2026-12-06 00:00:00.000000')"
            )
        )
    integrity_check(sqlite_only)
    assert [a["headline"] for a in search(client, "zanzibar")] == ["Written by hand"]
