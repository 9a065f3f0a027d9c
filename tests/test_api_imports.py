"""POST /v1/imports: JSON batches and streamed NDJSON."""

import json

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ndjson_import, seed_text


def counts(**given: int) -> dict[str, int]:
    return (
        dict.fromkeys(("created", "duplicate", "updated", "unchanged", "deleted", "error"), 0)
        | given
    )


def test_batch_results_are_in_order_and_one_bad_item_sinks_nothing(client: TestClient) -> None:
    items = [
        {"text": seed_text()},
        {"headline": "Only headline"},
        {"headline": "Second", "body": "Its body.", "source": "AP"},
        {"text": seed_text()},  # duplicate inside the batch
        "not an object",
        {"headline": "Third", "body": "Another body.", "bogus": 1},
    ]
    response = client.post("/v1/imports", json={"items": items})
    assert response.status_code == 200
    body = response.json()
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["created", "error", "created", "duplicate", "error", "error"]
    assert [r["index"] for r in body["results"]] == list(range(6))
    assert body["results"][3]["id"] == body["results"][0]["id"]
    assert "headline and body go together" in body["results"][1]["error"]
    assert "JSON object" in body["results"][4]["error"]
    assert "bogus" in body["results"][5]["error"]
    assert body["counts"] == counts(created=2, duplicate=1, error=3)
    stored = client.get(f"/v1/articles/{body['results'][2]['id']}").json()
    assert stored["source"] == "AP"


def test_duplicates_of_stored_articles_carry_the_stored_id(client: TestClient) -> None:
    first = client.post("/v1/articles", json={"text": seed_text()}).json()
    body = client.post("/v1/imports", json={"items": [{"text": seed_text()}]}).json()
    assert body["results"] == [{"index": 0, "status": "duplicate", "id": first["id"]}]


def test_in_batch_new_text_for_a_url_is_a_revision_as_across_batches(client: TestClient) -> None:
    items = [
        {"headline": "A", "body": "One.", "canonical_url": "https://ex.com/a"},
        {"headline": "A2", "body": "Changed.", "canonical_url": "https://ex.com/a"},
        {"headline": "A2", "body": "Changed.", "url": "https://ex.com/a?utm_source=x"},
    ]
    results = client.post("/v1/imports", json={"items": items}).json()["results"]
    assert [r["status"] for r in results] == ["created", "updated", "duplicate"]
    assert results[0]["id"] == results[1]["id"] == results[2]["id"]
    revisions = client.get(f"/v1/articles/{results[0]['id']}/revisions").json()["items"]
    assert [(r["number"], r["headline_changed"]) for r in revisions] == [(1, False), (2, True)]
    assert client.get(f"/v1/articles/{results[0]['id']}").json()["body"] == "Changed."


def test_more_than_1000_items_is_422_and_stores_nothing(client: TestClient) -> None:
    items = [{"headline": f"H{i}", "body": "B."} for i in range(1001)]
    response = client.post("/v1/imports", json={"items": items})
    assert response.status_code == 422
    assert "1000" in response.json()["detail"]
    assert client.get("/v1/articles").json()["items"] == []


@pytest.mark.parametrize(
    "document", [[], {"items": "x"}, {"things": []}, {"items": [], "extra": 1}, 3]
)
def test_wrong_document_shape_is_422(client: TestClient, document: object) -> None:
    response = client.post("/v1/imports", json=document)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_wrong_content_type_is_415(client: TestClient) -> None:
    response = client.post("/v1/imports", content=b"x", headers={"content-type": "text/csv"})
    assert response.status_code == 415


def test_ndjson_import_streams_items_and_reports_bad_lines(client: TestClient) -> None:
    lines = [json.dumps({"headline": f"H{i}", "body": f"Body {i}."}) for i in range(1200)]
    lines.insert(5, "{not json")
    lines.insert(7, "")
    payload = "\n".join(lines).encode()
    response = client.post(
        "/v1/imports", content=payload, headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    answer = [json.loads(line) for line in response.text.splitlines()]
    assert len(answer) == 1201 + 1  # one line per item (the blank line is none), then counts
    assert [r["index"] for r in answer[:-1]] == list(range(1201))
    assert answer[-1] == {"counts": counts(created=1200, error=1)}
    assert answer[5]["status"] == "error"
    assert "not valid JSON" in answer[5]["error"]
    assert answer[6] == {"index": 6, "status": "created", "id": answer[4]["id"] + 1}
    listed = client.get("/v1/articles", params={"limit": 1}).json()["items"]
    assert listed[0]["headline"] == "H1199"
    assert listed[0]["id"] == answer[-2]["id"]


def test_empty_ndjson_is_400(client: TestClient) -> None:
    response = client.post(
        "/v1/imports", content=b"\n\n", headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "url", ["http://[::ffff:127.0.0.077]:1/x", "http://[::1/x", "https://[abc/", "https://xn--zz/"]
)
def test_a_url_that_does_not_parse_is_a_400_and_sinks_nothing_else(
    client: TestClient, url: str
) -> None:
    single = client.post("/v1/articles", json={"url": url})
    assert single.status_code == 400, single.text
    assert single.headers["content-type"] == "application/problem+json"
    assert single.json()["type"] == "/problems/url-refused"

    items = [
        {"headline": "Before", "body": "One."},
        {"url": url},
        {"headline": "After", "body": "Two."},
    ]
    batch = client.post("/v1/imports", json={"items": items}).json()
    ndjson_body = "".join(json.dumps(item) + "\n" for item in items).encode()
    streamed = ndjson_import(
        client.post(
            "/v1/imports", content=ndjson_body, headers={"content-type": "application/x-ndjson"}
        )
    )
    for result, first in ((batch, "created"), (streamed, "duplicate")):
        assert [r["status"] for r in result["results"]] == [first, "error", first]
        assert "invalid URL" in result["results"][1]["error"]
    headlines = {a["headline"] for a in client.get("/v1/articles").json()["items"]}
    assert headlines == {"Before", "After"}
