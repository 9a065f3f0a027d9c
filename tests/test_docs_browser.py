"""The documentation pages work offline: their assets are local, and in a real browser
Swagger UI renders the operations, sends the API key it was given (a real one: keys are
enforced), and ReDoc renders."""

import re
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from tests.browser import chromium_page
from tests.conftest import HTTP_TIMEOUT, KeyMaker, LiveServer, bearer, seed_text

REFERENCE = re.compile(r"""(?:href|src|spec-url)="([^"]+)"|\burl: '([^']+)'""")
ABSOLUTE = re.compile(r"""https?://[^\s"'<>)]+""")
CONTENT_TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".png": "image/png",
    ".json": "application/json",
}


@pytest.fixture
def api_key(make_key: KeyMaker) -> str:
    """A real write key: once it exists, every API request needs a key."""
    return make_key("write", name="swagger-ui")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_references_only_local_assets(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    html = response.text
    foreign = [u for u in ABSOLUTE.findall(html) if urlsplit(u).hostname != "testserver"]
    assert foreign == [], f"{page} points outside the service"
    references = [href or url for href, url in REFERENCE.findall(html)]
    assert len(references) >= 3
    for reference in references:
        asset = client.get(urljoin(f"http://testserver{page}", reference))
        assert asset.status_code == 200, reference
        suffix = next(s for s in CONTENT_TYPES if reference.endswith(s))
        assert asset.headers["content-type"].startswith(CONTENT_TYPES[suffix]), reference


def test_openapi_declares_the_api_key_and_hides_doc_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["ApiKey"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    assert scheme["description"]
    assert spec["security"] == [{"ApiKey": []}]
    assert not [p for p in spec["paths"] if p.startswith(("/docs", "/redoc", "/static"))]


def test_swagger_ui_sends_the_api_key_and_redoc_renders(
    live_server: LiveServer, api_key: str
) -> None:
    created = httpx.post(
        f"{live_server.url}/v1/articles",
        content=seed_text().encode(),
        headers={"Content-Type": "text/plain; charset=utf-8", **bearer(api_key)},
        timeout=HTTP_TIMEOUT,
    )
    assert created.status_code == 201
    headline = created.json()["headline"]
    refused = httpx.get(f"{live_server.url}/v1/articles", timeout=HTTP_TIMEOUT)
    assert refused.status_code == 401  # keys are enforced

    with chromium_page() as session:
        page = session.page
        page.goto(f"{live_server.url}/docs")
        for method, path in [
            ("post", "/v1/articles"),
            ("get", "/v1/articles"),
            ("post", "/v1/imports"),
        ]:
            summary = page.locator(f".opblock-{method} .opblock-summary-path[data-path='{path}']")
            expect(summary).to_be_visible()

        page.locator(".auth-wrapper button.authorize").click()
        dialog = page.locator(".modal-ux")
        expect(dialog).to_be_visible()
        dialog.locator("input#auth-bearer-value").fill(api_key)
        dialog.get_by_role("button", name="Apply credentials").click()
        dialog.locator("button.btn-done").click()
        expect(dialog).to_be_hidden()
        expect(page.locator(".auth-wrapper button.authorize.locked")).to_be_visible()

        operation = page.locator(
            ".opblock-get:has(.opblock-summary-path[data-path='/v1/articles'])"
        )
        operation.locator(".opblock-summary-control").click()
        operation.locator("button.try-out__btn").click()
        with page.expect_request(
            lambda r: r.method == "GET" and urlsplit(r.url).path == "/v1/articles"
        ) as sent:
            operation.locator("button.execute").click()
        assert sent.value.all_headers()["authorization"] == f"Bearer {api_key}"
        expect(operation.locator(".curl-command")).to_contain_text(
            f"Authorization: Bearer {api_key}"
        )
        shown = operation.locator(".live-responses-table tr.response")
        expect(shown).to_be_visible()
        assert shown.locator(".response-col_status").inner_text().strip() == "200", (
            shown.inner_text()
        )
        expect(shown).to_contain_text(headline)
        expect(operation.get_by_text("Request duration")).to_be_visible()

        page.goto(f"{live_server.url}/redoc")
        expect(page.get_by_role("heading", name="News archive", level=1)).to_be_visible()
        expect(page.locator("h2", has_text="List or search articles")).to_be_visible()

    assert session.outside == [], "the docs pages asked for URLs outside this machine"
