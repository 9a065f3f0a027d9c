"""HTML and URL ingestion through the API: extraction, provenance, revisions, URL aliases,
re-extraction, and safe fetching against a real web server on 127.0.0.1."""

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from app.config import Settings
from app.main import create_app
from app.models import Article, ArticleRevision, PageSnapshot
from tests.site_server import Site, article_html

DATA = Path(__file__).parent / "data" / "html"
PARAS = [
    "The storm closed every port along the coast on Tuesday, officials said.",
    "Ferries stayed in harbour and fishing boats were pulled ashore overnight.",
    "Forecasters expect the wind to ease by the weekend, the agency added.",
]


@pytest.fixture
def fetching(db: Engine, settings: Settings) -> Iterator[TestClient]:
    """The API with the fetcher allowed to reach 127.0.0.1 (where the test site runs)."""
    allowed = settings.model_copy(
        update={"fetch_allowed_networks": "127.0.0.1/32", "fetch_total_timeout": 60.0}
    )
    with TestClient(create_app(allowed)) as test_client:
        yield test_client


def rows(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def storm_page(site: Site, paragraphs: list[str] = PARAS, path: str = "/news/storm") -> str:
    return site.page(path, article_html("Storm closes ports", paragraphs, site.base + path))


def test_html_in_json_becomes_a_complete_article(client: TestClient) -> None:
    html = article_html("Storm closes ports", PARAS, "https://example.com/news/storm")
    response = client.post("/v1/articles", json={"html": html, "url": "https://example.com/s"})
    assert response.status_code == 201
    article = response.json()
    assert article["headline"] == "Storm closes ports"
    assert article["body"] == "\n\n".join(PARAS)
    assert article["authors"] == ["Jane Doe"]
    assert article["source"] == "Example News"
    assert article["published_at"] == "2026-11-20T06:30:00Z"
    assert article["language"] == "en"
    assert article["url"] == "https://example.com/s"
    assert article["canonical_url"] == "https://example.com/news/storm"
    assert article["related_links"] == [
        {
            "title": "Earlier storm hit the coast",
            "url": "https://example.com/news/2026/11/19/earlier-storm-story",
        }
    ]
    fields = article["extraction"]["fields"]
    assert fields["headline"] in {"meta", "html"}
    assert fields["published_at"] == "meta"
    assert fields["url"] == "caller"
    assert "trafilatura" in article["extraction"]["extractor"]


def test_raw_html_body_with_content_location(client: TestClient) -> None:
    page = gzip.decompress(next(DATA.glob("*.html.gz")).read_bytes())
    response = client.post(
        "/v1/articles",
        content=page,
        headers={"content-type": "text/html; charset=utf-8", "content-location": "https://x.org/a"},
    )
    assert response.status_code == 201
    assert response.json()["url"] == "https://x.org/a"
    assert len(response.json()["body"]) > 500


def test_text_and_fields_carry_provenance(client: TestClient) -> None:
    text = client.post("/v1/articles", json={"text": "H\n\nBody.\n\nSource: AP"}).json()
    assert text["extraction"]["fields"]["source"] == "seed-line"
    fields = client.post("/v1/articles", json={"headline": "H2", "body": "B.", "source": "AP"})
    assert fields.json()["extraction"]["fields"]["source"] == "caller"


def test_page_without_article_is_422_and_stores_nothing(client: TestClient, db: Engine) -> None:
    response = client.post("/v1/articles", json={"html": "<html><body><nav>Home</nav></body>"})
    assert response.status_code == 422
    assert rows(db, Article) == 0


def test_url_is_fetched_extracted_and_its_bytes_kept(
    fetching: TestClient, site: Site, db: Engine
) -> None:
    url = storm_page(site)
    response = fetching.post("/v1/articles", json={"url": url})
    assert response.status_code == 201, response.text
    article = response.json()
    assert article["body"] == "\n\n".join(PARAS)
    assert article["url"] == url
    assert rows(db, PageSnapshot) == 1


def test_unchanged_page_is_not_downloaded_again(fetching: TestClient, site: Site) -> None:
    url = storm_page(site)
    first = fetching.post("/v1/articles", json={"url": url}).json()
    again = fetching.post("/v1/articles", json={"url": url})
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["revision"] == 1
    conditional = [etag for path, etag in site.hits if path == "/news/storm"]
    assert conditional[0] is None
    assert conditional[1] is not None  # If-None-Match sent, answered 304


def test_changed_page_becomes_a_new_revision(fetching: TestClient, site: Site, db: Engine) -> None:
    url = storm_page(site)
    first = fetching.post("/v1/articles", json={"url": url}).json()
    edited = [PARAS[0], "Ferries stayed in harbour, officials said on Wednesday.", *PARAS[2:]]
    storm_page(site, [*edited, "Schools will reopen on Monday."])
    again = fetching.post("/v1/articles", json={"url": url})
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["revision"] == 2
    assert "Schools will reopen" in again.json()["body"]
    listing = fetching.get(f"/v1/articles/{first['id']}/revisions").json()["items"]
    assert [r["number"] for r in listing] == [1, 2]
    assert listing[1]["paragraphs_added"] == 1
    assert listing[1]["paragraphs_changed"] == 1
    assert listing[1]["paragraphs_removed"] == 0
    assert listing[1]["headline_changed"] is False
    old = fetching.get(f"/v1/articles/{first['id']}/revisions/1").json()
    assert old["body"] == first["body"]
    diff = fetching.get(f"/v1/articles/{first['id']}/revisions/2/diff").json()
    assert [c["op"] for c in diff["paragraphs"]] == ["equal", "changed", "equal", "added"]
    assert diff["paragraphs"][1]["old"] == [PARAS[1]]
    assert rows(db, Article) == 1


def test_same_content_again_creates_no_revision(
    fetching: TestClient, site: Site, db: Engine
) -> None:
    url = storm_page(site)
    fetching.post("/v1/articles", json={"url": url})
    site.pages["/news/storm"] = ("text/html", site.pages["/news/storm"][1] + b"<!-- x -->")
    again = fetching.post("/v1/articles", json={"url": url})
    assert again.json()["revision"] == 1
    assert rows(db, ArticleRevision) == 0


def test_url_variants_resolve_to_one_article(fetching: TestClient, site: Site, db: Engine) -> None:
    url = storm_page(site)
    site.redirects["/short/storm"] = url
    first = fetching.post("/v1/articles", json={"url": site.base + "/short/storm"}).json()
    variant = fetching.post("/v1/articles", json={"url": url + "?utm_source=feed#comments"})
    assert variant.json()["id"] == first["id"]
    assert rows(db, Article) == 1
    for probe in (
        url,
        site.base + "/short/storm",
        url + "/?utm_medium=x",
        url.replace("http:", "https:"),
    ):
        found = fetching.get("/v1/articles", params={"url": probe}).json()["items"]
        assert [a["id"] for a in found] == [first["id"]], probe
    assert fetching.get("/v1/articles", params={"url": site.base + "/other"}).json()["items"] == []


def test_reextract_runs_again_on_kept_bytes(fetching: TestClient, site: Site, db: Engine) -> None:
    url = storm_page(site)
    article = fetching.post("/v1/articles", json={"url": url}).json()
    hits = len(site.hits)
    same = fetching.post(f"/v1/articles/{article['id']}/reextract").json()
    assert same["changed"] is False
    with db.begin() as conn:  # as if an older extractor had produced worse text
        conn.execute(update(Article).values(body="Stale text.", content_hash="0" * 64))
    redone = fetching.post(f"/v1/articles/{article['id']}/reextract").json()
    assert redone["changed"] is True
    assert redone["article"]["body"] == article["body"]
    assert redone["article"]["revision"] == 2
    assert len(site.hits) == hits  # nothing fetched


def test_reextract_of_text_article_is_409(client: TestClient) -> None:
    article = client.post("/v1/articles", json={"text": "H\n\nBody."}).json()
    response = client.post(f"/v1/articles/{article['id']}/reextract")
    assert response.status_code == 409
    assert client.post("/v1/articles/999999/reextract").status_code == 404


def test_revisions_of_unchanged_and_missing(client: TestClient) -> None:
    article = client.post("/v1/articles", json={"text": "H\n\nBody."}).json()
    listing = client.get(f"/v1/articles/{article['id']}/revisions").json()["items"]
    assert [r["number"] for r in listing] == [1]
    diff = client.get(f"/v1/articles/{article['id']}/revisions/1/diff").json()
    assert diff["previous"] is None
    assert diff["paragraphs"] == [{"op": "added", "old": [], "new": ["Body."]}]
    assert client.get(f"/v1/articles/{article['id']}/revisions/2").status_code == 404
    assert client.get("/v1/articles/999999/revisions").status_code == 404
    assert client.get(f"/v1/articles/{article['id']}/revisions/0").status_code == 422


def test_default_settings_refuse_loopback_before_any_request(
    client: TestClient, site: Site, db: Engine
) -> None:
    url = storm_page(site)
    response = client.post("/v1/articles", json={"url": url})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert site.hits == []
    assert rows(db, Article) == 0


@pytest.mark.parametrize(
    ("setup", "status"),
    [
        (lambda s: None, 502),  # 404 upstream
        (lambda s: s.page("/missing", '{"a": 1}', "application/json"), 422),
    ],
)
def test_upstream_failures_are_problems_and_store_nothing(
    fetching: TestClient, site: Site, db: Engine, setup: object, status: int
) -> None:
    setup(site)  # type: ignore[operator]
    response = fetching.post("/v1/articles", json={"url": site.base + "/missing"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert rows(db, Article) == 0


def test_batch_mixes_text_html_and_urls(fetching: TestClient, site: Site) -> None:
    urls = [
        site.page(
            f"/n/{i}",
            article_html(
                f"Story {i}", [f"Paragraph {i} of the story, said."] * 2, site.base + f"/n/{i}"
            ),
        )
        for i in range(6)
    ]
    items = [
        {"text": "Text story\n\nIts body."},
        {"html": article_html("Html story", PARAS, "https://e.com/h")},
        *({"url": u} for u in urls),
        {"url": site.base + "/gone"},
        {"url": urls[0] + "?utm_campaign=x"},
    ]
    body = fetching.post("/v1/imports", json={"items": items}).json()
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["created"] * 8 + ["error", "duplicate"]
    assert "404" in body["results"][8]["error"]
    assert body["results"][9]["id"] == body["results"][2]["id"]
