"""Hostile input through HTTP, on every route: each answer is a 4xx problem+json whose detail
names the problem, never a 500 and never a hang, and nothing stored changes."""

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.config import Settings
from app.main import create_app
from tests.conftest import empty_tables, ndjson_import, seed_text
from tests.site_server import Site, article_html

PROBLEM = "application/problem+json"
JSON = {"content-type": "application/json"}
NDJSON = {"content-type": "application/x-ndjson"}
TEXT = {"content-type": "text/plain"}
MAX_BODY = 2 * 1024 * 1024  # Settings.max_body_bytes
# A bound on a hang, not a speed target: parsing a 1 MB page takes a second or two (several
# times that on a loaded machine), while the quadratic blow-ups this guards against take
# many minutes.
SECONDS = 60

# Every route, with a valid id (filled in by the `stored` fixture) where it takes one.
ROUTES = [
    ("GET", "/v1/articles"),
    ("POST", "/v1/articles"),
    ("GET", "/v1/articles/{id}"),
    ("DELETE", "/v1/articles/{id}"),
    ("GET", "/v1/articles/{id}/revisions"),
    ("GET", "/v1/articles/{id}/revisions/1"),
    ("GET", "/v1/articles/{id}/revisions/1/diff"),
    ("POST", "/v1/articles/{id}/reextract"),
    ("GET", "/v1/articles/{id}/duplicates"),
    ("POST", "/v1/imports"),
    ("GET", "/v1/export"),
    ("GET", "/v1/sources"),
    ("GET", "/v1/changes"),
]
ID_ROUTES = [(method, path) for method, path in ROUTES if "{id}" in path]
BAD_IDS = [
    "99999999999999999999",
    "2147483648",  # one past Postgres integer
    "9223372036854775808",  # one past SQLite integer
    "-1",
    "0",
    "1e3",
    "1.5",
    "0x10",
    "%00",
    "%EF%BC%91",  # a full-width digit one
    "1%20OR%201=1",
]


def cursor(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def snapshot(api: TestClient) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Everything stored, as the API shows it: the articles and the change feed."""
    articles = api.get("/v1/articles", params={"limit": 200})
    changes = api.get("/v1/changes", params={"limit": 1000})
    assert articles.status_code == changes.status_code == 200
    return articles.json()["items"], changes.json()["items"]


@pytest.fixture(scope="module")
def archive(engine: Engine, settings: Settings) -> Iterator[tuple[TestClient, int]]:
    """One app with one stored article for the whole module: its tests only send requests
    that must be refused, so they can share it (and `stored` checks that they changed
    nothing). No rate limit: the module sends over a thousand requests from one address."""
    empty_tables(engine)
    app = create_app(settings.model_copy(update={"rate_limit_per_minute": 0}))
    with TestClient(app) as api:
        created = api.post("/v1/articles", content=seed_text(), headers=TEXT)
        assert created.status_code == 201
        yield api, created.json()["id"]
    empty_tables(engine)


@pytest.fixture
def api(archive: tuple[TestClient, int]) -> TestClient:
    return archive[0]


@pytest.fixture
def stored(archive: tuple[TestClient, int]) -> Iterator[int]:
    """The stored article's id; the test must leave the archive exactly as it found it."""
    api, article_id = archive
    before = snapshot(api)
    yield article_id
    assert snapshot(api) == before, "a refused request changed what is stored"


def send(api: TestClient, method: str, url: str, **kwargs: Any) -> Any:
    start = time.perf_counter()
    response = api.request(method, url, **kwargs)
    assert time.perf_counter() - start < SECONDS, f"{method} {url[:80]} took too long"
    return response


def assert_problem(response: Any, status: int, *words: str) -> dict[str, Any]:
    """A problem document with this status whose detail names the problem (all `words`)."""
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("/problems/")
    detail = problem["detail"].lower()
    for word in words:
        assert word.lower() in detail, f"{word!r} not in {problem['detail']!r}"
    return problem


# --- query strings: one guard for every parameter of every route ---------------------------


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("x=%00", 400, ["nul"]),
        ("source=a%00b", 400, ["nul"]),
        ("q=%ED%A0%80", 400, ["utf-8"]),  # an encoded lone surrogate
        ("source=%FF", 400, ["utf-8"]),
        ("x=" + "a" * 40_000, 414, ["query string", "limit"]),
    ],
    ids=["nul", "nul-in-value", "surrogate", "latin-1", "very-long"],
)
def test_bad_query_strings_are_refused_on_every_route(
    api: TestClient,
    stored: int,
    method: str,
    path: str,
    query: str,
    status: int,
    words: list[str],
) -> None:
    url = path.format(id=stored) + "?" + query
    assert_problem(send(api, method, url, content=b"{}", headers=JSON), status, *words)


# --- path ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ID_ROUTES)
@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_absurd_article_ids_are_422(
    api: TestClient, stored: int, method: str, path: str, bad_id: str
) -> None:
    problem = assert_problem(send(api, method, path.format(id=bad_id)), 422)
    assert "article_id" in problem["detail"]


@pytest.mark.parametrize("path", ["/revisions/{n}", "/revisions/{n}/diff"])
@pytest.mark.parametrize("number", ["0", "-1", "1000001", "99999999999999999999", "1e3", "x"])
def test_absurd_revision_numbers_are_422(
    api: TestClient, stored: int, path: str, number: str
) -> None:
    url = f"/v1/articles/{stored}" + path.format(n=number)
    assert "number" in assert_problem(send(api, "GET", url), 422)["detail"]


def test_unknown_routes_and_methods_are_problems(api: TestClient, stored: int) -> None:
    assert_problem(send(api, "GET", "/v1/nothing-here"), 404, "not found")
    assert_problem(send(api, "PUT", f"/v1/articles/{stored}"), 405, "method not allowed")
    assert_problem(send(api, "PATCH", "/v1/imports"), 405, "method not allowed")


# --- query parameters ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/articles", "/v1/changes"])  # export has no limit
@pytest.mark.parametrize("limit", ["1000000000", "-5", "0", "1e3", "99999999999999999999", "x"])
def test_absurd_limits_are_422(api: TestClient, stored: int, path: str, limit: str) -> None:
    problem = assert_problem(send(api, "GET", f"{path}?limit={limit}"), 422)
    assert "limit" in problem["detail"]


@pytest.mark.parametrize(
    ("path", "name", "position"),
    [
        ("/v1/articles", "cursor", {"before": 10**30}),
        ("/v1/articles", "cursor", {"before": 2**31}),  # past Postgres integer
        ("/v1/articles", "cursor", {"before": -1}),
        ("/v1/articles", "cursor", {"before": 1.5}),
        ("/v1/articles", "cursor", {"before": "1; DROP TABLE article"}),
        ("/v1/articles", "cursor", {"before": 1, "extra": 2}),
        ("/v1/articles", "cursor", [1]),
        ("/v1/articles?q=storm&", "cursor", {"score": float("nan"), "id": 1, "search": "x"}),
        ("/v1/articles?q=storm&", "cursor", {"score": 1.0, "id": 1, "search": "other"}),
        ("/v1/changes", "since", {"after": 10**30}),
        ("/v1/changes", "since", {"after": -1}),
        ("/v1/changes", "since", {"after": True}),
    ],
)
def test_tampered_cursors_are_400(
    api: TestClient, stored: int, path: str, name: str, position: Any
) -> None:
    separator = "" if path.endswith("&") else "?"
    response = send(api, "GET", f"{path}{separator}{name}={cursor(position)}")
    assert_problem(response, 400, "cursor")


@pytest.mark.parametrize("value", ["bogus", "!!!!", "eyJ", "A" * 512])
@pytest.mark.parametrize(("path", "name"), [("/v1/articles", "cursor"), ("/v1/changes", "since")])
def test_garbage_cursors_are_400(
    api: TestClient, stored: int, path: str, name: str, value: str
) -> None:
    assert_problem(send(api, "GET", path, params={name: value}), 400, "cursor")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (path, params)
        for path in ["/v1/articles", "/v1/export"]
        for params in [
            {"source": "x' OR '1'='1"},
            {"source": "Reuters'; DROP TABLE article; --"},
            {"domain": "example.com' UNION SELECT headline FROM article --"},
        ]
    ]
    + [
        ("/v1/articles", {"q": "storm' OR 1=1 --"}),
        ("/v1/articles", {"q": 'NEAR(storm ports) OR "x" AND body:*'}),
        ("/v1/articles", {"url": "https://example.com/' OR 1=1 --"}),
    ],
)
def test_sql_in_filters_is_only_text(
    api: TestClient, stored: int, path: str, params: dict[str, str]
) -> None:
    """Parameters are bound, never spliced: SQL in a filter matches nothing and breaks nothing."""
    response = send(api, "GET", path, params=params)
    assert response.status_code == 200
    if path == "/v1/export":
        assert response.text == ""
    else:
        assert response.json()["items"] == []


@pytest.mark.parametrize("path", ["/v1/articles", "/v1/export"])
@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"published_after": "0001-01-01T00:00:00+05:00"}, ["published_after", "out of range"]),
        ({"published_before": "9999-12-31T23:59:59-05:00"}, ["published_before", "out of range"]),
        ({"published_after": "yesterday"}, ["published_after"]),
        ({"published_after": "99999-01-01"}, ["published_after"]),
        ({"language": "<script>"}, ["language"]),
        ({"collapse_duplicates": "maybe"}, ["collapse_duplicates"]),
        ({"source": "s" * 301}, ["source", "300"]),
        ({"domain": "d" * 256}, ["domain", "255"]),
    ],
)
def test_bad_filters_are_422(
    api: TestClient, stored: int, path: str, params: dict[str, str], words: list[str]
) -> None:
    assert_problem(send(api, "GET", path, params=params), 422, *words)


@pytest.mark.parametrize("value", ["xml", "JSONL", "", "csv;", "%00"])
def test_bad_export_formats_are_4xx(api: TestClient, stored: int, value: str) -> None:
    status = 400 if value == "%00" else 422
    assert_problem(send(api, "GET", f"/v1/export?format={value}"), status)


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"q": "x" * 501}, 422, ["q", "500"]),
        ({"q": '"unbalanced'}, 400, ["quote"]),
        ({"q": "-only -negated"}, 400, ["word"]),
        ({"q": " ".join(["word"] * 40)}, 400, ["terms"]),
        ({"url": "https://example.com/" + "a" * 2048}, 422, ["url", "2048"]),
        ({"cursor": "c" * 513}, 422, ["cursor", "512"]),
    ],
)
def test_bad_search_and_lookup_parameters(
    api: TestClient, stored: int, params: dict[str, str], status: int, words: list[str]
) -> None:
    assert_problem(send(api, "GET", "/v1/articles", params=params), status, *words)


# --- request bodies: POST /v1/articles -----------------------------------------------------


def deep_json(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


@pytest.mark.parametrize(
    ("content", "headers", "status", "words"),
    [
        (b"x" * (MAX_BODY + 1), TEXT, 413, ["limit"]),
        (b"[" * 2_000_000, JSON, 400, ["nested too deeply"]),
        (deep_json(65), JSON, 400, ["nested too deeply", "64"]),
        (b'{"headline": "\xff\xfe", "body": "b"}', JSON, 400, ["utf-8"]),
        (b"Headline \xff\n\nBody.", TEXT, 400, ["utf-8"]),
        (b"<p>\xc3\x28</p>", {"content-type": "text/html"}, 400, ["utf-8"]),
        (b"Headline\n\nBody.", {"content-type": "text/plain; charset=klingon"}, 415, ["charset"]),
        (b"<a/>", {"content-type": "application/xml"}, 415, ["content-type"]),
        (b"a=b", {"content-type": "application/x-www-form-urlencoded"}, 415, ["content-type"]),
        (b"--x--", {"content-type": "multipart/form-data; boundary=x"}, 415, ["content-type"]),
        (b"a,b", {"content-type": "text/csv"}, 415, ["content-type"]),
        (b"{}", {}, 415, ["content-type"]),
        (b'{"headline": "H", "body": "B.", "evil": 1}', JSON, 422, ["evil", "extra"]),
        (b'{"headline": "H", "body": "B.", "extraction": {"x": 1}}', JSON, 422, ["extraction"]),
        (b"[1, 2]", JSON, 422, ["dictionary"]),
        (b"null", JSON, 422, ["dictionary"]),
        (b'{"headline": ', JSON, 400, ["not valid json"]),
        (b"", JSON, 400, ["not valid json"]),
        (b'{"headline": "H", "body": "B.", "id": ' + b"9" * 5000 + b"}", JSON, 400, ["digits"]),
        (b'{"headline": "H\\u0000", "body": "B."}', JSON, 400, ["nul"]),
        (b'{"headline": "H", "body": "B.", "tags": ["\\u0000"]}', JSON, 400, ["nul"]),
        (b'{"headline": "H\\ud800", "body": "B."}', JSON, 400, ["surrogate"]),
        (b'{"headline": "H", "body": "B\xed\xa0\x80."}', JSON, 400, ["surrogate"]),
        (
            b'{"headline": "H", "body": "B.", "extraction": {"extractor": "\\udfff"}}',
            JSON,
            400,
            ["surrogate"],
        ),
        (b'{"headline": "H", "body": "B.", "id": 1e400}', JSON, 422, ["id", "finite"]),
        (b'{"headline": "H", "body": "B.", "id": NaN}', JSON, 422, ["id", "finite"]),
        (
            b'{"headline": "H", "body": "B.", "published_at": "0001-01-01T00:00:00+05:00"}',
            JSON,
            422,
            ["published_at", "out of range"],
        ),
        (b'{"headline": "' + b"h" * 1001 + b'", "body": "B."}', JSON, 422, ["headline", "1000"]),
        (b'{"headline": "H"}', JSON, 422, ["headline and body"]),
        (b'{"related_links": [{}], "headline": "H", "body": "B."}', JSON, 422, ["title or"]),
        (b"\n\n  \n", TEXT, 422, ["empty"]),
        (b"Only a headline", TEXT, 422, ["no body"]),
        (b"one 1 MB line " * 70_000, TEXT, 422, ["no body"]),
        (b"Headline" + b"\n" * 990_000, TEXT, 422, ["no body"]),
        (b"Headline\n\n" + b"Source: Reuters\n" * 60_000, TEXT, 422, ["no body"]),
        (b"x" * 1_000_001, TEXT, 422, ["text", "at most 1000000"]),
        (b'{"url": "http://127.0.0.1:9/x"}', JSON, 400, ["not a public address"]),
        (b'{"url": "http://localhost/x"}', JSON, 400, ["public address"]),
        (b'{"url": "file:///etc/passwd"}', JSON, 400, ["http"]),
        (b'{"url": "javascript:alert(1)"}', JSON, 400, ["http"]),
    ],
)
def test_bad_article_bodies_are_refused(
    api: TestClient,
    stored: int,
    content: bytes,
    headers: dict[str, str],
    status: int,
    words: list[str],
) -> None:
    response = send(api, "POST", "/v1/articles", content=content, headers=headers)
    assert_problem(response, status, *words)


def test_oversized_body_is_refused_by_its_declared_length(api: TestClient, stored: int) -> None:
    headers = {**TEXT, "content-length": str(10**12)}
    response = send(api, "POST", "/v1/articles", content=b"x", headers=headers)
    assert_problem(response, 413, "limit")


def test_oversized_chunked_body_is_refused_while_streaming(api: TestClient, stored: int) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(3 * 1024):
            yield b"x" * 1024

    response = send(api, "POST", "/v1/articles", content=chunks(), headers=TEXT)
    assert_problem(response, 413, "limit")


def test_nul_in_plain_text_is_removed_by_normalization(api: TestClient) -> None:
    """Seed text is cleaned (C0 controls removed, as the README says), so NUL never reaches
    the database: Postgres would refuse it."""
    created = api.post("/v1/articles", content=b"Head\x00line\n\nBo\x00dy here.", headers=TEXT)
    assert created.status_code == 201
    assert (created.json()["headline"], created.json()["body"]) == ("Headline", "Body here.")


@pytest.mark.parametrize(
    "page",
    [
        # libxml2 compares every attribute of a tag with the tag's others: this took minutes
        "<div " + " ".join(f"a{i}=x" for i in range(180_000)) + ">x</div>",
        "<div/" + "/".join(f"a{i}" for i in range(200_000)) + ">x",
        "<div>" * 200_000 + "x",
        "<!--" * 100_000,
        "<a" * 500_000,
        "<p>x</p>" + "\n" * 1_000_000,
    ],
    ids=["200k-attributes", "200k-slash-attributes", "200k-nested", "comments", "lt", "newlines"],
)
def test_hostile_html_is_refused_quickly(api: TestClient, stored: int, page: str) -> None:
    headers = {"content-type": "text/html"}
    response = send(api, "POST", "/v1/articles", content=page, headers=headers)
    assert_problem(response, 422, "no article body")


# --- request bodies: POST /v1/imports ------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "headers", "status", "words"),
    [
        (b"[" * 2_000_000, JSON, 400, ["nested too deeply"]),
        (b'{"items": [' + deep_json(70) + b"]}", JSON, 400, ["nested too deeply"]),
        (b'{"items": ["\xff"]}', JSON, 400, ["utf-8"]),
        (b'{"items": [{"headline": "\\u0000", "body": "b"}]}', JSON, 400, ["nul"]),
        (b'{"items": [{"headline": "\\udbff", "body": "b"}]}', JSON, 400, ["surrogate"]),
        (b'{"items": [{"id": ' + b"1" * 5000 + b"}]}", JSON, 400, ["digits"]),
        (b'{"items": [], "extra": 1}', JSON, 422, ["unknown field", "extra"]),
        (b"[]", JSON, 422, ["items"]),
        (b'{"items": {}}', JSON, 422, ["items"]),
        (b'{"items": [', JSON, 400, ["not valid json"]),
        (json.dumps({"items": [{}] * 1001}).encode(), JSON, 422, ["1001", "at most 1000"]),
        (b"<items/>", {"content-type": "application/xml"}, 415, ["application/json"]),
        (b"{}", {}, 415, ["application/json"]),
        (b"x" * (MAX_BODY + 1), NDJSON, 413, ["ndjson line", "limit"]),
        (b"\n\n   \n" * 1000, NDJSON, 400, ["no items"]),
        (b'{"headline": "H", "body": "B."}\n' + b"x" * (MAX_BODY + 1), NDJSON, 413, ["ndjson"]),
    ],
)
def test_bad_imports_are_refused(
    api: TestClient,
    stored: int,
    content: bytes,
    headers: dict[str, str],
    status: int,
    words: list[str],
) -> None:
    response = send(api, "POST", "/v1/imports", content=content, headers=headers)
    assert_problem(response, status, *words)


def test_oversized_json_import_is_refused_by_its_declared_length(
    api: TestClient, stored: int
) -> None:
    headers = {**JSON, "content-length": str(10**12)}
    response = send(api, "POST", "/v1/imports", content=b"{}", headers=headers)
    assert_problem(response, 413, "limit")


def test_bad_ndjson_lines_are_item_errors_that_store_nothing(api: TestClient, stored: int) -> None:
    """NDJSON reports each line on its own (one bad line never sinks the others), so hostile
    lines are item errors that name the problem, and none of them stores anything."""
    lines = [
        (b"[" * 100_000, "nested too deeply"),
        (b'{"headline": "H\\u0000", "body": "B"}', "nul"),
        (b'{"headline": "H", "body": "B", "tags": ["\\ud800"]}', "surrogate"),
        (b'{"headline": "\xff"}', "utf-8"),
        (b'{"headline": ', "not valid json"),
        (b'{"id": ' + b"7" * 5000 + b"}", "digits"),
        (b'{"headline": "H", "body": "B", "evil": true}', "evil"),
        (b'{"headline": "H", "body": "B", "published_at": "0001-01-01T00:00+01:00"}', "range"),
        (b'{"url": "http://10.0.0.1/x"}', "not a public address"),
        (b"[1, 2, 3]", "json object"),
        (b"null", "json object"),
    ]
    body = b"\n".join(line for line, _ in lines) + b"\n"
    response = send(api, "POST", "/v1/imports", content=body, headers=NDJSON)
    results = ndjson_import(response)["results"]
    assert [r["status"] for r in results] == ["error"] * len(lines)
    for result, (_, words) in zip(results, lines, strict=True):
        assert words in result["error"].lower(), result


# --- input that parsers turn into values too long for their columns --------------------------
# Postgres refuses a value longer than its varchar column (SQLite stores it), and the response
# model refuses a related-link title over 1,000 characters: each of these was a 500.

STORY = "<p>The storm closed every port on the coast, officials said on {day}.</p>"


def html_page(head: str, day: str) -> str:
    return (
        f"<html><head>{head}</head><body><article>{STORY.format(day=day)}</article></body></html>"
    )


@pytest.mark.parametrize(
    ("content", "headers", "check"),
    [
        (
            "Headline\n\nBody text.\n\nAlso read: " + "t" * 5000 + " https://example.com/a",
            TEXT,
            lambda a: len(a["related_links"][0]["title"]) == 1000,
        ),
        (
            html_page(
                # a CMS placeholder; in UTC, past the last day a datetime can hold
                '<meta property="article:published_time" content="9999-12-31T23:59-14:00">',
                "Monday",
            ),
            {"content-type": "text/html"},
            lambda a: a["published_at"] is None,
        ),
        (
            html_page(
                '<script type="application/ld+json">{"@type": "NewsArticle", '
                f'"publisher": {{"name": "{"p" * 5000}"}}}}</script>',
                "Tuesday",
            ),
            {"content-type": "text/html"},
            lambda a: a["source"] is None or len(a["source"]) <= 300,
        ),
        (
            html_page(f'<link rel="canonical" href="{"c" * 2000}">', "Wednesday"),
            {
                "content-type": "text/html",
                "content-location": "https://example.com/" + "u" * 2000 + "/",
            },
            lambda a: a["canonical_url"] is None,
        ),
        (
            json.dumps({"headline": "H", "body": "Host.", "url": f"https://{'h' * 300}.com/a"}),
            JSON,
            lambda a: a["url"].startswith("https://hhh"),
        ),
        (
            json.dumps({"headline": "H", "body": "Path.", "url": "https://ex.com/" + "é" * 2000}),
            JSON,
            lambda a: a["url"].endswith("é"),
        ),
    ],
    ids=["seed-link-title", "html-date", "html-source", "html-canonical", "url-host", "url-key"],
)
def test_values_too_long_to_store_are_clipped_or_dropped(
    api: TestClient, content: str, headers: dict[str, str], check: Callable[[Any], bool]
) -> None:
    created = send(api, "POST", "/v1/articles", content=content, headers=headers)
    assert created.status_code == 201, created.text[:300]
    assert check(created.json())
    assert api.get(created.headers["location"]).status_code == 200
    assert api.get("/v1/articles", params={"limit": 200}).status_code == 200


def test_upstream_values_too_long_for_their_columns_are_not_kept(
    archive: tuple[TestClient, int], settings: Settings
) -> None:
    allowed = {"fetch_allowed_networks": "127.0.0.1/32", "rate_limit_per_minute": 0}
    with Site() as site, TestClient(create_app(settings.model_copy(update=allowed))) as fetching:
        page = article_html("Storm", [STORY.format(day="Friday")[3:-4]], site.base + "/s")
        url = site.page("/s", page, content_type="text/html; charset=" + "x" * 100)
        assert send(fetching, "POST", "/v1/articles", json={"url": url}).status_code == 201
