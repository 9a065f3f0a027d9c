"""A page must not rewrite another site's article (issue 12): a canonical URL, og:url or
redirect naming another site is no alias, and validators go back only to their own URL.

Two loopback "sites", 127.0.0.1 and 127.0.0.2 (Linux routes all of 127/8 to loopback): IP
hosts are one site each, so the second one plays a forger naming the first one's URLs.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.config import Settings
from app.ingest.aliases import same_site
from app.main import create_app
from tests.site_server import Site, article_html

REAL = [
    "The harbour authority closed the port on Tuesday after the storm, officials said.",
    "Ferries stayed in dock and fishing boats were pulled ashore overnight.",
]
FORGED = [
    "The harbour authority has been secretly sold to a rival port, insiders claim.",
    "Nobody at the port would confirm the sale, which was never announced.",
]
STORY = "/news/story"


@pytest.fixture
def forger() -> Iterator[Site]:
    with Site("127.0.0.2") as running:
        yield running


@pytest.fixture
def fetching(db: Engine, settings: Settings) -> Iterator[TestClient]:
    """The API with the fetcher allowed to reach both loopback sites."""
    allowed = settings.model_copy(
        update={"fetch_allowed_networks": "127.0.0.1/32,127.0.0.2/32", "fetch_total_timeout": 5.0}
    )
    with TestClient(create_app(allowed)) as test_client:
        yield test_client


def page(site: Site, path: str, paragraphs: list[str], canonical: str) -> str:
    return site.page(path, article_html("Port closed after storm", paragraphs, canonical))


def real_story(site: Site) -> str:
    return page(site, STORY, REAL, site.base + STORY)


def forged_story(forger: Site, victim: Site, path: str = "/evil") -> str:
    """A page on the forger's site whose rel=canonical names the victim's story."""
    return page(forger, path, FORGED, victim.base + STORY)


def fetch(client: TestClient, url: str) -> dict[str, Any]:
    response = client.post("/v1/articles", json={"url": url})
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def found_at(client: TestClient, url: str) -> list[dict[str, Any]]:
    response = client.get("/v1/articles", params={"url": url})
    return response.json()["items"]  # type: ignore[no-any-return]


def assert_answers(client: TestClient, url: str, paragraphs: list[str]) -> dict[str, Any]:
    """`url` finds exactly one article, whose text is `paragraphs` and never was another."""
    items = found_at(client, url)
    assert [a["body"] for a in items] == ["\n\n".join(paragraphs)], url
    assert items[0]["revision"] == 1
    return items[0]


def test_forged_canonical_after_the_real_page_leaves_it_alone(
    fetching: TestClient, site: Site, forger: Site
) -> None:
    real = fetch(fetching, real_story(site))
    forged = fetching.post("/v1/articles", json={"url": forged_story(forger, site)})
    assert forged.status_code == 201  # a new article, not a revision of the real one
    assert forged.json()["id"] != real["id"]
    assert forged.json()["canonical_url"] == site.base + STORY  # kept as what the page said
    assert assert_answers(fetching, site.base + STORY, REAL)["id"] == real["id"]
    assert assert_answers(fetching, forger.base + "/evil", FORGED)["id"] == forged.json()["id"]


def test_real_page_after_a_forged_canonical_is_its_own_article(
    fetching: TestClient, site: Site, forger: Site
) -> None:
    forged = fetch(fetching, forged_story(forger, site))
    real = fetching.post("/v1/articles", json={"url": real_story(site)})
    assert real.status_code == 201
    assert real.json()["id"] != forged["id"]
    assert_answers(fetching, site.base + STORY, REAL)
    assert_answers(fetching, forger.base + "/evil", FORGED)


def test_both_orders_in_one_import_batch(fetching: TestClient, site: Site, forger: Site) -> None:
    items = [{"url": forged_story(forger, site)}, {"url": real_story(site)}]
    results = fetching.post("/v1/imports", json={"items": items}).json()["results"]
    assert [r["status"] for r in results] == ["created", "created"]
    assert_answers(fetching, site.base + STORY, REAL)
    assert_answers(fetching, forger.base + "/evil", FORGED)


def test_forger_sending_the_real_pages_etag_does_not_stop_it_being_stored(
    fetching: TestClient, site: Site, forger: Site
) -> None:
    site.etags[STORY] = forger.etags["/evil"] = '"real-etag"'
    fetch(fetching, forged_story(forger, site))
    fetch(fetching, real_story(site))
    assert [etag for path, etag in site.hits if path == STORY] == [None]
    assert_answers(fetching, site.base + STORY, REAL)


def test_validators_go_only_to_the_url_that_sent_them(fetching: TestClient, site: Site) -> None:
    """One site, one deploy-wide ETag for every page: the print version's ETag sent with
    the story's request would get a 304, and the story's own text would never be stored."""
    site.etags[STORY] = site.etags["/print/story"] = '"deploy-7"'
    short = page(site, "/print/story", REAL[:1], site.base + STORY)  # same site: an alias
    first = fetch(fetching, short)
    story = page(site, STORY, REAL, site.base + STORY)
    again = fetch(fetching, story)
    assert again["id"] == first["id"]
    assert again["revision"] == 2
    assert again["body"] == "\n\n".join(REAL)
    unchanged = fetch(fetching, story)  # now it has the story's own validators: a 304
    assert unchanged["revision"] == 2
    assert [etag for path, etag in site.hits if path == STORY] == [None, '"deploy-7"']


@pytest.mark.parametrize("form", ["json", "content-location"])
def test_posted_html_naming_another_site_is_not_merged(
    fetching: TestClient, site: Site, form: str
) -> None:
    real = fetch(fetching, real_story(site))
    html = article_html("Port closed after storm", FORGED, site.base + STORY)
    where = "https://forger.example/evil"  # the client's word: no fetch goes there
    if form == "json":
        posted = fetching.post("/v1/articles", json={"html": html, "url": where})
    else:
        headers = {"content-type": "text/html; charset=utf-8", "content-location": where}
        posted = fetching.post("/v1/articles", content=html.encode(), headers=headers)
    assert posted.status_code == 201
    assert posted.json()["id"] != real["id"]
    assert_answers(fetching, site.base + STORY, REAL)
    assert_answers(fetching, where, FORGED)


def test_off_site_redirect_source_is_not_an_alias(
    fetching: TestClient, site: Site, forger: Site
) -> None:
    """A redirect from another site fetches the real page, but that other site could serve
    its own text at the same URL later: it must not become a way to revise the real one."""
    real = fetch(fetching, real_story(site))
    forger.redirects["/short"] = site.base + STORY
    via = fetch(fetching, forger.base + "/short")
    assert via["id"] == real["id"]  # the real page, reached through the redirect
    del forger.redirects["/short"]
    page(forger, "/short", FORGED, forger.base + "/short")
    changed = fetching.post("/v1/articles", json={"url": forger.base + "/short"})
    assert changed.status_code == 201
    assert_answers(fetching, site.base + STORY, REAL)
    assert_answers(fetching, forger.base + "/short", FORGED)


def test_copy_of_the_text_on_another_site_then_edited(
    fetching: TestClient, site: Site, forger: Site
) -> None:
    """Same text elsewhere is a duplicate, but the copy's URL is no key to the real article."""
    real = fetch(fetching, real_story(site))
    copy = page(forger, "/copy", REAL, forger.base + "/copy")
    assert fetch(fetching, copy)["id"] == real["id"]
    fetch(fetching, site.base + STORY)  # the real page's own validators are still kept
    assert [etag is None for path, etag in site.hits if path == STORY] == [True, False]
    page(forger, "/copy", FORGED, forger.base + "/copy")
    edited = fetching.post("/v1/articles", json={"url": copy})
    assert edited.status_code == 201
    assert_answers(fetching, site.base + STORY, REAL)
    assert_answers(fetching, copy, FORGED)


def test_same_site_canonical_still_merges(fetching: TestClient, site: Site) -> None:
    """Regression guard: a canonical on the page's own site is an alias, as before."""
    first = fetch(fetching, real_story(site))
    amp = page(site, "/print/story", [*REAL, "The port reopened on Friday."], site.base + STORY)
    again = fetch(fetching, amp)
    assert again["id"] == first["id"]
    assert again["revision"] == 2
    assert [a["id"] for a in found_at(fetching, amp)] == [first["id"]]


@pytest.mark.parametrize(
    ("url", "other", "same"),
    [
        ("https://news.bbc.co.uk/a", "https://www.bbc.co.uk/b", True),
        ("https://m.example.com/a", "http://example.com/b", True),
        ("https://alice.blogspot.com/a", "https://bob.blogspot.com/a", False),
        ("https://example.co.uk/a", "https://example.com/a", False),
        ("http://127.0.0.1:8000/a", "http://127.0.0.1:9000/b", True),
        ("http://127.0.0.1/a", "http://127.0.0.2/a", False),
        ("http://localhost/a", "http://app.localhost/a", False),
        ("http://[::1]/a", "http://127.0.0.1/a", False),
        ("https://example.com/a", "mailto:someone@example.com", False),
    ],
)
def test_same_site_is_the_registrable_domain(url: str, other: str, same: bool) -> None:
    assert same_site(url, other) is same
    assert same_site(other, url) is same


def test_reimported_export_keeps_the_page_rule(fetching: TestClient, site: Site) -> None:
    """An export carries the canonical's provenance ("html": the page said it), so importing
    it does not turn the page's claim into the client's word."""
    real = fetch(fetching, real_story(site))
    item = {
        "headline": "Port closed after storm",
        "body": "\n\n".join(FORGED),
        "url": "https://forger.example/evil",
        "canonical_url": site.base + STORY,
        "extraction": {"extractor": "news-archive-html/1", "fields": {"canonical_url": "html"}},
    }
    result = fetching.post("/v1/imports", json={"items": [item]}).json()["results"][0]
    assert result["status"] == "created"
    assert result["id"] != real["id"]
    assert_answers(fetching, site.base + STORY, REAL)
