"""Search, filters, duplicates, sources, the change feed, tombstones and export: through
HTTP, on SQLite and (with TEST_DATABASE_URL) Postgres."""

import csv
import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.cli import export as cli_export
from app.config import Settings
from app.db import make_sessionmaker, session_scope
from app.ingest import Prepared, prepare, store
from app.ingest.clusters import OLDEST_PER_BAND
from app.neardup import DEFAULT as NEAR_DUPLICATES
from app.repositories import ClusterRepository, Filters
from app.schemas import ArticleIn
from tests.conftest import empty_tables, ndjson_import

WORDS = [
    "harbour",
    "council",
    "budget",
    "election",
    "river",
    "bridge",
    "farmers",
    "vaccine",
    "tariff",
    "court",
    "strike",
    "minister",
    "storm",
    "wildfire",
    "festival",
    "museum",
    "railway",
    "drought",
    "energy",
    "pension",
]


def story(seed: int, paragraphs: int = 6) -> list[str]:
    """Deterministic filler paragraphs of ordinary words."""
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(25)).capitalize() + "." for _ in range(paragraphs)
    ]


def add(client: TestClient, headline: str, body: str | list[str], **fields: object) -> dict:
    text = body if isinstance(body, str) else "\n\n".join(body)
    response = client.post("/v1/articles", json={"headline": headline, "body": text, **fields})
    assert response.status_code in (200, 201), response.text
    return response.json()


def search(client: TestClient, q: str, **params: object) -> list[dict]:
    response = client.get("/v1/articles", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


# --- search ------------------------------------------------------------------------------


def test_search_ranks_by_relevance_with_highlighted_snippets(client: TestClient) -> None:
    weak = add(client, "Farm news", "Militias were mentioned once. " + " ".join(story(1)))
    strong = add(
        client,
        "Militias launch drones at base",
        "Militias used drones again. The drones were launched by militias near the base.",
    )
    add(client, "Unrelated", story(2))
    hits = search(client, "militias drones")
    assert [h["id"] for h in hits] == [strong["id"]]
    assert "<mark>" in hits[0]["snippet"]
    assert hits[0]["score"] > 0
    one_word = search(client, "militias")
    assert [h["id"] for h in one_word] == [strong["id"], weak["id"]]


def test_stemming_phrases_prefixes_and_exclusions(client: TestClient) -> None:
    a = add(client, "Supreme leader speaks", "The supreme leader spoke about militia attacks.")
    b = add(client, "Leader of the supreme court", "A leader was named for the court, supreme.")
    assert {h["id"] for h in search(client, "militias")} == {a["id"]}  # stemmed
    assert [h["id"] for h in search(client, '"supreme leader"')] == [a["id"]]
    assert {h["id"] for h in search(client, "milit*")} == {a["id"]}
    assert [h["id"] for h in search(client, "leader -court")] == [a["id"]]
    assert {h["id"] for h in search(client, "leader")} == {a["id"], b["id"]}


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ('"unbalanced', "quote"),
        ("-only -negative", "at least one word"),
        ("...", "at least"),
        # every word costs a scan of each body on the page (snippets): 64 at most
        ('"' + " ".join(f"w{i}" for i in range(65)) + '"', "65 words; at most 64"),
    ],
)
def test_malformed_queries_are_400(client: TestClient, q: str, message: str) -> None:
    response = client.get("/v1/articles", params={"q": q})
    assert response.status_code == 400
    assert message in response.json()["detail"]


@pytest.mark.parametrize("q", ["NEAR(a b)", "a OR b", "col:word", "^x", "a AND", "'; DROP TABLE"])
def test_engine_syntax_in_queries_is_plain_text(client: TestClient, q: str) -> None:
    # FTS5 would read NEAR(), OR, AND, col: and ^ as operators, SQL the quote: here they are
    # words (or separators), so the article holding those words is found, and only it.
    plain = add(client, "Plain words", "Near a b, or col word x and a drop table.")
    add(client, "Unrelated", story(3))
    assert [h["id"] for h in search(client, q)] == [plain["id"]]


def test_search_pages_cover_every_hit_once(client: TestClient) -> None:
    ids = {add(client, f"Harbour story {i}", story(i))["id"] for i in range(12)}
    seen, cursor = [], None
    while True:
        params = {"q": "harbour", "limit": 5, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/articles", params=params).json()
        seen += [h["id"] for h in page["items"]]
        scores = [h["score"] for h in page["items"]]
        assert scores == sorted(scores, reverse=True)
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(seen) == sorted(ids)
    other = client.get("/v1/articles", params={"q": "river", "cursor": page_one_cursor(client)})
    assert other.status_code == 400


def page_one_cursor(client: TestClient) -> str:
    return client.get("/v1/articles", params={"q": "harbour", "limit": 1}).json()["next_cursor"]


def test_filters_combine_with_search_and_listing(client: TestClient) -> None:
    base = story(3)
    en = add(
        client, "Storm in harbour", base, source="Reuters", language="en",
        url="https://www.example.com/a", published_at="2026-11-20T10:00:00Z",
    )  # fmt: skip
    de = add(
        client, "Sturm im Hafen harbour", story(4), source="DPA", language="de",
        url="https://news.example.org/b", published_at="2026-10-01T10:00:00Z",
    )  # fmt: skip
    both = {en["id"], de["id"]}

    def ids(**params: object) -> set[int]:
        return {a["id"] for a in client.get("/v1/articles", params=params).json()["items"]}

    assert ids(q="harbour") == both
    assert ids(q="harbour", source="reuters") == {en["id"]}
    assert ids(language="de") == {de["id"]}
    assert ids(domain="example.com") == {en["id"]}
    assert ids(domain="www.example.com") == {en["id"]}
    assert ids(published_after="2026-11-01T00:00:00Z") == {en["id"]}
    assert ids(published_before="2026-11-01T00:00:00Z", q="harbour") == {de["id"]}
    assert client.get("/v1/articles", params={"published_after": "soon"}).status_code == 422
    assert client.get("/v1/articles", params={"language": "x y"}).status_code == 422


def test_listing_returns_each_article_once_while_new_ones_arrive(client: TestClient) -> None:
    first = [add(client, f"Old {i}", f"Old body {i}.")["id"] for i in range(9)]
    seen, cursor, extra = [], None, 0
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/articles", params=params).json()
        seen += [a["id"] for a in page["items"]]
        add(client, f"New {extra}", f"New body {extra}.")  # arrives mid-walk
        extra += 1
        if not (cursor := page["next_cursor"]):
            break
    assert len(seen) == len(set(seen))
    assert set(first) <= set(seen)


# --- duplicates --------------------------------------------------------------------------


def test_near_duplicates_are_stored_and_clustered(client: TestClient) -> None:
    wire = [*story(10, paragraphs=7), "The quokka council met at dawn."]
    original = add(client, "Council approves harbour budget", wire, source="Reuters")
    copy = add(
        client, "Harbour budget passes after long debate",
        [*wire, "Reporting by Jane Doe; editing by John Roe."], source="Daily Bugle",
    )  # fmt: skip
    edited = add(
        client, "Budget for harbour approved",
        [p.replace("council", "city council") for p in wire[:-1]], source="Courier",
    )  # fmt: skip
    unrelated = add(client, "Festival opens", story(11, paragraphs=8))
    assert len({original["id"], copy["id"], edited["id"]}) == 3  # all stored
    dups = client.get(f"/v1/articles/{copy['id']}/duplicates").json()
    assert dups["cluster_id"] == original["id"]
    assert {a["id"] for a in dups["items"]} == {original["id"], edited["id"]}
    assert client.get(f"/v1/articles/{unrelated['id']}/duplicates").json()["items"] == []
    collapsed = client.get("/v1/articles", params={"collapse_duplicates": "true"}).json()
    assert {a["id"] for a in collapsed["items"]} == {original["id"], unrelated["id"]}
    hits = search(client, "quokka", collapse_duplicates="true")
    assert [h["id"] for h in hits] == [original["id"]]
    # the cluster survives the deletion of its first article
    assert client.delete(f"/v1/articles/{original['id']}").status_code == 204
    dups = client.get(f"/v1/articles/{edited['id']}/duplicates").json()
    assert dups["cluster_id"] == copy["id"]
    assert [a["id"] for a in dups["items"]] == [copy["id"]]


def test_a_story_copied_many_times_costs_each_new_copy_the_same(
    client: TestClient, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every copy of a syndicated story joins the first one's cluster, and storing one more
    reads a bounded number of stored candidates, however many copies came before (it read
    a band row per earlier copy: a story copied a thousand times cost the next copy
    20,000 rows and as many signatures)."""
    wire = story(30, paragraphs=8)
    copies = 3 * OLDEST_PER_BAND
    first = add(client, "Port strike ends", wire)
    for n in range(1, copies):
        add(client, f"Port strike ends ({n})", [*wire, f"Copy {n} of the wire story."])
    read: list[int] = []  # candidate rows the store got back from the database
    lookup = ClusterRepository.articles_with_bands

    def counted(self: ClusterRepository, *args: Any) -> dict[int, list[int]]:
        found = lookup(self, *args)
        read.append(sum(len(ids) for ids in found.values()))
        return found

    monkeypatch.setattr(ClusterRepository, "articles_with_bands", counted)
    body = "\n\n".join([*wire, "The last copy of the wire story."])
    item = prepare(ArticleIn(headline="Port strike ends (last)", body=body), None)
    assert isinstance(item, Prepared)
    with session_scope(make_sessionmaker(db)) as session:
        outcome = store(session, [item])[0]
    assert outcome.status == "created"
    bands = len(set(NEAR_DUPLICATES.band_keys(item.signature)))
    assert read, "no candidate lookup ran"
    assert sum(read) <= bands * OLDEST_PER_BAND, (read, bands)
    dups = client.get(f"/v1/articles/{outcome.article_id}/duplicates").json()
    assert dups["cluster_id"] == first["id"]
    assert len(dups["items"]) == copies


def test_exact_duplicates_by_content_or_normalized_url(client: TestClient) -> None:
    a = add(client, "Bridge reopens", story(20), url="https://www.example.com/bridge/")
    same_url = add(
        client, "Bridge reopens (updated)", story(20), url="http://example.com/bridge?utm_source=x"
    )
    same_text = add(client, "Bridge reopens", story(20), url="https://other.example.net/x")
    assert same_url["id"] == a["id"]
    assert same_text["id"] == a["id"]
    assert len(client.get("/v1/articles").json()["items"]) == 1


# --- sources, changes, tombstones --------------------------------------------------------


def test_sources_with_counts_and_latest(client: TestClient) -> None:
    add(client, "A", "One.", source="Reuters", published_at="2026-11-01T00:00:00Z")
    add(client, "B", "Two.", source="reuters", published_at="2026-11-03T00:00:00Z")
    add(client, "C", "Three.", source="AP")
    items = client.get("/v1/sources").json()["items"]
    assert [(s["name"], s["article_count"]) for s in items] == [("Reuters", 2), ("AP", 1)]
    assert items[0]["latest_published_at"] == "2026-11-03T00:00:00Z"
    assert items[1]["latest_published_at"] is None
    assert items[1]["latest_ingested_at"] is not None


def test_following_the_change_feed_reproduces_the_archive(client: TestClient) -> None:
    copy: dict[int, str] = {}
    cursor = follow(client, copy, None)
    a = add(client, "A", "One.", canonical_url="https://e.com/a")
    b = add(client, "B", "Two.")
    cursor = follow(client, copy, cursor)
    add(client, "A", "One, revised.", canonical_url="https://e.com/a")  # new revision
    client.post(
        "/v1/imports", json={"items": [{"headline": f"N{i}", "body": "x."} for i in range(5)]}
    )
    client.delete(f"/v1/articles/{b['id']}")
    cursor = follow(client, copy, cursor)
    assert copy[a["id"]] == "One, revised."
    archive = {
        x["id"]: x["body"]
        for x in client.get("/v1/articles", params={"limit": 200}).json()["items"]
    }
    assert copy == archive
    assert follow(client, copy, cursor) == cursor  # nothing new: same cursor
    assert client.get("/v1/changes", params={"since": "bogus"}).status_code == 400


def follow(client: TestClient, copy: dict[int, str], cursor: str | None) -> str:
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/changes", params=params).json()
        for change in page["items"]:
            if change["kind"] == "deleted" or change["article"] is None:
                copy.pop(change["article_id"], None)
            else:
                copy[change["article_id"]] = change["article"]["body"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return cursor


def test_deleted_articles_do_not_come_back_unless_restored(client: TestClient) -> None:
    article = add(client, "Takedown", story(30), url="https://e.com/takedown")
    assert client.delete(f"/v1/articles/{article['id']}").status_code == 204
    items = [
        {"headline": "Takedown", "body": "\n\n".join(story(30))},  # same content
        {"headline": "Other text", "body": "Else.", "url": "https://www.e.com/takedown/"},
        {"headline": "Fine", "body": "New."},
    ]
    body = client.post("/v1/imports", json={"items": items}).json()
    assert [r["status"] for r in body["results"]] == ["deleted", "deleted", "created"]
    assert body["results"][0]["id"] == article["id"]
    assert body["counts"]["deleted"] == 2
    restored = client.post("/v1/imports", params={"restore": "true"}, json={"items": items[:1]})
    assert restored.json()["results"][0]["status"] == "created"


# --- export ------------------------------------------------------------------------------


def test_jsonl_export_imports_into_an_empty_archive_unchanged(
    client: TestClient, db: Engine
) -> None:
    add(
        client,
        "One",
        story(40),
        source="AP",
        authors=["Ann Lee"],
        tags=["x"],
        language="en",
        related_links=[{"title": "More", "url": "https://e.com/m"}],
        url="https://e.com/1",
    )
    client.post(
        "/v1/articles", json={"text": "Two\n\nBody two.\n\nSource: Reuters\nAlso read: Old"}
    )
    exported = client.get("/v1/export", params={"format": "jsonl"})
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    before = {a["content_hash"]: a for a in client.get("/v1/articles").json()["items"]}
    empty_tables(db)
    body = ndjson_import(
        client.post(
            "/v1/imports",
            content=exported.content,
            headers={"content-type": "application/x-ndjson"},
        )
    )
    assert body["counts"]["created"] == 2
    after = {a["content_hash"]: a for a in client.get("/v1/articles").json()["items"]}
    assert after.keys() == before.keys()
    skip = {"id", "created_at", "updated_at", "cluster_id"}
    for digest, article in before.items():
        assert {k: v for k, v in after[digest].items() if k not in skip} == {
            k: v for k, v in article.items() if k not in skip
        }


def test_export_filters_and_csv(client: TestClient) -> None:
    add(client, "One", 'Body, with "quotes"\nand lines.', source="AP", authors=["A", "B"])
    add(client, "Two", "Second.", source="Reuters")
    response = client.get("/v1/export", params={"format": "csv", "source": "ap"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["headline"], r["authors"]) for r in rows] == [("One", "A; B")]
    assert rows[0]["body"] == 'Body, with "quotes" and lines.'
    assert client.get("/v1/export", params={"format": "xml"}).status_code == 422


def test_tampered_export_line_is_rejected(client: TestClient) -> None:
    add(client, "One", "Body.")
    line = json.loads(client.get("/v1/export").text.splitlines()[0])
    line["body"] = "Changed."
    result = client.post("/v1/imports", json={"items": [line]}).json()["results"][0]
    assert result["status"] == "error"
    assert "content_hash" in result["error"]


def test_cli_export_writes_every_article(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    for i in range(7):
        add(client, f"H{i}", f"B {i}.", source="AP" if i % 2 else "DPA")
    out = tmp_path / "all.jsonl"
    assert cli_export(settings, out, "jsonl", Filters(), progress=False) == 7
    assert len(out.read_text().splitlines()) == 7
    assert cli_export(settings, tmp_path / "ap.csv", "csv", Filters(source="ap"), False) == 3
