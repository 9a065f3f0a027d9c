"""One request must not stall the others: bodies in charsets that are no text encoding are
refused at once, decoding and parsing run off the event loop, repetitive revisions store
and diff quickly, and a broken page is still archived. Through HTTP, on SQLite and Postgres.

Time bounds here are hang guards, tens of times above the cost on a loaded CI machine:
before these fixes each of these requests took 20-30 s."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from app.config import Settings
from app.main import create_app
from app.models import Article, ArticleRevision
from tests.conftest import LiveServer
from tests.site_server import Site, article_html

PROBLEM = "application/problem+json"
HANG = 10.0  # seconds: a request that takes longer is stuck
PARAS = [
    "The storm closed every port along the coast on Tuesday, officials said.",
    "Ferries stayed in harbour and fishing boats were pulled ashore overnight.",
]
# Python's punycode decoder is quadratic: this body held the event loop for 20-30 s.
PUNYCODE_BOMB = b"-" + b"a" * 1_000_000


def count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


@contextmanager
def within(seconds: float) -> Iterator[None]:
    start = time.monotonic()
    yield
    elapsed = time.monotonic() - start
    assert elapsed < seconds, f"took {elapsed:.1f} s (hang bound {seconds} s)"


# ---- charsets ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["text/plain", "text/html"])
@pytest.mark.parametrize("charset", ["punycode", "utf-7", "idna", "rot13", "iso-2022-kr"])
def test_charset_that_is_no_web_encoding_is_415_naming_it(
    client: TestClient, db: Engine, kind: str, charset: str
) -> None:
    body = b"Storm closes ports\n\nThe storm closed every port.\n\n-" + b"a" * 20_000
    with within(HANG):
        response = client.post(
            "/v1/articles", content=body, headers={"content-type": f"{kind}; charset={charset}"}
        )
    assert response.status_code == 415
    assert response.headers["content-type"] == PROBLEM
    assert charset in response.json()["detail"]
    assert count(db, Article) == 0


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("latin1", "Café déjà vu"),  # WHATWG: windows-1252
        ("latin-1", "Café déjà vu"),  # Python's spelling of the same
        ("windows-1251", "Шторм закрыл порты"),
        ("shift_jis", "嵐で港が閉鎖"),
        ("gbk", "风暴关闭港口"),
        ("koi8-r", "Шторм закрыл порты"),
    ],
)
def test_web_charsets_are_decoded(client: TestClient, charset: str, text: str) -> None:
    codec = {"latin1": "cp1252", "latin-1": "cp1252"}.get(charset, charset)
    body = f"{text}\n\nThe storm closed every port.".encode(codec)
    response = client.post(
        "/v1/articles", content=body, headers={"content-type": f"text/plain; charset={charset}"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["headline"] == text


def test_healthz_answers_while_a_hostile_body_is_handled(live_server: LiveServer) -> None:
    """The punycode body used to be decoded on the event loop: /healthz waited 23-30 s."""
    done: dict[str, int] = {}

    def hostile() -> None:
        response = httpx.post(
            f"{live_server.url}/v1/articles",
            content=PUNYCODE_BOMB,
            headers={"content-type": "text/plain; charset=punycode"},
            timeout=120,
        )
        done["status"] = response.status_code

    sender = threading.Thread(target=hostile)
    sender.start()
    time.sleep(0.5)  # the body is sent and being handled
    try:
        assert httpx.get(f"{live_server.url}/healthz", timeout=HANG).status_code == 200
    finally:
        sender.join(timeout=120)
    assert done["status"] == 415


@pytest.fixture
def fetching(db: Engine, settings: Settings) -> Iterator[TestClient]:
    """The API with the fetcher allowed to reach 127.0.0.1 (where the test site runs)."""
    allowed = settings.model_copy(
        update={"fetch_allowed_networks": "127.0.0.1/32", "fetch_total_timeout": 5.0}
    )
    with TestClient(create_app(allowed)) as test_client:
        yield test_client


def test_fetched_page_with_an_undeclarable_charset_is_sniffed(
    fetching: TestClient, site: Site
) -> None:
    """A charset label outside the Encoding Standard is ignored, as browsers do; the page is
    read as what it is (here UTF-8), quickly."""
    page = article_html("Storm closes ports", PARAS, site.base + "/storm")
    page = page.replace("</body>", '<script>var pad = "-' + "a" * 1_500_000 + '";</script></body>')
    site.pages["/storm"] = ("text/html; charset=punycode", page.encode())
    with within(HANG):
        response = fetching.post("/v1/articles", json={"url": site.base + "/storm"})
    assert response.status_code == 201, response.text
    assert response.json()["body"] == "\n\n".join(PARAS)


def test_meta_charset_decodes_a_page_that_is_not_utf8(fetching: TestClient, site: Site) -> None:
    paragraphs = ["Le café a rouvert à Noël, après la tempête qui a fermé le port.", *PARAS]
    page = article_html("Tempête sur le port", paragraphs, site.base + "/tempete")
    page = page.replace("<head>", '<head><meta charset="windows-1252">')
    site.pages["/tempete"] = ("text/html", page.encode("cp1252"))
    response = fetching.post("/v1/articles", json={"url": site.base + "/tempete"})
    assert response.status_code == 201, response.text
    assert response.json()["headline"] == "Tempête sur le port"
    assert response.json()["body"].startswith(paragraphs[0])


# ---- revisions of repetitive text --------------------------------------------------------


def test_revision_of_identical_paragraphs_stores_and_diffs_quickly(
    client: TestClient, db: Engine
) -> None:
    """12,000 identical short paragraphs: difflib's matcher compared each with each (20-30 s
    to store, holding the SQLite write lock, and as long for every diff)."""
    url = "https://example.com/news/live"
    same = ["Updates follow."] * 12_000
    first = {"headline": "Live", "body": "\n\n".join(["Intro.", *same]), "url": url}
    second = {"headline": "Live", "body": "\n\n".join([*same, "Outro."]), "url": url}
    article = client.post("/v1/articles", json=first).json()
    with within(HANG):
        revised = client.post("/v1/articles", json=second)
    assert revised.status_code == 200
    assert revised.json()["revision"] == 2
    listing = client.get(f"/v1/articles/{article['id']}/revisions").json()["items"]
    assert (listing[1]["paragraphs_added"], listing[1]["paragraphs_removed"]) == (1, 1)
    assert listing[1]["paragraphs_changed"] == 0
    with within(HANG):
        diff = client.get(f"/v1/articles/{article['id']}/revisions/2/diff")
    assert diff.status_code == 200
    chunks = [(c["op"], len(c["old"]), len(c["new"])) for c in diff.json()["paragraphs"]]
    assert chunks == [("removed", 1, 0), ("equal", 12_000, 12_000), ("added", 0, 1)]
    assert count(db, ArticleRevision) == 2


# ---- broken pages ------------------------------------------------------------------------

BROKEN = (
    "<html><head><title>Storm closes ports</title></head><body>"
    "<aside><p>The storm closed every port along the <b>coast on Tuesday."
    "<p>Ferries <i>stayed</b> in harbour</i> overnight, officials said."
    "<!-- an unterminated comment"
)


def test_broken_page_with_visible_text_is_archived_by_the_fallback(client: TestClient) -> None:
    response = client.post("/v1/articles", content=BROKEN, headers={"content-type": "text/html"})
    assert response.status_code == 201, response.text
    article = response.json()
    assert article["headline"] == "Storm closes ports"
    assert article["body"] == (
        "The storm closed every port along the coast on Tuesday.\n\n"
        "Ferries stayed in harbour overnight, officials said."
    )
    assert article["extraction"]["fields"]["body"] == "fallback"


@pytest.mark.parametrize(
    "page",
    [
        "<html><head><title>Storm</title></head><body><!-- <p>all of it commented out.</p>",
        "<html><body><nav><a href='/'>Home</a> <a href='/w'>World</a></nav><aside>Menu",
        "<html><body><script>var text = 'The storm closed every port.';</script></body>",
    ],
    ids=["commented-out", "navigation-only", "script-only"],
)
def test_broken_page_without_visible_text_is_still_422(
    client: TestClient, db: Engine, page: str
) -> None:
    response = client.post("/v1/articles", content=page, headers={"content-type": "text/html"})
    assert response.status_code == 422
    assert "no article body" in response.json()["detail"]
    assert count(db, Article) == 0
