"""The documentation pages, with no CDN: Swagger UI at /docs and ReDoc at /redoc load their
JavaScript and CSS from the fastapi-offline package, served under /static/docs/."""

from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/static/docs"
# Swagger UI's dist and ReDoc's standalone bundle, as fastapi-offline ships them.
ASSETS_DIR = files("fastapi_offline") / "static"
SWAGGER_UI_PARAMETERS: dict[str, Any] = {
    "persistAuthorization": True,  # keep the API key across page reloads
    "displayRequestDuration": True,
    "validatorUrl": None,  # the validator badge would call validator.swagger.io
}
# The browser may load nothing from elsewhere: ReDoc's sidebar, for one, asks a CDN for a logo.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",  # the pages' inline start-up script
        "style-src 'self' 'unsafe-inline'",  # styles both UIs inject at run time
        "img-src 'self' data:",
        "worker-src 'self' blob:",  # ReDoc's search index
        "base-uri 'self'",
        "form-action 'self'",
    ]
)
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API key, sent as `Authorization: Bearer <key>`.",
}


def install_docs(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets; the app must be built with docs_url=None."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(ASSETS_DIR)), name="docs-assets")
    app.add_api_route("/docs", swagger_ui, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)


def add_security_scheme(schema: dict[str, Any]) -> None:
    """Declare the bearer API key, required by every operation, so Swagger UI can send it."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["ApiKey"] = SECURITY_SCHEME
    schema["security"] = [{"ApiKey": []}]


def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI."""
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        oauth2_redirect_url=None,
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
    )
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page


def redoc(request: Request) -> HTMLResponse:
    """ReDoc."""
    root = request.scope.get("root_path", "")
    page = get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page
