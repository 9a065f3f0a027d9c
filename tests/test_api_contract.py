"""The API says what it does: one name for the paging cursor on every list route, sources
that name their latest article, error examples in /openapi.json that are the documents the
service really sends, a refused private URL that says how to allow it, and a re-fetch that
says whether its page changed. Through HTTP; fetches only from a site on 127.0.0.1."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from app.config import Settings
from app.main import create_app
from tests.conftest import KeyMaker, bearer
from tests.site_server import Site, article_html

PROBLEM = "application/problem+json"
PARAS = ["The storm closed every port along the coast.", "Ferries stayed in harbour."]


def add(client: TestClient, headline: str, **fields: object) -> dict[str, Any]:
    body = {"headline": headline, "body": f"{headline}: the text.", **fields}
    response = client.post("/v1/articles", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def pages(client: TestClient, path: str, param: str, **params: object) -> list[list[int]]:
    """The ids (or change numbers) of each page, following next_cursor in `param`."""
    found: list[list[int]] = []
    cursor = None
    for _ in range(20):  # far more pages than any test makes: a cursor that is ignored loops
        response = client.get(path, params={**params, **({param: cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        found.append([item.get("seq", item.get("id")) for item in page["items"]])
        cursor = page["next_cursor"]
        if not page.get("has_more", cursor is not None):
            return found
    raise AssertionError(f"{path} never reached its last page: {found[:4]}...")


# --- one cursor ---------------------------------------------------------------------------


def test_change_feed_pages_with_cursor_like_the_listing(client: TestClient) -> None:
    """A caller who pages /v1/changes with `cursor=`, as /v1/articles pages, gets every
    change once, instead of the first page again and again."""
    for i in range(5):
        add(client, f"Story {i}")
    assert pages(client, "/v1/changes", "cursor", limit=2) == [[1, 2], [3, 4], [5]]
    assert pages(client, "/v1/articles", "cursor", limit=2) == [[5, 4], [3, 2], [1]]


def test_since_still_pages_the_change_feed(client: TestClient) -> None:
    """Existing callers that send `since=` keep working: it is the same parameter."""
    for i in range(3):
        add(client, f"Story {i}")
    assert pages(client, "/v1/changes", "since", limit=2) == [[1, 2], [3]]


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/v1/changes", {"since": "3"}, "since"),
        ("/v1/changes", {"cursor": "3"}, "cursor"),
        ("/v1/articles", {"cursor": "3"}, "cursor"),
        ("/v1/articles", {"q": "storm", "cursor": "3"}, "cursor"),
    ],
)
def test_a_bad_cursor_is_refused_naming_the_parameter_sent(
    client: TestClient, path: str, params: dict[str, str], named: str
) -> None:
    """The 400 names the parameter the caller actually sent, not another one."""
    response = client.get(path, params=params)
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"].startswith(f"{named} is not valid")


def test_cursor_and_since_that_disagree_are_refused(client: TestClient) -> None:
    add(client, "Story")
    first = client.get("/v1/changes", params={"limit": 1}).json()["next_cursor"]
    response = client.get("/v1/changes", params={"cursor": first, "since": "other"})
    assert response.status_code == 400
    assert "cursor and since" in response.json()["detail"]
    same = client.get("/v1/changes", params={"cursor": first, "since": first})
    assert same.status_code == 200


def test_every_paged_route_documents_cursor_and_since_only_as_its_alias(
    client: TestClient,
) -> None:
    """In the docs, every route that pages takes `cursor` (and says `next_cursor` goes there);
    `since` appears only on /v1/changes, marked deprecated."""
    spec = client.get("/openapi.json").json()
    paged, aliases = [], []
    for path, operations in spec["paths"].items():
        for _method, operation in operations.items():
            names = {p["name"]: p for p in operation.get("parameters", [])}
            if "limit" in names:
                paged.append((path, "cursor" in names))
            if "since" in names:
                aliases.append((path, names["since"].get("deprecated", False)))
    assert sorted(paged) == [
        ("/v1/articles", True),
        ("/v1/changes", True),
        ("/v1/feeds", True),
        ("/v1/jobs", True),
        ("/v1/jobs/{job_id}/results", True),
    ]
    assert aliases == [("/v1/changes", True)]
    change_page = spec["components"]["schemas"]["ChangePage"]["properties"]["next_cursor"]
    assert "`cursor`" in change_page["description"]


# --- sources ------------------------------------------------------------------------------


def test_sources_name_their_latest_article(client: TestClient) -> None:
    """Each source shows its newest article (the first the listing shows for it), as its
    description promises, besides its counts and times."""
    add(client, "Old Reuters story", source="Reuters", published_at="2026-11-03T00:00:00Z")
    newest = add(client, "New Reuters story", source="REUTERS")
    ap = add(client, "AP story", source="AP")
    gone = add(client, "Withdrawn story", source="Gone Daily")
    assert client.delete(f"/v1/articles/{gone['id']}").status_code == 204
    items = {s["name"]: s for s in client.get("/v1/sources").json()["items"]}
    assert items["Reuters"]["latest_article"] == {
        "id": newest["id"],
        "headline": newest["headline"],
    }
    assert items["Reuters"]["article_count"] == 2
    assert items["Reuters"]["latest_published_at"] == "2026-11-03T00:00:00Z"
    assert items["Reuters"]["latest_ingested_at"] == newest["created_at"]
    assert items["AP"]["latest_article"] == {"id": ap["id"], "headline": "AP story"}
    assert items["Gone Daily"]["latest_article"] is None
    assert items["Gone Daily"]["article_count"] == 0
    listed = client.get("/v1/articles", params={"source": "reuters", "limit": 1}).json()
    assert listed["items"][0]["id"] == items["Reuters"]["latest_article"]["id"]


def test_sources_are_read_in_one_query_however_many_there_are(client: TestClient) -> None:
    """The sources page costs the same few queries for 2 sources as for 12 (no N+1)."""
    engine = client.app.state.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    def article_queries() -> int:
        statements.clear()
        assert client.get("/v1/sources").status_code == 200
        return sum(1 for s in statements if re.search(r"\barticle\b", s))

    event.listen(engine, "before_cursor_execute", record)
    try:
        for i in range(2):
            add(client, f"Story {i}", source=f"Source {i}")
        few = article_queries()
        for i in range(2, 12):
            add(client, f"Story {i}", source=f"Source {i}")
        many = article_queries()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    items = client.get("/v1/sources").json()["items"]
    assert sorted(s["latest_article"]["headline"] for s in items) == sorted(
        f"Story {i}" for i in range(12)
    )
    assert few == many == 1


# --- /openapi.json error examples --------------------------------------------------------


def problem_examples(spec: dict[str, Any], method: str, path: str, status: int) -> list[dict]:
    media = spec["paths"][path][method.lower()]["responses"][str(status)]["content"][PROBLEM]
    return [example["value"] for example in media.get("examples", {}).values()]


def test_each_error_status_shows_examples_of_its_own(client: TestClient) -> None:
    """In /docs, a 429 shows a rate-limit problem and a 401 an API-key one, not the same
    404 under every status."""
    spec = client.get("/openapi.json").json()
    seen = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if PROBLEM not in response.get("content", {}):
                    continue
                found = problem_examples(spec, method, path, int(code))
                assert found, f"{method} {path} {code} has no example"
                for doc in found:
                    assert doc["status"] == int(code), (method, path, code, doc)
                    assert doc["type"].startswith("/problems/")
                    assert doc["title"]
                    assert doc["detail"]
                seen += 1
    assert seen > 50
    problem = spec["components"]["schemas"]["Problem"]["properties"]
    assert all("examples" not in field for field in problem.values())


@pytest.fixture
def limited(db: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"rate_limit_per_minute": 1}))) as c:
        yield c


# (method, documented path, request path, request options); the real answer must be one of
# the examples documented for that path and status, word for word.
SENT_AS_DOCUMENTED = [
    ("GET", "/v1/articles", "/v1/articles?cursor=bogus", {}),
    ("GET", "/v1/articles", '/v1/articles?q="storm', {}),
    ("GET", "/v1/articles", "/v1/articles?limit=500", {}),
    ("GET", "/v1/articles", "/v1/articles?x=" + "a" * 40000, {}),
    ("GET", "/v1/articles/{article_id}", "/v1/articles/42", {}),
    ("GET", "/v1/articles/{article_id}", "/v1/articles/0", {}),
    ("DELETE", "/v1/articles/{article_id}", "/v1/articles/42", {}),
    ("GET", "/v1/articles/{article_id}/duplicates", "/v1/articles/42/duplicates", {}),
    ("GET", "/v1/articles/{article_id}/revisions", "/v1/articles/42/revisions", {}),
    ("POST", "/v1/articles/{article_id}/reextract", "/v1/articles/42/reextract", {}),
    ("GET", "/v1/changes", "/v1/changes?cursor=bogus", {}),
    ("GET", "/v1/changes", "/v1/changes?cursor=a&since=b", {}),
    ("GET", "/v1/changes", "/v1/changes?limit=5000", {}),
    ("GET", "/v1/sources", "/v1/sources?x=%00", {}),
    ("GET", "/v1/export", "/v1/export?format=xml", {}),
    ("POST", "/v1/articles", "/v1/articles", {"json": {"url": "http://127.0.0.1/news"}}),
    ("POST", "/v1/articles", "/v1/articles", {"json": {"html": "<p>x</p>"}}),
    ("POST", "/v1/articles", "/v1/articles", {"json": {}}),
    (
        "POST",
        "/v1/articles",
        "/v1/articles",
        {"content": b"", "headers": {"content-type": "application/json"}},
    ),
    (
        "POST",
        "/v1/articles",
        "/v1/articles",
        {"content": b"<a/>", "headers": {"content-type": "application/xml"}},
    ),
    (
        "POST",
        "/v1/articles",
        "/v1/articles",
        {"content": b"x" * 3 * 2**20, "headers": {"content-type": "text/plain"}},
    ),
    ("POST", "/v1/imports", "/v1/imports", {"json": {"x": 1}}),
    (
        "POST",
        "/v1/imports",
        "/v1/imports",
        {"content": b"", "headers": {"content-type": "application/x-ndjson"}},
    ),
    (
        "POST",
        "/v1/imports",
        "/v1/imports",
        {"content": b"<a/>", "headers": {"content-type": "application/xml"}},
    ),
]


@pytest.mark.parametrize(("method", "path", "target", "options"), SENT_AS_DOCUMENTED)
def test_documented_examples_are_what_the_service_sends(
    client: TestClient, method: str, path: str, target: str, options: dict[str, Any]
) -> None:
    """A caller reading /docs sees, for that route and status, the very document it gets."""
    response = client.request(method, target, **options)
    assert response.status_code >= 400
    assert response.headers["content-type"] == PROBLEM
    spec = client.get("/openapi.json").json()
    assert response.json() in problem_examples(spec, method, path, response.status_code)


def test_documented_key_and_limit_problems_are_what_the_service_sends(
    limited: TestClient, make_key: KeyMaker
) -> None:
    """401, 403 and 429: the same type and title as documented for that route."""
    reader = make_key("read")
    spec = limited.get("/openapi.json").json()
    sent = [
        ("GET", "/v1/articles", limited.get("/v1/articles")),
        ("POST", "/v1/articles", limited.post("/v1/articles", json={}, headers=bearer(reader))),
        ("GET", "/v1/sources", limited.get("/v1/sources", headers=bearer(reader))),
        ("GET", "/v1/sources", limited.get("/v1/sources", headers=bearer(reader))),
    ]
    statuses = [response.status_code for *_, response in sent]
    assert statuses == [401, 403, 200, 429]
    for method, path, response in sent:
        if response.status_code == 200:
            continue
        documented = problem_examples(spec, method, path, response.status_code)
        shapes = {(d["type"], d["title"], d["status"]) for d in documented}
        real = response.json()
        assert (real["type"], real["title"], real["status"]) in shapes, real


def test_extractor_example_is_the_extractor_the_service_reports(client: TestClient) -> None:
    """The `extraction.extractor` example in the docs is the value an HTML article carries."""
    html = article_html("Storm closes ports", PARAS, "https://example.com/news/storm")
    article = client.post("/v1/articles", json={"html": html}).json()
    spec = client.get("/openapi.json").json()
    extraction = spec["components"]["schemas"]["Extraction"]["properties"]
    assert extraction["extractor"]["examples"] == [article["extraction"]["extractor"]]
    documented_rules = set(extraction["fields"]["examples"][0].items())
    assert documented_rules - {("url", "caller")} <= set(article["extraction"]["fields"].items())


# --- fetching -----------------------------------------------------------------------------


def allowing(settings: Settings, networks: str) -> TestClient:
    return TestClient(
        create_app(
            settings.model_copy(
                update={"fetch_allowed_networks": networks, "fetch_total_timeout": 5.0}
            )
        )
    )


def test_refused_loopback_url_says_how_to_allow_it(
    client: TestClient, db: Engine, settings: Settings, site: Site
) -> None:
    """An operator fetching from a test site on loopback learns which setting to change,
    and following that advice works."""
    url = site.page("/news/storm", article_html("Storm", PARAS, site.base + "/news/storm"))
    refused = client.post("/v1/articles", json={"url": url})
    assert refused.status_code == 400
    assert refused.json()["type"] == "/problems/url-refused"
    advice = re.search(r"add (\S+) to the FETCH_ALLOWED_NETWORKS setting", refused.json()["detail"])
    assert advice is not None, refused.json()["detail"]
    assert site.hits == []  # refused before any connection
    with allowing(settings, advice.group(1)) as allowed:
        assert allowed.post("/v1/articles", json={"url": url}).status_code == 201


def test_refused_name_that_resolves_to_loopback_says_how_to_allow_it(
    client: TestClient,
) -> None:
    response = client.post("/v1/articles", json={"url": "http://localhost:9/news"})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("localhost resolves to ")
    assert "FETCH_ALLOWED_NETWORKS" in detail


@pytest.fixture
def fetching(db: Engine, settings: Settings) -> Iterator[TestClient]:
    with allowing(settings, "127.0.0.1/32") as test_client:
        yield test_client


def test_refetch_says_whether_the_page_changed(fetching: TestClient, site: Site) -> None:
    """A caller re-fetching a URL can tell a page that answered 304 (nothing changed) from
    one that was downloaded again, by X-Fetch-Status."""
    path = "/news/storm"
    url = site.page(path, article_html("Storm closes ports", PARAS, site.base + path))
    first = fetching.post("/v1/articles", json={"url": url})
    assert (first.status_code, first.headers["x-fetch-status"]) == (201, "fetched")
    again = fetching.post("/v1/articles", json={"url": url})
    assert (again.status_code, again.headers["x-fetch-status"]) == (200, "not-modified")
    assert again.json() == first.json()
    assert [etag is not None for p, etag in site.hits if p == path] == [False, True]
    site.page(path, article_html("Storm closes ports", [*PARAS, "Schools reopen."], url))
    changed = fetching.post("/v1/articles", json={"url": url})
    assert (changed.status_code, changed.headers["x-fetch-status"]) == (200, "fetched")
    assert changed.json()["revision"] == 2
    text = fetching.post("/v1/articles", json={"headline": "H", "body": "B."})
    assert "x-fetch-status" not in text.headers  # nothing was fetched


def test_a_replayed_fetch_keeps_its_fetch_status(fetching: TestClient, site: Site) -> None:
    """A retry with the same Idempotency-Key gets the first answer, X-Fetch-Status included."""
    url = site.page("/a", article_html("Storm closes ports", PARAS, site.base + "/a"))
    key = {"Idempotency-Key": "fetch-storm-1"}
    first = fetching.post("/v1/articles", json={"url": url}, headers=key)
    replay = fetching.post("/v1/articles", json={"url": url}, headers=key)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["x-fetch-status"] == first.headers["x-fetch-status"] == "fetched"


def test_openapi_documents_the_fetch_status_header(client: TestClient) -> None:
    responses = client.get("/openapi.json").json()["paths"]["/v1/articles"]["post"]["responses"]
    for status in ("200", "201"):
        header = responses[status]["headers"]["X-Fetch-Status"]
        assert header["schema"]["enum"] == ["fetched", "not-modified"]
    assert "X-Fetch-Status" in responses["200"]["description"]
