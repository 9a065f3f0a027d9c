"""Routes for single articles: create, read, list, delete."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from app.api.deps import ArticleId, FetchCtx, ReadSession, Restore, WriteSession
from app.api.errors import problem_responses
from app.api.middleware.idempotency_records import shows_article
from app.api.render import json_response
from app.api.request_bodies import decode_text, is_json, media_type, read_limited
from app.errors import NotFound, UnsupportedMediaType
from app.ingest import Outcome, prepare_one, store_one
from app.ingest import delete_article as ingest_delete
from app.observability import record_ingest
from app.parsing.jsondoc import parse_json
from app.repositories import ArticleRepository
from app.schemas import SEED_EXAMPLE, ArticleIn, ArticleRead

router = APIRouter(prefix="/v1/articles", tags=["articles"])

_CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ArticleIn"}},
            "text/plain": {"schema": {"type": "string"}, "example": SEED_EXAMPLE},
            "text/html": {
                "schema": {"type": "string"},
                "example": "<html><head><title>Storm</title></head><body><article><h1>Storm"
                "</h1><p>The storm closed every port.</p></article></body></html>",
            },
        },
    },
    "parameters": [
        {
            "name": "Content-Location",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 2048},
            "description": "For text/html bodies: the page's URL (resolves its links).",
        }
    ],
}


async def article_input(request: Request) -> ArticleIn:
    """The request body as seed text, an HTML page, or a validated JSON article."""
    kind, charset = media_type(request)
    if kind not in ("text/plain", "text/html", "application/xhtml+xml") and not is_json(kind):
        raise UnsupportedMediaType(
            f"Content-Type {kind or 'missing'!r} is not accepted: send text/plain, "
            "text/html or application/json"
        )
    body = await read_limited(request, request.app.state.settings.max_body_bytes)
    url = request.headers.get("content-location") or None
    # Decoding and validation take CPU in proportion to the body: not on the event loop.
    return await run_in_threadpool(_parse_body, kind, charset, body, url)


def _parse_body(kind: str, charset: str, body: bytes, url: str | None) -> ArticleIn:
    if kind == "text/plain":
        return ArticleIn.model_validate({"text": decode_text(body, charset)})
    if not is_json(kind):
        return ArticleIn.model_validate({"html": decode_text(body, charset), "url": url})
    return ArticleIn.model_validate(parse_json(body))


FETCH_STATUS = "X-Fetch-Status"
_FETCH_STATUS_HEADER = {
    FETCH_STATUS: {
        "description": "Only for a `url` to fetch: `fetched` when the page was downloaded, "
        "`not-modified` when it answered 304 to our conditional GET, so nothing changed "
        "(the stored article is returned as it was).",
        "schema": {"type": "string", "enum": ["fetched", "not-modified"]},
    }
}


@router.post(
    "",
    status_code=201,
    summary="Ingest an article",
    response_model=ArticleRead,
    responses={
        201: {"description": "Stored as a new article.", "headers": _FETCH_STATUS_HEADER},
        200: {
            "model": ArticleRead,
            "description": "Already stored: the stored article (updated, with a new revision, "
            "when a known URL now has different text; unchanged when its page answered 304, "
            "see `X-Fetch-Status`).",
            "headers": _FETCH_STATUS_HEADER,
        },
        **problem_responses(400, 403, 410, 413, 415, 422, 502, 503, 504),
    },
    openapi_extra=_CREATE_BODY,
)
def create_article(
    request: Request,
    item: Annotated[ArticleIn, Depends(article_input)],
    session: WriteSession,
    fetch: FetchCtx,
    restore: Restore = False,
) -> Any:
    """Store seed text, HTML, a fetched URL or normalized fields; 201 when new, else 200."""
    outcome = store_one(session, prepare_one(item, fetch), restore=restore)
    record_ingest(outcome.status)
    article = ArticleRepository(session).read(outcome.article_id or 0)
    shows_article(request.scope, article["id"])
    status = 201 if outcome.status == "created" else 200
    return json_response(ArticleRead, article, status, _headers(item, outcome))


def _headers(item: ArticleIn, outcome: Outcome) -> dict[str, str]:
    """Where the article lives; for a fetched URL, whether the page was new to us (a 200
    after a 304 would otherwise look like any other already-stored article)."""
    headers = {"Location": f"/v1/articles/{outcome.article_id}"}
    if item.kind == "fetch":
        headers[FETCH_STATUS] = "not-modified" if outcome.status == "unchanged" else "fetched"
    return headers


@router.get(
    "/{article_id}",
    summary="Get one article",
    response_model=ArticleRead,
    responses=problem_responses(404, 422),
)
def get_article(article_id: ArticleId, session: ReadSession) -> Any:
    """The stored article with this id."""
    return json_response(ArticleRead, ArticleRepository(session).read(article_id))


@router.delete(
    "/{article_id}",
    status_code=204,
    summary="Delete an article",
    responses=problem_responses(404, 422, 503),
)
def delete_article(article_id: ArticleId, session: WriteSession) -> Response:
    """Remove the article (a takedown): the same text or URL is refused from then on."""
    if not ingest_delete(session, article_id):
        raise NotFound(f"no article with id {article_id}")
    return Response(status_code=204)
