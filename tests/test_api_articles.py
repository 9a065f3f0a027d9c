"""POST/GET/DELETE /v1/articles and the listing, through HTTP on the ASGI app."""

import json

import pytest
from fastapi.testclient import TestClient

from tests.conftest import SEEDS, seed_text

PROBLEM = "application/problem+json"
EXPECTED = json.loads((SEEDS / "000_6bc365aecf700d82.expected.json").read_text())


def post_text(client: TestClient, text: str | bytes, content_type: str = "text/plain"):
    return client.post("/v1/articles", content=text, headers={"content-type": content_type})


def count(client: TestClient) -> int:
    return len(client.get("/v1/articles", params={"limit": 200}).json()["items"])


def test_seed_round_trips_exactly_as_text(client: TestClient) -> None:
    created = post_text(client, seed_text())
    assert created.status_code == 201
    assert created.headers["location"] == f"/v1/articles/{created.json()['id']}"
    fetched = client.get(created.headers["location"]).json()
    assert {k: fetched[k] for k in EXPECTED} == EXPECTED
    assert fetched["url"] is None
    assert fetched["canonical_url"] is None
    assert fetched["published_at"] is None
    assert len(fetched["content_hash"]) == 64


def test_seed_round_trips_as_json_text(client: TestClient) -> None:
    created = client.post("/v1/articles", json={"text": seed_text()})
    assert created.status_code == 201
    assert {k: created.json()[k] for k in EXPECTED} == EXPECTED


def test_same_content_again_returns_stored_article_with_200(client: TestClient) -> None:
    first = post_text(client, seed_text()).json()
    again = client.post("/v1/articles", json={"text": "\ufeff" + seed_text().replace("\n", "\r\n")})
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert count(client) == 1


def test_normalized_fields_are_accepted_and_cleaned(client: TestClient) -> None:
    payload = {
        "headline": "  Storm\u200b closes ports ",
        "body": "First  paragraph\nwrapped.\r\n\r\nSecond.",
        "source": "Reuters",
        "related_links": [{"title": "Earlier", "url": "https://example.com/a"}],
        "authors": ["Jane Doe", "  "],
        "published_at": "2026-11-20T10:30:00+02:00",
        "language": "EN",
        "url": "https://example.com/storm",
        "canonical_url": "https://example.com/storm",
    }
    article = client.post("/v1/articles", json=payload).json()
    assert article["headline"] == "Storm closes ports"
    assert article["body"] == "First paragraph wrapped.\n\nSecond."
    assert article["authors"] == ["Jane Doe"]
    assert article["published_at"] == "2026-11-20T08:30:00Z"
    assert article["language"] == "en"
    assert article["related_links"] == [{"title": "Earlier", "url": "https://example.com/a"}]


def test_same_canonical_url_is_a_duplicate(client: TestClient) -> None:
    base = {"headline": "A", "body": "One.", "canonical_url": "https://ex.com/a"}
    first = client.post("/v1/articles", json=base).json()
    second = client.post("/v1/articles", json={**base, "body": "Edited."})
    assert second.status_code == 200
    assert second.json()["id"] == first["id"]


def test_sources_are_shared_case_insensitively(client: TestClient) -> None:
    post_text(client, "A\n\nOne.\n\nSource: Reuters")
    post_text(client, "B\n\nTwo.\n\nSource: REUTERS")
    listed = client.get("/v1/articles", params={"source": "reuters"}).json()["items"]
    assert [a["headline"] for a in listed] == ["B", "A"]
    assert {a["source"] for a in listed} == {"Reuters"}


@pytest.mark.parametrize(
    ("text", "message"),
    [("Only a headline", "no body paragraph"), ("   ", "empty"), ("H\n\nSource: AP", "no body")],
)
def test_text_without_body_is_422_and_stores_nothing(
    client: TestClient, text: str, message: str
) -> None:
    response = post_text(client, text)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert message in response.json()["detail"]
    assert count(client) == 0


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"headline": "H"}, "headline and body go together"),
        ({"text": "H\n\nB.", "headline": "x", "body": "y"}, "only one of"),
        ({"source": "AP"}, "or a url to fetch"),
        ({"headline": "H", "body": "B.", "colour": "red"}, "colour"),
        ({"headline": "H", "body": "B.", "related_links": [{}]}, "title or a url"),
        ({"headline": "H", "body": "B.", "language": "not a language"}, "language"),
        ({"headline": "H", "body": "B.", "published_at": "yesterday"}, "published_at"),
        ({"headline": " ", "body": "B."}, "headline is empty"),
        ([1, 2], "valid dictionary"),
    ],
)
def test_invalid_json_articles_are_422_problems(
    client: TestClient, payload: object, where: str
) -> None:
    response = client.post("/v1/articles", json=payload)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert where in response.text
    assert count(client) == 0


def test_malformed_json_is_400(client: TestClient) -> None:
    response = post_text(client, b'{"text": ', "application/json")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


def test_invalid_utf8_is_400(client: TestClient) -> None:
    response = post_text(client, b"Head\xff\xfe\n\nBody.", "text/plain; charset=utf-8")
    assert response.status_code == 400
    assert "utf-8" in response.json()["detail"]


def test_declared_charset_is_honoured(client: TestClient) -> None:
    response = post_text(
        client, "Caf\u00e9\n\nBody.".encode("latin-1"), "text/plain; charset=latin-1"
    )
    assert response.status_code == 201
    assert response.json()["headline"] == "Caf\u00e9"


@pytest.mark.parametrize("content_type", ["application/xml", "image/png"])
def test_unsupported_content_type_is_415(client: TestClient, content_type: str) -> None:
    response = post_text(client, b"<a/>", content_type)
    assert response.status_code == 415
    assert response.headers["content-type"] == PROBLEM


def test_oversized_body_is_413(client: TestClient) -> None:
    response = post_text(client, "H\n\n" + "word " * 600_000)
    assert response.status_code == 413
    assert count(client) == 0


def test_get_missing_article_is_404_problem(client: TestClient) -> None:
    response = client.get("/v1/articles/999999")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 404


def test_delete_removes_article_and_links(client: TestClient) -> None:
    article = post_text(client, seed_text()).json()
    assert client.delete(f"/v1/articles/{article['id']}").status_code == 204
    assert client.get(f"/v1/articles/{article['id']}").status_code == 404
    assert client.delete(f"/v1/articles/{article['id']}").status_code == 404
    again = post_text(client, seed_text())
    assert again.status_code == 410  # a takedown: the same text does not come back
    assert again.headers["content-type"] == PROBLEM
    assert count(client) == 0
    restored = client.post("/v1/articles", params={"restore": "true"}, json={"text": seed_text()})
    assert restored.status_code == 201
    assert restored.json()["id"] != article["id"]


def test_listing_walks_every_article_once_newest_first(client: TestClient) -> None:
    ids = [post_text(client, f"Headline {i}\n\nBody number {i}.").json()["id"] for i in range(7)]
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/articles", params=params).json()
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)


def test_listing_default_page_size_is_20(client: TestClient) -> None:
    items = [{"headline": f"H{i}", "body": f"B {i}."} for i in range(25)]
    client.post("/v1/imports", json={"items": items})
    page = client.get("/v1/articles").json()
    assert len(page["items"]) == 20
    assert page["next_cursor"]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 201}, {"limit": 10**9}, {"limit": -1}, {"limit": "x"}],
)
def test_absurd_limits_are_422(client: TestClient, params: dict[str, object]) -> None:
    response = client.get("/v1/articles", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    "cursor", ["garbage", "eyJiZWZvcmUiOiJ4In0", "eyJ4IjoxfQ", "W10", "!!!", "e30"]
)
def test_tampered_cursor_is_400(client: TestClient, cursor: str) -> None:
    response = client.get("/v1/articles", params={"cursor": cursor})
    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]


def test_sql_in_filters_is_just_text(client: TestClient) -> None:
    post_text(client, "A\n\nOne.\n\nSource: AP")
    response = client.get("/v1/articles", params={"source": "AP' OR '1'='1"})
    assert response.status_code == 200
    assert response.json()["items"] == []
