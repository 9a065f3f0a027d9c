"""The ASGI application: `app.main:app`, or `create_app(settings)` in tests."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from app import __version__
from app.api import articles, health, imports
from app.api.errors import install_error_handlers
from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker, writer
from app.schemas import ArticleIn, ImportRequest, ImportResponse, Problem

DESCRIPTION = """
Send news articles in (plain seed text, or normalized JSON fields; one at a time or in
batches) and read them back normalized: headline, body, source, related links, authors,
dates, language. Errors are `application/problem+json` (RFC 9457).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        app.state.engine = engine
        app.state.sessions = make_sessionmaker(engine)
        app.state.write_sessions = make_sessionmaker(writer(engine))
        yield
        engine.dispose()

    app = FastAPI(
        title="News archive",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    for module in (articles, imports, health):
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema, plus the models of request bodies read by hand."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    models = [(m, "validation") for m in (ArticleIn, ImportRequest)]
    models += [(m, "serialization") for m in (ImportResponse, Problem)]
    _, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schema.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
    app.openapi_schema = schema
    return schema


app = create_app()
