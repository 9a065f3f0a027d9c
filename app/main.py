"""The ASGI application: `app.main:app`, or `create_app(settings)` in tests."""

import gc
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from functools import partial
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from app import __version__
from app.api import archive, articles, export, feeds, health, imports, jobs, listing, revisions
from app.api.deps import check_query_string
from app.api.docs import add_security_scheme, install_docs
from app.api.errors import install_error_handlers, problem_responses
from app.api.examples import add_problem_examples
from app.api.middleware import install_middleware
from app.api.middleware.openapi import document_security
from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker, writer
from app.import_jobs.stats import refresh_import_gauges
from app.ingest.resources import open_fetch_context, open_prepare_pool
from app.jobs.worker import jobs_in_server
from app.observability import record_fetch_failure
from app.schemas import ArticleIn, ImportRequest, ImportResponse, Problem
from app.security import check_startup

SWITCH_INTERVAL = 0.001  # seconds; CPython's default is 0.005

DESCRIPTION = """
Send news articles in (plain seed text, raw HTML, URLs to fetch, or normalized JSON fields;
one at a time or in batches) and read them back normalized: headline, body, source, related
links, authors, dates, language, canonical URL, and where each field came from. Re-fetched
pages keep their earlier versions as revisions. Errors are `application/problem+json`
(RFC 9457).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_startup(settings)  # open-mode warning; refuses a non-loopback HOST without keys
        engine = make_engine(settings)
        app.state.engine = engine
        app.state.sessions = make_sessionmaker(engine)
        app.state.write_sessions = make_sessionmaker(writer(engine))
        resources = ExitStack()
        app.state.fetch_context = resources.enter_context(
            open_fetch_context(settings, app.state.sessions, record_fetch_failure)
        )
        background = AsyncExitStack()
        # the job queue (state.job_app, state.deferrer), and on SQLite its worker
        await background.enter_async_context(jobs_in_server(app.state, settings))
        app.state.metrics_refreshers.append(partial(refresh_import_gauges, engine))
        # NDJSON imports parse their later chunks here (started at the first such chunk)
        app.state.prepare_pool = resources.enter_context(open_prepare_pool(settings))
        # last-used bookkeeping of API keys, off the request path; drained before the
        # engine goes away so no connection outlives it
        app.state.key_toucher = ThreadPoolExecutor(1, thread_name_prefix="key-touch")
        # Everything loaded so far (modules, the extractor's tables, …) lives as long as
        # the process: move it out of the collector's reach. A full collection over it took
        # ~100 ms, during which the worker answered nothing (the reads' p99 under load).
        _freeze_startup_objects()
        # A request waiting for the GIL while an import parses on another thread waits up
        # to the switch interval at every hop (event loop, thread, driver call): 1 ms
        # instead of 5 shortens the wait of reads that arrive during an import (server-side
        # p99 of GET by id under the load benchmark: 105 -> 80 ms).
        sys.setswitchinterval(SWITCH_INTERVAL)
        yield
        await background.aclose()
        app.state.key_toucher.shutdown(wait=True)
        resources.close()
        engine.dispose()

    app = FastAPI(
        title="News archive",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc are served offline by install_docs
        redoc_url=None,
        dependencies=[Depends(check_query_string)],
        responses=problem_responses(400, 414),  # what check_query_string refuses, on every route
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_middleware(app, settings)
    install_docs(app)
    for module in (listing, articles, revisions, archive, imports, jobs, export, feeds, health):
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


_frozen = False


def _freeze_startup_objects() -> None:
    """Once per process (tests start many apps in one): the objects of later apps are
    left to the collector."""
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema, plus the models of request bodies read by hand."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, "validation") for m in (ArticleIn, ImportRequest)
    ]
    models += [(m, "serialization") for m in (ImportResponse, Problem)]
    _, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schema.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
    add_security_scheme(schema)
    document_security(schema, app.state.settings)
    add_problem_examples(schema)  # last: the security rules add error responses too
    app.openapi_schema = schema
    return schema


app = create_app()
